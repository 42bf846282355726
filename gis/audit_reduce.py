"""The reduce half of the audit: every partition's sums, findings and facts into one result.

Sums add (:func:`gis.intensity.add_sums`) per group of every summary level (whole layer, park, zone,
phase, GB land-use class and any ``by=`` column), and the Σ/Σ summaries, summary-scope rules and
per-group verdict counts are computed from the added sums; ids found on several rows of different
partitions become findings here; findings that count parcels of the whole layer (a rule without a
threshold, a score without its formula column) are made from the summed counts, and findings about
the layer's columns, which every partition gives alike, are kept once. See :mod:`gis.audit_partition`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .findings import concat_findings, table_finding
from .indicators import indicator_lacking
from .intensity import add_sums, finish_sums, indicator_notes, stack_summary
from .rules import absent_columns, no_threshold_finding, rules_table, summary_rule_verdicts

__all__ = ["reduce_partitions", "absent_column_notes"]

log = logging.getLogger(__name__)


def reduce_partitions(plan, results: list) -> dict:
    """The audit's tables from finished partitions (in layer order): summary, findings, rules,
    indicators and verdict counts."""
    head = results[0].head
    levels = list(results[0].sums)
    sums = {lv: add_sums([r.sums[lv] for r in results]) for lv in levels}
    counts = {lv: add_sums([r.counts[lv] for r in results]) for lv in levels}
    summary = stack_summary({lv: finish_sums(sums[lv]) for lv in levels})
    parts = _partition_findings(results)
    cols = {}
    for rule in plan.summary_rules:
        rs = {lv: add_sums([r.rule_sums[(rule.id, lv)] for r in results]) for lv in rule.levels
              if (rule.id, lv) in results[0].rule_sums}
        v, values, f = summary_rule_verdicts(rule, summary, rs)
        cols[f"value:{rule.id}"] = values
        cols[rule.column] = v
        parts.append(f)
    stacked = stack_summary(counts)
    if len(stacked) != len(summary) or not np.array_equal(stacked["group"].astype(str).to_numpy(),
                                                          summary["group"].astype(str).to_numpy()):
        raise AssertionError("verdict counts and sums disagree on the groups")  # pragma: no cover - a bug, not input
    for c in stacked.columns[2:]:
        cols[c] = stacked[c].to_numpy(dtype=np.int64)
    if cols:
        summary = pd.concat([summary, pd.DataFrame(cols, index=summary.index)], axis=1)
    indicators = indicator_notes(head)
    if plan.zones is not None:
        summary, indicators = _zone_summary(plan, head, sums.get("zone_id"), summary, indicators)

    from .audit_partition import no_duplicate_rows

    parts.append(no_duplicate_rows(pd.concat([r.candidates for r in results], ignore_index=True)))
    parts.extend(_tally_findings(plan, results))
    parts.extend(absent_column_notes(plan, head))
    findings = concat_findings(parts)
    if len(findings):
        findings["row"] = findings["row"] + 1  # 1 = first parcel of the input
    vc = pd.concat([r.verdict_counts for r in results]).groupby("rule", sort=False).sum().reset_index()
    return {"summary": summary, "findings": findings, "rules": rules_table(plan.packs, notes=results[0].notes),
            "indicators": indicators, "verdict_counts": vc}


def _partition_findings(results) -> list:
    """Every partition's findings; those about the layer rather than a row (its headers, a column it
    lacks) each partition gives alike: kept once."""
    out, seen = [], set()
    for r in results:
        f = r.findings
        if not len(f):
            continue
        table = f["row"].isna().to_numpy()
        if table.any():
            keys = f.loc[table, ["kind", "check", "severity", "column", "level", "group", "raw", "reason_en"]].astype(str)
            keys = keys.apply(tuple, axis=1).to_numpy()
            pos = np.flatnonzero(table)
            drop = []
            for p, k in zip(pos, keys):
                if k in seen:
                    drop.append(p)
                seen.add(k)
            if drop:
                f = f.drop(index=f.index[drop])
        out.append(f)
    return out


def _tally_findings(plan, results) -> list:
    total: dict = {}
    for r in results:
        for k, v in r.tally.items():
            if k[0] == "no_threshold":
                n, why = v
                total[k] = (total.get(k, (0, why))[0] + n, why)
            else:
                total[k] = total.get(k, 0) + v
    out = []
    rules = {r.id: r for p in plan.packs for r in p.rules}
    scores = {s.id: s for p in plan.packs for s in p.scores}
    for (what, rid), v in total.items():
        if what == "no_threshold":
            out.append(no_threshold_finding(rules[rid], v[0], v[1]))
        else:
            from .scoring import no_formula_column_finding

            out.append(no_formula_column_finding(scores[rid], v))
    return out


def absent_column_notes(plan, head) -> list:
    """One note per column some rule filters on but the data lacks (not one per parcel)."""
    absent: dict = {}
    for pack in plan.packs:
        for rule in [*pack.rules, *pack.scores]:
            for col in absent_columns(head, rule.applies_to):
                absent.setdefault(col, []).append(rule.id)
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


def _zone_summary(plan, head, zone_sums, summary, indicators):
    """The zone rows of the summary with each zone's total area (from the zones layer) and the registry's
    indicators over it (土地开发率); a zone_id the layer does not have gets none of them."""
    from .area import area_m2
    from .errors import InputError

    zones = plan.zones
    if "id" not in zones.columns:
        raise InputError(f"the zones layer has no 'id' column to name the zones; its columns: "
                         f"{', '.join(map(str, zones.columns))}")
    zones = zones.to_crs(head.crs) if head.crs is not None and zones.crs is not None else zones
    zone_area = pd.Series(area_m2(zones).to_numpy(dtype="float64"), index=zones["id"].astype(str).to_numpy())
    zone_area = zone_area[~zone_area.index.duplicated()]
    summary = summary.copy()
    rows = np.flatnonzero(summary["level"].to_numpy() == "zone_id")
    notes = indicator_lacking(head, zone_area=True)
    names = list(notes["indicator"])
    area_col = np.full(len(summary), np.nan)
    if len(rows) and zone_sums is not None:
        groups = pd.Index(summary["group"].to_numpy()[rows].astype(str), dtype=object)
        za = zone_area.reindex(groups).to_numpy()
        known = np.isfinite(za)
        area_col[rows] = za
        zs = zone_sums.copy()
        zs.index = pd.Index(zs.index.astype(str), dtype=object)
        values = finish_sums(zs.reindex(groups), zone_area_m2=za)
        for name in names:
            col = summary[name].to_numpy(dtype="float64").copy()
            col[rows] = np.where(known, values[name].to_numpy(dtype="float64"), np.nan)
            summary[name] = col
    summary["zone_area_m2"] = area_col
    notes = notes.set_index("indicator")
    if "land_development_rate" in notes.index and "column" in indicators.columns:
        ok = bool(notes.loc["land_development_rate", "computed"])
        m = indicators["column"] == "land_development_rate"
        indicators = indicators.copy()
        indicators.loc[m, "computed"] = ok
        indicators.loc[m, "why_not"] = "" if ok else notes.loc["land_development_rate", "lacking"]
        indicators.loc[m, "formula"] = notes.loc["land_development_rate", "source"] + " — " + notes.loc["land_development_rate", "note"]
    return summary, indicators
