"""``parkgis map`` (one map from layers and a spec) and ``parkgis briefing`` (the whole briefing pack)."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from ._common import console, crs_opt, err_console, layer_opt, overwrite_opt

__all__ = ["map_cmd", "briefing_cmd"]

_BASEMAPS = ("none", "osm", "esri", "tianditu", "gaode")


def _auto_spec(inputs, title, frames, column=None, label=None):
    """A spec for a user's own files: one layer each, styled by geometry, or by ``column`` (classed when
    numeric, categorical otherwise), labelled by ``label`` or the name/id column found."""
    import pandas as pd

    from ..errors import InputError
    from ..webmap.render import name_id_fields

    layers = []
    for p in inputs:
        gdf = frames[str(p)]
        layer = {"source": str(p), "name": {"zh": Path(p).stem, "en": ""}}
        polygons = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).any()
        if column:
            if column not in gdf.columns:
                raise InputError(f"{p}: no column {column!r}; columns: {', '.join(map(str, gdf.columns.drop(gdf.geometry.name)))}")
            numeric = pd.api.types.is_numeric_dtype(gdf[column]) and gdf[column].nunique(dropna=True) > 12
            if polygons and numeric:
                layer.update(kind="parcels", style={"column": column, "scheme": "Quantiles", "k": 5, "ramp": "YlOrRd"})
            elif polygons:
                layer.update(kind="zones", style={"by": column})
            layer["name"]["en"] = column
        lab = label or next(iter(name_id_fields(gdf)), None)
        if label and label not in gdf.columns:
            raise InputError(f"{p}: no column {label!r} to label with; columns: {', '.join(map(str, gdf.columns.drop(gdf.geometry.name)))}")
        if lab:
            layer["label"] = lab
            if layer.get("kind") == "parcels" or len(gdf) > 300:
                layer["label_min_zoom"] = 15
        layers.append(layer)
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
@click.option("--png", is_flag=True, help="Also write FILE.png beside the page: a 1920×1080 slide image without "
              "controls, always drawn from the offline page (headless Chromium).")
@click.option("--scale", type=click.IntRange(1, 3), default=1, show_default=True, help="Pixel ratio of --png (2 = 3840×2160).")
@click.option("--title", default=None, help="Title of a map made without --spec.")
@click.option("--column", default=None, metavar="COL",
              help="Colour a map made without --spec by this column (classed legend when numeric, categories otherwise).")
@click.option("--label", default=None, metavar="COL", help="Label features with this column (default: a name or id column).")
@click.option("--raster", "raster", default=None, metavar="TIF",
              help="Draw this raster (e.g. a slope or hillshade grid from `parkgis raster`) under the layers.")
@click.option("--raster-style", type=click.Choice(["slope", "slope_percent", "hillshade", "terrain"]),
              default="slope", show_default=True, help="Colours for --raster.")
@overwrite_opt
@crs_opt
@layer_opt
def map_cmd(inputs, spec, out, offline, basemap, png, scale, title, column, label, raster, raster_style, overwrite, crs,
            layer):
    """Render one map: INPUT layers (files or bundled names) styled by a spec, or by geometry without one.

    \b
    Examples:
      parkgis map --spec yaogu --out maps/out/yaogu.html --offline
      parkgis map parcels.gpkg --out maps/out/parcels.html --png
      parkgis map parcels.gpkg --title 地块 --column land_use --label parcel_id --out out/parcels.html
    """
    from ..bundled import resolve_layer
    from ..errors import InputError
    from ..io import read_layer
    from ..webmap import render_map, save_map
    from ..webmap.png import map_png
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
    if (column or label) and spec:
        raise InputError("--column and --label style a map made without --spec; with a spec, set style: and label: in it")
    spec_obj = load_spec(spec) if spec else _auto_spec(list(inputs), title, frames, column=column, label=label)
    from ..io import check_output

    sources = [str(p) for p in inputs] + ([str(raster)] if raster else [])
    check_output(out, overwrite=overwrite, inputs=sources)  # before the work, not after
    if png:
        check_output(out.with_suffix(".png"), overwrite=overwrite, inputs=sources)
    m = render_map(frames, spec_obj, offline=offline, basemap=basemap)
    if raster:
        from ..webmap.raster_overlay import add_raster_overlay

        if (basemap or spec_obj.get("basemap")) == "gaode":
            raise InputError("--raster cannot be drawn on the Gaode base map (GCJ-02): use --basemap none, osm or esri")
        add_raster_overlay(m, raster, style=raster_style)
    save_map(m, out, offline=offline, overwrite=overwrite, make_parents=True, inputs=sources)
    n = sum(len(g) for _, g, _ in m.parkgis_frames)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {n} features, "
                  f"{'offline' if offline else 'online'})")
    if png:  # without Chromium: ChromiumNotFound, one line and exit 2 (the page is written already)
        target = out.with_suffix(".png")
        map_png(m, target, overwrite=overwrite, scale=scale, inputs=sources)  # offline assets, print mode, never blank
        console.print(f"wrote {target}")


@cli.command("briefing")
@click.option("--out", "out", default="briefing", show_default=True, type=click.Path(file_okay=False),
              help="Output folder of the briefing pack.")
@click.option("--png/--no-png", default=None,
              help="PNG of every map for slides (default: on when Chromium is found, else skipped with a note).")
@click.option("--basemap", type=click.Choice(_BASEMAPS), default="none", show_default=True,
              help="Base map tiles; tiles are optional extras, the pack works without network.")
@click.option("--online", is_flag=True, help="Link Leaflet from CDNs instead of inlining it (smaller pages, need network).")
@click.option("--pdf", is_flag=True, help="Also write briefing.pdf: cover, every map on a full page, the plan and audit tables.")
@click.option("--pptx", is_flag=True, help="Also write briefing.pptx: one 16:9 slide per map with its title and source.")
@click.option("--hidpi", is_flag=True, help="Also write 2× PNGs (<map>@2x.png, 3840×2160).")
@overwrite_opt
def briefing_cmd(out, png, basemap, online, pdf, pptx, hidpi, overwrite):
    """Render the briefing pack from the bundled layers: 一区五园, port, 药谷, 城市矿产, parcel audit, and index.html.

    \b
    Example (everything for the meeting: pages, slide PNGs, PDF and PowerPoint):
      parkgis briefing --out briefing --pdf --pptx
    """
    from ..webmap import build_briefing
    from ..webmap.png import find_chromium

    if png is None and not (pdf or pptx) and find_chromium() is None:
        err_console.print("parkgis: note: no Chromium found, PNG images skipped (install chromium for slides)")
    made = build_briefing(out, overwrite=overwrite, png=png, basemap=basemap, offline=not online, pdf=pdf, pptx=pptx,
                          hidpi=hidpi)
    for m in made:
        if m.available:
            extra = f" + {m.png}" if m.png else ""
            console.print(f"  {m.id:14} {m.html}{extra}  {m.title_zh}", markup=False)
        else:
            console.print(f"  {m.id:14} not available: {m.reason}", markup=False)
    console.print(f"briefing pack: {Path(out) / 'index.html'}", markup=False)
    for extra, on in (("briefing.pdf", pdf), ("briefing.pptx", pptx)):
        if on:
            console.print(f"  {Path(out) / extra}", markup=False)
    for book in sorted(Path(out).glob("*.xlsx")):
        console.print(f"  {book}  审核工作簿 audit workbook (中文)", markup=False)
