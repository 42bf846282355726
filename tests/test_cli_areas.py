"""The area commands end to end: real outputs, exit codes 0/1/2, one-line errors, nothing dropped."""

import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.io import read_layer, write_layer
from gis.units import MU_M2

from .conftest import geod_area_m2


@pytest.fixture
def parcels_file(tmp_path, parcels_4490):
    path = tmp_path / "parcels.gpkg"
    layer = parcels_4490.to_crs(4544).assign(zone=["A", "A", "B", None])
    write_layer(layer, path)
    return path


def test_areas_keeps_every_column_and_row(tmp_path, parcels_file, parcels_4490, run_cli):
    out = tmp_path / "areas.csv"
    code, stdout, _ = run_cli("areas", parcels_file, "--out", out)
    assert code == 0 and "wrote" in stdout
    got = pd.read_csv(out)
    assert got["parcel_id"].tolist() == ["P1", "P2", "P3", "P4"] and got["name"].tolist() == ["甲", "乙", "丙", "丁"]
    expected = [geod_area_m2(g) for g in parcels_4490.geometry]
    np.testing.assert_allclose(got["area_m2"], expected, rtol=1e-6)
    np.testing.assert_allclose(got["area_mu"], got["area_m2"] / MU_M2)
    assert {"area_ha", "area_km2", "wkt"} <= set(got.columns)


def test_areas_by_group_keeps_rows_without_a_group(parcels_file, tmp_path, run_cli):
    out = tmp_path / "by.md"
    code, _, _ = run_cli("areas", parcels_file, "--by", "zone", "--out", out)
    text = out.read_text(encoding="utf-8")
    assert code == 0 and "| A |" in text and "<none>" in text
    assert text.count("\n|") == 4  # header rule + A, B, <none>


def test_areas_terminal_table(parcels_file, run_cli):
    code, stdout, _ = run_cli("areas", parcels_file)
    assert code == 0 and "P1" in stdout and "area_mu" in stdout


def test_areas_flags_bad_rows_instead_of_dropping(tmp_path, run_cli):
    d = 0.0011
    bow = shapely.Polygon([(103.62, 36.58), (103.62 + d, 36.58 + d), (103.62 + d, 36.58), (103.62, 36.58 + d)])
    layer = gpd.GeoDataFrame({"parcel_id": ["ok", "bow", "none", "pt"]},
                             geometry=[shapely.box(103.6, 36.5, 103.6 + d, 36.5 + d), bow, None,
                                       shapely.Point(103.6, 36.5)], crs=4490)
    src, out = tmp_path / "bad.geojson", tmp_path / "bad_areas.csv"
    write_layer(layer, src)
    code, _, _ = run_cli("areas", src, "--out", out)
    got = pd.read_csv(out, keep_default_na=False)
    assert code == 0 and got["parcel_id"].tolist() == ["ok", "bow", "none", "pt"]
    assert got.set_index("parcel_id")["findings"].to_dict() == {
        "ok": "", "bow": "invalid_geometry", "none": "missing_geometry", "pt": "not_polygon"}
    assert float(got.loc[1, "area_m2"]) > 0


def test_missing_crs_is_a_one_line_error_with_exit_2(tmp_path, run_cli):
    path = tmp_path / "nocrs.csv"
    pd.DataFrame({"parcel_id": ["a"], "wkt": ["POLYGON ((35512000 3990000, 35512100 3990000, 35512100 3990100, 35512000 3990000))"]}).to_csv(path, index=False)
    code, _, err = run_cli("areas", path)
    assert code == 2 and err.count("\n") == 1 and "EPSG:4523" in err and "--crs" in err
    code, stdout, _ = run_cli("areas", path, "--crs", "EPSG:4523")
    assert code == 0 and "a" in stdout


@pytest.mark.parametrize("args,needle", [
    (["areas", "no/such/file.gpkg"], "no such file"),
    (["areas", "parks", "--by", "nope"], "no field 'nope'"),
    (["areas", "parks", "--crs", "EPSG:nonsense"], "cannot understand the CRS"),
    (["check", "parks", "--target", "no.such.target"], "no target"),
    (["check", "parks", "--target", "yaogu.phase1", "--tolerance", "abc"], "tolerance"),
    (["validate", "parks", "--id", "nope"], "no column 'nope'"),
    (["convert", "parks", "x.geojson", "--from", "mars"], "CRS"),
])
def test_bad_input_exit_2_one_line(args, needle, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(*args)
    assert code == 2, err
    assert needle in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_output_never_overwrites_input_or_existing(parcels_file, tmp_path, run_cli):
    before = parcels_file.read_bytes()
    code, _, err = run_cli("areas", parcels_file, "--out", parcels_file, "--overwrite")
    assert code == 2 and "refusing to overwrite the input" in err and parcels_file.read_bytes() == before
    out = tmp_path / "a.csv"
    assert run_cli("areas", parcels_file, "--out", out)[0] == 0
    code, _, err = run_cli("areas", parcels_file, "--out", out)
    assert code == 2 and "--overwrite" in err
    assert run_cli("areas", parcels_file, "--out", out, "--overwrite")[0] == 0


def test_validate_exit_codes(parcels_file, tmp_path, run_cli):
    code, stdout, _ = run_cli("validate", parcels_file)
    assert code == 0 and "nothing found" in stdout
    d = 0.0011
    overlapping = gpd.GeoDataFrame({"parcel_id": ["a", "b"]}, geometry=[
        shapely.box(103.62, 36.58, 103.62 + d, 36.58 + d), shapely.box(103.62 + d / 2, 36.58, 103.62 + 2 * d, 36.58 + d)],
        crs=4490)
    src = tmp_path / "ov.geojson"
    write_layer(overlapping, src)
    out = tmp_path / "findings.csv"
    code, _, _ = run_cli("validate", src, "--out", out)
    findings = pd.read_csv(out)
    assert code == 1 and findings["check"].tolist() == ["overlap"] and findings["value"].iloc[0] > 0


def test_convert_gcj02_round_trip(tmp_path, parcels_4490, run_cli):
    src = tmp_path / "wgs.geojson"
    write_layer(parcels_4490.to_crs(4326), src)
    gcj, back = tmp_path / "gcj.geojson", tmp_path / "back.geojson"
    assert run_cli("convert", src, gcj, "--from", "EPSG:4326", "--to", "gcj02")[0] == 0
    assert run_cli("convert", gcj, back, "--from", "gcj02")[0] == 0
    a, b, c = read_layer(src), read_layer(gcj), read_layer(back)
    shift = np.abs(b.geometry.bounds.minx.to_numpy() - a.geometry.bounds.minx.to_numpy())
    assert (shift > 0.001).all()  # ~200 m
    assert shapely.equals_exact(a.geometry.values, c.geometry.values, tolerance=1e-8).all()


def test_convert_between_epsg_codes(tmp_path, parcels_4490, run_cli):
    src, out = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    write_layer(parcels_4490, src)
    assert run_cli("convert", src, out, "--from", "EPSG:4490", "--to", "EPSG:4544")[0] == 0
    got = read_layer(out)
    assert got.crs.to_epsg() == 4544 and got.geometry.total_bounds[0] > 100_000


def test_python_dash_m_entry_point(parcels_file):
    proc = subprocess.run([sys.executable, "-m", "gis", "areas", str(parcels_file)], capture_output=True, text=True)
    assert proc.returncode == 0 and "P4" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "gis", "areas", "missing.gpkg"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("parkgis: error:") and "Traceback" not in proc.stderr


def test_areas_with_buildable_share_from_a_slope_grid(tmp_path, run_cli):
    """A step 'slope' grid in Gauss–Krüger: west half 5°, east half 25°; a parcel straddling it half and half."""
    import rasterio
    from rasterio.transform import from_origin

    x0, y0, cell = 500_000.0, 4_050_000.0, 10.0
    grid = np.full((40, 40), 5.0, dtype="float32")
    grid[:, 20:] = 25.0
    tif = tmp_path / "slope.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=40, width=40, count=1, dtype="float32", crs="EPSG:4544",
                       transform=from_origin(x0, y0, cell, cell), nodata=-9999) as dst:
        dst.write(grid, 1)
    parcel = shapely.box(x0 + 100, y0 - 300, x0 + 300, y0 - 100)  # x from 100 to 300 m: half west of 200 m
    src = tmp_path / "p.gpkg"
    write_layer(gpd.GeoDataFrame({"parcel_id": ["X"]}, geometry=[parcel], crs=4544), src)
    out = tmp_path / "b.csv"
    code, _, _ = run_cli("areas", src, "--buildable", tif, "--where", "<15", "--out", out)
    got = pd.read_csv(out)
    assert code == 0
    assert got.loc[0, "buildable_share"] == pytest.approx(0.5, abs=1e-6)
    assert got.loc[0, "buildable_mu"] == pytest.approx(got.loc[0, "area_mu"] / 2, rel=1e-3)
