"""Terrain and raster analysis on rasterio: slope, aspect, hillshade, zonal statistics, buildable share,
land-use grids, clipping and reprojection.

Everything works block by block (512×512 tiles; slope reads each block with a one-cell margin), so a
20 000 × 20 000 DEM needs well under 2 GB. Every GeoTIFF written is tiled (512), deflate-compressed
and BIGTIFF=IF_SAFER, and goes through :func:`gis.io.atomic_output` (no half files, inputs never
overwritten, existing outputs only with ``overwrite=True``).

Distances and areas come from the ellipsoid, never from the raster's coordinates taken as metres:
slope of a longitude/latitude DEM uses each row's true cell size, and zonal areas agree with
:func:`gis.area.area_m2`.

The statistics live in :mod:`gis.zonal`; ``zonal_table``, ``zonal_stats`` and ``buildable_share`` are re-exported here.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio import features
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.windows import Window

from ._raster_io import (
    BLOCK,
    block_windows,
    default_nodata,
    open_raster,
    output_profile,
    raster_crs,
    raster_env,
    zones_in_raster_crs,
)
from ._raster_terrain import FLAT_ASPECT, TERRAIN_NODATA, terrain
from .crs import require_crs, suitable_gk_crs, to_crs
from .errors import CRSError, InputError
from ._raster_io import require_geotiff_name
from .io import atomic_output
from .zonal import DEFAULT_STATS, buildable_share, zonal_stats, zonal_table

__all__ = [
    "slope",
    "aspect",
    "hillshade",
    "zonal_stats",
    "zonal_table",
    "buildable_share",
    "rasterize",
    "clip",
    "reproject",
    "read_legend",
    "RESAMPLING",
    "DEFAULT_STATS",
    "TERRAIN_NODATA",
    "FLAT_ASPECT",
]

log = logging.getLogger(__name__)

RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "min", "max", "med", "q1", "q3")
_MAX_CELLS = 2_000_000_000


# ------------------------------------------------------------------------------------ terrain
def slope(src_path, dst_path, *, units: str = "degrees", band: int | None = None, overwrite: bool = False,
          crs=None) -> Path:
    """Slope of a DEM (heights in metres) in ``degrees`` or ``percent``, written to a tiled GeoTIFF.

    Correct in any CRS: each cell's ground size is measured on the ellipsoid (per row for a
    longitude/latitude DEM). Nodata cells stay nodata (-9999); cells beside holes and at the edge get
    a one-sided slope. ``crs`` is assigned to a DEM without one (zipped DEMs such as ``.hgt.zip`` are read too).
    """
    return terrain(src_path, dst_path, kind="slope", units=units, band=band, overwrite=overwrite, crs=crs)


def aspect(src_path, dst_path, *, band: int | None = None, overwrite: bool = False, crs=None) -> Path:
    """Aspect of a DEM: the direction the slope faces, degrees clockwise from true north in [0, 360)
    (due north is 0; -1 for flat cells; -9999 nodata). Grid convergence of the projection is taken out."""
    return terrain(src_path, dst_path, kind="aspect", band=band, overwrite=overwrite, crs=crs)


def hillshade(src_path, dst_path, *, azimuth: float = 315.0, altitude: float = 45.0, band: int | None = None,
              overwrite: bool = False, crs=None) -> Path:
    """Hillshade of a DEM (uint8 1–255, 0 = nodata) lit from ``azimuth``/``altitude`` degrees."""
    return terrain(src_path, dst_path, kind="hillshade", azimuth=azimuth, altitude=altitude, band=band,
                   overwrite=overwrite, crs=crs)


# ------------------------------------------------------------------------------------ rasterize
def _codes_for(values: pd.Series):
    """Integer codes, legend, dtype and nodata for a field's values (None where the value is missing)."""
    present = values.notna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        vals = v[present]
        if len(vals) and np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)):
            lo, hi = (vals.min(), vals.max()) if len(vals) else (1, 1)
            if lo >= 1 and hi <= 255:
                dtype, nodata = "uint8", 0
            elif lo >= 1 and hi <= 65535:
                dtype, nodata = "uint16", 0
            elif lo >= -2**31 + 1 and hi <= 2**31 - 1:
                dtype, nodata = "int32", -2**31
            else:
                raise InputError(f"the field's values run from {lo:.0f} to {hi:.0f}: too large for an integer grid")
            return v, {}, dtype, nodata
        nodata = -9999.0 if not np.any(vals == -9999.0) else float("nan")
        return v, {}, "float32", nodata
    labels = values[present].astype(str)
    uniques = sorted(labels.unique())
    if len(uniques) > 65535:
        raise InputError(f"the field has {len(uniques)} different values: too many for a land-use grid")
    lookup = {label: k + 1 for k, label in enumerate(uniques)}
    codes = np.full(len(values), np.nan)
    codes[present] = labels.map(lookup).to_numpy(dtype=float)
    dtype = "uint8" if len(uniques) <= 255 else "uint16"
    return codes, {k + 1: label for k, label in enumerate(uniques)}, dtype, 0


_PALETTE = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf",
            "#999999", "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494"]


def rasterize(zones_gdf, *, field: str, cell_m: float, dst_path, crs=None, all_touched: bool = False,
              overwrite: bool = False, inputs=()) -> dict:
    """Burn a field of the zones into a grid of ``cell_m``-metre cells and write it as a GeoTIFF.

    The grid is in ``crs`` or else the CGCS2000 3° Gauss–Krüger zone suiting the data
    (:func:`gis.crs.suitable_gk_crs`), aligned to multiples of ``cell_m``. Text values get codes
    1…n in sorted order, with the legend in the file's tags (``legend`` as JSON, and ``code_<n>``);
    integer values are burnt as they are. Nodata (0 for codes) where no zone covers a cell's centre
    (any touched cell with ``all_touched``). Where zones overlap, the later one wins. Returns a
    summary dict (path, crs, shape, legend, nodata).
    """
    require_crs(zones_gdf, what="the zones")
    if field not in zones_gdf.columns:
        raise InputError(f"the zones have no field {field!r}; fields: {', '.join(map(str, zones_gdf.columns.drop(zones_gdf.geometry.name)))}")
    if not (cell_m and cell_m > 0 and math.isfinite(cell_m)):
        raise InputError(f"the cell size must be a positive number of metres, not {cell_m!r}")
    dst_crs = to_crs(crs) if crs is not None else suitable_gk_crs(zones_gdf)
    if not dst_crs.is_projected:
        raise CRSError(f"a land-use grid needs a projected CRS in metres, not {dst_crs.name}: e.g. EPSG:4544")
    geoms = np.asarray(zones_gdf.geometry.to_crs(dst_crs).values, dtype=object)
    codes, legend, dtype, nodata = _codes_for(zones_gdf[field])
    usable = ~shapely.is_missing(geoms) & ~np.isnan(codes)
    usable[usable] &= ~shapely.is_empty(geoms[usable])
    if not usable.any():
        raise InputError(f"no zone has both a geometry and a value of {field!r}: nothing to rasterize")
    if (~usable).sum():
        log.warning("%d zones have no geometry or no %s value: left out of the grid (nodata)", int((~usable).sum()), field)
    geoms, codes = geoms[usable], codes[usable]
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    xmin, ymin = math.floor(xmin / cell_m) * cell_m, math.floor(ymin / cell_m) * cell_m
    xmax, ymax = math.ceil(xmax / cell_m) * cell_m, math.ceil(ymax / cell_m) * cell_m
    width, height = max(1, round((xmax - xmin) / cell_m)), max(1, round((ymax - ymin) / cell_m))
    if width * height > _MAX_CELLS:
        raise InputError(f"a {width} × {height} grid is too large: choose a cell size larger than {cell_m} m")
    transform = from_origin(xmin, ymax, cell_m, cell_m)
    small = int((shapely.area(geoms) < cell_m * cell_m).sum())
    if small and not all_touched:
        log.info("%d zones are smaller than one %g m cell and may get no cell: use all_touched or a smaller cell", small, cell_m)
    tree = shapely.STRtree(geoms)
    profile = output_profile(crs=dst_crs.to_wkt(), transform=transform, width=width, height=height, dtype=dtype, nodata=nodata)
    dst_path = Path(dst_path)
    tags = {"field": field, "cell_m": f"{cell_m:g}", "software": "parkgis", "nodata_meaning": "no zone"}
    if legend:
        tags["legend"] = json.dumps({str(k): v for k, v in legend.items()}, ensure_ascii=False)
        tags.update({f"code_{k}": v for k, v in legend.items()})
    else:
        tags["codes"] = "values of the field as they are"
    require_geotiff_name(dst_path)
    with raster_env(), atomic_output(dst_path, overwrite=overwrite, inputs=inputs) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for r in range(0, height, BLOCK):
                h = min(BLOCK, height - r)
                y_top = ymax - r * cell_m
                hits = np.sort(tree.query(shapely.box(xmin, y_top - h * cell_m, xmax, y_top)))
                block = np.full((h, width), nodata, dtype=dtype)
                if len(hits):
                    block = features.rasterize(
                        zip(geoms[hits], codes[hits].astype(dtype) if dtype != "float32" else codes[hits]),
                        out=block, transform=from_origin(xmin, y_top, cell_m, cell_m), all_touched=all_touched)
                dst.write(block, 1, window=Window(0, r, width, h))
            dst.update_tags(**tags)
            dst.set_band_description(1, field)
            if legend and dtype == "uint8":
                dst.write_colormap(1, {k: _hex_rgba(_PALETTE[(k - 1) % len(_PALETTE)]) for k in legend})
    log.info("wrote %s: %d × %d cells of %g m in %s", dst_path, width, height, cell_m, dst_crs.name)
    return {"path": dst_path, "crs": dst_crs, "width": width, "height": height, "legend": legend, "nodata": nodata,
            "dtype": dtype}


def _hex_rgba(hex_colour: str):
    h = hex_colour.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4)) + (255,)


def read_legend(path) -> dict[int, str]:
    """The code → label legend stored by :func:`rasterize` in a grid's tags ({} when there is none)."""
    with open_raster(path) as ds:
        text = ds.tags().get("legend")
    return {int(k): v for k, v in json.loads(text).items()} if text else {}


# ------------------------------------------------------------------------------------ clip
def clip(raster_path, layer_gdf, dst_path, *, all_touched: bool = False, overwrite: bool = False, crs=None) -> Path:
    """Cut a raster (all bands) to the polygons of a layer: the output covers their bounding box and
    cells whose centre lies outside every polygon (no touched cell with ``all_touched``) are nodata.
    The layer is reprojected to the raster's CRS when needed (with a log message)."""
    raster_path, dst_path = Path(raster_path), Path(dst_path)
    with raster_env(), open_raster(raster_path) as src:
        crs = raster_crs(src, crs=crs)
        geoms = np.asarray(zones_in_raster_crs(layer_gdf, crs, raster_name=raster_path.name, zones_name="the layer").values,
                           dtype=object)
        geoms = geoms[~shapely.is_missing(geoms)]
        geoms = geoms[np.isin(shapely.get_type_id(geoms), (3, 6, 7)) & (shapely.area(geoms) > 0)]
        if not len(geoms):
            raise InputError("the clipping layer has no polygons: give a polygon layer (zones, parks, parcels)")
        inv = ~src.transform
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        px = [inv @ (x, y) for x in (xmin, xmax) for y in (ymin, ymax)]
        c0 = max(0, math.floor(min(p[0] for p in px)))
        c1 = min(src.width, math.ceil(max(p[0] for p in px)))
        r0 = max(0, math.floor(min(p[1] for p in px)))
        r1 = min(src.height, math.ceil(max(p[1] for p in px)))
        if c0 >= c1 or r0 >= r1:
            raise InputError(f"the clipping layer does not overlap {raster_path.name}: check that both cover the same place")
        nodata = src.nodata if src.nodata is not None else default_nodata(src.dtypes[0])
        if src.nodata is None:
            log.info("%s has no nodata value: cells outside the layer get %s", raster_path.name, nodata)
        out_t = src.transform @ rasterio.Affine.translation(c0, r0)
        profile = output_profile(crs=crs.to_wkt(), transform=out_t, width=c1 - c0, height=r1 - r0, count=src.count,
                                 dtype=src.dtypes[0], nodata=nodata)
        tree = shapely.STRtree(geoms)
        require_geotiff_name(dst_path)
        with atomic_output(dst_path, overwrite=overwrite, inputs=[raster_path]) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for win in block_windows(c1 - c0, r1 - r0):
                    src_win = Window(win.col_off + c0, win.row_off + r0, win.width, win.height)
                    data = src.read(window=src_win)
                    wt = src.window_transform(src_win)
                    bbox = shapely.Polygon([wt @ (0, 0), wt @ (win.width, 0), wt @ (win.width, win.height), wt @ (0, win.height)])
                    hits = tree.query(bbox, predicate="intersects")
                    if len(hits):
                        outside = features.geometry_mask(geoms[hits], out_shape=(int(win.height), int(win.width)),
                                                         transform=wt, all_touched=all_touched)
                    else:
                        outside = np.ones((int(win.height), int(win.width)), dtype=bool)
                    data[:, outside] = nodata
                    dst.write(data, window=win)
                dst.update_tags(**src.tags())
                for i in range(1, src.count + 1):
                    dst.update_tags(i, **src.tags(i))
                    if src.descriptions[i - 1]:
                        dst.set_band_description(i, src.descriptions[i - 1])
                _copy_colormap(src, dst)
    log.info("wrote %s (%d × %d cells)", dst_path, c1 - c0, r1 - r0)
    return dst_path


def _copy_colormap(src, dst) -> None:
    try:
        dst.write_colormap(1, src.colormap(1))
    except ValueError:  # no colour table
        pass


# ------------------------------------------------------------------------------------ reproject
def reproject(raster_path, dst_path, *, dst_crs, resolution: float | None = None, resampling: str = "bilinear",
              overwrite: bool = False, crs=None) -> Path:
    """Warp a raster (all bands) to ``dst_crs``, block by block through a GDAL warped VRT.

    ``resolution`` is in the target CRS's units (metres for Gauss–Krüger, degrees for EPSG:4490);
    by default GDAL keeps about the same number of cells. Use ``resampling="nearest"`` (or ``mode``)
    for land-use codes: averaging codes makes nonsense.
    """
    raster_path, dst_path = Path(raster_path), Path(dst_path)
    target = to_crs(dst_crs)
    if resampling not in RESAMPLING:
        raise InputError(f"unknown resampling {resampling!r}: use one of {', '.join(RESAMPLING)}")
    if resolution is not None:
        if not resolution > 0:
            raise InputError(f"the resolution must be positive, not {resolution}")
        if target.is_geographic and resolution > 1:
            raise InputError(f"a resolution of {resolution} is in degrees for {target.name}: did you mean metres? "
                             "(10 m is about 0.0001°)")
    with raster_env(), open_raster(raster_path) as src:
        src_crs = raster_crs(src, crs=crs).to_wkt()
        if "legend" in src.tags() and resampling not in ("nearest", "mode"):
            log.warning("%s holds codes with a legend: %s resampling mixes codes; resample with nearest",
                        raster_path.name, resampling)
        dst_t, width, height = calculate_default_transform(
            src_crs, target.to_wkt(), src.width, src.height, *src.bounds,
            resolution=(resolution, resolution) if resolution else None)
        if width * height > _MAX_CELLS:
            raise InputError(f"the reprojected raster would have {width} × {height} cells: choose a coarser resolution")
        nodata = src.nodata if src.nodata is not None else default_nodata(src.dtypes[0])
        profile = output_profile(crs=target.to_wkt(), transform=dst_t, width=width, height=height, count=src.count,
                                 dtype=src.dtypes[0], nodata=nodata)
        require_geotiff_name(dst_path)
        with atomic_output(dst_path, overwrite=overwrite, inputs=[raster_path]) as tmp:
            with WarpedVRT(src, src_crs=src_crs, crs=target.to_wkt(), transform=dst_t, width=width, height=height,
                           resampling=Resampling[resampling], nodata=nodata) as vrt, \
                    rasterio.open(tmp, "w", **profile) as dst:
                for win in block_windows(width, height):
                    dst.write(vrt.read(window=win), window=win)
                dst.update_tags(**src.tags())
                for i in range(1, src.count + 1):
                    if src.descriptions[i - 1]:
                        dst.set_band_description(i, src.descriptions[i - 1])
                _copy_colormap(src, dst)
    log.info("wrote %s: %d × %d cells in %s", dst_path, width, height, target.name)
    return dst_path
