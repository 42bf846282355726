"""The one table of sources and formats: what each extension or URL scheme is, and what it can hold.

Like geopandas' ``_EXTENSION_TO_DRIVER``: readers, writers and the command line all ask this table,
so adding a format is one row here and its reader or writer.

>>> format_for("parcels.gpkg").name
'GeoPackage'
>>> format_for("台账.XLSX").kind
'table'
>>> format_for("postgresql://planner@db/parkgis?table=parcels").name
'PostGIS'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ._atomic import is_url

__all__ = ["Format", "FORMATS", "format_for", "SCHEMES", "XLSX_CELL_CHARS", "readable_suffixes", "writable_suffixes"]

XLSX_CELL_CHARS = 32_767
"""Excel keeps at most this many characters in a cell; longer text is cut, so it is refused instead."""


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    kind: str  # "vector" (GDAL/OGR), "parquet", "table" (a ledger), "document" (write-only reports), "database"
    read: bool = True
    write: bool = True
    driver: str | None = None  # GDAL driver for writing
    layers: bool = False  # may hold several layers/sheets, one must be chosen
    tables: bool = False  # one file can hold several named tables when written
    geometry: bool = True  # can hold geometry
    one_geometry_type: bool = False  # every feature the same geometry type (shapefile)
    max_cell_chars: int | None = None
    lonlat_only: bool = False  # coordinates must be WGS84 longitude/latitude (KML, GeoJSON RFC 7946)


FORMATS: tuple[Format, ...] = (
    Format("GeoJSON", (".geojson", ".json"), "vector", driver="GeoJSON"),
    Format("GeoJSONSeq", (".geojsonl", ".geojsons"), "vector", driver="GeoJSONSeq"),
    Format("GeoPackage", (".gpkg",), "vector", driver="GPKG", layers=True, tables=True),
    Format("Shapefile", (".shp",), "vector", driver="ESRI Shapefile", one_geometry_type=True),
    Format("zipped files", (".zip",), "vector", write=False, layers=True),
    Format("FileGDB", (".gdb",), "vector", write=False, layers=True),
    Format("FlatGeobuf", (".fgb",), "vector", driver="FlatGeobuf"),
    Format("KML", (".kml",), "vector", driver="KML", layers=True, lonlat_only=True),
    Format("KMZ", (".kmz",), "vector", write=False, layers=True),
    Format("GML", (".gml",), "vector", driver="GML"),
    Format("OpenStreetMap", (".osm", ".pbf"), "vector", write=False, layers=True),
    Format("DXF", (".dxf",), "vector", write=False),
    Format("dBase table", (".dbf",), "vector", write=False, geometry=False),
    Format("MapInfo", (".tab", ".mif"), "vector", write=False),
    Format("GeoParquet", (".parquet", ".geoparquet"), "parquet"),
    Format("CSV", (".csv", ".tsv", ".txt"), "table"),
    Format("Excel", (".xlsx", ".xlsm", ".xls"), "table", layers=True, tables=True, max_cell_chars=XLSX_CELL_CHARS),
    Format("Markdown", (".md",), "document", read=False, tables=True, geometry=False),
    Format("HTML", (".html", ".htm"), "document", read=False, tables=True, geometry=False),
)

SCHEMES: dict[str, tuple[str, str, str]] = {
    # URL scheme → (module, reader, writer); the module is imported only when such a source is used
    "postgresql": ("gis.store.io", "read_source", "write_source"),
    "postgres": ("gis.store.io", "read_source", "write_source"),
}
_DATABASE = Format("PostGIS", (), "database", layers=True)
_BY_SUFFIX = {s: f for f in FORMATS for s in f.suffixes}


def readable_suffixes() -> list[str]:
    return sorted(s for f in FORMATS if f.read for s in f.suffixes)


def writable_suffixes() -> list[str]:
    return sorted(s for f in FORMATS if f.write for s in f.suffixes)


def format_for(source, *, folder_ok: bool = True, writing: bool = False) -> Format:
    """The format of a path or URL, from its scheme or extension (a folder of shapefiles is Shapefile)."""
    text = str(source)
    if is_url(text):
        scheme = text.split("://", 1)[0].lower()
        if scheme in SCHEMES:
            return _DATABASE
        raise InputError(f"{scheme}:// sources are not supported (known: {', '.join(sorted(SCHEMES))}, or a file)")
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    if folder_ok and path.is_dir():
        return Format("folder of shapefiles", (), "vector", write=False, layers=True)
    verb, known = ("writes", writable_suffixes()) if writing else ("reads", readable_suffixes())
    raise InputError(f"{path.name}: {suffix or 'a name without an extension'} is not a format parkgis {verb} here "
                     f"(it {verb} {', '.join(known)})")
