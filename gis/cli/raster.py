"""``parkgis raster …``: slope, aspect, hillshade, zonal statistics, land-use grids, clip, reproject.

Thin commands over :mod:`gis.raster`; rasters are written as tiled, deflate-compressed GeoTIFFs and
never over an input or an existing file without --overwrite.
"""

from __future__ import annotations

import click
import geopandas as gpd
import pandas as pd

from .. import raster as R
from ..bundled import resolve_layer
from ..errors import InputError
from ..io import read_layer, write_layer
from . import cli
from ._common import console, crs_opt, encoding_opt, layer_opt, overwrite_opt, print_frame

__all__ = ["raster"]

_GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".parquet", ".geoparquet")

out_tif = click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output GeoTIFF.")
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
def slope_cmd(dem, out, units, band, overwrite):
    """Slope of DEM (heights in metres), correct in any CRS including longitude/latitude."""
    R.slope(dem, out, units=units, band=band, overwrite=overwrite)
    console.print(f"wrote slope ({units}) to {out}")


@raster.command("aspect")
@click.argument("dem")
@out_tif
@band_opt
@overwrite_opt
def aspect_cmd(dem, out, band, overwrite):
    """Aspect of DEM: degrees clockwise from true north the slope faces (-1 flat)."""
    R.aspect(dem, out, band=band, overwrite=overwrite)
    console.print(f"wrote aspect to {out}")


@raster.command("hillshade")
@click.argument("dem")
@out_tif
@click.option("--azimuth", type=float, default=315.0, show_default=True, help="Direction of the light, degrees from north.")
@click.option("--altitude", type=float, default=45.0, show_default=True, help="Height of the light above the horizon, degrees.")
@band_opt
@overwrite_opt
def hillshade_cmd(dem, out, azimuth, altitude, band, overwrite):
    """Hillshade of DEM for map backgrounds (uint8, 0 = nodata)."""
    R.hillshade(dem, out, azimuth=azimuth, altitude=altitude, band=band, overwrite=overwrite)
    console.print(f"wrote hillshade to {out}")


def _read_zones(path, layer, crs, encoding):
    return read_layer(resolve_layer(path), layer=layer, crs=crs, encoding=encoding)


@raster.command("zonal")
@click.argument("raster_path", metavar="RASTER")
@click.argument("zones", metavar="ZONES")
@band_opt
@click.option("--stats", default="mean,min,max,count", show_default=True,
              help="Comma-separated: mean,min,max,std,median,sum,count,pNN (e.g. p10,p90).")
@click.option("--where", default=None, metavar="COND",
              help='Also measure the area meeting a condition, e.g. "<15" (slope under 15) or ">=5,<15".')
@click.option("--id", "id_field", default=None, metavar="FIELD", help="Field naming each zone in the output (default: id if present).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Output table or layer (.csv .xlsx .md .geojson .gpkg …); printed when omitted.")
@layer_opt
@crs_opt
@encoding_opt
@overwrite_opt
def zonal_cmd(raster_path, zones, band, stats, where, id_field, out, layer, crs, encoding, overwrite):
    """Statistics of RASTER per zone of ZONES with exact fractional cell coverage (every zone gets a row)."""
    gdf = _read_zones(zones, layer, crs, encoding)
    if id_field is not None and id_field not in gdf.columns:
        raise InputError(f"the zones have no field {id_field!r} for --id; fields: "
                         f"{', '.join(map(str, gdf.columns.drop(gdf.geometry.name)))}")
    result = R.zonal_stats(raster_path, gdf, stats=stats, band=band, where=where)
    key = id_field or ("id" if "id" in gdf.columns else None)
    front = pd.DataFrame(index=gdf.index)
    if key is not None:
        front[key] = gdf[key]
    else:
        front["zone"] = range(len(gdf))
    if "name_zh" in gdf.columns and key != "name_zh":
        front["name_zh"] = gdf["name_zh"]
    table = pd.concat([front, result], axis=1)
    if out is not None:
        if out.lower().endswith(_GEO_SUFFIXES):
            table = gpd.GeoDataFrame(table, geometry=gdf.geometry.values, crs=gdf.crs)
        write_layer(table, out, overwrite=overwrite, inputs=[raster_path, resolve_layer(zones)])
        console.print(f"wrote statistics of {len(table)} zones to {out}")
    else:
        units = result.attrs.get("units")
        print_frame(table, title=f"{click.format_filename(raster_path)} by zone" + (f" ({units})" if units else "")
                    + (f", where {where}" if where else ""))
    n_find = int(table["finding"].notna().sum())
    if n_find:
        console.print(f"{n_find} of {len(table)} zones have a finding (see the finding column)")


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
@crs_opt
@overwrite_opt
def clip_cmd(raster_path, to_layer, out, all_touched, layer, crs, overwrite):
    """Cut RASTER to the polygons of LAYER (cells outside become nodata)."""
    gdf = _read_zones(to_layer, layer, crs, None)
    R.clip(raster_path, gdf, out, all_touched=all_touched, overwrite=overwrite)
    console.print(f"wrote {out}")


@raster.command("reproject")
@click.argument("raster_path", metavar="RASTER")
@click.option("--dst-crs", required=True, metavar="EPSG:n", help="Target CRS, e.g. EPSG:4544.")
@click.option("--resolution", type=float, default=None, help="Cell size in the target CRS's units (metres or degrees).")
@click.option("--resampling", type=click.Choice(list(R.RESAMPLING)), default="bilinear", show_default=True,
              help="Use nearest (or mode) for codes such as land use.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output GeoTIFF.")
@overwrite_opt
def reproject_cmd(raster_path, dst_crs, resolution, resampling, out, overwrite):
    """Warp RASTER to another CRS (block by block)."""
    R.reproject(raster_path, out, dst_crs=dst_crs, resolution=resolution, resampling=resampling, overwrite=overwrite)
    console.print(f"wrote {out}")
