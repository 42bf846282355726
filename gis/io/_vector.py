"""Vector files through GDAL/OGR (pyogrio's arrow reader), geometry parsed by us, nothing dropped.

Attributes come through arrow; geometry comes as WKB and is parsed in bulk by shapely, except the rows
GEOS refuses (curves, surfaces, unclosed rings), which :mod:`gis.io._wkb` parses one by one. Every
library exception is turned into an :class:`~gis.errors.InputError` naming the file.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS

from ..errors import EncodingError, InputError, LayerNotFoundError
from ..parallel import map_array
from . import _wkb
from ._sanitize import wkb_note_findings

__all__ = ["read_ogr", "list_ogr_layers", "detect_dbf_encoding", "gdal_path", "json_text_columns"]

log = logging.getLogger(__name__)

_NOT_DATA = {"layer_styles", "qgis_projects"}
_OSM_LAYERS = ("points", "lines", "multilinestrings", "multipolygons", "other_relations")


def gdal_path(path: Path) -> str:
    return f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)


def _first_line(exc, limit: int = 160) -> str:
    text = str(exc).strip()
    line = " ".join(text.splitlines()[0].split()) if text else type(exc).__name__
    if ") failed: " in line:  # SQLite's own words after GDAL's statement: "file is not a database"
        line = line.rsplit(") failed: ", 1)[1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)


def list_ogr_layers(path: Path) -> list[str]:
    """Layer names of a vector file or folder, as GDAL sees them."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = [str(name) for name, _ in pyogrio.list_layers(gdal_path(path))]
        for w in caught:
            log.info("%s: %s", path.name, w.message)
        return names
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types for unreadable files
        raise InputError(f"{path.name} is not a readable vector file ({_first_line(exc).split(';')[0]})") from None


def _choose_layer(path: Path, names: list[str], layer: str | None) -> str | None:
    if layer is not None:
        if layer not in names:
            raise LayerNotFoundError(f"{path.name} has no layer {layer!r}; its layers are: {', '.join(names)}",
                                     setting="layer", choices=names)
        return layer
    if len(names) > 1:
        raise InputError(f"{path.name} holds {len(names)} layers and none is chosen", setting="layer", choices=names)
    return names[0] if names else None


def read_ogr(path: Path, *, layer: str | None = None, encoding: str | None = None):
    """``(frame, geometry, crs, findings, notices)`` of one layer of a vector file, zip or folder."""
    notices: list[str] = []
    suffix = path.suffix.lower()
    cleanup = None
    try:
        if suffix in (".osm", ".pbf"):
            names = [n for n in _OSM_LAYERS]
            layer = _choose_layer(path, names, layer)
        elif path.is_dir() and suffix != ".gdb":
            shps = sorted(p for p in path.iterdir() if p.suffix.lower() == ".shp")
            if not shps:
                raise InputError(f"the folder {path.name} holds no shapefile")
            chosen = _choose_layer(path, [p.stem for p in shps], layer)
            path, layer = next(p for p in shps if p.stem == chosen), None
            suffix = ".shp"
            path, cleanup = _shapefile_parts(path, notices)
        else:
            if suffix == ".shp":
                path, cleanup = _shapefile_parts(path, notices)
            names = list_ogr_layers(path)
            if suffix in (".geojson", ".json", ".shp", ".fgb"):
                names = names[:1]
            if layer is None:  # QGIS' style table is no data layer
                names = [n for n in names if n.lower() not in _NOT_DATA] or names
            layer = _choose_layer(path, names, layer)
        if encoding is None and suffix in (".shp", ".zip"):
            encoding = detect_dbf_encoding(path, layer=layer, notices=notices)
        frame, geoms, crs, findings = _read_arrow(path, layer=layer, encoding=encoding)
        if suffix in (".geojson", ".json"):
            frame, geoms, crs, findings = _geojson_bare_geometries(path, frame, geoms, crs, findings, notices)
        return frame, geoms, crs, findings, notices
    finally:
        if cleanup is not None:
            pyogrio.set_gdal_config_options({"SHAPE_RESTORE_SHX": None})  # GDAL's setting is process-wide
            shutil.rmtree(cleanup, ignore_errors=True)


def _shapefile_parts(path: Path, notices: list[str]):
    """A shapefile without .shx is restored in a temporary copy (never beside the input); no .dbf is said."""
    stem_files = {p.suffix.lower(): p for p in path.parent.glob(glob_escape(path.stem) + ".*")}
    if ".shp" not in stem_files:
        others = ", ".join(sorted(s for s in stem_files)) or "nothing"
        raise LayerNotFoundError(f"no such file: {path} (beside it: {path.stem} with {others}; the geometry is in the .shp)")
    if ".dbf" not in stem_files:
        notices.append(f"{path.name} has no .dbf beside it: its attributes are absent, only geometry is read")
    if ".shx" in stem_files:
        return path, None
    tmp = Path(tempfile.mkdtemp(prefix="parkgis-shx-"))
    for p in stem_files.values():
        shutil.copy2(p, tmp / p.name)
    notices.append(f"{path.name} has no .shx index beside it: it was rebuilt from the .shp (in a temporary copy)")
    pyogrio.set_gdal_config_options({"SHAPE_RESTORE_SHX": "YES"})  # reset by read_ogr when done
    return tmp / path.name, tmp


def _read_arrow(path: Path, *, layer, encoding):
    kwargs = {"layer": layer} if layer is not None else {}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            meta, table = pyogrio.raw.read_arrow(gdal_path(path), **kwargs)
        for w in caught:
            log.info("%s: %s", path.name, w.message)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"{path.name} is not a readable vector file ({_first_line(exc)})") from None
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{path.name}: its text is not {exc.encoding}", setting="encoding",
                            suggestion="gb18030") from None
    except Exception as exc:  # noqa: BLE001 - GDAL errors of every kind become one line naming the file
        raise InputError(f"{path.name} cannot be read ({_first_line(exc)})") from None
    crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    geom_name = meta.get("geometry_name") or "wkb_geometry"
    wkb = None
    if geom_name in table.column_names:
        wkb = table.column(geom_name)
        table = table.drop([geom_name])
    frame = json_text_columns(_arrow_to_pandas(table))
    if wkb is None:
        return frame, np.full(len(frame), None, dtype=object), crs, wkb_note_findings(len(frame), {})
    if not _consistent(wkb):  # GDAL 3.12's arrow stream of FlatGeobuf breaks on a null geometry: ask again without arrow
        log.debug("%s: arrow geometry buffers inconsistent; reading geometry without arrow", path.name)
        wkb = pyogrio.raw.read(gdal_path(path), columns=[], read_geometry=True, **kwargs)[2]
    geoms, notes = parse_wkb_column(wkb)
    return frame, geoms, crs, wkb_note_findings(len(frame), notes)


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Attributes as pandas; extension types (GDAL's JSON fields) as their plain storage (text)."""
    for i, f in enumerate(table.schema):
        if isinstance(f.type, pa.BaseExtensionType):
            col = table.column(i)
            storage = pa.chunked_array([c.storage for c in col.chunks], type=f.type.storage_type)
            table = table.set_column(i, pa.field(f.name, f.type.storage_type), storage)
    return table.to_pandas(split_blocks=True, self_destruct=True)


def parse_wkb_column(wkb) -> tuple[np.ndarray, dict]:
    """Shapely geometries of an arrow (or numpy) column of WKB, and the WKB reader's notes per row."""
    if isinstance(wkb, (pa.ChunkedArray, pa.Array)):
        wkb = wkb.combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
        if isinstance(wkb, pa.ExtensionArray):
            wkb = wkb.storage
        if pa.types.is_large_binary(wkb.type):
            wkb = wkb.cast(pa.binary()) if wkb.nbytes < 2**31 - 1 else wkb
        try:
            values = wkb.to_numpy(zero_copy_only=False)
        except (pa.ArrowException, SystemError):  # GDAL's FlatGeobuf gives nulls broken offsets: read the buffers
            values = _binary_values(wkb)
    else:
        values = wkb
    values = np.asarray(values, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # the common case: GEOS reads every row in one call
            geoms = map_array(partial(shapely.from_wkb, on_invalid="ignore"), values)
            special = np.zeros(len(values), dtype=bool)
        except NotImplementedError:  # curves somewhere: find them by their type codes, the rest in bulk
            codes = _type_codes(wkb, values)
            special = np.isin(codes, list(_wkb.CURVE_TYPES | _wkb.SURFACE_TYPES))
            geoms = np.full(len(values), None, dtype=object)
            plain = ~special & (codes > 0)
            if plain.any():
                geoms[plain] = shapely.from_wkb(values[plain], on_invalid="ignore")
    retry = special | (shapely.is_missing(geoms) & ~pd.isna(values))
    notes: dict[int, set] = {}
    for i in np.flatnonzero(retry):  # rare rows GEOS refuses: parsed one by one
        try:
            geoms[i], row_notes = _wkb.parse(values[i])
        except _wkb.WKBError:
            geoms[i], row_notes = None, {"unreadable"}
        if row_notes - {"z"}:
            notes[int(i)] = row_notes
    return geoms, notes


def _consistent(wkb) -> bool:
    arr = wkb.combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    if not len(arr) or not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        return True
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32 if pa.types.is_binary(arr.type) else np.int64,
                            count=len(arr) + 1 + arr.offset)[arr.offset:]
    size = bufs[2].size if bufs[2] is not None else 0
    return bool((np.diff(offsets) >= 0).all() and offsets[-1] <= size and offsets[0] >= 0)


def _binary_values(arr) -> np.ndarray:
    """The values of an arrow binary array from its buffers, trusting only the validity bitmap for nulls."""
    validity, off_buf, data_buf = arr.buffers()[:3]
    n = len(arr)
    offsets = np.frombuffer(off_buf, dtype=np.int32, count=n + 1 + arr.offset)[arr.offset:]
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    valid = (np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[arr.offset:arr.offset + n].astype(bool)
             if validity is not None else np.ones(n, dtype=bool))
    out = np.full(n, None, dtype=object)
    for i in np.flatnonzero(valid & (offsets[1:] >= offsets[:-1])):
        out[i] = bytes(data[offsets[i]:offsets[i + 1]])
    return out


def _type_codes(wkb, values) -> np.ndarray:
    """WKB base type per row, read from the arrow buffers without a Python loop where possible."""
    arr = wkb.combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    if isinstance(arr, pa.Array) and pa.types.is_binary(arr.type) and arr.offset == 0 and len(arr) and not arr.null_count:
        _, off_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int32, count=len(arr) + 1)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets)
        if len(offsets) and (offsets[-1] > len(data) or (lengths < 0).any() or offsets[0] < 0):
            return _wkb.wkb_type_codes(values)  # buffers GDAL left inconsistent: read each header
        ok = lengths >= 5
        codes = np.zeros(len(arr), dtype=np.int64)
        if ok.any():
            s = starts[ok]
            b = data[s[:, None] + np.arange(5)].astype(np.uint32)
            little = (b[:, 1] | (b[:, 2] << 8) | (b[:, 3] << 16) | (b[:, 4] << 24))
            big = (b[:, 4] | (b[:, 3] << 8) | (b[:, 2] << 16) | (b[:, 1] << 24))
            code = np.where(b[:, 0] == 1, little, big).astype(np.int64)
            codes[ok] = (code & 0x0FFFFFFF) % 1000
        return codes
    return _wkb.wkb_type_codes(values)


_CONTAINERS = (list, dict, tuple, np.ndarray)


def holds_containers(s: pd.Series, *, sample: int = 1000) -> bool:
    """True when an object column holds lists or dicts (looked for in its first values and a spread sample)."""
    if s.dtype != object or not len(s):
        return False
    values = s.to_numpy()
    step = max(1, len(values) // sample)
    probe = np.concatenate([values[:sample], values[::step][:sample]])
    return any(isinstance(v, _CONTAINERS) for v in probe)


def json_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """List and dict values (DataV's ``center``, ``parent``; OGR list fields) as JSON text, never repr."""
    out = None
    for col in frame.columns:
        s = frame[col]
        if not holds_containers(s):
            continue
        out = frame.copy() if out is None else out
        out[col] = s.map(json_text)
    return frame if out is None else out


def json_text(v):
    """One value as JSON text when it is a list, tuple, dict or array; anything else unchanged."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v, ensure_ascii=False, default=_json_default)
    return v


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _geojson_bare_geometries(path: Path, frame, geoms, crs, findings, notices):
    """GeoJSON that is one bare geometry, or a FeatureCollection holding bare geometries, loses nothing."""
    try:
        if path.stat().st_size > 200_000_000:
            return frame, geoms, crs, findings
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return frame, geoms, crs, findings
    if not isinstance(doc, dict):
        return frame, geoms, crs, findings
    items = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    if not isinstance(items, list) or len(items) == len(frame) and all(
            isinstance(f, dict) and f.get("type") == "Feature" for f in items):
        return frame, geoms, crs, findings
    rows, geoms = [], []  # geoms is rebuilt from the JSON text
    for item in items:
        if not isinstance(item, dict):
            rows.append({})
            geoms.append(None)
            continue
        if item.get("type") == "Feature":
            rows.append(item.get("properties") or {})
            geom = item.get("geometry")
        else:  # a bare geometry where a Feature belongs
            rows.append({})
            geom = item
        try:
            geoms.append(shapely.from_geojson(json.dumps(geom)) if geom else None)
        except Exception:  # noqa: BLE001 - shapely/GEOS errors for one member
            geoms.append(None)
    bare = sum(1 for f in items if isinstance(f, dict) and f.get("type") != "Feature")
    notices.append(f"{path.name}: {bare} bare geometries (not wrapped in a Feature) read as features without attributes")
    frame = json_text_columns(pd.DataFrame(rows, index=range(len(rows))))
    geom_arr = np.array(geoms + [None], dtype=object)[:-1]
    return frame, geom_arr, crs or CRS.from_epsg(4326), wkb_note_findings(len(frame), {})


# --------------------------------------------------------------------------------------- encodings
def detect_dbf_encoding(path, *, layer: str | None = None, notices: list | None = None) -> str | None:
    """Text encoding of a shapefile's DBF: what its ``.cpg`` says if that is true, else UTF-8 or GB18030.

    Chinese planning offices' shapefiles are usually GBK without a ``.cpg`` — and sometimes with a
    ``.cpg`` that says UTF-8 although the text is GBK. The DBF's field names and records are decoded
    strictly as the ``.cpg`` says, then as UTF-8, then as GB18030 (a superset of GBK and GB2312). Raises
    :class:`~gis.errors.EncodingError` when none fits.
    """
    path = Path(path)
    dbf, cpg = _dbf_bytes(path, layer)
    if dbf is None:
        return None
    header_len = int.from_bytes(dbf[8:10], "little") if len(dbf) >= 10 else 0
    text = dbf[32:header_len] + dbf[header_len:]  # field descriptors (names) and records
    if all(b < 0x80 for b in text):
        return None
    candidates = []
    declared = _codec(cpg) if cpg else None
    if declared:
        candidates.append(declared)
    candidates += [c for c in ("utf-8", "gb18030") if c != declared]
    for enc in candidates:
        try:
            decoded = text.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        if "\ufffd" in decoded and notices is not None:
            notices.append(f"{path.name}: some text is already garbled in the file (U+FFFD replacement characters)")
        if cpg and enc != declared:
            msg = f"{path.name}: its .cpg says {cpg.strip()} but the text reads as {enc.upper()}; read as {enc.upper()}"
            log.warning("%s", msg)
            if notices is not None:
                notices.append(msg)
        elif not cpg:
            log.info("%s has no .cpg; its text reads as %s", path.name, enc.upper())
        return enc.upper()
    raise EncodingError(f"{path.name}: cannot tell the text encoding of its .dbf", setting="encoding", suggestion="gb18030")


def _codec(cpg: str) -> str | None:
    name = cpg.strip().lower().replace("_", "-")
    table = {"utf-8": "utf-8", "utf8": "utf-8", "65001": "utf-8", "936": "gb18030", "gbk": "gb18030",
             "gb2312": "gb18030", "gb18030": "gb18030", "cp936": "gb18030", "ansi 936": "gb18030",
             "1252": "cp1252", "ansi 1252": "cp1252", "iso-8859-1": "latin-1", "88591": "latin-1"}
    return table.get(name)


def _dbf_bytes(path: Path, layer: str | None):
    """The DBF's bytes and the text of its ``.cpg`` (None when absent)."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dbfs = [n for n in names if n.lower().endswith(".dbf") and (layer is None or Path(n).stem == layer)]
            if not dbfs:
                return None, None
            stem = dbfs[0][:-4]
            cpg = next((n for n in names if n.lower() == (stem + ".cpg").lower()), None)
            return zf.read(dbfs[0]), (zf.read(cpg).decode("ascii", "replace") if cpg else None)
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None)
    cpg = next((p for p in (path.with_suffix(".cpg"), path.with_suffix(".CPG")) if p.exists()), None)
    return (dbf.read_bytes() if dbf else None), (cpg.read_text(encoding="ascii", errors="replace") if cpg else None)
