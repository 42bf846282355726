"""A PostgreSQL/PostGIS database as a source and a sink, for the io core's ``postgresql://`` scheme.

:func:`read_source` reads a table (``?table=``, or the ``layer`` argument) or a query (``?sql=``) into a
GeoDataFrame whose CRS is the geometry's SRID; :func:`write_source` writes a frame all or nothing.
A plain table is written to a staging table and swapped into place in the same transaction; the
store's ``parcels`` and ``zones`` (see :mod:`gis.store.schema`) keep their definition, triggers and
policies: the rows are staged, then deleted, updated and inserted by key in one transaction, so the
history records what really changed, and parkgis' ``area_mu`` is measured for every row.
A process killed half-way leaves the previous table as it was.
"""

from __future__ import annotations

import logging
import uuid

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import require_crs, to_crs
from ..errors import CRSError, InputError, LayerNotFoundError, OutputExistsError
from ._copy import MAX_IDENTIFIER_BYTES, copy_in, frame_to_arrow, pg_type
from ._read import read_select, select_expression
from .schema import AUDIT_TABLES, CORE_COLUMNS, MANAGED, META_TABLE, STORE_SRID, schema_of, store_info
from .url import connect, parse_url, redact

__all__ = ["read_source", "write_source", "redact", "table_columns", "require_store_table"]

log = logging.getLogger(__name__)

_READ_ONLY_TABLES = (*AUDIT_TABLES, "history", META_TABLE)


# --------------------------------------------------------------------------------------- reading
def read_source(url: str, *, layer: str | None = None, crs=None, with_notes: bool = False):
    """Read a table or query at ``url`` into a GeoDataFrame, geometry in its stored SRID.

    ``layer`` names the table (overriding ``?table=``). ``crs`` assigns a CRS to geometry stored
    without an SRID (and overrides a stored one, with a warning). The store's ``parcels`` and
    ``zones`` drop their internal ``fid`` and ``measured_at`` columns, and their one-part
    MultiPolygons come back as Polygons (as they were written; several parts stay a MultiPolygon).
    Curved geometry (CurvePolygon, MultiSurface …) is stroked as in files; with ``with_notes`` the
    result is ``(frame, notes)``, the WKB reader's notes per row position (:func:`gis.io.read` makes
    them findings).
    """
    target = parse_url(url, layer=layer)
    red = target.redacted
    if not target.table and not target.sql:
        raise InputError(f"{red}: name a table (?table=parcels) or a query (?sql=SELECT …)")
    import psycopg

    with connect(target) as (conn, target):
        # one snapshot for the catalogue look-ups and the rows (the rows are read in it: gis.store._read)
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        cur = conn.cursor()
        if target.table:
            frame, notes = _read_table(conn, cur, target, crs)
        else:
            frame, notes = _read_query(conn, cur, target, crs)
        conn.rollback()
    log.info("read %d rows from %s", len(frame), red)
    return (frame, notes) if with_notes else frame


def _resolve_table(conn, target):
    """(oid, schema, table) of the URL's table, or LayerNotFoundError listing the tables with geometry."""
    from psycopg import sql

    qualified = (sql.Identifier(target.schema, target.table) if target.schema else sql.Identifier(target.table)).as_string(conn)
    row = conn.execute("SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.oid = to_regclass(%s)", [qualified]).fetchone()
    if row is None:
        where = target.schema or "the search path"
        names = conn.execute("SELECT string_agg(DISTINCT f_table_name, ', ' ORDER BY f_table_name) FROM geometry_columns "
                             "WHERE f_table_schema = coalesce(%s, current_schema())", [target.schema]).fetchone()[0]
        raise LayerNotFoundError(f"{target.redacted}: no table {target.table!r} in {where}"
                                 + (f"; tables with geometry there: {names}" if names else ""))
    return row


def require_store_table(cols, red: str, schema: str, table: str) -> None:
    """InputError unless ``cols`` (from :func:`table_columns`) have the store's core columns for ``table``."""
    names = {n for n, _, _ in cols}
    lacking = [c for c in (*CORE_COLUMNS[table], "fid", "geom") if c not in names]
    if lacking:
        raise InputError(f"{red}: {schema}.{table} is not the store's {table} table (no {', '.join(lacking)} "
                         f"column); recreate the store or use another table")


def table_columns(conn, oid) -> list[tuple[str, str, int]]:
    """(name, typname, typmod) of a table's columns, in order."""
    return conn.execute("SELECT a.attname, t.typname, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", [oid]).fetchall()


def _read_table(conn, cur, target, crs):
    from psycopg import sql

    oid, schema, table = _resolve_table(conn, target)
    red = target.redacted
    cols = table_columns(conn, oid)
    geom_cols = [c for c in cols if c[1] == "geometry"]
    if not geom_cols:
        raise InputError(f"{red}: table {schema}.{table} has no geometry column (its columns: "
                         f"{', '.join(c[0] for c in cols)})")
    geom = next((c for c in geom_cols if c[0] == "geom"), geom_cols[0])[0]
    info = store_info(conn, schema)
    if info is not None and table in MANAGED:
        require_store_table(cols, red, schema, table)
    srids = _srids(conn, schema, table, geom)
    if info is not None:
        wanted = int(info.get("srid", STORE_SRID))
        other = [s for s in srids if s != wanted]
        if other:
            raise CRSError(f"{red}: the geometry column {schema}.{table}.{geom} is in SRID {other[0]}, "
                           f"but the store holds EPSG:{wanted}; transform it (ST_Transform) or read it with a query")
    skip = {"fid", "measured_at"} if info is not None and table in MANAGED else set()
    chosen = [(n, t) for n, t, _ in cols if n not in skip]
    select = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(select_expression(sql, n, t) for n, t in chosen), sql.Identifier(schema, table))
    # the store keeps MultiPolygons (one type for QGIS); one-part ones come back as the polygons they were
    df, notes = read_select(conn, target.conninfo, select.as_string(conn), geometry_column=geom, red=red,
                            single_parts=bool(skip))
    return _to_geoframe(df, srids, crs, red, f"{schema}.{table}.{geom}"), notes


def _srids(conn, schema, table, geom) -> list[int]:
    from psycopg import sql

    row = conn.execute("SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
                       "AND f_geometry_column = %s", [schema, table, geom]).fetchone()
    if row is not None and row[0]:
        return [int(row[0])]
    found = conn.execute(sql.SQL("SELECT DISTINCT ST_SRID({g}) FROM {t} WHERE {g} IS NOT NULL").format(
        g=sql.Identifier(geom), t=sql.Identifier(schema, table))).fetchall()
    return sorted(int(r[0]) for r in found)


def _read_query(conn, cur, target, crs):
    from psycopg import sql

    red = target.redacted
    query = sql.SQL(target.sql.strip().rstrip(";"))
    cur.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(query))
    oids = [d.type_code for d in cur.description]
    names = {oid: name for oid, name in conn.execute("SELECT oid, typname FROM pg_type WHERE oid = ANY(%s)",
                                                     [list(set(oids))]).fetchall()}
    chosen = [(d.name, names.get(d.type_code, "text")) for d in cur.description]
    names = [n for n, _ in chosen]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(f"{red}: the query returns two columns named {dup!r}: rename one")
    geom_cols = [n for n, t in chosen if t == "geometry"]
    if not geom_cols:
        raise InputError(f"{red}: the query returns no geometry column (columns: {', '.join(n for n, _ in chosen)})")
    geom = "geom" if "geom" in geom_cols else geom_cols[0]
    select = sql.SQL("SELECT {} FROM ({}) AS q").format(
        sql.SQL(", ").join(select_expression(sql, n, t) for n, t in chosen), query)
    df, notes = read_select(conn, target.conninfo, select.as_string(conn), geometry_column=geom, red=red)
    geoms = df["__geometry__"].to_numpy()
    present = ~shapely.is_missing(geoms)
    srids = sorted({int(s) for s in np.unique(shapely.get_srid(geoms[present]))}) if present.any() else []
    return _to_geoframe(df, srids, crs, red, f"the query's {geom}"), notes


def _to_geoframe(df, srids, crs, red, what):
    geoms = df.pop("__geometry__").to_numpy()
    name = "geometry" if "geometry" not in df.columns else "geom"
    if len(srids) > 1:
        raise CRSError(f"{red}: {what} mixes SRIDs {', '.join(map(str, srids))}; transform them to one (ST_Transform)")
    srid = srids[0] if srids else 0
    if crs is not None:
        wanted = to_crs(crs)
        if srid and not wanted.equals(to_crs(srid)):
            log.warning("%s: %s is stored in EPSG:%d; using %s as given", red, what, srid, wanted.to_string())
        found = wanted
    elif srid:
        try:
            found = to_crs(srid)
        except CRSError:
            raise CRSError(f"{red}: {what} is in SRID {srid}, which is no EPSG code pyproj knows") from None
    elif len(df) == 0 or not (~shapely.is_missing(geoms)).any():
        found = to_crs(STORE_SRID)
    else:
        raise CRSError(f"{red}: {what} has no SRID; give the CRS of its coordinates")
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index, crs=found, name=name), crs=found)


# --------------------------------------------------------------------------------------- writing
def write_source(frame, url: str, *, overwrite: bool = False, layer: str | None = None) -> str:
    """Write ``frame`` to the table at ``url`` (or named by ``layer``), all or nothing; returns the redacted URL.

    An existing table is replaced only with ``overwrite`` (else :class:`OutputExistsError`). A
    GeoDataFrame's geometry goes to a ``geom`` column in its CRS's EPSG code (EPSG:4490 in the store);
    the store's ``parcels`` and ``zones`` are written by key, keeping their triggers and policies.
    """
    target = parse_url(url, layer=layer)
    red = target.redacted
    if target.sql:
        raise InputError(f"{red}: a query (?sql=) can only be read; name a table to write (?table=…)")
    if not target.table:
        raise InputError(f"{red}: name the table to write (?table=…)")
    _check_identifier(target.table, red)
    _check_columns(frame, red)
    with connect(target) as (conn, target):
        schema = schema_of(target)
        info = store_info(conn, schema)
        if info is not None and target.table in _READ_ONLY_TABLES:
            raise InputError(f"{red}: {schema}.{target.table} is written by the store itself (audit runs are saved "
                             f"with the store's audit writer); choose another table")
        if info is not None and target.table in MANAGED:
            from ._managed import write_managed

            n = write_managed(conn, target, frame, overwrite=overwrite, srid=int(info.get("srid", STORE_SRID)))
        else:
            n = _write_plain(conn, target, frame, overwrite=overwrite, store_srid=int(info["srid"]) if info else None)
    log.info("wrote %d rows to %s", n, red)
    return red


def _check_identifier(name: str, red: str) -> None:
    if len(str(name).encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise InputError(f"{red}: the name {name!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES} bytes")


def _check_columns(frame, red: str) -> None:
    names = [str(c) for c in frame.columns]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(f"{red}: the frame has two columns named {dup!r}")
    for n in names:
        _check_identifier(n, red)


def split_frame(frame, *, srid: int | None, red: str):
    """(plain columns frame, {name: pg type}, geometry array or None, srid) of a (Geo)DataFrame to write."""
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        crs = require_crs(frame, what=red)
        if srid is not None:
            if not crs.equals(to_crs(srid)):
                frame = frame.to_crs(srid)
        else:
            srid = crs.to_epsg()
            if srid is None:
                log.info("%s: the CRS has no EPSG code; writing in EPSG:%d", red, STORE_SRID)
                frame, srid = frame.to_crs(STORE_SRID), STORE_SRID
        geoms = frame.geometry.to_numpy()
        plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    else:
        geoms, plain = None, pd.DataFrame(frame)
    if "geom" in plain.columns and geoms is not None:
        raise InputError(f"{red}: the frame has a column named 'geom' besides its geometry: rename it")
    plain.columns = [str(c) for c in plain.columns]
    return plain, {c: pg_type(plain[c]) for c in plain.columns}, geoms, srid


def _geometry_type(geoms) -> str:
    present = geoms[~shapely.is_missing(geoms)]
    kinds = np.unique(shapely.get_type_id(present)) if len(present) else []
    names = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}
    return names.get(int(kinds[0]), "Geometry") if len(kinds) == 1 else "Geometry"


def _before_swap(conn, staging) -> None:
    """Called with the staging table written, just before it replaces the target (a seam for tests)."""


def _write_plain(conn, target, frame, *, overwrite: bool, store_srid: int | None) -> int:
    from psycopg import sql

    red, schema, table = target.redacted, schema_of(target), target.table
    plain, types, geoms, srid = split_frame(frame, srid=store_srid, red=red)
    staging = f"{table[:40]}_parkgis_stage_{uuid.uuid4().hex[:8]}"
    t_target, t_stage = sql.Identifier(schema, table), sql.Identifier(schema, staging)
    defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in plain.columns]
    if geoms is not None:
        defs.append(sql.SQL("geom geometry({}, {})").format(sql.SQL(_geometry_type(geoms)), sql.Literal(int(srid))))
    arrow = frame_to_arrow(plain, types, geometry=geoms)
    with conn.transaction():
        if schema != "public":
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [t_target.as_string(conn)]).fetchone()[0]
        if exists and not overwrite:
            raise OutputExistsError(f"{red}: table {schema}.{table} exists", setting="overwrite")
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(t_stage, sql.SQL(", ").join(defs) if defs else sql.SQL("")))
        copy_in(conn.cursor(), t_stage, arrow)
        if geoms is not None:
            conn.execute(sql.SQL("CREATE INDEX {} ON {} USING gist (geom)").format(
                sql.Identifier(f"{staging}_geom_idx"), t_stage))
        _before_swap(conn, staging)
        if exists:
            conn.execute(sql.SQL("DROP TABLE {}").format(t_target))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(t_stage, sql.Identifier(table)))
        if geoms is not None:
            index = f"{table[:50]}_geom_idx"
            taken = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [sql.Identifier(schema, index).as_string(conn)]).fetchone()[0]
            if not taken:
                conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(schema, f"{staging}_geom_idx"), sql.Identifier(index)))
    return len(plain)

