"""Reading a SELECT into a frame through ADBC's PostgreSQL driver (binary COPY parsed into Arrow in C).

libpq hands a ``COPY … TO STDOUT`` over one row per call; from Python that loop alone took 3 s of a
million parcels. ADBC's driver runs it in C and returns Arrow record batches, already typed: integers,
doubles, booleans, timestamps and text as Arrow columns, geometry as the EWKB PostGIS sends. The batches
are converted as they arrive (geometry parsed by shapely on every core), so the whole result is never
held twice.

The read runs in the snapshot of the caller's psycopg transaction (``pg_export_snapshot``), so the
columns and SRIDs the caller looked up describe the rows read, as ``pg_dump`` does it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ..errors import InputError
from ..parallel import map_array

__all__ = ["NATIVE_TYPES", "select_expression", "read_select"]

NATIVE_TYPES = {"int2", "int4", "int8", "float4", "float8", "bool", "timestamp", "timestamptz", "date", "text", "varchar",
                "bpchar", "name", "geometry"}
"""Types read as themselves; every other column is selected as text (numeric as float8)."""


def select_expression(sql, name: str, typname: str):
    """The SELECT item for a column: itself, ``::float8`` for numeric, ``::text`` for other types."""
    ident = sql.Identifier(name)
    if typname in NATIVE_TYPES:
        return ident
    cast = "float8" if typname == "numeric" else "text"
    return sql.SQL("{}::{} AS {}").format(ident, sql.SQL(cast), ident)


def _adbc():
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError("reading postgresql:// needs adbc-driver-postgresql: pip install 'parkgis[postgis]'") from None
    return dbapi


def _server_message(exc) -> str:
    """The server's own line of an ADBC error (its message also repeats the query)."""
    text = str(exc)
    for line in text.splitlines():
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip()
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first.split(": ", 1)[-1]


def read_select(conn, conninfo: str, query: str, *, geometry_column: str | None, red: str,
                single_parts: bool = False) -> tuple[pd.DataFrame, dict]:
    """Run ``query`` (SQL text) in the snapshot of ``conn``'s transaction: ``(frame, notes)``, geometry in
    the frame's ``__geometry__``.

    Geometry is parsed by the io core's WKB reader (:func:`gis.io._vector.parse_wkb_column`): curves (a
    cadastre's arcs) are stroked, and ``notes`` says so per row position, as for files. ``conninfo`` is
    libpq's connection string for the same database and user. With ``single_parts`` a MultiPolygon of one
    part is read as its Polygon (its WKB sits inside the MultiPolygon's).
    """
    dbapi = _adbc()
    snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
    frames, geoms, notes, done = [], [], {}, 0
    try:
        # text in UTF-8 whatever the server's encoding (Arrow strings are UTF-8), as the psycopg connection has it
        uri = conninfo + ("&" if "?" in conninfo else "?") + "client_encoding=UTF8&connect_timeout=10&application_name=parkgis"
        with dbapi.connect(uri) as ac, ac.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # pg_export_snapshot's id: hex digits and dashes
            cur.execute(query)
            reader = cur.fetch_record_batch()
            schema = reader.schema
            for batch in reader:
                if geometry_column is not None:
                    at = batch.schema.get_field_index(geometry_column)
                    g, found = _geometries(batch.column(at), single_parts)
                    geoms.append(g)
                    notes.update({done + i: n for i, n in found.items()})
                    batch = batch.remove_column(at)
                done += batch.num_rows
                frames.append(batch)
            ac.rollback()
    except (dbapi.Error, OSError) as exc:  # a server error mid-stream comes through Arrow's reader as OSError
        raise InputError(f"{red}: {_server_message(exc)}") from None
    if geometry_column is not None:
        schema = schema.remove(schema.get_field_index(geometry_column))
    table = pa.Table.from_batches(frames, schema=schema)
    frame = _to_frame(table)
    if geometry_column is not None:
        frame["__geometry__"] = np.concatenate(geoms) if geoms else np.array([], dtype=object)
    return frame, notes


def _geometries(column: pa.Array, single_parts: bool) -> tuple[np.ndarray, dict]:
    """Shapely geometries from a column of EWKB (None where null) and the WKB reader's notes per row.

    GEOS parses every row it can on every core; curves and what GEOS refuses go through the io core's own
    WKB reader, which keeps the SRID of the EWKB header here (a query's rows say their SRID themselves).
    """
    from ..io._vector import parse_wkb_column

    arr = column.storage if isinstance(column, pa.ExtensionArray) else column
    if single_parts and len(arr):
        arr = _inner_single_parts(arr)
    geoms, notes = parse_wkb_column(arr)
    for i in notes:
        srid = _ewkb_srid(arr[i].as_py())
        if srid and geoms[i] is not None:
            geoms[i] = shapely.set_srid(geoms[i], srid)
    return geoms, notes


def _ewkb_srid(value: bytes | None) -> int:
    """The SRID of an EWKB header (0 without one)."""
    if not value or len(value) < 9:
        return 0
    order = "little" if value[0] == 1 else "big"
    return int.from_bytes(value[5:9], order) if int.from_bytes(value[1:5], order) & 0x20000000 else 0


def _inner_single_parts(arr: pa.BinaryArray) -> pa.BinaryArray:
    """The same values, with a MultiPolygon of one part replaced by its Polygon's own WKB (no geometry made:
    the header of the MultiPolygon, 9 bytes or 13 with an SRID, and the part count are cut away)."""
    if arr.offset:
        arr = pa.concat_arrays([arr])  # offsets from 0
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1).astype(np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    start, length = offsets[:-1], np.diff(offsets)
    valid = np.asarray(arr.is_valid()) if arr.null_count else np.ones(len(arr), bool)
    ok = valid & (length >= 13)
    at = np.where(ok, start, 0)
    little = data[at] == 1 if len(data) else np.zeros(len(arr), bool)

    def u32(pos):
        raw = np.stack([data[np.minimum(pos + k, max(len(data) - 1, 0))] for k in range(4)], axis=1).astype(np.uint32)
        le = raw[:, 0] | raw[:, 1] << 8 | raw[:, 2] << 16 | raw[:, 3] << 24
        be = raw[:, 3] | raw[:, 2] << 8 | raw[:, 1] << 16 | raw[:, 0] << 24
        return np.where(little, le, be)

    kind = u32(at + 1)
    skip = np.where(kind & 0x20000000, 9, 5)  # byte order + type (+ SRID)
    one = ok & ((kind & 0x0FFFFFFF) == 6) & ((kind & 0xC0000000) == 0) & (u32(at + skip) == 1)
    if not one.any():
        return arr
    cut = np.where(one, skip + 4, 0)
    keep = np.ones(len(data), bool)
    heads = start[one]
    for k in range(13):  # at most 13 header bytes per value
        sel = cut[one] > k
        keep[heads[sel] + k] = False
    new_offsets = offsets - np.concatenate([[0], np.cumsum(cut)])
    return pa.BinaryArray.from_buffers(pa.binary(), len(arr), [arr.buffers()[0], pa.py_buffer(new_offsets.astype(np.int32)),
                                                                pa.py_buffer(data[keep])], arr.null_count)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """pandas columns by the store's conventions: a missing number is NaN (doubles) or <NA> (integers,
    booleans: never 0 or False), timestamps in microseconds (UTC when stored with a time zone), dates as
    datetime64, text as pandas' default string type."""
    out, texts = {}, {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if isinstance(t, pa.ExtensionType):  # a type the SELECT did not cast: its text
            col, t = pa.chunked_array([c.storage for c in col.chunks], type=t.storage_type), t.storage_type
        nulls = col.null_count > 0
        if pa.types.is_floating(t):
            out[name] = pd.Series(col.to_numpy().astype(np.float64))
        elif pa.types.is_integer(t):
            wide = col.cast(pa.int64())
            out[name] = (wide.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get) if nulls
                         else pd.Series(wide.to_numpy()))
        elif pa.types.is_boolean(t):
            out[name] = (col.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get) if nulls
                         else pd.Series(col.to_numpy()))
        elif pa.types.is_timestamp(t):
            s = pd.Series(col.cast(pa.timestamp("us")).to_numpy())
            out[name] = s.dt.tz_localize("UTC") if t.tz else s
        elif pa.types.is_date(t):
            out[name] = pd.Series(col.cast(pa.timestamp("s")).to_numpy())
        else:
            texts[name] = col if pa.types.is_string(t) or pa.types.is_large_string(t) else col.cast(pa.string())
            out[name] = None  # keeps the column order; filled below
    if texts:  # Arrow's own conversion gives the strings pandas' default dtype
        converted = pa.table(texts).to_pandas()
        for name in texts:
            out[name] = converted[name]
    return pd.DataFrame(out, index=pd.RangeIndex(table.num_rows))
