"""Find what is wrong with a parcel or zone layer before anyone signs: one row per finding.

Checks: missing and empty geometries; points or lines in a polygon layer; invalid geometry (the
reason and where, and the area after repair); 3D coordinates and multipolygons (information);
duplicate ids; overlaps between features with their area in 亩; features (partly) outside the
park layer they should lie in; gaps (holes in the union of the features, and park land no feature
covers); slivers (very thin polygons). In a nested layer with a ``parent_id`` column, a feature
overlapping its own ancestor (a zone inside its park) is by design and not reported; with a ``kind``
column only features of the same kind must not overlap, kinds drawn only as lines or points (axes,
centres) are information, and land between zones is information, not a gap to fix. Areas are ellipsoidal (:mod:`gis.area`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import _to_lonlat, area_m2, local_equal_area_coords
from .crs import require_crs
from .findings import FINDING_COLUMNS
from .parallel import map_array
from .units import MU_M2

__all__ = ["validate", "ValidationReport", "default_id_field", "FINDING_COLUMNS", "ALL_CHECKS", "row_notes",
           "CHECK_NAMES_ZH"]

log = logging.getLogger(__name__)

CHECK_NAMES_ZH = {
    "missing_geometry": "缺少几何，面积未知", "empty_geometry": "几何为空", "not_polygon": "不是面要素，没有面积",
    "3d_coordinates": "含高程（Z），计算面积时忽略", "multipolygon": "多部件面，按一个要素计算",
    "invalid_geometry": "几何无效（自相交等），按修复后计算", "duplicate_id": "编号重复", "missing_id": "缺少编号",
    "overlap": "与其他要素重叠", "gap": "要素之间有空隙", "sliver": "狭长碎片", "outside": "超出园区范围",
    "uncovered": "园区内有未覆盖的土地", "collection": "几何集合，按其中的面计算面积", "within": "范围图层没有面", "own_hole": "要素自身的洞（飞地），不是空隙",
}
"""The Chinese wording of each check, for ``reason_zh``."""

_POLYGONAL = (3, 6)  # Polygon, MultiPolygon


@dataclass(frozen=True)
class ValidationReport:
    """Findings (one row each, columns :data:`FINDING_COLUMNS`) and the id field used."""

    findings: pd.DataFrame
    id_field: str | None
    n_features: int
    valid: np.ndarray | None = None  # shapely validity per row (non-polygons count as valid)

    @property
    def problems(self) -> pd.DataFrame:
        """Findings that should stop a sign-off (severity error or warning)."""
        return self.findings[self.findings["severity"].isin(["error", "warning"])]

    def counts(self) -> pd.Series:
        return self.findings.groupby("check").size().rename("count")


def default_id_field(gdf) -> str | None:
    """``parcel_id`` if present, else ``id``, else None (row numbers are used)."""
    for name in ("parcel_id", "id"):
        if name in gdf.columns:
            return name
    return None


def _labels(gdf, id_field):
    if id_field is None:
        return pd.Series([f"row {i}" for i in range(len(gdf))], index=gdf.index)
    return gdf[id_field].astype("string").fillna("<no id>")


def _location(geoms):
    pts = shapely.point_on_surface(geoms)
    xy = shapely.get_coordinates(pts)
    return xy[:, 0], xy[:, 1]


def _reason_xy(reason: str):
    m = re.search(r"\[([-\d.eE+]+) ([-\d.eE+]+)", reason or "")
    return (float(m.group(1)), float(m.group(2))) if m else (np.nan, np.nan)


ALL_CHECKS = frozenset({"geometry", "ids", "overlaps", "gaps", "slivers"})


def validate(gdf, *, id_field: str | None = None, within=None, sliver_ratio: float = 0.02,
             min_overlap_m2: float = 0.01, min_gap_m2: float = 0.01, rel_tolerance: float = 1e-5,
             min_outside_m2: float = 1.0, checks=ALL_CHECKS) -> ValidationReport:
    """Check a polygon layer anywhere on Earth; returns a :class:`ValidationReport`, never changes ``gdf``.

    ``within`` is a GeoDataFrame of the polygons the features must lie inside (e.g. the park); land
    outside it below ``min_outside_m2`` (default 1 m²) is drawing noise, not an error.
    ``sliver_ratio`` is the isoperimetric quotient 4πA/P² under which a polygon counts as a sliver
    (a square is 0.785, a 100 × 1 strip 0.031), measured in a local equal-area frame per feature.
    Findings are keyed by input row (``row``, 1-based like every findings table), so repeated or blank ids
    never move them.
    """
    crs = require_crs(gdf)
    id_field = id_field if id_field is not None else default_id_field(gdf)
    if id_field is not None and id_field not in gdf.columns:
        from .errors import InputError

        raise InputError(f"no column {id_field!r} for ids; columns are: {', '.join(map(str, gdf.columns))}")
    labels = _labels(gdf, id_field).to_numpy()
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    rows: list[dict] = []

    def add(check, severity, i, message, *, other=None, area=None, x=np.nan, y=np.nan):
        zh = CHECK_NAMES_ZH.get(check, check) + (f"：{area:,.3f} 亩" if area is not None and np.isfinite(area) else "")
        rows.append({"row": i, "kind": "geometry", "check": check, "severity": severity,
                     "feature": labels[i] if i is not None else None, "other": other,
                     "column": "area_mu" if area is not None else None, "value": area, "x": x, "y": y,
                     "reason_en": message, "reason_zh": zh})

    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        add("missing_geometry", "error", i, "no geometry: the row is kept, its area is unknown")
    for i in np.flatnonzero(empty):
        add("empty_geometry", "error", i, "empty geometry: area 0")
    present = ~missing & ~empty
    types = np.full(len(geoms), -1)
    types[present] = shapely.get_type_id(geoms[present])
    polygonal = np.isin(types, _POLYGONAL)
    # in a plan layer with a `kind` column, a kind drawn only as lines or points (axes, centres) is by design
    by_design = np.zeros(len(geoms), dtype=bool)
    if "kind" in gdf.columns:
        kinds = gdf["kind"].astype("string").fillna("").to_numpy()
        line_or_point_kinds = {k for k in set(kinds) if not (polygonal & (kinds == k)).any()}
        by_design = np.isin(kinds, list(line_or_point_kinds))
    collections = np.flatnonzero(present & (types == 7))
    with_polygons = np.zeros(len(geoms), dtype=bool)
    if len(collections):
        from .area import _polygon_parts

        _, owner = _polygon_parts(geoms[collections])
        with_polygons[collections[np.unique(owner)]] = True
    for i in np.flatnonzero(with_polygons):
        n_parts = int(sum(1 for p in shapely.get_parts(geoms[i]) if p.geom_type in ("Polygon", "MultiPolygon")))
        add("collection", "info", i, f"GeometryCollection: its area is that of its {n_parts} polygon part(s); "
            f"points and lines in it have none")
    for i in np.flatnonzero(present & ~polygonal & ~with_polygons):
        name = ["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                "MultiPolygon", "GeometryCollection"][shapely.get_type_id(geoms[i])]
        x, y = _location(np.array([geoms[i]]))
        if by_design[i]:
            add("not_polygon", "info", i, f"{name} ({gdf['kind'].iloc[i]}): not an area", x=x[0], y=y[0])
        else:
            add("not_polygon", "error", i, f"{name} in a polygon layer: it has no area", x=x[0], y=y[0])
    if present.any() and shapely.has_z(geoms[present]).any():
        n3 = int(shapely.has_z(geoms[present]).sum())
        add("3d_coordinates", "info", None, f"{n3} features have Z coordinates: heights are ignored for areas")
    multi = np.flatnonzero(types == 6)
    multi = multi[shapely.get_num_geometries(geoms[multi]) > 1] if len(multi) else multi
    for i in multi:
        add("multipolygon", "info", i, f"MultiPolygon of {shapely.get_num_geometries(geoms[i])} parts: measured as one feature")

    poly_idx = np.flatnonzero(polygonal)
    valid = np.ones(len(geoms), dtype=bool)
    valid[poly_idx] = map_array(shapely.is_valid, geoms[poly_idx])  # on every core: the costliest check
    repaired = geoms.copy()
    bad = np.flatnonzero(~valid)
    if len(bad):
        repaired[bad] = shapely.make_valid(geoms[bad])
        reasons = shapely.is_valid_reason(geoms[bad])
        before = area_m2(gpd.GeoSeries(geoms[bad], crs=crs), repair=False).to_numpy() / MU_M2
        after = area_m2(gpd.GeoSeries(repaired[bad], crs=crs)).to_numpy() / MU_M2
        for i, reason, a0, a1 in zip(bad, reasons, before, after):
            x, y = _reason_xy(reason)
            add("invalid_geometry", "error", i,
                f"{reason.split('[')[0]}: measured after repair (make_valid) as {a1:,.2f} 亩; "
                f"the raw ring sum would give {a0:,.2f} 亩", area=a1, x=x, y=y)

    # duplicate ids
    if id_field is not None and "ids" in checks:
        ids = gdf[id_field]
        dup = ids.duplicated(keep=False) & ids.notna()
        dup_pos = np.flatnonzero(dup.to_numpy())
        if len(dup_pos):  # one finding per set of rows sharing an id, on its first row
            for value, group in pd.Series(dup_pos).groupby(ids.iloc[dup_pos].astype(str).to_numpy(), sort=False):
                where = ", ".join(str(int(r) + 1) for r in group)
                add("duplicate_id", "error", int(group.iloc[0]),
                    f"{id_field} {ids.iloc[group.iloc[0]]!r} is used by {len(group)} features (rows {where})",
                    other=where)
        for pos in np.flatnonzero(ids.isna().to_numpy()):
            add("missing_id", "warning", pos, f"no {id_field}")

    polys = repaired[poly_idx]
    # overlaps
    if len(polys) > 1 and "overlaps" in checks:
        tree = shapely.STRtree(polys)
        a, b = tree.query(polys, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        if len(a):
            inter = shapely.intersection(polys[a], polys[b])
            ov = area_m2(gpd.GeoSeries(inter, crs=crs)).to_numpy()
            own = area_m2(gpd.GeoSeries(polys, crs=crs)).to_numpy()
            hit = (ov > min_overlap_m2) & (ov > rel_tolerance * np.minimum(own[a], own[b]))
            if "kind" in gdf.columns:  # only features of the same kind must not overlap (clusters vs belt)
                kinds = gdf["kind"].astype("string").fillna("").to_numpy()[poly_idx]
                hit &= kinds[a] == kinds[b]
            if "parent_id" in gdf.columns and id_field is not None:
                # a nested layer (park > zone > cluster): a feature overlapping its own ancestor is by design
                nested = _ancestry(gdf[id_field].to_numpy()[poly_idx], gdf["parent_id"].to_numpy()[poly_idx], a, b)
                hit &= ~nested
            if hit.any():
                x, y = _location(inter[hit])
                for ia, ib, area, xx, yy in zip(poly_idx[a[hit]], poly_idx[b[hit]], ov[hit], x, y):
                    other = labels[ib] if labels[ib] != labels[ia] else f"{labels[ib]} (row {ib + 1})"
                    add("overlap", "error", ia, f"overlaps {other} by {area / MU_M2:,.3f} 亩 ({area:,.1f} m²)",
                        other=other, area=area / MU_M2, x=xx, y=yy)

    # gaps: holes in the union of the features
    union = shapely.union_all(polys) if len(polys) and ("gaps" in checks or within is not None) else None
    if union is not None and not union.is_empty and "gaps" in checks:
        # between a plan's zones (parent_id present) open land is the green corridor, not an error
        gap_severity = "info" if "parent_id" in gdf.columns else "warning"
        holes = [shapely.Polygon(r) for p in shapely.get_parts(union) if p.geom_type == "Polygon" for r in p.interiors]
        # a feature's own hole (an enclave it surrounds) is not a gap between features
        own = [shapely.Polygon(r) for p in shapely.get_parts(polys) if p.geom_type == "Polygon" for r in p.interiors]
        own_union = shapely.union_all(own) if own else None
        if holes:
            hole_area = area_m2(gpd.GeoSeries(holes, crs=crs)).to_numpy()
            for h, area in zip(holes, hole_area):
                if own_union is not None and own_union.buffer(0).covers(h.buffer(-1e-9 * max(1.0, h.length))):
                    continue
                if area > min_gap_m2:
                    pt = h.representative_point()
                    add("gap", gap_severity, None, f"gap of {area / MU_M2:,.3f} 亩 ({area:,.1f} m²) enclosed by the features",
                        area=area / MU_M2, x=pt.x, y=pt.y)

    # slivers: thin polygons (isoperimetric quotient in a local equal-area frame per feature: anywhere on Earth)
    if len(polys) and "slivers" in checks:
        local = _local_frames(polys, crs)
        perim = shapely.length(local)
        area = shapely.area(local)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(perim > 0, 4 * np.pi * area / perim**2, 0.0)
        for k in np.flatnonzero((q < sliver_ratio) & (area > 0)):
            i = poly_idx[k]
            x, y = _location(np.array([polys[k]]))
            add("sliver", "warning", i, f"sliver: thinness 4πA/P² = {q[k]:.4f} (a square is 0.785)",
                area=area[k] / MU_M2, x=x[0], y=y[0])

    if within is not None:
        _check_within(within, crs, poly_idx, polys, union, add, min_gap_m2, rel_tolerance, min_outside_m2)

    findings = pd.DataFrame(rows).reindex(columns=FINDING_COLUMNS) if rows else pd.DataFrame(columns=FINDING_COLUMNS)
    findings["row"] = findings["row"].astype("Int64") + 1  # as in every findings table: 1 = the first feature
    for c in ("value", "x", "y", "threshold"):
        findings[c] = findings[c].astype("float64")
    return ValidationReport(findings=findings, id_field=id_field, n_features=len(gdf), valid=valid)


def _ancestry(ids, parents, a, b) -> np.ndarray:
    """True for each pair (a[k], b[k]) where one feature is an ancestor of the other via parent_id."""
    parent_of = {i: p for i, p in zip(ids, parents) if i is not None and isinstance(p, str) and p}

    def ancestors(node):
        seen = set()
        while node in parent_of and node not in seen:
            seen.add(node)
            node = parent_of[node]
            yield node

    return np.array([ids[j] in set(ancestors(ids[i])) or ids[i] in set(ancestors(ids[j])) for i, j in zip(a, b)],
                    dtype=bool)


def _local_frames(polys, crs) -> np.ndarray:
    """The polygons in a Lambert azimuthal equal-area frame centred on each (metres, undistorted there)."""
    from pyproj import CRS

    coords, owner = shapely.get_coordinates(polys, return_index=True)
    lonlat = _to_lonlat(coords, CRS.from_user_input(crs))
    b = shapely.bounds(polys)
    if not CRS.from_user_input(crs).is_geographic:
        b = np.column_stack([pd.Series(lonlat[:, 0]).groupby(owner).min(), pd.Series(lonlat[:, 1]).groupby(owner).min(),
                             pd.Series(lonlat[:, 0]).groupby(owner).max(), pd.Series(lonlat[:, 1]).groupby(owner).max()])
    lon0, lat0 = (b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0
    x, y = local_equal_area_coords(lonlat[:, 0], lonlat[:, 1], lon0[owner], lat0[owner])
    copies = shapely.transform(polys, lambda c: c)  # new geometries, so the input's are never changed
    return shapely.set_coordinates(copies, np.column_stack([x, y]))


def _check_within(within, crs, poly_idx, polys, union, add, min_gap_m2, rel_tolerance, min_outside_m2=1.0):
    within_crs = require_crs(within, what="the layer the features must lie within")
    parks = within.geometry if within_crs.equals(crs) else within.to_crs(crs).geometry
    parks = shapely.make_valid(np.asarray(parks.values, dtype=object))
    parks = parks[~shapely.is_missing(parks) & np.isin(shapely.get_type_id(parks), _POLYGONAL)]
    if not len(parks):
        add("within", "error", None, "the layer the features must lie within has no polygons")
        return
    park_union = shapely.union_all(parks)
    if len(polys):
        outside = shapely.difference(polys, park_union)
        out_area = area_m2(gpd.GeoSeries(outside, crs=crs)).to_numpy()
        total = area_m2(gpd.GeoSeries(polys, crs=crs)).to_numpy()
        for k in np.flatnonzero((out_area > max(min_gap_m2, min_outside_m2)) & (out_area > rel_tolerance * total)):
            share = out_area[k] / total[k] if total[k] > 0 else 1.0
            x, y = _location(np.array([outside[k]]))
            pct = f"{share:.1%}" if share >= 0.001 else f"{share * 100:.2g} %"
            what = "outside the park" if share > 0.999 else f"{pct} outside the park"
            add("outside", "error", poly_idx[k], f"{what}: {out_area[k] / MU_M2:,.3f} 亩", area=out_area[k] / MU_M2,
                x=x[0], y=y[0])
    uncovered = shapely.difference(park_union, union) if union is not None else park_union
    parts = [p for p in shapely.get_parts(np.array([uncovered]))]
    if parts:
        gap_area = area_m2(gpd.GeoSeries(parts, crs=crs)).to_numpy()
        big = gap_area > min_gap_m2
        if big.any():
            add("uncovered", "info", None,
                f"{gap_area[big].sum() / MU_M2:,.2f} 亩 of the park in {int(big.sum())} pieces is covered by no feature",
                area=gap_area[big].sum() / MU_M2)


def row_notes(gdf, report: ValidationReport, *extra: pd.DataFrame) -> pd.Series:
    """One short note per input row summarising its findings (empty where none), on the input's index.

    Findings are matched by input row, never by id; ``extra`` findings tables (e.g. those of
    :func:`gis.io.read`) are noted too.
    """
    # what reading found first (the reason), then what measuring found (the consequence)
    parts = [f[["row", "check"]] for f in (*extra, report.findings) if f is not None and len(f)]
    out = pd.Series("", index=gdf.index, name="findings", dtype=object)
    if not parts:
        return out
    f = pd.concat(parts, ignore_index=True).dropna(subset=["row"])
    f = f[f["check"].astype(str) != "3d_coordinates"]
    if f.empty:
        return out
    # rows are 1-based in findings; positions here are 0-based
    notes = f.groupby(f["row"].astype("int64") - 1)["check"].agg(lambda s: ", ".join(dict.fromkeys(map(str, s))))
    values = np.full(len(out), "", dtype=object)
    rows = notes.index.to_numpy()
    ok = (rows >= 0) & (rows < len(values))
    values[rows[ok]] = notes.to_numpy()[ok]
    return pd.Series(values, index=gdf.index, name="findings", dtype=object)
