"""A raster (slope, hillshade, DEM) drawn under a map's vector layers, inlined so the page stays offline.

The raster is warped to Web Mercator at screen resolution (at most ``max_px`` on its longer side), so
the image lines up with Leaflet exactly, coloured with a ramp, written as PNG with GDAL and embedded as
a ``data:`` URL. A small legend bar explains the colours.
"""

from __future__ import annotations

import base64
import html
import logging
import warnings
from pathlib import Path

import folium
import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.vrt import WarpedVRT

from ..errors import CRSError, InputError
from .render import _control_text, _Raw

__all__ = ["add_raster_overlay", "RAMPS"]

log = logging.getLogger(__name__)

# (value, colour) stops; values between stops are interpolated, outside them clamped
RAMPS: dict[str, dict] = {
    "slope": {"unit": "°", "stops": [(0, "#1a9850"), (8, "#a6d96a"), (15, "#fee08b"), (25, "#f46d43"), (35, "#a50026")],
              "title": "坡度 Slope (°)"},
    "slope_percent": {"unit": "%", "stops": [(0, "#1a9850"), (8, "#a6d96a"), (15, "#fee08b"), (25, "#f46d43"),
                                              (50, "#a50026")], "title": "坡度 Slope (%)"},
    "hillshade": {"unit": "", "stops": [(0, "#000000"), (255, "#ffffff")], "title": "晕渲 Hillshade"},
    "terrain": {"unit": "m", "stops": None, "title": "高程 Elevation (m)",
                "colors": ["#2b83ba", "#abdda4", "#ffffbf", "#fdae61", "#d7191c"]},
}


def _hex(c: str) -> np.ndarray:
    c = c.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=float)


def _colour(values: np.ndarray, stops) -> np.ndarray:
    xs = np.array([s[0] for s in stops], dtype=float)
    rgb = np.stack([_hex(s[1]) for s in stops])
    return np.stack([np.interp(values, xs, rgb[:, k]) for k in range(3)], axis=-1)


def _png_data_url(rgba: np.ndarray) -> str:
    h, w, _ = rgba.shape
    with warnings.catch_warnings():  # a PNG has no georeference, and needs none here
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(driver="PNG", width=w, height=h, count=4, dtype="uint8") as dst:
                dst.write(np.moveaxis(rgba, -1, 0))
            data = mem.read()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def add_raster_overlay(m: folium.Map, raster_path, *, name: str | None = None, style: str = "slope", band: int = 1,
                       opacity: float = 0.65, max_px: int = 1600) -> folium.Map:
    """Add ``raster_path`` (one band) to ``m`` as an inlined image layer with a legend; returns ``m``."""
    if style not in RAMPS:
        raise InputError(f"unknown raster style {style!r}; use one of {', '.join(RAMPS)}")
    path = Path(raster_path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError:
        raise InputError(f"{path.name} is not a readable raster") from None
    with src:
        if src.crs is None:
            raise CRSError(f"{path.name} has no CRS: it cannot be placed on the map")
        if not 1 <= band <= src.count:
            raise InputError(f"{path.name} has {src.count} band(s); band {band} does not exist")
        scale = max(src.width, src.height) / max_px
        with WarpedVRT(src, crs="EPSG:3857", resampling=Resampling.bilinear) as vrt:
            w = max(1, int(round(vrt.width / max(scale, 1.0))))
            h = max(1, int(round(vrt.height / max(scale, 1.0))))
            arr = vrt.read(band, out_shape=(h, w), masked=True, resampling=Resampling.bilinear)
            left, bottom, right, top = vrt.bounds
    values = np.ma.masked_array(arr, dtype=float).filled(np.nan)  # integer rasters (uint8 hillshade, int16 DEMs) too
    valid = np.isfinite(values) & ~np.ma.getmaskarray(arr)
    if not valid.any():
        raise InputError(f"{path.name}: band {band} holds only nodata")
    ramp = RAMPS[style]
    stops = ramp["stops"]
    if stops is None:  # a DEM: spread the colours over its own range
        lo, hi = np.nanpercentile(values[valid], [2, 98])
        hi = hi if hi > lo else lo + 1
        stops = [(lo + (hi - lo) * k / (len(ramp["colors"]) - 1), c) for k, c in enumerate(ramp["colors"])]
    rgba = np.zeros(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(_colour(np.where(valid, values, stops[0][0]), stops)).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 255, 0)
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (west, east), (south, north) = to_ll.transform([left, right], [bottom, top])
    title = name or f"{ramp['title']} · {path.name}"
    overlay = folium.raster_layers.ImageOverlay(image=_png_data_url(rgba), bounds=[[south, west], [north, east]],
                                                opacity=opacity, name=_control_text(title), interactive=False)
    # the layer control's script must come after every layer it lists: take it out, add the image, put it back
    controls = [(key, child) for key, child in m._children.items() if isinstance(child, folium.LayerControl)]
    for key, _ in controls:
        del m._children[key]
    overlay.add_to(m)
    for key, child in controls:
        m.add_child(child, name=key)
    gradient = ", ".join(f"{c} {100 * (v - stops[0][0]) / (stops[-1][0] - stops[0][0]):.0f}%" for v, c in stops)
    labels = " ".join(f"<span>{v:g}{html.escape(ramp['unit'])}</span>" for v, _ in stops)
    m.get_root().html.add_child(_Raw(
        '<div class="parkgis-raster-legend" style="position:absolute;left:10px;bottom:40px;z-index:800;'
        'background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;font:12px sans-serif;min-width:220px">'
        f'<div>{html.escape(title)}</div>'
        f'<div style="height:10px;margin:4px 0;background:linear-gradient(to right, {gradient})"></div>'
        f'<div style="display:flex;justify-content:space-between">{labels}</div></div>'))
    log.info("raster %s drawn as %d × %d px", path.name, w, h)
    return m
