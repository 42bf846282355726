"""Bulk moves between frames and PostgreSQL with ``COPY``, geometry as WKB.

Writing: Arrow writes the CSV form of ``COPY … FROM STDIN`` (quoted text, so an empty string and a
NULL stay apart), geometry as hexadecimal WKB, which PostGIS reads as the text form of a geometry.
Reading: ``COPY … TO STDOUT (FORMAT binary)`` parsed column-wise with numpy (:mod:`gis.store._binary`),
geometry as the EWKB PostGIS sends. No Python loop runs per field.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from ..errors import InputError

__all__ = ["pg_type", "frame_to_arrow", "copy_in", "wkb_hex", "MAX_IDENTIFIER_BYTES"]

log = logging.getLogger(__name__)

MAX_IDENTIFIER_BYTES = 63
_CHUNK_ROWS = 50_000


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
    """An Arrow table of ``columns`` (name -> PostgreSQL type) from ``frame``, plus hex WKB geometry
    (with ``multi`` Polygons as MultiPolygons of one part, :func:`wkb_hex`).

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
        elif kind in ("timestamptz", "timestamp"):
            arr = pa.array(s.dt.strftime("%Y-%m-%d %H:%M:%S.%f%z" if kind == "timestamptz" else "%Y-%m-%d %H:%M:%S.%f"),
                           type=pa.string(), from_pandas=True)
        else:
            arr = _as_text(s)
        arrays.append(arr)
        names.append(name)
    if geometry is not None:
        # plain WKB: the target column's type carries the SRID, and PostGIS gives it to geometry without one
        arrays.append(wkb_hex(geometry, multi=multi))
        names.append(geometry_name)
    return pa.Table.from_arrays(arrays, names=names)


_HEX = np.array([list(f"{i:02x}".encode()) for i in range(256)], dtype=np.uint8)  # byte -> its two hex digits


_MULTI_OF_ONE = bytes.fromhex("010600000001000000")  # little-endian MultiPolygon header with one part


def wkb_hex(geometry, *, multi: bool = False) -> pa.StringArray:
    """Hexadecimal WKB of each geometry (null for a missing one), as an Arrow string array.

    shapely's binary WKB on every core, then every byte turned into its two hex digits in one numpy
    step over the whole buffer (no Python per geometry). With ``multi`` a Polygon is written as the
    MultiPolygon of its one part (a MultiPolygon header before its own WKB; no new geometry is made).
    """
    from ..parallel import map_array

    geoms = np.asarray(geometry, dtype=object)
    raw = pa.array(map_array(lambda g: shapely.to_wkb(g, byte_order=1), geoms), type=pa.binary())
    offsets = np.frombuffer(raw.buffers()[1], dtype=np.int32, count=len(raw) + 1, offset=raw.offset * 4).astype(np.int64)
    data = np.frombuffer(raw.buffers()[2], dtype=np.uint8) if raw.buffers()[2] is not None else np.zeros(0, np.uint8)
    body, rel = data[offsets[0]:offsets[-1]], offsets - offsets[0]
    if multi:  # splice the header in front of every Polygon's bytes (bytes keep their order: one scatter)
        single = shapely.get_type_id(geoms) == 3
        lengths, add = np.diff(rel), np.where(single, len(_MULTI_OF_ONE), 0)
        new = np.concatenate([[0], np.cumsum(lengths + add)])
        out = np.empty(int(new[-1]), dtype=np.uint8)
        out[np.arange(len(body)) + np.repeat(new[:-1] + add - rel[:-1], lengths)] = body
        heads = new[:-1][single]
        out[heads[:, None] + np.arange(len(_MULTI_OF_ONE))] = np.frombuffer(_MULTI_OF_ONE, dtype=np.uint8)
        body, rel = out, new
    data, offsets = body, rel
    hexed = _HEX[data].reshape(-1)  # 2 bytes per byte, in order
    return pa.StringArray.from_buffers(len(raw), pa.py_buffer((offsets * 2).astype(np.int32)), pa.py_buffer(hexed),
                                       raw.buffers()[0], raw.null_count)


def copy_in(cursor, statement, tables) -> int:
    """Stream an Arrow table, or an iterable of them, into ``COPY … FROM STDIN (FORMAT csv)``; returns the rows sent.

    The data go to the server from a thread of psycopg's (``QueuedLibpqWriter``), so the next table of
    an iterable is prepared (measured, encoded) while the server takes the one before.
    """
    from psycopg.copy import QueuedLibpqWriter

    options = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=_CHUNK_ROWS)
    sent = 0
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for table in ([tables] if isinstance(tables, pa.Table) else tables):
            for start in range(0, table.num_rows, _CHUNK_ROWS):
                buf = io.BytesIO()
                pacsv.write_csv(table.slice(start, _CHUNK_ROWS), buf, write_options=options)
                copy.write(buf.getvalue())
            sent += table.num_rows
            log.debug("copied %d rows", sent)
    return sent
