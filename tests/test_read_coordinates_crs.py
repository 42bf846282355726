"""Coordinates that cannot be right keep their row with a missing area and a finding; CRS questions."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from _wkbgen import polygon, write_gpkg
from gis.area import area_m2
from gis.errors import CRSError
from gis.io import read

D = 0.001


def _box(lon, lat):
    return [(lon, lat), (lon + D, lat), (lon + D, lat + D), (lon, lat + D), (lon, lat)]


def test_impossible_coordinates_keep_rows_with_missing_area_and_a_reason(tmp_path):
    nan = float("nan")
    wkbs = [
        polygon([_box(103.6, 36.5)]),                                              # fine
        polygon([[(103.6, 36.5), (nan, 36.5), (103.601, 36.501), (103.6, 36.5)]]),  # NaN
        polygon([[(103.6, 36.5), (math.inf, 36.5), (103.601, 36.501), (103.6, 36.5)]]),  # inf
        polygon([[(103.6, 36.5), (1e20, 36.5), (103.601, 36.501), (103.6, 36.5)]]),  # 1e20
        polygon([_box(103.6, 36.5)[:-1]]),                                          # unclosed ring
        polygon([[(103.6, 36.5), (103.601, 36.5), (103.6, 36.5)]]),                 # 3 points
        polygon([[(y, x) for x, y in _box(103.6, 36.5)]]),                          # lat, lon swapped
    ]
    result = read(write_gpkg(tmp_path / "bad.gpkg", wkbs, crs="EPSG:4490"))
    assert len(result.frame) == 7
    a = area_m2(result.frame).to_numpy()
    assert a[0] > 0 and a[4] == pytest.approx(a[0], rel=1e-12)  # the unclosed ring is closed and measured
    assert np.isnan(a[[1, 2, 3, 5, 6]]).all()  # missing, never 0
    f = result.findings
    checks = f.groupby(f["row"] - 1)["check"].agg(lambda s: set(map(str, s))).to_dict()  # by 0-based position
    assert checks[1] == checks[2] == {"coordinates_not_finite"}
    assert checks[3] == {"coordinates_out_of_range"}
    assert "ring_closed" in checks[4] and "ring_too_short" in checks[5]
    assert checks[6] == {"lonlat_swapped"}
    assert 0 not in checks


def test_convert_never_writes_infinity(tmp_path, run_cli):
    wkbs = [polygon([_box(103.6, 36.5)]), polygon([[(103.6, 36.5), (math.inf, 36.5), (103.601, 36.501), (103.6, 36.5)]])]
    src = write_gpkg(tmp_path / "inf.gpkg", wkbs, crs="EPSG:4326")
    out = tmp_path / "out.geojson"
    code, _, err = run_cli("convert", src, out, "--from", "gcj02")
    assert code == 0, err
    text = out.read_text()
    assert "Infinity" not in text and "NaN" not in text
    doc = json.loads(text)
    assert len(doc["features"]) == 2 and doc["features"][1]["geometry"] is None


def test_gk_metres_labelled_degrees_are_refused_with_what_they_look_like(tmp_path, run_cli):
    gk = [polygon([[(35_512_000 + x * 100, 3_990_000 + y * 100) for x, y in [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]]])]
    src = write_gpkg(tmp_path / "gk.gpkg", gk, crs="EPSG:4326")
    with pytest.raises(CRSError, match="zone 35") as err:
        read(src)
    assert err.value.suggestion == "EPSG:4523"
    code, out, msg = run_cli("convert", src, tmp_path / "x.geojson", "--from", "EPSG:4326")
    assert code == 2 and "Traceback" not in msg and "--crs EPSG:4523" in msg and len(msg.strip().splitlines()) == 1
    assert not (tmp_path / "x.geojson").exists()


def test_local_engineering_crs_is_refused_asking_for_the_real_one(tmp_path, run_cli):
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(0, 0, 100, 100)])
    src = tmp_path / "cad.shp"
    gdf.to_file(src, engine="pyogrio")
    src.with_suffix(".prj").write_text('LOCAL_CS["Site grid",LOCAL_DATUM["Site",0],UNIT["Meter",1.0],'
                                       'AXIS["X",EAST],AXIS["Y",NORTH]]')
    code, _, err = run_cli("areas", src)
    assert code == 2 and "local engineering CRS" in err and "--crs" in err and "Traceback" not in err
    code, out, err = run_cli("areas", src, "--crs", "EPSG:4544")
    assert code == 0, err


def test_lonlat_without_crs_in_china_is_cgcs2000_with_a_notice(tmp_path, run_cli):
    gdf = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(103.6, 36.5, 103.61, 36.51)])
    src = tmp_path / "nocrs.shp"
    gdf.to_file(src, engine="pyogrio")  # no .prj
    result = read(src)
    assert result.frame.crs.to_epsg() == 4490 and any("EPSG:4490" in n for n in result.notices)
    ref = area_m2(gdf.set_crs(4326)).iloc[0]
    assert area_m2(result.frame).iloc[0] == pytest.approx(ref, rel=1e-9)
    code, out, err = run_cli("areas", src)
    assert code == 0 and "note:" in err and "EPSG:4490" in err


def test_projected_without_crs_is_refused_with_a_guess(tmp_path, run_cli):
    gdf = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(35_512_000, 3_990_000, 35_512_100, 3_990_100)])
    src = tmp_path / "gk.shp"
    gdf.to_file(src, engine="pyogrio")
    code, _, err = run_cli("areas", src)
    assert code == 2 and "EPSG:4523" in err and "--crs" in err


def test_from_gcj02_on_area_commands_and_the_datav_hint(tmp_path, run_cli):
    from gis.offsets import convert_geoseries

    wgs = gpd.GeoSeries([shapely.box(103.80, 36.03, 103.85, 36.07)], crs=4326)
    gcj = convert_geoseries(wgs, src="wgs84", dst="gcj02")
    datav = gpd.GeoDataFrame({"adcode": [620102], "name": ["城关区"], "center": [[103.84, 36.05]]},
                             geometry=gcj.values, crs=4326)
    src = tmp_path / "datav.geojson"
    datav.to_file(src, engine="pyogrio")
    code, _, err = run_cli("areas", src, "--out", tmp_path / "plain.csv")
    assert code == 0 and "GCJ-02" in err and "--from gcj02" in err
    code, _, err = run_cli("areas", src, "--from", "gcj02", "--out", tmp_path / "fixed.csv")
    assert code == 0, err
    fixed = pd.read_csv(tmp_path / "fixed.csv")
    plain = pd.read_csv(tmp_path / "plain.csv")
    truth = area_m2(wgs).iloc[0]
    assert fixed["area_m2"].iloc[0] == pytest.approx(truth, rel=1e-6)
    assert abs(plain["area_m2"].iloc[0] / truth - 1) > 2e-4  # GCJ-02 measured as WGS84 is visibly off
    assert plain["center"].iloc[0] == "[103.84, 36.05]"  # lists as JSON text, never numpy repr


def test_a_nan_point_inside_a_multipoint_is_found_on_reading_and_writing(tmp_path):
    """Bounds skip a NaN vertex and a MultiPoint has no area or length to turn NaN: its coordinates are read."""
    import geopandas as gpd
    import numpy as np
    import pytest
    import shapely

    from gis.errors import InputError
    from gis.io import read, write_layer

    g = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[shapely.MultiPoint([(103.6, 36.5), (np.nan, 36.6)]),
                                                   shapely.Point(103.7, 36.5)], crs="EPSG:4490")
    g.to_parquet(tmp_path / "pts.parquet")
    r = read(tmp_path / "pts.parquet")
    assert r.findings["check"].tolist() == ["coordinates_not_finite"] and r.findings["row"].tolist() == [1]
    assert r.frame.geometry.iloc[0] is None and len(r.frame) == 2
    with pytest.raises(InputError, match="1 geometries have NaN"):
        write_layer(g, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
