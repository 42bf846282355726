"""Writing an :class:`~gis.audit.AuditResult`: one workbook, or one file per table where a format holds one.

``.xlsx`` gets a sheet per table (parcels, summary, findings, rules, indicators, columns); ``.gpkg`` a
layer per table (parcels with geometry); ``.md`` and ``.html`` a section per table. Single-table
formats (``.csv``, ``.parquet``, ``.geojson``) hold the parcels, and the other tables go beside it as
``<stem>.<table>.csv`` (``<stem>.<table>.parquet`` beside a Parquet file, for millions of findings). Every file is written atomically; nothing is written when any target exists
without ``overwrite``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .errors import InputError
from .io import atomic_output, check_output, write_layers, write_tables

__all__ = ["write_audit", "audit_outputs", "check_targets", "XLSX_MAX_ROWS"]

log = logging.getLogger(__name__)

XLSX_MAX_ROWS = 1_048_575
_MULTI = {".xlsx", ".gpkg", ".md", ".html"}
_SINGLE = {".csv", ".parquet", ".geoparquet", ".geojson", ".json"}


def _plain_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text (every writer understands it); geometry kept."""
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return frame
    out = frame.copy()
    for c in cats:
        out[c] = out[c].astype("object")
    return out


_TABLES = ("summary", "findings", "rules", "indicators", "columns")


def _side_suffix(suffix: str) -> str:
    return ".parquet" if suffix in (".parquet", ".geoparquet") else ".csv"


def audit_outputs(path) -> list[Path]:
    """Every file :func:`write_audit` would write for ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _MULTI:
        return [path]
    if suffix in _SINGLE:
        return [path, *(path.with_name(f"{path.stem}.{t}{_side_suffix(suffix)}") for t in _TABLES)]
    raise InputError(f"cannot write an audit to {suffix or 'a file without an extension'}: "
                     f"use .xlsx, .gpkg, .csv, .parquet, .geojson, .md or .html")


def check_targets(path, *, overwrite: bool = False, inputs=()) -> list[Path]:
    """Raise before any work when an output would replace an input, or an existing file without ``overwrite``
    (:func:`gis.io.check_output` for every file :func:`write_audit` would write)."""
    from .io import is_url

    if is_url(path):  # a run in the shared store (gis.store): refused up front when it exists
        from .store.runs import check_run

        check_run(str(path), overwrite=overwrite)
        return [str(path)]
    targets = audit_outputs(path)
    for t in targets:
        check_output(t, overwrite=overwrite, inputs=inputs)
    return targets


def write_audit(result, path, *, overwrite: bool = False, inputs=(), lang: str | None = None) -> list[Path]:
    """Write the audit's tables to ``path`` (format by extension); returns the files written.

    ``lang`` ("zh" or "en") gives an ``.xlsx`` headers with units, verdicts in words and a notes
    sheet (:mod:`gis.audit_workbook`); None keeps the machine column names there too. Every
    workbook gets number formats, a frozen header, filters, widths and failing cells highlighted.
    Other formats always keep the machine names.
    """
    from .io import is_url, source_name

    if is_url(path):  # postgresql://…?run=ID: the run and its per-parcel results, in one transaction
        from .store.runs import write_audit_run

        check_targets(path, overwrite=overwrite, inputs=inputs)
        sources = [source_name(i) for i in inputs if i is not None]
        run = write_audit_run(result, str(path), overwrite=overwrite, source=sources[0] if sources else None)
        return [f"{source_name(path)} (run {run})"]
    path = Path(path)
    check_targets(path, overwrite=overwrite, inputs=inputs)
    suffix = path.suffix.lower()
    parquet = suffix in (".parquet", ".geoparquet")
    # Parquet keeps categoricals (dictionary-encoded); other writers get plain text
    tables = {name: (t if parquet else _plain_types(t)) for name, t in result.tables().items()}
    if suffix == ".xlsx":
        big = {n: len(t) for n, t in tables.items() if len(t) > XLSX_MAX_ROWS}
        if big:
            name, n = next(iter(big.items()))
            raise InputError(f"the {name} table has {n:,} rows, more than a worksheet holds: write .gpkg, .parquet or .csv")
    if suffix in (".xlsx", ".md", ".html"):
        tables["parcels"] = pd.DataFrame(tables["parcels"].drop(columns=tables["parcels"].geometry.name))
    if suffix == ".xlsx":
        from .audit_workbook import write_workbook

        with atomic_output(path, overwrite=overwrite, inputs=inputs) as tmp:
            write_workbook(tables, tmp, lang=lang)
        log.info("wrote %s", path)
        return [path]
    if suffix in _MULTI:
        write_tables(path, tables, overwrite=overwrite, inputs=inputs)
        return [path]
    parcels = tables.pop("parcels")
    sides = {path.with_name(f"{path.stem}.{name}{_side_suffix(suffix)}"): _parquet_safe(t) if parquet else t
             for name, t in tables.items()}
    # the parcels (most of the work) and the side tables written at once, and put in place all or none
    write_layers({path: parcels, **sides}, overwrite=overwrite, inputs=inputs)
    written = [path, *sides]
    log.info("wrote %s", ", ".join(str(p) for p in written))
    return written


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types (numbers and text) as text, which Parquet requires."""
    out = frame
    for c in frame.columns:
        if frame[c].dtype == object:
            kinds = {type(v) for v in frame[c].dropna().head(10_000)}
            if len(kinds) > 1:
                out = out.copy() if out is frame else out
                out[c] = frame[c].map(lambda v: None if v is None else str(v))
    return out
