"""Reading and writing: every format, Chinese text in GBK shapefiles, atomic and safe writes."""

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import CRSError, InputError, LayerNotFoundError, OutputExistsError
from gis.io import atomic_output, detect_dbf_encoding, frame_to_markdown, read_layer, write_layer, write_tables


def _gbk_shapefile(tmp_path, parcels):
    """A shapefile written the way Chinese offices' tools write it: GBK text and no .cpg."""
    path = tmp_path / "宗地.shp"
    parcels.to_file(path, engine="pyogrio", encoding="GBK")
    for ext in (".cpg", ".CPG"):
        (tmp_path / f"宗地{ext}").unlink(missing_ok=True)
    return path


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".parquet", ".csv", ".xlsx"])
def test_round_trip_keeps_rows_text_and_geometry(tmp_path, parcels_4490, ext):
    out = tmp_path / f"p{ext}"
    write_layer(parcels_4490, out)
    back = read_layer(out, crs="EPSG:4490" if ext in (".csv", ".xlsx") else None)
    assert len(back) == 4 and back["name"].tolist() == ["甲", "乙", "丙", "丁"]
    assert back.crs.to_epsg() == 4490
    assert shapely.equals_exact(back.geometry.values, parcels_4490.geometry.values, tolerance=1e-9).all()


def test_gbk_shapefile_without_cpg_reads_without_mojibake(tmp_path, parcels_4490):
    path = _gbk_shapefile(tmp_path, parcels_4490)
    assert detect_dbf_encoding(path) == "GB18030"
    back = read_layer(path)
    assert back["name"].tolist() == ["甲", "乙", "丙", "丁"]
    # the override wins
    assert read_layer(path, encoding="GBK")["name"].tolist() == ["甲", "乙", "丙", "丁"]


def test_zipped_gbk_shapefile(tmp_path, parcels_4490):
    path = _gbk_shapefile(tmp_path, parcels_4490)
    zpath = tmp_path / "parcels.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in tmp_path.glob("宗地.*"):
            zf.write(f, f.name)
    back = read_layer(zpath)
    assert back["name"].tolist() == ["甲", "乙", "丙", "丁"] and len(back) == 4


def test_utf8_shapefile_detected(tmp_path, parcels_4490):
    path = tmp_path / "u.shp"
    parcels_4490.to_file(path, engine="pyogrio", encoding="UTF-8")
    (tmp_path / "u.cpg").unlink(missing_ok=True)
    assert detect_dbf_encoding(path) == "UTF-8"
    assert read_layer(path)["name"].tolist() == ["甲", "乙", "丙", "丁"]


def test_geopackage_layers(tmp_path, parcels_4490):
    path = tmp_path / "two.gpkg"
    parcels_4490.to_file(path, layer="parcels", engine="pyogrio")
    parcels_4490.iloc[:2].to_file(path, layer="zones", engine="pyogrio", append=False)
    with pytest.raises(InputError, match="2 layers and none is chosen") as err:
        read_layer(path)
    assert err.value.setting == "layer" and sorted(err.value.choices) == ["parcels", "zones"]
    assert "--" not in str(err.value)  # library messages name no flags; the CLI adds them
    assert len(read_layer(path, layer="zones")) == 2
    with pytest.raises(LayerNotFoundError, match="no layer 'roads'.*parcels"):
        read_layer(path, layer="roads")


def test_kml(tmp_path, parcels_4490):
    path = tmp_path / "p.kml"
    parcels_4490.to_crs(4326).to_file(path, driver="KML", engine="pyogrio")
    back = read_layer(path)
    assert len(back) == 4 and back.crs.to_epsg() == 4326


def test_csv_with_lon_lat_and_gbk_text(tmp_path):
    path = tmp_path / "points.csv"
    pd.DataFrame({"名称": ["西固区政府", "安宁区政府"], "lon": [103.62, 103.72], "lat": [36.10, 36.10]}).to_csv(
        path, index=False, encoding="gb18030")
    back = read_layer(path)
    assert back["名称"].tolist() == ["西固区政府", "安宁区政府"] and back.crs.to_epsg() == 4326


def test_csv_wkt_without_crs_says_what_it_looks_like(tmp_path):
    path = tmp_path / "gk.csv"
    pd.DataFrame({"id": [1], "wkt": ["POLYGON ((35512000 3990000, 35512100 3990000, 35512100 3990100, 35512000 3990000))"]}
                 ).to_csv(path, index=False)
    with pytest.raises(CRSError, match="EPSG:4523"):
        read_layer(path)
    assert read_layer(path, crs="EPSG:4523").crs.to_epsg() == 4523


def test_bad_wkt_row_is_kept_without_geometry(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1, 2, 3], "wkt": ["POINT (103 36)", "POLYGON ((oops", ""]}).to_csv(path, index=False)
    back = read_layer(path, crs="EPSG:4490")
    assert len(back) == 3 and back.geometry.isna().tolist() == [False, True, True]


def test_missing_file_and_non_vector(tmp_path):
    with pytest.raises(LayerNotFoundError, match="no such file"):
        read_layer(tmp_path / "nope.gpkg")
    junk = tmp_path / "junk.geojson"
    junk.write_text("this is not json")
    with pytest.raises(InputError, match="not a readable vector file"):
        read_layer(junk)
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no geometry"):
        read_layer(table)


def test_writes_refuse_inputs_and_existing_files(tmp_path, parcels_4490):
    src = tmp_path / "src.gpkg"
    write_layer(parcels_4490, src)
    before = src.read_bytes()
    with pytest.raises(OutputExistsError, match="refusing to overwrite the input"):
        write_layer(parcels_4490, src, overwrite=True, inputs=[src])
    with pytest.raises(OutputExistsError, match="exists") as err:
        write_layer(parcels_4490, src)
    assert err.value.setting == "overwrite"
    assert src.read_bytes() == before
    write_layer(parcels_4490.iloc[:1], src, overwrite=True)
    assert len(read_layer(src)) == 1


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_write_tables_xlsx_sheets_and_markdown(tmp_path, parcels_4490):
    out = tmp_path / "report.xlsx"
    write_tables(out, {"parcels": parcels_4490, "summary": pd.DataFrame({"n": [4]})})
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == ["parcels", "summary"] and len(sheets["parcels"]) == 4
    md = frame_to_markdown(pd.DataFrame({"name": ["a|b"], "area_mu": [1234.5]}))
    assert "a\\|b" in md and "1,234.50" in md and "---:" in md


def test_unknown_output_extension(tmp_path, parcels_4490):
    with pytest.raises(InputError, match="not a format parkgis writes"):
        write_layer(parcels_4490, tmp_path / "x.shapefile")
    with pytest.raises(InputError, match="cannot write OpenStreetMap"):
        write_layer(parcels_4490, tmp_path / "x.osm")


def test_3d_layer_reads(tmp_path, parcels_4490):
    p3 = parcels_4490.set_geometry(shapely.force_3d(parcels_4490.geometry.values, 1520.0), crs=4490)
    path = tmp_path / "z.gpkg"
    p3.to_file(path, engine="pyogrio")
    back = read_layer(path)
    from gis.area import area_m2
    assert back.geometry.has_z.all() and (area_m2(back) > 0).all()
