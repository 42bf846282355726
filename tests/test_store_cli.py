"""``parkgis db …`` and postgresql:// URLs on the command line, against the throwaway cluster of tests/_pg.py."""

from __future__ import annotations


import pytest
import shapely



import _pg  # noqa: E402  (tests/_pg.py: the throwaway cluster, one per test session)


@pytest.fixture(scope="session")
def pg():
    return _pg.cluster()


def _parcels(n=4):
    import geopandas as gpd

    d = 0.0011
    return gpd.GeoDataFrame({"parcel_id": [f"C{i}" for i in range(n)], "park_id": ["park.a", "park.b"] * (n // 2),
                             "land_use": ["M1"] * n, "status": ["built"] * n, "investment_wan": [3000.0] * n},
                            geometry=[shapely.box(103.62 + i * d, 36.58, 103.62 + (i + 1) * d - 1e-5, 36.5812)
                                      for i in range(n)], crs="EPSG:4490")


def test_team_workflow_on_the_command_line(pg, run_cli, tmp_path):
    db = pg.new_database()
    url = f"postgresql:///{db}?host={pg.socket}&user=postgres"  # the host-less form, socket folder as a parameter
    gpkg = tmp_path / "parcels.gpkg"
    _parcels().to_file(gpkg, layer="parcels")
    assert run_cli("db", "init", url)[0] == 0
    code, out, _ = run_cli("db", "load", gpkg, url)
    assert code == 0 and "loaded 4 rows into parcels" in out
    code, _, err = run_cli("db", "load", gpkg, url)
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    changed = _parcels()
    changed.loc[1, "status"] = "idle"
    changed.to_file(gpkg, layer="parcels")
    assert run_cli("db", "load", gpkg, url, "--overwrite")[0] == 0
    code, out, _ = run_cli("db", "history", url, "--parcel", "C1")
    assert code == 0 and "INSERT" in out and "status: built → idle" in out
    assert run_cli("db", "grant", url, "editor", "cli_ed")[0] == 2  # an editor needs --park
    code, out, _ = run_cli("db", "grant", url, "editor", "cli_ed", "--park", "park.a")
    assert code == 0 and "parkgis_editor_park.a" in out
    assert run_cli("db", "check", url)[0] == 0
    with pg.admin(db) as conn:
        conn.execute("UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, 0.0001, 'join=mitre')) WHERE parcel_id = 'C2'")
    code, out, _ = run_cli("db", "check", url)
    assert code == 1 and "C2" in out and "C1" not in out.split("disagree")[1]
    code, out, _ = run_cli("db", "check", url, "--remeasure")
    assert code == 0 and "remeasured 1 parcels" in out
    assert run_cli("db", "check", url)[0] == 0
    code, out, _ = run_cli("db", "history", url, "--parcel", "C2")
    assert "geometry changed" in out and "area_mu" in out.split("geometry changed")[-1]
    code, out, _ = run_cli("db", "audit", url, "--run", "2026Q3", "--rules", "lanzhou-etdz")
    assert code == 0 and "audit run 2026Q3" in out
    code, _, err = run_cli("db", "audit", url, "--run", "2026Q3", "--rules", "lanzhou-etdz")
    assert code == 2 and "2026Q3" in err and "--overwrite" in err
    assert run_cli("db", "audit", url, "--run", "2026Q3", "--rules", "lanzhou-etdz", "--overwrite")[0] == 0
    code, out, _ = run_cli("db", "runs", url)
    assert code == 0 and out.count("2026Q3") == 1


def test_bad_urls_exit_2_in_one_line_with_the_password_hidden(pg, run_cli, tmp_path):
    code, _, err = run_cli("db", "check", f"postgresql://ana:topsecret@/nodb?host={tmp_path}")
    assert code == 2 and "topsecret" not in err and "ana:***@" in err and len(err.strip().splitlines()) == 1
    db = pg.new_database()
    code, _, err = run_cli("db", "history", pg.url(db), "--parcel", "x")
    assert code == 2 and "not a parkgis store" in err


@pytest.fixture
def store_db(pg):
    """A new store database holding the four parcels of :func:`_parcels`."""
    from gis.store.io import write_source
    from gis.store.schema import init_store

    db = pg.new_database()
    init_store(pg.url(db))
    write_source(_parcels(), pg.url(db, table="parcels"))
    return db


def test_areas_and_audit_read_the_store_through_the_io_core(pg, store_db, run_cli, tmp_path):
    from gis.store.io import read_source

    db = store_db
    src = pg.url(db, table="parcels")
    code, out, err = run_cli("areas", src)
    assert code == 0, err
    assert "C0" in out and "C3" in out
    code, _, err = run_cli("audit", src, "--rules", "lanzhou-etdz", "--out", tmp_path / "audit.xlsx", "--lang", "raw")
    assert code == 0, err
    import pandas as pd

    sheet = pd.read_excel(tmp_path / "audit.xlsx", sheet_name="parcels")
    assert sorted(sheet["parcel_id"]) == ["C0", "C1", "C2", "C3"]
    # and a database is a sink: the areas of a file written to a table, then read back
    gpkg = tmp_path / "p.gpkg"
    _parcels().to_file(gpkg)
    out = pg.url(db, table="areas_out")
    code, _, err = run_cli("areas", gpkg, "--out", out)
    assert code == 0, err
    back = read_source(out)
    assert sorted(back["parcel_id"]) == ["C0", "C1", "C2", "C3"] and back["area_mu"].gt(0).all()
    code, _, err = run_cli("areas", gpkg, "--out", out)
    assert code == 2 and "--overwrite" in err


def test_audit_writes_a_run_to_the_store_with_out_url(pg, store_db, run_cli, tmp_path):
    db = store_db
    src = pg.url(db, table="parcels")
    sink = pg.url(db, run="2026Q4")
    code, out, err = run_cli("audit", src, "--rules", "lanzhou-etdz", "--out", sink)
    assert code == 0, err
    assert "run 2026Q4" in out
    code, _, err = run_cli("audit", src, "--rules", "lanzhou-etdz", "--out", sink)  # refused before any work
    assert code == 2 and "2026Q4" in err and "--overwrite" in err
    code, out, _ = run_cli("db", "runs", pg.url(db))
    assert code == 0 and out.count("2026Q4") == 1
