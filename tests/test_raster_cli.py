"""``parkgis raster …`` end to end: outputs, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

# rasterio 1.4 itself still composes Affine with `*`, which affine 3 flags as pending deprecation
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

X0, Y0 = 500_000.0, 4_050_000.0


def write_tif(path, data, *, crs="EPSG:4544", nodata=-9999.0, cell=10.0):
    data = np.asarray(data, dtype="float32")
    if data.ndim == 2:
        data = data[None]
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": "float32", "transform": from_origin(X0, Y0, cell, cell), "nodata": nodata}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.fixture
def dem(tmp_path):
    """A plane rising 10 % to the east (slope 5.71°) on 30 × 30 cells of 10 m."""
    cols = np.arange(30)[None, :] * np.ones((30, 1))
    return write_tif(tmp_path / "dem.tif", 1500.0 + cols * 10.0 * 0.10)


@pytest.fixture
def zones(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"id": ["Z1", "Z2", "FAR"], "land_use": ["工业用地", "绿地", "工业用地"]},
        geometry=[box(X0 + 20, Y0 - 120, X0 + 130, Y0 - 40), box(X0 + 150, Y0 - 280, X0 + 280, Y0 - 150),
                  box(X0 + 5000, Y0 - 5000, X0 + 5100, Y0 - 4900)],
        crs="EPSG:4544")
    path = tmp_path / "zones.geojson"
    gdf.to_crs("EPSG:4326").to_file(path)  # stored in WGS84: reprojected on the way in
    return path


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("parkgis: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_slope_percent_and_zonal_where(run_cli, tmp_path, dem, zones):
    code, out, err = run_cli("raster", "slope", dem, "--out", tmp_path / "slope.tif", "--units", "percent")
    assert code == 0, err
    with rasterio.open(tmp_path / "slope.tif") as ds:
        assert np.abs(ds.read(1) - 10.0).max() < 0.01
    code, out, err = run_cli("raster", "zonal", tmp_path / "slope.tif", zones, "--stats", "mean,min,max,p90,count",
                             "--where", "<15", "--out", tmp_path / "z.csv")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "z.csv")
    assert list(table["id"]) == ["Z1", "Z2", "FAR"]  # every zone, in order
    z1 = table.set_index("id").loc["Z1"]
    assert z1["mean"] == pytest.approx(10.0, abs=0.01) and z1["where_share"] == 1.0
    assert z1["where_area_m2"] == pytest.approx(z1["area_m2"], rel=1e-9) and z1["area_m2"] == pytest.approx(8800, rel=1e-3)
    assert z1["where_area_mu"] == pytest.approx(z1["area_m2"] / (2000 / 3), rel=1e-9)
    assert "finding" not in table.columns  # structured findings beside the table, in the one schema
    found = pd.read_csv(tmp_path / "z.findings.csv")
    far = found[found["check"] == "outside_raster"]
    assert far["zone_id"].tolist() == ["FAR"] and far["row"].tolist() == [3]
    assert "outside the raster" in far["reason_en"].iloc[0]
    assert "1 of 3 zones have a finding" in out
    code, out, err = run_cli("raster", "zonal", tmp_path / "slope.tif", zones, "--where", ">11", "--id", "land_use",
                             "--out", tmp_path / "z2.geojson")
    assert code == 0, err
    layer = gpd.read_file(tmp_path / "z2.geojson")
    assert list(layer["land_use"]) == ["工业用地", "绿地", "工业用地"] and layer.loc[0, "where_area_m2"] == 0.0


def test_zonal_prints_a_table_and_says_it_reprojected(run_cli, dem, zones):
    code, out, err = run_cli("raster", "zonal", dem, zones, "--stats", "mean")
    assert code == 0, err
    assert "Z1" in out and "outside the raster" in out
    assert "reprojected to the raster's CRS" in err


def test_aspect_hillshade_rasterize_clip_reproject(run_cli, tmp_path, dem, zones):
    assert run_cli("raster", "aspect", dem, "--out", tmp_path / "a.tif")[0] == 0
    with rasterio.open(tmp_path / "a.tif") as ds:
        assert np.abs(ds.read(1) - 270.0).max() < 0.1  # rising to the east faces west
    assert run_cli("raster", "hillshade", dem, "--out", tmp_path / "h.tif")[0] == 0
    code, out, err = run_cli("raster", "rasterize", zones, "--field", "land_use", "--cell", "10", "--out", tmp_path / "g.tif")
    assert code == 0, err
    assert "EPSG:4544" in out and "绿地" in out
    with rasterio.open(tmp_path / "g.tif") as ds:
        assert json.loads(ds.tags()["legend"]) == {"1": "工业用地", "2": "绿地"} and ds.nodata == 0
    code, out, err = run_cli("raster", "clip", dem, "--to", zones, "--out", tmp_path / "c.tif")
    assert code == 0, err
    code, out, err = run_cli("raster", "reproject", dem, "--dst-crs", "EPSG:4490", "--resampling", "nearest",
                             "--out", tmp_path / "r.tif")
    assert code == 0, err
    with rasterio.open(tmp_path / "r.tif") as ds:
        assert ds.crs.to_epsg() == 4490


@pytest.mark.parametrize("case,pattern", [
    ("text", "is not a raster GDAL can read"),
    ("nocrs", "has no CRS"),
    ("nodata", "only nodata"),
    ("multiband", "has 3 bands and none is chosen (1 to 3): pass --band N"),
    ("missing", "no such file"),
])
def test_bad_rasters_exit_2_with_one_line(run_cli, tmp_path, zones, case, pattern):
    path = tmp_path / f"{case}.tif"
    if case == "text":
        path.write_text("hello")
    elif case == "nocrs":
        write_tif(path, np.ones((5, 5)), crs=None)
    elif case == "nodata":
        write_tif(path, np.full((5, 5), -9999.0))
    elif case == "multiband":
        write_tif(path, np.ones((3, 5, 5)))
    for args in (("raster", "slope", path, "--out", tmp_path / "o.tif"),
                 ("raster", "zonal", path, zones, "--out", tmp_path / "o.csv")):
        code, out, err = run_cli(*args)
        assert code == 2
        assert pattern in one_line(err)
        assert "Traceback" not in err
    assert not (tmp_path / "o.tif").exists() and not (tmp_path / "o.csv").exists()


def test_usage_errors_exit_2(run_cli, tmp_path, dem, zones):
    code, _, err = run_cli("raster", "zonal", dem, zones, "--stats", "mean,mode")
    assert code == 2 and "unknown statistic 'mode'" in one_line(err)
    code, _, err = run_cli("raster", "zonal", dem, zones, "--where", "about 15")
    assert code == 2 and "cannot read the condition" in one_line(err)
    code, _, err = run_cli("raster", "zonal", dem, zones, "--id", "name")
    assert code == 2 and "no field 'name' for --id" in one_line(err)
    assert run_cli("raster", "slope", dem, "--out", tmp_path / "s.tif")[0] == 0
    code, _, err = run_cli("raster", "slope", dem, "--out", tmp_path / "s.tif")
    assert code == 2 and "--overwrite" in one_line(err)
    code, _, err = run_cli("raster", "slope", dem, "--out", dem, "--overwrite")
    assert code == 2 and "refusing to overwrite the input" in one_line(err)
    code, _, err = run_cli("raster", "rasterize", zones, "--field", "kind", "--cell", "10", "--out", tmp_path / "g.tif")
    assert code == 2 and "no field 'kind'" in one_line(err)


def test_module_entry_point_runs_slope(tmp_path, dem):
    proc = subprocess.run([sys.executable, "-m", "gis", "raster", "slope", str(dem), "--out", str(tmp_path / "s.tif")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.tif").exists()
    proc = subprocess.run([sys.executable, "-m", "gis", "raster", "slope", str(tmp_path / "nope.tif"), "--out",
                           str(tmp_path / "t.tif")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("parkgis: error: no such file")


def test_reproject_help_names_every_resampling_method_and_a_wrong_one_is_one_line(run_cli, tmp_path, dem):
    """The command lists GDAL's methods in its help (no click.Choice: `import gis.cli` stays free of rasterio);
    the list must stay the library's, and an unknown method is refused in one line."""
    import gis.cli
    from gis.raster import RESAMPLING

    option = next(p for p in gis.cli.cli.commands["raster"].commands["reproject"].params if p.name == "resampling")
    help_text = " ".join(option.help.split())
    assert all(m in help_text for m in RESAMPLING)
    assert "rasterio" not in subprocess.run([sys.executable, "-c", "import sys, gis.cli; print(sorted(sys.modules))"],
                                            capture_output=True, text=True, check=True).stdout
    code, out, err = run_cli("raster", "reproject", str(dem), "--dst-crs", "EPSG:4490", "--resampling", "sinc",
                             "--out", str(tmp_path / "r.tif"))
    assert code == 2 and "unknown resampling 'sinc'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.tif").exists()
