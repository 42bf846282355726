"""Zonal statistics with exact fractional cell coverage at parcel scale, and the buildable share of zones.

The per-zone work is done by exactextract (C++, exact coverage fractions; :mod:`gis._zonal_exact`);
this module adds what a planner needs around it. :func:`zonal_table` returns a frame on the zones'
index that keeps every zone and its own columns (id, name …) followed by the statistics, and
findings in the one schema of :mod:`gis.findings` (no geometry, not a polygon, off the raster, only
nodata, partly without data, cells too coarse for the zone).

Statistics are weighted by each cell's coverage fraction (and, on a longitude/latitude raster, by
its ground area, which shrinks northwards): ``mean``, ``std`` (population), ``median`` and ``pNN``
(weighted Hazen quantiles, which equal ``numpy.percentile(..., method="hazen")`` when weights are
equal), ``min``/``max`` over the touched cells, ``count`` (Σ coverage fraction of cells with data,
as exactextract counts) and ``sum`` (Σ coverage × value).

Areas agree with :func:`gis.area.area_m2`: ``area_m2`` is the zone's ellipsoidal area, and a
condition (``where="<15"``) is measured as the coverage-weighted share of cell area meeting it, times
that area. ``where_share`` is the share of the land *with data* meeting the condition;
``where_area_m2`` = ``area_m2`` × ``data_share`` × ``where_share``, so land without data is never
counted as meeting it, and a zone off the raster has a missing (NaN) area, never 0.
"""

from __future__ import annotations

import logging
import operator
import re

import numpy as np
import pandas as pd
import shapely
from affine import Affine

from .area import area_m2
from .errors import InputError
from .findings import concat_findings, empty_findings, row_findings, table_finding
from .units import m2_to_mu

__all__ = ["zonal_table", "zonal_stats", "buildable_share", "coverage_fractions", "parse_stats", "parse_where",
           "DEFAULT_STATS", "MIN_ZONE_CELLS", "QUANTILE_CELLS"]

log = logging.getLogger(__name__)

DEFAULT_STATS = ("mean", "min", "max", "count")
QUANTILE_CELLS = 8_000_000
"""Zones covering more cells than this take their quantiles from exactextract's weighted quantile
(bounded memory) instead of the exact weighted Hazen quantile of every value."""
MIN_ZONE_CELLS = 4.0
"""A zone covering fewer cells than this gets a warning: the raster is too coarse to measure it."""
_DIRECT_CELLS = 1024  # windows up to this many cells are measured cell by cell without rasterising
_SIMPLE = ("mean", "min", "max", "std", "median", "count", "sum")
_PCT = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_COND = re.compile(r"^\s*(<=|>=|==|!=|<|>|=)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq,
        "==": operator.eq, "!=": operator.ne}


# ------------------------------------------------------------------------------------ parsing
def parse_stats(stats) -> list[str]:
    """``"mean,p10"`` or a sequence of names to a checked list (``median`` kept as it is).

    >>> parse_stats("mean, p10,median")
    ['mean', 'p10', 'median']
    """
    names = [s.strip().lower() for s in (stats.split(",") if isinstance(stats, str) else stats) if str(s).strip()]
    for name in names:
        m = _PCT.match(name)
        if name not in _SIMPLE and not (m and 0 < float(m.group(1)) < 100):
            raise InputError(f"unknown statistic {name!r}: use {', '.join(_SIMPLE)} or pNN (e.g. p10, p90)")
    return list(dict.fromkeys(names))


def _quantile_of(name: str) -> float | None:
    if name == "median":
        return 0.5
    m = _PCT.match(name)
    return float(m.group(1)) / 100.0 if m else None


def parse_where(where: str):
    """A condition such as ``"<15"`` or ``">=5,<15"`` (all must hold) to a function of an array.

    >>> import numpy as np
    >>> parse_where(">=5, <15")(np.array([1.0, 5.0, 14.9, 15.0])).tolist()
    [False, True, True, False]
    """
    parts = [p for p in re.split(r"[,&]", str(where)) if p.strip()]
    tests = []
    for part in parts:
        m = _COND.match(part)
        if not m:
            raise InputError(f"cannot read the condition {where!r}: write it as e.g. \"<15\", \">=5,<15\" or \"==3\"")
        tests.append((_OPS[m.group(1)], float(m.group(2))))
    if not tests:
        raise InputError("the condition is empty: write it as e.g. \"<15\"")

    def test(values):
        ok = np.ones(np.shape(values), dtype=bool)
        for op, limit in tests:
            ok &= op(values, limit)
        return ok

    return test


# ------------------------------------------------------------------------------------ coverage
def _polygonal(geom):
    """Only the polygon parts of a geometry (an intersection may add slivers of lines or points)."""
    if geom is None or geom.is_empty:
        return None
    tid = shapely.get_type_id(geom)
    if tid in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    if not polys:
        return None
    return shapely.union_all(polys)


def coverage_fractions(geom_px, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
    """Exact share (0–1) of each cell of a window covered by a polygon given in pixel coordinates.

    Pixel coordinates: x = column, y = row, cell (r, c) is the unit square [c, c+1] × [r, r+1].
    Only cells the polygon's boundary touches are intersected; the rest are wholly in or out.
    """
    from rasterio import features  # rasterio is imported when a raster is used, not with `import gis`

    if height * width <= _DIRECT_CELLS:  # a small window: test every cell, no rasterising
        rr, cc = np.divmod(np.arange(height * width), width)
        inside = None
        boundary = shapely.boundary(geom_px)
    else:
        rect = shapely.box(col_off, row_off, col_off + width, row_off + height)
        part = _polygonal(shapely.intersection(geom_px, rect))
        if part is None or part.area <= 0:
            return np.zeros((height, width), dtype=np.float64)
        tr = Affine.translation(col_off, row_off)
        inside = features.rasterize([(part, 1)], out_shape=(height, width), transform=tr, fill=0,
                                    all_touched=False, dtype="uint8").astype(np.float64)
        boundary = shapely.intersection(shapely.boundary(geom_px), rect.buffer(1.0, join_style="mitre"))
        if boundary.is_empty:
            return inside
        edge = features.rasterize([(boundary, 1)], out_shape=(height, width), transform=tr, fill=0,
                                  all_touched=True, dtype="uint8").astype(bool)
        # widen the boundary cells by one, so a cell GDAL's line burner might skip is still tested
        wide = edge.copy()
        wide[1:, :] |= edge[:-1, :]
        wide[:-1, :] |= edge[1:, :]
        edge = wide.copy()
        edge[:, 1:] |= wide[:, :-1]
        edge[:, :-1] |= wide[:, 1:]
        rr, cc = np.nonzero(edge)
        geom_px = part
    boxes = shapely.box(cc + col_off, rr + row_off, cc + col_off + 1, rr + row_off + 1)
    shapely.prepare(boundary)
    crossed = shapely.intersects(boundary, boxes)
    frac = np.empty(len(rr))
    frac[crossed] = shapely.area(shapely.intersection(boxes[crossed], geom_px))
    if inside is None:  # a cell the boundary does not touch is in or out as its centre is
        shapely.prepare(geom_px)
        frac[~crossed] = shapely.contains_xy(geom_px, cc[~crossed] + col_off + 0.5, rr[~crossed] + row_off + 0.5)
        return np.clip(frac, 0.0, 1.0).reshape(height, width)
    frac[~crossed] = inside[rr[~crossed], cc[~crossed]]
    inside[rr, cc] = np.clip(frac, 0.0, 1.0)
    return inside


# ------------------------------------------------------------------------------------ statistics
def _quantiles_exact(values, weights, qs):
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    total = w.sum()
    pos = (np.cumsum(w) - w / 2.0) / total  # weighted Hazen plotting positions
    return [float(np.interp(q, pos, v)) for q in qs]


def _geoms_px(geoms, t):
    inv = ~t
    return shapely.transform(geoms, lambda xy: np.column_stack([
        inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c, inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f]))


def _finding(mask, check, severity, en, zh, **kw):
    return dict(mask=mask, check=check, severity=severity, reason_en=en, reason_zh=zh, **kw)


def _measure(raster_path, zones, *, stats, band, where, crs):
    """Statistics per zone (dict of arrays in zone order) and the per-zone findings (specs)."""
    from ._raster_io import choose_band, open_raster, raster_crs, raster_env, require_some_data, zones_in_raster_crs
    from ._zonal_exact import ConditionSource, ValuesSource, run_ops

    names = parse_stats(stats)
    cond = parse_where(where) if where is not None else None
    qnames = [nm for nm in names if _quantile_of(nm) is not None]
    qs = [_quantile_of(nm) for nm in qnames]
    name = getattr(raster_path, "name", None) or str(raster_path).replace("\\", "/").rsplit("/", 1)[-1]
    n = len(zones)
    areas = area_m2(zones).to_numpy(dtype="float64")
    res = {nm: np.full(n, np.nan) for nm in names}
    valid = np.zeros(n)
    inside_all = np.zeros(n)
    meet = np.full(n, np.nan)
    specs = []
    with raster_env(), open_raster(raster_path) as ds:
        rcrs = raster_crs(ds, crs=crs)
        b = choose_band(ds, band)
        if ds.transform.b != 0 or ds.transform.d != 0 or ds.transform.e > 0:
            raise InputError(f"{name} is a rotated or south-up grid: warp it to a north-up grid first "
                             "(gis.raster.reproject to its own CRS)")
        units = ds.tags().get("units")
        if units and where is not None:
            log.info("%s holds %s: the condition %r is read in those units", name, units, where)
        geoms = np.asarray(zones_in_raster_crs(zones, rcrs, raster_name=name).values, dtype=object)
        missing = shapely.is_missing(geoms)
        empty = ~missing & shapely.is_empty(geoms)
        tid = np.full(n, -1)
        tid[~missing & ~empty] = shapely.get_type_id(geoms[~missing & ~empty])
        polygonal = np.isin(tid, (3, 6)) | ((tid == 7) & (areas > 0))
        specs += [_finding(missing, "no_geometry", "error", "no geometry", "缺少图形"),
                  _finding(empty, "empty_geometry", "error", "empty geometry", "图形为空")]
        other = ~missing & ~empty & ~polygonal
        if other.any():
            kinds = np.array([g.geom_type if g is not None else "" for g in geoms], dtype=object)
            for kind in sorted(set(kinds[other])):
                specs.append(_finding(other & (kinds == kind), "not_a_polygon", "error",
                                      f"not a polygon ({kind}): zonal statistics need polygons",
                                      f"不是面（{kind}），分区统计需要面图形"))
        todo = np.flatnonzero(polygonal)
        g = geoms[todo].copy()
        bad = ~shapely.is_valid(g)
        if bad.any():
            log.info("%d invalid zone geometries measured after make_valid", int(bad.sum()))
            g[bad] = shapely.make_valid(g[bad])
        coll = np.flatnonzero(shapely.get_type_id(g) == 7)
        for k in coll:  # keep the polygons of a geometry collection
            g[k] = _polygonal(g[k])
        keep = ~shapely.is_missing(g)
        todo, g = todo[keep], g[keep]
        t = ds.transform
        cells = np.full(n, np.nan)
        cells[todo] = shapely.area(_geoms_px(g, t))  # the zone's area in cells
        frac_in = _share_inside_raster(g, ds, rcrs)
        geographic = rcrs.is_geographic
        weight = {"coverage_weight": "area_spherical_m2"} if geographic else {}
        wkt = rcrs.to_wkt()
        v = ValuesSource(ds, b, crs_wkt=wkt)
        ops = [("count", "_valid", v, weight), ("count", "_all", v, {**weight, "default_value": 0})]
        stat_of = {"mean": ("mean", weight), "std": ("stdev", weight), "min": ("min", {}), "max": ("max", {}),
                   "count": ("count", {}), "sum": ("sum", {})}
        ops += [(stat_of[nm][0], nm, v, stat_of[nm][1]) for nm in names if nm in stat_of]
        if cond is not None:
            ops.append(("mean", "_meet", ConditionSource(ds, b, cond, crs_wkt=wkt, values=v), weight))
        big = cells[todo] > QUANTILE_CELLS if qnames else np.zeros(len(todo), dtype=bool)
        if big.any():  # quantiles of huge zones by exactextract's own weighted quantile, not from every value
            log.info("%d zones cover more than %d cells: their quantiles come from exactextract's weighted quantile",
                     int(big.sum()), QUANTILE_CELLS)
            qops = [("quantile", f"_q{k}", v, {"q": q, **weight}) for k, q in enumerate(qs)]
            outb = run_ops(todo[big], g[big], wkt, ops + qops)
            for k, nm in enumerate(qnames):
                col = next(c for c in outb if c.startswith(f"_q{k}_"))  # exactextract appends the percentile: _q0_50
                res[nm][np.asarray(outb["_pos"], dtype=np.int64)] = np.asarray(outb[col], dtype="float64")
        if qnames:
            ops += [("values", "_values", v, {}), ("coverage", "_cov", v, {})]
            if geographic:
                ops.append(("center_y", "_cy", v, {}))
        if len(todo):
            log.info("zonal statistics of %d zones over %s (%d × %d cells)", len(todo), name, ds.width, ds.height)
            out = run_ops(todo[~big], g[~big], wkt, ops) if big.any() else run_ops(todo, g, wkt, ops)
            if big.any():
                for key, col in outb.items():
                    if key in out:
                        out[key] = list(out[key]) + list(col)
                    if qnames:
                        out.setdefault("_values", [])
                for key in ("_values", "_cov", "_cy"):
                    if key in out:
                        out[key] = list(out[key]) + [np.zeros(0)] * int(big.sum())
            pos = np.asarray(out["_pos"], dtype=np.int64)
            valid[pos] = np.asarray(out["_valid"], dtype="float64")
            inside_all[pos] = np.asarray(out["_all"], dtype="float64")
            for nm in names:
                if nm in stat_of:
                    res[nm][pos] = np.asarray(out[nm], dtype="float64")
            if cond is not None:
                meet[pos] = np.asarray(out["_meet"], dtype="float64")
            if qnames:
                for k, i in enumerate(pos):
                    vals = np.asarray(out["_values"][k], dtype="float64")
                    if not len(vals):
                        continue
                    w = np.asarray(out["_cov"][k], dtype="float64")
                    if geographic:
                        from ._raster_io import cell_area_m2

                        rows = np.floor((np.asarray(out["_cy"][k]) - t.f) / t.e).astype(int)
                        w = w * cell_area_m2(rcrs, t, rows, ds.width / 2.0)
                    for nm, q in zip(qnames, _quantiles_exact(vals, w, qs)):
                        res[nm][i] = q
        inside = polygonal & (inside_all > 0)
        has_data = valid > 0
        if (inside & ~has_data).any() and not has_data.any():
            require_some_data(ds, b, what=name)
    share_in = np.ones(n)
    share_in[todo] = frac_in
    with np.errstate(invalid="ignore", divide="ignore"):
        data_share = np.where(inside, share_in * valid / np.where(inside_all > 0, inside_all, 1.0),
                              np.where(polygonal, 0.0, np.nan))
    for nm in names:
        res[nm] = np.where(has_data, res[nm], np.nan)
    if "count" in res:  # a zone over nodata has no cell with data (0); one off the raster has no count
        res["count"] = np.where(inside & ~has_data, 0.0, res["count"])
    partial = inside & has_data & (data_share < 1.0 - 1e-9)
    specs += [
        _finding(polygonal & ~inside, "outside_raster", "warning", "outside the raster: no statistics",
                 "在栅格范围之外，无统计值"),
        _finding(inside & ~has_data, "only_nodata", "warning", "only nodata cells under the zone: no statistics",
                 "分区内只有无数据像元，无统计值"),
        _finding(partial, "partial_data", "info", "part of the zone has no data (nodata cells or outside the raster); "
                 "value = % without data", "分区部分无数据（无数据像元或在栅格外）；value 为无数据百分比",
                 value=100.0 * (1.0 - data_share)),
    ]
    small = polygonal & (cells < MIN_ZONE_CELLS)
    table = {"stats": res, "areas": areas, "data_share": data_share, "cells": cells, "has_data": has_data,
             "where_share": np.where(has_data, meet, np.nan) if cond is not None else None,
             "small": small, "raster": name, "band": b, "units": units, "where": where}
    return table, specs


def _share_inside_raster(geoms, ds, crs) -> np.ndarray:
    """Share (0–1) of each zone's ellipsoidal area inside the raster's footprint; 1 when wholly inside."""
    t = ds.transform
    corners = [t @ (0, 0), t @ (ds.width, 0), t @ (ds.width, ds.height), t @ (0, ds.height)]
    footprint = shapely.Polygon(corners)
    share = np.ones(len(geoms))
    if not len(geoms):
        return share
    b = shapely.bounds(geoms)
    fb = footprint.bounds
    maybe = ~((b[:, 0] >= fb[0]) & (b[:, 1] >= fb[1]) & (b[:, 2] <= fb[2]) & (b[:, 3] <= fb[3]))
    if t.b != 0 or t.d != 0:  # a rotated grid: its bounding box is not its footprint
        maybe[:] = True
    idx = np.flatnonzero(maybe)
    if not len(idx):
        return share
    g = geoms[idx]
    within = shapely.within(g, footprint)
    part = idx[~within]
    if len(part):
        cut = shapely.intersection(g[~within], footprint)
        whole = area_m2(g[~within], crs=crs).to_numpy()
        inside = area_m2(cut, crs=crs).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            share[part] = np.where(whole > 0, np.clip(inside / whole, 0.0, 1.0), 0.0)
    return share


def _stats_frame(m, index) -> pd.DataFrame:
    out = pd.DataFrame(m["stats"], index=index)
    out["area_m2"] = m["areas"]
    out["area_mu"] = m2_to_mu(m["areas"])
    out["data_share"] = m["data_share"]
    out["cells"] = m["cells"]
    if m["where_share"] is not None:
        out["where_share"] = m["where_share"]
        out["where_area_m2"] = np.where(m["has_data"], m["areas"] * m["data_share"] * m["where_share"], np.nan)
        out["where_area_mu"] = m2_to_mu(out["where_area_m2"].to_numpy())
    return out


def _findings(specs, m, zones, id_field):
    ids = pd.DataFrame(index=range(len(zones)))
    key = id_field or ("id" if "id" in zones.columns else None)
    if key is not None:
        ids["zone_id"] = zones[key].astype("object").to_numpy()
    parts = []
    for s in specs:
        parts.append(row_findings(ids, s["mask"], kind="raster", check=s["check"], severity=s["severity"],
                                  column="geometry", value=s.get("value"), reason_zh=s["reason_zh"],
                                  reason_en=s["reason_en"], source=m["raster"]))
    n_small = int(m["small"].sum())
    if n_small:
        log.warning("%d zones cover fewer than %g cells of %s: the raster is too coarse for them", n_small,
                    MIN_ZONE_CELLS, m["raster"])
        parts.append(table_finding(
            kind="raster", check="cells_too_coarse", severity="warning", column="cells", level="all", group="(all)",
            value=float(n_small), threshold=MIN_ZONE_CELLS, source=m["raster"],
            reason_zh=f"{n_small} 个分区覆盖不足 {MIN_ZONE_CELLS:g} 个像元：栅格太粗，统计值仅供参考（见 cells 列）",
            reason_en=f"{n_small} zones cover fewer than {MIN_ZONE_CELLS:g} cells: the raster is too coarse for them "
                      "(see the cells column)"))
    f = concat_findings(parts, ids=ids) if parts else empty_findings()
    if len(f):
        f["row"] = f["row"] + 1  # 1 = first zone of the input
    return f


def zonal_table(raster, zones, *, stats=DEFAULT_STATS, where: str | None = None, band: int | None = None,
                crs=None, id_field: str | None = None, return_findings: bool = False):
    """Statistics of a raster band under each zone: every zone, on the zones' index, with its own columns.

    ``raster`` is a path (GeoTIFF, zipped ``.hgt.zip``/``.tif.zip`` …); ``zones`` a polygon layer (reprojected
    to the raster's CRS when needed, with a log message). ``crs`` is assigned to a raster without one.
    The result is the zones' columns (a column named like a result is kept as ``input_<name>``) followed
    by the ``stats``, ``area_m2`` and ``area_mu`` (ellipsoidal), ``data_share`` (share of the zone on
    cells with data), ``cells`` (the zone's area in cells) and, with ``where``, ``where_share``,
    ``where_area_m2`` and ``where_area_mu``; a GeoDataFrame (geometry last) when ``zones`` is one.
    Missing is never 0: a zone off the raster or over nodata has NaN statistics and areas.
    With ``return_findings=True`` returns ``(table, findings)``; the findings (schema
    :data:`gis.findings.FINDING_COLUMNS`, ``row`` 1-based, ``zone_id`` from ``id_field`` or ``id``) say
    which zones have no or partial statistics and whether the cells are too coarse.
    """
    if id_field is not None and id_field not in zones.columns:
        raise InputError(f"the zones have no field {id_field!r}; fields: "
                         f"{', '.join(map(str, zones.columns.drop(zones.geometry.name)))}")
    m, specs = _measure(raster, zones, stats=stats, band=band, where=where, crs=crs)
    positions = pd.RangeIndex(len(zones))  # put side by side by position: an index may repeat
    result = _stats_frame(m, positions)
    geom = zones.geometry.name if hasattr(zones, "geometry") else None
    own = pd.DataFrame(zones.drop(columns=[geom] if geom else [])).set_axis(positions, axis=0)
    own = own.rename(columns={c: f"input_{c}" for c in own.columns if c in result.columns})
    table = pd.concat([own, result], axis=1).set_axis(zones.index, axis=0)
    if geom is not None:
        import geopandas as gpd

        table = gpd.GeoDataFrame(table, geometry=zones.geometry.values, crs=zones.crs, index=zones.index)
    table.attrs.update(raster=m["raster"], band=m["band"], where=where, units=m["units"])
    if return_findings:
        return table, _findings(specs, m, zones, id_field)
    return table


def zonal_stats(raster_path, zones_gdf, *, stats=DEFAULT_STATS, band: int | None = None,
                where: str | None = None, crs=None) -> pd.DataFrame:
    """The statistics columns of :func:`zonal_table` only (no zone columns), on the zones' index, plus a
    ``finding`` text column (None, or why a zone has no or partial statistics).

    Kept for callers that join the statistics themselves; new code uses :func:`zonal_table` with
    ``return_findings=True`` for findings in the one schema.
    """
    m, specs = _measure(raster_path, zones_gdf, stats=stats, band=band, where=where, crs=crs)
    out = _stats_frame(m, zones_gdf.index).drop(columns="cells")
    text = np.full(len(zones_gdf), None, dtype=object)
    for s in specs:
        mask = np.asarray(s["mask"], dtype=bool) & pd.isna(text)
        if s["check"] == "partial_data":
            text[mask] = [f"{v:.1f}% of the zone has no data (nodata cells or outside the raster)"
                          for v in np.asarray(s["value"])[mask]]
        else:
            text[mask] = s["reason_en"]
    out["finding"] = text
    out.attrs.update(raster=m["raster"], band=m["band"], where=where, units=m["units"])
    return out


def buildable_share(raster_path, zones_gdf, *, where: str = "<15", band: int | None = None,
                    name: str = "buildable_share", crs=None) -> pd.Series:
    """Share (0–1) of each zone's land with data meeting ``where`` (e.g. slope under 15), as a Series
    on the zones' index, ready to join to an area report or a map. NaN where the zone has no data."""
    m, _ = _measure(raster_path, zones_gdf, stats=(), band=band, where=where, crs=crs)
    return pd.Series(m["where_share"], index=zones_gdf.index, name=name)
