"""Geometry checks: each problem found, located and measured; nothing dropped."""

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.units import MU_M2
from gis.validate import row_notes, validate

from .conftest import geod_area_m2

D = 0.0011  # about 100 m at Lanzhou


def _layer(geoms, ids=None, crs=4490):
    ids = ids or [f"P{i + 1}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"parcel_id": ids}, geometry=geoms, crs=crs)


def test_clean_grid_has_no_problems(parcels_4490):
    report = validate(parcels_4490)
    assert report.problems.empty and report.id_field == "parcel_id" and report.n_features == 4


def test_overlap_is_found_with_its_area_in_mu():
    a = shapely.box(103.62, 36.58, 103.62 + D, 36.58 + D)
    b = shapely.box(103.62 + D / 2, 36.58, 103.62 + 1.5 * D, 36.58 + D)
    report = validate(_layer([a, b]))
    ov = report.findings[report.findings.check == "overlap"]
    assert len(ov) == 1 and ov.iloc[0]["feature"] == "P1" and ov.iloc[0]["other"] == "P2"
    expected_mu = geod_area_m2(a.intersection(b)) / MU_M2
    assert ov.iloc[0]["value"] == pytest.approx(expected_mu, rel=1e-6)
    assert "亩" in ov.iloc[0]["reason_en"]


def test_touching_parcels_do_not_overlap(parcels_4490):
    assert "overlap" not in set(validate(parcels_4490).findings.check)


def test_invalid_geometry_reason_location_and_repaired_area():
    bowtie = shapely.Polygon([(103.62, 36.58), (103.62 + D, 36.58 + D), (103.62 + D, 36.58), (103.62, 36.58 + D)])
    report = validate(_layer([bowtie]))
    f = report.findings[report.findings.check == "invalid_geometry"].iloc[0]
    assert "Self-intersection" in f["reason_en"] and "make_valid" in f["reason_en"]
    assert f["x"] == pytest.approx(103.62 + D / 2) and f["y"] == pytest.approx(36.58 + D / 2)
    assert f["value"] == pytest.approx(geod_area_m2(shapely.make_valid(bowtie)) / MU_M2, rel=1e-6)


def test_missing_empty_point_and_duplicate_ids_are_kept_and_flagged():
    geoms = [shapely.box(103.62, 36.58, 103.62 + D, 36.58 + D), None, shapely.Polygon(), shapely.Point(103.6, 36.5),
             shapely.box(103.63, 36.58, 103.63 + D, 36.58 + D)]
    layer = _layer(geoms, ids=["A", "B", "C", "D", "A"])
    report = validate(layer)
    checks = report.findings.groupby("check").feature.apply(list).to_dict()
    assert checks["missing_geometry"] == ["B"] and checks["empty_geometry"] == ["C"]
    assert checks["not_polygon"] == ["D"] and checks["duplicate_id"] == ["A"]  # once per set of rows
    assert "rows 1, 5" in report.findings.loc[report.findings.check == "duplicate_id", "reason_en"].iloc[0]
    notes = row_notes(layer, report)
    assert len(notes) == 5 and notes.iloc[1] == "missing_geometry" and notes.iloc[0] == "duplicate_id"


def test_gap_enclosed_by_parcels():
    ring = shapely.box(103.62, 36.58, 103.62 + 3 * D, 36.58 + 3 * D)
    cells = [shapely.box(103.62 + i * D, 36.58 + j * D, 103.62 + (i + 1) * D, 36.58 + (j + 1) * D)
             for i in range(3) for j in range(3) if (i, j) != (1, 1)]
    report = validate(_layer(cells))
    gaps = report.findings[report.findings.check == "gap"]
    hole = shapely.box(103.62 + D, 36.58 + D, 103.62 + 2 * D, 36.58 + 2 * D)
    assert len(gaps) == 1 and gaps.iloc[0]["value"] == pytest.approx(geod_area_m2(hole) / MU_M2, rel=1e-6)
    assert ring.contains(shapely.Point(gaps.iloc[0]["x"], gaps.iloc[0]["y"]))


def test_sliver_found():
    sliver = shapely.box(103.62, 36.58, 103.62 + 3 * D, 36.58 + D / 200)
    square = shapely.box(103.63, 36.58, 103.63 + D, 36.58 + D)
    report = validate(_layer([sliver, square]))
    assert report.findings[report.findings.check == "sliver"].feature.tolist() == ["P1"]


def test_outside_park_and_uncovered_land_in_gauss_kruger():
    park = gpd.GeoDataFrame({"id": ["park"]}, geometry=[shapely.box(103.62, 36.58, 103.62 + 2 * D, 36.58 + 2 * D)],
                            crs=4490)
    inside = shapely.box(103.62, 36.58, 103.62 + D, 36.58 + D)
    half_out = shapely.box(103.62 + 1.5 * D, 36.58, 103.62 + 2.5 * D, 36.58 + D)
    parcels = _layer([inside, half_out]).to_crs(4544)  # parcels in Gauss–Krüger, park in lon/lat
    report = validate(parcels, within=park)
    out = report.findings[report.findings.check == "outside"]
    assert out.feature.tolist() == ["P2"] and "50.0% outside" in out.iloc[0]["reason_en"]
    expected = geod_area_m2(half_out.difference(park.geometry.iloc[0])) / MU_M2
    assert out.iloc[0]["value"] == pytest.approx(expected, rel=1e-3)
    uncovered = report.findings[report.findings.check == "uncovered"]
    assert len(uncovered) == 1 and uncovered.iloc[0]["severity"] == "info"


def test_multipolygon_and_3d_are_information_only():
    mp = shapely.MultiPolygon([shapely.box(103.62, 36.58, 103.62 + D, 36.58 + D),
                               shapely.box(103.63, 36.58, 103.63 + D, 36.58 + D)])
    report = validate(_layer([shapely.force_3d(mp, 1500)]))
    assert set(report.findings.check) == {"multipolygon", "3d_coordinates"} and report.problems.empty


def test_validate_does_not_touch_input(parcels_4490):
    before = parcels_4490.copy()
    validate(parcels_4490)
    assert parcels_4490.equals(before)
