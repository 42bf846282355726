"""Curved and odd geometry types are read into 2-D polygons with a finding, and measured right."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from _wkbgen import circular, hdr, linestring, polygon, pts, write_gpkg
from gis.area import area_m2
from gis.io import read

X0, Y0, R = 500_000.0, 4_000_000.0, 80.0  # a 80 m circle in CGCS2000 GK zone 105°E (EPSG:4544)


def _checks(result, position):
    """The checks found on the record at 0-based ``position`` (findings number records from 1)."""
    f = result.findings
    return set(f.loc[f["row"] == position + 1, "check"].astype(str))


def test_true_arcs_are_measured_within_1e6_of_the_analytic_area(tmp_path):
    full = hdr(10, 1) + circular([(X0 - R, Y0), (X0 + R, Y0), (X0 - R, Y0)])  # CurvePolygon: a full circle
    # CompoundCurve ring: a half-disc, diameter line then a semicircle arc
    half = hdr(10, 1) + hdr(9, 2) + linestring([(X0 - R, Y0), (X0 + R, Y0)]) + circular([(X0 + R, Y0), (X0, Y0 + R), (X0 - R, Y0)])
    multi = hdr(12, 1) + full  # MultiSurface of the circle
    result = read(write_gpkg(tmp_path / "arcs.gpkg", [full, half, multi]))
    assert len(result.frame) == 3
    local = area_m2(result.frame).to_numpy()
    # the ellipsoidal area of a small GK figure differs from the plane area by the GK scale factor squared;
    # take the plane areas in the GK frame itself against π r² (the analytic area of the drawn arcs)
    plane = result.frame.geometry.area.to_numpy()
    expected = np.array([math.pi * R * R, math.pi * R * R / 2, math.pi * R * R])
    np.testing.assert_allclose(plane, expected, rtol=1e-6)
    assert (local > 0).all()
    assert result.frame.geometry.geom_type.tolist() == ["Polygon", "Polygon", "MultiPolygon"]
    for row in range(3):
        assert "curve_linearised" in _checks(result, row)
    note = result.findings.loc[result.findings["check"] == "curve_linearised", "reason_en"].iloc[0]
    assert "0.05°" in note  # the stated tolerance


def test_surfaces_tins_and_z_m_become_polygons(tmp_path):
    sq = [(X0, Y0), (X0 + 10, Y0), (X0 + 10, Y0 + 10), (X0, Y0 + 10), (X0, Y0)]
    tri = [(X0, Y0), (X0 + 10, Y0), (X0 + 10, Y0 + 10), (X0, Y0)]
    polyhedral = hdr(15, 2) + polygon([sq]) + polygon([[(X0 + 10, Y0), (X0 + 20, Y0), (X0 + 20, Y0 + 10), (X0 + 10, Y0 + 10), (X0 + 10, Y0)]])
    tin = hdr(16, 1) + polygon([tri], t=17)
    triangle = polygon([tri], t=17)
    zm = polygon([[(x, y, 1520.0, 7.0) for x, y in sq]], t=3003)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL warns about non-standard GeoPackage geometry extensions
        path = write_gpkg(tmp_path / "odd.gpkg", [polyhedral, tin, triangle, zm])
    result = read(path)
    g = result.frame.geometry
    assert g.geom_type.tolist() == ["MultiPolygon", "MultiPolygon", "Polygon", "Polygon"]
    np.testing.assert_allclose(g.area.to_numpy(), [200.0, 50.0, 50.0, 100.0], rtol=1e-12)
    assert "surface_as_polygons" in _checks(result, 0) and "surface_as_polygons" in _checks(result, 1)
    assert not _checks(result, 3) - {"3d_coordinates"}  # Z/M: no per-row error


def test_a_collection_measured_by_its_polygons_has_no_no_area_finding(tmp_path, run_cli):
    import geopandas as gpd
    import shapely

    coll = shapely.GeometryCollection([shapely.box(103.6, 36.5, 103.601, 36.501), shapely.Point(103.7, 36.6)])
    gdf = gpd.GeoDataFrame({"parcel_id": ["C"]}, geometry=[coll], crs=4490)
    src = tmp_path / "coll.gpkg"
    gdf.to_file(src, engine="pyogrio")
    code, out, err = run_cli("areas", src, "--out", tmp_path / "a.csv")
    import pandas as pd

    got = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert code == 0 and got.loc[0, "area_m2"] > 0
    assert "not_polygon" not in got.loc[0, "findings"]
    assert got.loc[0, "findings"] == "collection"


def test_bytes_that_are_no_wkb_keep_the_row(tmp_path):
    broken = hdr(10, 1) + hdr(8) + pts([(X0, Y0), (X0 + 1, Y0)])  # an arc needs 3 points
    good = polygon([[(X0, Y0), (X0 + 10, Y0), (X0 + 10, Y0 + 10), (X0, Y0)]])
    import geopandas as gpd

    from gis.io._vector import parse_wkb_column

    geoms, notes = parse_wkb_column(np.array([broken, good, None], dtype=object))  # GDAL will not even write these
    assert geoms[0] is None and notes == {0: {"unreadable"}} and geoms[1].area == 50.0 and geoms[2] is None
    areas = area_m2(gpd.GeoSeries(geoms, crs=4544)).to_numpy()
    assert math.isnan(areas[0]) and areas[1] > 0 and math.isnan(areas[2])


@pytest.mark.parametrize("step", [0.05])
def test_stroke_step_bounds_the_area_error(step):
    from gis.io import _wkb

    arc = circular([(-1.0, 0.0), (1.0, 0.0), (-1.0, 0.0)])
    geom, notes = _wkb.parse(hdr(10, 1) + arc)
    theta = math.radians(step)
    assert abs(geom.area - math.pi) / math.pi <= theta**2 / 6 * 1.01


def test_curved_wkt_in_a_ledger_is_read(tmp_path):
    path = tmp_path / "arcs.csv"
    path.write_text('parcel_id,wkt\n'
                    f'A,"CURVEPOLYGON(CIRCULARSTRING({X0 - R} {Y0}, {X0 + R} {Y0}, {X0 - R} {Y0}))"\n'
                    f'B,"POLYGON(({X0} {Y0}, {X0 + 10} {Y0}, {X0 + 10} {Y0 + 10}, {X0} {Y0}))"\n'
                    'C,"CIRCULARSTRING(oops)"\n')
    result = read(path, crs="EPSG:4544")
    g = result.frame.geometry
    assert g.iloc[0].area == pytest.approx(math.pi * R * R, rel=1e-6) and g.iloc[1].area == 50.0 and g.iloc[2] is None
    assert "curve_linearised" in _checks(result, 0) and "geometry_unreadable" in _checks(result, 2)
