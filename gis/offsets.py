"""China's obfuscated web-map coordinates: GCJ-02 (Gaode/AMap, Tencent) and BD-09 (Baidu) ↔ WGS84.

GCJ-02 shifts points by a few hundred metres (about 160–225 m east-south-east around Lanzhou);
BD-09 adds about 1 km more. The forward transforms are the published algorithms; the inverses are
solved by fixed-point iteration until the round trip closes to under 1e-9° (≈ 0.1 mm), far inside
the 0.5 m asked for. Everything works on whole numpy arrays. Outside China no offset applies.

>>> lon, lat = wgs84_to_gcj02(103.8211, 36.0583)
>>> round(float(lon), 4), round(float(lat), 4)
(103.8235, 36.058)
>>> back = gcj02_to_wgs84(lon, lat)
>>> round(float(back[0]), 6), round(float(back[1]), 6)
(103.8211, 36.0583)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "in_china",
    "convert_points",
    "convert_geoseries",
    "OFFSET_SYSTEMS",
]

OFFSET_SYSTEMS = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 algorithm uses
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def in_china(lon, lat):
    """True where the GCJ-02 offset applies (the rough bounding box the algorithm uses)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon, lat):
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _arrays(lon, lat):
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def wgs84_to_gcj02(lon, lat):
    """WGS84 longitude/latitude to GCJ-02 (Gaode, Tencent)."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, lon, lat, *, tol_deg=1e-10, max_iter=30):
    """Solve forward(x) = (lon, lat) by fixed-point iteration, vectorised."""
    lon, lat = _arrays(lon, lat)
    x, y = lon.copy(), lat.copy()
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if np.nanmax(np.abs(np.r_[np.ravel(ex), np.ravel(ey)]), initial=0.0) < tol_deg:
            break
    return x, y


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 to WGS84, the exact inverse of :func:`wgs84_to_gcj02` to better than 1e-9°."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 to Baidu BD-09."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    """BD-09 to GCJ-02, the exact inverse of :func:`gcj02_to_bd09`."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"wgs84": lambda x, y: (x, y), "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"wgs84": lambda x, y: (x, y), "gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def convert_points(lon, lat, *, src: str, dst: str):
    """Convert between 'wgs84', 'gcj02' and 'bd09' longitude/latitude arrays."""
    for name in (src, dst):
        if name not in OFFSET_SYSTEMS:
            raise ValueError(f"unknown coordinate system {name!r}: use one of {', '.join(OFFSET_SYSTEMS)}")
    return _FROM_WGS84[dst](*_TO_WGS84[src](lon, lat))


def convert_geoseries(geoseries, *, src: str, dst: str):
    """Every vertex of a lon/lat GeoSeries moved from ``src`` to ``dst`` (a new GeoSeries in EPSG:4326)."""
    import geopandas as gpd
    import shapely

    arr = shapely.force_2d(np.asarray(geoseries.values, dtype=object))
    coords = shapely.get_coordinates(arr)
    x, y = convert_points(coords[:, 0], coords[:, 1], src=src, dst=dst)
    moved = shapely.set_coordinates(arr.copy(), np.column_stack([x, y]))
    return gpd.GeoSeries(moved, index=geoseries.index, crs="EPSG:4326")
