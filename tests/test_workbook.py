"""The audit workbook leadership reads: Chinese headers with units, verdict words, formats, frozen header."""

from __future__ import annotations

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

from gis.audit import audit
from gis.audit_output import write_audit

GK = "EPSG:4544"


@pytest.fixture
def result():
    """Four industrial parcels of 15 亩 (1 ha): one passes 300 万元/亩, one fails, one lacks investment, one is not industrial."""
    geoms = [box(380_000 + i * 1000, 4_040_000, 380_100 + i * 1000, 4_040_100) for i in range(4)]
    g = gpd.GeoDataFrame({
        "parcel_id": ["001", "01", "1", "x"], "park_id": ["P"] * 4, "land_use": ["M1", "M1", "M2", "B1"],
        "status": ["built"] * 4, "investment_wan": [6000.0, 3000.0, None, 100.0],
        "green_m2": [1500.0, 2500.0, 1000.0, 0.0],
    }, geometry=geoms, crs=GK)
    return audit(g, ["lanzhou-etdz", "gb-2008"])


def _sheet(path, name):
    wb = openpyxl.load_workbook(path)
    return wb, wb[name]


def _col(ws, title):
    heads = [c.value for c in ws[1]]
    return heads.index(title) + 1


def test_chinese_headers_verdicts_formats(result, tmp_path):
    out = tmp_path / "审核.xlsx"
    write_audit(result, out, lang="zh")
    wb, ws = _sheet(out, "地块")
    assert wb.sheetnames == ["汇总", "地块", "问题清单", "规则", "指标", "字段对照", "说明"]
    heads = [c.value for c in ws[1]]
    assert {"宗地编号", "投资强度（万元/亩）", "绿地率（%）", "实测面积（亩）", "综合结论"} <= set(heads)
    assert "规则：工业项目投资强度不低于300万元/亩" in heads
    assert not any(h.startswith("rule:") or h == "investment_intensity_wan_per_mu" for h in heads)
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    ids = [ws.cell(r, _col(ws, "宗地编号")).value for r in range(2, 6)]
    assert ids == ["001", "01", "1", "x"]  # ids stay text
    verdicts = [ws.cell(r, _col(ws, "规则：工业项目投资强度不低于300万元/亩")).value for r in range(2, 6)]
    assert verdicts == ["达标", "未达标", "缺数据", "不适用"]
    # the ratio is kept exact and shown as a percentage; the intensity exact, shown to 0.1
    green = ws.cell(2, _col(ws, "绿地率（%）"))
    expected = 1500.0 / result.parcels["area_m2"].iloc[0]
    assert green.value == pytest.approx(expected, rel=1e-12) and green.number_format == "0.0%"
    inv = ws.cell(3, _col(ws, "投资强度（万元/亩）"))
    assert inv.value == pytest.approx(3000.0 / result.parcels["area_mu"].iloc[1], rel=1e-12)
    assert inv.number_format == "#,##0.0"
    # the failing value is highlighted on its row, the passing one is not
    assert inv.fill.fgColor.rgb.endswith("FFC7CE")
    assert not ws.cell(2, _col(ws, "投资强度（万元/亩）")).fill.fgColor.rgb.endswith("FFC7CE")
    # a missing value is a blank cell, never 0
    assert ws.cell(4, _col(ws, "投资强度（万元/亩）")).value is None
    # failing verdict cells are highlighted by conditional formatting on the verdict columns
    rules = [r for cf in ws.conditional_formatting for r in cf.rules]
    assert any('"未达标"' in (r.formula or [""])[0] for r in rules) and any('"缺数据"' in (r.formula or [""])[0] for r in rules)
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    assert widths and all(8 <= w <= 61 for w in widths.values())


def test_notes_sheet_lists_rules_thresholds_sources(result, tmp_path):
    out = tmp_path / "a.xlsx"
    write_audit(result, out, lang="zh")
    _, ws = _sheet(out, "说明")
    rows = [r for r in ws.iter_rows(values_only=True)]
    text = "\n".join(" ".join(str(v) for v in r if v is not None) for r in rows)
    assert "达标" in text and "未达标" in text and "不适用" in text and "缺数据" in text
    invest = next(r for r in rows if r[0] == "etdz-invest-300")
    assert invest[4] in ("300", 300) and invest[5] == "万元/亩" and "第一章" in invest[6]
    green = next(r for r in rows if r[0] == "gb2008-green-ratio")
    assert green[4] == "20%"


def test_english_and_machine_names(result, tmp_path):
    en = tmp_path / "en.xlsx"
    write_audit(result, en, lang="en")
    wb, ws = _sheet(en, "Parcels")
    heads = [c.value for c in ws[1]]
    assert "Investment intensity (万元/亩)" in heads and "Green ratio (%)" in heads
    col = _col(ws, "Rule: industrial project fixed investment at least 300 万元/亩")
    assert [ws.cell(r, col).value for r in range(2, 6)] == ["pass", "fail", "missing", "n/a"]
    raw = tmp_path / "raw.xlsx"
    write_audit(result, raw)
    parcels = pd.read_excel(raw, sheet_name="parcels", keep_default_na=False, na_values=[""])
    assert "investment_intensity_wan_per_mu" in parcels and parcels["rule:etdz-invest-300"].tolist()[:2] == ["pass", "fail"]
    wb = openpyxl.load_workbook(raw)
    assert wb["parcels"].freeze_panes == "A2"


def test_csv_stays_snake_case(result, tmp_path):
    out = tmp_path / "a.csv"
    write_audit(result, out, lang="zh")
    assert "investment_intensity_wan_per_mu" in pd.read_csv(out).columns


def test_every_parcel_and_summary_column_has_a_chinese_header(result, tmp_path):
    """Columns from the indicator registry (gis/data/indicators.yaml) are labelled from it, with units."""
    import re

    out = tmp_path / "a.xlsx"
    write_audit(result, out, lang="zh")
    wb = openpyxl.load_workbook(out)
    for sheet in ("地块", "汇总", "问题清单"):
        heads = [c.value for c in wb[sheet][1]]
        machine = [h for h in heads if re.fullmatch(r"[a-z0-9_:.\-]+", h or "")]
        assert machine == [], (sheet, machine)
    ws = wb["地块"]
    heads = [c.value for c in ws[1]]
    # a float column is rounded by format, never shown raw
    for j, h in enumerate(heads, start=1):
        cell = ws.cell(2, j)
        if isinstance(cell.value, float):
            assert cell.number_format != "General", h
