"""The land-intensity audit: parcels in, metrics + one verdict column per rule + summary + findings out.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> g = gpd.GeoDataFrame({"parcel_id": ["p1"], "park_id": ["park.a"], "zone_id": ["z1"], "land_use": ["M2"],
...                       "status": ["built"], "investment_wan": [1000.0]},
...                      geometry=[box(103.60, 36.50, 103.601, 36.501)], crs="EPSG:4490")
>>> r = audit(g, ["lanzhou-etdz"])
>>> r.parcels[["parcel_id", "rule:etdz-invest-300", "verdict"]].values.tolist()
[['p1', 'fail', 'fail']]
"""

from __future__ import annotations

import dataclasses
import logging
import os

import geopandas as gpd
import numpy as np
import pandas as pd

from .audit_partition import (SUMMARY_LEVELS, AuditPlan, Globals, finish_partition, partition_facts, partition_scores, prepare,
                              reduce_facts)
from .audit_reduce import reduce_partitions
from .errors import InputError
from .findings import concat_findings, row_findings
from .intensity import DECLARED_TOLERANCE_PCT, MIN_AREA_M2
from .rules import DEFAULT_PACKS, VERDICTS, RulePack, load_packs
from .scoring import rank_cuts

__all__ = ["AuditResult", "audit", "audit_plan", "set_rank_cuts", "assign_zones", "verdict_counts", "count_findings",
           "add_finding_counts", "SUMMARY_LEVELS"]

log = logging.getLogger(__name__)

@dataclasses.dataclass
class AuditResult:
    """What an audit found. ``parcels`` has every input row, in input order, with metrics, the
    ``rule:<id>`` columns and an overall ``verdict`` (fail/missing/pass/n/a)."""

    parcels: gpd.GeoDataFrame
    summary: pd.DataFrame
    findings: pd.DataFrame
    rules: pd.DataFrame
    indicators: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    columns: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    verdicts: pd.DataFrame | None = None  # verdict counts per rule (:func:`verdict_counts` of all parcels)
    parcels_path: str | None = None  # where the parcels were written when they are not held (a dataset)
    findings_path: str | None = None  # where the parcels' findings were written (``findings`` then holds the layer's own)
    finding_counts: pd.DataFrame | None = None  # every finding counted (:meth:`count_findings`) when not all are held

    @property
    def rule_columns(self) -> list[str]:
        if self.parcels is None:
            return [r for r in self.verdicts["rule"] if str(r).startswith("rule:")]
        return [c for c in self.parcels.columns if str(c).startswith("rule:")]

    def verdict_counts(self) -> pd.DataFrame:
        """How many parcels got each verdict, per rule column and overall."""
        return self.verdicts if self.verdicts is not None else verdict_counts(self.parcels)

    def severities(self) -> set[str]:
        if self.finding_counts is not None:
            return set(self.finding_counts["severity"].dropna().astype(str))
        return set(self.findings["severity"].dropna().unique())

    def count_findings(self) -> pd.DataFrame:
        """Findings counted by severity, check and reason (``n``), most first within each severity."""
        if self.finding_counts is not None:
            return self.finding_counts
        return count_findings(self.findings)

    def fails_on(self, level: str | None) -> bool:
        """True when a finding reaches ``level`` ('error' or 'warning'); None never fails."""
        if level is None:
            return False
        wanted = {"error"} if level == "error" else {"error", "warning"}
        return bool(self.severities() & wanted)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The sheets of the workbook, in order."""
        return {"parcels": self.parcels, "summary": self.summary, "findings": self.findings, "rules": self.rules,
                "indicators": self.indicators, "columns": self.columns}


def count_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings counted by severity, check and reason (``n``), errors first, most first within each severity."""
    if not len(findings):
        return pd.DataFrame({"severity": [], "check": [], "reason_en": [], "n": []})
    cols = ["severity", "check", "reason_en"]
    f = findings[cols]
    if all(isinstance(f[c].dtype, pd.CategoricalDtype) for c in cols):  # by category codes: no text per finding
        codes = [np.asarray(f[c].cat.codes, dtype=np.int64) + 1 for c in cols]  # 0 = missing
        sizes = [len(f[c].cat.categories) + 1 for c in cols]
        key = (codes[0] * sizes[1] + codes[1]) * sizes[2] + codes[2]
        group, first = pd.factorize(key, sort=False)  # groups in order of first appearance, as groupby(sort=False)
        n = np.bincount(group, minlength=len(first))
        parts = {}
        rest = np.asarray(first)
        for c, size in zip(reversed(cols), reversed(sizes)):
            rest, code = np.divmod(rest, size)
            cats = np.append(np.asarray(f[c].cat.categories, dtype=object), None)
            parts[c] = cats[code - 1]  # code 0 picks the appended None
        out = pd.DataFrame({c: parts[c] for c in cols} | {"n": n})
    else:
        out = f.astype(object).assign(n=1).groupby(cols, dropna=False, sort=False)["n"].sum().reset_index()
    return out.sort_values(["severity", "n"], ascending=[True, False], kind="stable").reset_index(drop=True)


def add_finding_counts(parts) -> pd.DataFrame:
    """Several :func:`count_findings` tables added up."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return count_findings(pd.DataFrame(columns=["severity", "check", "reason_en"]))
    out = pd.concat(parts).groupby(["severity", "check", "reason_en"], dropna=False, sort=False)["n"].sum().reset_index()
    return out.sort_values(["severity", "n"], ascending=[True, False], kind="stable").reset_index(drop=True)


def verdict_counts(parcels: pd.DataFrame) -> pd.DataFrame:
    """How many parcels got each verdict, per rule column (and overall)."""
    cols = [c for c in parcels.columns if str(c).startswith("rule:")] + (["verdict"] if "verdict" in parcels else [])
    rows = []
    for c in cols:
        vc = parcels[c].value_counts()
        rows.append({"rule": c, **{v: int(vc.get(v, 0)) for v in VERDICTS}})
    return pd.DataFrame(rows, columns=["rule", *VERDICTS])


def assign_zones(parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, zone_id: str = "id") -> tuple[pd.Series, np.ndarray]:
    """Zone of each parcel by location (the zone holding its representative point).

    Returns ``(zone Series on parcels' index, ambiguous mask)``; parcels in no zone get None.
    """
    pts = gpd.GeoDataFrame(geometry=parcels.geometry.representative_point(), crs=parcels.crs)
    pts["_pos"] = np.arange(len(pts))
    if zone_id not in zones.columns:
        raise InputError(f"the zones layer has no {zone_id!r} column to name the zones; its columns: "
                         f"{', '.join(map(str, zones.columns))}")
    z = zones[[zone_id, zones.geometry.name]].to_crs(parcels.crs)
    hit = gpd.sjoin(pts[~pts.geometry.is_empty & pts.geometry.notna()], z, how="inner", predicate="within")
    counts = np.bincount(hit["_pos"].to_numpy(), minlength=len(pts))
    first = hit.drop_duplicates("_pos")
    out = np.full(len(pts), None, dtype=object)
    out[first["_pos"].to_numpy()] = first[zone_id].astype(str).to_numpy()
    return pd.Series(out, index=parcels.index, name="zone_id"), counts > 1


def audit(parcels: gpd.GeoDataFrame, rules=None, *, by=None, zones: gpd.GeoDataFrame | None = None,
          headers=None, min_area_m2: float = MIN_AREA_M2,
          declared_tolerance_pct: float = DECLARED_TOLERANCE_PCT, packs=None) -> AuditResult:
    """Audit ``parcels`` against rule packs ``rules`` (names, YAML paths or :class:`~gis.rules.RulePack`;
    one or a list; default :data:`gis.rules.DEFAULT_PACKS`). ``packs=`` is the same argument.

    Headers are mapped and values checked (:mod:`gis.parcels`), areas measured on the ellipsoid and
    metrics computed (:mod:`gis.intensity`), every rule evaluated over whole columns
    (:mod:`gis.rules`), and a summary built per park, per zone and per ``by`` (a column name or a
    list). ``zones`` (a layer with ``id``) fills a missing ``zone_id`` by location and gives each
    zone's total area, so the zone rows of the summary carry the development-zone indicators
    (:func:`gis.indicators.zone_indicators`, 土地开发率 included). A rule filtering on a column the data
    does not have applies to every parcel its other filters admit, said once in the findings. Never
    drops a row; never reads a missing value as 0; the input is not modified. ``result.parcels`` is on
    the input's index.

    The frame is the one partition of the map-and-reduce audit (:mod:`gis.audit_partition`,
    :mod:`gis.audit_reduce`) that :mod:`gis.dask_engine` runs on every partition of a dataset.
    """
    plan = audit_plan(rules, packs=packs, by=by, zones=zones, headers=headers, min_area_m2=min_area_m2,
                      declared_tolerance_pct=declared_tolerance_pct)
    prep = prepare(plan, parcels)
    glob = reduce_facts(plan, [partition_facts(plan, prep)])
    if plan.rank_scores:
        set_rank_cuts(plan, glob, [partition_scores(plan, prep, glob)])
    part = finish_partition(plan, prep, glob, sort_findings=False)  # one partition: reduce_partitions sorts
    tables = reduce_partitions(plan, [part])
    log.info("audited %d parcels against %d rules: %d findings", part.n, len(tables["rules"]), len(tables["findings"]))
    return AuditResult(parcels=part.parcels, summary=tables["summary"], findings=tables["findings"], rules=tables["rules"],
                       indicators=tables["indicators"], columns=prep.report, verdicts=tables["verdict_counts"])


def audit_plan(rules=None, *, packs=None, by=None, zones=None, headers=None, min_area_m2: float = MIN_AREA_M2,
               declared_tolerance_pct: float = DECLARED_TOLERANCE_PCT) -> AuditPlan:
    """The :class:`~gis.audit_partition.AuditPlan` of an audit: packs loaded (and checked), ``by`` as a tuple."""
    if rules is not None and packs is not None:
        raise TypeError("give the rule packs once: rules= or packs=")
    packs = rules if rules is not None else (packs if packs is not None else list(DEFAULT_PACKS))
    packs = load_packs([packs] if isinstance(packs, (str, os.PathLike, RulePack)) else list(packs))
    by_levels = (by,) if isinstance(by, str) else tuple(by or ())
    return AuditPlan(packs=tuple(packs), by=by_levels, zones=zones, headers=headers, min_area_m2=min_area_m2,
                     declared_tolerance_pct=declared_tolerance_pct)


def set_rank_cuts(plan: AuditPlan, glob: Globals, values: list) -> None:
    """Each rank-classed score's cut-offs from every partition's score values (:func:`gis.scoring.rank_cuts`)."""
    for s in plan.rank_scores:
        v = np.concatenate([p[s.id] for p in values]) if values else np.zeros(0)
        glob.cuts[s.id], glob.rank_notes[s.id] = rank_cuts(v, s.classes)


def _fill_zones(frame, zones):
    located, ambiguous = assign_zones(frame, zones)
    out = frame.copy()
    given = out["zone_id"] if "zone_id" in out.columns else pd.Series(None, index=out.index, dtype="object")
    given = given.astype("object").where(given.notna() & given.astype("string").str.strip().ne(""), None)
    differs = given.notna().to_numpy() & located.notna().to_numpy() & (given.astype("object") != located).to_numpy()
    out["zone_id"] = given.where(given.notna(), located).astype("object")
    parts = [
        row_findings(out, differs, kind="data", check="zone_mismatch", severity="warning", column="zone_id",
                     raw=located.to_numpy(dtype=object),
                     reason_zh="填写的片区与宗地所在位置的片区不一致（raw 为按位置判定的片区）",
                     reason_en="zone_id differs from the zone the parcel lies in (raw = zone by location)"),
        row_findings(out, ambiguous, kind="data", check="zone_ambiguous", severity="info", column="zone_id",
                     reason_zh="宗地落在多个重叠片区内，取第一个", reason_en="parcel lies in several overlapping zones; the first is used"),
    ]
    return out, concat_findings(parts)
