"""Slope, aspect and hillshade from a DEM, block by block with a one-cell overlap.

The gradient is Horn's 3×3 operator (as in ``gdaldem`` and ArcGIS) with each cell's ground size
taken on the ellipsoid (:func:`gis._raster_io.ground_steps`), so a DEM in longitude/latitude or in
Web Mercator gives the same slope as one in Gauss–Krüger metres. Heights are taken to be metres.

A neighbour that is nodata, or outside the raster, is replaced by the linear extrapolation
``2·z0 − z_opposite`` (or by ``z0`` when the opposite neighbour is missing too): cells at the edge of
the raster and beside nodata holes keep a one-sided slope instead of turning into nodata; a plane
keeps its exact slope right up to the edge. Cells that are nodata themselves stay nodata.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ._raster_io import (
    block_windows,
    choose_band,
    ground_steps,
    open_raster,
    output_profile,
    raster_crs,
    raster_env,
    read_valid,
    require_some_data,
)
from .errors import InputError
from ._raster_io import require_geotiff_name
from .io import atomic_output

__all__ = ["terrain", "horn_gradient", "TERRAIN_NODATA", "FLAT_ASPECT"]

log = logging.getLogger(__name__)

TERRAIN_NODATA = -9999.0
FLAT_ASPECT = -1.0
"""Aspect written for flat cells (no downslope direction), as ArcGIS does."""

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _neighbours(z: np.ndarray) -> dict:
    """The eight neighbours of every inner cell of ``z`` (padded by one), gaps filled by extrapolation.

    A missing side neighbour becomes ``2·z0 − opposite``; a missing corner becomes ``2·z0 −
    opposite`` or, failing that, ``side_row + side_col − z0`` (both exact on a plane); ``z0`` is the
    last resort.
    """
    h, w = z.shape[0] - 2, z.shape[1] - 2
    z0 = z[1:-1, 1:-1]

    def shifted(di, dj):
        return z[1 + di:1 + di + h, 1 + dj:1 + dj + w]

    out = {}
    for di, dj in sorted(_OFFSETS, key=lambda o: abs(o[0]) + abs(o[1])):  # sides first, then corners
        n = shifted(di, dj)
        gap = np.isnan(n)
        if gap.any():
            opp = shifted(-di, -dj)
            fill = 2.0 * z0 - opp
            if di and dj:
                fill = np.where(np.isnan(fill), out[(di, 0)] + out[(0, dj)] - z0, fill)
            fill = np.where(np.isnan(fill), z0, fill)
            n = np.where(gap, fill, n)
        out[(di, dj)] = n
    return out


def horn_gradient(z: np.ndarray, dx_m, dy_m):
    """Height change per ground metre along +column and +row for the inner cells of ``z``.

    ``z`` carries a one-cell margin (NaN where unknown); ``dx_m``/``dy_m`` broadcast over the inner
    cells (one value per row is usual). Returns ``(g_col, g_row, invalid)``.
    """
    n = _neighbours(z)
    g_col = ((n[(-1, 1)] + 2 * n[(0, 1)] + n[(1, 1)]) - (n[(-1, -1)] + 2 * n[(0, -1)] + n[(1, -1)])) / (8.0 * dx_m)
    g_row = ((n[(1, -1)] + 2 * n[(1, 0)] + n[(1, 1)]) - (n[(-1, -1)] + 2 * n[(-1, 0)] + n[(-1, 1)])) / (8.0 * dy_m)
    invalid = np.isnan(z[1:-1, 1:-1])
    return g_col, g_row, invalid


def _compute(kind: str, g_col, g_row, az_col, az_row, *, units: str, azimuth: float, altitude: float):
    grad = np.hypot(g_col, g_row)
    if kind == "slope":
        return np.degrees(np.arctan(grad)) if units == "degrees" else 100.0 * grad
    # downslope vector in ground east/north components, from the grid step directions
    ac, ar = np.radians(az_col), np.radians(az_row)
    east = -g_col * np.sin(ac) - g_row * np.sin(ar)
    north = -g_col * np.cos(ac) - g_row * np.cos(ar)
    aspect = np.degrees(np.arctan2(east, north)) % 360.0
    if kind == "aspect":
        # [0, 360): due north is 0 — a tiny negative angle (and float32 rounding of 359.99999…) is not 360
        aspect = np.where(aspect.astype(np.float32) >= np.float32(360.0), 0.0, aspect)
        return np.where(grad > 1e-12, aspect, FLAT_ASPECT)
    # hillshade: cosine of the angle between the surface normal and the light
    zen = np.radians(90.0 - altitude)
    s = np.arctan(grad)
    shade = np.cos(zen) * np.cos(s) + np.sin(zen) * np.sin(s) * np.cos(np.radians(azimuth) - np.radians(aspect))
    return np.clip(np.round(255.0 * shade), 1, 255)


def terrain(src_path, dst_path, *, kind: str, band: int | None = None, units: str = "degrees",
            azimuth: float = 315.0, altitude: float = 45.0, overwrite: bool = False, crs=None) -> Path:
    """Write slope (``units`` degrees or percent), aspect (° clockwise from true north in [0, 360), the
    direction the slope faces; flat = -1) or hillshade (1–255, nodata 0) of a DEM to a tiled GeoTIFF.
    ``crs`` is assigned to a DEM that has none."""
    if kind not in ("slope", "aspect", "hillshade"):
        raise InputError(f"unknown terrain product {kind!r}: use slope, aspect or hillshade")
    if units not in ("degrees", "percent"):
        raise InputError(f"unknown slope units {units!r}: use degrees or percent")
    src_path, dst_path = Path(src_path), Path(dst_path)
    with raster_env(), open_raster(src_path) as src:
        crs = raster_crs(src, crs=crs)
        b = choose_band(src, band)
        require_some_data(src, b)
        t = src.transform
        hillshade = kind == "hillshade"
        dtype, nodata = ("uint8", 0) if hillshade else ("float32", TERRAIN_NODATA)
        profile = output_profile(crs=crs.to_wkt(), transform=t, width=src.width, height=src.height, dtype=dtype, nodata=nodata)
        windows = list(block_windows(src.width, src.height))
        n_valid = 0
        require_geotiff_name(dst_path)
        with atomic_output(dst_path, overwrite=overwrite, inputs=[src_path]) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for i, win in enumerate(windows):
                    row0, col0 = int(win.row_off), int(win.col_off)
                    h, w = int(win.height), int(win.width)
                    z = read_valid(src, b, Window(col0 - 1, row0 - 1, w + 2, h + 2))
                    rows = np.arange(row0, row0 + h)
                    dx, azc, dy, azr = ground_steps(crs, t, rows, col0 + w / 2.0 - 0.5)
                    g_col, g_row, invalid = horn_gradient(z, dx[:, None], dy[:, None])
                    out = _compute(kind, g_col, g_row, azc[:, None], azr[:, None],
                                   units=units, azimuth=azimuth, altitude=altitude)
                    out = np.where(invalid, nodata, out).astype(dtype)
                    n_valid += int((~invalid).sum())
                    dst.write(out, 1, window=win)
                    if len(windows) > 20 and (i + 1) % max(1, len(windows) // 10) == 0:
                        log.info("%s: %d of %d blocks", kind, i + 1, len(windows))
                dst.update_tags(**_tags(kind, units, src_path, b, azimuth, altitude))
                dst.set_band_description(1, kind if kind != "slope" else f"slope_{units}")
    log.info("wrote %s of %s (%d cells with data)", kind, src_path.name, n_valid)
    return dst_path


def _tags(kind, units, src_path, band, azimuth, altitude) -> dict:
    tags = {
        "source": f"{src_path.name} band {band}",
        "method": "Horn 3x3 gradient, cell sizes as geodesic lengths on the CRS's ellipsoid; heights in metres",
        "software": "parkgis",
    }
    if kind == "slope":
        tags["units"] = units
    elif kind == "aspect":
        tags["units"] = "degrees clockwise from true north in [0, 360), direction the slope faces; -1 = flat"
    else:
        tags.update(units="shade 1-255, 0 = nodata", sun_azimuth_deg=str(azimuth), sun_altitude_deg=str(altitude))
    return tags
