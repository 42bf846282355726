"""gis.zonal.zonal_table on exactextract: zones keep their columns, structured findings, areas that agree
with gis.area.area_m2, zipped rasters, rasters without a CRS, aspect in [0, 360)."""

from __future__ import annotations

import sys
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from gis import raster as R
import gis.zonal  # noqa: F401  (gis.zonal is also the function zonal_table)
from gis.area import area_m2
from gis.errors import CRSError
from gis.findings import FINDING_COLUMNS

Z = sys.modules["gis.zonal"]

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

X0, Y0 = 500_000.0, 4_050_000.0


def write_tif(path, data, *, crs="EPSG:4544", nodata=-9999.0, cell=10.0, transform=None):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, nodata=nodata,
                       transform=transform or from_origin(X0, Y0, cell, cell)) as ds:
        ds.write(data.astype("float32"), 1)
    return path


@pytest.fixture
def grid(tmp_path):
    rng = np.random.default_rng(3)
    z = rng.uniform(0, 30, (40, 40))
    z[30:, 30:] = -9999.0
    return write_tif(tmp_path / "g.tif", z), z


@pytest.fixture
def zones():
    return gpd.GeoDataFrame(
        {"id": ["a", "b", "off", "none", "nodata", "tiny"], "name_zh": ["甲", "乙", "外", "空", "无", "小"],
         "mean": [1, 2, 3, 4, 5, 6]},  # a zone column named like a statistic
        geometry=[Polygon([(X0 + 12, Y0 - 13), (X0 + 187, Y0 - 41), (X0 + 99, Y0 - 211)]),
                  box(X0 + 203.5, Y0 - 288.2, X0 + 277.7, Y0 - 121.9), box(X0 - 900, Y0 + 100, X0 - 800, Y0 + 200),
                  None, box(X0 + 320, Y0 - 380, X0 + 380, Y0 - 320), box(X0 + 50, Y0 - 350, X0 + 52, Y0 - 348)],
        crs="EPSG:4544", index=[11, 12, 13, 14, 15, 16])


def test_every_zone_keeps_its_columns_on_its_index(grid, zones):
    path, _ = grid
    t, f = Z.zonal_table(path, zones, stats="mean,count", where="<15", return_findings=True)
    assert list(t.index) == [11, 12, 13, 14, 15, 16]
    assert t["id"].tolist() == zones["id"].tolist() and t["name_zh"].tolist() == zones["name_zh"].tolist()
    assert t["input_mean"].tolist() == [1, 2, 3, 4, 5, 6]  # kept, renamed beside the statistic
    assert isinstance(t, gpd.GeoDataFrame) and t.crs == zones.crs
    assert list(f.columns) == FINDING_COLUMNS
    by = {(r.zone_id, r.check) for r in f.itertuples()}
    assert {("off", "outside_raster"), ("none", "no_geometry"), ("nodata", "only_nodata")} <= by
    assert f.loc[f["check"] == "outside_raster", "row"].tolist() == [3]  # 1-based input row


def test_missing_is_never_zero(grid, zones):
    path, _ = grid
    t = Z.zonal_table(path, zones, stats="mean,count,sum", where="<15").set_index("id")
    for zid in ("off", "none"):
        assert np.isnan(t.loc[zid, "where_area_m2"]) and np.isnan(t.loc[zid, "mean"])
    assert np.isnan(t.loc["nodata", "where_area_m2"]) and t.loc["nodata", "count"] == 0
    assert np.isnan(t.loc["nodata", "sum"])


def test_means_and_where_areas_agree_with_exactextract_and_the_ellipsoid(grid, zones):
    from exactextract import exact_extract

    path, z = grid
    t = Z.zonal_table(path, zones, stats="mean,min,max,count,sum", where="<15")
    ok = zones.geometry.notna().to_numpy()
    direct = exact_extract(str(path), zones[ok].drop(columns=["id", "name_zh", "mean"]),
                           ["mean", "min", "max", "count", "sum"], output="pandas")
    for stat in ("mean", "min", "max", "count"):
        got, want = t[stat].to_numpy()[ok], direct[stat].to_numpy()
        if stat == "count":  # exactextract counts 0 for a zone off the raster; parkgis says it is missing
            assert np.isnan(got[2]) and want[2] == 0
            got, want = np.delete(got, 2), np.delete(want, 2)
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    # where area: the zone's ellipsoidal area × the coverage-weighted share of cells meeting the condition
    tri = zones.geometry.iloc[0]
    rows, cols = np.mgrid[0:40, 0:40]
    cells = shapely.box(X0 + cols * 10, Y0 - (rows + 1) * 10, X0 + (cols + 1) * 10, Y0 - rows * 10).ravel()
    cov = shapely.area(shapely.intersection(cells, tri)) / 100.0
    meet = (z.ravel() < 15) & (z.ravel() != -9999)
    share = (cov * meet).sum() / (cov * (z.ravel() != -9999)).sum()
    a = area_m2(zones.iloc[[0]]).iloc[0]
    assert t["area_m2"].iloc[0] == pytest.approx(a, rel=1e-12)
    assert t["where_share"].iloc[0] == pytest.approx(share, rel=1e-9)
    assert t["where_area_m2"].iloc[0] == pytest.approx(a * share, rel=1e-9)


def test_quantiles_of_huge_zones_come_from_exactextract(grid, zones, monkeypatch):
    path, z = grid
    exact = Z.zonal_table(path, zones.iloc[:2], stats="median,p90")
    monkeypatch.setattr(Z, "QUANTILE_CELLS", 10)
    approx = Z.zonal_table(path, zones.iloc[:2], stats="median,p90,mean")
    np.testing.assert_allclose(approx["median"], exact["median"], rtol=0.05)
    assert approx["mean"].notna().all()


def test_coarse_cells_warn_once_and_say_how_many_cells(grid, zones):
    path, _ = grid
    t, f = Z.zonal_table(path, zones, stats="mean", return_findings=True)
    coarse = f[f["check"] == "cells_too_coarse"]
    assert len(coarse) == 1 and coarse["severity"].iloc[0] == "warning" and coarse["value"].iloc[0] == 1
    assert t.set_index("id").loc["tiny", "cells"] == pytest.approx(0.04)


@pytest.mark.parametrize("inner", ["N36E103.hgt", "dem.tif"])
def test_zipped_rasters_are_read(tmp_path, grid, zones, inner):
    path, _ = grid
    zpath = tmp_path / f"{inner}.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(path, arcname=inner if inner.endswith(".tif") else "g.tif")
    a = Z.zonal_table(path, zones.iloc[:2], stats="mean")
    b = Z.zonal_table(zpath, zones.iloc[:2], stats="mean")
    np.testing.assert_array_equal(a["mean"].to_numpy(), b["mean"].to_numpy())
    out = R.slope(zpath, tmp_path / "s.tif")
    assert out.exists()


def test_zip_with_two_rasters_is_refused(tmp_path, grid):
    path, _ = grid
    zpath = tmp_path / "two.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(path, arcname="a.tif")
        zf.write(path, arcname="b.tif")
    with pytest.raises(Exception, match="holds 2 rasters"):
        R.slope(zpath, tmp_path / "s.tif")


def test_a_raster_without_crs_takes_the_given_one(tmp_path, zones):
    z = np.full((20, 20), 7.0)
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32", nodata=-9999.0,
                       transform=from_origin(X0, Y0, 10, 10)) as ds:
        ds.write(z.astype("float32"), 1)
    with pytest.raises(CRSError) as exc:
        Z.zonal_table(path, zones.iloc[:1], stats="mean")
    assert exc.value.setting == "crs" and "--crs" not in str(exc.value)
    t = Z.zonal_table(path, zones.iloc[:1], stats="mean", crs="EPSG:4544")
    assert t["mean"].iloc[0] == 7.0
    out = R.slope(path, tmp_path / "s.tif", crs="EPSG:4544")
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 4544


def test_raster_cli_crs_for_a_raster_without_one(run_cli, tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32", nodata=-9999.0,
                       transform=from_origin(X0, Y0, 10, 10)) as ds:
        ds.write(np.arange(400, dtype="float32").reshape(20, 20), 1)
    code, _, err = run_cli("raster", "slope", path, "--out", tmp_path / "s.tif")
    assert code == 2 and "--crs" in err and "Traceback" not in err
    code, _, err = run_cli("raster", "slope", path, "--out", tmp_path / "s.tif", "--crs", "EPSG:4544")
    assert code == 0, err


def test_aspect_due_north_is_zero_never_360(tmp_path):
    rows = np.arange(30)[:, None] * np.ones((1, 30))
    dem = write_tif(tmp_path / "north.tif", 1000.0 - rows * 0.0 + rows * 1.0)  # rises to the south: faces north
    out = R.aspect(dem, tmp_path / "a.tif")
    with rasterio.open(out) as ds:
        a = ds.read(1)
    a = a[a != -9999.0]
    assert (a >= 0).all() and (a < 360).all()
    assert np.minimum(a, 360 - a).max() < 0.01  # due north, within grid convergence on the central meridian


def test_cli_zonal_xlsx_has_zones_and_findings_sheets(run_cli, tmp_path, grid, zones):
    path, _ = grid
    zpath = tmp_path / "zones.gpkg"
    zones.drop(columns="mean").to_file(zpath)
    code, out, err = run_cli("raster", "zonal", path, zpath, "--where", "<15", "--out", tmp_path / "z.xlsx")
    assert code == 0, err
    sheets = pd.read_excel(tmp_path / "z.xlsx", sheet_name=None)
    assert list(sheets)[:2] == ["zones", "findings"]
    assert sheets["zones"]["id"].tolist() == zones["id"].tolist()
    assert "outside_raster" in set(sheets["findings"]["check"])


def test_a_rotated_grid_is_refused_in_one_line(tmp_path, zones):
    from affine import Affine

    from gis.errors import InputError

    t = Affine(10, 2, X0, 2, -10, Y0)
    path = write_tif(tmp_path / "rot.tif", np.ones((10, 10)), transform=t)
    with pytest.raises(InputError, match="rotated or south-up grid"):
        Z.zonal_table(path, zones.iloc[:1])


def test_a_repeated_index_keeps_rows_apart(grid, zones):
    path, _ = grid
    twice = zones.iloc[:2].set_axis([7, 7])
    t = Z.zonal_table(path, twice, stats="mean")
    ref = Z.zonal_table(path, zones.iloc[:2], stats="mean")
    assert list(t.index) == [7, 7] and t["id"].tolist() == ["a", "b"]
    np.testing.assert_array_equal(t["mean"].to_numpy(), ref["mean"].to_numpy())


def test_buildable_area_of_a_zone_off_the_raster_is_missing_with_a_finding(run_cli, tmp_path, grid, zones):
    path, _ = grid
    zpath = tmp_path / "z.gpkg"
    zones.iloc[[0, 2]].drop(columns="mean").assign(grp=["g", "h"]).to_file(zpath)
    code, _, err = run_cli("areas", zpath, "--buildable", path, "--where", "<15", "--out", tmp_path / "a.csv")
    assert code == 0, err
    a = pd.read_csv(tmp_path / "a.csv").set_index("id")
    assert a.loc["a", "buildable_mu"] > 0 and np.isnan(a.loc["off", "buildable_mu"])
    assert "outside the raster" in a.loc["off", "raster_finding"]
    share = R.buildable_share(path, zones.iloc[[0, 2]])
    assert np.isnan(share.iloc[1]) and 0 < share.iloc[0] <= 1


def test_zones_are_read_in_block_order_and_come_back_in_their_own(tmp_path):
    """exactextract gets the zones in the raster's block order (GDAL's cache serves consecutive windows);
    every zone's statistics still come back on its own row, whatever order the ledger had."""
    from gis._zonal_exact import block_order

    rng = np.random.default_rng(5)
    z = rng.uniform(0, 100, (300, 300))
    path = tmp_path / "tiled.tif"
    with rasterio.open(path, "w", driver="GTiff", width=300, height=300, count=1, dtype="float32", crs="EPSG:4544",
                       nodata=-9999.0, transform=from_origin(X0, Y0, 10.0, 10.0), tiled=True, blockxsize=64,
                       blockysize=64) as ds:
        ds.write(z.astype("float32"), 1)
    x = X0 + rng.uniform(0, 2900, 400)
    y = Y0 - rng.uniform(100, 3000, 400)
    zs = gpd.GeoDataFrame({"id": [f"z{i}" for i in range(400)]}, geometry=shapely.box(x, y, x + 40, y + 30), crs="EPSG:4544")
    with rasterio.open(path) as ds:
        order = block_order(zs.geometry.values, ds)
        col, row = ~ds.transform * (x + 20, y + 15)
    assert sorted(order) == list(range(400))
    blocks = list(zip((np.asarray(row) // 64).astype(int)[order], (np.asarray(col) // 64).astype(int)[order]))
    runs = 1 + sum(a != b for a, b in zip(blocks, blocks[1:]))
    assert runs == len(set(blocks))  # each block's zones come together, in one run
    table = Z.zonal_table(path, zs, stats="mean")
    shuffled = zs.sample(frac=1.0, random_state=1)
    again = Z.zonal_table(path, shuffled, stats="mean")
    assert (again.index == shuffled.index).all()
    np.testing.assert_array_equal(again.loc[zs.index, "mean"].to_numpy(), table["mean"].to_numpy())
    # each mean is its own zone's: the cells under a box of 4 × 3 cells or so, weighted by coverage
    c0, r0 = ~from_origin(X0, Y0, 10.0, 10.0) * (x[7], y[7] + 30)
    near = z[int(r0):int(r0) + 4, int(c0):int(c0) + 5]
    assert near.min() <= table["mean"].iloc[7] <= near.max()
