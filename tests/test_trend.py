"""gis.trend.quarterly_trend as a library function, and its script's one-line errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from gis.errors import InputError
from gis.trend import quarter_files, quarterly_trend

ROOT = Path(__file__).resolve().parent.parent
GK = "EPSG:4544"


def parcels(invest_per_mu):
    g = gpd.GeoDataFrame({"parcel_id": ["a", "b"], "park_id": ["P", "P"], "land_use": ["M1", "M1"],
                          "status": ["built", "built"]},
                         geometry=[box(380_000, 4_040_000, 380_100, 4_040_100), box(381_000, 4_040_000, 381_100, 4_040_100)],
                         crs=GK)
    from gis.area import area_m2

    g["investment_wan"] = invest_per_mu * area_m2(g).to_numpy() / (2000 / 3)
    return g


def test_quarterly_trend_from_frames_in_memory():
    q1, q2 = parcels(400.0), parcels(100.0)
    before = q1.copy()
    r = quarterly_trend({"2026Q1": q1, "2026Q2": q2}, ["lanzhou-etdz"])
    assert list(r.audits) == ["2026Q1", "2026Q2"]
    park = r.tables["trend"].query("level == 'park_id' and group == 'P'").set_index("quarter")
    assert park.loc["2026Q1", "investment_intensity_wan_per_mu"] == pytest.approx(400.0, rel=1e-9)
    assert park.loc["2026Q2", "investment_intensity_wan_per_mu"] == pytest.approx(100.0, rel=1e-9)
    assert str(park.loc["2026Q2", "rule:etdz-park-avg-2020"]) == "fail"
    assert {"verdicts", "findings", "rules", "2026Q1", "2026Q2"} <= set(r.tables)
    assert r.fails_on("error") and q1.equals(before)


def test_quarter_files_refuses_clearly(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        quarter_files(tmp_path / "nope")
    with pytest.raises(InputError, match="no parcel files named by quarter"):
        quarter_files(tmp_path)
    parcels(1.0).to_file(tmp_path / "2026Q1.gpkg")
    parcels(1.0).to_file(tmp_path / "x_2026-q1.geojson")
    with pytest.raises(InputError, match="two files for 2026Q1"):
        quarter_files(tmp_path)


def test_script_prints_one_line_errors(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("quarterly_audit", ROOT / "scripts" / "quarterly_audit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "2026Q1.geojson").write_text("{ not json", encoding="utf-8")
    rc = mod.main([str(folder), "--out", str(tmp_path / "t.xlsx")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.strip().count("\n") == 0 and err.startswith("quarterly_audit:")
