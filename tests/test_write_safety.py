"""Writing loses nothing: refused before a byte is written, inputs never replaced, temporary files removed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import GeometryTypeError, InputError, OutputExistsError
from gis.io import atomic_output, read, write_layer


def _circle(n_vertices: int):
    t = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    return shapely.Polygon(np.column_stack([103.6 + 0.01 * np.cos(t), 36.5 + 0.01 * np.sin(t)]))


def test_xlsx_refuses_a_geometry_it_would_cut(tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["small", "county"]}, geometry=[_circle(8), _circle(2000)], crs=4490)
    out = tmp_path / "x.xlsx"
    with pytest.raises(InputError, match="32,767 characters") as err:
        write_layer(gdf, out)
    assert "rows 2" in str(err.value)
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written, no temporary left
    write_layer(gdf, tmp_path / "x.gpkg")  # the same layer round-trips where it fits
    back = read(tmp_path / "x.gpkg").frame
    assert shapely.equals_exact(back.geometry.values, gdf.geometry.values, tolerance=0).all()


def test_shapefile_output_with_cpg_and_reported_field_names(tmp_path, caplog):
    gdf = gpd.GeoDataFrame({"parcel_id": ["001"], "investment_intensity_wan_per_mu": [320.5], "名称": ["甲"]},
                           geometry=[_circle(16)], crs=4490)
    out = tmp_path / "p.shp"
    with caplog.at_level("WARNING"):
        write_layer(gdf, out)
    assert out.with_suffix(".cpg").read_text().strip().upper() == "UTF-8"
    assert "investment_intensity_wan_per_mu → investment" in caplog.text
    back = read(out).frame
    assert back["parcel_id"].tolist() == ["001"] and back["名称"].tolist() == ["甲"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    mixed = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[_circle(8), shapely.Point(103.6, 36.5)], crs=4490)
    with pytest.raises(GeometryTypeError, match="one geometry type"):
        write_layer(mixed, tmp_path / "m.shp")
    assert not (tmp_path / "m.shp").exists()
    with pytest.raises(OutputExistsError):
        write_layer(gdf, out)


def test_kml_output_is_lonlat(tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["甲"]}, geometry=[shapely.box(500_000, 4_000_000, 500_100, 4_000_100)], crs=4544)
    out = tmp_path / "p.kml"
    write_layer(gdf, out)
    back = read(out).frame
    assert back.crs.to_epsg() == 4326 and back.geometry.iloc[0].bounds[0] == pytest.approx(105.0, abs=0.01)


def test_no_input_is_ever_overwritten_even_with_overwrite(tmp_path, run_cli):
    parcels = gpd.GeoDataFrame({"parcel_id": ["a"]}, geometry=[shapely.box(103.6, 36.5, 103.601, 36.501)], crs=4490)
    park = gpd.GeoDataFrame({"id": ["park"]}, geometry=[shapely.box(103.59, 36.49, 103.61, 36.51)], crs=4490)
    p, w = tmp_path / "parcels.gpkg", tmp_path / "park.geojson"
    parcels.to_file(p, engine="pyogrio")
    park.to_file(w, engine="pyogrio")
    before = {f: f.read_bytes() for f in (p, w)}
    for args in (["areas", p, "--out", p, "--overwrite"], ["validate", p, "--within", w, "--out", w, "--overwrite"],
                 ["convert", p, p, "--from", "EPSG:4490", "--overwrite"]):
        code, _, err = run_cli(*args)
        assert code == 2 and "refusing to overwrite the input" in err, (args, err)
    assert {f: f.read_bytes() for f in (p, w)} == before


def test_temporary_output_is_removed_on_sigterm(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from gis.io import atomic_output
        with atomic_output({str(tmp_path / 'out.csv')!r}) as tmp:
            tmp.write_text("half")
            print("ready", flush=True)
            time.sleep(30)
    """)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        assert len(list(tmp_path.iterdir())) == 1  # the temporary file exists while working
        proc.send_signal(sig)
        proc.wait(timeout=20)
        assert list(tmp_path.iterdir()) == [], sig  # removed, and no output half-written


def test_atomic_folder_replaces_only_at_the_end(tmp_path):
    target = tmp_path / "pack"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError):
        with atomic_output(target, directory=True):
            pass
    with pytest.raises(RuntimeError):
        with atomic_output(target, directory=True, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("fails half-way")
    assert [p.name for p in target.iterdir()] == ["old.txt"]  # the previous folder is intact
    with atomic_output(target, directory=True, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_round_trips_keep_every_geometry_or_refuse(tmp_path):
    geoms = [_circle(16), shapely.MultiPolygon([_circle(8), shapely.box(103.7, 36.6, 103.71, 36.61)]), None]
    gdf = gpd.GeoDataFrame({"parcel_id": ["001", "01", "1"]}, geometry=geoms, crs=4490)
    for ext in (".geojson", ".gpkg", ".parquet", ".csv", ".xlsx", ".fgb"):
        out = tmp_path / f"r{ext}"
        write_layer(gdf, out)
        back = read(out, crs=4490 if ext in (".csv", ".xlsx") else None).frame
        assert back["parcel_id"].tolist() == ["001", "01", "1"], ext
        assert back.geometry.iloc[2] is None or back.geometry.iloc[2].is_empty, ext
        # the same shapes and vertices (a GeoPackage may promote a Polygon to a one-part MultiPolygon)
        same = [shapely.equals_exact(shapely.normalize(shapely.get_parts(a)), shapely.normalize(shapely.get_parts(b)),
                                     tolerance=1e-12).all() for a, b in zip(back.geometry.values[:2], geoms[:2])]
        assert all(same), ext


def test_raster_and_audit_inputs_are_never_overwritten(tmp_path, run_cli):
    import rasterio
    from rasterio.transform import from_origin

    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", height=20, width=20, count=1, dtype="float32", crs="EPSG:4544",
                       transform=from_origin(500_000, 4_000_000, 10, 10)) as ds:
        ds.write(np.arange(400, dtype="float32").reshape(20, 20), 1)
    zones = gpd.GeoDataFrame({"id": ["z"]}, geometry=[shapely.box(500_020, 3_999_880, 500_120, 3_999_980)], crs=4544)
    zpath = tmp_path / "zones.gpkg"
    zones.to_file(zpath, engine="pyogrio")
    before = {p: p.read_bytes() for p in (dem, zpath)}
    for args in (["raster", "slope", dem, "--out", dem, "--overwrite"],
                 ["raster", "zonal", dem, zpath, "--out", zpath, "--overwrite"],
                 ["audit", "samples/yaogu_phase1_parcels", "--zones", zpath, "--out", zpath, "--overwrite"]):
        code, _, err = run_cli(*args)
        assert code == 2 and "input" in err, (args, err)
    assert {p: p.read_bytes() for p in (dem, zpath)} == before
    code, _, err = run_cli("raster", "slope", dem, "--out", tmp_path / "slope.png")
    assert code == 2 and "GeoTIFF" in err and not (tmp_path / "slope.png").exists()


def test_geopackage_of_parcels_opens_styled_in_qgis(tmp_path):
    import sqlite3

    gdf = gpd.GeoDataFrame({"parcel_id": ["001"], "land_use": ["M1"]}, geometry=[_circle(8)], crs=4490)
    out = tmp_path / "p.gpkg"
    write_layer(gdf, out)
    with sqlite3.connect(out) as db:
        rows = db.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("p", 1)] and 'attr="land_use"' in rows[0][2]
    assert read(out).frame["parcel_id"].tolist() == ["001"]  # the data layer is still the only layer read


def test_parquet_with_categoricals_is_the_file_plain_text_gives(tmp_path):
    """Categoricals go to Parquet's dictionary pages as they are, yet the file reads back as the plain
    values, exactly as pyarrow's own writer makes it from the decoded columns: same schema (time zones,
    large text), same values, nulls and unused categories included, for pandas and geopandas alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gis.io._write import write_parquet_table

    n = 1000
    frame = gpd.GeoDataFrame({
        "land_use": pd.Categorical(np.where(np.arange(n) % 7 == 0, None, np.array(["M1", "B1", "工业"])[np.arange(n) % 3]),
                                   categories=["M1", "B1", "工业", "never used"]),
        "code": pd.Categorical(np.arange(n) % 4),
        "name": pd.Series([f"P{i}" for i in range(n)], dtype="str"),
        "at": pd.date_range("2026-01-01", periods=n, freq="h", tz="Asia/Shanghai"),
        "mu": np.linspace(0, 1, n)}, geometry=shapely.points(np.arange(n), np.arange(n)), crs=4490)
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    write_layer(frame, ours)
    decoded = frame.assign(land_use=frame["land_use"].astype("str"), code=frame["code"].astype(np.int64))
    frame.to_parquet(theirs)  # geopandas' writer: categoricals stay categoricals in its schema
    back = pq.read_table(ours)
    assert back.schema.field("land_use").type in (pa.string(), pa.large_string())
    assert back.schema.field("code").type == pa.int64() and back.schema.field("at").type.tz == "Asia/Shanghai"
    got = gpd.read_parquet(ours)
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(decoded.drop(columns="geometry")))
    assert got.geometry.equals(frame.geometry) and got.crs.to_epsg() == 4490
    assert "RLE_DICTIONARY" in pq.read_metadata(ours).row_group(0).column(0).encodings
    # the plain-table path, against pyarrow's writer of the decoded table
    table = pa.Table.from_pandas(pd.DataFrame(frame.drop(columns="geometry")), preserve_index=False)
    write_parquet_table(table, tmp_path / "t.parquet")
    plain = table.cast(pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
                                  for f in table.schema], metadata=table.schema.metadata))
    pq.write_table(plain, tmp_path / "ref.parquet")
    assert pq.read_table(tmp_path / "t.parquet").equals(pq.read_table(tmp_path / "ref.parquet"), check_metadata=True)
    assert pq.read_table(theirs).schema.field("land_use").type != back.schema.field("land_use").type  # the test can tell


def test_several_files_are_written_all_or_none(tmp_path, monkeypatch):
    """write_layers puts every file in place only when all are written: one failing (here the third of
    three) leaves the earlier outputs as they were, new ones absent, and no temporary behind; the audit's
    parcels file and side tables go this way."""
    import gis.io as gio
    import gis.io._write as w

    frame = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[shapely.Point(103, 36)] * 2, crs=4490)
    old = tmp_path / "out.parquet"
    write_layer(frame.iloc[:1], old)
    before = old.read_bytes()
    targets = {old: frame, tmp_path / "out.summary.csv": pd.DataFrame({"n": [1]}), tmp_path / "out.rules.csv": pd.DataFrame({"n": [2]})}
    real = w.write_frame

    def failing(df, tmp, fmt, *, layer, target):
        if target.name == "out.rules.csv":
            raise OSError("No space left on device")
        return real(df, tmp, fmt, layer=layer, target=target)

    monkeypatch.setattr(gio, "write_frame", failing)
    with pytest.raises(OSError, match="No space"):
        gio.write_layers(targets, overwrite=True)
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
    monkeypatch.setattr(gio, "write_frame", real)
    assert gio.write_layers(targets, overwrite=True) == [str(p) for p in targets]
    assert len(read(old).frame) == 2 and pd.read_csv(tmp_path / "out.rules.csv")["n"].tolist() == [2]
