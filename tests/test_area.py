"""Ellipsoidal areas against pyproj.Geod (GRS80), in every CRS a planner meets."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.area import add_area_columns, area_m2
from gis.units import MU_M2

from .conftest import geod_area_m2

CRSS = [4490, 4326, 4522, 4523, 4543, 4544, 4496, 4507, 3857]


def _polygon(lon, lat, area_m2_target, aspect, rot, k, rng):
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(0.75, 1.0, k)
    x = r * np.cos(ang) * np.sqrt(aspect)
    y = r * np.sin(ang) / np.sqrt(aspect)
    a0 = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    f = np.sqrt(area_m2_target / a0)
    x, y = x * f, y * f
    xr, yr = x * np.cos(rot) - y * np.sin(rot), x * np.sin(rot) + y * np.cos(rot)
    return shapely.Polygon(np.column_stack([lon + xr / (111_320 * np.cos(np.radians(lat))), lat + yr / 110_950]))


@pytest.fixture(scope="module")
def gansu_polygons():
    """400 polygons across Gansu from 100 m² to 100 km², compact to 1:20 elongated."""
    rng = np.random.default_rng(7)
    polys = [_polygon(rng.uniform(93, 108), rng.uniform(33, 42.5), 10 ** rng.uniform(2, 8),
                      10 ** rng.uniform(0, 1.3), rng.uniform(0, np.pi), int(rng.integers(4, 14)), rng)
             for _ in range(400)]
    return gpd.GeoSeries(polys, crs=4490)


@pytest.mark.parametrize("epsg", CRSS)
def test_area_matches_geodesic_within_1e5_in_every_crs(gansu_polygons, epsg):
    layer = gansu_polygons.to_crs(epsg)
    ok = shapely.is_valid(layer.values)  # a needle may self-intersect after projection; that is validate's job
    truth = np.array([geod_area_m2(g) for g in layer[ok].to_crs(4490)])
    got = area_m2(layer[ok]).to_numpy()
    rel = np.abs(got / truth - 1)
    assert ok.sum() >= 390
    assert rel.max() < 1e-5, f"worst relative error {rel.max():.2e}"
    assert np.median(rel) < 1e-7


def test_web_mercator_is_not_measured_planar(gansu_polygons):
    merc = gansu_polygons.to_crs(3857)
    planar = merc.area.to_numpy()
    ours = area_m2(merc).to_numpy()
    assert np.median(planar / ours) > 1.5  # what leafmap's vector_area() would report at these latitudes


def test_small_parcel_with_large_gauss_kruger_coordinates():
    # a 10 m × 10 m parcel written with 8-digit zone-prefixed coordinates
    x0, y0 = 35_512_345.678, 3_998_765.432
    sq = shapely.box(x0, y0, x0 + 10, y0 + 10)
    s = gpd.GeoSeries([sq], crs=4523)
    truth = geod_area_m2(s.to_crs(4490).iloc[0])
    assert area_m2(s).iloc[0] == pytest.approx(truth, rel=1e-6)
    assert truth == pytest.approx(100, rel=2e-3)  # GK scale factor near the central meridian


def test_holes_multipolygons_orientation_and_3d():
    outer = shapely.box(103.60, 36.50, 103.62, 36.52)
    hole = shapely.box(103.605, 36.505, 103.61, 36.51)
    with_hole = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])  # both rings counter-clockwise
    expected = geod_area_m2(outer) - geod_area_m2(hole)
    clockwise = shapely.reverse(with_hole)
    multi = shapely.MultiPolygon([with_hole, shapely.box(103.7, 36.5, 103.71, 36.51)])
    z = shapely.force_3d(with_hole, 1500.0)
    got = area_m2(gpd.GeoSeries([with_hole, clockwise, multi, z], crs=4490)).to_numpy()
    assert got[0] == pytest.approx(expected, rel=1e-7)
    assert got[1] == pytest.approx(expected, rel=1e-7)
    assert got[2] == pytest.approx(expected + geod_area_m2(shapely.box(103.7, 36.5, 103.71, 36.51)), rel=1e-7)
    assert got[3] == pytest.approx(expected, rel=1e-7)


def test_missing_empty_points_lines_and_bowtie():
    bowtie = shapely.Polygon([(103.6, 36.5), (103.61, 36.51), (103.61, 36.5), (103.6, 36.51)])
    s = gpd.GeoSeries([None, shapely.Polygon(), shapely.Point(103, 36),
                       shapely.LineString([(103, 36), (103.1, 36)]), bowtie], crs=4490)
    got = area_m2(s)
    assert np.isnan(got.iloc[0])
    assert got.iloc[1:4].tolist() == [0.0, 0.0, 0.0]
    # the two triangles of the bow-tie, not their cancelling signed sum
    assert got.iloc[4] == pytest.approx(geod_area_m2(shapely.make_valid(bowtie)), rel=1e-7)
    assert got.iloc[4] > 0.49 * geod_area_m2(shapely.box(103.6, 36.5, 103.61, 36.51))
    assert area_m2(s.iloc[[4]], repair=False).iloc[0] < 1.0


def test_add_area_columns_returns_new_frame(parcels_4490):
    before = parcels_4490.copy()
    out = add_area_columns(parcels_4490)
    assert list(parcels_4490.columns) == list(before.columns)  # input untouched
    assert {"area_m2", "area_ha", "area_mu", "area_km2"} <= set(out.columns)
    np.testing.assert_allclose(out["area_mu"], out["area_m2"] / MU_M2)
    np.testing.assert_allclose(out["area_ha"] * 15, out["area_mu"])
    assert out.index.equals(parcels_4490.index)


@settings(max_examples=40, deadline=None)
@given(lon=st.floats(93, 108), lat=st.floats(33, 42.5), side_m=st.floats(10, 9000),
       epsg=st.sampled_from([4490, 4543, 4544, 4523, 3857]))
def test_area_is_invariant_under_reprojection(lon, lat, side_m, epsg):
    dlon = side_m / (111_320 * np.cos(np.radians(lat)))
    sq = gpd.GeoSeries([shapely.box(lon, lat, lon + dlon, lat + side_m / 110_950)], crs=4490)
    a = area_m2(sq).iloc[0]
    b = area_m2(sq.to_crs(epsg)).iloc[0]
    assert b == pytest.approx(a, rel=2e-6)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), m=st.integers(1, 4), cell_m=st.floats(5, 400))
def test_sum_of_non_overlapping_parcels_equals_area_of_union(n, m, cell_m):
    lon0, lat0 = 103.62, 36.58
    dlon, dlat = cell_m / 89_600, cell_m / 110_950
    cells = [shapely.box(lon0 + i * dlon, lat0 + j * dlat, lon0 + (i + 1) * dlon, lat0 + (j + 1) * dlat)
             for i in range(n) for j in range(m)]
    s = gpd.GeoSeries(cells, crs=4490)
    union = gpd.GeoSeries([shapely.union_all(cells)], crs=4490)
    assert area_m2(s).sum() == pytest.approx(area_m2(union).iloc[0], rel=1e-9)
