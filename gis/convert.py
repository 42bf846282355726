"""Moving a layer between coordinate systems, including China's GCJ-02 and BD-09 web-map offsets."""

from __future__ import annotations

import logging

from .crs import require_crs, to_crs
from .errors import CRSError
from .offsets import convert_geoseries

__all__ = ["convert_layer", "parse_system"]

log = logging.getLogger(__name__)

_ALIASES = {"wgs84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "gcj02": "gcj02", "gcj-02": "gcj02",
            "gaode": "gcj02", "amap": "gcj02", "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09"}


def parse_system(text: str):
    """'gcj02' / 'bd09' / 'wgs84' stay names; anything else is parsed as a CRS."""
    key = str(text).strip().lower()
    return _ALIASES.get(key) or to_crs(text)


def convert_layer(gdf, *, src: str, dst: str = "EPSG:4326"):
    """A new layer with every vertex moved from ``src`` to ``dst`` (each gcj02, bd09, wgs84 or EPSG:n).

    GCJ-02 and BD-09 are longitude/latitude offsets of WGS84: converting from them needs no CRS on
    the input (it is set); converting to them gives EPSG:4326-labelled coordinates that only line up
    with Gaode/Baidu tiles.
    """
    s, d = parse_system(src), parse_system(dst)
    out = gdf.copy()
    if isinstance(s, str):
        if gdf.crs is not None and not gdf.crs.is_geographic:
            raise CRSError(f"the input is in {gdf.crs.to_string()}, not longitude/latitude: {s} coordinates are degrees")
        geo = out.geometry.set_crs("EPSG:4326", allow_override=True)
    else:
        if gdf.crs is not None and not gdf.crs.equals(s):
            log.warning("the file says %s; converting from %s as asked", gdf.crs.to_string(), s.to_string())
        geo = out.geometry.set_crs(s, allow_override=True)
    # to WGS84 longitude/latitude
    if isinstance(s, str):
        geo = convert_geoseries(geo, src=s, dst="wgs84")
    else:
        geo = geo.to_crs("EPSG:4326")
    # then to the destination
    if isinstance(d, str):
        geo = convert_geoseries(geo, src="wgs84", dst=d)
    else:
        geo = geo.to_crs(d)
    out = out.set_geometry(geo.values, crs=geo.crs)
    require_crs(out)
    return out


