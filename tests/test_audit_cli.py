"""``parkgis audit`` end to end: outputs, exit codes, the bundled sample, the quarterly script."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

from gis.audit import audit
from gis.bundled import layers_dir
from gis.cli import main
from gis.rules import VERDICTS

GK = "EPSG:4544"
X0, Y0 = 380_000.0, 4_040_000.0
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = layers_dir() / "samples" / "yaogu_phase1_parcels.geojson"
# the sample holds a deliberately non-numeric tax figure ("待核实"); GDAL warns while reading it
sample_read = pytest.mark.filterwarnings("ignore:Could not parse column:UserWarning")


def sq(i, side=100.0):
    x = X0 + i * 1000.0
    return box(x, Y0, x + side, Y0 + side)


@pytest.fixture
def clean(tmp_path) -> Path:
    """Three built industrial parcels that pass every lanzhou-etdz rule (≈ 15 亩 each)."""
    g = gpd.GeoDataFrame({
        "parcel_id": ["a", "b", "c"], "park_id": ["P"] * 3, "zone_id": ["z1", "z1", "z2"], "land_use": ["M1", "M2", "100101"],
        "status": ["built"] * 3, "investment_wan": [6000.0, 7000.0, 8000.0],
    }, geometry=[sq(0), sq(1), sq(2)], crs=GK)
    path = tmp_path / "clean.gpkg"
    g.to_file(path)
    return path


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Failing, missing, non-industrial and bad rows, with Chinese headers, as a CSV with WKT."""
    geoms = [sq(0), sq(1), sq(2), sq(3), sq(4), sq(5, 0.3)]
    df = pd.DataFrame({
        "宗地编号": ["a", "b", "c", "d", "d", "f"],
        "园区": ["P"] * 6,
        "片区": ["z1", "z1", "z2", None, "z2", "z2"],
        "用地性质": ["M1", "M1", "B1", "M2", "XX", "M1"],
        "用地状态": ["已建成", "已建成", "已建成", "在建", "已建成", "已建成"],
        "用地面积（公顷）": [1.0, 1.0, 1.0, 1.5, 1.0, 0.0],
        "固定资产投资（元）": [6.0e7, 2.0e7, 1.0e6, None, "abc", 1.0e5],
        "税收（万元）": [100.0, -3.0, 5.0, 1.0, 1.0, 1.0],
        "wkt": [g.wkt for g in geoms],
    })
    path = tmp_path / "mixed.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def run(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_clean_audit_exit_0_and_terminal_summary(clean, capsys):
    rc, out, err = run(["audit", str(clean), "--rules", "lanzhou-etdz", "--fail-on", "error"], capsys)
    assert rc == 0, err
    assert "Verdicts of 3 parcels" in out and "rule:etdz-invest-300" in out
    assert "Summary" in out


def test_fail_on_error_gives_exit_1(mixed, capsys, tmp_path):
    rc, out, err = run(["audit", str(mixed), "--crs", GK, "--rules", "lanzhou-etdz", "--fail-on", "error"], capsys)
    assert rc == 1
    rc, out, err = run(["audit", str(mixed), "--crs", GK, "--rules", "lanzhou-etdz"], capsys)
    assert rc == 0  # without --fail-on the audit only reports


def test_fail_on_warning(clean, tmp_path, capsys):
    g = gpd.read_file(clean)
    g.loc[0, "zone_id"] = None  # outside every zone: a warning
    p = tmp_path / "warn.gpkg"
    g.to_file(p)
    assert run(["audit", str(p), "--rules", "lanzhou-etdz", "--fail-on", "error"], capsys)[0] == 0
    assert run(["audit", str(p), "--rules", "lanzhou-etdz", "--fail-on", "warning"], capsys)[0] == 1


@pytest.mark.parametrize("args,message", [
    (["audit", "no/such/file.gpkg"], "no such file"),
    (["audit", "{clean}", "--rules", "not-a-pack"], "no rule pack"),
    (["audit", "{clean}", "--rules", "{missing_yaml}"], "no such rule file"),
    (["audit", "{clean}", "--out", "{clean}"], "refusing to overwrite the input"),
    (["audit", "{clean}", "--out", "{tmp}/x.shp"], "cannot write an audit"),
])
def test_exit_2_with_one_line(args, message, clean, tmp_path, capsys):
    args = [a.format(clean=clean, tmp=tmp_path, missing_yaml=tmp_path / "absent.yaml") for a in args]
    rc, out, err = run(args, capsys)
    assert rc == 2
    assert message in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_existing_output_needs_overwrite(clean, tmp_path, capsys):
    out = tmp_path / "a.xlsx"
    assert run(["audit", str(clean), "--rules", "lanzhou-etdz", "--out", str(out)], capsys)[0] == 0
    rc, _, err = run(["audit", str(clean), "--rules", "lanzhou-etdz", "--out", str(out)], capsys)
    assert rc == 2 and "--overwrite" in err
    assert run(["audit", str(clean), "--rules", "lanzhou-etdz", "--out", str(out), "--overwrite"], capsys)[0] == 0


def test_xlsx_sheets_and_contents(mixed, tmp_path, capsys):
    out = tmp_path / "audit.xlsx"
    rc, _, err = run(["audit", str(mixed), "--crs", GK, "--rules", "lanzhou-etdz", "--rules", "gb-2008",
                      "--by", "land_use", "--out", str(out), "--lang", "raw"], capsys)
    assert rc == 0, err
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames[:4] == ["parcels", "summary", "findings", "rules"]
    parcels = pd.read_excel(out, sheet_name="parcels", keep_default_na=False, na_values=[""])  # "n/a" is a verdict
    assert len(parcels) == 6 and parcels["parcel_id"].tolist() == ["a", "b", "c", "d", "d", "f"]
    v = parcels.set_index("row")["rule:etdz-invest-300"].tolist()
    assert v == ["pass", "fail", "n/a", "missing", "missing", "missing"]
    # 元 -> 万元 and 公顷 -> 亩 were converted
    assert parcels["investment_wan"].iloc[0] == pytest.approx(6000.0)
    assert parcels["declared_area_mu"].iloc[0] == pytest.approx(15.0)
    findings = pd.read_excel(out, sheet_name="findings")
    checks = set(findings["check"])
    assert {"duplicate_parcel_id", "unknown_land_use", "not_a_number", "negative_value", "outside_zones",
            "tiny_area", "declared_area_differs", "etdz-invest-300"} <= checks
    assert findings["reason_zh"].notna().all() and findings["reason_en"].notna().all()
    rules = pd.read_excel(out, sheet_name="rules")
    assert {"rule:etdz-invest-300", "rule:gb2008-far-min"} <= set(rules["rule"])
    summary = pd.read_excel(out, sheet_name="summary")
    assert {"all", "park_id", "zone_id", "land_use"} <= set(summary["level"])


@pytest.mark.parametrize("suffix", [".csv", ".md", ".html", ".gpkg", ".parquet", ".geojson"])
def test_other_formats(clean, tmp_path, capsys, suffix):
    out = tmp_path / f"audit{suffix}"
    rc, _, err = run(["audit", str(clean), "--rules", "lanzhou-etdz", "--out", str(out)], capsys)
    assert rc == 0, err
    assert out.exists()
    if suffix == ".gpkg":
        import pyogrio

        layers = [name for name, _ in pyogrio.list_layers(out)]
        assert [n for n in layers if n != "layer_styles"][:4] == ["parcels", "summary", "findings", "rules"]
        assert "layer_styles" in layers  # the parcels open styled in QGIS
        g = gpd.read_file(out, layer="parcels")
        assert len(g) == 3 and g["rule:etdz-invest-300"].tolist() == ["pass"] * 3
    elif suffix in (".md", ".html"):
        text = out.read_text(encoding="utf-8")
        assert "rule:etdz-invest-300" in text and "findings" in text
    elif suffix == ".csv":
        df = pd.read_csv(out)
        assert len(df) == 3 and (tmp_path / "audit.summary.csv").exists() and (tmp_path / "audit.findings.csv").exists()
    elif suffix == ".parquet":
        assert len(gpd.read_parquet(out)) == 3 and (tmp_path / "audit.findings.parquet").exists()
    else:
        assert len(gpd.read_file(out)) == 3


def test_zones_layer_fills_zone_by_location(clean, tmp_path, capsys):
    g = gpd.read_file(clean)
    g["zone_id"] = None
    zones = gpd.GeoDataFrame({"id": ["west", "east"]}, geometry=[box(X0 - 10, Y0 - 10, X0 + 1500, Y0 + 500),
                                                                 box(X0 + 1500, Y0 - 10, X0 + 3000, Y0 + 500)], crs=GK)
    r = audit(g, ["lanzhou-etdz"], zones=zones.to_crs(4326))
    assert r.parcels["zone_id"].astype(str).tolist() == ["west", "west", "east"]
    assert "outside_zones" not in set(r.findings["check"].astype(str))


def test_audit_result_for_the_map_engineer(clean):
    r = audit(gpd.read_file(clean), ["lanzhou-etdz", "gb-2008"])
    assert isinstance(r.parcels, gpd.GeoDataFrame) and r.parcels.crs.to_epsg() == 4544
    assert {"verdict", "area_mu", "investment_intensity_wan_per_mu"} <= set(r.parcels.columns)
    assert r.rule_columns == [c for c in r.parcels.columns if c.startswith("rule:")]
    assert set(r.parcels["verdict"].astype(str)) <= set(VERDICTS)


def test_input_columns_named_like_results_are_kept_renamed(clean, capsys):
    g = gpd.read_file(clean)
    g["verdict"] = ["x", "y", "z"]
    g["row"] = [7, 8, 9]
    g.index = [30, 20, 10]  # any index
    r = audit(g, ["lanzhou-etdz"])
    assert r.parcels["row"].tolist() == [1, 2, 3] and r.parcels["input_row"].tolist() == [7, 8, 9]
    assert r.parcels["input_verdict"].tolist() == ["x", "y", "z"]
    assert r.parcels["verdict"].astype(str).tolist() == ["pass"] * 3
    assert list(r.parcels.index) == [30, 20, 10]
    assert g.columns.tolist()[-2:] == ["verdict", "row"]  # input untouched


def test_by_unknown_column_is_exit_2(clean, capsys):
    rc, _, err = run(["audit", str(clean), "--rules", "lanzhou-etdz", "--by", "nope"], capsys)
    assert rc == 2 and "no column 'nope'" in err


# ------------------------------------------------------------------------------------ sample layer
@sample_read
def test_sample_layer_is_synthetic_and_shows_every_verdict(capsys, tmp_path):
    g = gpd.read_file(SAMPLE)
    assert 40 <= len(g) <= 80
    assert g["synthetic"].all() and g["note"].str.contains("SYNTHETIC").all()
    assert '"synthetic":true' in SAMPLE.read_text(encoding="utf-8")[:400].replace(" ", "")
    zones = gpd.read_file(layers_dir() / "yaogu_zones.geojson")
    assert set(g["zone_id"].dropna()) <= set(zones["id"])
    assert g["zone_id"].isna().any()  # some parcels outside every zone
    assert (g["park_id"] == "yaogu.phase1").all()
    r = audit(g, ["lanzhou-etdz", "gb-2008", "mujun-eval"])
    seen = set()
    for c in r.rule_columns:
        seen |= set(r.parcels[c].astype(str))
    assert seen == set(VERDICTS)
    assert set(r.parcels["verdict"].astype(str)) == set(VERDICTS)
    assert (~r.parcels["is_industrial"].fillna(True)).sum() >= 5  # non-industrial parcels
    # its footprint is inside 药谷 phase 1
    parks = gpd.read_file(layers_dir() / "parks.geojson")
    phase1 = parks.loc[parks["id"] == "yaogu.phase1"].geometry.iloc[0].buffer(1e-6)
    assert g.geometry.within(phase1).all()


def test_sample_generator_reproduces_the_file(tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample_parcels", ROOT / "scripts" / "make_sample_parcels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "s.geojson"
    assert mod.main(["--out", str(out)]) == 0
    assert out.read_bytes() == SAMPLE.read_bytes()


@sample_read
def test_bundled_sample_by_name(capsys):
    rc, out, err = run(["audit", "samples/yaogu_phase1_parcels", "--rules", "lanzhou-etdz"], capsys)
    assert rc == 0, err
    assert f"Verdicts of {len(gpd.read_file(SAMPLE))} parcels" in out


# ------------------------------------------------------------------------------------ quarterly
def test_quarterly_workbook(clean, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("quarterly_audit", ROOT / "scripts" / "quarterly_audit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    folder = tmp_path / "q"
    folder.mkdir()
    g = gpd.read_file(clean)
    g.to_file(folder / "2026Q1.gpkg")
    g2 = g.copy()
    g2["investment_wan"] = g2["investment_wan"] / 3  # the second quarter falls below 230 万元/亩 on average
    g2.to_file(folder / "parcels_2026Q2.geojson")
    (folder / "readme.txt").write_text("not a quarter", encoding="utf-8")
    out = tmp_path / "trend.xlsx"
    assert mod.main([str(folder), "--out", str(out), "--rules", "lanzhou-etdz", "--fail-on", "error"]) == 1
    wb = openpyxl.load_workbook(out, read_only=True)
    assert {"trend", "2026Q1", "2026Q2", "findings", "rules"} <= set(wb.sheetnames)
    trend = pd.read_excel(out, sheet_name="trend", keep_default_na=False, na_values=[""])
    park = trend[(trend["level"] == "park_id") & (trend["group"] == "P")].set_index("quarter")
    assert park.loc["2026Q2", "investment_intensity_wan_per_mu"] == pytest.approx(
        park.loc["2026Q1", "investment_intensity_wan_per_mu"] / 3)
    assert park.loc["2026Q1", "rule:etdz-park-avg-2020"] == "pass" and park.loc["2026Q2", "rule:etdz-park-avg-2020"] == "fail"
    assert len(pd.read_excel(out, sheet_name="2026Q2")) == 3
    assert mod.main([str(tmp_path / "nope"), "--out", str(tmp_path / "x.xlsx")]) == 2


def test_end_to_end_subprocess(clean, tmp_path):
    out = tmp_path / "e2e.xlsx"
    res = subprocess.run([sys.executable, "-m", "gis", "audit", str(clean), "--rules", "lanzhou-etdz",
                          "--rules", "gb-2008", "--by", "zone_id", "--out", str(out), "--fail-on", "error", "--lang", "raw"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr  # FAR, coverage … data absent: warnings (missing), no error
    parcels = pd.read_excel(out, sheet_name="parcels")
    assert len(parcels) == 3 and np.all(parcels["area_mu"].between(14.9, 15.1))
    res = subprocess.run([sys.executable, "-m", "gis", "audit", str(tmp_path / "none.gpkg")], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and res.stderr.startswith("parkgis: error:")



def test_xlsx_is_chinese_by_default_and_english_with_lang_en(tmp_path, capsys):
    out_zh, out_en = tmp_path / "zh.xlsx", tmp_path / "en.xlsx"
    for out, extra in ((out_zh, []), (out_en, ["--lang", "en"])):
        rc, _, err = run(["audit", "samples/yaogu_phase1_parcels", "--rules", "lanzhou-etdz", "--out", str(out), *extra],
                         capsys)
        assert rc == 0, err
    zh = openpyxl.load_workbook(out_zh, read_only=True)
    en = openpyxl.load_workbook(out_en, read_only=True)
    assert "地块" in zh.sheetnames and "说明" in zh.sheetnames
    assert "地块" not in en.sheetnames


def test_what_reading_found_is_in_the_audit_findings(tmp_path, capsys):
    import math

    from _wkbgen import polygon, write_gpkg

    d = 0.001
    good = [(103.6, 36.5), (103.6 + d, 36.5), (103.6 + d, 36.5 + d), (103.6, 36.5 + d), (103.6, 36.5)]
    bad = [(103.7, 36.5), (math.nan, 36.5), (103.7 + d, 36.5 + d), (103.7, 36.5)]
    src = write_gpkg(tmp_path / "p.gpkg", [polygon([good]), polygon([bad])], crs="EPSG:4490", ids=["ok", "nan"])
    out = tmp_path / "a.csv"
    rc, _, err = run(["audit", str(src), "--rules", "lanzhou-etdz", "--out", str(out)], capsys)
    assert rc == 0, err
    f = pd.read_csv(tmp_path / "a.findings.csv", keep_default_na=False, dtype={"parcel_id": str})
    hit = f[f["check"] == "coordinates_not_finite"]
    assert hit["row"].astype(int).tolist() == [2] and hit["parcel_id"].tolist() == ["nan"]


def test_reading_findings_in_the_audit_name_their_parcel(tmp_path, capsys):
    """What reading found (here a ring of two points, kept with its area missing) is in the audit's findings
    on its own 1-based row, with that parcel's id, park and zone, like every other finding."""
    df = pd.DataFrame({"parcel_id": ["a", "b", "c"], "park_id": ["P"] * 3, "zone_id": ["z1", "z2", "z2"],
                       "land_use": ["M1"] * 3, "status": ["built"] * 3, "investment_wan": [6000.0] * 3,
                       "wkt": [sq(0).wkt, "POLYGON ((0 0, 1 1, 0 0))", sq(2).wkt]})
    src = tmp_path / "ledger.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "audit.csv"
    rc, _, err = run(["audit", str(src), "--crs", "EPSG:4544", "--rules", "lanzhou-etdz", "--out", str(out)], capsys)
    assert rc in (0, 1), err
    findings = pd.read_csv(tmp_path / "audit.findings.csv")
    geometry = findings[findings["check"] == "ring_too_short"]  # the reader's finding
    assert len(geometry) == 1 and set(geometry["row"]) == {2}
    assert geometry[["parcel_id", "park_id", "zone_id"]].drop_duplicates().values.tolist() == [["b", "P", "z2"]]
