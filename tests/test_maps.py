"""Briefing maps without a browser: the compact encoding, specs, styles, the rendered HTML, CLI, briefing pack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from gis.area import area_m2
from gis.errors import InputError, OutputExistsError
from gis.units import m2_to_km2, m2_to_mu
from gis.webmap import SCHEMATIC_NOTE, page_html, render_map, save_map, validate_spec
from gis.webmap.compact import (decode_geometry, encode_column, encode_geometry, safe_json, varint_decode,
                                varint_encode)
from gis.webmap.offline import remote_assets

EVIL = "<img src=x onerror=alert(1)>"


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def zones():
    return gpd.GeoDataFrame(
        {"id": ["z1", "z2", "z3"], "name_zh": ["生产区", EVIL, "生活区"], "name_en": ["Production", "Evil", "Living"],
         "kind": ["zone"] * 3, "function": ["manufacturing", "exhibition", "housing"],
         "planned_mu": [1500.0, None, 800.0], "planned_km2": [None, 0.1, None]},
        geometry=[box(103.60, 36.50, 103.61, 36.51), box(103.612, 36.50, 103.615, 36.505),
                  Polygon([(103.62, 36.50), (103.63, 36.50), (103.63, 36.51), (103.62, 36.51)],
                          [[(103.622, 36.502), (103.624, 36.502), (103.624, 36.504), (103.622, 36.504)]])],
        crs="EPSG:4326")


@pytest.fixture
def plan_lines_points():
    return gpd.GeoDataFrame(
        {"id": ["a1", "c1"], "name_zh": ["发展轴", "服务中心"], "name_en": ["Axis", "Centre"], "kind": ["axis", "centre"]},
        geometry=[LineString([(103.60, 36.505), (103.63, 36.506)]), Point(103.605, 36.507)], crs="EPSG:4326")


@pytest.fixture
def parcels():
    rng = np.random.default_rng(1)
    n = 40
    geoms = [box(103.60 + (i % 8) * 0.001, 36.50 + (i // 8) * 0.001, 103.6008 + (i % 8) * 0.001,
                 36.5008 + (i // 8) * 0.001) for i in range(n)]
    intensity = np.round(rng.uniform(100, 600, n), 1)
    intensity[3] = np.nan
    verdict = np.where(np.isnan(intensity), "missing", np.where(intensity >= 300, "pass", "fail"))
    names = [f"地块{i}" for i in range(n)]
    names[5] = EVIL
    return gpd.GeoDataFrame({"parcel_id": [f"P{i:03d}" for i in range(n)], "name_zh": names,
                             "investment_intensity_wan_per_mu": intensity, "verdict": verdict},
                            geometry=geoms, crs="EPSG:4490")


def _spec(**extra):
    spec = {"id": "t", "title": {"zh": "测试 " + EVIL, "en": "Test"}, "source_note": "fixture " + EVIL,
            "layers": [{"name": {"zh": "片区", "en": "Zones"}, "source": "zones", "style": {"by": "name_zh"},
                        "label": "name_zh"},
                       {"name": {"zh": "轴", "en": "Axes"}, "source": "pl", "filter": {"kind": "axis"}, "kind": "axes"},
                       {"name": {"zh": "中心", "en": "Centres"}, "source": "pl", "filter": {"kind": "centre"},
                        "kind": "centres"},
                       {"name": {"zh": "地块 " + EVIL, "en": "Parcels"}, "source": "parcels", "kind": "parcels",
                        "style": {"column": "investment_intensity_wan_per_mu", "scheme": "Quantiles", "k": 4,
                                  "outline": {"field": "verdict", "equals": ["fail"]}},
                        "tooltip": ["parcel_id", "name_zh", "investment_intensity_wan_per_mu", "area_mu", "verdict"]}]}
    spec.update(extra)
    return spec


@pytest.fixture
def layers(zones, plan_lines_points, parcels):
    return {"zones": zones, "pl": plan_lines_points, "parcels": parcels}


def _payloads(page: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r'<script type="application/json" id="[^"]+_data">(.*?)</script>', page)]


# ------------------------------------------------------------------ compact encoding
@given(st.lists(st.integers(min_value=0, max_value=2**62), max_size=60))
@settings(max_examples=60, deadline=None)
def test_varint_round_trip(values):
    assert varint_decode(varint_encode(values)).tolist() == values


def test_geometry_round_trip_within_quantum(zones, plan_lines_points):
    geoms = list(zones.geometry) + list(plan_lines_points.geometry) + [None, Polygon(),
             MultiPolygon([box(103.7, 36.6, 103.71, 36.61), box(103.72, 36.6, 103.73, 36.61)])]
    enc = encode_geometry(gpd.GeoSeries(geoms, crs="EPSG:4326"))
    dec = decode_geometry(enc)
    assert enc["n"] == len(geoms) == len(dec)
    assert dec[5] == [] and dec[6] == []  # missing and empty: no parts, still counted
    assert len(dec[2][0]) == 2  # polygon with a hole: two rings
    assert len(dec[7]) == 2  # multipolygon: two parts
    assert dec[4] == [[[(103.605, 36.507)]]]  # point
    for g, parts in zip(geoms, dec):
        if g is None or g.is_empty:
            continue
        got = np.array([xy for part in parts for ring in part for xy in ring])
        exp = shapely.get_coordinates(g)
        if g.geom_type in ("Polygon", "MultiPolygon"):  # closing vertices dropped
            rings = [r for p in getattr(g, "geoms", [g]) for r in [p.exterior, *p.interiors]]
            exp = np.vstack([np.asarray(r.coords)[:-1] for r in rings])
        assert np.abs(got - exp).max() <= 0.5e-6 + 1e-12


def test_compact_is_small():
    n = 2000
    geoms = [box(103.6 + (i % 50) * 0.001, 36.5 + (i // 50) * 0.001, 103.6008 + (i % 50) * 0.001,
                 36.5008 + (i // 50) * 0.001) for i in range(n)]
    enc = encode_geometry(gpd.GeoSeries(geoms, crs="EPSG:4326"))
    size = sum(len(enc[k]) for k in "PTRNC")
    plain = len(gpd.GeoSeries(geoms).to_json())
    assert size < plain / 8  # ~16 bytes of base64 per 4-vertex parcel


def test_encode_column_dictionary_and_missing():
    col = encode_column(pd.Series(["pass", "fail", "pass", None, "pass", "fail"]))
    assert col["d"] == ["pass", "fail"] and col["k"] == [0, 1, 0, -1, 0, 1]
    num = encode_column(pd.Series([1.23456, np.nan, 3.0]), digits=2)
    assert num["v"] == [1.23, None, 3.0]  # missing stays null, never 0
    unique = encode_column(pd.Series(["a", "b", "c"]))
    assert unique["v"] == ["a", "b", "c"]


def test_safe_json_cannot_close_the_script():
    text = safe_json({"x": "</script><script>alert(1)</script>", "y": "a & b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["x"] == "</script><script>alert(1)</script>"


# ------------------------------------------------------------------ specs
@pytest.mark.parametrize("raw,message", [
    ({"layers": [{"source": "x"}]}, "title"),
    ({"title": {"zh": "a", "en": "b"}, "layers": []}, "layers"),
    ({"title": {"zh": "a", "en": "b"}, "layers": [{"source": "x", "kind": "blobs"}]}, "kind"),
    ({"title": {"zh": "a", "en": "b"}, "layers": [{"source": "x", "colour": "red"}]}, "unknown keys"),
    ({"title": {"zh": "a", "en": "b"}, "layers": [{"source": "x", "style": {"color": "red\" onload=x"}}]}, "colour"),
    ({"title": {"zh": "a", "en": "b"}, "basemap": "bing", "layers": [{"source": "x"}]}, "basemap"),
])
def test_bad_specs_say_what_is_wrong(raw, message):
    with pytest.raises(InputError, match=message):
        validate_spec(raw)


def test_bundled_specs_are_valid():
    from gis.webmap.spec import BRIEFING_SPECS, load_spec

    for name in BRIEFING_SPECS:
        spec = load_spec(name)
        assert spec["title"]["zh"] and spec["title"]["en"] and spec["layers"]
        assert spec["id"] == name


# ------------------------------------------------------------------ rendering
def test_render_payloads_areas_and_styles(layers, zones):
    m = render_map(layers, _spec(), date="2026-01-02")
    page = page_html(m, offline=True)
    payloads = _payloads(page)
    assert [p["kind"] for p in payloads] == ["zones", "axes", "centres", "parcels"]
    z = payloads[0]
    # measured area in 亩 and km² from gis.area, planned against measured
    a = area_m2(zones).to_numpy()
    assert z["cols"]["area_mu"]["v"] == pytest.approx(list(np.round(m2_to_mu(a), 1)))
    assert z["cols"]["area_km2"]["v"] == pytest.approx(list(np.round(m2_to_km2(a), 3)))
    assert z["cols"]["planned_mu"]["v"] == [1500.0, 150.0, 800.0]  # 0.1 km² = 150 亩
    dev = z["cols"]["deviation_pct"]["v"]
    assert dev[0] == pytest.approx((m2_to_mu(a[0]) - 1500) / 1500 * 100, abs=0.01)
    assert {f["label"] for f in z["tooltip"]} >= {"实测面积 Measured (亩)", "实测面积 Measured (km²)",
                                                  "规划面积 Planned (亩)"}
    assert len(set(z["style"]["palette"])) == 3 and z["style"]["fill_idx"] == [0, 1, 2]
    # axes labelled, centres as markers
    assert payloads[1]["label"] == "name_zh" and payloads[2]["label"] == "name_zh"
    # parcels: classed ramp, NaN in its own no-data class, failing parcels outlined in red
    p = payloads[3]
    assert len(p["style"]["palette"]) == 5 and p["style"]["palette"][-1] == "#cccccc"
    assert p["style"]["fill_idx"][3] == 4
    fails = (layers["parcels"]["verdict"] == "fail").astype(int).tolist()
    assert p["style"]["outline"]["flags"] == fails and p["style"]["outline"]["color"] == "#e31a1c"
    assert p["cols"]["name_zh"]["v"][5] == EVIL  # the value travels as data …
    # legends for every styled layer
    legend = re.search(r'<div class="parkgis-legend".*?</div></div>', page, flags=re.S).group(0)
    assert legend.count("<h3>") == 4 and "生产区" in legend and "Axis" in legend
    assert "无数据 no data (1)" in legend and f"({sum(fails)})" in legend


def test_title_block_and_controls(layers):
    page = page_html(render_map(layers, _spec(), date="2026-01-02"), offline=True)
    assert "schematic digitisation" not in page and "示意性数字化" not in page  # a user's own data: no disclaimer
    layers = {**layers, "zones": layers["zones"].assign(digitisation="schematic, from the plan text")}
    page = page_html(render_map(layers, _spec(), date="2026-01-02"), offline=True)
    assert "schematic digitisation, from the plan text; no official boundary" in page
    assert "示意性数字化" in page and SCHEMATIC_NOTE.split(" · ")[1] in page
    assert "2026-01-02" in page and "数据来源 Data source" in page
    assert "L.Control.Measure" in page and "L.control.fullscreen" in page
    assert "L.control.scale" in page and "L.control.layers" in page
    assert "preferCanvas" in page


def test_injected_names_stay_text(layers):
    page = page_html(render_map(layers, _spec()), offline=True)
    # nowhere in the page as markup: title, legend, layer control, data
    assert EVIL not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # title block, legend, layer names (escaped HTML)
    assert "innerHTML" not in (Path(__file__).parents[1] / "gis/webmap/templates/parkgis.js").read_text()


def test_offline_page_loads_nothing_from_the_network(layers, tmp_path):
    m = render_map(layers, _spec())
    path = save_map(m, tmp_path / "m.html", offline=True)
    page = path.read_text(encoding="utf-8")
    assert remote_assets(page) == []
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?:", page)
    assert "Leaflet 1.9.4" in page or "leaflet/leaflet.js (vendored)" in page
    assert "url(\"data:image/png;base64," in page  # layer-control icons inlined
    for dropped in ("jquery", "bootstrap", "awesome-markers", "fontawesome"):
        assert dropped not in page.lower()


def test_online_page_links_cdn_but_drops_unused(layers):
    page = page_html(render_map(layers, _spec()), offline=False)
    assert "https://cdn.jsdelivr.net/npm/leaflet@" in page
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()


def test_save_map_is_atomic_and_refuses_overwrite(layers, tmp_path):
    m = render_map(layers, _spec())
    path = save_map(m, tmp_path / "m.html")
    with pytest.raises(OutputExistsError):
        save_map(m, path)
    save_map(m, path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m.html"]


def test_filter_field_missing_is_an_input_error(layers):
    spec = _spec()
    spec["layers"][0]["filter"] = {"no_such_field": "x"}
    with pytest.raises(InputError, match="no_such_field"):
        render_map(layers, spec)


def test_tianditu_needs_a_key(layers, monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(InputError, match="TIANDITU_KEY"):
        render_map(layers, _spec(), basemap="tianditu")
    monkeypatch.setenv("TIANDITU_KEY", "abc123")
    page = page_html(render_map(layers, _spec(), basemap="tianditu"), offline=True)
    assert "tianditu.gov.cn" in page and "tk=abc123" in page


def test_other_basemaps(layers):
    assert "World_Imagery" in page_html(render_map(layers, _spec(), basemap="esri"), offline=True)
    assert "openstreetmap" in page_html(render_map(layers, _spec(), basemap="osm"), offline=True).lower()
    none = page_html(render_map(layers, _spec(), basemap="none"), offline=True)
    assert "L.tileLayer" not in none


def test_gaode_shifts_overlays_to_gcj02(layers):
    offsets = pytest.importorskip("gis.offsets", reason="gis.offsets (WGS84→GCJ-02) not written yet")
    wgs = _payloads(page_html(render_map(layers, _spec()), offline=True))
    gcj = _payloads(page_html(render_map(layers, _spec(), basemap="gaode"), offline=True))
    a = np.array([xy for part in decode_geometry(wgs[0]["geom"])[0] for ring in part for xy in ring])
    b = np.array([xy for part in decode_geometry(gcj[0]["geom"])[0] for ring in part for xy in ring])
    lon, lat = offsets.wgs84_to_gcj02(a[:, 0], a[:, 1])
    assert np.abs(b - np.column_stack([lon, lat])).max() < 1e-6
    assert np.abs(b - a).max() > 1e-4  # a few hundred metres near Lanzhou
    # areas are measured before the display shift
    assert wgs[0]["cols"]["area_mu"] == gcj[0]["cols"]["area_mu"]


# ------------------------------------------------------------------ CLI
def _write(gdf, path):
    gdf.to_file(path, driver="GeoJSON")
    return str(path)


def test_cli_map_with_and_without_spec(layers, tmp_path, capsys):
    from gis.cli import main

    zpath = _write(layers["zones"], tmp_path / "zones.geojson")
    out = tmp_path / "z.html"
    assert main(["map", zpath, "--out", str(out), "--offline"]) == 0
    page = out.read_text(encoding="utf-8")
    assert remote_assets(page) == [] and len(_payloads(page)) == 1
    assert main(["map", zpath, "--out", str(out)]) == 2  # exists
    assert "exists" in capsys.readouterr().err
    spec = tmp_path / "s.yaml"
    spec.write_text("title: {zh: 片区, en: Zones}\nlayers:\n  - {source: zones, kind: boundary}\n", encoding="utf-8")
    assert main(["map", zpath, "--spec", str(spec), "--out", str(out), "--overwrite"]) == 0
    assert _payloads(out.read_text(encoding="utf-8"))[0]["kind"] == "boundary"
    assert main(["map", "--out", str(tmp_path / "x.html")]) == 2
    assert main(["map", "--spec", "no_such_spec", "--out", str(tmp_path / "x.html")]) == 2
    assert "no map spec" in capsys.readouterr().err


def test_cli_map_png_without_chromium_is_one_line(layers, tmp_path, capsys, monkeypatch):
    from gis.cli import main

    monkeypatch.setenv("PARKGIS_CHROMIUM", str(tmp_path / "no-chromium"))
    zpath = _write(layers["zones"], tmp_path / "zones.geojson")
    rc = main(["map", zpath, "--out", str(tmp_path / "z.html"), "--png"])
    err = capsys.readouterr().err
    assert rc == 2 and (tmp_path / "z.html").exists() and not (tmp_path / "z.png").exists()
    assert "Chromium" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ briefing pack
@pytest.fixture
def no_chromium(monkeypatch, tmp_path):
    monkeypatch.setenv("PARKGIS_CHROMIUM", str(tmp_path / "no-chromium"))


def test_briefing_pack(tmp_path, no_chromium):
    from gis.bundled import bundled_layer_names
    from gis.webmap import build_briefing

    if not {"parks", "port_zones", "yaogu_zones", "urban_mining_zones"} <= set(bundled_layer_names()):
        pytest.skip("bundled layers not digitised yet")
    out = tmp_path / "briefing"
    made = build_briefing(out, png=None)
    names = sorted(p.name for p in out.iterdir())
    assert {"index.html", "overview.html", "port.html", "yaogu.html", "urban_mining.html"} <= set(names)
    assert not any(n.startswith(".") for n in names) and not list(tmp_path.glob(".briefing*"))
    index = (out / "index.html").read_text(encoding="utf-8")
    for m in made:
        assert m.id in index
        if m.available:
            page = (out / m.html).read_text(encoding="utf-8")
            assert remote_assets(page) == []  # offline by default
    yaogu = next(m for m in made if m.id == "yaogu")
    assert {"yaogu.phase1", "yaogu.phase2"} <= set(yaogu.areas["id"])
    if not yaogu.targets.empty:
        assert {"yaogu.phase1", "yaogu.phase2"} <= set(yaogu.targets["target"]) or len(yaogu.targets) >= 2
        assert "规划指标核对 Plan target check" in index
    assert "面积 Areas" in index and "schematic digitisation" in index
    if not yaogu.consistency.empty:  # the plan's six zones add up to neither phase: said, not hidden
        assert not yaogu.consistency["consistent"].all()
        assert "规划自身一致性 Plan consistency" in index
    # never over a non-empty folder without overwrite; with it, replaced whole
    with pytest.raises(OutputExistsError):
        build_briefing(out, png=False)
    (out / "stale.txt").write_text("old")
    build_briefing(out, png=False, overwrite=True, specs=("yaogu",))
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "yaogu.html"]


def test_briefing_without_audit_lists_it_as_not_available(tmp_path, no_chromium, monkeypatch):
    from gis.webmap import ProcessorUnavailable, build_briefing
    from gis.webmap import render as render_mod

    def unavailable(gdf, **kwargs):
        raise ProcessorUnavailable("gis.audit is not available (test)")

    monkeypatch.setitem(render_mod.PROCESSORS, "audit", unavailable)
    made = build_briefing(tmp_path / "b", png=False, specs=("yaogu", "audit"))
    audit = next(m for m in made if m.id == "audit")
    assert not audit.available and "gis.audit" in audit.reason
    index = (tmp_path / "b" / "index.html").read_text(encoding="utf-8")
    assert "not available" in index and not (tmp_path / "b" / "audit.html").exists()


def test_briefing_includes_audit_when_available(tmp_path, no_chromium):
    pytest.importorskip("gis.audit")
    from gis.bundled import layers_dir
    from gis.webmap import build_briefing

    if not (layers_dir() / "samples" / "yaogu_phase1_parcels.geojson").exists():
        pytest.skip("sample parcels not bundled yet")
    made = build_briefing(tmp_path / "b", png=False, specs=("audit",))
    assert made[0].available and (tmp_path / "b" / "audit.html").exists()
    # the leadership workbook lies beside the map: Chinese sheets, headers and verdicts
    import openpyxl

    wb = openpyxl.load_workbook(tmp_path / "b" / "audit.xlsx")
    assert wb.sheetnames[0] == "汇总" and "说明" in wb.sheetnames
    heads = [c.value for c in wb["地块"][1]]
    assert "投资强度（万元/亩）" in heads and "综合结论" in heads
    assert {c.value for c in next(wb["地块"].iter_cols(min_col=heads.index("综合结论") + 1, min_row=2))} <= {
        "达标", "未达标", "不适用", "缺数据"}
    page = (tmp_path / "b" / "audit.html").read_text(encoding="utf-8")
    p = [x for x in _payloads(page) if x["kind"] == "parcels"][0]
    assert "verdict" in p["cols"] and p["style"]["outline"] and sum(p["style"]["outline"]["flags"]) > 0
    # the thick outline marks exactly the parcels failing the 300 万元/亩 project rule, not any rule
    from gis.audit import audit
    from gis.io import read_layer

    parcels = read_layer(layers_dir() / "samples" / "yaogu_phase1_parcels.geojson")
    expected = audit(parcels, ["lanzhou-etdz", "gb-2008"]).parcels["rule:etdz-invest-300"].astype(str).eq("fail")
    assert p["style"]["outline"]["flags"] == expected.astype(int).tolist()
    assert made[0].summary["verdict_fail"].iloc[0] >= sum(p["style"]["outline"]["flags"])
    # classes anchored at 230 and 300 万元/亩, named in the legend
    legend = re.search(r'<div class="parkgis-legend".*?</div></div>', page, flags=re.S).group(0)
    assert "&lt; 230 万元/亩" in legend and "230 – 300 万元/亩" in legend and "300 – 400 万元/亩" in legend
    assert "未达标：工业项目投资强度＜300万元/亩" in legend


def test_cli_briefing(tmp_path, capsys, no_chromium):
    from gis.cli import main

    out = tmp_path / "pack"
    assert main(["briefing", "--out", str(out), "--no-png"]) == 0
    assert (out / "index.html").exists()
    assert main(["briefing", "--out", str(out), "--no-png"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["briefing", "--out", str(out), "--png"]) == 2  # no Chromium: one-line error


def test_parcels_default_to_intensity_classes_and_red_failures(parcels):
    from gis.webmap.style import layer_style

    style, legend = layer_style(parcels, "parcels", {})
    assert len(style["palette"]) == 6  # 5 quantile classes + no data
    assert style["outline"]["flags"] == (parcels["verdict"] == "fail").astype(int).tolist()
    assert any("万元/亩" in e["label"] for e in legend)


def test_quantiles_match_mapclassify():
    mapclassify = pytest.importorskip("mapclassify")
    from gis.webmap.style import _classify

    y = np.random.default_rng(3).lognormal(5, 0.6, 500)
    y[:40] = 250.0  # ties
    for k in (3, 5, 7):
        bins, yb = _classify(y, "Quantiles", k, "x")
        ref = mapclassify.Quantiles(y, k=k)
        assert np.allclose(bins, ref.bins) and (yb == ref.yb).all()


def test_index_tables_escape_everything():
    from gis.webmap.briefing import html_table

    out = html_table(pd.DataFrame({"name_zh": [EVIL], "area_mu": [1.5], "within": [True]}), caption=EVIL)
    assert EVIL not in out and out.count("&lt;img src=x onerror=alert(1)&gt;") == 2
    assert "1.5" in out and "是 yes" in out


def test_template_syntax_in_names_is_not_evaluated(layers):
    spec = _spec(title={"zh": "{{ 7*7 }} {% if true %}x{% endif %}", "en": "{# c #}"})
    spec["layers"][0]["name"] = {"zh": "{{ config }}", "en": ""}
    layers = dict(layers)
    z = layers["zones"].copy()
    z.loc[0, "name_zh"] = "{{ 6*7 }}"
    layers["zones"] = z
    page = page_html(render_map(layers, spec), offline=True)
    assert "{{ 7*7 }} {% if true %}x{% endif %}" in page and "{# c #}" in page
    assert "{{ config }}" in page and "{{ 6*7 }}" in page
    assert ">49<" not in page
    payload = _payloads(page)[0]
    assert payload["cols"]["name_zh"]["v"][0] == "{{ 6*7 }}"  # data never goes through a template
    assert "\\u0026#123;\\u0026#123; config \\u0026#125;\\u0026#125;" in page  # control name: braces as entities


# ------------------------------------------------------------------ a user's own file
@pytest.fixture
def own_file(tmp_path):
    """A planner's own layer: Chinese column names, its own name and id columns, near Lanzhou."""
    n = 24
    g = gpd.GeoDataFrame({"编号": [f"Q{i:02d}" for i in range(n)], "名称": [f"厂区{i}" for i in range(n)],
                          "用途": ["工业", "仓储", "研发"] * 8, "产值": np.arange(n, dtype=float) * 10.0},
                         geometry=[box(103.62 + (i % 6) * 0.004, 36.10 + (i // 6) * 0.003,
                                       103.6235 + (i % 6) * 0.004, 36.1025 + (i // 6) * 0.003) for i in range(n)],
                         crs="EPSG:4326")
    path = tmp_path / "own.gpkg"
    g.to_file(path)
    return path


def test_map_of_own_file_categorical_column_labels_and_new_folder(own_file, tmp_path, capsys):
    from gis.cli import main

    out = tmp_path / "new" / "deeper" / "own.html"  # folders that do not exist yet
    assert main(["map", str(own_file), "--title", "我的地块", "--column", "用途", "--label", "编号", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "schematic digitisation" not in page and "示意性数字化" not in page
    p = _payloads(page)[0]
    assert p["label"] == "编号" and p["kind"] == "zones"
    cats = ["工业", "仓储", "研发"] * 8
    codes = p["style"]["fill_idx"]
    assert len(set(codes)) == 3 and all((codes[i] == codes[j]) == (cats[i] == cats[j]) for i in range(24) for j in range(24))
    legend = re.search(r'<div class="parkgis-legend".*?</div></div>', page, flags=re.S).group(0)
    assert all(c in legend for c in ("工业", "仓储", "研发")) and "产值" not in legend
    assert "我的地块" in page
    # tooltips lead with the file's own name and id columns
    assert [f["field"] for f in p["tooltip"]][:2] == ["名称", "编号"]


def test_map_of_own_file_numeric_column_is_classed_and_labels_default_to_names(own_file, tmp_path):
    from gis.cli import main

    out = tmp_path / "o.html"
    assert main(["map", str(own_file), "--column", "产值", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    p = _payloads(page)[0]
    assert p["kind"] == "parcels" and p["label"] == "名称"  # the name column found by default
    idx = np.asarray(p["style"]["fill_idx"])
    values = np.arange(24) * 10.0
    assert np.all(np.diff(idx[np.argsort(values)]) >= 0)  # classes ordered by the value
    legend = re.search(r'<div class="parkgis-legend".*?</div></div>', page, flags=re.S).group(0)
    assert legend.count("parkgis-swatch") == 5 and "0.0 – " in legend


def test_map_of_own_file_bad_column_is_one_line(own_file, tmp_path, capsys):
    from gis.cli import main

    assert main(["map", str(own_file), "--column", "nope", "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "no column 'nope'" in err and "产值" in err and err.strip().count("\n") == 0


# ------------------------------------------------------------------ colour table and context as data
def _hue_and_sat(hex_colour):
    import colorsys

    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, l, s = colorsys.rgb_to_hls(r, g, b)
    return h * 360, s, l


def test_landuse_colour_table_follows_planning_convention():
    import csv

    from gis.webmap.style import landuse_colours

    path = Path(__file__).parents[1] / "gis/data/landuse_colours.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows and all(re.fullmatch(r"#[0-9A-Fa-f]{6}", r["colour"]) and r["source"].strip() for r in rows)
    table = landuse_colours()
    hue = {code: _hue_and_sat(table[code][0]) for code in ("M", "M1", "M2", "M3", "W", "R", "G", "G1", "B", "A", "U")}
    for code in ("M", "M1", "M2", "M3"):  # industrial: browns (orange hue, muted)
        assert 15 <= hue[code][0] <= 40 and hue[code][1] < 0.5, code
    assert 250 <= hue["W"][0] <= 290  # logistics purple
    assert 50 <= hue["R"][0] <= 65  # residential yellow
    assert 90 <= hue["G"][0] <= 150 and 90 <= hue["G1"][0] <= 150  # green is for green space …
    for code in ("M", "M1", "M2", "M3", "W", "R", "B", "A", "U"):  # … and for nothing else
        assert not 80 <= hue[code][0] <= 160, code
    assert hue["B"][0] < 5 or hue["B"][0] > 355  # commercial red
    assert 300 <= hue["A"][0] <= 345  # public services pink
    assert table["1001"] == table["M2"] or table["1001"][1] == "工业用地"  # 2023 codes resolve too


def test_class_breaks_are_left_closed_at_the_rule_thresholds():
    from gis.webmap.style import layer_style

    gdf = gpd.GeoDataFrame({"investment_intensity_wan_per_mu": [100.0, 229.9, 230.0, 299.99, 300.0, 650.0, np.nan]},
                           geometry=[box(0, 0, 1, 1)] * 7, crs="EPSG:4326")
    style, legend = layer_style(gdf, "parcels", {"breaks": [230, 300, 400, 600], "unit": "万元/亩",
                                                 "colors_list": ["#d7191c", "#fdae61", "#abd9e9", "#74add1", "#4575b4"]})
    assert style["fill_idx"] == [0, 0, 1, 1, 2, 4, 5]  # 300 passes the ≥ 300 rule, so it sits with the passing
    labels = [e["label"] for e in legend]
    assert labels[:5] == ["< 230 万元/亩 (2)", "230 – 300 万元/亩 (2)", "300 – 400 万元/亩 (1)", "400 – 600 万元/亩 (0)",
                          "≥ 600 万元/亩 (1)"]
    assert "no data (1)" in labels[5]


def test_context_layers_are_real_and_sourced():
    from gis.webmap.context import REGION, context_payload, districts, places, rivers

    d = districts()
    lanzhou = set(d.loc[d["city_zh"] == "兰州市", "name_zh"])
    assert lanzhou == {"城关区", "七里河区", "西固区", "安宁区", "红古区", "永登县", "皋兰县", "榆中县"}
    # every district seat lies in its own polygon, and the districts of 兰州市 do not overlap
    lz = d[d["city_zh"] == "兰州市"].to_crs("EPSG:4544")
    assert lz.geometry.area.sum() == pytest.approx(lz.geometry.union_all().area, rel=1e-3)
    assert 13_000e6 < lz.geometry.area.sum() < 13_300e6  # 兰州市 is about 13 100 km²
    r = rivers()
    assert r["name_zh"].tolist() == ["黄河"] and r.geometry.iloc[0].length > 2.0  # degrees across the region
    assert r.geometry.iloc[0].within(box(*REGION).buffer(1e-6))
    assert places()["source"].str.len().gt(10).all()
    payload = context_payload((103.38, 36.1, 103.6, 36.2))
    assert {x["name"] for x in payload["districts"]} >= {"西固区", "红古区", "永登县"}
    assert payload["rivers"] and "天地图" in payload["attribution"] and "Natural Earth" in payload["attribution"]
    assert context_payload((-71.2, 42.3, -71.0, 42.4)) is None  # Somerville: no Lanzhou context
