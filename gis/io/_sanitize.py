"""Geometry as read, made measurable: 2-D, finite, plausible for its CRS — or missing, with a finding.

Every reader passes its geometry through :func:`sanitize`. A row is never dropped: a geometry that
cannot be right (NaN or infinite coordinates, a ring of fewer than 4 points, metres in a layer that says
it is in degrees, longitude and latitude swapped) becomes missing, so its area is missing rather than 0,
and a finding on that row says why. Z and M are dropped with one notice.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely

from ..crs import guess_crs_from_bounds
from ..errors import CRSError
from ..findings import concat_findings, empty_findings, row_findings
from ..parallel import map_array

__all__ = ["sanitize", "nonfinite_rows", "PLAUSIBLE_PROJECTED_M"]

log = logging.getLogger(__name__)

PLAUSIBLE_PROJECTED_M = 1e8
"""No projected coordinate on Earth is farther than this from its origin (GK zone prefixes reach 4.6e7)."""

# notes from the WKB reader (gis.io._wkb) → (check, severity, 中文, English)
_WKB_NOTES = {
    "curve": ("curve_linearised", "info", "曲线（圆弧）已按 0.05° 弧段转为折线",
              "arcs stroked into chords at most 0.05° of arc apart (area error below 1.3e-7)"),
    "surface": ("surface_as_polygons", "info", "多面体表面/TIN 按各面作为多边形",
                "PolyhedralSurface/TIN read as a multipolygon of its faces"),
    "unclosed": ("ring_closed", "warning", "环未闭合，已闭合", "a ring was not closed; closed by repeating its first point"),
    "short_ring": ("ring_too_short", "error", "环少于 4 个点，不能构成多边形，面积缺失",
                   "a ring has fewer than 4 points, so it is no polygon: area missing"),
    "unreadable": ("geometry_unreadable", "error", "几何无法读取，面积缺失", "the geometry cannot be read: area missing"),
}


def wkb_note_findings(frame_len: int, notes: dict[int, set]) -> pd.DataFrame:
    """Findings for the per-row notes of the WKB reader ({row position: {note, …}})."""
    parts = []
    stub = pd.DataFrame(index=range(frame_len))
    for note, (check, severity, zh, en) in _WKB_NOTES.items():
        mask = np.zeros(frame_len, dtype=bool)
        rows = [i for i, n in notes.items() if note in n]
        if rows:
            mask[rows] = True
            parts.append(row_findings(stub, mask, kind="geometry", check=check, severity=severity,
                                      reason_zh=zh, reason_en=en))
    return concat_findings(parts, sort=False) if parts else empty_findings()


def _area_plus_length(geoms):
    """NaN where a geometry's planar area or length is NaN (a NaN coordinate the bounds skip over)."""
    return shapely.area(geoms) + shapely.length(geoms)


def nonfinite_rows(geoms, *, bounds=None) -> np.ndarray:
    """True for each geometry with a NaN or infinite coordinate (the reader's check and the writer's).

    Cheap whole-array screens first, on every core: a NaN vertex leaves the bounds finite but makes the
    area or the length NaN. Points have neither, so theirs are always looked at; coordinates are read
    only for rows failing a screen. ``bounds`` may pass ``shapely.bounds(geoms)`` when the caller has it.
    """
    geoms = np.asarray(geoms, dtype=object)
    if bounds is None:
        bounds = map_array(shapely.bounds, geoms)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(bounds).all(axis=1) & np.isfinite(map_array(_area_plus_length, geoms))
    ok |= shapely.is_missing(geoms) | shapely.is_empty(geoms)
    ok &= ~np.isin(shapely.get_type_id(geoms), (0, 4, 7))  # points, multipoints, collections
    out = np.zeros(len(geoms), dtype=bool)
    idx = np.flatnonzero(~ok)
    if len(idx):
        coords, owner = shapely.get_coordinates(geoms[idx], return_index=True)
        out[idx[np.unique(owner[~np.isfinite(coords).all(axis=1)])]] = True
    return out


def sanitize(geoms: np.ndarray, crs, *, name: str) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """``(geometry, findings, notices)``: 2-D geometry with impossible rows set missing, and why.

    Raises :class:`~gis.errors.CRSError` when a geographic CRS is declared but no coordinate of the
    layer is a longitude/latitude (metres labelled as degrees): the whole layer is mislabelled.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    stub = pd.DataFrame(index=range(n))
    notices: list[str] = []
    parts = []
    present = ~shapely.is_missing(geoms)
    if not present.any():
        return geoms, empty_findings(), notices
    if shapely.has_z(geoms[present]).any():
        notices.append(f"{name} has heights (Z): they are kept but ignored, areas are on the ellipsoid")
    bounds = map_array(shapely.bounds, geoms)  # NaN for missing/empty rows
    nonfinite = nonfinite_rows(geoms, bounds=bounds)
    if nonfinite.any():
        parts.append(row_findings(stub, nonfinite, kind="geometry", check="coordinates_not_finite", severity="error",
                                  reason_zh="坐标含 NaN 或无穷大，面积缺失",
                                  reason_en="coordinates are NaN or infinite: area missing"))
    finite_rows = present & ~nonfinite & np.isfinite(bounds).all(axis=1)
    xmin, ymin, xmax, ymax = (bounds[:, k] for k in range(4))
    out_of_range = np.zeros(n, dtype=bool)
    swapped = np.zeros(n, dtype=bool)
    geographic = crs is not None and crs.is_geographic
    with np.errstate(invalid="ignore"):
        big_x = np.maximum(np.abs(xmin), np.abs(xmax))
        big_y = np.maximum(np.abs(ymin), np.abs(ymax))
    if geographic:
        out_of_range = finite_rows & ((big_x > 180.0) | (big_y > 90.0))
        # longitude/latitude swapped: x reads as a latitude, y as a longitude beyond 90°
        swapped = finite_rows & (big_x <= 90.0) & (big_y > 90.0) & (big_y <= 180.0)
        looks = None
        if finite_rows.any() and out_of_range[finite_rows].all() and not swapped[finite_rows].all():
            b = (np.nanmin(xmin[finite_rows]), np.nanmin(ymin[finite_rows]), np.nanmax(xmax[finite_rows]),
                 np.nanmax(ymax[finite_rows]))
            looks = guess_crs_from_bounds(b)
        if finite_rows.any() and out_of_range[finite_rows].all() and not swapped[finite_rows].all() and looks:
            # every coordinate is a recognisable projected system: the whole layer is mislabelled
            code = looks.rsplit("EPSG:", 1)[1].split()[0].rstrip(")") if "EPSG:" in looks else None
            raise CRSError(f"{name} says its CRS is {crs.to_string()} (degrees) but its coordinates "
                           f"({b[0]:.0f}, {b[1]:.0f} …) are no longitudes/latitudes; they look like {looks}",
                           setting="crs", suggestion=f"EPSG:{code}" if code else "EPSG:<code>")
    else:
        out_of_range = finite_rows & ((big_x > PLAUSIBLE_PROJECTED_M) | (big_y > PLAUSIBLE_PROJECTED_M))
    swapped &= out_of_range
    if swapped.any():
        parts.append(row_findings(stub, swapped, kind="geometry", check="lonlat_swapped", severity="error",
                                  reason_zh="纬度超过 90°：经纬度似乎颠倒（纬度, 经度），面积缺失",
                                  reason_en="latitude beyond 90°: longitude and latitude look swapped (lat, lon): area missing"))
    plain = out_of_range & ~swapped
    if plain.any():
        what = "经纬度范围（±180°, ±90°）" if geographic else f"{PLAUSIBLE_PROJECTED_M:.0e} m"
        parts.append(row_findings(stub, plain, kind="geometry", check="coordinates_out_of_range", severity="error",
                                  reason_zh=f"坐标超出{what}，不可能正确，面积缺失",
                                  reason_en=("coordinates outside ±180° / ±90° in a longitude/latitude layer "
                                             "(metres labelled as degrees?): area missing") if geographic else
                                  f"coordinates beyond {PLAUSIBLE_PROJECTED_M:.0e} m cannot be right: area missing"))
    # polygons with a ring of fewer than 4 points (GEOS accepts a closed triangle of 3 points)
    short = _short_rings(geoms, present)
    if short.any():
        parts.append(row_findings(stub, short, kind="geometry", check="ring_too_short", severity="error",
                                  reason_zh="环少于 4 个点，不能构成多边形，面积缺失",
                                  reason_en="a ring has fewer than 4 points, so it is no polygon: area missing"))
    drop = nonfinite | out_of_range | short
    if drop.any():
        geoms = geoms.copy()
        geoms[drop] = None
        log.warning("%s: %d rows have coordinates that cannot be right; kept with a missing geometry", name, int(drop.sum()))
    findings = concat_findings(parts, sort=False) if parts else empty_findings()
    return geoms, findings, notices


def _short_rings(geoms, present) -> np.ndarray:
    """Rows with a polygon ring of fewer than 4 points (GEOS accepts a closed triangle of 3)."""
    n = len(geoms)
    out = np.zeros(n, dtype=bool)
    types = shapely.get_type_id(geoms)
    simple = present & (types == 3) & ~shapely.is_empty(geoms)  # an empty polygon has no ring to be short
    if simple.any():  # a polygon without holes: its ring is all its coordinates
        idx = np.flatnonzero(simple)
        holes = shapely.get_num_interior_rings(geoms[idx])
        plain = holes == 0
        out[idx[plain]] = shapely.get_num_coordinates(geoms[idx[plain]]) < 4
        rest = np.zeros(n, dtype=bool)
        rest[idx[~plain]] = True
    else:
        rest = np.zeros(n, dtype=bool)
    rest |= present & np.isin(types, (6, 7))
    if not rest.any():
        return out
    idx = np.flatnonzero(rest)
    parts, owner = shapely.get_parts(geoms[idx], return_index=True)
    is_poly = shapely.get_type_id(parts) == 3
    parts, owner = parts[is_poly], owner[is_poly]
    rings, ring_owner = shapely.get_rings(parts, return_index=True)
    few = shapely.get_num_coordinates(rings) < 4
    out[idx[owner[ring_owner[few]]]] = True
    return out
