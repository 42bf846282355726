"""Writers for every format in :mod:`gis.io.formats`; each checks before writing that nothing will be lost.

A round trip keeps every geometry or is refused before a byte is written: no ``Infinity`` in GeoJSON,
no cell of an Excel sheet cut at 32 767 characters, no mixed geometry types in a shapefile, no field
name cut short without saying so.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import GeometryTypeError, InputError
from ._atomic import check_output
from .formats import Format

__all__ = ["write_frame", "write_sheets", "plain_frame", "frame_to_markdown", "write_shapefile", "move_shapefile"]

log = logging.getLogger(__name__)


def _text_columns_to_str(frame: pd.DataFrame, *, categoricals: bool = True) -> pd.DataFrame:
    """Categoricals as text and lists/dicts as JSON text (never Python repr); every writer understands text.

    Returns ``frame`` itself when nothing needs converting (no copy of a million-row frame for nothing).
    ``categoricals=False`` leaves categoricals to the caller (the Parquet writer decodes them in arrow).
    """
    from ._vector import holds_containers, json_text

    geom = getattr(frame, "_geometry_column_name", None)
    changes = {}
    for c in frame.columns:
        if c == geom:
            continue
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            if categoricals:
                changes[c] = s.astype(object)
        elif s.dtype == object and holds_containers(s):
            changes[c] = s.map(json_text)
    if not changes:
        return frame
    out = frame.copy()
    for c, v in changes.items():
        out[c] = v
    return out


def plain_frame(frame, *, wkt: bool = False) -> pd.DataFrame:
    """A plain DataFrame: geometry as full-precision WKT (``wkt=True``) or dropped."""
    if isinstance(frame, gpd.GeoDataFrame):
        geom_name = frame.geometry.name
        df = pd.DataFrame(frame.drop(columns=[geom_name]))
        if wkt:
            df["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
        return _text_columns_to_str(df)
    return _text_columns_to_str(pd.DataFrame(frame))


_GEOPARQUET_TYPES = ("Point", "LineString", None, "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
                     "GeometryCollection")  # by shapely type id (2, LinearRing, is written as a LineString)


def write_geoparquet(gdf: gpd.GeoDataFrame, path, *, index: bool | None = None) -> None:
    """GeoParquet 1.0 (WKB), as ``GeoDataFrame.to_parquet`` writes it, with the WKB encoded on every core.

    ``index`` as in ``to_parquet`` (None: a RangeIndex is kept as metadata only, any other as columns).
    A frame with a second geometry column goes through geopandas itself.
    """
    import json

    import pyarrow as pa

    from ..parallel import map_array

    geom = gdf.geometry.name
    if any(isinstance(gdf[c].dtype, gpd.array.GeometryDtype) for c in gdf.columns if c != geom):
        gdf.to_parquet(path, index=index)
        return
    values = np.asarray(gdf.geometry.values, dtype=object)
    wkb = map_array(lambda g: shapely.to_wkb(g, flavor="iso"), values)
    table = pa.Table.from_pandas(pd.DataFrame(gdf), columns=[c for c in gdf.columns if c != geom], preserve_index=index)
    table = table.add_column(list(gdf.columns).index(geom), geom, pa.array(wkb, type=pa.binary()))  # in its place
    present = ~shapely.is_missing(values) & ~shapely.is_empty(values)
    ids = np.unique(shapely.get_type_id(values[present])) if present.any() else np.array([], dtype=int)
    has_z = bool(present.any() and shapely.has_z(values[present]).any())
    types = sorted({_GEOPARQUET_TYPES[1 if i == 2 else i] + (" Z" if has_z else "") for i in ids})
    column = {"encoding": "WKB", "geometry_types": types,
              "crs": gdf.crs.to_json_dict() if gdf.crs is not None else None}
    if present.any():
        column["bbox"] = [float(v) for v in gdf.geometry.values[present].total_bounds]
    meta = {"version": "1.0.0", "primary_column": geom, "columns": {geom: column}, "creator": {"library": "parkgis"}}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"geo": json.dumps(meta).encode()})
    write_parquet_table(table, path)


def write_parquet_table(table, path) -> None:
    """An arrow table to Parquet, dictionary-encoding the text columns only: numbers and WKB are rarely
    repeated, and trying them costs a third of the write (and makes the file larger).

    A categorical (an arrow dictionary) goes to the file's dictionary pages as it is, without decoding its
    values and hashing them again (0.6 s of a million parcels' 56 columns); the Arrow schema stored in
    the file names the values' type, so every reader sees text, not categories: the file is the one the
    plain text column gives (same bytes, same schema read back; tested).
    """
    import base64

    import pyarrow as pa
    import pyarrow.parquet as pq

    shown = pa.schema([pa.field(f.name, f.type.value_type, f.nullable, f.metadata) if pa.types.is_dictionary(f.type) else f
                       for f in table.schema], metadata=table.schema.metadata)
    text = [f.name for f in table.schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type)]
    # min/max statistics of binary columns (WKB) mean nothing and cost a tenth of the write
    stats = [f.name for f in table.schema if not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type))]
    with pq.ParquetWriter(path, table.schema, use_dictionary=text or False, write_statistics=stats or False,
                          store_schema=False) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({**(table.schema.metadata or {}),
                                       b"ARROW:schema": base64.b64encode(shown.serialize().to_pybytes())})


def _check_finite(gdf, name: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame) or not len(gdf):
        return
    from ._sanitize import nonfinite_rows

    rows = np.flatnonzero(nonfinite_rows(gdf.geometry.values))
    if len(rows):
        raise InputError(f"{len(rows)} geometries have NaN or infinite coordinates (rows {_rows(rows)}): "
                         f"{name} would hold no valid coordinates for them; nothing written")


def _rows(rows, limit: int = 5) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _check_cells(df: pd.DataFrame, fmt: Format, name: str) -> None:
    limit = fmt.max_cell_chars
    if not limit:
        return
    for c in df.columns:
        s = df[c]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        lengths = s.map(lambda v: len(v) if isinstance(v, str) else 0).to_numpy()
        too_long = np.flatnonzero(lengths > limit)
        if len(too_long):
            what = "geometries" if c == "wkt" else f"values of {c!r}"
            raise InputError(f"{len(too_long)} {what} need more than {fmt.name}'s {limit:,} characters a cell "
                             f"(rows {_rows(too_long)}, longest {int(lengths.max()):,}): {fmt.name} would cut them; "
                             f"nothing written: write .gpkg, .geojson or .parquet for the geometry")


def write_frame(frame, tmp: Path, fmt: Format, *, layer: str, target: Path) -> None:
    """Write one table to ``tmp`` in ``fmt`` (``target`` is the final name, for messages and sidecars)."""
    is_geo = isinstance(frame, gpd.GeoDataFrame)
    name = target.name
    if fmt.kind == "vector":
        if not is_geo:
            if fmt.name == "GeoPackage":
                pyogrio.write_dataframe(plain_frame(frame), tmp, layer=layer, driver="GPKG")
                return
            raise InputError(f"{fmt.name} needs geometry: write a .csv or .xlsx for a plain table")
        _check_finite(frame, name)
        gdf = _text_columns_to_str(frame)
        if fmt.lonlat_only and gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
            gdf = gdf.to_crs("EPSG:4326")
        if fmt.name == "Shapefile":
            write_shapefile(gdf, tmp, target=target)
            return
        options = {}
        if fmt.name == "FlatGeobuf" and gdf.geometry.isna().any():
            options["SPATIAL_INDEX"] = "NO"  # FlatGeobuf's index cannot hold a feature without geometry
        gdf.to_file(tmp, layer=layer if fmt.layers else None, driver=fmt.driver, engine="pyogrio", **options)
        if fmt.name == "GeoPackage":
            _default_style(tmp, layer, gdf)
    elif fmt.kind == "parquet":
        if is_geo:
            _check_finite(frame, name)
            write_geoparquet(_text_columns_to_str(frame, categoricals=False), tmp)
        else:
            import pyarrow as pa

            # categoricals go to arrow as dictionaries and are decoded there (no Python string per cell)
            write_parquet_table(pa.Table.from_pandas(_text_columns_to_str(pd.DataFrame(frame), categoricals=False),
                                                     preserve_index=None), tmp)
    elif fmt.name == "CSV":
        if is_geo:
            _check_finite(frame, name)
        plain_frame(frame, wkt=True).to_csv(tmp, index=False, encoding="utf-8-sig",
                                            sep="\t" if target.suffix.lower() == ".tsv" else ",")
    elif fmt.name == "Excel":
        write_sheets(tmp, {layer: frame}, fmt, target=target)
    elif fmt.name == "Markdown":
        tmp.write_text(frame_to_markdown(plain_frame(frame)) + "\n", encoding="utf-8")
    elif fmt.name == "HTML":
        tmp.write_text(f"<!doctype html><meta charset='utf-8'>\n{plain_frame(frame).to_html(index=False, escape=True, na_rep='')}\n",
                       encoding="utf-8")
    else:
        raise InputError(f"cannot write {fmt.name} files")


def write_sheets(tmp: Path, sheets: dict, fmt: Format, *, target: Path) -> None:
    """Several named tables in one file: sheets in XLSX, layers in GeoPackage, sections in Markdown/HTML."""
    if fmt.name == "Excel":
        frames = {}
        for sheet, frame in sheets.items():
            df = plain_frame(frame, wkt=True)
            _check_cells(df, fmt, target.name)
            frames[str(sheet)[:31]] = df
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for sheet, df in frames.items():
                df.to_excel(xw, sheet_name=sheet, index=False)
    elif fmt.name == "Markdown":
        tmp.write_text("\n\n".join(f"## {name}\n\n{frame_to_markdown(plain_frame(f))}" for name, f in sheets.items()) + "\n",
                       encoding="utf-8")
    elif fmt.name == "HTML":
        body = "\n".join(f"<h2>{html.escape(str(name))}</h2>\n{plain_frame(f).to_html(index=False, escape=True, na_rep='')}"
                         for name, f in sheets.items())
        tmp.write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(target.stem)}</title>\n{body}\n", encoding="utf-8")
    elif fmt.name == "GeoPackage":
        for i, (name, frame) in enumerate(sheets.items()):
            if isinstance(frame, gpd.GeoDataFrame):
                _check_finite(frame, target.name)
                _text_columns_to_str(frame).to_file(tmp, layer=str(name), driver="GPKG", engine="pyogrio", append=i > 0)
                _default_style(tmp, str(name), frame)
            else:
                pyogrio.write_dataframe(plain_frame(frame), tmp, layer=str(name), driver="GPKG", append=i > 0)
    else:
        write_frame(next(iter(sheets.values())), tmp, fmt, layer=target.stem, target=target)


def _default_style(path: Path, layer: str, frame) -> None:
    """QGIS opens a GeoPackage layer of parcels (land_use, parcel_id) or zones (zone_id) styled: the same
    default style the shared store saves (:mod:`gis.store.styles`), in the file's ``layer_styles``."""
    cols = set(map(str, frame.columns))
    kind = "parcels" if {"land_use", "parcel_id"} <= cols else ("zones" if "zone_id" in cols and "parcel_id" not in cols
                                                                 else None)
    if kind is None:
        return
    import sqlite3

    from ..store.styles import write_gpkg_style

    try:
        write_gpkg_style(path, layer, kind)
    except sqlite3.Error as exc:  # a style is a courtesy: the data is written either way
        log.warning("%s: no default QGIS style saved (%s)", path.name, exc)


_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def write_shapefile(gdf: gpd.GeoDataFrame, tmp: Path, *, target: Path) -> None:
    """A shapefile with a UTF-8 ``.cpg``; field names longer than 10 bytes are shortened and said.

    ``tmp`` is a temporary folder; :func:`move_shapefile` then moves the parts into place. Refused for
    mixed geometry types (a shapefile holds one).
    """
    present = gdf.geometry.values[~gdf.geometry.isna().to_numpy()]
    families = {_family(t) for t in shapely.get_type_id(present)} if len(present) else set()
    if len(families) > 1:
        raise GeometryTypeError(f"{target.name}: a shapefile holds one geometry type, this layer mixes "
                                f"{', '.join(sorted(families))}; write .gpkg or .geojson")
    renames, used = {}, set()
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        short = _short_name(str(col), used)
        used.add(short.lower())
        if short != col:
            renames[col] = short
    if renames:
        log.warning("%s: shapefile field names are at most 10 bytes; renamed %s", target.name,
                    ", ".join(f"{a} → {b}" for a, b in renames.items()))
    out = gdf.rename(columns=renames)
    out.to_file(tmp / target.name, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
    cpg = tmp / (target.stem + ".cpg")
    if not cpg.exists():
        cpg.write_text("UTF-8", encoding="ascii")


def _family(type_id) -> str:
    return {0: "points", 4: "points", 1: "lines", 2: "lines", 5: "lines", 3: "polygons", 6: "polygons"}.get(int(type_id), "collections")


def _short_name(name: str, used: set) -> str:
    if len(name.encode("utf-8")) <= 10 and name.lower() not in used:
        return name
    cut = name
    while len(cut.encode("utf-8")) > 10:
        cut = cut[:-1]
    base, i = cut, 1
    while cut.lower() in used:
        suffix = f"_{i}"
        cut = base
        while len((cut + suffix).encode("utf-8")) > 10:
            cut = cut[:-1]
        cut += suffix
        i += 1
    return cut


def move_shapefile(tmp_dir: Path, target: Path, *, overwrite: bool, inputs) -> None:
    """Move the parts of a shapefile written by :func:`write_shapefile` next to ``target``."""
    parts = [p for p in tmp_dir.iterdir()]
    for p in parts:
        check_output(target.with_name(p.name), overwrite=overwrite, inputs=inputs)
    for p in parts:
        os.replace(p, target.with_name(p.name))
    shutil.rmtree(tmp_dir, ignore_errors=True)


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

