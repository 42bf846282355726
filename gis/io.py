"""Reading and writing layers and tables, chosen by file extension; writes are atomic.

Readers: GeoJSON, GeoPackage (any layer), Shapefile (also zipped; GBK/GB18030 text detected when there
is no ``.cpg``), GeoParquet, KML, and CSV/XLSX with a WKT column or longitude/latitude columns.
Writers: GeoJSON, GeoPackage, GeoParquet, CSV, XLSX (one sheet or several), Markdown, HTML.

Every write goes to a temporary file beside the target and is renamed into place, so a failure never
leaves half a file; an input is never overwritten and an existing output only with ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .crs import require_crs, to_crs
from .errors import InputError, LayerNotFoundError, OutputExistsError

__all__ = [
    "read_layer",
    "read_table",
    "write_layer",
    "write_tables",
    "atomic_output",
    "list_layers",
    "detect_dbf_encoding",
    "frame_to_markdown",
    "VECTOR_SUFFIXES",
    "TABLE_SUFFIXES",
]

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".parquet", ".geoparquet", ".kml", ".fgb"}
TABLE_SUFFIXES = {".csv", ".xlsx", ".xls", ".txt"}
WRITE_SUFFIXES = {".geojson", ".json", ".gpkg", ".parquet", ".geoparquet", ".csv", ".xlsx", ".md", ".html"}

_WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape", "几何", "空间信息")
_LON_COLUMNS = ("lon", "lng", "long", "longitude", "经度", "x")
_LAT_COLUMNS = ("lat", "latitude", "纬度", "y")


# --------------------------------------------------------------------------------------- reading
def list_layers(path) -> list[str]:
    """Names of the layers in a multi-layer file (GeoPackage, KML, zipped shapefiles)."""
    path = _existing(path)
    try:
        return [str(name) for name, _ in pyogrio.list_layers(_gdal_path(path))]
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"{path.name} is not a readable vector file: {_first_line(exc).split(';')[0]}") from None


def read_layer(path, *, layer: str | None = None, crs=None, encoding: str | None = None,
               engine: str = "pyogrio", require: bool = True) -> gpd.GeoDataFrame:
    """Read a vector layer or a table with geometry into a GeoDataFrame.

    ``crs`` assigns a CRS to data without one (and overrides a wrong one, with a warning);
    ``encoding`` overrides the detected text encoding of a shapefile or CSV. With ``require`` (the
    default) a layer without a CRS raises :class:`~gis.errors.CRSError` that says what the
    coordinates look like. No row is ever dropped: a row whose geometry cannot be read keeps a
    missing geometry, which :func:`gis.validate.validate` reports.
    """
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        gdf = _read_table_layer(path, layer=layer, encoding=encoding)
    elif suffix in (".parquet", ".geoparquet"):
        try:
            gdf = gpd.read_parquet(path)
        except ValueError as exc:  # a plain Parquet table: maybe WKT or lon/lat columns
            log.debug("not GeoParquet (%s); looking for geometry columns", exc)
            gdf = _frame_with_geometry(pd.read_parquet(path), path)
    else:
        gdf = _read_ogr(path, layer=layer, encoding=encoding, engine=engine)
    if crs is not None:
        wanted = to_crs(crs)
        if gdf.crs is not None and not gdf.crs.equals(wanted):
            log.warning("%s says its CRS is %s; using %s as given", path.name, gdf.crs.to_string(), wanted.to_string())
        gdf = gdf.set_crs(wanted, allow_override=True)
    if require:
        require_crs(gdf, what=path.name)
    if gdf.geometry.has_z.any():
        log.info("%s has 3D coordinates: heights are ignored for areas", path.name)
    return gdf


def read_table(path, *, sheet: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX table as it is (no geometry handling); text encoding detected for CSV."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        try:
            return pd.read_excel(path, sheet_name=sheet or 0)
        except ValueError as exc:
            raise LayerNotFoundError(f"{path.name}: {exc}") from None
    if suffix in (".csv", ".txt"):
        return _read_csv(path, encoding)
    if suffix in (".parquet",):
        return pd.read_parquet(path)
    raise InputError(f"{path.name}: not a table (use .csv, .xlsx or .parquet)")


def _existing(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise LayerNotFoundError(f"no such file: {path}")
    return path


def _gdal_path(path: Path) -> str:
    return f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)


def _read_ogr(path: Path, *, layer, encoding, engine) -> gpd.GeoDataFrame:
    names = list_layers(path)
    if layer is None and len(names) > 1 and path.suffix.lower() in (".gpkg", ".zip", ".kml"):
        raise InputError(f"{path.name} has {len(names)} layers ({', '.join(names)}): choose one with --layer")
    if layer is not None and layer not in names:
        raise LayerNotFoundError(f"{path.name} has no layer {layer!r}; its layers are: {', '.join(names)}")
    if encoding is None and path.suffix.lower() in (".shp", ".zip"):
        encoding = detect_dbf_encoding(path, layer=layer or (names[0] if names else None))
    kwargs = {"layer": layer}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        if engine == "fiona":
            return gpd.read_file(path if path.suffix.lower() != ".zip" else f"zip://{path}", engine="fiona", **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gdf = gpd.read_file(_gdal_path(path), engine="pyogrio", use_arrow=_has_arrow(), **kwargs)
        for w in caught:  # e.g. "Could not parse column 'tax_wan' as JSON": mixed text and numbers, kept as text
            log.info("%s: %s", path.name, w.message)
        return gdf
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"{path.name} is not a readable vector file: {_first_line(exc)}") from None
    except pyogrio.errors.DataLayerError as exc:
        raise InputError(f"{path.name}: {_first_line(exc)}") from None


def _has_arrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return False
    return True


def _first_line(exc) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def detect_dbf_encoding(path, *, layer: str | None = None) -> str | None:
    """Text encoding of a shapefile's DBF when no ``.cpg`` says it: UTF-8, GB18030 or None (ASCII).

    Chinese planning offices' shapefiles are usually GBK without a ``.cpg``; GDAL would then read
    them as Latin-1 and produce mojibake. The DBF's records are decoded strictly as UTF-8 first,
    then as GB18030 (a superset of GBK and GB2312).
    """
    path = Path(path)
    dbf, cpg = _dbf_bytes(path, layer)
    if cpg:
        return None  # GDAL honours the .cpg
    if dbf is None:
        return None
    header_len = int.from_bytes(dbf[8:10], "little") if len(dbf) >= 10 else 0
    body = dbf[header_len:]
    if all(b < 0x80 for b in body):
        return None
    for enc in ("utf-8", "gb18030"):
        try:
            body.decode(enc)
        except UnicodeDecodeError:
            continue
        log.info("%s has no .cpg; its text reads as %s", path.name, enc.upper())
        return enc.upper()
    log.warning("%s: cannot tell the text encoding; pass --encoding", path.name)
    return None


def _dbf_bytes(path: Path, layer: str | None):
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dbfs = [n for n in names if n.lower().endswith(".dbf") and (layer is None or Path(n).stem == layer)]
            if not dbfs:
                return None, False
            stem = dbfs[0][:-4]
            has_cpg = any(n.lower() == (stem + ".cpg").lower() for n in names)
            return zf.read(dbfs[0]), has_cpg
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None)
    cpg = any(p.exists() for p in (path.with_suffix(".cpg"), path.with_suffix(".CPG")))
    return (dbf.read_bytes() if dbf else None), cpg


def _read_csv(path: Path, encoding: str | None) -> pd.DataFrame:
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in encodings:
        try:
            return pd.read_csv(path, encoding=enc)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path.name}: cannot tell the text encoding; pass --encoding (e.g. gb18030)")


def _read_table_layer(path: Path, *, layer, encoding) -> gpd.GeoDataFrame:
    if path.suffix.lower() in (".xlsx", ".xls"):
        df = read_table(path, sheet=layer)
    else:
        df = _read_csv(path, encoding)
    return _frame_with_geometry(df, path)


def _find_column(columns, candidates):
    lookup = {str(c).strip().lower(): c for c in columns}
    for cand in candidates:
        if cand in lookup:
            return lookup[cand]
    return None


def _frame_with_geometry(df: pd.DataFrame, path: Path) -> gpd.GeoDataFrame:
    wkt_col = _find_column(df.columns, _WKT_COLUMNS)
    if wkt_col is not None:
        text = df[wkt_col].astype("string")
        geoms = shapely.from_wkt(text.fillna("").to_numpy(dtype=object), on_invalid="ignore")
        geoms = np.where(text.fillna("").str.strip().eq("").to_numpy(), None, geoms)
        unread = int((shapely.is_missing(geoms) & text.fillna("").str.strip().ne("").to_numpy()).sum())
        if unread:
            log.warning("%s: %d rows have WKT that cannot be read; kept with no geometry", path.name, unread)
        return gpd.GeoDataFrame(df.drop(columns=[wkt_col]), geometry=gpd.GeoSeries(geoms, index=df.index))
    lon_col, lat_col = _find_column(df.columns, _LON_COLUMNS), _find_column(df.columns, _LAT_COLUMNS)
    if lon_col is not None and lat_col is not None:
        lon = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=float)
        geoms = shapely.points(lon, lat)
        geoms = np.where(np.isnan(lon) | np.isnan(lat), None, geoms)
        gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index))
        if str(lon_col).lower() not in ("x",) and np.nanmax(np.abs(lon), initial=0) <= 180:
            gdf = gdf.set_crs("EPSG:4326")
            log.info("%s: points from %s/%s taken as WGS84 (EPSG:4326); pass --crs otherwise", path.name, lon_col, lat_col)
        return gdf
    raise InputError(
        f"{path.name} has no geometry: add a WKT column (named wkt or geometry) or longitude/latitude columns (lon, lat)"
    )


# --------------------------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, inputs: Iterable = ()):
    """Yield a temporary path beside ``path``; on success rename it into place, else remove it.

    Refuses (``OutputExistsError``) to replace one of ``inputs`` ever, or an existing file unless
    ``overwrite``.
    """
    path = Path(path)
    target = path.resolve()
    if any(src is not None and Path(src).resolve() == target for src in inputs):
        raise OutputExistsError(f"refusing to overwrite the input {path}: choose another output name")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists: pass --overwrite to replace it, or choose another name")
    if not path.parent.exists():
        raise LayerNotFoundError(f"the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_layer(gdf, path, *, overwrite: bool = False, inputs: Iterable = (), layer: str | None = None) -> Path:
    """Write a (Geo)DataFrame to ``path``, the format chosen by its extension; atomic."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(f"cannot write {suffix or 'files without an extension'}: use one of {', '.join(sorted(WRITE_SUFFIXES))}")
    with atomic_output(path, overwrite=overwrite, inputs=inputs) as tmp:
        _write(gdf, tmp, suffix, layer=layer or path.stem)
    log.info("wrote %s (%d rows)", path, len(gdf))
    return path


def write_tables(path, sheets: Mapping[str, pd.DataFrame], *, overwrite: bool = False, inputs: Iterable = ()) -> Path:
    """Write several named tables to one file: sheets in XLSX, layers in GeoPackage, sections in
    Markdown/HTML; for CSV, GeoJSON and Parquet only the first table is written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(f"cannot write {suffix or 'files without an extension'}: use one of {', '.join(sorted(WRITE_SUFFIXES))}")
    with atomic_output(path, overwrite=overwrite, inputs=inputs) as tmp:
        if suffix == ".xlsx":
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                for name, frame in sheets.items():
                    _plain(frame).to_excel(xw, sheet_name=str(name)[:31], index=False)
        elif suffix == ".md":
            tmp.write_text("\n\n".join(f"## {name}\n\n{frame_to_markdown(_plain(f))}" for name, f in sheets.items()) + "\n", encoding="utf-8")
        elif suffix == ".html":
            body = "\n".join(f"<h2>{_esc(name)}</h2>\n{_plain(f).to_html(index=False, escape=True, na_rep='')}" for name, f in sheets.items())
            tmp.write_text(f"<!doctype html><meta charset='utf-8'><title>{_esc(path.stem)}</title>\n{body}\n", encoding="utf-8")
        elif suffix == ".gpkg":
            first = True
            for name, frame in sheets.items():
                if isinstance(frame, gpd.GeoDataFrame):
                    frame.to_file(tmp, layer=str(name), driver="GPKG", engine="pyogrio", append=not first)
                else:
                    pyogrio.write_dataframe(frame, tmp, layer=str(name), driver="GPKG", append=not first)
                first = False
        else:
            _write(next(iter(sheets.values())), tmp, suffix, layer=path.stem)
    return path


def _write(gdf, tmp: Path, suffix: str, *, layer: str) -> None:
    is_geo = isinstance(gdf, gpd.GeoDataFrame)
    if suffix in (".geojson", ".json"):
        if not is_geo:
            raise InputError("GeoJSON needs geometry: write a .csv or .xlsx for a plain table")
        gdf.to_file(tmp, driver="GeoJSON", engine="pyogrio")
    elif suffix == ".gpkg":
        if is_geo:
            gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
        else:
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
    elif suffix in (".parquet", ".geoparquet"):
        gdf.to_parquet(tmp)
    elif suffix == ".csv":
        _plain(gdf, wkt=True).to_csv(tmp, index=False, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        _plain(gdf, wkt=True).to_excel(tmp, index=False, engine="openpyxl")
    elif suffix == ".md":
        tmp.write_text(frame_to_markdown(_plain(gdf)) + "\n", encoding="utf-8")
    elif suffix == ".html":
        tmp.write_text(f"<!doctype html><meta charset='utf-8'>\n{_plain(gdf).to_html(index=False, escape=True, na_rep='')}\n", encoding="utf-8")


def _plain(frame, *, wkt: bool = False) -> pd.DataFrame:
    """A plain DataFrame: geometry as WKT (``wkt=True``) or dropped."""
    if isinstance(frame, gpd.GeoDataFrame):
        geom_name = frame.geometry.name
        df = pd.DataFrame(frame.drop(columns=[geom_name]))
        if wkt:
            df["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
        return df
    return pd.DataFrame(frame)


def _esc(text) -> str:
    import html

    return html.escape(str(text))


def frame_to_markdown(df: pd.DataFrame, *, float_format: str = "{:,.2f}") -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned, pipes in text escaped."""
    def cell(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, (float, np.floating)):
            return float_format.format(v)
        return re.sub(r"[|\n]", lambda m: "\\|" if m.group() == "|" else " ", str(v))

    cols = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)
