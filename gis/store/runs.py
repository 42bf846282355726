"""Audit runs in the store: one row per run, its per-parcel results and its findings, written all or nothing.

Several auditors may write different runs at once (each run is its own rows); a run that exists is
replaced only with ``overwrite``. Per-parcel results keep ``parcel_id``, ``park_id``, ``verdict``,
``area_mu`` and the geometry as columns (for QGIS and SQL), and every other column of the audit's
parcel table in ``result`` (JSON), so nothing the audit computed is lost.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ..errors import InputError, OutputExistsError
from ._copy import copy_in, wkb_binary
from .schema import STORE_SRID, require_store, schema_of
from .url import connect

__all__ = ["write_audit_run", "check_run", "list_runs"]

log = logging.getLogger(__name__)

_KEPT = ("row", "parcel_id", "park_id", "verdict", "area_mu")


def _json_lines(frame: pd.DataFrame) -> list[str]:
    if frame.shape[1] == 0:
        return ["{}"] * len(frame)
    plain = frame.copy()
    for c in plain.columns:
        if isinstance(plain[c].dtype, pd.CategoricalDtype):
            plain[c] = plain[c].astype(object)
    text = plain.reset_index(drop=True).to_json(orient="records", lines=True, force_ascii=False,
                                                default_handler=str, double_precision=15)
    lines = text.rstrip("\n").split("\n") if len(plain) else []
    return lines


def _geoms_4490(parcels) -> pa.Array:
    """WKB MultiPolygons in the store's SRID, one per parcel (null without geometry)."""
    if not isinstance(parcels, gpd.GeoDataFrame):
        return pa.nulls(len(parcels), type=pa.binary())
    g = parcels.geometry
    if g.crs is not None and g.crs.to_epsg() != STORE_SRID:
        g = g.to_crs(STORE_SRID)
    arr = np.asarray(g.values, dtype=object)
    kinds = shapely.get_type_id(arr)
    out = np.where(np.isin(kinds, (3, 6)), arr, None)  # (multi)polygons; anything else has no place in the column
    return wkb_binary(out, multi=True)  # the column's type gives it SRID 4490


def _column(frame, name, kind):
    if name not in frame.columns:
        return pa.nulls(len(frame), type=kind)
    s = frame[name]
    if kind == pa.string():
        vals = s.astype(object).where(s.notna(), None).to_numpy(dtype=object)
        return pa.array([None if v is None else str(v) for v in vals], type=pa.string())
    return pa.array(pd.to_numeric(s, errors="coerce"), type=kind, from_pandas=True)


def write_audit_run(result, url, *, run: str | None = None, overwrite: bool = False, source: str | None = None) -> str:
    """Save an :class:`~gis.audit.AuditResult` as run ``run`` (or the URL's ``?run=``); returns the run id."""
    from psycopg import errors as pg_errors
    from psycopg import sql

    with connect(url) as (conn, target):
        red, schema = target.redacted, schema_of(target)
        run = run or target.run
        if not run or not str(run).strip():
            raise InputError(f"{red}: name the audit run (e.g. ?run=2026Q3)")
        require_store(conn, target)
        parcels = result.parcels
        geometry_name = parcels.geometry.name if isinstance(parcels, gpd.GeoDataFrame) else None
        rest = parcels.drop(columns=[c for c in (*_KEPT, geometry_name) if c in parcels.columns])
        results = pa.Table.from_arrays(
            [pa.array(np.full(len(parcels), run, dtype=object), type=pa.string()),
             _column(parcels, "row", pa.int64()), _column(parcels, "parcel_id", pa.string()),
             _column(parcels, "park_id", pa.string()), _column(parcels, "verdict", pa.string()),
             _column(parcels, "area_mu", pa.float64()), pa.array(_json_lines(pd.DataFrame(rest)), type=pa.string()),
             _geoms_4490(parcels)],
            names=["run_id", "row", "parcel_id", "park_id", "verdict", "area_mu", "result", "geom"])
        f = result.findings
        findings = pa.Table.from_arrays(
            [pa.array(np.full(len(f), run, dtype=object), type=pa.string()), _column(f, "row", pa.int64()),
             _column(f, "parcel_id", pa.string()), _column(f, "severity", pa.string()), _column(f, "check", pa.string()),
             pa.array(_json_lines(f), type=pa.string())],
            names=["run_id", "row", "parcel_id", "severity", "check", "detail"])
        runs_t = sql.Identifier(schema, "audit_runs")
        try:
            with conn.transaction():
                exists = conn.execute(sql.SQL("SELECT 1 FROM {} WHERE run_id = %s FOR UPDATE").format(runs_t), [run]).fetchone()
                if exists and not overwrite:
                    raise OutputExistsError(f"{red}: the audit run {run!r} exists", setting="overwrite")
                if exists:
                    conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(runs_t), [run])
                packs = sorted(set(result.rules["pack"].astype(str))) if "pack" in result.rules.columns else []
                conn.execute(sql.SQL("INSERT INTO {} (run_id, source, packs, n_parcels, n_findings, summary, rules) "
                                     "VALUES (%s, %s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb)").format(runs_t),
                             [run, source, pd.Series(packs).to_json(orient="values"), len(parcels), len(f),
                              "[" + ",".join(_json_lines(result.summary)) + "]",
                              "[" + ",".join(_json_lines(result.rules)) + "]"])
                cur = conn.cursor()
                copy_in(cur, sql.Identifier(schema, "audit_results"), results)
                copy_in(cur, sql.Identifier(schema, "audit_findings"), findings)
        except pg_errors.UniqueViolation:
            raise OutputExistsError(f"{red}: the audit run {run!r} was written by someone else just now",
                                    setting="overwrite") from None
        log.info("%s: saved audit run %s (%d parcels, %d findings)", red, run, len(parcels), len(f))
        return str(run)


def check_run(url, *, run: str | None = None, overwrite: bool = False) -> str:
    """Before the work: raise when the run cannot be written (no name, no store, exists without ``overwrite``).

    Returns the run id. :func:`write_audit_run` checks again, in its transaction.
    """
    from psycopg import sql

    with connect(url) as (conn, target):
        red = target.redacted
        run = run or target.run
        if not run or not str(run).strip():
            raise InputError(f"{red}: name the audit run (e.g. ?run=2026Q3)")
        require_store(conn, target)
        exists = conn.execute(sql.SQL("SELECT 1 FROM {} WHERE run_id = %s").format(
            sql.Identifier(schema_of(target), "audit_runs")), [run]).fetchone()
    if exists and not overwrite:
        raise OutputExistsError(f"{red}: the audit run {run!r} exists", setting="overwrite")
    return str(run)


def list_runs(url) -> pd.DataFrame:
    """The store's audit runs, newest first."""
    from psycopg import sql

    with connect(url) as (conn, target):
        require_store(conn, target)
        rows = conn.execute(sql.SQL("SELECT run_id, created_at, created_by, source, n_parcels, n_findings FROM {} "
                                    "ORDER BY created_at DESC").format(sql.Identifier(schema_of(target), "audit_runs"))).fetchall()
    return pd.DataFrame(rows, columns=["run_id", "created_at", "created_by", "source", "n_parcels", "n_findings"])
