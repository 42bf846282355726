"""Land-intensity metrics per parcel and per group, on areas measured on the ellipsoid.

Every ratio is a numerator column over a denominator column (:data:`METRICS`). Per parcel it is
``num / den``; per group it is Σ num ÷ Σ den over the parcels where both are known — never the mean of
the parcels' ratios (a 1-亩 parcel and a 100-亩 parcel do not weigh the same). A denominator that is
missing, zero or below ``min_area_m2`` gives NaN (reported as ``missing`` by the rules), never a
division by zero; a missing numerator is never read as 0.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> g = gpd.GeoDataFrame({"investment_wan": [3000.0]}, geometry=[box(0, 0, 100, 200)], crs="EPSG:4544")
>>> m = parcel_metrics(g)
>>> round(float(m["investment_intensity_wan_per_mu"].iloc[0]), 3) == round(3000 / (float(m["area_m2"].iloc[0]) / (2000 / 3)), 3)
True
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .area import area_m2 as _measure
from .findings import concat_findings, row_findings
from .indicators import indicator_lacking, indicator_sums, indicator_values, load_registry, metric_table
from .units import HA_M2, MU_M2

__all__ = [
    "METRICS", "MIN_AREA_M2", "DECLARED_TOLERANCE_PCT",
    "parcel_metrics", "area_findings", "safe_ratio", "aggregate", "summarise", "indicator_notes", "SUMMARY_METRICS",
    "level_sums", "GroupTotals", "add_sums", "metric_pairs", "finish_sums", "summary_levels", "stack_summary", "metric_ratio",
]

log = logging.getLogger(__name__)

MIN_AREA_M2 = 1.0
"""Parcels smaller than this (m²) get no per-area metrics (a sliver or a digitising error)."""
DECLARED_TOLERANCE_PCT = 5.0
"""Declared area further than this from the measured area is a finding."""

# name: (numerator column, denominator column, factor, unit, 中文, English), from gis/data/indicators.yaml
METRICS: dict[str, tuple[str, str, float, str, str, str]] = metric_table()

_AREA_DENOMINATORS = ("area_m2", "area_mu", "area_ha")


def safe_ratio(num, den, *, min_den: float = 0.0) -> np.ndarray:
    """``num / den`` as floats; NaN where either is missing or ``den <= min_den`` (never inf, no warnings)."""
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    ok = np.isfinite(num) & np.isfinite(den) & (den > min_den)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=ok)
    return out


def _usable_area_m2(frame: pd.DataFrame, min_area_m2: float) -> np.ndarray:
    a = frame["area_m2"].to_numpy(dtype="float64")
    return np.where(a >= min_area_m2, a, np.nan)


def parcel_metrics(gdf, *, min_area_m2: float = MIN_AREA_M2) -> pd.DataFrame:
    """A new frame: the input plus measured ``area_m2``/``area_mu``/``area_ha``, ``declared_diff_pct``
    and every metric of :data:`METRICS` whose numerator column exists (NaN where it cannot be computed).

    The area is measured with :func:`gis.area.area_m2` (ellipsoidal), replacing any ``area_*`` column
    the input carried; the declared area (``declared_area_mu``) is kept for comparison only.
    """
    measured = _measure(gdf).to_numpy()
    usable_m2 = np.where(measured >= min_area_m2, measured, np.nan)
    dens = {"area_m2": usable_m2, "area_mu": usable_m2 / MU_M2, "area_ha": usable_m2 / HA_M2}
    cols = {"area_m2": measured, "area_mu": measured / MU_M2, "area_ha": measured / HA_M2}
    if "declared_area_mu" in gdf.columns:
        declared = gdf["declared_area_mu"].to_numpy(dtype="float64")
        cols["declared_diff_pct"] = 100.0 * safe_ratio(declared - dens["area_mu"], dens["area_mu"])
    else:
        cols["declared_diff_pct"] = np.full(len(gdf), np.nan)
    for name, (num, den, factor, *_rest) in METRICS.items():
        if num not in gdf.columns:
            cols[name] = np.full(len(gdf), np.nan)
            continue
        d = dens[den] if den in dens else (gdf[den].to_numpy(dtype="float64") if den in gdf.columns else np.nan)
        cols[name] = factor * safe_ratio(gdf[num].to_numpy(dtype="float64"), d)
    # one concat instead of twenty column insertions; measured areas replace any typed-in area_* columns
    kept = gdf.drop(columns=[c for c in cols if c in gdf.columns])
    out = pd.concat([kept, pd.DataFrame(cols, index=gdf.index)], axis=1)
    return out.__finalize__(gdf) if not hasattr(gdf, "geometry") else _as_geo(out, gdf)


def _as_geo(out, like):
    import geopandas as gpd

    return gpd.GeoDataFrame(out, geometry=like.geometry.name, crs=like.crs)


def area_findings(frame: pd.DataFrame, *, min_area_m2: float = MIN_AREA_M2,
                  declared_tolerance_pct: float = DECLARED_TOLERANCE_PCT) -> pd.DataFrame:
    """Findings about measured areas: no geometry, zero or tiny area, declared area far from measured."""
    a = frame["area_m2"].to_numpy(dtype="float64")
    parts = [
        row_findings(frame, np.isnan(a), kind="data", check="no_geometry", severity="error", column="geometry",
                     reason_zh="缺少宗地图形，无法量算面积", reason_en="no geometry: the area cannot be measured"),
        row_findings(frame, a == 0, kind="data", check="zero_area", severity="error", column="geometry", value=a,
                     reason_zh="宗地面积为零（空图形、点或线）", reason_en="zero area (empty geometry, point or line)"),
        row_findings(frame, (a > 0) & (a < min_area_m2), kind="data", check="tiny_area", severity="error", column="geometry",
                     value=a, threshold=min_area_m2,
                     reason_zh=f"宗地面积小于 {min_area_m2:g} 平方米，不计算地均指标",
                     reason_en=f"area below {min_area_m2:g} m²: no per-area metrics computed"),
    ]
    if "declared_diff_pct" in frame.columns:
        d = frame["declared_diff_pct"].to_numpy(dtype="float64")
        parts.append(row_findings(
            frame, np.abs(d) > declared_tolerance_pct, kind="data", check="declared_area_differs", severity="warning",
            column="declared_area_mu", value=d, threshold=declared_tolerance_pct,
            reason_zh=f"申报面积与实测（椭球）面积相差超过 {declared_tolerance_pct:g}%（value 为相差百分比）",
            reason_en=f"declared area differs from the measured ellipsoidal area by more than {declared_tolerance_pct:g} % (value = difference in %)"))
    return concat_findings(parts, ids=frame)


# ------------------------------------------------------------------------------------ aggregates
def _group_codes(frame: pd.DataFrame, level: str | None):
    if level is None:
        return np.zeros(len(frame), dtype=np.int64), pd.Index(["(all)"], dtype="object")
    if level not in frame.columns:
        raise KeyError(level)
    col = frame[level]
    if isinstance(col.dtype, pd.CategoricalDtype):  # codes are there already
        codes, uniques = np.asarray(col.cat.codes, dtype=np.int64), pd.Index(col.cat.categories.astype(object), dtype="object")
    else:
        codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    if (codes < 0).any():  # parcels without a value of the level form their own group
        codes = np.where(codes < 0, len(uniques), codes)
        uniques = pd.Index(list(uniques) + ["(none)"], dtype="object")
    return codes, pd.Index(uniques, dtype="object")


def _sum(codes, values, n, mask=None):
    """Σ of the finite values per group (NaN counts as nothing, never as a 0 parcel)."""
    v = np.asarray(values, dtype="float64")
    ok = np.isfinite(v) if mask is None else (np.isfinite(v) & mask)
    return np.bincount(codes, weights=np.where(ok, v, 0.0), minlength=n)


def _metric_sums(frame: pd.DataFrame, codes, n: int, names, *, sel=None, min_area_m2: float = MIN_AREA_M2) -> dict:
    """Additive sums of metrics per group: ``{name: (Σ numerator, Σ denominator, parcels counted)}``.

    Only parcels where both numerator and denominator are known count, on both sides; a metric whose
    columns the frame lacks is NaN (its count 0)."""
    out = {}
    for name, pair in metric_pairs(frame, names, sel=sel, min_area_m2=min_area_m2).items():
        if pair is None:
            out[name] = (np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int64))
            continue
        num, den, both = pair
        out[name] = (_sum(codes, num, n, both), _sum(codes, den, n, both), np.bincount(codes[both], minlength=n))
    return out


def metric_pairs(frame: pd.DataFrame, names, *, sel=None, min_area_m2: float = MIN_AREA_M2) -> dict:
    """``{name: (numerator, denominator, counted)}`` arrays of each metric (None when the frame lacks its
    columns); counted = in ``sel`` with both sides known and a positive denominator."""
    sel = np.ones(len(frame), dtype=bool) if sel is None else np.asarray(sel, dtype=bool)
    usable = _usable_area_m2(frame, min_area_m2)
    dens = {"area_m2": usable, "area_mu": usable / MU_M2, "area_ha": usable / HA_M2}
    out = {}
    for name in names:
        num_col, den_col = METRICS[name][:2]
        if num_col not in frame.columns or (den_col not in dens and den_col not in frame.columns):
            out[name] = None
            continue
        num = frame[num_col].to_numpy(dtype="float64")
        den = dens[den_col] if den_col in dens else frame[den_col].to_numpy(dtype="float64")
        out[name] = (num, den, sel & np.isfinite(num) & np.isfinite(den) & (den > 0))
    return out


def metric_ratio(name: str, s_num, s_den) -> np.ndarray:
    """Σ numerator ÷ Σ denominator × the metric's factor (NaN where Σ denominator is 0 or unknown)."""
    return METRICS[name][2] * safe_ratio(s_num, s_den)


def aggregate(frame: pd.DataFrame, level: str | None, *, mask=None, metrics=None,
              min_area_m2: float = MIN_AREA_M2) -> pd.DataFrame:
    """Σ numerator ÷ Σ denominator of each metric per group of ``level`` (None = everything).

    Only parcels where both numerator and denominator are known count, on both sides of the
    fraction; ``<metric>_n`` says how many parcels that was. ``mask`` restricts the parcels.
    """
    codes, groups = _group_codes(frame, level)
    n = len(groups)
    sel = np.ones(len(frame), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = {"n_parcels": np.bincount(codes[sel], minlength=n)}
    for name, (s_num, s_den, cnt) in _metric_sums(frame, codes, n, list(metrics or METRICS), sel=sel,
                                                  min_area_m2=min_area_m2).items():
        out[name] = metric_ratio(name, s_num, s_den)
        out[f"{name}_n"] = cnt
    return pd.DataFrame(out, index=groups)


def _industrial_mask(frame):
    if "is_industrial" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame["is_industrial"].fillna(False).to_numpy(dtype=bool)


SUMMARY_METRICS = ("investment_intensity_wan_per_mu", "output_intensity_wan_per_mu", "tax_intensity_wan_per_mu", "far",
                   "building_coverage", "green_ratio", "admin_share")
"""The per-parcel metrics every summary row gives as Σ/Σ."""
_STATUSES = ("planned", "supplied", "under_construction", "built", "idle")
_MONEY = ("investment_wan", "output_wan", "tax_wan", "value_added_wan")


class GroupTotals:
    """Per-group sums for several summary levels of one frame from one pass over its rows.

    Each addend is summed once per combination of the levels' groups (one ``bincount`` over the rows);
    a level's sums are then sums over those combinations, which are few. ``levels`` maps each level to
    its ``(codes, groups)`` (:func:`_group_codes`; codes ≥ 0).
    """

    def __init__(self, levels: dict):
        self.levels = dict(levels)
        combo, size = np.zeros(0, np.int64), 0
        for k, (codes, groups) in enumerate(self.levels.values()):  # two at a time: the numbers stay below the rows
            combo, uniques = pd.factorize(codes if k == 0 else combo * len(groups) + codes, sort=False)
            combo, size = combo.astype(np.int64), len(uniques)
        self.combo, self.n = combo, size
        first = np.full(self.n, -1, dtype=np.int64)
        first[self.combo[::-1]] = np.arange(len(self.combo))[::-1]  # a row of each combination
        self.of_combo = {lv: codes[first] for lv, (codes, _) in self.levels.items()}
        self._sums: dict = {}

    def total(self, key, weights, level) -> np.ndarray:
        """Σ ``weights`` per group of ``level`` (``key`` names the addend, kept for the other levels)."""
        if key not in self._sums:
            self._sums[key] = np.bincount(self.combo, weights=weights, minlength=self.n)
        return np.bincount(self.of_combo[level], weights=self._sums[key], minlength=len(self.levels[level][1]))

    def count(self, key, mask, level) -> np.ndarray:
        """How many rows of each group of ``level`` ``mask`` holds."""
        if key not in self._sums:
            self._sums[key] = np.bincount(self.combo[mask], minlength=self.n)
        return np.bincount(self.of_combo[level], weights=self._sums[key],
                           minlength=len(self.levels[level][1])).astype(np.int64)


def level_sums(frame: pd.DataFrame, level: str | None, *, min_area_m2: float = MIN_AREA_M2,
               cache: dict | None = None, totals: GroupTotals | None = None) -> pd.DataFrame:
    """The additive part of a summary level: one row per group (index), sums only, so the sums of
    several partitions add up (:func:`add_sums`) and :func:`finish_sums` turns them into the summary.

    ``cache`` (a dict kept between the levels of one frame) keeps each parcel's addends; ``totals`` (a
    :class:`GroupTotals` holding this level and the others) sums every level in one pass over the rows."""
    if totals is None or level not in totals.levels:
        totals = GroupTotals({level: _group_codes(frame, level)})
    codes, groups = totals.levels[level]
    n = len(groups)
    cache = {} if cache is None else cache
    key = ("level_addends", min_area_m2)
    if key not in cache:
        cache[key] = _level_addends(frame, min_area_m2)
    cols = {"n_parcels": totals.count("n_parcels", np.ones(len(codes), dtype=bool), level)}
    for name, w in cache[key].items():
        if w is None:
            cols[name] = np.full(n, np.nan)
        elif w.dtype == bool:  # a count
            cols[name] = totals.count(name, w, level)
        else:
            cols[name] = totals.total(name, w, level)
    for name, (s_num, s_den) in indicator_sums(frame, codes, n, min_area_m2=min_area_m2, cache=cache,
                                               totals=totals, level=level).items():
        cols[f"Σnum:{name}"] = s_num
        if s_den is not None:
            cols[f"Σden:{name}"] = s_den
    return pd.DataFrame(cols, index=groups)


def _level_addends(frame: pd.DataFrame, min_area_m2: float) -> dict:
    """Each parcel's addend to every additive column of :func:`level_sums` but the indicators', the same at
    every level: 0 where a parcel does not count (a missing value is no 0 parcel, it is left out); a
    boolean array for a count; None for a metric whose columns the frame lacks (its sums are NaN)."""
    def addend(values, mask=None):
        ok = np.isfinite(values) if mask is None else (np.isfinite(values) & mask)
        return np.where(ok, values, 0.0)

    mu = _usable_area_m2(frame, min_area_m2) / MU_M2
    out = {"area_mu": addend(mu)}
    if "declared_area_mu" in frame.columns:
        out["declared_area_mu"] = addend(frame["declared_area_mu"].to_numpy(dtype="float64"))
    if "status" in frame.columns:
        status, seen = pd.factorize(frame["status"])
        for st in _STATUSES:
            out[f"{st}_area_mu"] = addend(mu, status == (seen.get_loc(st) if st in seen else -2))
    out["industrial_area_mu"] = addend(mu, _industrial_mask(frame))
    for money in _MONEY:
        if money in frame.columns:
            out[money] = addend(frame[money].to_numpy(dtype="float64"))
    for name, pair in metric_pairs(frame, SUMMARY_METRICS, min_area_m2=min_area_m2).items():
        if pair is None:
            out[f"Σnum:{name}"] = out[f"Σden:{name}"] = None
            out[f"{name}_n"] = np.zeros(len(frame), dtype=bool)
            continue
        num, den, both = pair
        out[f"Σnum:{name}"], out[f"Σden:{name}"], out[f"{name}_n"] = addend(num, both), addend(den, both), both
    return out


def add_sums(parts) -> pd.DataFrame:
    """The sums of several partitions' :func:`level_sums` (or any table of additive columns on group keys):
    groups in the order one frame gives them (sorted, ``(none)`` last); a column NaN in every part stays NaN."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1:
        return parts[0]
    both = pd.concat(parts)
    out = both.groupby(level=0, sort=False).sum(min_count=1)
    ints = [c for c in both.columns if pd.api.types.is_integer_dtype(both[c])]
    for c in ints:
        out[c] = out[c].fillna(0).astype(np.int64)
    return out.reindex(_sorted_groups(out.index))


def _sorted_groups(index) -> pd.Index:
    keys = [k for k in index if not (isinstance(k, str) and k == "(none)")]
    try:
        keys = sorted(keys)
    except TypeError:
        keys = sorted(keys, key=str)
    return pd.Index(keys + (["(none)"] if len(keys) < len(index) else []), dtype="object")


def finish_sums(sums: pd.DataFrame, *, zone_area_m2=None) -> pd.DataFrame:
    """Summary columns from a level's sums: the additive columns, then Σ/Σ of :data:`SUMMARY_METRICS`
    (with ``<metric>_n``) and the registry's development-zone indicators (``zone_area_m2`` per group
    for those over the zone's own land)."""
    plain = [c for c in sums.columns if not str(c).startswith(("Σnum:", "Σden:")) and not str(c).endswith("_n")]
    out = {c: sums[c].to_numpy() for c in plain}
    for name in SUMMARY_METRICS:
        out[name] = metric_ratio(name, sums[f"Σnum:{name}"].to_numpy(dtype="float64"),
                                 sums[f"Σden:{name}"].to_numpy(dtype="float64"))
        out[f"{name}_n"] = sums[f"{name}_n"].to_numpy()
    ind = {name: (sums[f"Σnum:{name}"].to_numpy(dtype="float64"),
                  sums[f"Σden:{name}"].to_numpy(dtype="float64") if f"Σden:{name}" in sums.columns else None)
           for name in load_registry()["zone_indicators"]}
    out.update(indicator_values(ind, zone_area_m2=zone_area_m2))
    return pd.DataFrame(out, index=sums.index)


def summary_levels(frame: pd.DataFrame, *, levels=("park_id", "zone_id"), by=None) -> list:
    """The summary levels a frame has, in order: None (the whole layer), ``levels`` then ``by``."""
    wanted = [None, *levels, *([by] if isinstance(by, str) else (by or []))]
    out = []
    for level in wanted:
        if level in out:
            continue
        if level is not None and level not in frame.columns:
            log.info("no column %s: no summary by it", level)
            continue
        out.append(level)
    return out


def stack_summary(tables: dict) -> pd.DataFrame:
    """Summary tables per level (``{level or None: frame on group keys}``) stacked with ``level`` and ``group``."""
    parts = []
    for level, part in tables.items():
        part = part.copy()
        part.insert(0, "group", part.index.astype("object"))
        part.insert(0, "level", level or "all")
        parts.append(part.reset_index(drop=True))
    return pd.concat(parts, ignore_index=True)


def summarise(frame: pd.DataFrame, *, levels=("park_id", "zone_id"), by=None,
              min_area_m2: float = MIN_AREA_M2) -> pd.DataFrame:
    """Σ/Σ aggregates and the intensive-use indicators for every group of every level, stacked.

    Columns ``level`` and ``group`` say which group a row is; the first row (level ``all``) is the
    whole layer. Levels missing from the frame are skipped (logged). The one-partition case of
    :func:`level_sums` → :func:`add_sums` → :func:`finish_sums`.
    """
    chosen = summary_levels(frame, levels=levels, by=by)
    cache: dict = {}
    totals = GroupTotals({level: _group_codes(frame, level) for level in chosen})
    return stack_summary({level: finish_sums(level_sums(frame, level, min_area_m2=min_area_m2, cache=cache,
                                                        totals=totals)) for level in chosen})


def indicator_notes(frame: pd.DataFrame) -> pd.DataFrame:
    """The development-zone indicators of the registry: formula (source), unit, and whether and why
    not they were computed from this frame (without a zones layer 土地开发率 lacks the zones' land).
    Depends on the frame's columns only."""
    notes = indicator_lacking(frame)
    return pd.DataFrame({"column": notes["indicator"], "indicator_zh": notes["name_zh"], "indicator_en": notes["name_en"],
                         "formula": notes["source"], "unit": notes["unit"], "reported": notes["reported"],
                         "computed": notes["computed"], "why_not": notes["lacking"]})
