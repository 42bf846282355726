"""Briefing maps in a real browser: headless Chromium with the network off (proxy to a closed port).

Each page gets a small probe script appended that waits until the page reports it has drawn, then
records what a test wants to know (errors, features drawn, legend size, tooltip text on hover, …) as
JSON in a ``<pre id="probe">``; ``--dump-dom`` hands the DOM back. Skipped where Chromium is absent,
failing instead when ``PARKGIS_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import html
import json
import os
import re
import struct

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from gis.webmap import page_html, render_map, save_map
from gis.webmap.compact import decode_geometry
from gis.webmap.offline import remote_assets
from gis.webmap.png import dump_dom, find_chromium

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module", autouse=True)
def chromium():
    exe = find_chromium()
    if exe is None:
        if os.environ.get("PARKGIS_REQUIRE_BROWSER") == "1":
            pytest.fail("PARKGIS_REQUIRE_BROWSER=1 but no headless Chromium was found (install chromium)")
        pytest.skip("headless Chromium not found: install chromium or set PARKGIS_CHROMIUM to run browser tests")
    return exe


@pytest.fixture
def layers():
    zones = gpd.GeoDataFrame(
        {"id": ["z1", "z2", "z3"], "name_zh": ["生产区", EVIL, "生活区"], "name_en": ["Production", "Evil", "Living"],
         "kind": ["zone"] * 3, "function": ["manufacturing", EVIL, "housing"], "planned_mu": [1500.0, 200.0, 800.0]},
        geometry=[box(103.60, 36.50, 103.61, 36.51), box(103.612, 36.50, 103.615, 36.505),
                  box(103.62, 36.50, 103.63, 36.51)], crs="EPSG:4326")
    pl = gpd.GeoDataFrame({"id": ["a1", "c1"], "name_zh": ["发展轴", EVIL], "name_en": ["Axis", "Centre"],
                           "kind": ["axis", "centre"]},
                          geometry=[LineString([(103.60, 36.505), (103.63, 36.506)]), Point(103.605, 36.507)],
                          crs="EPSG:4326")
    n = 40
    rng = np.random.default_rng(2)
    intensity = np.round(rng.uniform(100, 600, n), 1)
    names = [f"地块{i}" for i in range(n)]
    names[5] = EVIL
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"P{i:03d}" for i in range(n)], "name_zh": names, "investment_intensity_wan_per_mu": intensity,
         "verdict": np.where(intensity >= 300, "pass", "fail")},
        geometry=[box(103.60 + (i % 8) * 0.001, 36.511 + (i // 8) * 0.001, 103.6008 + (i % 8) * 0.001,
                      36.5118 + (i // 8) * 0.001) for i in range(n)], crs="EPSG:4326")
    parcels.loc[7, "geometry"] = None  # not drawn, still in the data
    return {"zones": zones, "pl": pl, "parcels": parcels}


SPEC = {"id": "t", "title": {"zh": "测试 " + EVIL, "en": "Browser test"}, "source_note": "fixture",
        "layers": [{"name": {"zh": "片区 {{ 7*7 }}", "en": "Zones " + EVIL}, "source": "zones", "style": {"by": "name_zh"},
                    "label": "name_zh"},
                   {"name": {"zh": "轴", "en": "Axes"}, "source": "pl", "filter": {"kind": "axis"}, "kind": "axes"},
                   {"name": {"zh": "中心", "en": "Centres"}, "source": "pl", "filter": {"kind": "centre"},
                    "kind": "centres"},
                   {"name": {"zh": "地块", "en": "Parcels"}, "source": "parcels", "kind": "parcels",
                    "style": {"column": "investment_intensity_wan_per_mu", "k": 4,
                              "outline": {"field": "verdict", "equals": ["fail"]}},
                    "tooltip": ["parcel_id", "name_zh", "investment_intensity_wan_per_mu", "area_mu", "verdict"]}]}

PROBE = """
<script>
(function () {
  var root = document.documentElement, tries = 0;
  function out(obj) { var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(obj); document.body.appendChild(pre); }
  function go() {
    if (!root.getAttribute('data-drawn') && tries++ < 400) { return setTimeout(go, 25); }
    var r = {drawn: root.getAttribute('data-drawn'), layers: root.getAttribute('data-layers'),
             errors: (window.parkgisErrors || []).slice()};
    try { %s } catch (e) { r.probe_error = String(e && e.stack || e); }
    r.img_x = document.querySelectorAll('img[src="x"]').length;
    r.resources = performance.getEntriesByType('resource').map(function (e) { return e.name; })
      .filter(function (u) { return !/^(data|file|blob):/.test(u); });
    out(r);
  }
  go();
})();
</script>
"""


def probe(page_path, js: str = "", tmp_path=None, *, budget_ms=15000) -> dict:
    """Run ``js`` (which fills the object ``r``) in the drawn page; return ``r``."""
    text = page_path.read_text(encoding="utf-8")
    probed = page_path.with_name(page_path.stem + "_probe.html")
    probed.write_text(text.replace("</html>", PROBE % js + "</html>"), encoding="utf-8")
    dom, _ = dump_dom(probed, budget_ms=budget_ms, offline=True)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert m, "the probe did not report: " + dom[-2000:]
    return json.loads(html.unescape(m.group(1)))


@pytest.fixture
def page(layers, tmp_path):
    m = render_map(layers, SPEC, offline=True)
    return save_map(m, tmp_path / "map.html", offline=True)


def test_offline_page_draws_every_feature_without_errors(page):
    assert remote_assets(page.read_text(encoding="utf-8")) == []
    r = probe(page)
    assert r["errors"] == [] and "probe_error" not in r
    assert r["drawn"] == str(3 + 1 + 1 + 39) and r["layers"] == "4"  # one parcel has no geometry
    assert r["resources"] == []  # nothing requested from the network


def test_legend_title_and_controls_visible(page):
    r = probe(page, """
      var lg = document.getElementById('parkgis-legend'), tt = document.getElementById('parkgis-title');
      r.legend = [lg.offsetWidth, lg.offsetHeight, getComputedStyle(lg).visibility, lg.closest('.leaflet-container') !== null];
      r.legend_titles = Array.prototype.map.call(lg.querySelectorAll('h3'), function (h) { return h.textContent; });
      r.title = [tt.offsetWidth, tt.offsetHeight, tt.textContent];
      r.controls = ['.leaflet-control-scale', '.leaflet-control-measure', '.leaflet-control-zoom-fullscreen',
                    '.leaflet-control-layers'].map(function (s) { var e = document.querySelector(s); return !!e && e.offsetHeight > 0; });
      r.overlays = document.querySelector('.leaflet-control-layers-overlays').textContent;
      r.labels = Array.prototype.map.call(document.querySelectorAll('.parkgis-label'), function (e) { return e.textContent; });
    """)
    w, h, vis, inside = r["legend"]
    assert w > 100 and h > 100 and vis == "visible" and inside
    assert len(r["legend_titles"]) == 4
    assert r["title"][0] > 100 and "schematic digitisation" not in r["title"][2]  # the fixture is "the user's own data"
    assert "示意性数字化" not in r["title"][2] and EVIL in r["title"][2]  # shown as text
    assert all(r["controls"]), r["controls"]
    assert EVIL in r["overlays"] and "片区 {{ 7*7 }}" in r["overlays"]  # names are text, never markup or templates
    assert "发展轴" in r["labels"] and EVIL in r["labels"]
    assert r["img_x"] == 0


def test_tooltips_on_hover_show_text_and_units(page):
    r = probe(page, """
      r.zone = parkgis.hover(0, 1);
      r.parcel = parkgis.hover(3, 5);
      r.nogeom = parkgis.hover(3, 7);
    """)
    assert r.get("probe_error") is None, r.get("probe_error")
    assert EVIL in r["zone"] and "实测面积 Measured (亩)" in r["zone"] and "规划面积 Planned (亩)" in r["zone"]
    assert "km²" in r["zone"]
    assert EVIL in r["parcel"] and "投资强度 Investment intensity (万元/亩)" in r["parcel"] and "P005" in r["parcel"]
    assert r["nogeom"] is None
    assert r["img_x"] == 0 and r["errors"] == []


def test_parcel_hover_finds_the_parcel_under_the_mouse(page, layers):
    # move the mouse over the middle of parcel 12 in map coordinates: the tooltip names it
    r = probe(page, """
      var map = parkgis.map, ll = L.latLng(%f, %f);
      map.fire('mousemove', {latlng: ll, layerPoint: map.latLngToLayerPoint(ll), containerPoint: map.latLngToContainerPoint(ll)});
      var t = document.querySelector('.parkgis-tooltip');
      r.tip = t ? t.textContent : null;
      var far = L.latLng(36.0, 103.0);
      map.fire('mousemove', {latlng: far, layerPoint: map.latLngToLayerPoint(far), containerPoint: map.latLngToContainerPoint(far)});
      r.after = map.hasLayer(parkgis.layers[3]._pgTip);
    """ % (layers["parcels"].geometry[12].centroid.y, layers["parcels"].geometry[12].centroid.x))
    assert r["tip"] and "P012" in r["tip"]
    assert r["after"] is False  # tooltip closed off the parcels


def test_layer_control_toggles_a_layer(page):
    r = probe(page, """
      var inputs = document.querySelectorAll('.leaflet-control-layers-overlays input');
      inputs[3].click();
      r.on_map = parkgis.map.hasLayer(parkgis.layers[3]);
      inputs[3].click();
      r.back = parkgis.map.hasLayer(parkgis.layers[3]);
    """)
    assert r["on_map"] is False and r["back"] is True


def test_briefing_pages_draw_offline(tmp_path, monkeypatch):
    from gis.bundled import bundled_layer_names
    from gis.webmap import build_briefing

    if "yaogu_zones" not in bundled_layer_names():
        pytest.skip("bundled layers not digitised yet")
    made = build_briefing(tmp_path / "b", png=False)
    for bm in made:
        if not bm.available:
            continue
        page = tmp_path / "b" / bm.html
        text = page.read_text(encoding="utf-8")
        payloads = [json.loads(x) for x in re.findall(r'<script type="application/json" id="[^"]+_data">(.*?)</script>', text)]
        expected = sum(1 for p in payloads for f in decode_geometry(p["geom"]) if f)
        r = probe(page, "r.legend = document.getElementById('parkgis-legend').offsetHeight;")
        assert r["errors"] == [], (bm.id, r["errors"])
        assert r["drawn"] == str(expected), bm.id
        assert r["legend"] > 50 and r["resources"] == []


def test_png_for_slides(page, tmp_path):
    from gis.cli import main

    out = tmp_path / "cli.html"
    spec = tmp_path / "spec.yaml"
    spec.write_text("title: {zh: 片区, en: Zones}\nlayers:\n  - {source: zones}\n", encoding="utf-8")
    zones = tmp_path / "zones.geojson"
    gpd.GeoDataFrame({"name_zh": ["甲"], "kind": ["zone"]}, geometry=[box(103.6, 36.5, 103.61, 36.51)],
                     crs="EPSG:4326").to_file(zones, driver="GeoJSON")
    assert main(["map", str(zones), "--spec", str(spec), "--out", str(out), "--offline", "--png"]) == 0
    data = (tmp_path / "cli.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1920, 1080)
    assert len(data) > 10_000


def test_png_of_an_online_page_is_drawn_from_the_offline_assets(tmp_path):
    """`map … --png` without --offline: the page links the CDN (unreachable here), the PNG is still drawn."""
    from gis.cli import main
    from gis.webmap.png import ink_share

    zones = tmp_path / "zones.geojson"
    gpd.GeoDataFrame({"name": ["甲", "乙"], "kind": ["a", "b"]},
                     geometry=[box(103.6, 36.5, 103.61, 36.51), box(103.612, 36.5, 103.62, 36.51)],
                     crs="EPSG:4326").to_file(zones, driver="GeoJSON")
    out = tmp_path / "online.html"
    assert main(["map", str(zones), "--out", str(out), "--png", "--scale", "2"]) == 0
    assert remote_assets(out.read_text(encoding="utf-8"))  # the page itself is the online kind
    png = tmp_path / "online.png"
    assert struct.unpack(">II", png.read_bytes()[16:24]) == (3840, 2160)
    share = ink_share(png, box=(0.2, 0.25, 0.8, 0.85))
    assert share > 0.2, share  # the two zones fill most of the map area; a page that failed to load is white


@pytest.mark.slow
def test_twenty_thousand_parcels_draw_fast(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_maps import SPEC as BENCH_SPEC, make_parcels  # noqa: E402

    from _cdp import ChromiumSession  # bench/_cdp.py: the DevTools client lives with its users

    gdf = make_parcels(20_000)
    path = save_map(render_map({"parcels": gdf}, BENCH_SPEC), tmp_path / "p.html")
    with ChromiumSession(offline=True) as s:
        s.navigate(path.resolve().as_uri())
        drawn, secs = s.wait_for("document.documentElement.getAttribute('data-drawn')", timeout_s=60)
        errors = s.evaluate("window.parkgisErrors.length")
    assert drawn == "20000" and errors == 0
    assert secs < 5.0


def test_popups_show_names_as_text(page, layers):
    c = layers["parcels"].geometry[5].centroid
    r = probe(page, """
      var g = parkgis.layers[0], target = null;
      g.eachLayer(function (l) { if (l._pgi === 1) target = l; });
      target.fire('click', {latlng: target.getCenter(), layer: target, target: target}, true);
      var p = document.querySelector('.leaflet-popup-content');
      r.zone = p ? p.textContent : null;
      parkgis.map.closePopup();
      var ll = L.latLng(%f, %f);
      parkgis.map.fire('click', {latlng: ll, layerPoint: parkgis.map.latLngToLayerPoint(ll), containerPoint: parkgis.map.latLngToContainerPoint(ll)});
      var all = document.querySelectorAll('.leaflet-popup-content');  // the closed one may still be fading out
      r.parcel = all.length ? all[all.length - 1].textContent : null;
    """ % (c.y, c.x))
    assert r.get("probe_error") is None, r.get("probe_error")
    assert EVIL in r["zone"] and "z2" in r["zone"]  # popup adds id and source
    assert EVIL in r["parcel"] and "P005" in r["parcel"]
    assert r["img_x"] == 0 and r["errors"] == []


def test_offline_page_with_tiles_still_draws_without_network(layers, tmp_path):
    m = render_map(layers, SPEC, offline=True, basemap="osm")
    path = save_map(m, tmp_path / "osm.html", offline=True)
    r = probe(path)
    assert r["errors"] == [] and r["drawn"] == str(44)


def test_legend_collapses_and_expands(page):
    r = probe(page, """
      var lg = document.getElementById('parkgis-legend'), body = lg.querySelector('.parkgis-legend-body');
      var btn = lg.querySelector('.parkgis-legend-toggle');
      r.before = [body.offsetHeight, lg.offsetHeight];
      btn.click();
      r.collapsed = [body.offsetHeight, lg.offsetHeight, btn.getAttribute('aria-expanded')];
      btn.click();
      r.after = [body.offsetHeight, btn.getAttribute('aria-expanded')];
      r.north = !!document.querySelector('.parkgis-north svg');
    """)
    assert r["before"][0] > 80
    assert r["collapsed"][0] == 0 and r["collapsed"][1] < 40 and r["collapsed"][2] == "false"
    assert r["after"] == [r["before"][0], "true"] and r["north"] and r["errors"] == []
