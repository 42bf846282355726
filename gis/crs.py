"""The one guard for coordinate-reference-system questions.

Every function that measures or combines layers asks this module: is there a CRS, what do the
coordinates look like when there is none, which CGCS2000 Gauss–Krüger zone suits the data, and do two
layers agree. Areas are never measured in whatever CRS the data arrived in (see :mod:`gis.area`).

>>> gk3_epsg(103.6)
4544
>>> gk3_epsg(102.9, zone_prefix=True)
4522
>>> guess_crs_from_bounds((35_512_000, 3_990_000, 35_520_000, 3_998_000))
'CGCS2000 3° Gauss–Krüger zone 35 with zone prefix, EPSG:4523'
"""

from __future__ import annotations

import logging
import math

import numpy as np
from pyproj import CRS

from .errors import CRSError

__all__ = [
    "CGCS2000_GEOGRAPHIC",
    "WGS84",
    "to_crs",
    "require_crs",
    "is_projected",
    "is_geographic",
    "guess_crs_from_bounds",
    "gk3_epsg",
    "gk6_epsg",
    "suitable_gk_crs",
    "check_same_crs",
]

log = logging.getLogger(__name__)

CGCS2000_GEOGRAPHIC = CRS.from_epsg(4490)
"""China Geodetic Coordinate System 2000, geographic (GRS80 ellipsoid)."""
WGS84 = CRS.from_epsg(4326)


def to_crs(value) -> CRS:
    """Parse ``EPSG:4544``, ``4544``, a WKT/PROJ string or a pyproj CRS, with a clear error."""
    if isinstance(value, CRS):
        return value
    try:
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return CRS.from_epsg(int(value))
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises its own CRSError with a long message
        raise CRSError(f"cannot understand the CRS {value!r}: give it as EPSG:<code>, e.g. EPSG:4490") from exc


def is_projected(crs) -> bool:
    """True for a projected CRS (metres on a plane), False for geographic, as osmnx does."""
    return to_crs(crs).is_projected


def is_geographic(crs) -> bool:
    return to_crs(crs).is_geographic


def gk3_epsg(lon: float, *, zone_prefix: bool = False) -> int:
    """EPSG code of the CGCS2000 3° Gauss–Krüger zone containing longitude ``lon``.

    Zones are centred on multiples of 3°E (75°E … 135°E). With ``zone_prefix`` the false easting
    carries the zone number (x ≈ 35 500 000 in zone 35, EPSG:4513–4533); without it the code is
    one of EPSG:4534–4554.
    """
    cm = int(round(lon / 3.0)) * 3
    if not 75 <= cm <= 135:
        raise CRSError(f"longitude {lon:.3f} is outside China's CGCS2000 Gauss–Krüger zones (75°E–135°E)")
    if zone_prefix:
        return 4513 + (cm // 3 - 25)
    return 4534 + (cm - 75) // 3


def gk6_epsg(lon: float, *, zone_prefix: bool = False) -> int:
    """EPSG code of the CGCS2000 6° Gauss–Krüger zone containing ``lon`` (EPSG:4491–4512)."""
    zone = int(math.floor(lon / 6.0)) + 1
    if not 13 <= zone <= 23:
        raise CRSError(f"longitude {lon:.3f} is outside China's CGCS2000 6° Gauss–Krüger zones")
    return 4491 + zone - 13 if zone_prefix else 4502 + zone - 13


def suitable_gk_crs(gdf_or_bounds) -> CRS:
    """The CGCS2000 3° Gauss–Krüger zone (no prefix) for the centre of the data, for gridding and buffering."""
    bounds = _lonlat_bounds(gdf_or_bounds)
    lon = (bounds[0] + bounds[2]) / 2.0
    return CRS.from_epsg(gk3_epsg(lon))


def _lonlat_bounds(gdf_or_bounds):
    if hasattr(gdf_or_bounds, "total_bounds"):
        gdf = gdf_or_bounds
        require_crs(gdf)
        return gdf.to_crs(CGCS2000_GEOGRAPHIC).total_bounds
    return gdf_or_bounds


def guess_crs_from_bounds(bounds) -> str | None:
    """Say what coordinates look like, for an error message about a missing CRS.

    Returns a phrase naming the likely CRS and its EPSG code, or None when nothing fits.
    """
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    if not all(np.isfinite([xmin, ymin, xmax, ymax])):
        return None
    x, y = (xmin + xmax) / 2.0, (ymin + ymax) / 2.0
    if -180 <= xmin and xmax <= 180 and -90 <= ymin and ymax <= 90:
        return "longitude/latitude degrees, EPSG:4490 (CGCS2000) or EPSG:4326 (WGS84)"
    if 13_000_000 <= x < 24_000_000 and 0 < y < 6_500_000:
        zone = int(x // 1_000_000)
        return f"CGCS2000 6° Gauss–Krüger zone {zone} with zone prefix, EPSG:{4491 + zone - 13}"
    if 25_000_000 <= x < 46_000_000 and 0 < y < 6_500_000:
        zone = int(x // 1_000_000)
        return f"CGCS2000 3° Gauss–Krüger zone {zone} with zone prefix, EPSG:{4513 + zone - 25}"
    if 7_000_000 <= x <= 16_000_000 and 0 < y < 8_000_000:
        return "Web Mercator metres, EPSG:3857"
    if 0 < x < 1_000_000 and 1_000_000 < y < 6_500_000:
        return (
            "CGCS2000 Gauss–Krüger metres without zone prefix; the central meridian cannot be read from "
            "the numbers: EPSG:4543 (3°, 102°E), EPSG:4544 (3°, 105°E) or EPSG:4507 (6°, 105°E) around Lanzhou"
        )
    return None


def require_crs(gdf, *, what: str = "the layer") -> CRS:
    """Return the layer's CRS or raise :class:`CRSError` saying what the coordinates look like."""
    crs = getattr(gdf, "crs", None)
    if crs is not None:
        return CRS.from_user_input(crs)
    hint = None
    try:
        if len(gdf) and not gdf.geometry.is_empty.all():
            hint = guess_crs_from_bounds(gdf.geometry.total_bounds)
    except Exception:  # a broken geometry must not hide the real message
        hint = None
    if hint:
        code = hint.rsplit("EPSG:", 1)[1].split()[0].rstrip(")") if "EPSG:" in hint else None
        raise CRSError(f"{what} has no CRS; its coordinates look like {hint}", setting="crs",
                       suggestion=f"EPSG:{code}" if code else "EPSG:<code>")
    raise CRSError(f"{what} has no CRS and its coordinates fit no usual system", setting="crs",
                   suggestion="EPSG:<code>")


def check_same_crs(left, right, *, left_name: str = "left", right_name: str = "right") -> bool:
    """True when both layers share a CRS; otherwise log both, as geopandas' _check_crs does."""
    lc, rc = require_crs(left, what=left_name), require_crs(right, what=right_name)
    if lc.equals(rc):
        return True
    log.info("%s is in %s and %s in %s: reprojecting", left_name, lc.to_string(), right_name, rc.to_string())
    return False
