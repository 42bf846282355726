"""``parkgis map`` (one map from layers and a spec) and ``parkgis briefing`` (the whole briefing pack)."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from ._common import console, crs_opt, err_console, layer_opt, overwrite_opt

__all__ = ["map_cmd", "briefing_cmd"]

_BASEMAPS = ("none", "osm", "esri", "tianditu", "gaode")


def _auto_spec(inputs, title):
    layers = [{"source": str(p), "name": {"zh": Path(p).stem, "en": ""}} for p in inputs]
    stem = ", ".join(Path(p).stem for p in inputs)
    return {"id": Path(inputs[0]).stem, "title": {"zh": title or stem, "en": "" if title else "parkgis map"},
            "source_note": stem, "layers": layers}


@cli.command("map")
@click.argument("inputs", nargs=-1, metavar="INPUT…")
@click.option("--spec", default=None, metavar="YAML", help="Map specification (maps/*.yaml, or a bundled name such as yaogu).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output page (.html).")
@click.option("--offline/--online", default=False, show_default=True,
              help="Inline Leaflet and plugins so the page loads nothing from the network.")
@click.option("--basemap", type=click.Choice(_BASEMAPS), default=None,
              help="Base map tiles (default: the spec's, else none). tianditu needs TIANDITU_KEY.")
@click.option("--png", is_flag=True, help="Also write FILE.png beside the page (headless Chromium).")
@click.option("--title", default=None, help="Title of a map made without --spec.")
@click.option("--raster", "raster", default=None, metavar="TIF",
              help="Draw this raster (e.g. a slope or hillshade grid from `parkgis raster`) under the layers.")
@click.option("--raster-style", type=click.Choice(["slope", "slope_percent", "hillshade", "terrain"]),
              default="slope", show_default=True, help="Colours for --raster.")
@overwrite_opt
@crs_opt
@layer_opt
def map_cmd(inputs, spec, out, offline, basemap, png, title, raster, raster_style, overwrite, crs, layer):
    """Render one map: INPUT layers (files or bundled names) styled by a spec, or by geometry without one.

    \b
    Examples:
      parkgis map --spec yaogu --out maps/out/yaogu.html --offline
      parkgis map parcels.gpkg --out maps/out/parcels.html --png
    """
    from ..bundled import resolve_layer
    from ..errors import InputError
    from ..io import read_layer
    from ..webmap import render_map, save_map
    from ..webmap.png import screenshot
    from ..webmap.spec import load_spec

    if not inputs and not spec:
        raise InputError("give INPUT layers, a --spec, or both (e.g. parkgis map --spec yaogu --out yaogu.html)")
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out} must end in .html")
    frames = {}
    for p in inputs:
        gdf = read_layer(resolve_layer(p), layer=layer, crs=crs)
        frames[str(p)] = gdf
        frames.setdefault(Path(p).stem, gdf)
    spec_obj = load_spec(spec) if spec else _auto_spec(list(inputs), title)
    if out.exists() and not overwrite:
        from ..errors import OutputExistsError

        raise OutputExistsError(f"{out} exists: pass --overwrite to replace it, or choose another name")
    m = render_map(frames, spec_obj, offline=offline, basemap=basemap)
    if raster:
        from ..webmap.raster_overlay import add_raster_overlay

        if (basemap or spec_obj.get("basemap")) == "gaode":
            raise InputError("--raster cannot be drawn on the Gaode base map (GCJ-02): use --basemap none, osm or esri")
        add_raster_overlay(m, raster, style=raster_style)
    save_map(m, out, offline=offline, overwrite=overwrite)
    n = sum(len(g) for _, g, _ in m.parkgis_frames)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {n} features, "
                  f"{'offline' if offline else 'online'})")
    if png:  # without Chromium: ChromiumNotFound, one line and exit 2 (the page is written already)
        target = out.with_suffix(".png")
        screenshot(out, target, overwrite=overwrite, offline=offline)
        console.print(f"wrote {target}")


@cli.command("briefing")
@click.option("--out", "out", default="briefing", show_default=True, type=click.Path(file_okay=False),
              help="Output folder of the briefing pack.")
@click.option("--png/--no-png", default=None,
              help="PNG of every map for slides (default: on when Chromium is found, else skipped with a note).")
@click.option("--basemap", type=click.Choice(_BASEMAPS), default="none", show_default=True,
              help="Base map tiles; tiles are optional extras, the pack works without network.")
@click.option("--online", is_flag=True, help="Link Leaflet from CDNs instead of inlining it (smaller pages, need network).")
@overwrite_opt
def briefing_cmd(out, png, basemap, online, overwrite):
    """Render the briefing pack from the bundled layers: 一区五园, port, 药谷, 城市矿产, parcel audit, and index.html."""
    from ..webmap import build_briefing
    from ..webmap.png import find_chromium

    if png is None and find_chromium() is None:
        err_console.print("parkgis: note: no Chromium found, PNG images skipped (install chromium for slides)")
    made = build_briefing(out, overwrite=overwrite, png=png, basemap=basemap, offline=not online)
    for m in made:
        if m.available:
            extra = f" + {m.png}" if m.png else ""
            console.print(f"  {m.id:14} {m.html}{extra}  {m.title_zh}", markup=False)
        else:
            console.print(f"  {m.id:14} not available: {m.reason}", markup=False)
    console.print(f"briefing pack: {Path(out) / 'index.html'}", markup=False)
