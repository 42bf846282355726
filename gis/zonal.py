"""Zonal statistics with exact fractional cell coverage, and the buildable share of each zone.

Each zone is taken into the raster's pixel space (an affine map, so areas scale uniformly) and split
into cells in three kinds: cells crossed by the zone's boundary (rasterised with ``all_touched`` and
widened by one cell, so none is missed) get their exact coverage fraction from a vectorised shapely
intersection of the cell squares with the zone; every other cell lies wholly inside or wholly outside,
which GDAL's cell-centre rasterisation decides exactly. So a parcel much smaller than a cell still gets
the value of the cells it touches, weighted by the share of each it covers, and the work grows with the
zone's perimeter, not its area.

Statistics are weighted by coverage × ground cell area (cells of a longitude/latitude raster shrink
northwards): ``mean``, ``std`` (population), ``median`` and ``pNN`` (weighted Hazen quantiles,
which equal ``numpy.percentile(..., method="hazen")`` when weights are equal), ``min``/``max`` over the
touched cells, ``count`` (Σ coverage fraction of cells with data, as exactextract counts) and ``sum``
(Σ coverage × value). Large zones are read in chunks of ``CHUNK``² cells; when a zone has more than
``QUANTILE_CELLS`` cells with data its quantiles come from a 65 536-bin weighted histogram (second
pass), accurate to (max − min)/65 536.

Areas agree with :func:`gis.area.area_m2`: ``area_m2`` is the zone's ellipsoidal area, and a
condition (``where="<15"``) is measured as the coverage-weighted share of cell area meeting it, times
that area. ``where_share`` is the share of the land *with data* meeting the condition;
``where_area_m2`` = ``area_m2`` × ``data_share`` × ``where_share``, so land without data is never
counted as meeting it.
"""

from __future__ import annotations

import logging
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio import features
from rasterio.windows import Window

from ._raster_io import cell_area_m2, choose_band, open_raster, raster_crs, raster_env, read_valid, require_some_data, zones_in_raster_crs
from .area import area_m2
from .errors import InputError
from .units import m2_to_mu

__all__ = ["zonal_stats", "buildable_share", "coverage_fractions", "parse_stats", "parse_where",
           "DEFAULT_STATS", "CHUNK", "QUANTILE_CELLS"]

log = logging.getLogger(__name__)

DEFAULT_STATS = ("mean", "min", "max", "count")
CHUNK = 2048
QUANTILE_CELLS = 8_000_000
_HIST_BINS = 65_536
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
@dataclass
class _Acc:
    s_in: float = 0.0  # Σ coverage × cell area, every touched cell inside the raster
    s_valid: float = 0.0  # … of cells with data
    s_meet: float = 0.0  # … of cells with data meeting the condition
    count: float = 0.0
    sum: float = 0.0
    shift: float | None = None
    m1: float = 0.0
    m2: float = 0.0
    vmin: float = math.inf
    vmax: float = -math.inf
    n_cells: int = 0
    values: list = field(default_factory=list)
    weights: list = field(default_factory=list)
    collecting: bool = True


def _chunks(r0, r1, c0, c1):
    for r in range(r0, r1, CHUNK):
        for c in range(c0, c1, CHUNK):
            yield r, c, min(CHUNK, r1 - r), min(CHUNK, c1 - c)


def _zone_cells(ds, band, crs, transform, geom_px, window):
    """Yield (values, coverage, weight) of the cells with data touched by the zone, chunk by chunk,
    and the Σ coverage × area of all touched cells (with or without data)."""
    r0, r1, c0, c1 = window
    for r, c, h, w in _chunks(r0, r1, c0, c1):
        f = coverage_fractions(geom_px, r, c, h, w)
        sel = f > 0
        if not sel.any():
            continue
        rows, cols = np.nonzero(sel)
        areas = cell_area_m2(crs, transform, np.arange(r, r + h), c + w / 2.0 - 0.5)
        fs = f[sel]
        ws = fs * areas[rows]
        v = read_valid(ds, band, Window(c, r, w, h))[sel]
        ok = ~np.isnan(v)
        yield v[ok], fs[ok], ws[ok], float(ws.sum())


def _quantiles_exact(values, weights, qs):
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    total = w.sum()
    pos = (np.cumsum(w) - w / 2.0) / total  # weighted Hazen plotting positions
    return [float(np.interp(q, pos, v)) for q in qs]


def _quantiles_hist(hist, lo, hi, qs):
    total = hist.sum()
    edges = np.linspace(lo, hi, len(hist) + 1)
    cum = np.r_[0.0, np.cumsum(hist)] / total
    return [float(np.interp(q, cum, edges)) for q in qs]


def zonal_stats(raster_path, zones_gdf, *, stats=DEFAULT_STATS, band: int | None = None,
                where: str | None = None) -> pd.DataFrame:
    """Statistics of a raster band under each zone, as a new DataFrame on the zones' index.

    Columns: the requested ``stats``; ``area_m2`` and ``area_mu`` (ellipsoidal, :func:`gis.area.area_m2`);
    ``data_share`` (share of the zone on cells with data); with ``where``, ``where_share`` (share of
    the land with data meeting the condition), ``where_area_m2`` and ``where_area_mu``; and
    ``finding`` (None, or why a zone has no or partial statistics). Every zone gets a row.
    Zones in another CRS are reprojected to the raster's (with a log message).
    """
    names = parse_stats(stats)
    cond = parse_where(where) if where is not None else None
    qnames = [n for n in names if _quantile_of(n) is not None]
    qs = [_quantile_of(n) for n in qnames]
    raster_path = Path(raster_path)
    index = zones_gdf.index
    n = len(zones_gdf)
    areas = area_m2(zones_gdf).to_numpy()
    findings = np.full(n, None, dtype=object)
    res = {name: np.full(n, np.nan) for name in names}
    s_in = np.zeros(n)
    s_valid = np.zeros(n)
    s_meet = np.zeros(n)
    with raster_env(), open_raster(raster_path) as ds:
        crs = raster_crs(ds)
        b = choose_band(ds, band)
        units = ds.tags().get("units")
        if units and where is not None:
            log.info("%s holds %s: the condition %r is read in those units", raster_path.name, units, where)
        geoms = np.asarray(zones_in_raster_crs(zones_gdf, crs, raster_name=raster_path.name).values, dtype=object)
        t = ds.transform
        inv = ~t
        geoms_px = shapely.transform(geoms, lambda xy: np.column_stack([
            inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c, inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f]))
        frac_in = _share_inside_raster(geoms, ds, crs)
        missing = shapely.is_missing(geoms)
        empty = ~missing & shapely.is_empty(geoms)
        tid = np.where(missing | empty, -1, shapely.get_type_id(geoms))
        polygonal = np.isin(tid, (3, 6)) | ((tid == 7) & (areas > 0))
        findings[missing] = "no geometry"
        findings[empty] = "empty geometry"
        other = ~missing & ~empty & ~polygonal
        findings[other] = [f"not a polygon ({g.geom_type}): zonal statistics need polygons"
                           for g in geoms[other]]
        todo = np.flatnonzero(polygonal)
        bad = todo[~shapely.is_valid(geoms_px[todo])]
        if len(bad):
            log.info("%d invalid zone geometries measured after make_valid", len(bad))
            geoms_px[bad] = shapely.make_valid(geoms_px[bad])
        coll = todo[shapely.get_type_id(geoms_px[todo]) == 7]
        if len(coll):  # keep the polygons of a geometry collection
            geoms_px[coll] = [_polygonal(g) for g in geoms_px[coll]]
        bounds = shapely.bounds(geoms_px[todo]) if len(todo) else np.zeros((0, 4))
        r0 = np.clip(np.floor(bounds[:, 1]), 0, ds.height).astype(int)
        r1 = np.clip(np.ceil(bounds[:, 3]), 0, ds.height).astype(int)
        c0 = np.clip(np.floor(bounds[:, 0]), 0, ds.width).astype(int)
        c1 = np.clip(np.ceil(bounds[:, 2]), 0, ds.width).astype(int)
        order = np.lexsort((c0, r0))  # neighbouring zones one after another: GDAL's cache serves them
        for k, j in enumerate(order):
            i = todo[j]
            if r0[j] >= r1[j] or c0[j] >= c1[j] or geoms_px[i] is None:
                continue
            win = (r0[j], r1[j], c0[j], c1[j])
            acc = _accumulate(ds, b, crs, t, geoms_px[i], win, cond, bool(qnames))
            s_in[i], s_valid[i], s_meet[i] = acc.s_in, acc.s_valid, acc.s_meet
            if acc.s_valid > 0:
                _finish(res, i, names, acc, qnames, qs, ds, b, crs, t, geoms_px[i], win, index[i])
            if len(order) > 50 and (k + 1) % max(1, len(order) // 10) == 0:
                log.info("zonal statistics: %d of %d zones", k + 1, len(order))
        inside = polygonal & (s_in > 0)
        findings[polygonal & (s_in <= 0)] = "outside the raster: no statistics"
        nodata = inside & (s_valid <= 0)
        findings[nodata] = "only nodata cells under the zone: no statistics"
        if nodata.any() and not (s_valid > 0).any():
            require_some_data(ds, b, what=raster_path.name)
    with np.errstate(invalid="ignore", divide="ignore"):
        data_share = np.where(inside, frac_in * s_valid / np.where(s_in > 0, s_in, 1.0), np.where(polygonal, 0.0, np.nan))
        partial = inside & (s_valid > 0) & (data_share < 1.0 - 1e-9)
        findings[partial] = [f"{100 * (1 - d):.1f}% of the zone has no data (nodata cells or outside the raster)"
                             for d in data_share[partial]]
        out = pd.DataFrame({name: res[name] for name in names}, index=index)
        if "count" in out:  # a zone over nodata has no cell with data (0); one off the raster has no count
            out.loc[inside & ~(s_valid > 0), "count"] = 0.0
        out["area_m2"] = areas
        out["area_mu"] = m2_to_mu(areas)
        out["data_share"] = data_share
        if cond is not None:
            out["where_share"] = np.where(s_valid > 0, s_meet / np.where(s_valid > 0, s_valid, 1.0), np.nan)
            out["where_area_m2"] = np.where(s_valid > 0, areas * data_share * out["where_share"].to_numpy(), np.nan)
            out["where_area_mu"] = m2_to_mu(out["where_area_m2"])
    out["finding"] = findings
    out.attrs.update(raster=raster_path.name, band=b, where=where, units=units)
    n_find = int(pd.notna(out["finding"]).sum())
    if n_find:
        log.info("%d of %d zones have a finding (see the finding column)", n_find, n)
    return out


def _accumulate(ds, band, crs, t, geom_px, win, cond, want_quantiles) -> _Acc:
    acc = _Acc(collecting=want_quantiles)
    for v, f, w, s_all in _zone_cells(ds, band, crs, t, geom_px, win):
        acc.s_in += s_all
        if not len(v):
            continue
        if acc.shift is None:
            acc.shift = float(np.average(v, weights=w)) if w.sum() > 0 else float(v[0])
        d = v - acc.shift
        acc.s_valid += float(w.sum())
        acc.m1 += float((w * d).sum())
        acc.m2 += float((w * d * d).sum())
        acc.count += float(f.sum())
        acc.sum += float((f * v).sum())
        acc.vmin = min(acc.vmin, float(v.min()))
        acc.vmax = max(acc.vmax, float(v.max()))
        if cond is not None:
            acc.s_meet += float(w[cond(v)].sum())
        acc.n_cells += len(v)
        if acc.collecting:
            if acc.n_cells > QUANTILE_CELLS:
                acc.collecting = False
                acc.values, acc.weights = [], []
            else:
                acc.values.append(v)
                acc.weights.append(w)
    return acc


def _finish(res, i, names, acc, qnames, qs, ds, band, crs, t, geom_px, win, label):
    mean_d = acc.m1 / acc.s_valid
    simple = {"mean": acc.shift + mean_d, "std": math.sqrt(max(acc.m2 / acc.s_valid - mean_d**2, 0.0)),
              "min": acc.vmin, "max": acc.vmax, "count": acc.count, "sum": acc.sum}
    for name in names:
        if name in simple:
            res[name][i] = simple[name]
    if not qnames:
        return
    if acc.collecting:
        values = _quantiles_exact(np.concatenate(acc.values), np.concatenate(acc.weights), qs)
    elif acc.vmax == acc.vmin:
        values = [acc.vmin] * len(qs)
    else:
        log.info("zone %s has %d cells with data: quantiles from a %d-bin histogram", label, acc.n_cells, _HIST_BINS)
        hist = np.zeros(_HIST_BINS)
        for v, _f, w, _s in _zone_cells(ds, band, crs, t, geom_px, win):
            if len(v):
                hist += np.histogram(v, bins=_HIST_BINS, range=(acc.vmin, acc.vmax), weights=w)[0]
        values = _quantiles_hist(hist, acc.vmin, acc.vmax, qs)
    for name, value in zip(qnames, values):
        res[name][i] = value


def _share_inside_raster(geoms, ds, crs) -> np.ndarray:
    """Share (0–1) of each zone's ellipsoidal area inside the raster's footprint; 1 when wholly inside."""
    t = ds.transform
    corners = [t @ (0, 0), t @ (ds.width, 0), t @ (ds.width, ds.height), t @ (0, ds.height)]
    footprint = shapely.Polygon(corners)
    share = np.ones(len(geoms))
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    idx = np.flatnonzero(present)
    if not len(idx):
        return share
    g = geoms[idx]
    bad = ~shapely.is_valid(g)
    if bad.any():
        g = g.copy()
        g[bad] = shapely.make_valid(g[bad])
    within = shapely.within(g, footprint)
    part = idx[~within]
    if len(part):
        cut = shapely.intersection(g[~within], footprint)
        whole = area_m2(g[~within], crs=crs).to_numpy()
        inside = area_m2(cut, crs=crs).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            share[part] = np.where(whole > 0, np.clip(inside / whole, 0.0, 1.0), 0.0)
    return share


def buildable_share(raster_path, zones_gdf, *, where: str = "<15", band: int | None = None,
                    name: str = "buildable_share") -> pd.Series:
    """Share (0–1) of each zone's land with data meeting ``where`` (e.g. slope under 15), as a Series
    on the zones' index, ready to join to an area report or a map. NaN where the zone has no data."""
    stats = zonal_stats(raster_path, zones_gdf, stats=(), band=band, where=where)
    return stats["where_share"].rename(name)
