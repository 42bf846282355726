"""Briefing maps: folium pages that open anywhere (offline, no CDN), draw fast and explain themselves.

Public face: :func:`render_map` (layers + spec → ``folium.Map``), :func:`save_map` (atomic, offline
by default), :func:`build_briefing` (the whole briefing pack), :func:`load_spec`.

Modules: ``render`` (page), ``style`` (colours, classes, legends; the land-use colour table),
``context`` (districts, Yellow River, places under the data), ``png`` (headless Chromium: slide PNGs,
print-to-PDF), ``slides`` (briefing PDF and PowerPoint), ``briefing`` (the pack), ``spec``, ``compact``,
``offline``, ``raster_overlay``.
"""

from __future__ import annotations

from .render import SCHEMATIC_NOTE, ProcessorUnavailable, page_html, render_map, save_map
from .spec import BASEMAPS, BRIEFING_SPECS, load_spec, validate_spec

__all__ = ["render_map", "save_map", "page_html", "build_briefing", "load_spec", "validate_spec", "BASEMAPS",
           "BRIEFING_SPECS", "SCHEMATIC_NOTE", "ProcessorUnavailable"]


def build_briefing(out_dir="briefing", **kwargs):
    """Render the briefing pack into ``out_dir``; see :func:`gis.webmap.briefing.build_briefing`."""
    from .briefing import build_briefing as _build

    return _build(out_dir, **kwargs)
