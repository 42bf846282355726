"""The dask engine: a partitioned dataset audited on a cluster equals the in-memory audit of the whole layer;
bad partitions, an unreachable scheduler and a dying worker end cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

distributed = pytest.importorskip("distributed", reason="the dask engine needs the scale extra (dask.distributed)")

from gis.audit import audit  # noqa: E402
from gis.dask_engine import EngineError, areas_dataset, audit_dataset, check_dataset, connect, read_dataset  # noqa: E402
from gis.errors import InputError  # noqa: E402
from gis.io import read  # noqa: E402

PACKS = ["lanzhou-etdz", "gb-2008", "huaian-2024"]  # parcel rules, summary rules, a score classed by rank


def make_parcels(n: int, seed: int = 3) -> gpd.GeoDataFrame:
    """N lon/lat parcels with every kind of value an audit meets: missing and unknown codes, Chinese status
    words, duplicate ids (also across partitions), parcels in no zone."""
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x = 103.5 + (i % cols) * 0.004
    y = 36.0 + (i // cols) * 0.004
    w = rng.uniform(0.0005, 0.003, n)
    geoms = shapely.box(x, y, x + w, y + w * rng.uniform(0.7, 1.3, n))
    mu = rng.uniform(1, 150, n)
    inv = mu * rng.lognormal(np.log(320), 0.4, n)
    inv[rng.random(n) < 0.03] = np.nan
    ids = np.char.add("P", i.astype(str)).astype(object)
    k = max(2, n // 1000)
    dup = rng.choice(n, 2 * k, replace=False)
    ids[dup[:k]] = ids[dup[k:]]
    return gpd.GeoDataFrame({
        "parcel_id": ids, "park_id": rng.choice(["park.a", "park.b", "park.c"], n),
        "zone_id": np.where(rng.random(n) < 0.02, None, np.char.add("z", rng.integers(0, 20, n).astype(str))),
        "phase": rng.choice(["一期", "二期"], n),
        "land_use": rng.choice(np.array(["M1", "M2", "100101", "B1", "R2", "Z9", None], dtype=object), n,
                               p=[.3, .2, .15, .15, .1, .05, .05]),
        "status": rng.choice(["built", "supplied", "planned", "idle", "建成"], n, p=[.6, .1, .1, .1, .1]),
        "industry_code": rng.choice(["27", "35", "14"], n),
        "investment_wan": inv, "output_wan": inv * rng.uniform(.5, 2, n), "tax_wan": mu * rng.uniform(5, 30, n),
        "floor_area_m2": mu * 666.7 * rng.uniform(.3, 2, n), "footprint_m2": mu * 666.7 * rng.uniform(.2, .6, n),
        "green_m2": mu * 666.7 * rng.uniform(0, .25, n), "admin_area_m2": mu * 666.7 * rng.uniform(0, .12, n),
        "declared_area_mu": mu, "value_added_wan": inv * .3, "energy_tce": mu * rng.uniform(1, 5, n),
        "employees": rng.integers(1, 300, n).astype(float), "sales_wan": inv * 1.5,
    }, geometry=geoms, crs="EPSG:4490")


def write_dataset(gdf, folder: Path, k: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for j, rows in enumerate(np.array_split(np.arange(len(gdf)), k)):
        gdf.iloc[rows].to_parquet(folder / f"part-{j:03d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def client():
    with connect(workers=2, processes=False) as c:
        yield c


def _findings_set(f: pd.DataFrame) -> set:
    return set(map(tuple, f.astype(str).to_numpy()))


def assert_same_audit(mem, dsk):
    a, b = mem.parcels.reset_index(drop=True), dsk.parcels.reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for c in a.columns:
        if c == a.geometry.name:
            assert a.geometry.geom_equals_exact(b.geometry, 0).all()
        else:  # exactly: the same numbers, verdicts and classes (NaN where NaN)
            pd.testing.assert_series_equal(a[c].astype(object), b[c].astype(object), check_names=False, obj=c)
    s1, s2 = mem.summary, dsk.summary
    assert list(s1.columns) == list(s2.columns)
    assert (s1[["level", "group"]].astype(str).to_numpy() == s2[["level", "group"]].astype(str).to_numpy()).all()
    for c in s1.columns[2:]:
        x, y = s1[c], s2[c]
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            x, y = x.to_numpy(dtype="float64"), y.to_numpy(dtype="float64")
            assert np.array_equal(np.isnan(x), np.isnan(y)), c
            ok = ~np.isnan(x)
            assert np.all(np.abs(x[ok] - y[ok]) <= 1e-12 * np.maximum(np.abs(x[ok]), 1e-300)), c
        else:
            assert (x.astype(str).to_numpy() == y.astype(str).to_numpy()).all(), c
    assert _findings_set(mem.findings) == _findings_set(dsk.findings)
    assert len(mem.findings) == len(dsk.findings)
    pd.testing.assert_frame_equal(mem.rules, dsk.rules)
    pd.testing.assert_frame_equal(mem.indicators, dsk.indicators)
    pd.testing.assert_frame_equal(mem.verdict_counts(), dsk.verdict_counts())


def test_200k_parcels_in_8_partitions_equal_the_in_memory_audit(tmp_path, client):
    gdf = make_parcels(200_000)
    ds = write_dataset(gdf, tmp_path / "ds", 8)
    mem = audit(read(ds).frame, PACKS, by=["industry_code"])
    dsk = audit_dataset(ds, PACKS, by=["industry_code"], client=client, keep_parcels=True)
    assert_same_audit(mem, dsk)
    # the layer's duplicates are found across partitions, each on its own rows of the layer
    dup = dsk.findings[dsk.findings["check"] == "duplicate_parcel_id"]
    ids = gdf["parcel_id"]
    assert sorted(dup["row"].to_numpy() - 1) == sorted(np.flatnonzero(ids.duplicated(keep=False).to_numpy()))
    bounds = np.cumsum([0] + [len(p) for p in np.array_split(np.arange(len(gdf)), 8)])
    part_of = np.searchsorted(bounds, dup["row"].to_numpy() - 1, side="right")
    assert len(set(part_of)) > 1  # not only duplicates within one partition
    # rank classes over the whole layer: A is the top 20 % of the evaluated parcels, not of each partition
    klass = dsk.parcels["class:huaian-mujun"]
    n_eval = int(np.isfinite(dsk.parcels["score:huaian-mujun"]).sum())
    assert abs(int((klass == "A").sum()) - round(0.2 * n_eval)) <= 2


def test_hive_partitions_and_a_glob(tmp_path, client):
    gdf = make_parcels(3000, seed=5).drop(columns="park_id")
    park = np.repeat(["park.a", "park.b", "park.c"], 1000)
    root = tmp_path / "hive"
    for p in np.unique(park):
        write_dataset(gdf[park == p], root / f"park_id={p}", 2)
    whole = read_dataset(root)  # gis.io.read reads a flat folder of partitions, not nested hive folders
    assert "park_id" in whole.columns and len(whole) == 3000
    mem = audit(whole, ["lanzhou-etdz"])
    dsk = audit_dataset(root, ["lanzhou-etdz"], client=client, keep_parcels=True)
    assert_same_audit(mem, dsk)
    assert set(dsk.summary.loc[dsk.summary["level"] == "park_id", "group"]) == {"park.a", "park.b", "park.c"}
    globbed = audit_dataset(str(root / "park_id=park.a" / "*.parquet"), ["lanzhou-etdz"], client=client)
    assert int(globbed.summary["n_parcels"].iloc[0]) == 1000


def test_partitions_that_disagree_in_schema_or_crs_are_named(tmp_path):
    gdf = make_parcels(200)
    ds = write_dataset(gdf, tmp_path / "schema", 2)
    gdf.iloc[:10].assign(extra=1.0).to_parquet(ds / "part-009.parquet", index=False)
    with pytest.raises(InputError, match=r"partition part-009.parquet has extra \(unlike part-000.parquet\)"):
        check_dataset(ds)
    ds2 = write_dataset(gdf, tmp_path / "crs", 2)
    gdf.iloc[:10].to_crs("EPSG:4544").to_parquet(ds2 / "part-005.parquet", index=False)
    with pytest.raises(InputError, match=r"partition part-005.parquet is in EPSG:4544, part-000.parquet in EPSG:4490"):
        check_dataset(ds2)
    ds3 = write_dataset(gdf, tmp_path / "types", 2)
    gdf.iloc[:10].assign(investment_wan=gdf["investment_wan"].iloc[:10].astype(str)).to_parquet(ds3 / "part-007.parquet")
    with pytest.raises(InputError, match=r"partition part-007.parquet has investment_wan as (large_)?string, part-000.parquet as double"):
        check_dataset(ds3)


def test_cli_audit_of_a_dataset_writes_a_folder_atomically(tmp_path, run_cli):
    gdf = make_parcels(4000, seed=11)
    ds = write_dataset(gdf, tmp_path / "ds", 3)
    code, out, err = run_cli("audit", str(ds), "--rules", "lanzhou-etdz", "--by", "zone_id", "--workers", "1",
                             "--out", str(tmp_path / "result") + "/")
    assert code == 0, err
    parts = sorted((tmp_path / "result" / "parcels").glob("*.parquet"))
    assert len(parts) == 3
    back = read(tmp_path / "result" / "parcels").frame
    mem = audit(read(ds).frame, ["lanzhou-etdz"], by=["zone_id"])
    assert back["row"].tolist() == list(range(1, 4001))
    assert back["verdict"].astype(str).tolist() == mem.parcels["verdict"].astype(str).tolist()
    summary = pd.read_csv(tmp_path / "result" / "summary.csv")
    assert np.allclose(summary["area_mu"], mem.summary["area_mu"], rtol=1e-12)
    on_disk = pd.concat([pd.read_parquet(tmp_path / "result" / "findings"), pd.read_csv(tmp_path / "result" / "findings.csv")])
    assert len(on_disk) == len(mem.findings)
    key = ["row", "check", "severity", "column"]
    assert (set(map(tuple, on_disk[key].astype(str).to_numpy()))
            == set(map(tuple, mem.findings[key].astype(str).to_numpy())))
    assert "Findings (" + str(len(mem.findings)) + ")" in out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    # the memory engine writes the same folder from one frame
    code, out, err = run_cli("audit", str(ds), "--rules", "lanzhou-etdz", "--by", "zone_id", "--engine", "memory",
                             "--out", str(tmp_path / "mem"))
    assert code == 0, err
    back_mem = read(tmp_path / "mem" / "parcels").frame
    assert back_mem.drop(columns="geometry").equals(back.drop(columns="geometry"))
    assert len(pd.read_parquet(tmp_path / "mem" / "findings")) == len(pd.read_parquet(tmp_path / "result" / "findings"))
    s_mem = pd.read_csv(tmp_path / "mem" / "summary.csv")
    num = s_mem.select_dtypes("number").columns
    assert np.allclose(s_mem[num], summary[num], rtol=1e-12, equal_nan=True)  # the sums of 3 partitions vs one
    # a file name is refused for the dask engine (it writes a folder), before any work
    code, out, err = run_cli("audit", str(ds), "--out", str(tmp_path / "a.xlsx"))
    assert code == 2 and "writes a folder" in err and len(err.strip().splitlines()) == 1


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, run_cli):
    import dask

    ds = write_dataset(make_parcels(50), tmp_path / "ds", 1)
    with pytest.raises(EngineError, match="cannot reach the dask scheduler at tcp://127.0.0.1:9"):
        with connect("tcp://127.0.0.1:9", timeout_s=1):
            pass
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code, out, err = run_cli("audit", str(ds), "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o") + "/")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "cannot reach the dask scheduler" in err
    assert not (tmp_path / "o").exists()


class _KillOnce(distributed.WorkerPlugin):
    """Ends its worker's process the first time (or every time) a task of the audit's last pass starts."""

    def __init__(self, marker: str, always: bool = False):
        self.marker, self.always = marker, always

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kw):
        if finish == "executing" and "_finish_task" in str(key):
            if self.always or not os.path.exists(self.marker):
                Path(self.marker).write_text("killed")
                os._exit(1)


@pytest.fixture
def fresh_logging():
    """No log handler left by an earlier in-process command (its captured stream is closed by now)."""
    import logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [logging.NullHandler()]
    yield
    root.handlers[:] = saved


def test_a_worker_dying_mid_run_is_retried_or_fails_without_output(tmp_path, run_cli, fresh_logging):
    gdf = make_parcels(1500, seed=9)
    ds = write_dataset(gdf, tmp_path / "ds", 3)
    mem = audit(read(ds).frame, ["lanzhou-etdz"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        c.register_plugin(_KillOnce(str(tmp_path / "marker")))
        dsk = audit_dataset(ds, ["lanzhou-etdz"], client=c, keep_parcels=True)
        assert (tmp_path / "marker").exists()  # a worker did die
        assert_same_audit(mem, dsk)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        c.register_plugin(_KillOnce(str(tmp_path / "marker2"), always=True))
        code, out, err = run_cli("audit", str(ds), "--rules", "lanzhou-etdz", "--scheduler", cluster.scheduler_address,
                                 "--out", str(tmp_path / "lost") + "/")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "lost the work" in err, err[:3000]
    assert not (tmp_path / "lost").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lost")]


def test_areas_of_a_dataset_equal_the_frame(tmp_path, client):
    from gis.area import add_area_columns, areas_by

    gdf = make_parcels(3000, seed=2)
    ds = write_dataset(gdf, tmp_path / "ds", 4)
    totals, grouped = areas_dataset(ds, by="zone_id", client=client)
    whole = add_area_columns(read(ds).frame)
    assert totals["features"] == 3000
    assert abs(totals["area_m2"] - whole["area_m2"].sum()) <= 1e-12 * whole["area_m2"].sum()
    ref = areas_by(whole, "zone_id")
    assert grouped["zone_id"].astype(str).tolist() == ref["zone_id"].astype(str).tolist()
    assert np.allclose(grouped["area_m2"], ref["area_m2"], rtol=1e-12)
    assert grouped["features"].tolist() == ref["features"].tolist()


def test_cli_areas_of_a_dataset(tmp_path, run_cli):
    from gis.area import add_area_columns

    gdf = make_parcels(1200, seed=4)
    ds = write_dataset(gdf, tmp_path / "ds", 2)
    code, out, err = run_cli("areas", str(ds), "--by", "park_id", "--workers", "1", "--out", str(tmp_path / "by.csv"))
    assert code == 0, err
    by = pd.read_csv(tmp_path / "by.csv")
    ref = add_area_columns(gdf).groupby("park_id")["area_m2"].sum()
    assert np.allclose(by.set_index("park_id")["area_m2"].reindex(ref.index), ref, rtol=1e-12)
    code, out, err = run_cli("-q", "areas", str(ds), "--workers", "1", "--out", str(tmp_path / "measured") + "/")
    assert code == 0, err
    back = read(tmp_path / "measured").frame
    assert len(back) == 1200 and np.allclose(back["area_m2"], add_area_columns(gdf)["area_m2"], rtol=1e-12)
    assert err == ""  # -q: no progress bar, no notes


def test_zones_by_location_and_zone_areas_on_the_engine(tmp_path, client):
    gdf = make_parcels(2000, seed=8).drop(columns="zone_id")
    x0, y0, x1, y1 = gdf.total_bounds
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    zones = gpd.GeoDataFrame({"id": ["zA", "zB", "zC"]}, geometry=[shapely.box(x0, y0, xm, ym), shapely.box(xm, y0, x1, ym),
                                                                 shapely.box(x0, ym, xm, y1)], crs="EPSG:4490")
    ds = write_dataset(gdf, tmp_path / "ds", 3)
    mem = audit(read(ds).frame, ["lanzhou-etdz"], zones=zones)
    dsk = audit_dataset(ds, ["lanzhou-etdz"], zones=zones, client=client, keep_parcels=True)
    assert_same_audit(mem, dsk)
    z = dsk.summary[dsk.summary["level"] == "zone_id"].set_index("group")
    assert z.loc["zA", "zone_area_m2"] > 0 and np.isfinite(z.loc["zA", "land_development_rate"])
    single = audit_dataset(ds / "part-000.parquet", ["lanzhou-etdz"], zones=zones, client=client)
    assert int(single.summary["n_parcels"].iloc[0]) == len(np.array_split(np.arange(2000), 3)[0])
