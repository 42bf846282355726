"""The PostGIS store and postgresql:// sources, against a throwaway cluster (tests/_pg.py).

Skips when PostgreSQL/PostGIS is absent; fails instead under PARKGIS_REQUIRE_DB=1 (CI).
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from pyproj import Geod

from gis.errors import CRSError, InputError, LayerNotFoundError, OutputExistsError
from gis.store.url import parse_url, redact
from gis.units import MU_M2


import _pg  # noqa: E402  (tests/_pg.py: the throwaway cluster, one per test session)
ROOT = Path(__file__).resolve().parents[1]
GEOD = Geod(ellps="GRS80")


@pytest.fixture(scope="session")
def pg():
    return _pg.cluster()


@pytest.fixture
def db(pg):
    return pg.new_database()


@pytest.fixture
def store(pg, db):
    """A database holding an initialised store; returns its admin URL (no table)."""
    from gis.store.schema import init_store

    url = pg.url(db)
    init_store(url)
    return url


def _t(url, table):
    return url + f"&table={table}"


def make_parcels(n=6, *, parks=("park.a", "park.b"), lon0=103.62, lat0=36.58):
    """n parcels of about 100 m × 120 m in a row, alternating parks, with text, numbers, gaps and 汉字."""
    d = 0.0011
    polys = [shapely.box(lon0 + i * d, lat0, lon0 + (i + 1) * d - 1e-5, lat0 + d * 1.1) for i in range(n)]
    return gpd.GeoDataFrame({
        "parcel_id": [f"P{i + 1:03d}" for i in range(n)],
        "park_id": [parks[i % len(parks)] for i in range(n)],
        "land_use": ["M1", "M2", "W1", "B1", "M1", "G1"][:n] + ["M1"] * max(0, n - 6),
        "status": ["built"] * n,
        "project": [f"项目{i}" if i % 3 else "" for i in range(n)],  # an empty string is not a missing value
        "investment_wan": [1000.5 + i if i != 2 else np.nan for i in range(n)],
        "employees": np.arange(n, dtype="int64") * 10,
        "synthetic": [True, False] * (n // 2) + [True] * (n % 2),
    }, geometry=polys, crs="EPSG:4490")


def geod_area_mu(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0]) / MU_M2


def test_redact_and_parse_without_a_server():
    assert redact("postgresql://ana:pa%40ss@db:5433/zone?table=p") == "postgresql://ana:***@db:5433/zone?table=p"
    assert "s3cret" not in redact("postgres://u@h/d?password=s3cret&table=p")
    u = parse_url("postgresql://ana:pw@db/zone?table=parcels&schema=plan&sslmode=require", layer="zones")
    assert (u.table, u.schema, u.sql) == ("zones", "plan", None)
    assert "table" not in u.conninfo and "schema" not in u.conninfo and "sslmode=require" in u.conninfo
    with pytest.raises(InputError, match="either a table or sql"):
        parse_url("postgresql://h/d?table=a&sql=SELECT 1")


# --------------------------------------------------------------------------------------- plain tables
def test_plain_table_round_trip_keeps_values_types_gaps_and_crs(pg, db):
    from gis.store.io import read_source, write_source

    frame = make_parcels().to_crs("EPSG:4544")  # a projected CRS outside a store stays as it is
    url = _t(pg.url(db), "plain_parcels")
    assert write_source(frame, url) == redact(url)
    back = read_source(url)
    assert back.crs.to_epsg() == 4544
    assert list(back.columns) == [*frame.columns.drop("geometry"), "geometry"]
    for col in ("parcel_id", "park_id", "land_use", "project"):
        assert back[col].tolist() == frame[col].tolist()
    assert back["project"].tolist()[0] == "" and not back["project"].isna().any()
    np.testing.assert_array_equal(back["investment_wan"].to_numpy(), frame["investment_wan"].to_numpy())
    assert back["employees"].tolist() == frame["employees"].tolist()
    assert back["synthetic"].tolist() == frame["synthetic"].tolist()
    assert shapely.equals_exact(back.geometry.to_numpy(), frame.geometry.to_numpy(), tolerance=0).all()


def test_plain_table_keeps_dates_categories_nullable_integers_and_mixed_text(pg, db):
    from gis.store.io import read_source, write_source

    frame = make_parcels(4)
    frame["surveyed"] = pd.to_datetime(["2026-01-02 03:04:05", None, "2025-12-31", "2026-06-30 12:00"], format="ISO8601")
    frame["grade"] = pd.Categorical(["A", "B", None, "A"])
    frame["floors"] = pd.array([3, None, 5, 1], dtype="Int64")
    frame["tax_wan"] = pd.Series([12.5, "待核实", None, 3], dtype=object)  # as ledgers have it: kept as text
    url = _t(pg.url(db), "typed")
    write_source(frame, url)
    back = read_source(url)
    assert back["surveyed"].tolist()[0] == pd.Timestamp("2026-01-02 03:04:05") and pd.isna(back["surveyed"][1])
    assert back["grade"].tolist()[:2] == ["A", "B"] and pd.isna(back["grade"][2])
    assert back["floors"].tolist()[0] == 3 and pd.isna(back["floors"][1])
    assert back["tax_wan"].tolist()[:2] == ["12.5", "待核实"] and pd.isna(back["tax_wan"][2])


def test_tables_written_by_others_read_with_their_types(pg, db):
    """A table made in SQL (as QGIS or psql would): every type comes back as pandas holds it, a missing
    number as NaN or <NA>, never 0; numeric as float; other types as their text; a one-part MultiPolygon
    of a plain table stays a MultiPolygon."""
    from gis.store.io import read_source

    with pg.admin(db) as conn:
        conn.execute("""CREATE TABLE others (a int2, b int4, c int8, d float4, e numeric, f bool, g timestamptz,
                        h date, i varchar(5), j json, geom geometry(MultiPolygon, 4490))""")
        conn.execute("""INSERT INTO others VALUES
            (1, 2, 9007199254740993, 1.5, 2.25, true, '2026-01-02 03:04:05+08', '2026-03-04', 'ab', '{"k": 1}',
             'SRID=4490;MULTIPOLYGON(((103 36,103.01 36,103.01 36.01,103 36)))'),
            (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""")
    back = read_source(pg.url(db, table="others"))
    assert back["a"].dtype == "Int64" and back["a"].tolist()[0] == 1 and pd.isna(back["a"][1])
    assert back["c"].tolist()[0] == 9007199254740993  # past 2**53: no float on the way
    assert back["d"].dtype == np.float64 and back["d"][0] == 1.5 and np.isnan(back["d"][1])
    assert back["e"].dtype == np.float64 and back["e"][0] == 2.25 and np.isnan(back["e"][1])
    assert back["f"].dtype == "boolean" and back["f"][0] and pd.isna(back["f"][1])
    assert back["g"][0] == pd.Timestamp("2026-01-01 19:04:05", tz="UTC") and pd.isna(back["g"][1])
    assert back["h"][0] == pd.Timestamp("2026-03-04") and pd.isna(back["h"][1])
    assert back["i"][0] == "ab" and json.loads(back["j"][0]) == {"k": 1} and pd.isna(back["j"][1])
    assert back.geometry[0].geom_type == "MultiPolygon" and back.geometry[1] is None and back.crs.to_epsg() == 4490


def test_binary_copy_equals_psycopgs_own_rows_and_other_types_go_as_csv(pg, db, caplog):
    """The numpy binary COPY writer against psycopg's row writer (the reference), on every type it sends,
    nulls in each; a column of a type it has no binary form for (numeric, date) sends CSV, same values;
    an integer too big for an int4 column is refused by name; WKB without SRID takes the column's."""
    import datetime as dt

    import psycopg
    import pyarrow as pa
    from psycopg import sql

    from gis.store._copy import copy_in, wkb_binary

    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    poly = shapely.MultiPolygon([shapely.box(103, 36, 103.01, 36.01)])
    table = pa.table({"a": pa.array([1, None, -7], type=pa.int64()), "b": pa.array([2**40, 5, None], type=pa.int64()),
                      "c": pa.array([1.25, None, float("inf")]), "d": pa.array([0.5, 2.0, None]),
                      "e": pa.array([True, None, False]), "f": pa.array([when, None, when], type=pa.timestamp("us", tz="UTC")),
                      "g": pa.array([when.replace(tzinfo=None), None, None], type=pa.timestamp("us")),
                      "h": pa.array(["地块 'x'", None, ""]), "i": pa.array(['{"k": [1, 2]}', None, "null"]),
                      "geom": wkb_binary(np.array([poly, None, shapely.box(0, 0, 1, 1)], dtype=object), multi=True)})
    ddl = ("(a int4, b int8, c float8, d float4, e bool, f timestamptz, g timestamp, h text, i json, "
           "geom geometry(MultiPolygon, 4490))")
    rows = [(1, 2**40, 1.25, 0.5, True, when, when.replace(tzinfo=None), "地块 'x'", '{"k": [1, 2]}', poly.wkb_hex),
            (None, 5, None, 2.0, None, None, None, None, None, None),
            (-7, None, float("inf"), None, False, when, None, "", "null", shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]).wkb_hex)]
    with pg.admin(db) as conn:
        conn.execute(f"CREATE TABLE ours {ddl}")
        conn.execute(f"CREATE TABLE theirs {ddl}")
        with conn.cursor().copy("COPY theirs FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        with caplog.at_level(logging.DEBUG, logger="gis.store._copy"):
            assert copy_in(conn.cursor(), sql.Identifier("ours"), table) == 3
        assert "copied 3 rows (binary)" in caplog.text
        cols = "a, b, c, d, e, f, g, h, i::text, ST_AsEWKB(geom)"
        ours = conn.execute(f"SELECT {cols} FROM ours").fetchall()
        assert ours == conn.execute(f"SELECT {cols} FROM theirs").fetchall()
        assert conn.execute("SELECT array_agg(DISTINCT ST_SRID(geom)) FROM ours WHERE geom IS NOT NULL").fetchone()[0] == [4490]
        # numeric and date have no binary form here: the same rows go as CSV
        conn.execute("CREATE TABLE mixed (a numeric, c date, h text, geom geometry(MultiPolygon, 4490))")
        with caplog.at_level(logging.DEBUG, logger="gis.store._copy"):
            copy_in(conn.cursor(), sql.Identifier("mixed"), pa.table({
                "a": pa.array([1.5, None]), "c": pa.array(["2026-03-04", None]), "h": pa.array(["", None]),
                "geom": wkb_binary(np.array([poly, None], dtype=object), multi=True)}))
        assert "copied 2 rows (csv)" in caplog.text
        got = conn.execute("SELECT a::float8, c::text, h, ST_SRID(geom) FROM mixed").fetchall()
        assert got == [(1.5, "2026-03-04", "", 4490), (None, None, None, None)]
        with pytest.raises(InputError, match="'a'.*int4"):
            copy_in(conn.cursor(), sql.Identifier("ours"), pa.table({"a": pa.array([2**31], type=pa.int64())}))
        with pytest.raises(psycopg.errors.InvalidParameterValue):  # a Polygon into a MultiPolygon column: the server says no
            copy_in(conn.cursor(), sql.Identifier("ours"), pa.table({"geom": wkb_binary(np.array([shapely.box(0, 0, 1, 1)]))}))


def test_a_first_load_leaves_the_tables_definition_as_it_was(store, pg, db):
    """The first load drops the keys' and other indexes for speed and builds them again: afterwards the
    constraints, indexes and triggers are the same, and the keys still refuse a repeated parcel_id."""
    import psycopg

    from gis.store.io import write_source

    def definition():
        with pg.admin(db) as conn:
            return (sorted(conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                        "WHERE conrelid = 'parcels'::regclass").fetchall()),
                    sorted(r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'parcels'")),
                    sorted(r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'parcels'::regclass "
                                                      "AND tgenabled = 'O'")))

    before = definition()
    assert any("PRIMARY KEY" in d for _, d in before[0]) and any("UNIQUE (parcel_id)" in d for _, d in before[0])
    write_source(make_parcels(6), _t(store, "parcels"))
    assert definition() == before
    with pg.admin(db) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO parcels (parcel_id, park_id, geom) SELECT parcel_id, park_id, geom FROM parcels LIMIT 1")


def test_chinese_text_through_a_server_in_another_encoding(pg):
    """A database in EUC_CN (older Chinese installations): text goes in and comes back as written, both ways
    speaking UTF-8 to the server, which converts."""
    import psycopg

    from gis.store.io import read_source, write_source

    name = f"t_{uuid.uuid4().hex[:10]}"
    with pg.admin("postgres") as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'EUC_CN' LC_COLLATE 'C' LC_CTYPE 'C'")
    with pg.admin(name) as conn:
        conn.execute("CREATE EXTENSION postgis")
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "EUC_CN"
    frame = make_parcels(3)
    frame["name"] = ["兰州经济技术开发区", "西固新城 一期", None]
    write_source(frame, _t(pg.url(name), "typed"))
    back = read_source(_t(pg.url(name), "typed"))
    assert back["name"].tolist()[:2] == ["兰州经济技术开发区", "西固新城 一期"] and pd.isna(back["name"][2])
    with psycopg.connect(pg.url(name), client_encoding="EUC_CN") as conn:  # stored as the server's own text
        assert conn.execute("SELECT name FROM typed WHERE name LIKE '兰州%'").fetchone()[0] == "兰州经济技术开发区"


def test_curved_cadastre_in_postgis_is_read_as_files_are(pg, db, run_cli):
    """A table of CurvePolygons and MultiSurfaces (a cadastre with arcs): read through the io core as a file
    would be — arcs stroked, said per row — with areas equal to PostGIS' own on a finely stroked copy; by
    table and by query (whose curved rows keep their SRID)."""
    import gis.io as gio
    from gis.area import area_m2

    with pg.admin(db) as conn:
        conn.execute("CREATE TABLE cad (parcel_id text, geom geometry(Geometry, 4490))")
        conn.execute("""INSERT INTO cad VALUES
            ('a', ST_GeomFromText('CURVEPOLYGON(CIRCULARSTRING(103 36, 103.001 36.001, 103 36.002, 102.999 36.001, 103 36))', 4490)),
            ('b', ST_GeomFromText('POLYGON((103 36, 103.01 36, 103.01 36.01, 103 36))', 4490)),
            ('c', ST_GeomFromText('MULTISURFACE(CURVEPOLYGON(COMPOUNDCURVE(CIRCULARSTRING(103 36, 103.001 36.001, 103.002 36), (103.002 36, 103 36))))', 4490))""")
        want = [r[0] for r in conn.execute("SELECT ST_Area(ST_CurveToLine(geom, 4096, 0)::geography) FROM cad ORDER BY parcel_id")]
    for url in (pg.url(db, table="cad"), pg.url(db) + "&sql=SELECT parcel_id, geom FROM cad ORDER BY parcel_id"):
        r = gio.read(url)
        assert r.frame["parcel_id"].tolist() == ["a", "b", "c"] and r.frame.crs.to_epsg() == 4490
        got = area_m2(r.frame.geometry).to_numpy()
        np.testing.assert_allclose(got, want, rtol=2e-6)
        curved = r.findings[r.findings["check"] == "curve_linearised"]
        assert curved["row"].tolist() == [1, 3]
    code, out, err = run_cli("areas", pg.url(db, table="cad"))
    assert code == 0, err


def test_copy_messages_stay_small_for_huge_geometries():
    """A COPY message holds at most 50 000 rows and about 16 MB: district boundaries of megabytes a row go a
    few rows at a time (the binary layout makes an index of eight bytes per byte of each message)."""
    import pyarrow as pa

    from gis.store._copy import chunk_rows, wkb_binary

    ring = shapely.Polygon(np.column_stack([np.cos(np.linspace(0, 2 * np.pi, 200_000)),
                                            np.sin(np.linspace(0, 2 * np.pi, 200_000))]))
    big = pa.table({"geom": wkb_binary(np.array([ring] * 12, dtype=object))})  # 3.2 MB a row
    assert 1 <= chunk_rows(big) <= 6
    small = pa.table({"a": pa.array(np.arange(200_000, dtype=np.int64))})
    assert chunk_rows(small) == 50_000 and chunk_rows(small.slice(0, 0)) == 50_000


def test_multipolygon_splice_chunk_by_chunk_keeps_nulls_and_parts(monkeypatch):
    """Polygons become MultiPolygons of one part a chunk at a time (bounded memory): nulls stay where they
    were across chunk edges, a MultiPolygon keeps its parts."""
    import gis.store._copy as copy

    monkeypatch.setattr(copy, "_CHUNK_ROWS", 7)
    g = np.array([shapely.box(i, 0, i + 1, 1) if i % 5 else None for i in range(30)], dtype=object)
    g[3] = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    out = copy.wkb_binary(g, multi=True)
    back = [None if v is None else shapely.from_wkb(v) for v in out.to_pylist()]
    assert [b is None for b in back] == [x is None for x in g]
    for b, x in zip(back, g):
        if x is not None:
            assert b.geom_type == "MultiPolygon" and b.equals(x if x.geom_type == "MultiPolygon" else shapely.MultiPolygon([x]))


def test_one_part_multipolygons_unwrapped_in_any_byte_order():
    """The store's one-part MultiPolygons are read as their Polygon by cutting the WKB header: little and
    big endian, with and without SRID; several parts, Polygons and nulls stay as they are."""
    import pyarrow as pa

    from gis.store._read import _geometries

    one = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)])
    with_srid = shapely.set_srid(one, 4490)
    values = [shapely.to_wkb(one, byte_order=1), shapely.to_wkb(one, byte_order=0),
              shapely.to_wkb(with_srid, byte_order=1, include_srid=True),
              shapely.to_wkb(with_srid, byte_order=0, include_srid=True), None,
              shapely.to_wkb(two, byte_order=1), shapely.to_wkb(shapely.box(5, 5, 6, 6), byte_order=0)]
    arr = pa.array(values, type=pa.binary())
    for column in (arr, arr.slice(1)):
        got, notes = _geometries(column, single_parts=True)
        assert notes == {}
        want = [None if v is None else shapely.from_wkb(v) for v in column.to_pylist()]
        want = [w.geoms[0] if w is not None and w.geom_type == "MultiPolygon" and len(w.geoms) == 1 else w for w in want]
        assert [None if g is None else g.wkt for g in got] == [None if w is None else w.wkt for w in want]
    assert [g.geom_type for g in _geometries(arr, single_parts=False)[0] if g is not None][:4] == ["MultiPolygon"] * 4


def test_plain_table_needs_overwrite_and_query_reads(pg, db):
    from gis.store.io import read_source, write_source

    url = _t(pg.url(db), "t")
    write_source(make_parcels(4), url)
    with pytest.raises(OutputExistsError):
        write_source(make_parcels(2), url)
    write_source(make_parcels(2), url, overwrite=True)
    assert len(read_source(url)) == 2
    q = read_source(pg.url(db) + "&sql=SELECT parcel_id, geom FROM t WHERE park_id = 'park.b'")
    assert q["parcel_id"].tolist() == ["P002"] and q.crs.to_epsg() == 4490
    with pytest.raises(LayerNotFoundError, match="no table 'nope'"):
        read_source(pg.url(db), layer="nope")


def test_killed_write_leaves_the_previous_table(pg, db, tmp_path):
    """A writer killed with the new rows staged (its transaction open) leaves the old table as it was."""
    from gis.store.io import read_source, write_source

    for table in ("plain", "parcels"):
        url = _t(pg.url(db), table)
        if table == "parcels":
            from gis.store.schema import init_store

            init_store(pg.url(db))
        write_source(make_parcels(4), url)
        script = tmp_path / f"writer_{table}.py"
        script.write_text(textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
            import gis.store.io as sio
            from test_store import make_parcels
            def hang(conn, staging):
                print("STAGED", staging, flush=True)
                time.sleep(120)
            sio._before_swap = hang
            sio.write_source(make_parcels(40), {url!r}, overwrite=True)
        """))
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("STAGED"), proc.stderr.read()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        back = read_source(url)
        assert sorted(back["parcel_id"]) == ["P001", "P002", "P003", "P004"]
        with pg.admin(db) as conn:
            left = conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s", ["%parkgis_stage%"]).fetchone()[0]
        assert left == 0


# --------------------------------------------------------------------------------------- the store
def test_store_parcels_keep_parkgis_area_and_read_back_in_4490(store):
    from gis.area import area_m2
    from gis.store.io import read_source, write_source

    frame = make_parcels().to_crs("EPSG:4544")  # reprojected to the store's CGCS2000 on the way in
    two = frame.geometry.iloc[5]
    frame.loc[frame.index[5], "geometry"] = shapely.MultiPolygon([two, shapely.affinity.translate(two, 0, 300)])
    write_source(frame, _t(store, "parcels"))
    back = read_source(_t(store, "parcels")).set_index("parcel_id")
    assert back.crs.to_epsg() == 4490
    assert back.geometry.geom_type.tolist() == ["Polygon"] * 5 + ["MultiPolygon"]  # as written
    sdb = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    with _pg.cluster().admin(sdb) as conn:
        assert conn.execute("SELECT DISTINCT GeometryType(geom) FROM parcels").fetchall() == [("MULTIPOLYGON",)]
    expected = area_m2(frame).to_numpy() / MU_M2
    np.testing.assert_allclose(back.loc[frame["parcel_id"], "area_mu"].to_numpy(), expected, rtol=1e-12)
    reference = np.array([geod_area_mu(g) for g in frame.to_crs(4490).geometry])  # independent: pyproj geodesic
    np.testing.assert_allclose(back.loc[frame["parcel_id"], "area_mu"].to_numpy(), reference, rtol=1e-6)
    assert "fid" not in back.columns and "measured_at" not in back.columns
    when = read_source(store + "&sql=SELECT parcel_id, measured_at, geom FROM parcels")["measured_at"]
    assert isinstance(when.dtype, pd.DatetimeTZDtype) and when.notna().all()


def test_store_refuses_duplicate_ids_invalid_geometry_and_rows_without_a_park(store):
    from gis.store.io import read_source, write_source

    url = _t(store, "parcels")
    dup = make_parcels(3)
    dup.loc[2, "parcel_id"] = "P001"
    with pytest.raises(InputError, match="P001"):
        write_source(dup, url)
    bad = make_parcels(3)
    bad.loc[1, "geometry"] = shapely.Polygon([(103.6, 36.5), (103.61, 36.51), (103.61, 36.5), (103.6, 36.51)])
    with pytest.raises(InputError, match="invalid.*P002"):
        write_source(bad, url)
    nopark = make_parcels(3)
    nopark.loc[0, "park_id"] = None
    with pytest.raises(InputError, match="park_id"):
        write_source(nopark, url)
    assert len(read_source(url)) == 0  # nothing half-written


def test_reload_records_only_real_changes_in_history(store, pg):
    from gis.store.io import write_source
    from gis.store.maintain import history

    url = _t(store, "parcels")
    first = make_parcels(4)
    write_source(first, url)
    with pytest.raises(OutputExistsError):
        write_source(first, url)
    second = first[first["parcel_id"] != "P004"].copy()
    second.loc[second["parcel_id"] == "P002", "status"] = "idle"
    p3 = second.index[second["parcel_id"] == "P003"][0]
    second.loc[p3, "geometry"] = shapely.affinity.scale(second.loc[p3, "geometry"], 1.01, 1.0)
    write_source(second, url, overwrite=True)
    db = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    with pg.admin(db) as conn:
        ops = dict(conn.execute("SELECT operation, count(*) FROM history GROUP BY 1").fetchall())
    assert ops == {"INSERT": 4, "UPDATE": 2, "DELETE": 1}
    h = history(store, "P002")
    assert h["operation"].tolist() == ["INSERT", "UPDATE"]
    assert "status: built → idle" in h["changes"].iloc[1]
    # an inserted row is stored once (as the next entry's "before"), yet shown as inserted
    assert json.loads(h["after"].iloc[0])["status"] == "built" and h["changes"].iloc[0].startswith("created")
    unchanged = history(store, "P001")
    assert unchanged["operation"].tolist() == ["INSERT"]
    assert json.loads(unchanged["after"].iloc[0])["parcel_id"] == "P001" and "geom" not in json.loads(unchanged["after"].iloc[0])
    with pg.admin(db) as conn:
        copies = conn.execute("SELECT count(*) FROM history WHERE operation = 'INSERT' AND (after IS NOT NULL "
                              "OR geom_after IS NOT NULL)").fetchone()[0]
    assert copies == 0
    assert set(h["who"]) == {"postgres"}
    assert history(store, "P004")["operation"].tolist() == ["INSERT", "DELETE"]
    p3_change = history(store, "P003")["changes"].iloc[-1]
    assert p3_change.startswith("geometry changed; area_mu ") and "status" not in p3_change


def test_check_areas_flags_a_geometry_edited_after_measurement(store, pg):
    from gis.store.io import write_source
    from gis.store.maintain import check_areas

    write_source(make_parcels(4), _t(store, "parcels"))
    before = check_areas(store)
    assert before["agrees"].all() and before["rel_diff"].max() < 1e-5
    db = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    with pg.admin(db) as conn:  # what an edit in QGIS does: geometry changed, area_mu left as it was
        conn.execute("UPDATE parcels SET geom = ST_Multi(ST_Scale(geom, 'POINT(1.001 1.001)'::geometry, "
                     "ST_Centroid(geom))) WHERE parcel_id = 'P003'")
        conn.execute("UPDATE parcels SET area_mu = NULL WHERE parcel_id = 'P001'")
    after = check_areas(store).set_index("parcel_id")
    assert after["agrees"].to_dict() == {"P001": False, "P002": True, "P003": False, "P004": True}
    assert after.loc["P003", "rel_diff"] == pytest.approx(1 - 1 / 1.001**2, rel=1e-3)  # |stored - now| / now
    assert after.loc["P001", "reason"] == "never measured"


# --------------------------------------------------------------------------------------- roles
def _user(pg, kind):
    name, pw = f"{kind}_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    pg.add_user(name, pw)
    return name, pw


def _as(pg, store, user, pw):
    import psycopg

    db = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    return psycopg.connect(pg.url(db, user, pw), autocommit=True)


def test_editor_changes_only_its_park_and_reader_changes_nothing(store, pg):
    import psycopg

    from gis.store.io import write_source
    from gis.store.maintain import history
    from gis.store.roles import grant

    write_source(make_parcels(4), _t(store, "parcels"))
    ana, ana_pw = _user(pg, "ana")
    rea, rea_pw = _user(pg, "rea")
    aud, aud_pw = _user(pg, "aud")
    assert grant(store, "editor", ana, park="park.a") == "parkgis_editor_park.a"
    grant(store, "reader", rea)
    grant(store, "auditor", aud)
    with _as(pg, store, ana, ana_pw) as conn:
        other = conn.execute("UPDATE parcels SET status = 'idle' WHERE parcel_id = 'P002'")  # P002 is park.b
        assert other.rowcount == 0
        own = conn.execute("UPDATE parcels SET status = 'idle' WHERE parcel_id = 'P001'")  # P001 is park.a
        assert own.rowcount == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # moving a parcel into park B: refused
            conn.execute("UPDATE parcels SET park_id = 'park.b' WHERE parcel_id = 'P001'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO audit_runs (run_id, n_parcels, n_findings) VALUES ('x', 0, 0)")
        new = "SELECT %s, %s, geom FROM parcels WHERE parcel_id = 'P001'"
        conn.execute("INSERT INTO parcels (parcel_id, park_id, geom) " + new, ["A9", "park.a"])  # its own park: fine
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a parcel for park B: refused
            conn.execute("INSERT INTO parcels (parcel_id, park_id, geom) " + new, ["B9", "park.b"])
        assert conn.execute("DELETE FROM parcels WHERE parcel_id IN ('A9', 'P002')").rowcount == 1  # A9 only
        status = dict(conn.execute("SELECT parcel_id, status FROM parcels").fetchall())
    assert status == {"P001": "idle", "P002": "built", "P003": "built", "P004": "built"}
    with _as(pg, store, rea, rea_pw) as conn:
        assert conn.execute("SELECT count(*) FROM parcels").fetchone()[0] == 4
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO parcels (parcel_id, park_id, geom) SELECT 'P9', 'park.a', geom FROM parcels LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE parcels SET status = 'x'")
    with _as(pg, store, aud, aud_pw) as conn:
        conn.execute("INSERT INTO audit_runs (run_id, n_parcels, n_findings) VALUES ('manual', 0, 0)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE parcels SET status = 'x'")
    h = history(store, "P001")
    assert h["operation"].tolist() == ["INSERT", "UPDATE"] and h["who"].tolist() == ["postgres", ana]


def test_names_and_values_with_quotes_and_sql_are_names_and_values(store, pg):
    """Park ids, user names, table and column names carrying SQL stay what they are."""
    from gis.store.io import read_source, write_source
    from gis.store.roles import grant

    evil_park = "p'; DROP TABLE parcels; --"
    evil_user = f"o'hara\"; DROP TABLE parcels; --{uuid.uuid4().hex[:4]}"
    frame = make_parcels(2, parks=(evil_park, "park.b"))
    frame["'; DROP TABLE parcels; --"] = ["a'b", 'c"d']
    write_source(frame, _t(store, "parcels"))
    grant(store, "editor", evil_user, park=evil_park)
    pg.add_user(evil_user, "pw'\"x")
    with _as(pg, store, evil_user, "pw'\"x") as conn:
        assert conn.execute("UPDATE parcels SET status = 'idle'").rowcount == 1  # its own park's parcel only
    back = read_source(_t(store, "parcels")).set_index("parcel_id")
    assert back.loc["P001", "park_id"] == evil_park and back.loc["P001", "status"] == "idle"
    assert back.loc[["P001", "P002"], "'; DROP TABLE parcels; --"].tolist() == ["a'b", 'c"d']
    evil_table = 't"; DROP TABLE parcels; --'
    write_source(frame, store, layer=evil_table)
    assert read_source(store, layer=evil_table)["park_id"].tolist() == [evil_park, "park.b"]
    assert len(read_source(_t(store, "parcels"))) == 2  # still there


# --------------------------------------------------------------------------------------- audit runs
def _audit_result(n=6):
    from gis.audit import audit

    return audit(make_parcels(n), ["lanzhou-etdz"])


def test_two_auditors_write_different_runs_at_once(store, pg, monkeypatch):
    import gis.store.runs as runs
    from gis.store.roles import grant

    users = [_user(pg, "aud") for _ in range(2)]
    for name, _ in users:
        grant(store, "auditor", name)
    db = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    result = _audit_result()
    barrier = threading.Barrier(2, timeout=20)
    real_copy = runs.copy_in

    def copy_together(cur, statement, table):  # both transactions are open, each with its run row written
        n = real_copy(cur, statement, table)
        if "audit_results" in statement.as_string(cur.connection):
            barrier.wait()
        return n

    monkeypatch.setattr(runs, "copy_in", copy_together)
    errors, done = [], []

    def write(i):
        name, pw = users[i]
        try:
            done.append(runs.write_audit_run(result, pg.url(db, name, pw), run=f"2026Q{i + 1}"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(done) == ["2026Q1", "2026Q2"]
    with pg.admin(db) as conn:
        rows = dict(conn.execute("SELECT run_id, created_by FROM audit_runs").fetchall())
        n = dict(conn.execute("SELECT run_id, count(*) FROM audit_results GROUP BY 1").fetchall())
        verdicts = conn.execute("SELECT parcel_id, verdict, result->>'rule:etdz-invest-300' FROM audit_results "
                                "WHERE run_id = '2026Q1' ORDER BY \"row\"").fetchall()
    assert rows == {"2026Q1": users[0][0], "2026Q2": users[1][0]} and n == {"2026Q1": 6, "2026Q2": 6}
    expected = result.parcels[["parcel_id", "verdict", "rule:etdz-invest-300"]].astype(str).values.tolist()
    assert [list(map(str, r)) for r in verdicts] == expected


def test_writing_an_existing_run_needs_overwrite(store, pg):
    from gis.store.runs import list_runs, write_audit_run

    from gis.store.runs import check_run

    result = _audit_result(4)
    assert check_run(store + "&run=r1") == "r1"
    write_audit_run(result, store + "&run=r1")
    with pytest.raises(OutputExistsError, match="r1"):
        check_run(store, run="r1")
    assert check_run(store, run="r1", overwrite=True) == "r1"
    with pytest.raises(InputError, match="name the audit run"):
        check_run(store)
    with pytest.raises(OutputExistsError, match="r1"):
        write_audit_run(result, store, run="r1")
    write_audit_run(_audit_result(2), store, run="r1", overwrite=True)
    runs = list_runs(store)
    assert runs["run_id"].tolist() == ["r1"] and runs["n_parcels"].tolist() == [2]


# --------------------------------------------------------------------------------------- bad input
def test_bad_sources_are_one_line_errors_with_the_password_hidden(store, pg, db, tmp_path):
    from gis.store.io import read_source
    from gis.store.maintain import check_areas

    name, pw = _user(pg, "eve")
    sdb = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    cases = [
        (f"postgresql://{name}:{pw}@/{sdb}?host={tmp_path}&table=parcels", InputError, "cannot reach the server"),
        (pg.url(sdb, name, "wrong-" + pw, table="parcels"), InputError, "wrong user name or password"),
        (pg.url(pg.new_database(postgis=False), name, pw, table="parcels"), InputError, "no PostGIS extension"),
    ]
    for url, kind, text in cases:
        with pytest.raises(kind, match=text) as info:
            read_source(url)
        msg = str(info.value)
        assert "\n" not in msg and pw not in msg and "***" in msg
    with pg.admin(sdb) as conn:
        conn.execute("CREATE TABLE notes (id int, text text)")
        conn.execute("CREATE TABLE mercator (id int, geom geometry(Polygon, 3857))")
        conn.execute("CREATE SCHEMA other")
    with pytest.raises(InputError, match="no geometry column"):
        read_source(_t(store, "notes"))
    with pytest.raises(InputError, match=r"sql=.*: division by zero$"):  # fails while the rows stream
        read_source(store + "&sql=SELECT 1 / (g - 2) AS x, geom FROM generate_series(1, 3) g, "
                            "(SELECT ST_SetSRID(ST_MakePoint(103.6, 36.5), 4490) AS geom) p")
    with pytest.raises(CRSError, match="SRID 3857.*EPSG:4490"):
        read_source(_t(store, "mercator"))
    with pytest.raises(InputError, match="not a parkgis store"):
        check_areas(pg.url(pg.new_database()))
    from gis.store.schema import init_store

    init_store(store + "&schema=s2")
    with pg.admin(sdb) as conn:  # somebody replaced the store's parcels with a table of their own
        conn.execute("DROP TABLE s2.parcels CASCADE")
        conn.execute("CREATE TABLE s2.parcels (name text, geom geometry(MultiPolygon, 4490))")
    with pytest.raises(InputError, match="not the store's parcels table"):
        read_source(store + "&schema=s2&table=parcels")
    from gis.store.io import write_source

    with pytest.raises(InputError, match="not the store's parcels table"):
        write_source(make_parcels(2), store + "&schema=s2&table=parcels", overwrite=True)


def test_credentials_from_pgpass_and_never_in_logs(store, pg, tmp_path, monkeypatch, caplog):
    from gis.store.io import read_source, write_source

    name, pw = _user(pg, "pat")
    sdb = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    with pg.admin(sdb) as conn:
        conn.execute(f'GRANT CREATE ON SCHEMA public TO "{name}"')
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{name}:{pw}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    write_source(make_parcels(2), pg.url(sdb, name, table="mine"))  # no password in the URL: .pgpass has it
    monkeypatch.delenv("PGPASSFILE")
    caplog.set_level(logging.DEBUG)
    url = pg.url(sdb, name, pw, table="mine")
    assert len(read_source(url)) == 2
    assert caplog.records and not any(pw in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("PGPASSWORD", pw)
    assert len(read_source(pg.url(sdb, name, table="mine"))) == 2


# --------------------------------------------------------------------------------------- QGIS styles
def test_default_styles_for_qgis(store, pg, tmp_path):
    from gis.landuse import colour_of
    from gis.store.styles import write_gpkg_style

    sdb = parse_url(store).conninfo.split("/")[-1].split("?")[0]
    with pg.admin(sdb) as conn:
        rows = conn.execute("SELECT f_table_schema, f_table_name, f_geometry_column, useasdefault, styleqml::text "
                            "FROM public.layer_styles ORDER BY f_table_name").fetchall()
    assert [r[:4] for r in rows] == [("public", "parcels", "geom", True), ("public", "zones", "geom", True)]
    qml = ET.fromstring(rows[0][4].split("\n", 1)[1] if rows[0][4].startswith("<!DOCTYPE") else rows[0][4])
    renderer = qml.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "land_use"
    industrial = colour_of("M1").lstrip("#")  # the maps' own colour for M1 (one colour table)
    rgb = ",".join(str(int(industrial[i:i + 2], 16)) for i in (0, 2, 4))
    m1 = next(c for c in renderer.iter("category") if c.get("value") == "M1")
    symbol = next(s for s in renderer.iter("symbol") if s.get("name") == m1.get("symbol"))
    colour = next(o.get("value") for o in symbol.iter("Option") if o.get("name") == "color")
    assert colour == rgb + ",255"
    assert qml.find("labeling/settings/text-style").get("fieldName") == "parcel_id"
    gpkg = tmp_path / "p.gpkg"
    make_parcels(2).to_file(gpkg, layer="parcels")
    write_gpkg_style(gpkg, "parcels")
    import sqlite3

    with sqlite3.connect(gpkg) as con:
        assert con.execute("SELECT f_table_name, useAsDefault FROM layer_styles").fetchall() == [("parcels", 1)]
        assert con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone() == ("attributes",)

