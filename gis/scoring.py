"""Weighted per-亩 evaluations (亩均效益评价): scores, classes by score cut-offs or by percentile rank,
and formulas chosen by a column (规上/规下).

A score's value is ``100 × Σ wᵢ·min(vᵢ/bᵢ, cap) ÷ Σ wᵢ`` over its indicators, where ``bᵢ`` is a fixed
benchmark, the Σ/Σ average of the evaluated group (``average``) or a multiple of it
(``{average_times: 2}``). With weights summing to 100 and no cap this is the published form
``v₁/b₁×w₁ + v₂/b₂×w₂ + …``. Classes come from ``min_score`` cut-offs (``classes_by: score``), from
the percentile rank within the evaluated group (``classes_by: rank``; ``rank_to_pct`` is the upper
edge of each class: A 20, B 60, C 95, D 100), or not at all (``classes_by: none``, when the source
does not give the cut-offs). A missing value is never scored as 0: the parcel is ``missing``.

Ranks: the evaluated parcels are sorted by score, highest first; the class of the parcel at rank
``r`` (1-based) of ``n`` is the first class whose edge ``round(n × rank_to_pct / 100)`` is ≥ ``r``.
Parcels with equal scores share the better class (the rank of the first of them), so a tie across
an edge makes that class larger; the notes say how many parcels a tie moved.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction

import numpy as np
import pandas as pd

from .findings import concat_findings, row_findings, table_finding
from .intensity import METRICS

__all__ = ["evaluate_score", "rank_classes", "rank_cuts", "score_facts", "add_facts", "resolve_score", "score_values", "no_formula_column_finding"]

log = logging.getLogger(__name__)

PASS, FAIL, NA, MISSING = range(4)
_VERDICTS = ("pass", "fail", "n/a", "missing")


def rank_classes(values, classes) -> tuple[np.ndarray, int]:
    """Classes by percentile rank of the finite ``values`` (higher is better); None elsewhere.

    ``classes`` are mappings with ``class`` and ``rank_to_pct``, in rising order of ``rank_to_pct``
    (the last 100). Returns ``(classes array, parcels a tie moved into a better class)``.

    >>> rank_classes(np.array([5.0, 4.0, 3.0, 2.0, 1.0]), [{"class": "A", "rank_to_pct": 40},
    ...              {"class": "B", "rank_to_pct": 100}])[0].tolist()
    ['A', 'A', 'B', 'B', 'B']
    """
    v = np.asarray(values, dtype="float64")
    out = np.full(len(v), None, dtype=object)
    ok = np.flatnonzero(np.isfinite(v))
    n = len(ok)
    if not n:
        return out, 0
    edges = np.array([math.floor(n * float(c["rank_to_pct"]) / 100.0 + 0.5) for c in classes])
    names = np.array([c["class"] for c in classes], dtype=object)
    order = ok[np.argsort(-v[ok], kind="stable")]
    pos = np.arange(1, n + 1)  # 1-based rank by position
    sv = v[order]
    first = np.r_[True, sv[1:] != sv[:-1]]
    tie_rank = np.maximum.accumulate(np.where(first, pos, 0))  # rank of the first of equal scores
    by_pos = np.searchsorted(edges, pos, side="left")
    by_tie = np.searchsorted(edges, tie_rank, side="left")
    by_tie = np.minimum(by_tie, len(classes) - 1)
    out[order] = names[by_tie]
    return out, int((by_tie < np.minimum(by_pos, len(classes) - 1)).sum())


def _variant_masks(frame, score, applies):
    """``[(key, label, mask)]`` per formula of the score (one with key None when it has one formula)."""
    col = score.variant_column
    if col is None:
        return [(None, "", applies)]
    if col not in frame.columns:
        return []
    return [(key, f"[{col} = {key}] ", applies & (frame[col].astype("object") == key).to_numpy()) for key, _ in score.variants]


def _candidates(indicators):
    return [m for ind in indicators for m in (ind["metric"], ind.get("fallback")) if m is not None]


def score_facts(frame: pd.DataFrame, score, *, min_area_m2: float) -> dict:
    """What a score needs to know of the whole evaluated group, as additive numbers (partitions' facts add up,
    :func:`add_facts`): per formula and candidate metric the parcels with a value and its Σ numerator, Σ
    denominator over the evaluated parcels (for the ``average`` benchmarks); ``applies`` the parcels it applies to."""
    from .exact import exact_sum
    from .intensity import metric_pairs
    from .rules import applies_mask

    applies = applies_mask(frame, score.applies_to)[0]
    facts = {"applies": int(applies.sum())}
    for key, _label, mask in _variant_masks(frame, score, applies):
        indicators = dict(score.variants)[key]
        for m in dict.fromkeys(_candidates(indicators)):
            v = frame[m].to_numpy(dtype="float64") if m in frame.columns else np.full(len(frame), np.nan)
            pair = metric_pairs(frame, [m], sel=mask, min_area_m2=min_area_m2)[m]
            if pair is None:
                s_num = s_den = Fraction(0)
            else:  # exact sums: the benchmark is the same number however the layer is partitioned
                num, den, both = pair
                s_num, s_den = exact_sum(num[both]), exact_sum(den[both])
            facts[(key, m)] = (int(np.isfinite(v[mask]).sum()), s_num, s_den)
    return facts


def add_facts(parts) -> dict:
    """The facts of several partitions summed (counts and sums add; NaN stays NaN)."""
    out: dict = {}
    for f in parts:
        for k, v in f.items():
            if k not in out:
                out[k] = v
            elif isinstance(v, tuple):
                out[k] = tuple(a + b for a, b in zip(out[k], v))
            else:
                out[k] = out[k] + v
    return out


def resolve_score(score, facts: dict, columns) -> tuple[dict, list]:
    """The formulas as evaluated: ``({key: (used, absent_required)}, notes)``; ``used`` lists
    ``(metric, weight, benchmark, direction)`` with benchmarks from the whole group's facts."""
    from .intensity import metric_ratio

    columns = set(columns)
    notes: list = []
    resolved = {}
    col = score.variant_column
    if col is not None and col not in columns:
        return resolved, notes
    for key, indicators in score.variants:
        label = "" if key is None else f"[{col} = {key}] "
        used, absent_required = [], []
        for ind in indicators:
            chosen = None
            for m in (ind["metric"], ind.get("fallback")):
                if m is None:
                    continue
                if METRICS[m][0] in columns and (METRICS[m][1] in columns or METRICS[m][1].startswith("area_")) \
                        and facts.get((key, m), (0,))[0] > 0:
                    chosen = m
                    break
            if chosen is None:
                lacking = [c for c in METRICS[ind["metric"]][:2] if c not in columns and not c.startswith("area_")]
                what = ", ".join(lacking) or f"values of {ind['metric']}"
                if score.drop_absent:
                    notes.append(f"{label}{ind['metric']}: dropped (the data has no {what}); weights rescaled")
                    continue
                notes.append(f"{label}{ind['metric']}: the data has no {what}, so no parcel can be scored by this formula")
                absent_required.append(ind["metric"])
                continue
            b = ind.get("benchmark", "average")
            if isinstance(b, (int, float)):
                bench, text = float(b), f"{float(b):g} (fixed)"
            else:
                _n, s_num, s_den = facts[(key, chosen)]
                avg = float(metric_ratio(chosen, np.array([float(s_num)]), np.array([float(s_den)]))[0])
                if isinstance(b, dict):
                    k = float(b["average_times"])
                    bench, text = k * avg, f"{k * avg:.4g} ({k:g} × the evaluated group's Σ/Σ average {avg:.4g})"
                else:
                    bench, text = avg, f"{avg:.4g} (the evaluated group's Σ/Σ average)"
            used.append((chosen, float(ind["weight"]), bench, ind.get("direction", "higher")))
            notes.append(f"{label}{chosen}: weight {ind['weight']}, benchmark {text}")
        resolved[key] = (used, absent_required)
    return resolved, notes


def _variant_score(frame, score, used, absent_required, mask):
    """Score values of the rows in ``mask`` for one formula; returns (values, missing, used metrics)."""
    n = len(frame)
    total_w = sum(w for _, w, *_ in used)
    s = np.zeros(n)
    missing = np.zeros(n, dtype=bool)
    cap = score.cap if score.cap is not None else np.inf
    for metric, w, bench, direction in used:
        v = frame[metric].to_numpy(dtype="float64")
        if not np.isfinite(bench) or bench <= 0:
            r = np.full(n, np.nan)
        elif direction == "lower":
            r = np.divide(bench, v, out=np.full(n, np.nan), where=np.isfinite(v) & (v > 0))
        else:
            r = v / bench
        missing |= ~np.isfinite(r)
        s += w * np.minimum(np.where(np.isfinite(r), r, 0.0), cap)
    if absent_required or total_w == 0:
        missing[:] = True
    value = np.where(mask & ~missing, 100.0 * s / (total_w or 1.0), np.nan)
    return value, mask & missing, [m for m, *_ in used] + absent_required


def score_values(frame: pd.DataFrame, score, resolved: dict):
    """Per-parcel score of a resolved score: ``(value, missing, variant_missing, metrics used)``."""
    from .rules import applies_mask

    n = len(frame)
    applies, cannot_tell, _unknown = applies_mask(frame, score.applies_to)
    value = np.full(n, np.nan)
    missing = cannot_tell.copy()
    used_all: list = []
    col = score.variant_column
    if col is not None and col not in frame.columns:
        variant_missing = applies.copy()
    else:
        for key, _label, mask in _variant_masks(frame, score, applies):
            used, absent_required = resolved[key]
            v, miss, used_m = _variant_score(frame, score, used, absent_required, mask)
            value = np.where(mask, v, value)
            missing |= miss
            used_all += [u for u in used_m if u not in used_all]
        variant_missing = (applies & ~frame[col].astype("object").isin([k for k, _ in score.variants]).to_numpy()
                           if col is not None else np.zeros(n, dtype=bool))
    missing |= variant_missing
    value[missing] = np.nan
    return value, missing, variant_missing, used_all


def rank_cuts(values, classes) -> tuple[np.ndarray, list]:
    """Score cut-offs equal to :func:`rank_classes` on ``values`` (all the evaluated group's scores):
    ``(cuts, notes)``; a score ≥ ``cuts[k]`` reaches class k (the first such k), so each partition can
    class its parcels with these few numbers. Notes give the class sizes and ties."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    n = len(v)
    sv = np.sort(v)[::-1]
    edges = [math.floor(n * float(c["rank_to_pct"]) / 100.0 + 0.5) for c in classes]
    cuts = np.array([sv[e - 1] if e >= 1 else np.inf for e in edges], dtype="float64")
    klass, moved = rank_classes(v, classes)
    counts = pd.Series(klass).value_counts()
    note = (f"classes by rank among {n} evaluated parcels: "
            + ", ".join(f"{c['class']} {int(counts.get(c['class'], 0))}" for c in classes)
            + ("; equal scores share the better class" + (f" ({moved} parcels moved up by a tie)" if moved else
                                                           " (no tie crossed a class edge)")))
    return cuts, [note]


def _classes_by_cuts(value, classes, cuts):
    out = np.full(len(value), None, dtype=object)
    assigned = ~np.isfinite(value)
    for c, cut in zip(classes, cuts):
        m = ~assigned & (value >= cut)
        out[m] = c["class"]
        assigned |= m
    return out


def evaluate_score(frame: pd.DataFrame, score, *, min_area_m2: float, resolved=None, cuts=None, tally=None):
    """The weighted per-亩 score, its class and verdict for every row.

    Returns ``(score Series, class Series, verdict Series, findings, notes)``; notes list the
    indicators used, dropped (column absent), their benchmarks and how ties were ranked. Benchmarks
    and rank classes are about the whole evaluated group: a partition of a larger layer passes the
    group's ``resolved`` formulas (:func:`resolve_score` on :func:`add_facts` of every partition's
    :func:`score_facts`) and, for rank classes, the group's ``cuts`` (:func:`rank_cuts`); without them
    the frame is the whole group (the one-partition case of the same steps). With a ``tally`` dict the
    one finding that counts parcels of the whole layer is not made here but counted into it (a
    partition's count; :func:`no_formula_column_finding` makes it from the sum).
    """
    from .rules import absent_columns, applies_mask

    n = len(frame)
    applies, cannot_tell, _unknown = applies_mask(frame, score.applies_to)
    notes = [f"applies_to ignores {c}: the data has no such column" for c in absent_columns(frame, score.applies_to)]
    if resolved is None:
        resolved, more = resolve_score(score, score_facts(frame, score, min_area_m2=min_area_m2), frame.columns)
        notes += more
    col = score.variant_column
    if col is not None and col not in frame.columns:
        notes.append(f"the formula is chosen by {col}, which the data does not have: no parcel can be scored")
    value, missing, variant_missing, used_all = score_values(frame, score, resolved)
    klass = np.full(n, None, dtype=object)
    if score.classes_by == "score":
        assigned = np.zeros(n, dtype=bool)
        for c in score.classes:
            m = np.isfinite(value) & ~assigned & (value >= float(c["min_score"]) - 1e-9)
            klass[m] = c["class"]
            assigned |= m
    elif score.classes_by == "rank":
        if cuts is None:
            cuts, more = rank_cuts(value, score.classes)
            notes += more
        klass = _classes_by_cuts(value, score.classes, cuts)
    else:
        notes.append(score.classes_note or "no class cut-offs: the score only")
    scored = np.isfinite(value)
    klass[missing] = "missing"
    not_eval = ~applies & ~cannot_tell
    klass[not_eval] = score.not_evaluated_class or "n/a"
    codes = np.full(n, NA, dtype=np.int8)
    if score.classes_by != "none":
        codes[scored] = PASS
    codes[np.isin(klass, list(score.fail_classes)) & scored] = FAIL
    codes[missing] = MISSING
    verdict = pd.Series(pd.Categorical.from_codes(codes, categories=list(_VERDICTS)), index=frame.index)
    parts = [row_findings(
        frame, codes == FAIL, kind="rule", check=score.id, severity=score.severity, verdict="fail", column="score",
        value=value, raw=klass, source=score.source,
        reason_zh=f"{score.name_zh}为 {'/'.join(score.fail_classes)} 类（亩均效益低）",
        reason_en=f"{score.name_en}: class {'/'.join(score.fail_classes)} (low per-mu returns)")]
    if col is not None and col in frame.columns:
        parts.append(row_findings(
            frame, variant_missing & ~cannot_tell, kind="rule", check=score.id, severity="warning", verdict="missing",
            column=col, source=score.source, raw=frame[col].to_numpy(dtype=object),
            reason_zh=f"{col} 缺失或无法识别，无法选择评价公式：{score.name_zh}",
            reason_en=f"{col} is missing or unknown, so the formula cannot be chosen: {score.name_en}"))
    elif col is not None and applies.any():
        if tally is None:
            parts.append(no_formula_column_finding(score, int(applies.sum())))
        else:
            tally[("no_formula_column", score.id)] = int(applies.sum())
    rest = missing & ~variant_missing
    parts.append(row_findings(
        frame, rest, kind="rule", check=score.id, severity="warning", verdict="missing", column="score",
        source=score.source, reason_zh=f"评价所需数据缺失（{', '.join(used_all)}），无法评价：{score.name_zh}",
        reason_en=f"data for the evaluation is missing ({', '.join(used_all)}): cannot rank {score.name_en}"))
    return (pd.Series(value, index=frame.index, name=f"score:{score.id}"),
            pd.Series(klass, index=frame.index, name=f"class:{score.id}"), verdict, concat_findings(parts, sort=False), notes)


def no_formula_column_finding(score, n: int) -> pd.DataFrame:
    """The one finding of a score whose formula column the data lacks, for ``n`` parcels it applies to."""
    col = score.variant_column
    return table_finding(
        kind="rule_pack", check=score.id, severity="warning", column=col, level="all", group="(all)",
        value=float(n), source=score.source,
        reason_zh=f"数据无 {col} 列，无法选择评价公式，{n} 宗地无法评价：{score.name_zh}",
        reason_en=f"the data has no {col} column to choose the formula: {n} parcels cannot be scored for {score.name_en}")
