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

from .errors import InputError
from .findings import concat_findings, row_findings, table_finding
from .intensity import (DECLARED_TOLERANCE_PCT, MIN_AREA_M2, _group_codes, area_findings, indicator_notes,
                        parcel_metrics, summarise)
from .parcels import check_values, map_headers
from .rules import (DEFAULT_PACKS, VERDICTS, RulePack, absent_columns, evaluate_rule, evaluate_score, evaluate_summary_rule, load_packs,
                    overall_verdict, rules_table)

__all__ = ["AuditResult", "audit", "assign_zones", "verdict_counts", "SUMMARY_LEVELS"]

log = logging.getLogger(__name__)

SUMMARY_LEVELS = ("park_id", "zone_id", "phase", "landuse_gb")
"""Groups every audit summarises by (Σ/Σ), besides the whole layer and any ``by=`` columns;
``landuse_gb`` is the GB 50137-2011 class of either code system (M1 and 100101 together)."""


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

    @property
    def rule_columns(self) -> list[str]:
        return [c for c in self.parcels.columns if str(c).startswith("rule:")]

    def severities(self) -> set[str]:
        return set(self.findings["severity"].dropna().unique())

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
    """
    if rules is not None and packs is not None:
        raise TypeError("give the rule packs once: rules= or packs=")
    packs = rules if rules is not None else (packs if packs is not None else list(DEFAULT_PACKS))
    packs = load_packs([packs] if isinstance(packs, (str, os.PathLike, RulePack)) else list(packs))
    frame, header_report, f_headers = map_headers(parcels, headers=headers)
    frame["_row"] = np.arange(len(frame))
    parts = [f_headers]
    if zones is not None:
        frame, zone_findings = _fill_zones(frame, zones)
        parts.append(zone_findings)
    frame, f_values = check_values(frame, headers=headers)
    parts.append(f_values)
    by_levels = [by] if isinstance(by, str) else list(by or [])
    lacking = [b for b in by_levels if b not in frame.columns]
    if lacking:
        raise InputError(f"no column {lacking[0]!r} to summarise by; the parcels have: "
                         f"{', '.join(c for c in map(str, frame.columns) if c not in ('_row', frame.geometry.name))}")
    for level in ("park_id", "zone_id", "phase", *by_levels):  # group keys: factorised once, reused by every summary
        if level in frame.columns and not isinstance(frame[level].dtype, pd.CategoricalDtype):
            frame[level] = frame[level].astype("category")
    frame = parcel_metrics(frame, min_area_m2=min_area_m2)
    parts.append(area_findings(frame, min_area_m2=min_area_m2, declared_tolerance_pct=declared_tolerance_pct))

    verdicts, notes = [], {}
    new_cols = {}
    absent: dict[str, list[str]] = {}
    for pack in packs:
        for rule in [*pack.rules, *pack.scores]:
            for col in absent_columns(frame, rule.applies_to):
                absent.setdefault(col, []).append(rule.id)
                notes.setdefault(rule.id, []).append(f"applies_to ignores {col}: the data has no such column")
        for rule in pack.parcel_rules:
            v, f = evaluate_rule(frame, rule, pack)
            new_cols[rule.column] = v
            verdicts.append(v)
            parts.append(f)
        for sc in pack.scores:
            score, klass, v, f, sc_notes = evaluate_score(frame, sc, min_area_m2=min_area_m2)
            new_cols[score.name] = score
            new_cols[klass.name] = klass
            new_cols[sc.column] = v
            verdicts.append(v)
            parts.append(f)
            notes[sc.id] = sc_notes
    parts.extend(_absent_column_notes(absent))
    new_cols["verdict"] = overall_verdict(verdicts, frame.index)
    clash = [c for c in new_cols if c in frame.columns]
    if clash:  # an input column named like a result column: the audit's value wins, the input's is kept renamed
        log.warning("input columns %s are replaced by the audit's; the input's are kept as input_<name>", clash)
        frame = frame.rename(columns={c: f"input_{c}" for c in clash})
    frame = pd.concat([frame, pd.DataFrame(new_cols, index=frame.index)], axis=1)

    summary = summarise(frame, levels=SUMMARY_LEVELS, by=by_levels, min_area_m2=min_area_m2)
    summary = _summary_verdicts(frame, summary, packs, parts, min_area_m2)
    indicators = indicator_notes(frame)
    if zones is not None:
        summary, indicators = _zone_summary(frame, zones, summary, indicators)

    findings = concat_findings(parts, ids=frame)
    if "row" in frame.columns:
        frame = frame.rename(columns={"row": "input_row"})
    row = frame.pop("_row").to_numpy() + 1 if "_row" in frame.columns else np.arange(1, len(frame) + 1)
    frame.insert(0, "row", row)
    if len(findings):
        findings["row"] = findings["row"] + 1  # 1 = first parcel of the input
    result = gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs=parcels.crs)
    log.info("audited %d parcels against %d rules: %d findings", len(result), len(verdicts), len(findings))
    return AuditResult(parcels=result, summary=summary, findings=findings, rules=rules_table(packs, notes=notes),
                       indicators=indicators, columns=header_report)


def _absent_column_notes(absent: dict) -> list:
    """One note per column some rule filters on but the data lacks (not one per parcel)."""
    out = []
    for col, ids in absent.items():
        ids = list(dict.fromkeys(ids))
        log.info("the data has no %s column: %d rules apply to every parcel their other conditions admit", col, len(ids))
        out.append(table_finding(
            kind="rule_pack", check="filter_column_absent", severity="info", column=col, level="all", group="(all)",
            value=float(len(ids)), raw=", ".join(ids),
            reason_zh=f"数据无 {col} 列：{len(ids)} 条规则（{', '.join(ids)}）对其余条件满足的全部宗地适用",
            reason_en=f"the data has no {col} column: {len(ids)} rules ({', '.join(ids)}) apply to every parcel "
                      "their other conditions admit"))
    return out


def _zone_summary(frame, zones, summary, indicators):
    """Fill the zone rows of the summary with the registry's development-zone indicators (zone areas known)."""
    from .indicators import _zone_table

    table = _zone_table(frame, zones.to_crs(frame.crs) if frame.crs is not None else zones, zone_id="id")
    rows = np.flatnonzero(summary["level"].to_numpy() == "zone_id")
    keys = pd.Index(table["id"].astype(str).to_numpy(), dtype=object)
    pos = keys.get_indexer(pd.Index(summary["group"].to_numpy()[rows].astype(str), dtype=object))
    summary = summary.copy()
    for col in [c for c in table.columns if c in ("zone_area_m2", *table.attrs["notes"]["indicator"])]:
        vals = np.full(len(summary), np.nan)
        got = table[col].to_numpy(dtype="float64")
        vals[rows] = np.where(pos >= 0, got[np.maximum(pos, 0)], np.nan)
        if col in summary.columns:
            old = summary[col].to_numpy(dtype="float64")
            vals = np.where(np.isin(np.arange(len(summary)), rows), vals, old)
        summary[col] = vals
    notes = table.attrs["notes"].set_index("indicator")
    if "land_development_rate" in notes.index and "column" in indicators.columns:
        ok = bool(notes.loc["land_development_rate", "computed"])
        m = indicators["column"] == "land_development_rate"
        indicators = indicators.copy()
        indicators.loc[m, "computed"] = ok
        indicators.loc[m, "why_not"] = "" if ok else notes.loc["land_development_rate", "lacking"]
        indicators.loc[m, "formula"] = notes.loc["land_development_rate", "source"] + " — " + notes.loc["land_development_rate", "note"]
    return summary, indicators


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


def _summary_verdicts(frame, summary, packs, parts, min_area_m2):
    cols = {}
    for pack in packs:
        for rule in pack.summary_rules:
            v, values, f = evaluate_summary_rule(frame, rule, summary, min_area_m2=min_area_m2)
            cols[f"value:{rule.id}"] = values
            cols[rule.column] = v
            parts.append(f)
    # how the parcels came out, per group: counts of the overall verdict
    for v in VERDICTS:
        cols[f"n_{v.replace('/', '')}"] = _count_per_group(frame, summary, frame["verdict"].to_numpy() == v)
    if cols:
        summary = pd.concat([summary, pd.DataFrame(cols, index=summary.index)], axis=1)
    return summary


def _count_per_group(frame, summary, mask):
    out = np.zeros(len(summary), dtype=np.int64)
    for level in summary["level"].unique():
        rows = np.flatnonzero(summary["level"].to_numpy() == level)
        if level == "all":
            out[rows] = int(mask.sum())
            continue
        codes, groups = _group_codes(frame, level)
        counts = pd.Series(np.bincount(codes, weights=mask, minlength=len(groups)).astype(np.int64), index=groups)
        out[rows] = counts.reindex(pd.Index(summary["group"].to_numpy()[rows], dtype="object")).fillna(0).to_numpy()
    return out
