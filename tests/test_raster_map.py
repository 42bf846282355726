"""A slope grid drawn on a briefing map: inlined (offline), placed where it is, with a legend."""

import base64
import re

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from gis.io import write_layer


@pytest.fixture
def slope_tif(tmp_path):
    grid = np.tile(np.linspace(0, 40, 50, dtype="float32"), (40, 1))
    grid[:5, :5] = -9999
    path = tmp_path / "slope.tif"
    with rasterio.open(path, "w", driver="GTiff", height=40, width=50, count=1, dtype="float32", crs="EPSG:4544",
                       transform=from_origin(480_000, 4_050_000, 20, 20), nodata=-9999) as dst:
        dst.write(grid, 1)
    return path


def test_map_with_slope_overlay(tmp_path, slope_tif, run_cli):
    parcels = gpd.GeoDataFrame({"parcel_id": ["A"]}, geometry=[shapely.box(480_100, 4_049_500, 480_600, 4_049_900)],
                               crs=4544)
    src = tmp_path / "p.geojson"
    write_layer(parcels, src)
    out = tmp_path / "m.html"
    code, stdout, err = run_cli("map", src, "--out", out, "--offline", "--raster", slope_tif)
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=\"https?://", page)  # still offline
    m = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    png = base64.b64decode(m.group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # the overlay's bounds are the grid's corners in lon/lat
    with rasterio.open(slope_tif) as ds:
        from pyproj import Transformer

        lon, lat = Transformer.from_crs(4544, 4326, always_xy=True).transform(
            [ds.bounds.left, ds.bounds.right], [ds.bounds.bottom, ds.bounds.top])
    nums = [float(v) for v in re.search(r"imageOverlay\(\s*\"data:[^\"]+\",\s*\[\[([-\d.eE, \[\]]+)\]\]", page)
            .group(1).replace("[", "").replace("]", "").split(",")]
    assert nums[0] == pytest.approx(min(lat), abs=2e-4) and nums[1] == pytest.approx(min(lon), abs=2e-4)
    assert nums[2] == pytest.approx(max(lat), abs=2e-4) and nums[3] == pytest.approx(max(lon), abs=2e-4)
    assert "坡度 Slope (°)" in page and "parkgis-raster-legend" in page
    # Leaflet's layer control must be created after the overlay it lists (else: setZIndex of undefined)
    assert page.index("L.imageOverlay(") < page.index("L.control.layers(")


def test_raster_overlay_bad_inputs(tmp_path, slope_tif, run_cli):
    src = tmp_path / "p.geojson"
    write_layer(gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(103.6, 36.5, 103.61, 36.51)], crs=4326), src)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    code, _, err = run_cli("map", src, "--out", tmp_path / "a.html", "--raster", junk)
    assert code == 2 and "not a readable raster" in err
    code, _, err = run_cli("map", src, "--out", tmp_path / "b.html", "--raster", slope_tif, "--basemap", "gaode")
    assert code == 2 and "Gaode" in err


@pytest.mark.browser
def test_slope_overlay_draws_in_chromium_without_errors(tmp_path, slope_tif, run_cli):
    import os

    from gis.webmap.png import dump_dom, find_chromium

    if find_chromium() is None:
        if os.environ.get("PARKGIS_REQUIRE_BROWSER") == "1":
            pytest.fail("PARKGIS_REQUIRE_BROWSER=1 but no headless Chromium was found (install chromium)")
        pytest.skip("headless Chromium not found: install chromium to run browser tests")
    src = tmp_path / "p.geojson"
    write_layer(gpd.GeoDataFrame({"parcel_id": ["A"]}, geometry=[shapely.box(480_100, 4_049_500, 480_600, 4_049_900)],
                                 crs=4544), src)
    out = tmp_path / "m.html"
    assert run_cli("map", src, "--out", out, "--offline", "--raster", slope_tif)[0] == 0
    dom, _ = dump_dom(out, budget_ms=5000)
    errors = re.search(r'id="parkgis-errors">([^<]*)<', dom)
    assert errors is None or errors.group(1).strip() == "", errors.group(1)
    assert '<img class="leaflet-image-layer' in dom and 'data-drawn="1"' in dom


@pytest.mark.parametrize("dtype,nodata,values,style", [
    ("uint8", 0, (1, 255), "hillshade"),       # parkgis' own hillshade
    ("int16", -32768, (1500, 2100), "terrain"),  # an SRTM-like DEM
    ("int32", -9999, (1500, 2100), "terrain"),
])
def test_integer_rasters_draw(tmp_path, run_cli, dtype, nodata, values, style):
    """Integer grids with a nodata value (masked cells) are drawn, nodata transparent, values coloured."""
    lo, hi = values
    grid = np.linspace(lo, hi, 40 * 50).reshape(40, 50).astype(dtype)
    grid[:4, :4] = nodata
    tif = tmp_path / f"{dtype}.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=40, width=50, count=1, dtype=dtype, crs="EPSG:4544",
                       transform=from_origin(480_000, 4_050_000, 20, 20), nodata=nodata) as dst:
        dst.write(grid, 1)
    src = tmp_path / "p.geojson"
    write_layer(gpd.GeoDataFrame({"parcel_id": ["A"]}, geometry=[shapely.box(480_100, 4_049_500, 480_600, 4_049_900)],
                                 crs=4544), src)
    out = tmp_path / "m.html"
    code, _, err = run_cli("map", src, "--out", out, "--offline", "--raster", tif, "--raster-style", style)
    assert code == 0, err
    from io import BytesIO

    from PIL import Image

    page = out.read_text(encoding="utf-8")
    data = base64.b64decode(re.search(r"imageOverlay\(\s*\"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1))
    rgba = np.asarray(Image.open(BytesIO(data)).convert("RGBA"))
    assert rgba[0, 0, 3] == 0  # the nodata corner is transparent
    opaque = rgba[rgba[..., 3] == 255][:, :3]
    assert len(opaque) > 0.9 * rgba.shape[0] * rgba.shape[1]  # everything else is drawn
    assert len(np.unique(opaque.reshape(-1, 3), axis=0)) > 10  # in a range of colours, not one flat fill
