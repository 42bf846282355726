"""Work split over threads (gis.parallel) gives exactly what one call gives: areas, validity findings,
WKB read and written. The split is forced on small data (MIN_CHUNK lowered, three threads)."""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gis.parallel as par
from gis.area import area_m2
from gis.io import read, write_layer
from gis.validate import validate


@pytest.fixture
def split(monkeypatch):
    """Splitting forced: 3 threads, chunks of 10 rows and up."""
    monkeypatch.setattr(par, "MIN_CHUNK", 10)
    monkeypatch.setenv("PARKGIS_THREADS", "3")


def _serial(monkeypatch):
    monkeypatch.setenv("PARKGIS_THREADS", "1")


def _parcels(n=400, seed=3):
    rng = np.random.default_rng(seed)
    x = 456_000 + rng.uniform(0, 20_000, n)
    y = 4_040_000 + rng.uniform(0, 20_000, n)
    s = rng.uniform(10, 300, n)
    geoms = list(shapely.box(x, y, x + s, y + s * rng.uniform(0.5, 2, n)))
    geoms[5] = shapely.Polygon([(x[5], y[5]), (x[5] + 50, y[5] + 50), (x[5] + 50, y[5]), (x[5], y[5] + 50)])  # bow-tie
    geoms[17] = None
    geoms[18] = shapely.Polygon()
    geoms[40] = shapely.MultiPolygon([shapely.box(x[40], y[40], x[40] + 90, y[40] + 90).difference(
        shapely.box(x[40] + 30, y[40] + 30, x[40] + 60, y[40] + 60)), shapely.box(x[40] + 200, y[40], x[40] + 210, y[40] + 10)])
    ids = [f"P{i:04d}" for i in range(n)]
    ids[300] = ids[299]  # a duplicate id
    return gpd.GeoDataFrame({"parcel_id": ids, "v": rng.uniform(0, 1, n)}, geometry=geoms, crs="EPSG:4544")


def test_chunks_cover_every_row_once_and_only_split_from_the_main_thread(split):
    bounds = par.chunk_bounds(95)
    assert len(bounds) == 3 and bounds[0][0] == 0 and bounds[-1][1] == 95
    assert all(b[1] == c[0] for b, c in zip(bounds, bounds[1:]))
    seen = []
    t = threading.Thread(target=lambda: seen.append(par.chunk_bounds(95)))
    t.start()
    t.join()
    assert seen == [[(0, 95)]]  # inside a worker thread (ours or a dask worker's): no second level of threads
    assert par.chunk_bounds(19) == [(0, 19)]  # too few rows for two chunks of 10


def test_an_error_in_any_chunk_is_raised_after_every_chunk_finished(split):
    finished = []

    def work(a, b):
        if a > 0:
            raise ValueError(f"chunk at {a}")
        finished.append((a, b))
        return b - a

    with pytest.raises(ValueError, match="chunk at"):
        par.map_chunks(work, 90)
    assert finished == [(0, 30)]
    assert par.map_array(np.sqrt, np.arange(100.0)).tolist() == np.sqrt(np.arange(100.0)).tolist()


def test_split_areas_and_validity_equal_one_call(split, monkeypatch):
    gdf = _parcels()
    got = area_m2(gdf).to_numpy()
    found = validate(gdf).findings
    _serial(monkeypatch)
    want = area_m2(gdf).to_numpy()
    np.testing.assert_array_equal(got, want)  # bit for bit: each feature is measured by the same code
    assert np.isnan(got[17]) and got[18] == 0 and np.isfinite(got).sum() == len(gdf) - 1
    pd.testing.assert_frame_equal(found, validate(gdf).findings)
    assert {"invalid_geometry", "duplicate_id"} <= set(found["check"])


def test_split_read_and_write_equal_geopandas(split, tmp_path):
    gdf = _parcels()
    ours = write_layer(gdf, tmp_path / "ours.parquet")
    gdf.to_parquet(tmp_path / "geopandas.parquet")
    back, ref = gpd.read_parquet(ours), gpd.read_parquet(tmp_path / "geopandas.parquet")
    assert list(back.columns) == list(gdf.columns) and back.crs == gdf.crs
    assert back.geometry.isna().tolist() == ref.geometry.isna().tolist()
    both = ~ref.geometry.isna().to_numpy()
    assert shapely.equals_exact(back.geometry.values[both], ref.geometry.values[both], 0).all()
    pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry")))
    r = read(tmp_path / "geopandas.parquet")
    assert len(r.frame) == len(gdf) and r.frame.geometry.iloc[18].is_empty and not len(r.findings)  # empty stays empty
    assert shapely.equals_exact(np.asarray(r.frame.geometry.values)[both], ref.geometry.values[both], 0).all()
