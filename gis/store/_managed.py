"""Writing the store's ``parcels`` and ``zones``: staged, then deleted, updated and inserted by key in one transaction.

The table keeps its definition, constraints, triggers, grants and row-level-security policies (a swap
of tables would lose them). The history triggers see only the rows that really changed. ``area_mu`` is
measured by parkgis (:func:`gis.area.area_m2`) for every row written.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ..area import area_m2
from ..errors import InputError, OutputExistsError
from ..parallel import map_array
from ..units import MU_M2
from ._copy import copy_in, frame_to_arrow
from .schema import CORE_COLUMNS, MANAGED, schema_of

__all__ = ["write_managed", "prepare_rows", "arrow_chunks"]

log = logging.getLogger(__name__)

_INTERNAL = ("fid", "measured_at")
_KEY_ALIASES = {"zones": ("id",)}  # the bundled zone layers name their key "id"


def _examples(values, n: int = 3) -> str:
    vals = [str(v) for v in list(values)[:n]]
    return ", ".join(vals) + (" …" if len(values) > n else "")


def prepare_rows(frame, table: str, *, srid: int, red: str):
    """Check ``frame`` for ``table``: (plain columns, {column: pg type} with area_mu, geometries, validity).

    Raises InputError naming the rows for a missing, blank or repeated key, a parcel without a park,
    and missing, non-polygon or invalid geometry. area_mu is measured later, chunk by chunk
    (:func:`arrow_chunks`), while the server takes the chunks before.
    """
    from .io import split_frame

    key = MANAGED[table]
    if key not in frame.columns:
        alias = next((a for a in _KEY_ALIASES.get(table, ()) if a in frame.columns), None)
        if alias is None:
            raise InputError(f"{red}: the {table} need a {key} column (the frame has: {', '.join(map(str, frame.columns))})")
        frame = frame.rename(columns={alias: key})
    internal = [c for c in _INTERNAL if c in frame.columns]
    if internal:
        raise InputError(f"{red}: the column {internal[0]!r} is the store's own; rename it in the data")
    if not hasattr(frame, "geometry"):
        raise InputError(f"{red}: the {table} need geometry")
    plain, types, geoms, _ = split_frame(frame, srid=srid, red=red)
    keys = plain[key]
    blank = keys.isna() | keys.astype("string").str.strip().eq("")
    if blank.any():
        raise InputError(f"{red}: {int(blank.sum())} rows have no {key} (rows {_examples(np.flatnonzero(blank.to_numpy()) + 1)}); "
                         f"every row needs one")
    keys = keys.astype(str)
    dup = keys[keys.duplicated()]
    if len(dup):
        raise InputError(f"{red}: {key} repeats ({_examples(dup.unique())}); each must be unique")
    if table == "parcels":
        park = plain["park_id"] if "park_id" in plain.columns else pd.Series(None, index=plain.index, dtype=object)
        nopark = park.isna() | park.astype("string").str.strip().eq("")
        if nopark.any():
            raise InputError(f"{red}: {int(nopark.sum())} parcels have no park_id ({_examples(keys[nopark.to_numpy()])}); "
                             f"the editors' rights are per park")
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(f"{red}: {int(missing.sum())} rows have no geometry ({_examples(keys[missing])})")
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (3, 6)).all():
        raise InputError(f"{red}: the {table} must be polygons ({_examples(keys[~np.isin(kinds, (3, 6))])} are not)")
    valid = map_array(shapely.is_valid, geoms)  # on every core
    if not valid.all():
        raise InputError(f"{red}: {int((~valid).sum())} geometries are invalid ({_examples(keys[~valid])}); "
                         f"the validate command says why, shapely.make_valid repairs them")
    plain = plain.copy()
    plain[key] = keys.to_numpy()
    if "area_mu" in plain.columns:
        log.info("%s: the area_mu given is replaced by parkgis' measurement", red)
        plain = plain.drop(columns="area_mu")
    types = {c: ("text" if c in CORE_COLUMNS[table] and CORE_COLUMNS[table][c] == "text" else t)
             for c, t in {**types, "area_mu": "double precision"}.items()}
    return plain, types, geoms, valid


def arrow_chunks(plain, types, geoms, valid, *, srid: int, extra: dict | None = None, rows: int = 50_000):
    """Arrow tables of ``rows`` rows: the columns, area_mu measured by :func:`gis.area.area_m2`, MultiPolygon WKB.

    A generator, so that the server inserts one chunk while the next is measured. ``extra`` adds
    constant columns (name -> value: text, or a timestamp).
    """
    crs = f"EPSG:{srid}"
    for start in range(0, len(plain), rows):
        part = plain.iloc[start:start + rows]
        g = geoms[start:start + rows]
        part = part.assign(area_mu=area_m2(g, crs=crs, valid=valid[start:start + rows]).to_numpy() / MU_M2)
        table = frame_to_arrow(part, types, geometry=g, multi=True)  # the store holds MultiPolygons
        for name, value in (extra or {}).items():
            table = table.append_column(name, pa.repeat(pa.scalar(value), table.num_rows))
        yield table


def write_managed(conn, target, frame, *, overwrite: bool, srid: int) -> int:
    """Replace the rows of the store's ``parcels`` or ``zones`` with ``frame``'s, by key, in one transaction."""
    from psycopg import sql

    from .io import _before_swap, require_store_table, table_columns

    red, schema, table = target.redacted, schema_of(target), target.table
    key = MANAGED[table]
    plain, types, geoms, valid = prepare_rows(frame, table, srid=srid, red=red)
    columns = [*plain.columns, "area_mu"]
    t = sql.Identifier(schema, table)
    with conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(t))
        # the history triggers hold the statement's rows in memory (transition tables): room for a bulk load
        conn.execute("SET LOCAL work_mem = '256MB'")
        has_rows = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(t)).fetchone()[0]
        if has_rows and not overwrite:
            raise OutputExistsError(f"{red}: {schema}.{table} holds rows already", setting="overwrite")
        oid = conn.execute("SELECT %s::regclass::oid", [t.as_string(conn)]).fetchone()[0]
        require_store_table(table_columns(conn, oid), red, schema, table)
        existing = {n: ty for n, ty, _ in table_columns(conn, oid)}
        for c in columns:
            if c not in existing:
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(t, sql.Identifier(c), sql.SQL(types[c])))
                log.info("%s: added column %s (%s) to %s", red, c, types[c], table)
        existing = [n for n, _, _ in table_columns(conn, oid)]
        data_cols = [c for c in existing if c not in _INTERNAL]
        if not has_rows:  # a first load: straight into the table (its triggers see the COPY as one INSERT)
            # indexes that are no constraint are built once after the rows are in, not row by row
            rebuild = conn.execute("SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                                   "WHERE i.indrelid = %s AND NOT i.indisunique AND NOT i.indisprimary", [oid]).fetchall()
            # so are the keys' unique indexes (a sort instead of a million B-tree descents: the rows' keys were
            # checked unique above, and adding the constraint back checks them again), unless a foreign key needs one
            keys = conn.execute("SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c WHERE c.conrelid = %s "
                                "AND c.contype IN ('p', 'u') AND NOT EXISTS (SELECT 1 FROM pg_constraint f "
                                "WHERE f.contype = 'f' AND f.confrelid = c.conrelid AND f.conindid = c.conindid)",
                                [oid]).fetchall()
            for name, _ in rebuild:  # names and definitions as the server quotes them (regclass, pg_get_indexdef)
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
            for name, _ in keys:
                conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(t, sql.Identifier(name)))
            now = conn.execute("SELECT now()").fetchone()[0]
            copy_in(conn.cursor(), t, arrow_chunks(plain, types, geoms, valid, srid=srid, extra={"measured_at": now}))
            for name, definition in keys:
                conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(t, sql.Identifier(name), sql.SQL(definition)))
            for _, definition in rebuild:
                conn.execute(sql.SQL(definition))
            _before_swap(conn, f"{schema}.{table}")
            log.info("%s: %s: %d inserted", red, table, len(plain))
            return len(plain)
        stage = sql.Identifier(f"parkgis_stage_{table}")
        conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            stage, sql.SQL(", ").join(sql.Identifier(c) for c in data_cols), t))
        copy_in(conn.cursor(), stage, arrow_chunks(plain, types, geoms, valid, srid=srid))
        conn.execute(sql.SQL("CREATE INDEX ON {} ({})").format(stage, sql.Identifier(key)))
        conn.execute(sql.SQL("ANALYZE {}").format(stage))
        _before_swap(conn, f"pg_temp.parkgis_stage_{table}")
        k = sql.Identifier(key)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in data_cols)
        s_cols = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in data_cols)
        p_cols = sql.SQL(", ").join(sql.SQL("p.{}").format(sql.Identifier(c)) for c in data_cols)
        deleted = conn.execute(sql.SQL("DELETE FROM {t} p WHERE NOT EXISTS (SELECT 1 FROM {s} s WHERE s.{k} = p.{k})").format(
            t=t, s=stage, k=k)).rowcount
        updated = conn.execute(sql.SQL(
            "UPDATE {t} p SET ({cols}, measured_at) = ROW({s_cols}, now()) FROM {s} s "
            "WHERE s.{k} = p.{k} AND ROW({p_cols}) IS DISTINCT FROM ROW({s_cols})").format(
            t=t, cols=cols, s_cols=s_cols, p_cols=p_cols, s=stage, k=k)).rowcount
        inserted = conn.execute(sql.SQL(
            "INSERT INTO {t} ({cols}, measured_at) SELECT {s_cols}, now() FROM {s} s "
            "WHERE NOT EXISTS (SELECT 1 FROM {t} p WHERE p.{k} = s.{k})").format(
            t=t, cols=cols, s_cols=s_cols, s=stage, k=k)).rowcount
        log.info("%s: %s: %d inserted, %d updated, %d deleted", red, table, inserted, updated, deleted)
    return len(plain)
