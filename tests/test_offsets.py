import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from gis.offsets import (bd09_to_gcj02, bd09_to_wgs84, convert_geoseries, gcj02_to_bd09, gcj02_to_wgs84,
                         wgs84_to_bd09, wgs84_to_gcj02)

GEOD = Geod(ellps="WGS84")


def _dist_m(lon1, lat1, lon2, lat2):
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_gcj02_offset_around_lanzhou_is_east_south_east_160_to_230_m():
    lon = np.array([102.86, 103.62, 103.72, 103.82, 103.95])
    lat = np.array([36.34, 36.10, 36.10, 36.06, 36.33])
    glon, glat = wgs84_to_gcj02(lon, lat)
    d = _dist_m(lon, lat, glon, glat)
    assert ((d > 150) & (d < 240)).all()
    assert (glon > lon).all() and (glat <= lat + 1e-4).all()


def test_bd09_is_about_a_kilometre_further():
    lon, lat = np.array([103.8211]), np.array([36.0583])
    blon, blat = wgs84_to_bd09(lon, lat)
    assert 700 < _dist_m(lon, lat, blon, blat)[0] < 1500


@settings(max_examples=200, deadline=None)
@given(lon=st.floats(73, 135), lat=st.floats(18, 53))
def test_inverses_round_trip_within_half_a_metre(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert _dist_m(lon, lat, wlon, wlat) < 0.01  # asked: 0.5 m
    blon, blat = gcj02_to_bd09(glon, glat)
    g2 = bd09_to_gcj02(blon, blat)
    assert _dist_m(glon, glat, *g2) < 0.01
    w2 = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert _dist_m(lon, lat, *w2) < 0.01


def test_no_offset_outside_china():
    lon, lat = wgs84_to_gcj02(np.array([2.35, -74.0]), np.array([48.85, 40.7]))
    np.testing.assert_array_equal(lon, [2.35, -74.0])


def test_convert_geoseries_moves_every_vertex():
    s = gpd.GeoSeries([shapely.box(103.6, 36.5, 103.61, 36.51), None], crs=4326)
    g = convert_geoseries(s, src="wgs84", dst="gcj02")
    assert g.iloc[1] is None
    back = convert_geoseries(g, src="gcj02", dst="wgs84")
    assert shapely.equals_exact(back.iloc[0], s.iloc[0], tolerance=1e-8)
    with pytest.raises(ValueError, match="unknown coordinate system"):
        convert_geoseries(s, src="wgs84", dst="mars")
