"""Shared fixtures: small generated layers with explicit CRSs and their exact geodesic areas."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import geopandas as gpd
from pyproj import Geod

GEOD = Geod(ellps="GRS80")


def geod_area_m2(geom) -> float:
    """Reference area: pyproj's geodesic polygon area on GRS80 (rings oriented so holes subtract)."""
    return abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0])


@pytest.fixture
def parcels_4490():
    """Four 100 m × 100 m-ish parcels near the Western Medicine Valley, lon/lat CGCS2000, ids P1–P4."""
    lon0, lat0 = 103.62, 36.58
    d = 0.0011
    polys = [shapely.box(lon0 + i * d, lat0, lon0 + (i + 1) * d, lat0 + d) for i in range(4)]
    return gpd.GeoDataFrame({"parcel_id": ["P1", "P2", "P3", "P4"], "name": ["甲", "乙", "丙", "丁"]},
                            geometry=polys, crs="EPSG:4490")


@pytest.fixture
def run_cli(capsys):
    """Run ``parkgis`` in-process; returns (exit code, stdout, stderr)."""
    from gis.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
