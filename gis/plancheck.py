"""The plan held against itself: printed unit conversions, parts against wholes, stated shares.

Every check is data in ``layers/targets.yaml`` (``relations`` and ``conversions``), so a planner can
add one without Python. Values are compared to the precision the plan prints them with: 217.87 万元/亩
stands for anything from 217.865 to 217.875.

>>> checks = plan_check()
>>> bool(checks.set_index("id").loc["yaogu.zones_in_phase1", "consistent"])
False
"""

from __future__ import annotations

import pandas as pd

from .bundled import load_targets
from .errors import InputError
from .targets import all_targets
from .units import MU_M2

__all__ = ["plan_check", "printed_precision"]

_RATE_TO_BASE = {"wan_per_mu": 1.0, "wan_per_ha": 1.0 / 15.0, "yi_yuan": 1.0}  # 万元/公顷 ÷ 15 = 万元/亩
_AREA_M2 = {"m2": 1.0, "mu": MU_M2, "ha": 10_000.0, "km2": 1_000_000.0}


def printed_precision(value) -> float:
    """Half a unit in the last printed digit: 217.87 → 0.005, 73 → 0.5, 2595.0 → 0.05."""
    text = str(value)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0 ** -decimals


def _base(value, unit):
    """Value in a base unit (m² for areas, 万元/亩 for rates) and the unit family."""
    if unit in _AREA_M2:
        return float(value) * _AREA_M2[unit], "area"
    if unit in _RATE_TO_BASE:
        return float(value) * _RATE_TO_BASE[unit], "rate"
    raise InputError(f"unknown unit {unit!r} in targets.yaml")


def _fmt(value, unit):
    return f"{value:g} {unit}"


def plan_check(path=None) -> pd.DataFrame:
    """One row per check: id, kind, statement, expected, stated, difference, consistent, note, source.

    For area checks the numbers are in 亩; for rates in 万元/亩.
    """
    data = load_targets(path)
    targets = all_targets(path)
    rows = []

    def target(tid):
        if tid not in targets:
            raise InputError(f"targets.yaml: a relation names the unknown target {tid!r}")
        return targets[tid]

    for conv in data.get("conversions", []):
        left, right = conv["left"], conv["right"]
        lv, fam = _base(left["value"], left["unit"])
        rv, fam2 = _base(right["value"], right["unit"])
        # the right-hand side is the printed conversion: compare at its printed precision
        scale = _AREA_M2.get(right["unit"], _RATE_TO_BASE.get(right["unit"], 1.0))
        tol = printed_precision(right["value"]) * scale
        diff = lv - rv
        unit_out = "亩" if fam == "area" else "万元/亩"
        conv_out = MU_M2 if fam == "area" else 1.0
        rows.append({"id": conv.get("id", ""), "kind": "conversion",
                     "statement": f"{_fmt(left['value'], left['unit'])} = {_fmt(right['value'], right['unit'])}",
                     "expected": lv / conv_out, "stated": rv / conv_out, "difference": diff / conv_out,
                     "unit": unit_out, "consistent": abs(diff) <= tol + 1e-9 * abs(rv),
                     "note": conv.get("note", ""), "source": conv.get("source", "")})

    for rel in data.get("relations", []):
        whole = target(rel["whole"])
        wv, fam = _base(whole.value, whole.unit)
        conv_out = MU_M2 if fam == "area" else 1.0
        unit_out = "亩" if fam == "area" else "万元/亩"
        base = {"id": rel.get("id", ""), "note": rel.get("note", "") or "", "source": rel.get("source", "")}
        if "equals" in rel:
            other = target(rel["equals"])
            ov, _ = _base(other.value, other.unit)
            tol = max(printed_precision(whole.value) * _AREA_M2.get(whole.unit, 1.0),
                      printed_precision(other.value) * _AREA_M2.get(other.unit, 1.0))
            rows.append({**base, "kind": "equals",
                         "statement": f"{whole.id} ({_fmt(whole.value, whole.unit)}) = {other.id} ({_fmt(other.value, other.unit)})",
                         "expected": wv / conv_out, "stated": ov / conv_out, "difference": (ov - wv) / conv_out,
                         "unit": unit_out, "consistent": abs(ov - wv) <= tol})
        elif "parts_share" in rel:
            for pid, pct in rel["parts_share"].items():
                part = target(pid)
                pv, _ = _base(part.value, part.unit)
                actual = 100.0 * pv / wv
                tol = printed_precision(pct)
                rows.append({**base, "id": f"{base['id']}:{pid}", "kind": "share",
                             "statement": f"{pid} is {pct:g} % of {whole.id} ({_fmt(part.value, part.unit)} of {_fmt(whole.value, whole.unit)})",
                             "expected": actual, "stated": float(pct), "difference": float(pct) - actual, "unit": "%",
                             "consistent": abs(actual - float(pct)) <= tol + 1e-9})
        else:
            parts = [target(p) for p in rel.get("parts", [])]
            values = [_base(p.value, p.unit)[0] for p in parts]
            total = sum(values)
            tol = sum(printed_precision(p.value) * _AREA_M2.get(p.unit, 1.0) for p in parts)
            tol = max(tol, printed_precision(whole.value) * _AREA_M2.get(whole.unit, 1.0))
            check = rel.get("check", "sum")
            if check == "within":
                ok = total <= wv + tol
                statement = f"{' + '.join(p.id for p in parts)} ({total / conv_out:,.2f} {unit_out}) within {whole.id} ({_fmt(whole.value, whole.unit)})"
            else:
                ok = abs(total - wv) <= tol
                statement = f"Σ {len(parts)} parts ({total / conv_out:,.2f} {unit_out}) = {whole.id} ({_fmt(whole.value, whole.unit)})"
            rows.append({**base, "kind": check, "statement": statement, "expected": wv / conv_out,
                         "stated": total / conv_out, "difference": (total - wv) / conv_out, "unit": unit_out,
                         "consistent": bool(ok)})
    out = pd.DataFrame(rows, columns=["id", "kind", "statement", "expected", "stated", "difference", "unit",
                                      "consistent", "note", "source"])
    out["consistent"] = out["consistent"].astype(bool)
    return out
