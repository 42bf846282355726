"""gis.raster / gis.zonal on small GeoTIFFs written in tmp_path, checked against exact answers."""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import shapely.affinity
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from gis import raster as R
from gis.area import area_m2
from gis.errors import CRSError, InputError, OutputExistsError
from gis.zonal import coverage_fractions, parse_where

# rasterio 1.4 itself still composes Affine with `*`, which affine 3 flags as pending deprecation
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

X0, Y0 = 500_000.0, 4_050_000.0  # EPSG:4544 (CGCS2000 GK 105°E): on the central meridian, near 36.6°N
WGS84 = Geod(ellps="WGS84")


def write_tif(path, data, *, crs="EPSG:4544", transform=None, nodata=-9999.0, dtype="float32"):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": dtype, "transform": transform or from_origin(X0, Y0, 10.0, 10.0), "nodata": nodata}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(dtype))
    return path


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.profile, ds.tags()


def angle_diff(a, b):
    return np.abs((np.asarray(a) - b + 180.0) % 360.0 - 180.0)


# ----------------------------------------------------------------------------------- terrain
def plane_projected(n, cell, slope_deg, aspect_deg):
    """Heights falling towards ``aspect_deg`` at ``slope_deg`` on a GK grid on its central meridian."""
    rows, cols = np.mgrid[0:n, 0:n]
    east, north = (cols + 0.5) * cell, -(rows + 0.5) * cell
    az = np.radians(aspect_deg)
    return 1500.0 - np.tan(np.radians(slope_deg)) * (east * np.sin(az) + north * np.cos(az))


def test_slope_and_aspect_of_a_tilted_plane_in_gauss_kruger(tmp_path):
    dem = write_tif(tmp_path / "dem.tif", plane_projected(40, 10.0, 20.0, 120.0))
    R.slope(dem, tmp_path / "slope.tif")
    R.aspect(dem, tmp_path / "aspect.tif")
    s, prof, tags = read(tmp_path / "slope.tif")
    a, _, _ = read(tmp_path / "aspect.tif")
    assert np.abs(s - 20.0).max() < 0.1  # edges and corners included
    assert angle_diff(a, 120.0).max() < 0.1
    assert prof["nodata"] == -9999 and prof["compress"] == "deflate" and tags["units"] == "degrees"
    R.slope(dem, tmp_path / "pct.tif", units="percent")
    p, _, _ = read(tmp_path / "pct.tif")
    assert np.abs(p - 100 * np.tan(np.radians(20.0))).max() < 0.05


def geographic_plane(n, res, slope_deg, *, direction):
    """A plane in EPSG:4326 whose heights rise by tan(slope) per geodesic metre to the south or east."""
    lon0, lat0 = 103.60, 36.60
    lats = lat0 - (np.arange(n) + 0.5) * res
    lons = lon0 + (np.arange(n) + 0.5) * res
    t = np.tan(np.radians(slope_deg))
    if direction == "south":
        _, _, d = WGS84.inv(np.full(n, lon0), np.full(n, lat0), np.full(n, lon0), lats)
        z = np.tile((1500.0 + t * d)[:, None], (1, n))
    else:  # east: distance along each row's parallel, N(φ)·cos φ·Δλ
        a, e2 = 6_378_137.0, 0.00669437999014
        phi = np.radians(lats)[:, None]
        nphi = a / np.sqrt(1 - e2 * np.sin(phi) ** 2)
        z = 1500.0 + t * nphi * np.cos(phi) * np.radians(lons - lon0)[None, :]
    return z, from_origin(lon0, lat0, res, res)


@pytest.mark.parametrize("direction,aspect_deg", [("south", 0.0), ("east", 270.0)])
def test_slope_of_a_plane_in_longitude_latitude(tmp_path, direction, aspect_deg):
    z, transform = geographic_plane(60, 0.0001, 20.0, direction=direction)
    dem = write_tif(tmp_path / "geo.tif", z, crs="EPSG:4326", transform=transform, dtype="float64")
    R.slope(dem, tmp_path / "s.tif")
    R.aspect(dem, tmp_path / "a.tif")
    s, _, _ = read(tmp_path / "s.tif")
    a, _, _ = read(tmp_path / "a.tif")
    assert np.abs(s - 20.0).max() < 0.1  # degrees taken as metres would give ~90°
    assert angle_diff(a, aspect_deg).max() < 0.1  # rising to the south faces north; rising east faces west


def test_aspect_of_a_cone_points_away_from_the_peak(tmp_path):
    n = 41
    rows, cols = np.mgrid[0:n, 0:n]
    dx, dy = (cols - 20) * 10.0, (20 - rows) * 10.0
    z = 2000.0 - np.hypot(dx, dy) * np.tan(np.radians(30.0))
    dem = write_tif(tmp_path / "cone.tif", z)
    R.aspect(dem, tmp_path / "a.tif")
    R.slope(dem, tmp_path / "s.tif")
    a, _, _ = read(tmp_path / "a.tif")
    s, _, _ = read(tmp_path / "s.tif")
    assert angle_diff(a[20, 30], 90.0) < 0.1  # east of the peak faces east
    assert angle_diff(a[10, 20], 0.0) < 0.1  # north faces north
    assert angle_diff(a[30, 20], 180.0) < 0.1
    assert angle_diff(a[20, 10], 270.0) < 0.1
    assert angle_diff(a[10, 30], 45.0) < 0.1
    expected = (np.degrees(np.arctan2(dx, dy)) % 360.0)
    far = np.hypot(dx, dy) > 30
    assert angle_diff(a[far], expected[far]).max() < 1.0
    assert abs(s[20, 35] - 30.0) < 0.1


def test_nodata_holes_stay_nodata_and_their_neighbours_keep_the_slope(tmp_path):
    z = plane_projected(30, 10.0, 15.0, 200.0)
    z[10:13, 10:14] = -9999.0
    dem = write_tif(tmp_path / "holes.tif", z)
    R.slope(dem, tmp_path / "s.tif")
    s, _, _ = read(tmp_path / "s.tif")
    hole = np.zeros_like(s, dtype=bool)
    hole[10:13, 10:14] = True
    assert (s[hole] == -9999).all()
    assert np.abs(s[~hole] - 15.0).max() < 0.1


def test_blocks_join_without_seams_and_output_is_tiled(tmp_path):
    dem = write_tif(tmp_path / "big.tif", plane_projected(700, 5.0, 10.0, 300.0), transform=from_origin(X0, Y0, 5.0, 5.0))
    R.slope(dem, tmp_path / "s.tif")
    s, prof, _ = read(tmp_path / "s.tif")
    assert np.abs(s - 10.0).max() < 0.05
    assert prof["tiled"] and prof["blockxsize"] == 512 and prof["blockysize"] == 512
    R.hillshade(dem, tmp_path / "h.tif")
    h, hprof, _ = read(tmp_path / "h.tif")
    assert hprof["dtype"] == "uint8" and h.min() >= 1 and h.max() - h.min() <= 1  # a plane is shaded evenly


def test_outputs_are_never_overwritten_silently(tmp_path):
    dem = write_tif(tmp_path / "dem.tif", plane_projected(10, 10.0, 5.0, 0.0))
    R.slope(dem, tmp_path / "s.tif")
    with pytest.raises(OutputExistsError):
        R.slope(dem, tmp_path / "s.tif")
    with pytest.raises(OutputExistsError):
        R.slope(dem, dem, overwrite=True)
    R.slope(dem, tmp_path / "s.tif", overwrite=True)


# ----------------------------------------------------------------------------------- bad input
def test_bad_rasters_give_clear_errors(tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="not a raster"):
        R.slope(text, tmp_path / "o.tif")
    nocrs = write_tif(tmp_path / "nocrs.tif", np.ones((5, 5)), crs=None)
    with pytest.raises(CRSError, match="has no CRS"):
        R.slope(nocrs, tmp_path / "o.tif")
    empty = write_tif(tmp_path / "empty.tif", np.full((5, 5), -9999.0))
    with pytest.raises(InputError, match="only nodata"):
        R.slope(empty, tmp_path / "o.tif")
    multi = write_tif(tmp_path / "multi.tif", np.ones((3, 5, 5)))
    with pytest.raises(InputError, match=r"3 bands and none is chosen"):
        R.slope(multi, tmp_path / "o.tif")
    zones = gpd.GeoDataFrame(geometry=[box(X0, Y0 - 20, X0 + 20, Y0)], crs="EPSG:4544")
    with pytest.raises(InputError, match=r"3 bands and none is chosen"):
        R.zonal_stats(multi, zones)
    with pytest.raises(InputError, match="only nodata"):
        R.zonal_stats(empty, zones)
    assert not (tmp_path / "o.tif").exists()
    assert R.zonal_stats(multi, zones, band=2)["mean"].iloc[0] == 1.0


# ----------------------------------------------------------------------------------- zonal
@pytest.fixture
def step_raster(tmp_path):
    """20 × 20 cells of 10 m: 5 in the western half, 25 in the eastern; a 5 × 5 nodata corner (south-east)."""
    z = np.where(np.arange(20)[None, :] < 10, 5.0, 25.0) * np.ones((20, 1))
    z[15:, 15:] = -9999.0
    return write_tif(tmp_path / "step.tif", z)


def test_zonal_exact_fractions_on_a_constant_area(step_raster):
    zones = gpd.GeoDataFrame(
        {"id": ["half_cells", "tiny"]},
        geometry=[box(X0 + 10, Y0 - 30, X0 + 35, Y0 - 20), box(X0 + 12, Y0 - 18, X0 + 14, Y0 - 16)],
        crs="EPSG:4544", index=[10, 20])
    out = R.zonal_stats(step_raster, zones, stats="mean,min,max,count,sum,median")
    assert list(out.index) == [10, 20]
    assert out.loc[10, "count"] == pytest.approx(2.5, abs=1e-9)
    assert out.loc[10, "sum"] == pytest.approx(12.5, abs=1e-9)
    assert out.loc[10, "mean"] == 5.0 and out.loc[10, "median"] == 5.0
    assert out.loc[20, "count"] == pytest.approx(0.04, abs=1e-9)  # 2 m × 2 m in a 10 m cell
    assert out.loc[20, "mean"] == 5.0
    assert out["finding"].isna().all()
    assert out["area_m2"].to_numpy() == pytest.approx(area_m2(zones).to_numpy())


def test_zonal_weighted_stats_match_numpy_on_whole_cells(tmp_path):
    rng = np.random.default_rng(5)
    z = rng.uniform(0, 100, (12, 12))
    path = write_tif(tmp_path / "rand.tif", z, dtype="float64")
    zones = gpd.GeoDataFrame(geometry=[box(X0 + 20, Y0 - 90, X0 + 70, Y0 - 30)], crs="EPSG:4544")
    out = R.zonal_stats(path, zones, stats="mean,std,min,max,median,p10,p90,count").iloc[0]
    cells = z[3:9, 2:7].ravel()
    assert out["count"] == pytest.approx(30)
    # cell areas differ by parts in 1e9 along the central meridian: the weights are equal
    assert out["mean"] == pytest.approx(cells.mean(), rel=1e-7)
    assert out["std"] == pytest.approx(cells.std(), rel=1e-6)
    assert (out["min"], out["max"]) == (cells.min(), cells.max())
    for q, name in ((50, "median"), (10, "p10"), (90, "p90")):
        assert out[name] == pytest.approx(np.percentile(cells, q, method="hazen"), rel=1e-6)


def test_where_area_matches_the_vector_area_of_the_matching_half(step_raster):
    tri = Polygon([(X0 + 30, Y0 - 40), (X0 + 170, Y0 - 60), (X0 + 120, Y0 - 140)])
    zones = gpd.GeoDataFrame({"id": ["tri"]}, geometry=[tri], crs="EPSG:4544")
    out = R.zonal_stats(step_raster, zones, stats="mean", where="<15").iloc[0]
    west = tri.intersection(box(X0, Y0 - 200, X0 + 100, Y0))
    expected = area_m2(gpd.GeoSeries([west], crs="EPSG:4544")).iloc[0]
    assert out["where_area_m2"] == pytest.approx(expected, rel=1e-6)
    assert out["where_area_mu"] == pytest.approx(expected / (2000 / 3), rel=1e-6)
    assert out["where_share"] == pytest.approx(expected / out["area_m2"], rel=1e-6)
    assert out["data_share"] == 1.0
    share = R.buildable_share(step_raster, zones)
    assert share.name == "buildable_share" and share.iloc[0] == pytest.approx(out["where_share"])


def test_every_zone_gets_a_row_with_a_finding(step_raster):
    zones = gpd.GeoDataFrame(
        {"id": ["out", "nodata", "partial", "edge", "point", "none"]},
        geometry=[box(X0 - 100, Y0 + 10, X0 - 50, Y0 + 50), box(X0 + 160, Y0 - 190, X0 + 190, Y0 - 160),
                  box(X0 + 140, Y0 - 190, X0 + 190, Y0 - 140), box(X0 - 20, Y0 - 40, X0 + 20, Y0 - 20),
                  shapely.Point(X0 + 5, Y0 - 5), None],
        crs="EPSG:4544")
    out = R.zonal_stats(step_raster, zones, stats="mean,count", where="<15").set_index(zones["id"])
    assert len(out) == 6
    assert out.loc["out", "finding"].startswith("outside the raster") and np.isnan(out.loc["out", "mean"])
    assert out.loc["nodata", "finding"].startswith("only nodata") and out.loc["nodata", "count"] == 0
    assert np.isnan(out.loc["nodata", "where_area_m2"])  # missing is not zero
    assert out.loc["partial", "finding"].startswith("64.0% of the zone has no data")
    assert out.loc["partial", "mean"] == 25.0 and out.loc["partial", "data_share"] == pytest.approx(0.36)
    assert out.loc["edge", "finding"].startswith("50.0%")
    assert out.loc["edge", "where_area_m2"] == pytest.approx(400.0, rel=1e-6)  # only the half on the raster
    assert "not a polygon" in out.loc["point", "finding"]
    assert out.loc["none", "finding"] == "no geometry"


def test_zones_in_another_crs_are_reprojected_and_logged(step_raster, caplog):
    zones = gpd.GeoDataFrame(geometry=[box(X0 + 10, Y0 - 30, X0 + 35, Y0 - 20)], crs="EPSG:4544")
    with caplog.at_level(logging.INFO):
        out = R.zonal_stats(step_raster, zones.to_crs("EPSG:4490"), stats="mean,count", where="<15")
    assert "reprojected to the raster's CRS" in caplog.text
    assert out["count"].iloc[0] == pytest.approx(2.5, rel=1e-6)
    assert out["where_area_m2"].iloc[0] == pytest.approx(250.0, rel=1e-6)


def test_zonal_on_a_longitude_latitude_raster_agrees_with_ellipsoidal_areas(tmp_path):
    res = 0.001
    z = np.where(np.arange(30)[None, :] < 15, 8.0, 30.0) * np.ones((30, 1))
    path = write_tif(tmp_path / "geo.tif", z, crs="EPSG:4490", transform=from_origin(103.60, 36.62, res, res))
    zone = Polygon([(103.603, 36.618), (103.627, 36.612), (103.611, 36.595)])
    zones = gpd.GeoDataFrame(geometry=[zone], crs="EPSG:4490")
    out = R.zonal_stats(path, zones, stats="mean", where="<15").iloc[0]
    west = zone.intersection(box(103.60, 36.50, 103.615, 36.70))
    expected = area_m2(gpd.GeoSeries([west], crs="EPSG:4490")).iloc[0]
    assert out["where_area_m2"] == pytest.approx(expected, rel=1e-4)
    assert out["area_m2"] == pytest.approx(area_m2(zones).iloc[0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 6), st.floats(0, 6)), min_size=3, max_size=8))
def test_coverage_fractions_add_up_to_the_polygon_area(points):
    poly = shapely.make_valid(shapely.convex_hull(shapely.multipoints(points)))
    if poly.geom_type not in ("Polygon", "MultiPolygon") or poly.area < 1e-6:
        return
    f = coverage_fractions(poly, 0, 0, 6, 6)
    assert f.min() >= 0 and f.max() <= 1 + 1e-12
    assert f.sum() == pytest.approx(poly.area, rel=1e-9, abs=1e-9)
    # the same polygon 10× larger, through the rasterising path (window above the direct limit)
    big = shapely.affinity.scale(poly, 10, 10, origin=(0, 0))
    g = coverage_fractions(big, 0, 0, 60, 60)
    assert g.min() >= 0 and g.max() <= 1 + 1e-12
    assert g.sum() == pytest.approx(big.area, rel=1e-9, abs=1e-9)
    # cells wholly inside are 1 exactly, and a window split in two adds up to the whole
    halves = np.vstack([coverage_fractions(big, 0, 0, 27, 60), coverage_fractions(big, 27, 0, 33, 60)])
    assert np.allclose(halves, g, atol=1e-12)


def test_parse_where_rejects_nonsense():
    assert parse_where("<= 2")(np.array([1, 2, 3])).tolist() == [True, True, False]
    with pytest.raises(InputError, match="cannot read the condition"):
        parse_where("slope<15")


# ----------------------------------------------------------------------------------- grids
def test_rasterize_round_trip_with_codes_and_legend(tmp_path):
    lon, lat = 103.62, 36.58
    d = 0.002
    zones = gpd.GeoDataFrame(
        {"land_use": ["工业用地", "绿地", "工业用地", None]},
        geometry=[box(lon, lat, lon + d, lat + d), box(lon + d, lat, lon + 2 * d, lat + d),
                  box(lon, lat + d, lon + d, lat + 2 * d), box(lon + d, lat + d, lon + 2 * d, lat + 2 * d)],
        crs="EPSG:4490")
    info = R.rasterize(zones, field="land_use", cell_m=10, dst_path=tmp_path / "grid.tif")
    assert info["legend"] == {1: "工业用地", 2: "绿地"}
    with rasterio.open(tmp_path / "grid.tif") as ds:
        assert ds.crs.to_epsg() == 4544  # the GK zone of 105°E suits 103.6°E
        assert ds.res == (10.0, 10.0) and ds.nodata == 0 and ds.dtypes[0] == "uint8"
        assert ds.transform.c % 10 == 0 and ds.transform.f % 10 == 0
        tags = ds.tags()
        grid = ds.read(1)
        to_grid = ds.index
        from pyproj import Transformer
        tr = Transformer.from_crs("EPSG:4490", ds.crs.to_wkt(), always_xy=True)
        centre = {name: tr.transform(lon + (i + 0.5) * d, lat + (j + 0.5) * d)
                  for name, (i, j) in {"sw": (0, 0), "se": (1, 0), "nw": (0, 1), "ne": (1, 1)}.items()}
        value = {k: grid[to_grid(*xy)] for k, xy in centre.items()}
    assert json.loads(tags["legend"]) == {"1": "工业用地", "2": "绿地"}
    assert tags["field"] == "land_use" and tags["code_2"] == "绿地"
    assert value == {"sw": 1, "se": 2, "nw": 1, "ne": 0}  # the zone without a value stays nodata
    assert R.read_legend(tmp_path / "grid.tif") == {1: "工业用地", 2: "绿地"}
    # area of the industrial cells ≈ ellipsoidal area of the industrial zones (10 m cells on 200 m boxes)
    industrial = area_m2(zones[zones["land_use"] == "工业用地"]).sum()
    assert (grid == 1).sum() * 100.0 == pytest.approx(industrial, rel=0.05)


def test_rasterize_integer_field_keeps_its_values(tmp_path):
    zones = gpd.GeoDataFrame({"code": [3, 7]}, geometry=[box(X0, Y0 - 50, X0 + 50, Y0), box(X0 + 50, Y0 - 50, X0 + 100, Y0)],
                             crs="EPSG:4544")
    info = R.rasterize(zones, field="code", cell_m=10, dst_path=tmp_path / "g.tif")
    grid, prof, tags = read(tmp_path / "g.tif")
    assert info["legend"] == {} and prof["crs"].to_epsg() == 4544
    assert set(np.unique(grid)) == {3, 7} and (grid == 3).sum() == 25
    with pytest.raises(InputError, match="no field 'kind'"):
        R.rasterize(zones, field="kind", cell_m=10, dst_path=tmp_path / "x.tif")


def test_clip_and_reproject(tmp_path):
    z = np.arange(400, dtype=float).reshape(20, 20)
    src = write_tif(tmp_path / "src.tif", z)
    layer = gpd.GeoDataFrame(geometry=[box(X0 + 50, Y0 - 150, X0 + 120, Y0 - 60)], crs="EPSG:4544").to_crs("EPSG:4490")
    R.clip(src, layer, tmp_path / "clip.tif")
    with rasterio.open(tmp_path / "clip.tif") as ds:
        data = ds.read(1)
        assert ds.crs.to_epsg() == 4544
        col, row = ~ds.transform @ (X0 + 85, Y0 - 105)
        assert data[int(row), int(col)] == z[10, 8]
        inside = data != ds.nodata
        assert inside.sum() == 9 * 7  # cells whose centres lie in the 70 m × 90 m box
    far = gpd.GeoDataFrame(geometry=[box(X0 - 5000, Y0 - 5000, X0 - 4000, Y0 - 4000)], crs="EPSG:4544")
    with pytest.raises(InputError, match="does not overlap"):
        R.clip(src, far, tmp_path / "none.tif")
    R.reproject(src, tmp_path / "geo.tif", dst_crs="EPSG:4490", resampling="nearest")
    with rasterio.open(tmp_path / "geo.tif") as ds:
        assert ds.crs.to_epsg() == 4490
        from pyproj import Transformer
        lon, lat = Transformer.from_crs(4544, 4490, always_xy=True).transform(X0 + 105, Y0 - 75)
        assert next(ds.sample([(lon, lat)]))[0] == z[7, 10]
    R.reproject(src, tmp_path / "coarse.tif", dst_crs="EPSG:4544", resolution=20, resampling="average")
    with rasterio.open(tmp_path / "coarse.tif") as ds:
        assert ds.res == (20.0, 20.0) and ds.read(1)[0, 0] == pytest.approx(z[:2, :2].mean())
    with pytest.raises(InputError, match="in degrees"):
        R.reproject(src, tmp_path / "bad.tif", dst_crs="EPSG:4490", resolution=10)


def test_collections_and_bow_ties_are_measured_by_their_polygons(step_raster):
    from shapely.geometry import GeometryCollection, LineString

    zones = gpd.GeoDataFrame(geometry=[
        GeometryCollection([box(X0 + 10, Y0 - 30, X0 + 35, Y0 - 20), LineString([(X0, Y0 - 5), (X0 + 50, Y0 - 5)])]),
        Polygon([(X0, Y0), (X0 + 40, Y0 - 40), (X0 + 40, Y0), (X0, Y0 - 40)]),  # self-crossing bow tie
    ], crs="EPSG:4544")
    out = R.zonal_stats(step_raster, zones, stats="mean,count", where="<15")
    assert out["count"].tolist() == pytest.approx([2.5, 8.0])
    assert out["where_area_m2"].tolist() == pytest.approx([250.0, 800.0], rel=1e-6)
    assert out["finding"].isna().all()
