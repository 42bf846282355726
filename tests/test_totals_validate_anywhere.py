"""Totals never turn missing into 0; validate works anywhere on Earth and keys findings by row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import geod_area_m2
from gis.area import add_area_columns, areas_by
from gis.validate import row_notes, validate

D = 0.001


def test_a_group_without_geometry_has_a_missing_total_and_a_finding(tmp_path, run_cli):
    gdf = gpd.GeoDataFrame({"park": ["A", "A", "B", "B", None]},
                           geometry=[shapely.box(103.6, 36.5, 103.6 + D, 36.5 + D), None, None, None,
                                     shapely.box(103.7, 36.5, 103.7 + D, 36.5 + D)], crs=4490)
    g = areas_by(add_area_columns(gdf), "park").set_index("park")
    assert g.loc["A", "area_m2"] == pytest.approx(geod_area_m2(gdf.geometry.iloc[0]), rel=1e-6)
    assert g.loc["A", "features_unmeasured"] == 1 and "not in the total" in g.loc["A", "findings"]
    assert np.isnan(g.loc["B", "area_m2"]) and "total missing" in g.loc["B", "findings"]
    assert g.loc["<none>", "features"] == 1
    src = tmp_path / "p.gpkg"
    gdf.to_file(src, engine="pyogrio")
    code, out, err = run_cli("areas", src, "--by", "park", "--out", tmp_path / "by.csv")
    back = pd.read_csv(tmp_path / "by.csv", keep_default_na=False)
    assert code == 0 and back.set_index("park").loc["B", "area_m2"] == ""  # blank in the file, never 0


def test_check_with_features_lacking_geometry_says_missing_exit_1(tmp_path, run_cli):
    gdf = gpd.GeoDataFrame({"id": ["x", "y"]}, geometry=[shapely.box(103.6, 36.5, 103.6 + 0.0156, 36.5 + 0.0125), None],
                           crs=4490)
    src = tmp_path / "p.geojson"
    gdf.to_file(src, engine="pyogrio")
    code, out, err = run_cli("check", src, "--target", "yaogu.phase1", "--tolerance", "100%")
    assert code == 1 and "MISSING" in out and "within tolerance" not in out


@pytest.mark.parametrize("where", [(-71.10, 42.39), (14.42, 50.08), (-100.0, 40.0), (151.2, -33.87)])
def test_validate_anywhere_on_earth(where):
    lon, lat = where  # Somerville, Prague, the US plains, Sydney
    sliver = shapely.box(lon, lat, lon + 0.01, lat + 0.00002)
    a = shapely.box(lon, lat + 0.001, lon + D, lat + 0.001 + D)
    b = shapely.box(lon + D / 2, lat + 0.001, lon + 1.5 * D, lat + 0.001 + D)
    report = validate(gpd.GeoDataFrame({"id": ["s", "a", "b"]}, geometry=[sliver, a, b], crs=4326))
    checks = report.findings.groupby("check")["feature"].apply(list).to_dict()
    assert checks["sliver"] == ["s"] and checks["overlap"] == ["a"]
    ov = report.findings[report.findings.check == "overlap"].iloc[0]
    assert ov["value"] * 2000 / 3 == pytest.approx(geod_area_m2(a.intersection(b)), rel=1e-5)


def test_repeated_and_blank_ids_never_move_findings():
    geoms = [shapely.box(103.6, 36.5, 103.6 + D, 36.5 + D), shapely.box(103.6 + D / 2, 36.5, 103.6 + 1.5 * D, 36.5 + D),
             None, shapely.box(103.7, 36.5, 103.7 + D, 36.5 + D)]
    gdf = gpd.GeoDataFrame({"parcel_id": ["X", "X", None, ""]}, geometry=geoms, crs=4490)
    report = validate(gdf)
    f = report.findings
    ov = f[f.check == "overlap"].iloc[0]
    assert ov["row"] == 1 and ov["other"] == "X (row 2)"  # never "X overlaps X"; rows count from 1
    dup = f[f.check == "duplicate_id"]
    assert len(dup) == 1 and dup.iloc[0]["row"] == 1
    notes = row_notes(gdf, report)
    assert "missing_geometry" in notes.iloc[2] and "missing_geometry" not in notes.iloc[0]
    assert notes.iloc[3] in ("", "missing_id") or "missing" not in notes.iloc[3] or notes.iloc[3] == "missing_id"


def test_own_hole_is_not_a_gap_and_tiny_outside_is_not_an_error():
    outer = shapely.box(103.6, 36.5, 103.61, 36.51)
    hole = shapely.box(103.603, 36.503, 103.606, 36.506)
    donut = outer.difference(hole)
    neighbour = shapely.box(103.61, 36.5, 103.62, 36.51)
    gdf = gpd.GeoDataFrame({"id": ["donut", "n"]}, geometry=[donut, neighbour], crs=4490)
    park = gpd.GeoDataFrame({"id": ["p"]}, geometry=[shapely.box(103.6, 36.5, 103.62 - 1e-9, 36.51)], crs=4490)
    report = validate(gdf, within=park)
    checks = set(report.findings["check"])
    assert "gap" not in checks  # the donut's own hole is its enclave, not land between features
    assert "outside" not in checks  # 1e-9° sliver outside the park: far below 1 m²
    wider = gpd.GeoDataFrame({"id": ["p"]}, geometry=[shapely.box(103.6, 36.5, 103.62 - 2e-6, 36.51)], crs=4490)
    report = validate(gdf, within=wider)  # a 0.18 m strip of 1.1 km: 200 m², 0.02 % of the feature
    out = report.findings[report.findings.check == "outside"]
    assert len(out) == 1 and "0.0%" not in out.iloc[0]["reason_en"]


def test_tables_stay_readable_at_80_columns(tmp_path):
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "gis", "check"], capture_output=True, text=True, env=env, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and max(len(line) for line in lines) <= 80
    assert any("park.xigu" in line for line in lines)  # an id printed whole, not folded letter by letter


def test_scripts_print_one_line_errors(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "make_sample_parcels.py"
    out = tmp_path / "x.geojson"
    out.write_text("{}")
    for extra in ([], ["--cell-m", "0"]):  # an existing output; a nonsense block size
        proc = subprocess.run([sys.executable, str(script), "--out", str(out), *extra],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "error" in proc.stderr
