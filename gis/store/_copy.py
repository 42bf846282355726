"""Writing frames into PostgreSQL with ``COPY … FROM STDIN``, geometry as WKB.

Binary COPY (:func:`encode_binary`) whenever every column's Arrow type has the binary form of the
column it goes into: doubles, integers, booleans, timestamps, text (and json, whose binary input is its
text), geometry (PostGIS reads WKB, the column's type gives the SRID). The server then parses no numbers
and no hexadecimal, a third of CSV's work on a million parcels. The rows are laid out with numpy
in one gather per chunk, no Python per row or field. A column of any other type (numeric, date, jsonb
made by someone else) sends the whole COPY as CSV, written by Arrow (quoted text, so an empty string and
a NULL stay apart), geometry as hexadecimal WKB.
"""

from __future__ import annotations

import io
import itertools
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from ..errors import InputError

__all__ = ["pg_type", "frame_to_arrow", "copy_in", "wkb_binary", "encode_binary", "MAX_IDENTIFIER_BYTES"]

log = logging.getLogger(__name__)

MAX_IDENTIFIER_BYTES = 63
_CHUNK_ROWS = 50_000
_CHUNK_BYTES = 16 * 2**20  # a COPY message's data at most (about): district boundaries run to megabytes a row


def chunk_rows(table: pa.Table) -> int:
    """Rows per COPY message: at most 50 000, and about 16 MB of the table's data (a gather index of eight
    bytes per byte is made for each message)."""
    if not table.num_rows:
        return _CHUNK_ROWS
    per_row = table.nbytes / table.num_rows
    return int(max(1, min(_CHUNK_ROWS, _CHUNK_BYTES // max(per_row, 1))))


def pg_type(series: pd.Series) -> str:
    """The PostgreSQL type a column is stored as."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp"
    if dtype == object:
        kinds = {type(v) for v in series.dropna().head(10_000)} - {str}
        if kinds and all(issubclass(k, (bool, np.bool_)) for k in kinds):
            return "boolean" if series.dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all() else "text"
    return "text"


def _as_text(series: pd.Series) -> pa.Array:
    if pd.api.types.is_string_dtype(series.dtype) and not series.dtype == object:  # arrow-backed text: as it is
        arr = pa.array(series.array, from_pandas=True)
        return arr.cast(pa.string()) if arr.type != pa.string() else arr
    values = series.to_numpy(dtype=object, na_value=None)
    missing = pd.isna(series).to_numpy()
    out = np.where(missing, None, values)
    kinds = {type(v) for v in out[~missing][:1000]}
    if kinds - {str}:
        out = np.array([None if m else str(v) for v, m in zip(out, missing)], dtype=object)
    return pa.array(out, type=pa.string())


def frame_to_arrow(frame: pd.DataFrame, columns: dict[str, str], *, geometry=None,
                   geometry_name: str = "geom", multi: bool = False) -> pa.Table:
    """An Arrow table of ``columns`` (name -> PostgreSQL type) from ``frame``, plus WKB geometry
    (with ``multi`` Polygons as MultiPolygons of one part, :func:`wkb_binary`).

    The geometry goes without an SRID: the column it is copied into must be typed with one.
    """
    arrays, names = [], []
    for name, kind in columns.items():
        s = frame[name]
        if kind == "text":
            arr = _as_text(s)
        elif kind == "boolean":
            arr = pa.array(s.astype("boolean"), type=pa.bool_(), from_pandas=True)
        elif kind == "bigint":
            arr = pa.array(s, type=pa.int64(), from_pandas=True)
        elif kind == "double precision":
            arr = pa.array(pd.to_numeric(s, errors="raise").astype("float64"), type=pa.float64(), from_pandas=True)
        elif kind == "timestamptz":
            arr = pa.array(s.dt.tz_convert("UTC"), type=pa.timestamp("us", tz="UTC"), from_pandas=True)
        elif kind == "timestamp":
            arr = pa.array(s, type=pa.timestamp("us"), from_pandas=True)
        else:
            arr = _as_text(s)
        arrays.append(arr)
        names.append(name)
    if geometry is not None:
        # plain WKB: the target column's type carries the SRID, and PostGIS gives it to geometry without one
        arrays.append(wkb_binary(geometry, multi=multi))
        names.append(geometry_name)
    return pa.Table.from_arrays(arrays, names=names)


_MULTI_OF_ONE = bytes.fromhex("010600000001000000")  # little-endian MultiPolygon header with one part


def _buffers(arr: pa.Array):
    """(offsets as int64 from 0, data bytes) of a binary or string array."""
    wide = pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32, count=len(arr) + 1,
                            offset=arr.offset * (8 if wide else 4)).astype(np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0]:offsets[-1]]


def wkb_binary(geometry, *, multi: bool = False) -> pa.BinaryArray:
    """Little-endian WKB of each geometry (null for a missing one), as an Arrow binary array.

    shapely's WKB on every core. With ``multi`` a Polygon is written as the MultiPolygon of its one part:
    a MultiPolygon header before its own WKB, spliced for the whole array in one numpy scatter (no new
    geometry is made).
    """
    from ..parallel import map_array

    geoms = np.asarray(geometry, dtype=object)
    raw = pa.array(map_array(lambda g: shapely.to_wkb(g, byte_order=1), geoms), type=pa.binary())
    if not multi:
        return raw
    if len(raw) > _CHUNK_ROWS:  # the splice's index arrays take eight bytes per byte: a chunk at a time
        return pa.concat_arrays([_spliced(raw.slice(a, _CHUNK_ROWS), geoms[a:a + _CHUNK_ROWS])
                                 for a in range(0, len(raw), _CHUNK_ROWS)])
    return _spliced(raw, geoms)


def _spliced(raw: pa.BinaryArray, geoms: np.ndarray) -> pa.BinaryArray:
    """``raw`` with the MultiPolygon-of-one header before every Polygon's WKB."""
    if raw.offset:  # a slice: its validity bitmap from bit 0, as from_buffers takes it
        raw = pa.concat_arrays([raw])
    rel, body = _buffers(raw)
    single = shapely.get_type_id(geoms) == 3
    lengths, add = np.diff(rel), np.where(single, len(_MULTI_OF_ONE), 0)
    new = np.concatenate([[0], np.cumsum(lengths + add)])
    out = np.empty(int(new[-1]), dtype=np.uint8)
    out[np.arange(len(body)) + np.repeat(new[:-1] + add - rel[:-1], lengths)] = body
    heads = new[:-1][single]
    out[heads[:, None] + np.arange(len(_MULTI_OF_ONE))] = np.frombuffer(_MULTI_OF_ONE, dtype=np.uint8)
    return pa.BinaryArray.from_buffers(pa.binary(), len(raw), [raw.buffers()[0], pa.py_buffer(new.astype(np.int32)),
                                                               pa.py_buffer(out)], raw.null_count)


# ------------------------------------------------------------------------------ binary COPY
_FIXED = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8", "bool": "u1",
          "timestamp": ">i8", "timestamptz": ">i8"}
_TEXT_TARGETS = {"text", "varchar", "bpchar", "name", "json"}  # json's binary input is its text
_INT_RANGE = {"int2": (-2**15, 2**15 - 1), "int4": (-2**31, 2**31 - 1)}
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_TRAILER = b"\xff\xff"


def _binary_form(arrow_type, typname: str) -> bool:
    """Whether a column of ``arrow_type`` can be sent in the binary form of a column of type ``typname``."""
    if pa.types.is_null(arrow_type):
        return True
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return typname in _TEXT_TARGETS
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return typname in ("geometry", "bytea")
    if pa.types.is_integer(arrow_type):
        return typname in ("int2", "int4", "int8")
    if pa.types.is_floating(arrow_type):
        return typname in ("float4", "float8")
    if pa.types.is_boolean(arrow_type):
        return typname == "bool"
    if pa.types.is_timestamp(arrow_type):
        return typname == ("timestamptz" if arrow_type.tz else "timestamp")
    return False


def _fixed_values(arr: pa.Array, typname: str, name: str) -> np.ndarray:
    if pa.types.is_timestamp(arr.type):
        us = pc.fill_null(arr.cast(pa.timestamp("us", tz=arr.type.tz)), 0).cast(pa.int64())
        return us.to_numpy() - _PG_EPOCH_US
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), dtype=np.int64)
    values = pc.fill_null(arr, False if pa.types.is_boolean(arr.type) else 0).to_numpy(zero_copy_only=False)
    if typname in _INT_RANGE and len(values):
        low, high = _INT_RANGE[typname]
        bad = (values < low) | (values > high)
        if bad.any():
            raise InputError(f"column {name!r}: {values[bad][0]} does not fit the column's type ({typname})")
    return values


def encode_binary(table: pa.Table, types: dict[str, str], *, header: bool = False, trailer: bool = False) -> bytes:
    """The rows of ``table`` in PostgreSQL's binary COPY format, each column in the binary form of its
    target type (``types``: column -> typname); with the stream's ``header`` and ``trailer`` when asked.

    Each row is its field count, then per field a big-endian length (-1 for NULL) and the bytes. Every
    piece of every row is located in one source buffer, and the output is one gather from it.
    """
    n = table.num_rows
    sources, starts, lengths = [], [], []
    base = 0

    def piece(src: np.ndarray, start, length):
        nonlocal base
        sources.append(src)
        starts.append(np.asarray(start, dtype=np.int64) + base)
        lengths.append(np.broadcast_to(np.asarray(length, dtype=np.int64), (n,)))
        base += len(src)

    piece(np.frombuffer(np.array([table.num_columns], dtype=">i2").tobytes(), dtype=np.uint8), np.zeros(n), 2)
    for name, column in zip(table.column_names, table.columns):
        arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        typname = types[name]
        null = np.asarray(arr.is_null()) if arr.null_count else np.zeros(n, dtype=bool)
        if typname in _FIXED:
            dtype = np.dtype(_FIXED[typname])
            w = dtype.itemsize
            block = np.empty((n, 4 + w), dtype=np.uint8)
            block[:, :4] = np.where(null, -1, w).astype(">i4").view(np.uint8).reshape(n, 4)
            block[:, 4:] = _fixed_values(arr, typname, name).astype(dtype).view(np.uint8).reshape(n, w)
            piece(block.ravel(), np.arange(n) * (4 + w), np.where(null, 4, 4 + w))
        else:  # text, json, WKB: length, then the bytes
            if pa.types.is_null(arr.type):
                offsets, data = np.zeros(n + 1, dtype=np.int64), np.zeros(0, np.uint8)
            else:
                offsets, data = _buffers(arr)
            size = np.diff(offsets)
            piece(np.where(null, -1, size).astype(">i4").view(np.uint8), np.arange(n) * 4, 4)
            piece(data, offsets[:-1], np.where(null, 0, size))
    start = np.stack(starts, axis=1).ravel()  # row by row, field by field
    length = np.stack(lengths, axis=1).ravel()
    total = int(length.sum())
    src = np.concatenate(sources)
    at = np.repeat(start - (np.cumsum(length) - length), length) + np.arange(total)
    body = src[at].tobytes()
    return (_HEADER if header else b"") + body + (_TRAILER if trailer else b"")


# ------------------------------------------------------------------------------ CSV COPY (other column types)
_HEX = np.array([list(f"{i:02x}".encode()) for i in range(256)], dtype=np.uint8)  # byte -> its two hex digits


def _for_csv(table: pa.Table) -> pa.Table:
    """WKB as hexadecimal text (PostGIS' text form of a geometry), timestamps as ISO text."""
    arrays = []
    for column in table.columns:
        arr = column.combine_chunks()
        t = arr.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            offsets, data = _buffers(arr)
            arr = pa.StringArray.from_buffers(len(arr), pa.py_buffer((offsets * 2).astype(np.int32)),
                                              pa.py_buffer(_HEX[data].reshape(-1)), arr.buffers()[0], arr.null_count)
        elif pa.types.is_timestamp(t):
            arr = pc.strftime(arr, "%Y-%m-%d %H:%M:%S.%f" + ("%z" if t.tz else ""))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def column_types(conn, target) -> dict[str, str]:
    """{column: typname} of the table ``target`` (a psycopg ``sql`` identifier; temporary tables too)."""
    rows = conn.execute("SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                        [target.as_string(conn)]).fetchall()
    return dict(rows)


def copy_in(cursor, target, tables) -> int:
    """Stream an Arrow table, or an iterable of them, into the table ``target`` (a psycopg ``sql``
    identifier), columns by name; returns the rows sent.

    Binary COPY when every column has the binary form of its target column (:func:`encode_binary`), else
    CSV. The data go to the server from a thread of psycopg's (``QueuedLibpqWriter``), so the next table
    of an iterable is prepared (measured, encoded) while the server takes the one before.
    """
    from psycopg import sql
    from psycopg.copy import QueuedLibpqWriter

    tables = iter([tables] if isinstance(tables, pa.Table) else tables)
    first = next(tables, None)
    if first is None:
        return 0
    conn = cursor.connection
    found = column_types(conn, target)
    missing = [c for c in first.column_names if c not in found]
    if missing:
        raise InputError(f"the table has no column {missing[0]!r}")
    types = {c: found[c] for c in first.column_names}
    binary = all(_binary_form(f.type, types[f.name]) for f in first.schema)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in first.column_names), sql.SQL("binary" if binary else "csv"))
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=_CHUNK_ROWS)
    sent = 0
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        if binary:
            copy.write(_HEADER)
        for table in itertools.chain([first], tables):
            step = chunk_rows(table)
            for start in range(0, table.num_rows, step):
                part = table.slice(start, step)
                if binary:
                    copy.write(encode_binary(part, types))
                else:
                    buf = io.BytesIO()
                    pacsv.write_csv(_for_csv(part), buf, write_options=options)
                    copy.write(buf.getvalue())
            sent += table.num_rows
            log.debug("copied %d rows (%s)", sent, "binary" if binary else "csv")
        if binary:
            copy.write(_TRAILER)
    return sent
