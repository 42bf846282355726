"""Benchmark: `parkgis areas` on N parcels against a bare geopandas script, in the same run.

    python bench/bench_areas.py            # 1 000 000 parcels
    python bench/bench_areas.py 100000     # a quicker run

Both sides run as fresh processes (imports included) on the same GeoParquet and GeoPackage files.
The bare side reads, takes `to_crs(<equal-area Albers>).area` and writes; ours reads, measures on the
ellipsoid, checks every geometry and id, and writes every input column plus four area columns. The
issue's target (issue 11): ours within 1.2× of bare. Prints wall time, ratio and each process's peak memory.

With ``--postgis`` it adds the anchor "PostGIS load + query" on the same parcels in CGCS2000
longitude/latitude: ``ogr2ogr`` GeoPackage → PostGIS (COPY, GiST index) then
``CREATE TABLE … AS SELECT *, ST_Area(geom::geography)``, on a throwaway cluster started as the tests
start theirs (tests/_pg.py), against ``parkgis areas`` of that GeoPackage. Issue 11's target: ours no
slower (at 200 000 parcels).

Measured 2026-12-02 (one run each, little else running): 300 000 parcels GeoParquet 3.21 s vs bare 3.09 s
(1.04), GeoPackage 3.37 vs 3.63 (0.93); 1 000 000 GeoParquet 7.96 vs 8.10 (0.98), GeoPackage 9.01 vs 7.75
(1.16); 200 000 lon/lat GeoPackage: parkgis 2.54 s, PostGIS load + ST_Area 3.57 s (0.71), totals equal to
8.8e-11.

    python bench/bench_areas.py 300000               # bare script, GeoParquet and GeoPackage
    python bench/bench_areas.py 200000 --postgis     # … and the PostGIS anchor
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

BARE = r"""
import resource, sys, geopandas as gpd
src, dst = sys.argv[1], sys.argv[2]
gdf = gpd.read_parquet(src) if src.endswith(".parquet") else gpd.read_file(src, engine="pyogrio", use_arrow=True)
albers = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=GRS80 +units=m"
gdf["area_m2"] = gdf.geometry.to_crs(albers).area
gdf.to_parquet(dst)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

OURS = r"""
import resource, sys
from gis.cli import main
code = main(["-q", "areas", sys.argv[1], "--out", sys.argv[2]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def make_parcels(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """n quadrilateral parcels of 0.5–40 亩 in a grid around 兰州新区, CGCS2000 3° GK CM 105°E."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(rng.uniform(333, 26_667, n))
    cols = int(np.ceil(np.sqrt(n)))
    i, j = np.divmod(np.arange(n), cols)
    x0 = 456_000 + j * 200.0
    y0 = 4_040_000 + i * 200.0
    jitter = rng.uniform(-0.1, 0.1, (n, 4)) * side[:, None]
    xs = np.stack([x0, x0 + side + jitter[:, 0], x0 + side + jitter[:, 1], x0 + jitter[:, 2]], axis=1)
    ys = np.stack([y0, y0 + jitter[:, 3], y0 + side, y0 + side], axis=1)
    rings = np.stack([xs, ys], axis=2)
    rings = np.concatenate([rings, rings[:, :1]], axis=1)
    geoms = shapely.polygons(rings)
    return gpd.GeoDataFrame({"parcel_id": np.char.add("P", np.arange(n).astype(str)),
                             "zone_id": rng.choice(["Z1", "Z2", "Z3", "Z4"], n),
                             "investment_wan": rng.uniform(100, 20_000, n).round(1)},
                            geometry=geoms, crs="EPSG:4544")


def run(script: str, src: Path, dst: Path) -> tuple[float, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, str(src), str(dst)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed: {proc.stderr.strip().splitlines()[-1:]}")
    peak_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return wall, peak_mb


def postgis_row(n: int, gpkg_lonlat: Path, tmp: Path) -> None:
    """ogr2ogr load + ST_Area(geography) on a throwaway cluster, beside `parkgis areas` of the same file."""
    import importlib.util
    import shutil

    import psycopg

    if not shutil.which("ogr2ogr"):
        raise SystemExit("ogr2ogr not found: apt-get install gdal-bin")
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("parkgis_tests_pg", root / "tests" / "_pg.py")
    pg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pg)
    cluster = pg.cluster(shared_buffers="256MB", max_wal_size="4GB")
    url = cluster.url(cluster.new_database())
    from gis.store.url import parse_url

    conninfo = parse_url(url).conninfo
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        i = conn.info
        dsn = f"PG:dbname='{i.dbname}' user='{i.user}' host='{i.host}' port={i.port}"

    def postgis():
        t = time.perf_counter()
        proc = subprocess.run(["ogr2ogr", "-f", "PostgreSQL", dsn, str(gpkg_lonlat), "-nln", "parcels", "-lco",
                               "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST", "-overwrite", "--config",
                               "PG_USE_COPY", "YES"], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"ogr2ogr failed: {proc.stderr.strip()[-500:]}")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS parcel_areas")
            conn.execute("CREATE TABLE parcel_areas AS SELECT *, ST_Area(geom::geography) AS area_m2 FROM parcels")
            total = conn.execute("SELECT sum(area_m2) FROM parcel_areas").fetchone()[0]
        return time.perf_counter() - t, total

    t_pg, total_pg = min((postgis() for _ in range(2)), key=lambda r: r[0])
    t_ours = min(run(OURS, gpkg_lonlat, tmp / f"ours_lonlat_{k}.parquet")[0] for k in range(2))
    total_ours = gpd.read_parquet(tmp / "ours_lonlat_1.parquet")["area_m2"].sum()
    print(f"{'PostGIS load + ST_Area(geography), lon/lat GeoPackage (best of 2)':<68}")
    print(f"{'':<12}{'PostGIS s':>10}{'ours s':>9}{'ratio':>8}")
    print(f"{'gpkg 4490':<12}{t_pg:>10.2f}{t_ours:>9.2f}{t_ours / t_pg:>8.2f}   "
          f"{'OK' if t_ours <= t_pg else 'SLOWER than PostGIS'}   totals agree to "
          f"{abs(total_ours - total_pg) / total_pg:.1e}")


def main(n: int, postgis: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        parcels = make_parcels(n)
        pq, gpkg = tmp / "parcels.parquet", tmp / "parcels.gpkg"
        parcels.to_parquet(pq)
        parcels.to_file(gpkg, engine="pyogrio")
        print(f"{n:,} parcels generated and written in {time.perf_counter() - t:.1f} s")
        print(f"{'input':<12}{'bare s':>9}{'ours s':>9}{'ratio':>8}{'bare MB':>10}{'ours MB':>10}")
        for src in (pq, gpkg):
            bare = run(BARE, src, tmp / f"bare_{src.suffix[1:]}.parquet")
            ours = run(OURS, src, tmp / f"ours_{src.suffix[1:]}.parquet")
            ratio = ours[0] / bare[0]
            print(f"{src.suffix[1:]:<12}{bare[0]:>9.2f}{ours[0]:>9.2f}{ratio:>8.2f}{bare[1]:>10.0f}{ours[1]:>10.0f}"
                  f"   {'OK' if ratio <= 1.2 else 'SLOWER than 1.2x'}")
        out = gpd.read_parquet(tmp / "ours_parquet.parquet")
        assert len(out) == n, "rows lost"
        print(f"output rows {len(out):,} = input rows; total {out['area_mu'].sum():,.0f} 亩")
        if postgis:
            lonlat = tmp / "parcels_4490.gpkg"
            parcels.to_crs(4490).to_file(lonlat, engine="pyogrio")
            postgis_row(n, lonlat, tmp)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 1_000_000, postgis="--postgis" in sys.argv[1:])
