"""Reading and writing layers and tables: one core for files, folders and databases, nothing lost.

Every source goes through :func:`read`, which returns the frame *and* its findings (one row per problem,
in the schema of :mod:`gis.findings`) and notices (what was assumed or repaired). Formats are chosen by
one table (:mod:`gis.io.formats`); a URL such as ``postgresql://host/db?table=parcels`` is a source and a
sink wherever a path is. A reader never lets a library exception escape: each becomes an
:class:`~gis.errors.InputError` naming the source in one line. A row is never dropped: geometry that
cannot be right is kept missing, with a finding saying why.

Writes are atomic (:func:`atomic_output`): a temporary file or folder beside the target, renamed into
place; an input is never overwritten and an existing output only with ``overwrite=True``. A write that
would lose something (a cut Excel cell, an ``Infinity`` coordinate, a second geometry type in a
shapefile) is refused before a byte is written.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ..crs import guess_crs_from_bounds, to_crs
from ..errors import CRSError, InputError, LayerNotFoundError
from ..findings import concat_findings, empty_findings
from . import formats as _formats
from ._atomic import atomic_output, check_output, is_url, same_file, temporary_folder
from ._ledger import geometry_from_columns, read_ledger
from ._sanitize import sanitize, wkb_note_findings
from ._vector import detect_dbf_encoding, list_ogr_layers, read_ogr
from ._write import frame_to_markdown, move_shapefile, plain_frame, write_frame, write_sheets, write_shapefile
from .formats import FORMATS, Format, format_for

__all__ = [
    "read",
    "ReadResult",
    "Notice",
    "read_layer",
    "read_table",
    "write_layer",
    "write_layers",
    "write_tables",
    "atomic_output",
    "check_output",
    "list_layers",
    "detect_dbf_encoding",
    "frame_to_markdown",
    "plain_frame",
    "source_name",
    "is_url",
    "same_file",
    "FORMATS",
    "Format",
    "format_for",
    "CHINA_LONLAT_BOUNDS",
]

log = logging.getLogger(__name__)

CHINA_LONLAT_BOUNDS = (73.0, 3.0, 136.0, 54.0)
"""China's extent in degrees (west, south, east, north), generously: data inside it without a CRS is CGCS2000."""



class Notice(str):
    """A line for the user about what was assumed or repaired; may name a setting that would change it."""

    setting: str | None = None
    suggestion: str | None = None

    def __new__(cls, text: str, *, setting: str | None = None, suggestion: str | None = None):
        obj = super().__new__(cls, text)
        obj.setting, obj.suggestion = setting, suggestion
        return obj


@dataclass
class ReadResult:
    """A source as read: the frame (RangeIndex, one row per input record), findings (``row`` 1-based:
    1 = the first record), notices."""

    frame: gpd.GeoDataFrame
    findings: pd.DataFrame = field(default_factory=empty_findings)
    notices: list = field(default_factory=list)
    source: str = ""


def source_name(source) -> str:
    """How a source is shown to people: a file's name, or a URL with any password redacted."""
    if is_url(source):
        from ..store.url import redact  # plain text work: no database package needed

        return redact(str(source))
    return Path(str(source)).name or str(source)


def _scheme_module(url: str):
    scheme = str(url).split("://", 1)[0].lower()
    module, reader, writer = _formats.SCHEMES[scheme]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise InputError(f"{scheme}:// sources need the '{module}' module and its packages ({exc.name} is missing): "
                         f"install parkgis with its postgis extra") from None
    return getattr(mod, reader), getattr(mod, writer)


# --------------------------------------------------------------------------------------- reading
def read(source, *, layer: str | None = None, crs=None, source_crs: str | None = None,
         encoding: str | None = None, require_crs: bool = True) -> ReadResult:
    """Read a vector file, folder, ledger (CSV/XLSX with WKT or lon/lat) or database table.

    ``layer`` chooses a layer or sheet of a source that holds several (never chosen silently);
    ``crs`` assigns or overrides the CRS; ``source_crs`` = ``"gcj02"`` or ``"bd09"`` converts Amap/DataV
    or Baidu coordinates to WGS84 on read; ``encoding`` overrides the detected text encoding. A source
    without a CRS whose coordinates are longitudes/latitudes inside China is read as EPSG:4490 (its areas
    equal EPSG:4326's to 1e-9), elsewhere as EPSG:4326, with a notice; projected coordinates without a CRS
    raise :class:`~gis.errors.CRSError` with what they look like (unless ``require_crs=False``).
    """
    name = source_name(source)
    notices: list = []
    findings = [empty_findings()]
    dataset = not is_url(source) and _is_dataset(source)
    fmt = None if dataset else format_for(source)
    if dataset:  # a partitioned GeoParquet dataset (folder at any depth, hive keys, or a glob), read whole
        from ..dask_engine import read_dataset

        gdf = read_dataset(source)
        frame, geoms, file_crs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), gdf.geometry.values, gdf.crs
    elif fmt.kind == "database":
        reader, _ = _scheme_module(source)
        gdf, notes = reader(str(source), layer=layer, crs=crs, with_notes=True)
        frame, geoms, file_crs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), gdf.geometry.values, gdf.crs
        findings.append(wkb_note_findings(len(frame), notes))  # arcs stroked, rings closed … as for files
    else:
        path = Path(str(source))
        if not path.exists():
            raise LayerNotFoundError(_missing(path))
        frame, geoms, file_crs = _read_file(path, fmt, layer=layer, encoding=encoding, findings=findings, notices=notices)
    frame = frame.reset_index(drop=True)
    file_crs = _checked_crs(file_crs, name) if crs is None else file_crs
    chosen = _choose_crs(file_crs, crs, geoms, frame, name, notices, require=require_crs)
    geoms, geo_findings, geo_notices = sanitize(np.asarray(geoms, dtype=object), chosen, name=name)
    findings.append(geo_findings)
    notices += geo_notices
    if "geometry" in frame.columns:
        frame = frame.rename(columns={"geometry": "geometry_attr"})
        notices.append(f"{name}: an attribute named 'geometry' is kept as 'geometry_attr'")
    _garbled_text(frame, name, notices)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=chosen)
    if source_crs:
        gdf = _from_offset(gdf, source_crs, name, notices)
    for n in notices:
        log.info("%s", n)
    found = concat_findings(findings, sort=False)
    found["row"] = found["row"] + 1  # as in every findings table: 1 = the source's first record
    return ReadResult(gdf, found, notices, name)


def _garbled_text(frame: pd.DataFrame, name: str, notices: list, *, sample: int = 50_000) -> None:
    """A notice when text is already garbage in the file (U+FFFD replacement characters): no encoding helps."""
    head = frame.head(sample)
    cols = [c for c in head.columns if head[c].dtype == object or pd.api.types.is_string_dtype(head[c])]
    bad = [str(c) for c in cols
           if head[c].astype("string").str.contains("\ufffd", regex=False).fillna(False).any()]
    if bad and not any("U+FFFD" in str(n) for n in notices):
        notices.append(Notice(f"{name}: text in {', '.join(bad[:5])} is already garbled in the file (U+FFFD "
                              f"replacement characters): the original characters are lost"))


def _is_dataset(source) -> bool:
    """A folder holding GeoParquet parts at any depth, or a glob pattern matching only Parquet files."""
    import glob

    text = str(source)
    if any(ch in text for ch in "*?") and not Path(text).exists():
        matches = glob.glob(text, recursive=True)
        return bool(matches) and all(m.lower().endswith((".parquet", ".geoparquet")) for m in matches)
    p = Path(text)
    return p.is_dir() and p.suffix.lower() != ".gdb" and next(p.rglob("*.parquet"), None) is not None


def _missing(path: Path) -> str:
    """'no such file', naming what is there with the same name (a shapefile whose .shp was not copied)."""
    import glob

    try:
        siblings = sorted(Path(p).suffix for p in glob.glob(glob.escape(str(path.with_suffix(""))) + ".*"))
    except OSError:
        siblings = []
    if siblings:
        return f"no such file: {path} (there is {path.stem} with {', '.join(siblings)} only)"
    return f"no such file: {path}"


def _read_file(path: Path, fmt: Format, *, layer, encoding, findings, notices):
    if fmt.kind == "table":
        df, f, n = read_ledger(path, sheet=layer, encoding=encoding)
        findings.append(f)
        notices += n
        df, geoms, crs, f, n = geometry_from_columns(df, path.name)
        findings.append(f)
        notices += n
        return df, geoms, crs
    if fmt.kind == "parquet":
        return _read_parquet(path)
    if fmt.kind != "vector" or not fmt.read:
        raise InputError(f"{path.name}: parkgis writes {fmt.name} but cannot read it")
    frame, geoms, crs, f, n = read_ogr(path, layer=layer, encoding=encoding)
    findings.append(f)
    notices += n
    return frame, geoms, crs


def _read_parquet(path: Path):
    import pyarrow.parquet as pq

    from ._vector import json_text_columns, parse_wkb_column

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - arrow errors of every kind
        raise InputError(f"{path.name} is not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    meta = (table.schema.metadata or {}).get(b"geo")
    if meta is None:
        df = table.to_pandas()
        df, geoms, crs, _, _ = geometry_from_columns(df, path.name)
        return df, geoms, crs
    import json

    geo = json.loads(meta)
    col = geo.get("primary_column", "geometry")
    crs_meta = geo.get("columns", {}).get(col, {}).get("crs", "OGC:CRS84")
    crs = CRS.from_user_input(crs_meta) if crs_meta is not None else None
    if crs is not None and crs.to_string() == "OGC:CRS84":
        crs = CRS.from_epsg(4326)
    geoms, _ = parse_wkb_column(table.column(col))
    frame = json_text_columns(table.drop([col]).to_pandas())
    index_cols = [c for c in frame.columns if str(c).startswith("__index_level_")]
    return frame.drop(columns=index_cols), geoms, crs


def _checked_crs(crs, name):
    if crs is None:
        return None
    crs = CRS.from_user_input(crs)
    if crs.type_name.lower().startswith("engineering") or "LOCAL_CS" in crs.to_wkt(version="WKT1_GDAL") \
            and not crs.is_geographic and not crs.is_projected:
        raise CRSError(f"{name} has a local engineering CRS ({crs.name}): its coordinates are not tied to the Earth, "
                       f"so no area can be measured until the real CRS is given", setting="crs", suggestion="EPSG:<code>")
    return crs


def _choose_crs(file_crs, given, geoms, frame, name, notices, *, require: bool):
    # Amap/DataV output carries administrative codes: adcode (DataV), cn_adcode/pr_adcode/… (Amap district search)
    datav = any("adcode" in str(c).lower() for c in frame.columns)
    if given is not None:
        wanted = to_crs(given)
        if file_crs is not None and not file_crs.equals(wanted):
            notices.append(Notice(f"{name} says its CRS is {file_crs.to_string()}; using {wanted.to_string()} as given"))
        return wanted
    if file_crs is not None:
        if datav:
            notices.append(Notice(f"{name} looks like Amap/DataV output, whose coordinates are GCJ-02 (read as WGS84 "
                                  f"its areas are 0.10–0.15 % off): convert from GCJ-02 if so",
                                  setting="source_crs", suggestion="gcj02"))
        return file_crs
    bounds = _finite_bounds(geoms)
    if bounds is None:  # nothing to tell a CRS from; areas are missing (or there are no rows) either way
        if len(geoms):
            notices.append(Notice(f"{name} has no geometry at all: every row is kept, with a missing geometry "
                                  f"(and a missing area)"))
        else:
            notices.append(Notice(f"{name} has no rows"))
        return CRS.from_epsg(4490) if require else None
    looks = guess_crs_from_bounds(bounds) or ""
    if looks.startswith("longitude/latitude"):
        inside = (bounds[0] >= CHINA_LONLAT_BOUNDS[0] and bounds[2] <= CHINA_LONLAT_BOUNDS[2]
                  and bounds[1] >= CHINA_LONLAT_BOUNDS[1] and bounds[3] <= CHINA_LONLAT_BOUNDS[3])
        code = 4490 if inside else 4326
        hint = (" — it looks like Amap/DataV output, whose coordinates are GCJ-02: convert from GCJ-02 if so"
                if datav else "")
        notices.append(Notice(f"{name} has no CRS; its coordinates are longitudes/latitudes "
                              f"{'inside China' if inside else ''}, read as EPSG:{code} "
                              f"({'CGCS2000' if inside else 'WGS84'}){hint}".replace("  ", " "),
                              setting="source_crs" if datav else "crs", suggestion="gcj02" if datav else None))
        return CRS.from_epsg(code)
    if not require:
        return None
    if looks:
        code = looks.rsplit("EPSG:", 1)[1].split()[0].rstrip(")") if "EPSG:" in looks else None
        raise CRSError(f"{name} has no CRS; its coordinates look like {looks}", setting="crs",
                       suggestion=f"EPSG:{code}" if code else "EPSG:<code>")
    raise CRSError(f"{name} has no CRS and its coordinates fit no usual system", setting="crs", suggestion="EPSG:<code>")


def _finite_bounds(geoms):
    import shapely

    coords = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    coords = coords[np.isfinite(coords).all(axis=1)]
    if not len(coords):
        return None
    return (coords[:, 0].min(), coords[:, 1].min(), coords[:, 0].max(), coords[:, 1].max())


def _from_offset(gdf, source_crs: str, name: str, notices: list):
    from ..convert import convert_layer, parse_system

    system = parse_system(source_crs)
    if not isinstance(system, str) or system == "wgs84":
        return gdf.set_crs(system if not isinstance(system, str) else "EPSG:4326", allow_override=True)
    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise CRSError(f"{name} is in {gdf.crs.to_string()}, not longitude/latitude: {system} coordinates are degrees")
    notices.append(Notice(f"{name}: coordinates converted from {system.upper()} to WGS84"))
    return convert_layer(gdf.set_crs("EPSG:4326", allow_override=True), src=system, dst="EPSG:4326")


def read_layer(source, *, layer: str | None = None, crs=None, encoding: str | None = None,
               source_crs: str | None = None, require: bool = True) -> gpd.GeoDataFrame:
    """The frame of :func:`read` (findings and notices are logged): for notebooks and bundled layers."""
    result = read(source, layer=layer, crs=crs, encoding=encoding, source_crs=source_crs, require_crs=require)
    for n in result.notices:
        log.warning("%s", n)
    if len(result.findings):
        log.warning("%s: %d findings while reading (gis.io.read returns them)", result.source, len(result.findings))
    return result.frame


def read_table(path, *, sheet: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """A CSV/XLSX ledger as a plain table (no geometry), read as :func:`read` reads ledgers."""
    path = Path(path)
    if not path.exists():
        raise LayerNotFoundError(f"no such file: {path}")
    fmt = format_for(path)
    if fmt.kind == "parquet":
        return pd.read_parquet(path)
    if fmt.kind != "table":
        raise InputError(f"{path.name}: not a table (use .csv, .xlsx or .parquet)")
    df, _, notices = read_ledger(path, sheet=sheet, encoding=encoding)
    for n in notices:
        log.warning("%s", n)
    return df


def list_layers(source) -> list[str]:
    """Names of the layers (or sheets) a source holds."""
    path = Path(str(source))
    if not path.exists():
        raise LayerNotFoundError(f"no such file: {path}")
    fmt = format_for(path)
    if fmt.name == "Excel":
        import openpyxl

        return openpyxl.load_workbook(path, read_only=True).sheetnames
    if path.is_dir() and path.suffix.lower() != ".gdb":
        return sorted(p.stem for p in path.iterdir() if p.suffix.lower() == ".shp")
    return list_ogr_layers(path)


# --------------------------------------------------------------------------------------- writing
def write_layer(frame, target, *, overwrite: bool = False, inputs: Iterable = (), layer: str | None = None) -> str:
    """Write a (Geo)DataFrame to a file (format from its extension) or a database URL; atomic.

    Returns how the target is shown (a path, or the redacted URL).
    """
    fmt = format_for(target, folder_ok=False, writing=True)
    if fmt.kind == "database":
        _, writer = _scheme_module(target)
        return writer(frame, str(target), overwrite=overwrite, layer=layer)
    return _write_files([(Path(str(target)), frame, layer)], overwrite=overwrite, inputs=inputs)[0]


def write_layers(frames: Mapping, *, overwrite: bool = False, inputs: Iterable = ()) -> list[str]:
    """Several files ({target path: frame}), all or none: each is written to a temporary beside its target,
    the first (put the biggest first) beside the others in a thread, and only when every one is written are
    they put in place. A failure leaves every target as it was."""
    return _write_files([(Path(str(t)), f, None) for t, f in frames.items()], overwrite=overwrite, inputs=inputs)


def _write_files(items, *, overwrite: bool, inputs: Iterable) -> list[str]:
    import contextlib

    from ..parallel import run_all

    inputs = list(inputs)
    jobs, moves = [], []
    with contextlib.ExitStack() as stack:  # leaving it renames every temporary into place, or removes them all
        for path, frame, layer in items:
            fmt = format_for(path, folder_ok=False, writing=True)
            if fmt.kind == "database" or not fmt.write:
                raise InputError(f"cannot write {fmt.name} ({path.suffix}) here: write one of "
                                 f"{', '.join(_formats.writable_suffixes())}")
            if fmt.name == "Shapefile":
                check_output(path, overwrite=overwrite, inputs=inputs)
                if not path.parent.exists():
                    raise LayerNotFoundError(f"the folder {path.parent} does not exist")
                tmp = stack.enter_context(temporary_folder(path))
                jobs.append(lambda f=frame, t=tmp, p=path, m=fmt: write_shapefile(_with_geometry(f, m), t, target=p))
                moves.append(lambda t=tmp, p=path: move_shapefile(t, p, overwrite=overwrite, inputs=inputs))
            else:
                tmp = stack.enter_context(atomic_output(path, overwrite=overwrite, inputs=inputs))
                jobs.append(lambda f=frame, t=tmp, p=path, m=fmt, lay=layer: write_frame(f, t, m, layer=lay or p.stem,
                                                                                         target=p))
        # the first file (the big one) here, the others one after the other in one thread beside it: the
        # first one's own whole-array work splits over the thread pool, which more writers would hold
        run_all([jobs[0], lambda: [job() for job in jobs[1:]]] if len(jobs) > 1 else jobs)
        for move in moves:
            move()
    for path, frame, _ in items:
        log.info("wrote %s (%d rows)", path, len(frame))
    return [str(path) for path, _, _ in items]


def _with_geometry(frame, fmt):
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{fmt.name} needs geometry: write a .csv or .xlsx for a plain table")
    return frame


def write_tables(target, sheets: Mapping[str, pd.DataFrame], *, overwrite: bool = False, inputs: Iterable = ()) -> str:
    """Several named tables in one file: sheets in XLSX, layers in GeoPackage, sections in Markdown/HTML;
    a single-table format (CSV, GeoJSON, Parquet) holds the first."""
    fmt = format_for(target, folder_ok=False, writing=True)
    if fmt.kind == "database":
        raise InputError("several tables go to a database through the store (gis.store), one table at a time")
    if not fmt.tables:
        return write_layer(next(iter(sheets.values())), target, overwrite=overwrite, inputs=inputs)
    path = Path(str(target))
    with atomic_output(path, overwrite=overwrite, inputs=inputs) as tmp:
        write_sheets(tmp, dict(sheets), fmt, target=path)
    return str(path)


VECTOR_SUFFIXES = frozenset(s for f in FORMATS if f.read and f.kind in ("vector", "parquet") for s in f.suffixes)
"""Extensions read as layers (derived from :data:`FORMATS`)."""
TABLE_SUFFIXES = frozenset(s for f in FORMATS if f.read and f.kind == "table" for s in f.suffixes)
"""Extensions read as ledgers (derived from :data:`FORMATS`)."""
__all__ += ["VECTOR_SUFFIXES", "TABLE_SUFFIXES"]
