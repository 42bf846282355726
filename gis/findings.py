"""The findings table every audit step adds to: one row per problem, with the reason in words.

A finding is either about a parcel (``row`` and ``parcel_id`` set), about a column header, or about a
group of the summary (``level`` and ``group`` set). Findings are built for whole masks at once, so a
million failing parcels cost one vectorised frame, not a million Python objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FINDING_COLUMNS", "SEVERITIES", "empty_findings", "row_findings", "table_finding", "concat_findings"]

FINDING_COLUMNS = [
    "row", "parcel_id", "park_id", "zone_id", "level", "group", "kind", "check", "severity", "verdict",
    "column", "value", "threshold", "raw", "reason_zh", "reason_en", "source",
]
SEVERITIES = ("error", "warning", "info")

_DTYPES = {"row": "Int64", "value": "float64", "threshold": "float64"}


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "object")) for c in FINDING_COLUMNS})


def row_findings(frame: pd.DataFrame, mask, *, kind: str, check: str, severity: str, reason_zh: str,
                 reason_en: str, column: str | None = None, value=None, threshold=None, raw=None,
                 verdict: str | None = None, source: str | None = None) -> pd.DataFrame:
    """Findings for the rows of ``frame`` where ``mask`` is true (value/threshold/raw may be arrays)."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    if n == 0:
        return empty_findings()
    idx = np.flatnonzero(mask)

    def pick(name):
        if name in frame.columns:
            return frame[name].to_numpy(dtype=object)[idx]
        return np.full(n, None, dtype=object)

    def arr(v, dtype):
        if v is None:
            return np.full(n, np.nan if dtype is float else None, dtype=dtype)
        if np.ndim(v) == 0:
            return np.full(n, v, dtype=dtype)
        a = np.asarray(v)
        return (a[idx] if len(a) == len(mask) else a).astype(dtype)

    row = frame["_row"].to_numpy()[idx] if "_row" in frame.columns else idx
    out = pd.DataFrame({
        "row": pd.array(row, dtype="Int64"),
        "parcel_id": pick("parcel_id"),
        "park_id": pick("park_id"),
        "zone_id": pick("zone_id"),
        "level": np.full(n, None, dtype=object),
        "group": np.full(n, None, dtype=object),
        "kind": kind,
        "check": check,
        "severity": severity,
        "verdict": verdict,
        "column": column,
        "value": arr(value, float),
        "threshold": arr(threshold, float),
        "raw": arr(raw, object),
        "reason_zh": reason_zh,
        "reason_en": reason_en,
        "source": source,
    })
    return out


def table_finding(*, kind: str, check: str, severity: str, reason_zh: str, reason_en: str, column=None,
                  level=None, group=None, value=None, threshold=None, verdict=None, raw=None,
                  source=None) -> pd.DataFrame:
    """A single finding that is not about one parcel (a header, a rule pack, a summary group)."""
    rec = dict.fromkeys(FINDING_COLUMNS)
    rec.update(kind=kind, check=check, severity=severity, reason_zh=reason_zh, reason_en=reason_en,
               column=column, level=level, group=group, value=value, threshold=threshold, verdict=verdict,
               raw=raw, source=source)
    out = pd.DataFrame([rec], columns=FINDING_COLUMNS)
    return out.astype({k: v for k, v in _DTYPES.items()})


def concat_findings(parts) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return empty_findings()
    out = pd.concat(parts, ignore_index=True)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    out["_sev"] = out["severity"].map(order).fillna(len(order))
    out = out.sort_values(["_sev", "row"], kind="stable", na_position="first").drop(columns="_sev")
    return out.reset_index(drop=True)
