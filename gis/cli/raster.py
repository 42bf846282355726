"""``parkgis raster …``: slope, aspect, hillshade, zonal statistics, land-use grids, clip, reproject.

Thin commands over :mod:`gis.raster`; rasters are written as tiled, deflate-compressed GeoTIFFs and
never over an input or an existing file without --overwrite.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..bundled import resolve_layer
from ..errors import InputError, OutputExistsError
from ..io import write_layer, write_tables
from ..zonal import zonal_table
from . import cli
from ._common import console, crs_opt, encoding_opt, layer_opt, overwrite_opt, print_frame


class _OnFirstUse:
    """:mod:`gis.raster`, imported when a raster command runs (rasterio takes 0.2 s to import and most
    commands never touch a raster)."""

    def __getattr__(self, name):
        from .. import raster

        return getattr(raster, name)


R = _OnFirstUse()

__all__ = ["raster"]

_GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".parquet", ".geoparquet")

out_tif = click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output GeoTIFF.")
raster_crs_opt = click.option("--crs", default=None, metavar="EPSG:n",
                              help="CRS of a raster that has none (e.g. EPSG:4544); a raster's own CRS is kept.")
band_opt = click.option("--band", type=int, default=None, metavar="N", help="Band to use (needed for a multi-band raster).")


@cli.group("raster")
def raster():
    """Terrain and raster analysis: slope, buildable land, zonal statistics, land-use grids."""


@raster.command("slope")
@click.argument("dem")
@out_tif
@click.option("--units", type=click.Choice(["degrees", "percent"]), default="degrees", show_default=True)
@band_opt
@overwrite_opt
@raster_crs_opt
def slope_cmd(dem, out, units, band, overwrite, crs):
    """Slope of DEM (heights in metres), correct in any CRS including longitude/latitude."""
    R.slope(dem, out, units=units, band=band, overwrite=overwrite, crs=crs)
    console.print(f"wrote slope ({units}) to {out}")


@raster.command("aspect")
@click.argument("dem")
@out_tif
@band_opt
@overwrite_opt
@raster_crs_opt
def aspect_cmd(dem, out, band, overwrite, crs):
    """Aspect of DEM: degrees clockwise from true north the slope faces (-1 flat)."""
    R.aspect(dem, out, band=band, overwrite=overwrite, crs=crs)
    console.print(f"wrote aspect to {out}")


@raster.command("hillshade")
@click.argument("dem")
@out_tif
@click.option("--azimuth", type=float, default=315.0, show_default=True, help="Direction of the light, degrees from north.")
@click.option("--altitude", type=float, default=45.0, show_default=True, help="Height of the light above the horizon, degrees.")
@band_opt
@overwrite_opt
@raster_crs_opt
def hillshade_cmd(dem, out, azimuth, altitude, band, overwrite, crs):
    """Hillshade of DEM for map backgrounds (uint8, 0 = nodata)."""
    R.hillshade(dem, out, azimuth=azimuth, altitude=altitude, band=band, overwrite=overwrite, crs=crs)
    console.print(f"wrote hillshade to {out}")


def _read_zones(path, layer, crs, encoding):
    from ._common import read_input

    return read_input(path, layer=layer, crs=crs, encoding=encoding).frame


@raster.command("zonal")
@click.argument("raster_path", metavar="RASTER")
@click.argument("zones", metavar="ZONES")
@band_opt
@click.option("--stats", default="mean,min,max,count", show_default=True,
              help="Comma-separated: mean,min,max,std,median,sum,count,pNN (e.g. p10,p90).")
@click.option("--where", default=None, metavar="COND",
              help='Also measure the area meeting a condition, e.g. "<15" (slope under 15) or ">=5,<15".')
@click.option("--id", "id_field", default=None, metavar="FIELD", help="Field naming each zone in findings (default: id if present).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Output table or layer (.csv .xlsx .md .geojson .gpkg …); printed when omitted. Findings go to a "
                   "'findings' sheet/layer, or beside a single-table file as NAME.findings.csv.")
@layer_opt
@click.option("--crs", default=None, metavar="EPSG:n", help="CRS of the zones or of the raster where either has none.")
@encoding_opt
@overwrite_opt
def zonal_cmd(raster_path, zones, band, stats, where, id_field, out, layer, crs, encoding, overwrite):
    """Statistics of RASTER per zone of ZONES with exact fractional cell coverage.

    Every zone gets a row, keeping its own columns (id, name …), followed by the statistics, its
    ellipsoidal area and the share of it with data; missing values stay empty, never 0.
    """
    gdf = _read_zones(zones, layer, crs, encoding)
    if id_field is not None and id_field not in gdf.columns:
        raise InputError(f"the zones have no field {id_field!r} for --id; fields: "
                         f"{', '.join(map(str, gdf.columns.drop(gdf.geometry.name)))}")
    table, findings = zonal_table(raster_path, gdf, stats=stats, band=band, where=where, crs=crs, id_field=id_field,
                                  return_findings=True)
    flat = pd.DataFrame(table.drop(columns=table.geometry.name))
    if out is not None:
        inputs = [raster_path, resolve_layer(zones)]
        geo = out.lower().endswith(_GEO_SUFFIXES)
        main = table if geo else flat
        side = str(Path(out).with_suffix("")) + ".findings.csv"
        if not _holds_tables(out) and len(findings) and Path(side).exists() and not overwrite:
            raise OutputExistsError(f"{side} exists (the findings of {Path(out).name} go there): pass --overwrite to "
                                    "replace it, or choose another name", setting="overwrite")
        if _holds_tables(out):
            write_tables(out, {"zones": main, "findings": findings}, overwrite=overwrite, inputs=inputs)
            console.print(f"wrote statistics of {len(table)} zones and {len(findings)} findings to {out}")
        else:
            write_layer(main, out, overwrite=overwrite, inputs=inputs)
            console.print(f"wrote statistics of {len(table)} zones to {out}")
            if len(findings):
                write_layer(findings, side, overwrite=overwrite, inputs=inputs)
                console.print(f"wrote {len(findings)} findings to {side}")
    else:
        units = table.attrs.get("units")
        print_frame(flat, title=f"{click.format_filename(raster_path)} by zone" + (f" ({units})" if units else "")
                    + (f", where {where}" if where else ""))
    if len(findings):
        by = (findings.assign(n=1).groupby(["severity", "check", "reason_en"], dropna=False, sort=False)["n"].sum()
              .reset_index())
        print_frame(by, title=f"Findings ({len(findings)})")
        zones_with = findings["row"].dropna().nunique()
        if zones_with:
            console.print(f"{zones_with} of {len(table)} zones have a finding (see the findings)")


def _holds_tables(out) -> bool:
    try:
        from ..io import format_for

        return bool(format_for(out, folder_ok=False).tables)
    except Exception:  # an unknown extension: write_layer says what is wrong
        return False


@raster.command("rasterize")
@click.argument("zones", metavar="ZONES")
@click.option("--field", required=True, help="Field to burn, e.g. land_use (text gets codes 1…n with a legend).")
@click.option("--cell", "cell_m", required=True, type=float, help="Cell size in metres.")
@out_tif
@click.option("--dst-crs", default=None, metavar="EPSG:n", help="Grid CRS (default: the CGCS2000 3° Gauss–Krüger zone of the data).")
@click.option("--all-touched", is_flag=True, help="Burn every cell a zone touches, not only cells whose centre it covers.")
@layer_opt
@crs_opt
@encoding_opt
@overwrite_opt
def rasterize_cmd(zones, field, cell_m, out, dst_crs, all_touched, layer, crs, encoding, overwrite):
    """A land-use grid from the FIELD of ZONES, with codes and legend in the file's tags."""
    gdf = _read_zones(zones, layer, crs, encoding)
    info = R.rasterize(gdf, field=field, cell_m=cell_m, dst_path=out, crs=dst_crs, all_touched=all_touched,
                       overwrite=overwrite, inputs=[resolve_layer(zones)])
    console.print(f"wrote {info['width']} × {info['height']} cells of {cell_m:g} m in {info['crs'].name} "
                  f"(EPSG:{info['crs'].to_epsg()}) to {out}; nodata {info['nodata']}")
    if info["legend"]:
        print_frame(pd.DataFrame({"code": list(info["legend"]), field: list(info["legend"].values())}), title="legend")


@raster.command("clip")
@click.argument("raster_path", metavar="RASTER")
@click.option("--to", "to_layer", required=True, metavar="LAYER", help="Polygon layer to cut to (file or bundled name).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output GeoTIFF.")
@click.option("--all-touched", is_flag=True, help="Keep every cell a polygon touches.")
@layer_opt
@click.option("--crs", default=None, metavar="EPSG:n", help="CRS of the layer or of the raster where either has none.")
@overwrite_opt
def clip_cmd(raster_path, to_layer, out, all_touched, layer, crs, overwrite):
    """Cut RASTER to the polygons of LAYER (cells outside become nodata)."""
    gdf = _read_zones(to_layer, layer, crs, None)
    R.clip(raster_path, gdf, out, all_touched=all_touched, overwrite=overwrite, crs=crs)
    console.print(f"wrote {out}")


@raster.command("reproject")
@click.argument("raster_path", metavar="RASTER")
@click.option("--dst-crs", required=True, metavar="EPSG:n", help="Target CRS, e.g. EPSG:4544.")
@click.option("--resolution", type=float, default=None, help="Cell size in the target CRS's units (metres or degrees).")
@click.option("--resampling", default="bilinear", show_default=True, metavar="METHOD",
              help="GDAL's method: nearest, bilinear, cubic, cubic_spline, lanczos, average, mode, min, max, med, q1, q3. "
                   "Use nearest (or mode) for codes such as land use.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output GeoTIFF.")
@overwrite_opt
@raster_crs_opt
def reproject_cmd(raster_path, dst_crs, resolution, resampling, out, overwrite, crs):
    """Warp RASTER to another CRS (block by block)."""
    R.reproject(raster_path, out, dst_crs=dst_crs, resolution=resolution, resampling=resampling, overwrite=overwrite,
                crs=crs)
    console.print(f"wrote {out}")
