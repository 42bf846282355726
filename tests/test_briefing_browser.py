"""The briefing pack as a planner shows it: every page at three window sizes, the slide PNGs, the PDF and the deck.

Layout is measured from the rendered boxes in headless Chromium (network off): panels (title, legend,
layer control, north arrow, scale bar, attribution, map controls) against every data feature's box
and every visible label, and labels against each other. Skipped without Chromium, failing instead
when ``PARKGIS_REQUIRE_BROWSER=1``; the PDF check needs ``pdftoppm`` (poppler-utils) likewise.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from gis.webmap.png import dump_dom, find_chromium, ink_share

pytestmark = pytest.mark.browser

SIZES = [(1280, 720), (1600, 1000), (1920, 1080)]


def _require(what, found):
    if not found:
        if os.environ.get("PARKGIS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PARKGIS_REQUIRE_BROWSER=1 but {what} was not found")
        pytest.skip(f"{what} not found")


@pytest.fixture(scope="module", autouse=True)
def chromium():
    _require("headless Chromium (install chromium or set PARKGIS_CHROMIUM)", find_chromium())


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    from gis.webmap import build_briefing

    out = tmp_path_factory.mktemp("briefing") / "b"
    made = build_briefing(out, pdf=True, pptx=True, date="2026-12-01")
    return out, made


MEASURE = """
<script>
(function () {
  var root = document.documentElement, tries = 0;
  function out(obj) { var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(obj); document.body.appendChild(pre); }
  function rect(el) { var b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }
  function shown(el) { var cs = getComputedStyle(el); return el.offsetParent !== null && cs.display !== 'none' && cs.visibility !== 'hidden' && el.offsetWidth > 0; }
  function inter(a, b) { var w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]); return (w > 0 && h > 0) ? w * h : 0; }
  function go() {
    if (!root.getAttribute('data-drawn') && tries++ < 400) { return setTimeout(go, 25); }
    var zm = /zoom=([0-9.]+)/.exec(location.search);
    if (zm) parkgis.map.setZoom(+zm[1], {animate: false});
    setTimeout(measure, zm ? 300 : 50);
  }
  function measure() {
    var r = {errors: (window.parkgisErrors || []).slice()};
    try {
      var map = parkgis.map, c = map.getContainer().getBoundingClientRect();
      var sels = ['#parkgis-title', '#parkgis-legend', '.leaflet-control-layers', '.parkgis-north', '.leaflet-control-scale',
                  '.leaflet-control-attribution', '.leaflet-control-zoom', '.leaflet-control-measure',
                  '.leaflet-control-zoom-fullscreen'];
      var panels = [];
      sels.forEach(function (s) { document.querySelectorAll(s).forEach(function (el) { if (shown(el)) panels.push({sel: s, r: rect(el)}); }); });
      r.panels = panels.map(function (p) { return p.sel; });
      /* every data feature: its box in screen pixels (bounding box, so an over-estimate of what a panel covers) */
      var bad = [], n = 0;
      parkgis.layers.forEach(function (g, k) {
        if (!map.hasLayer(g)) return;
        var feats = parkgis.decode(g._pgData.geom);
        feats.forEach(function (ft, i) {
          if (!ft) return;
          var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
          ft.parts.forEach(function (rings) { rings[0].forEach(function (ll) {
            var p = map.latLngToContainerPoint(ll);
            x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y);
          }); });
          if (ft.t === 0) { x0 -= 9; x1 += 9; y0 -= 9; y1 += 9; }  /* a marker */
          var box = [x0 + c.left, y0 + c.top, Math.max(x1, x0 + 1) + c.left, Math.max(y1, y0 + 1) + c.top];
          var area = (box[2] - box[0]) * (box[3] - box[1]);
          panels.forEach(function (p) {
            var share = inter(box, p.r) / area;
            if ((ft.t === 0 && share > 0) || share >= 0.05) bad.push([k, i, p.sel, Math.round(share * 100)]);
          });
          n++;
        });
      });
      r.features = n; r.feature_panel = bad;
      /* labels: visible ones, against panels and each other */
      var labels = [];
      document.querySelectorAll('.parkgis-lbl').forEach(function (el) { if (shown(el)) labels.push({t: el.textContent, r: rect(el)}); });
      r.labels = labels.map(function (l) { return l.t; });
      r.label_panel = []; r.label_label = [];
      labels.forEach(function (l, i) {
        panels.forEach(function (p) { if (inter(l.r, p.r) > 0) r.label_panel.push([l.t, p.sel]); });
        for (var j = i + 1; j < labels.length; j++) if (inter(l.r, labels[j].r) > 0) r.label_label.push([l.t, labels[j].t]);
      });
      r.context = +(root.getAttribute('data-context') || 0);
      r.north = !!document.querySelector('.parkgis-north svg') && shown(document.querySelector('.parkgis-north'));
      r.scale = shown(document.querySelector('.leaflet-control-scale'));
      r.attribution = document.querySelector('.leaflet-control-attribution').textContent;
      r.attribution_links = document.querySelectorAll('.leaflet-control-attribution a').length;
      r.print = root.classList.contains('parkgis-print');
      r.legend_toggle = !!document.querySelector('.parkgis-legend-toggle');
    } catch (e) { r.probe_error = String(e && e.stack || e); }
    out(r);
  }
  go();
})();
</script>
"""


def measure(page, window, *, query=""):
    text = page.read_text(encoding="utf-8")
    probed = page.with_name(page.stem + f"_m{window[0]}.html")
    probed.write_text(text.replace("</html>", MEASURE + "</html>"), encoding="utf-8")
    dom, _ = dump_dom(probed.resolve().as_uri() + query, budget_ms=15000, offline=True, window=window)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert m, "the probe did not report: " + dom[-1500:]
    return json.loads(html.unescape(m.group(1)))


def test_every_page_at_three_sizes_keeps_panels_off_the_data_and_labels_apart(pack):
    out, made = pack
    report = []
    for bm in made:
        assert bm.available, (bm.id, bm.reason)
        for window in SIZES:
            r = measure(out / bm.html, window)
            assert "probe_error" not in r, r.get("probe_error")
            assert r["errors"] == [], (bm.id, window, r["errors"])
            assert r["features"] > 0
            assert r["feature_panel"] == [], (bm.id, window, r["feature_panel"][:5])
            assert r["label_panel"] == [], (bm.id, window, r["label_panel"][:5])
            assert r["label_label"] == [], (bm.id, window, r["label_label"][:5])
            assert r["context"] > 0 and "天地图" in r["attribution"] and "Natural Earth" in r["attribution"]
            assert r["north"] and r["scale"] and r["legend_toggle"]
            assert {"#parkgis-title", "#parkgis-legend", ".parkgis-north"} <= set(r["panels"])
            if bm.id != "audit":  # the audit map labels parcels only when zoomed in (below)
                assert r["labels"], (bm.id, window)
            report.append((bm.id, window, len(r["labels"]), r["features"]))
    assert len(report) == 5 * 3


def test_context_names_the_districts_and_the_river(pack):
    out, made = pack
    overview = next(b for b in made if b.id == "overview")
    r = measure(out / overview.html, (1920, 1080))
    labels = " ".join(r["labels"])
    assert {"西固区", "安宁区", "皋兰县"} <= set(r["labels"]) or all(n in labels for n in ("西固区", "安宁区", "皋兰县"))
    assert "兰州中川国际机场" in labels and "兰州新区" in labels
    port = next(b for b in made if b.id == "port")
    r = measure(out / port.html, (1920, 1080))
    assert "西固新城工业园" in r["labels"]  # the hole in the port area is named for what it is


def test_audit_parcel_ids_when_zoomed_in(pack):
    out, made = pack
    audit = next(b for b in made if b.id == "audit")
    r = measure(out / audit.html, (1600, 1000))
    assert not any(re.fullmatch(r"YG1-\d{3}", t) for t in r["labels"])  # the whole phase: no ids, too small
    r = measure(out / audit.html, (1600, 1000), query="?zoom=17.5")
    ids = [t for t in r["labels"] if re.fullmatch(r"YG1-\d{3}", t)]
    assert len(ids) >= 5 and r["label_label"] == [] and r["label_panel"] == [] and r["errors"] == []


def test_print_mode_hides_controls(pack):
    out, made = pack
    r = measure(out / made[1].html, (1920, 1080), query="?print")
    assert r["print"] and r["north"] and r["scale"]
    for control in (".leaflet-control-zoom", ".leaflet-control-layers", ".leaflet-control-measure",
                    ".leaflet-control-zoom-fullscreen"):
        assert control not in r["panels"]
    assert r["attribution_links"] == 0 and "Leaflet" not in r["attribution"]


def test_slide_pngs_are_full_hd_and_drawn(pack):
    out, made = pack
    from PIL import Image

    for bm in made:
        with Image.open(out / bm.png) as im:
            assert im.size == (1920, 1080)
        share = ink_share(out / bm.png, box=(0.2, 0.25, 0.8, 0.85))
        assert share > 0.05, (bm.id, share)


def test_blank_page_is_refused(tmp_path):
    """A page that draws nothing must not become a slide."""
    import folium

    from gis.webmap.png import BlankImage, map_png

    m = folium.Map(tiles=None)
    with pytest.raises(BlankImage):
        map_png(m, tmp_path / "blank.png")
    assert not (tmp_path / "blank.png").exists()


def test_pdf_pages_are_each_drawn(pack, tmp_path):
    out, made = pack
    _require("pdftoppm (poppler-utils)", shutil.which("pdftoppm"))
    pdf = out / "briefing.pdf"
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    # cover + one page per map + plan-target, plan-consistency and audit tables
    assert len(pages) == 1 + len(made) + 3
    for page in pages:
        assert ink_share(page) > 0.01, page.name
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert "1440 x 810 pts" in info  # 16:9 landscape pages
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "2026-12-01" in text and "规划指标核对" in text and "地块审核汇总" in text and "Natural Earth" in text


def test_pptx_one_slide_per_map(pack):
    from pptx import Presentation

    out, made = pack
    prs = Presentation(str(out / "briefing.pptx"))
    assert abs(prs.slide_width / prs.slide_height - 16 / 9) < 1e-3
    slides = list(prs.slides)
    assert len(slides) == len(made)
    for slide, bm in zip(slides, made):
        texts = [sh.text_frame.text for sh in slide.shapes if sh.has_text_frame]
        assert any(bm.title_zh in t for t in texts)
        assert any(t.startswith("来源 Source:") for t in texts)
        assert sum(sh.shape_type == 13 for sh in slide.shapes) == 1  # one picture
