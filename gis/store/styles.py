"""QGIS default styles: parcels coloured by land use, zones outlined, both labelled.

QGIS reads a layer's default style from a ``layer_styles`` table (in PostGIS: ``public.layer_styles``;
in a GeoPackage: a table of that name inside the file). The style is QML, QGIS' XML. Colours per
land-use code come from the one colour table (``gis/data/landuse_colours.csv``, a source per colour, shared
with the maps); every code of the land-use crosswalk (GB 50137-2011 and the 2023 classification) gets
its own colour or its class's (:func:`gis.landuse.colour_of`).

>>> qml = parcels_qml()
>>> "categorizedSymbol" in qml and 'value="M1"' in qml and 'fieldName="parcel_id"' in qml
True
"""

from __future__ import annotations

import logging
import sqlite3
import xml.etree.ElementTree as ET

import pandas as pd

from ..landuse import COLOURS_PATH, colour_of, landuse_colours, load_crosswalk

__all__ = ["COLOURS_PATH", "load_colours", "parcels_qml", "zones_qml", "save_default_styles", "write_gpkg_style",
           "LAYER_STYLES_DDL"]

log = logging.getLogger(__name__)

STYLE_NAME = "parkgis default"


def load_colours(path=None) -> pd.DataFrame:
    """The colour table (a copy) as a frame: code, colour, name_zh, name_en."""
    table = landuse_colours(path)
    return pd.DataFrame([(k, *v) for k, v in table.items()], columns=["code", "colour", "name_zh", "name_en"])


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    h = hex_colour.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha}"


def _fill_symbol(parent, name: str, colour: str, *, outline: str = "#555555", width: str = "0.26", style: str = "solid"):
    sym = ET.SubElement(parent, "symbol", {"type": "fill", "name": name, "alpha": "1", "clip_to_extent": "1",
                                           "force_rhr": "0"})
    layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "pass": "0", "locked": "0"})
    opts = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in (("color", _rgba(colour)), ("outline_color", _rgba(outline)), ("outline_style", "solid"),
                       ("outline_width", width), ("outline_width_unit", "MM"), ("style", style),
                       ("joinstyle", "bevel")):
        ET.SubElement(opts, "Option", {"type": "QString", "name": key, "value": value})
    return sym


def _labels(root, field: str, *, size: str = "8", expression: bool = False):
    lab = ET.SubElement(root, "labeling", {"type": "simple"})
    settings = ET.SubElement(lab, "settings", {"calloutType": "simple"})
    ET.SubElement(settings, "text-style", {"fieldName": field, "fontSize": str(size), "textColor": "40,40,40,255",
                                           "fontFamily": "Noto Sans CJK SC", "isExpression": "1" if expression else "0"})
    ET.SubElement(settings, "text-buffer", {"bufferDraw": "1", "bufferSize": "0.8", "bufferColor": "255,255,255,255"})
    ET.SubElement(settings, "placement", {"placement": "1"})  # over the point / around the centroid
    ET.SubElement(root, "customproperties")


def _document(root) -> str:
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


def parcels_qml(*, field: str = "land_use", label: str = "parcel_id") -> str:
    """QML: parcels categorised by their land-use code (both code systems), labelled with their id."""
    cw = load_crosswalk()
    root = ET.Element("qgis", {"version": "3.28.0", "styleCategories": "Symbology|Labeling"})
    renderer = ET.SubElement(root, "renderer-v2", {"type": "categorizedSymbol", "attr": field, "symbollevels": "0",
                                                   "enableorderby": "0", "forceraster": "0"})
    cats, symbols = ET.SubElement(renderer, "categories"), ET.SubElement(renderer, "symbols")
    seen, n = set(), 0
    for _, row in cw.iterrows():
        colour = colour_of(row["gb50137_code"] if not pd.isna(row["gb50137_code"]) and row["gb50137_code"] else row["code_2023"])
        for code, name in ((row["gb50137_code"], row["gb50137_name_zh"]), (row["code_2023"], row["name_2023_zh"])):
            if code is None or pd.isna(code) or code in seen:
                continue
            seen.add(code)
            ET.SubElement(cats, "category", {"value": str(code), "label": f"{code} {name or ''}".strip(),
                                             "symbol": str(n), "render": "true"})
            _fill_symbol(symbols, str(n), colour)
            n += 1
    ET.SubElement(cats, "category", {"value": "", "label": "其他 other", "symbol": str(n), "render": "true"})
    _fill_symbol(symbols, str(n), colour_of(None))
    _labels(root, label)
    return _document(root)


def zones_qml(*, label: str = 'coalesce("name", "zone_id")') -> str:
    """QML: zones as outlines, labelled with their name (or their id when they have none)."""
    root = ET.Element("qgis", {"version": "3.28.0", "styleCategories": "Symbology|Labeling"})
    renderer = ET.SubElement(root, "renderer-v2", {"type": "singleSymbol", "symbollevels": "0", "forceraster": "0"})
    symbols = ET.SubElement(renderer, "symbols")
    _fill_symbol(symbols, "0", "#1f3b73", outline="#1f3b73", width="0.6", style="no")
    _labels(root, label, size="10", expression=True)
    return _document(root)


LAYER_STYLES_DDL = """CREATE TABLE IF NOT EXISTS public.layer_styles (
    id serial PRIMARY KEY, f_table_catalog varchar, f_table_schema varchar, f_table_name varchar,
    f_geometry_column varchar, stylename text, styleqml xml, stylesld xml, useasdefault boolean,
    description text, owner varchar(63) DEFAULT CURRENT_USER, ui xml,
    update_time timestamp DEFAULT CURRENT_TIMESTAMP, type varchar)"""
"""The table QGIS itself creates when a style is saved to PostGIS."""


def _styles():
    return {"parcels": parcels_qml(), "zones": zones_qml()}


def save_default_styles(conn, schema: str) -> None:
    """Save the default styles of ``schema``'s parcels and zones in ``public.layer_styles`` (replacing parkgis' own)."""
    conn.execute(LAYER_STYLES_DDL)
    conn.execute("GRANT SELECT ON public.layer_styles TO PUBLIC")
    for table, qml in _styles().items():
        conn.execute("UPDATE public.layer_styles SET useasdefault = false WHERE f_table_catalog = current_database() "
                     "AND f_table_schema = %s AND f_table_name = %s AND f_geometry_column = 'geom'", [schema, table])
        conn.execute("DELETE FROM public.layer_styles WHERE f_table_catalog = current_database() AND f_table_schema = %s "
                     "AND f_table_name = %s AND stylename = %s", [schema, table, STYLE_NAME])
        conn.execute("INSERT INTO public.layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                     "stylename, styleqml, useasdefault, description, type) "
                     "VALUES (current_database(), %s, %s, 'geom', %s, XMLPARSE(DOCUMENT %s), true, %s, 'Polygon')",
                     [schema, table, STYLE_NAME, qml, f"parkgis: {table} by land use, labelled"])


def write_gpkg_style(path, layer: str, kind: str = "parcels", *, geometry_column: str = "geom") -> None:
    """Add the default style of ``kind`` ('parcels' or 'zones') for ``layer`` to a GeoPackage's ``layer_styles``."""
    qml = _styles()[kind]
    with sqlite3.connect(str(path)) as db:
        db.execute("CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT, "
                   "f_table_schema TEXT, f_table_name TEXT, f_geometry_column TEXT, styleName TEXT, styleQML TEXT, "
                   "styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT, ui TEXT, update_time DATETIME "
                   "DEFAULT CURRENT_TIMESTAMP)")
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone():
            db.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                       "VALUES ('layer_styles', 'attributes', 'layer_styles')")
        db.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = ?", [layer])
        db.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                   "styleQML, useAsDefault, description) VALUES ('', '', ?, ?, ?, ?, 1, ?)",
                   [layer, geometry_column, STYLE_NAME, qml, f"parkgis: {kind}"])
