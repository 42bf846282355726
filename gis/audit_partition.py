"""The map half of the audit: what one partition of a parcel layer gives on its own.

An audit is planned once (:class:`AuditPlan`: rule packs, summary levels, zones, options) and run as
map and reduce. Each partition is prepared (:func:`prepare`: headers, values, areas, metrics, parcel
rules and their findings), gives its additive facts (:func:`partition_facts`: id hashes for duplicates
across partitions, the sums the scores' ``average`` benchmarks need), its score values when a score
classes by rank (:func:`partition_scores`), and is finished (:func:`finish_partition`: scores, classes
and verdicts with the whole layer's benchmarks and cut-offs, parcels out, findings, and per-group sums
for the summary). :mod:`gis.audit_reduce` adds the partitions up. The in-memory audit is the case of
one partition; the dask engine (:mod:`gis.dask_engine`) runs the same functions on every partition
of a dataset. Rows are numbered from each partition's ``offset`` (its first row in the whole layer).
"""

from __future__ import annotations

import dataclasses
import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .findings import concat_findings
from .intensity import DECLARED_TOLERANCE_PCT, MIN_AREA_M2, GroupTotals, _group_codes, area_findings, level_sums, parcel_metrics, summary_levels
from .parcels import check_values, map_headers
from .rules import VERDICTS, absent_columns, evaluate_rule, overall_verdict, summary_rule_sums
from .scoring import add_facts, evaluate_score, resolve_score, score_facts

__all__ = ["SUMMARY_LEVELS", "AuditPlan", "Prepared", "Globals", "PartResult", "prepare", "partition_facts",
           "reduce_facts", "partition_scores", "finish_partition", "no_duplicate_rows"]

log = logging.getLogger(__name__)

SUMMARY_LEVELS = ("park_id", "zone_id", "phase", "landuse_gb")
"""Groups every audit summarises by (Σ/Σ), besides the whole layer and any ``by=`` columns;
``landuse_gb`` is the GB 50137-2011 class of either code system (M1 and 100101 together)."""


@dataclasses.dataclass(frozen=True)
class AuditPlan:
    """What an audit does, the same for every partition (small: sent to every worker)."""

    packs: tuple
    by: tuple = ()
    zones: gpd.GeoDataFrame | None = None
    headers: object = None
    min_area_m2: float = MIN_AREA_M2
    declared_tolerance_pct: float = DECLARED_TOLERANCE_PCT

    @property
    def scores(self) -> list:
        return [s for p in self.packs for s in p.scores]

    @property
    def rank_scores(self) -> list:
        return [s for s in self.scores if s.classes_by == "rank"]

    @property
    def summary_rules(self) -> list:
        return [r for p in self.packs for r in p.summary_rules]


@dataclasses.dataclass
class Prepared:
    """A partition after headers, values, areas, metrics and parcel rules."""

    frame: gpd.GeoDataFrame
    report: pd.DataFrame
    parts: list
    rule_cols: dict
    verdicts: list
    tally: dict
    offset: int
    crs: object


@dataclasses.dataclass
class Globals:
    """What the whole layer tells every partition: duplicated id hashes, resolved scores and rank cut-offs."""

    dup_hashes: np.ndarray
    resolved: dict
    score_notes: dict
    cuts: dict = dataclasses.field(default_factory=dict)
    rank_notes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class PartResult:
    """What a finished partition hands to the reduce step (parcels may be None once written)."""

    parcels: gpd.GeoDataFrame | None
    findings: pd.DataFrame
    sums: dict
    counts: dict
    rule_sums: dict
    candidates: pd.DataFrame
    tally: dict
    notes: dict
    verdict_counts: pd.DataFrame
    n: int
    head: gpd.GeoDataFrame | None = None  # no rows: the columns, for what depends on the columns only
    row_finding_counts: pd.DataFrame | None = None  # counts of the parcels' findings, when they were written out


def prepare(plan: AuditPlan, parcels: gpd.GeoDataFrame, *, offset: int = 0) -> Prepared:
    """Headers, values, areas, metrics, parcel-rule verdicts and findings of one partition (a new frame)."""
    frame, report, f_headers = map_headers(parcels, headers=plan.headers)
    frame["_row"] = np.arange(len(frame))  # the partition's own rows; + offset = the layer's row
    parts = [f_headers]
    if plan.zones is not None:
        from .audit import _fill_zones

        frame, zone_findings = _fill_zones(frame, plan.zones)
        parts.append(zone_findings)
    frame, f_values = check_values(frame, headers=plan.headers, duplicates=False)
    parts.append(f_values)
    lacking = [b for b in plan.by if b not in frame.columns]
    if lacking:
        raise InputError(f"no column {lacking[0]!r} to summarise by; the parcels have: "
                         f"{', '.join(c for c in map(str, frame.columns) if c not in ('_row', frame.geometry.name))}")
    for level in ("park_id", "zone_id", "phase", *plan.by):  # group keys: factorised once, reused by every summary
        if level in frame.columns and not isinstance(frame[level].dtype, pd.CategoricalDtype):
            frame[level] = frame[level].astype("category")
    frame = parcel_metrics(frame, min_area_m2=plan.min_area_m2)
    parts.append(area_findings(frame, min_area_m2=plan.min_area_m2, declared_tolerance_pct=plan.declared_tolerance_pct))
    rule_cols, verdicts, tally = {}, [], {}
    for pack in plan.packs:
        for rule in pack.parcel_rules:
            v, f = evaluate_rule(frame, rule, pack, tally=tally)
            rule_cols[rule.column] = v
            verdicts.append(v)
            parts.append(f)
    return Prepared(frame, report, parts, rule_cols, verdicts, tally, int(offset), parcels.crs)


def _id_hashes(frame) -> np.ndarray:
    if "parcel_id" not in frame.columns:
        return np.zeros(0, dtype=np.uint64)
    ids = frame["parcel_id"]
    ids = ids[ids.notna()].to_numpy(dtype=object)
    return pd.util.hash_array(ids, categorize=False) if len(ids) else np.zeros(0, dtype=np.uint64)


def partition_facts(plan: AuditPlan, prep: Prepared) -> dict:
    """The partition's additive facts: its ids' hashes and every score's :func:`gis.scoring.score_facts`."""
    return {"ids": _id_hashes(prep.frame),
            "scores": {s.id: score_facts(prep.frame, s, min_area_m2=plan.min_area_m2) for s in plan.scores},
            "columns": list(prep.frame.columns)}


def reduce_facts(plan: AuditPlan, facts: list) -> Globals:
    """Every partition's facts together: the id hashes on several rows and each score's formulas with the
    whole layer's benchmarks."""
    hashes = np.concatenate([f["ids"] for f in facts]) if facts else np.zeros(0, dtype=np.uint64)
    if len(hashes):
        srt = np.sort(hashes)
        dup = np.unique(srt[1:][srt[1:] == srt[:-1]])
    else:
        dup = np.zeros(0, dtype=np.uint64)
    columns = facts[0]["columns"] if facts else []
    resolved, notes = {}, {}
    for s in plan.scores:
        resolved[s.id], notes[s.id] = resolve_score(s, add_facts([f["scores"][s.id] for f in facts]), columns)
    return Globals(dup_hashes=dup, resolved=resolved, score_notes=notes)


def partition_scores(plan: AuditPlan, prep: Prepared, glob: Globals) -> dict:
    """The finite score values of the partition's parcels for every score classed by rank (for the cut-offs)."""
    from .scoring import score_values

    out = {}
    for s in plan.rank_scores:
        value = score_values(prep.frame, s, glob.resolved[s.id])[0]
        out[s.id] = value[np.isfinite(value)]
    return out


def finish_partition(plan: AuditPlan, prep: Prepared, glob: Globals, *, sort_findings: bool = True) -> PartResult:
    """Scores, classes and overall verdicts with the whole layer's figures; the partition's parcels
    (``row`` = the layer's 1-based row), findings (rows of the layer, 0-based) and per-group sums.
    ``sort_findings=False`` leaves the findings in the order made (the reduce step sorts them anyway)."""
    frame = prep.frame
    new_cols = dict(prep.rule_cols)
    verdicts = list(prep.verdicts)
    parts = list(prep.parts)
    tally = dict(prep.tally)
    notes: dict = {}
    for pack in plan.packs:
        for rule in [*pack.rules, *pack.scores]:
            for col in absent_columns(frame, rule.applies_to):
                notes.setdefault(rule.id, []).append(f"applies_to ignores {col}: the data has no such column")
        for sc in pack.scores:
            score, klass, v, f, sc_notes = evaluate_score(frame, sc, min_area_m2=plan.min_area_m2,
                                                          resolved=glob.resolved[sc.id], cuts=glob.cuts.get(sc.id),
                                                          tally=tally)
            new_cols[score.name] = score
            new_cols[klass.name] = klass
            new_cols[sc.column] = v
            verdicts.append(v)
            parts.append(f)
            ignores = [n for n in sc_notes if n.startswith("applies_to ignores")]
            notes[sc.id] = (ignores + glob.score_notes.get(sc.id, []) + [n for n in sc_notes if n not in ignores]
                            + glob.rank_notes.get(sc.id, []))
    new_cols["verdict"] = overall_verdict(verdicts, frame.index)
    clash = [c for c in new_cols if c in frame.columns]
    if clash:  # an input column named like a result column: the audit's value wins, the input's is kept renamed
        log.warning("input columns %s are replaced by the audit's; the input's are kept as input_<name>", clash)
        frame = frame.rename(columns={c: f"input_{c}" for c in clash})
    frame = pd.concat([frame, pd.DataFrame(new_cols, index=frame.index)], axis=1)

    levels = summary_levels(frame, levels=SUMMARY_LEVELS, by=list(plan.by))
    sums, counts = {}, {}
    verdict = frame["verdict"].to_numpy()
    is_verdict = {v: verdict == v for v in VERDICTS}  # once, not once per level
    cache: dict = {}  # the registry's parcel filters and addends, computed once for every level
    totals = GroupTotals({level: _group_codes(frame, level) for level in levels})  # every level in one pass
    for level in levels:
        codes, groups = totals.levels[level]
        sums[level] = level_sums(frame, level, min_area_m2=plan.min_area_m2, cache=cache, totals=totals)
        counts[level] = pd.DataFrame({f"n_{v.replace('/', '')}": np.bincount(codes[is_verdict[v]], minlength=len(groups))
                                      for v in VERDICTS}, index=groups)
    rule_sums = {(r.id, lv): summary_rule_sums(frame, r, lv, min_area_m2=plan.min_area_m2)
                 for r in plan.summary_rules for lv in r.levels if lv in frame.columns}

    findings = concat_findings(parts, ids=frame, sort=sort_findings)
    if len(findings):
        findings["row"] = findings["row"] + prep.offset
    candidates = _dup_candidates(frame, glob.dup_hashes, prep.offset)
    if "row" in frame.columns:
        frame = frame.rename(columns={"row": "input_row"})
    row = frame.pop("_row").to_numpy() + 1 + prep.offset
    frame.insert(0, "row", row)
    result = gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs=prep.crs)
    from .audit import verdict_counts

    return PartResult(parcels=result, findings=findings, sums=sums, counts=counts, rule_sums=rule_sums,
                      candidates=candidates, tally=tally, notes=notes, verdict_counts=verdict_counts(result), n=len(result),
                      head=result.iloc[:0].copy())  # a copy: a view would keep the whole partition alive


def _dup_candidates(frame, dup_hashes, offset) -> pd.DataFrame:
    """The rows whose id hash is on several rows of the layer: ``_row`` (the layer's, 0-based) and the ids."""
    cols = [c for c in ("parcel_id", "park_id", "zone_id") if c in frame.columns]
    if "parcel_id" not in frame.columns or not len(dup_hashes):
        return pd.DataFrame({"_row": np.zeros(0, dtype=np.int64), **{c: np.zeros(0, dtype=object) for c in cols}})
    ids = frame["parcel_id"]
    has = ids.notna().to_numpy()
    h = np.zeros(len(frame), dtype=np.uint64)
    if has.any():
        h[has] = pd.util.hash_array(ids[has].to_numpy(dtype=object), categorize=False)
    hit = has & np.isin(h, dup_hashes)
    out = pd.DataFrame({c: frame[c].to_numpy(dtype=object)[hit] for c in cols})
    out.insert(0, "_row", frame["_row"].to_numpy()[hit] + offset)
    return out


def no_duplicate_rows(candidates: pd.DataFrame) -> pd.DataFrame:
    """The duplicate-id findings from every partition's candidates (ids compared exactly, not by hash)."""
    if not len(candidates):
        return concat_findings([])
    c = candidates.sort_values("_row", kind="stable").reset_index(drop=True)
    dup = (c["parcel_id"].duplicated(keep=False)).to_numpy()
    from .parcels import duplicate_id_findings

    return concat_findings([duplicate_id_findings(c, dup)], ids=c)

