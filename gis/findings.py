"""The findings table every audit step adds to: one row per problem, with the reason in words.

A finding is either about a parcel (``row`` set, 0-based while it is built; every table a library function
returns — read, validate, audit, zonal — has it 1-based: 1 = the input's first record), about a
column header, or about a group of the summary (``level`` and ``group`` set). Findings are built for
whole masks at once: the repeated texts (check, severity, reasons …) are categoricals holding one
string each, and the parcel ids are attached once at the end (:func:`concat_findings` with ``ids=``),
so a million failing parcels cost a few integer arrays, not a million Python strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FINDING_COLUMNS", "SEVERITIES", "ID_COLUMNS", "empty_findings", "row_findings", "table_finding",
           "concat_findings"]

FINDING_COLUMNS = [
    "row", "parcel_id", "park_id", "zone_id", "level", "group", "kind", "check", "severity", "verdict",
    "column", "value", "threshold", "raw", "reason_zh", "reason_en", "source", "feature", "other", "x", "y",
]
"""The one findings schema of every command (read, validate, audit, zonal). ``row`` is the 0-based input
row; ``feature`` the row's id as the layer names it and ``other`` a second feature (an overlap's
partner); ``x``/``y`` where the problem lies, in the layer's CRS; ``value`` the measured figure (for
geometry checks the area in 亩, with ``column`` saying which)."""
SEVERITIES = ("error", "warning", "info")
ID_COLUMNS = ("parcel_id", "park_id", "zone_id")
_TEXT = ("kind", "check", "severity", "verdict", "column", "reason_zh", "reason_en", "source")
_FLOAT = ("value", "threshold", "x", "y")


def _const(value, n: int) -> pd.Categorical:
    if value is None:
        return pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=pd.Index([], dtype="object"))
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([str(value)], dtype="object"))


def _objects(values, n: int) -> pd.Series:
    if values is None:
        return pd.Series(np.full(n, None, dtype=object), dtype=object)
    return pd.Series(values, dtype=object)


_EMPTY: list = []


def empty_findings() -> pd.DataFrame:
    if not _EMPTY:
        _EMPTY.append(_frame(0, np.zeros(0, dtype=np.int64), {}, {}))
    return _EMPTY[0].copy()


def _frame(n, row, texts: dict, others: dict) -> pd.DataFrame:
    cols = {}
    for c in FINDING_COLUMNS:
        if c == "row":
            cols[c] = pd.array(row, dtype="Int64")
        elif c in _TEXT:
            cols[c] = _const(texts.get(c), n)
        elif c in _FLOAT:
            v = others.get(c)
            cols[c] = np.full(n, np.nan) if v is None else np.asarray(v, dtype="float64")
        else:
            cols[c] = _objects(others.get(c), n)
    return pd.DataFrame(cols)


def row_findings(frame: pd.DataFrame, mask, *, kind: str, check: str, severity: str, reason_zh: str,
                 reason_en: str, column: str | None = None, value=None, threshold=None, raw=None,
                 verdict: str | None = None, source: str | None = None) -> pd.DataFrame:
    """Findings for the rows of ``frame`` where ``mask`` is true (value/threshold/raw may be arrays).

    ``row`` is the frame's ``_row`` column when present (the input row), else the position. Parcel ids
    are attached by :func:`concat_findings` (``ids=frame``).
    """
    mask = np.asarray(mask, dtype=bool)
    if len(frame) != len(mask):
        raise ValueError("mask and frame differ in length")
    n = int(mask.sum())
    if n == 0:
        return empty_findings()
    idx = np.flatnonzero(mask)

    def arr(v, dtype):
        if v is None:
            return None
        if np.ndim(v) == 0:
            return np.full(n, v, dtype=dtype)
        if isinstance(v, pd.Series):
            v = v.to_numpy(dtype=object if dtype is object else "float64")
        a = np.asarray(v)
        a = a[idx] if len(a) == len(mask) else a
        if dtype is object:
            a = a.astype(object)
            return np.where(pd.isna(a), None, a)
        return a.astype(dtype)

    row = frame["_row"].to_numpy()[idx] if "_row" in frame.columns else idx
    texts = dict(kind=kind, check=check, severity=severity, verdict=verdict, column=column, reason_zh=reason_zh,
                 reason_en=reason_en, source=source)
    return _frame(n, row, texts, {"value": arr(value, float), "threshold": arr(threshold, float), "raw": arr(raw, object)})


def table_finding(*, kind: str, check: str, severity: str, reason_zh: str, reason_en: str, column=None,
                  level=None, group=None, value=None, threshold=None, verdict=None, raw=None,
                  source=None) -> pd.DataFrame:
    """A single finding that is not about one parcel (a header, a rule pack, a summary group)."""
    texts = dict(kind=kind, check=check, severity=severity, verdict=verdict, column=column, reason_zh=reason_zh,
                 reason_en=reason_en, source=source)
    others = {"value": [np.nan if value is None else value], "threshold": [np.nan if threshold is None else threshold],
              "level": [level], "group": [group], "raw": [raw]}
    return _frame(1, np.array([0]), texts, others).assign(row=pd.array([None], dtype="Int64"))


def concat_findings(parts, *, ids: pd.DataFrame | None = None, sort: bool = True, row_base: int = 0) -> pd.DataFrame:
    """One findings table from parts, errors first then warnings then info, in row order.

    With ``ids`` (the parcel frame the rows refer to, with ``_row`` or positional rows) the parcel,
    park and zone ids are filled in with one vectorised take per column; ``row_base`` 1 when the parts'
    rows already count from 1 (as every returned table does), 0 for the positions used inside.
    """
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return empty_findings()
    cols = {}
    for c in FINDING_COLUMNS:
        if c in _TEXT:
            cols[c] = _union([p[c] for p in parts])
        elif c == "row":
            cols[c] = pd.array(np.concatenate([p[c].to_numpy(dtype="float64", na_value=np.nan) for p in parts]))
        elif c in _FLOAT:
            cols[c] = np.concatenate([p[c].to_numpy(dtype="float64") for p in parts])
        else:  # object as given: pandas would otherwise infer text columns and convert them twice
            cols[c] = pd.Series(np.concatenate([p[c].to_numpy(dtype=object) for p in parts]), dtype=object, copy=False)
    out = pd.DataFrame(cols)
    out["row"] = out["row"].astype("Int64")
    if ids is not None:
        _attach_ids(out, ids, row_base)
    if not sort:
        return out
    sev = pd.Categorical(out["severity"].astype(object), categories=list(SEVERITIES)).codes
    order = np.lexsort((out["row"].to_numpy(dtype="float64", na_value=-1.0), sev))
    return out.take(order).reset_index(drop=True)


def _union(series) -> pd.Categorical:
    """Concatenate categoricals (or anything) by remapping codes onto the union of their categories."""
    cats = [s.array if isinstance(s.dtype, pd.CategoricalDtype) else pd.Categorical(s) for s in series]
    allc = pd.Index(sorted({str(c) for cat in cats for c in cat.categories}), dtype=object)
    codes = []
    for cat in cats:
        remap = np.append(allc.get_indexer(pd.Index([str(c) for c in cat.categories], dtype=object)), -1)
        codes.append(remap[np.asarray(cat.codes)])
    return pd.Categorical.from_codes(np.concatenate(codes).astype(np.int32), categories=allc)


def _attach_ids(out: pd.DataFrame, frame: pd.DataFrame, row_base: int = 0) -> None:
    """Fill the id columns of the findings that refer to a parcel row, by one Arrow take per column (text
    stays Arrow text: no Python string per finding); findings without a row keep theirs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = out["row"].to_numpy(dtype="float64", na_value=np.nan) - row_base
    has = np.isfinite(rows)
    if not has.any():
        return
    take = np.where(has, rows, 0).astype(np.int64)
    if "_row" in frame.columns:
        r = frame["_row"].to_numpy()
        if not np.array_equal(r, np.arange(len(frame))):
            take = pd.Series(np.arange(len(frame)), index=r).reindex(take).fillna(-1).to_numpy(dtype=np.int64)
    has &= (take >= 0) & (take < len(frame))  # a row the frame does not have keeps no ids
    index = pa.array(np.where(has, take, 0), mask=~has)
    keep = pa.array(has)
    for c in ID_COLUMNS:
        if c not in frame.columns:
            continue
        values = pa.array(frame[c].astype("str"), from_pandas=True).cast(pa.large_string())  # a no-op for text
        taken = pc.take(values, index)
        if not out[c].isna().all():  # findings without a row may name their own
            taken = pc.if_else(keep, taken, pa.array(out[c].astype("str"), from_pandas=True).cast(pa.large_string()))
        out[c] = pd.Series(taken, index=out.index, dtype="str")
