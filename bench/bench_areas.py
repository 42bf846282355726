"""Benchmark: `parkgis areas` on N parcels against a bare geopandas script, in the same run.

    python bench/bench_areas.py            # 1 000 000 parcels
    python bench/bench_areas.py 100000     # a quicker run

Both sides run as fresh processes (imports included) on the same GeoParquet and GeoPackage files.
The bare side reads, takes `to_crs(<equal-area Albers>).area` and writes; ours reads, measures on the
ellipsoid, checks every geometry and id, and writes every input column plus four area columns. The
issue's target: ours within 1.5× of bare. Prints wall time, ratio and each process's peak memory.
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


def main(n: int) -> None:
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
                  f"   {'OK' if ratio <= 1.5 else 'SLOWER than 1.5x'}")
        out = gpd.read_parquet(tmp / "ours_parquet.parquet")
        assert len(out) == n, "rows lost"
        print(f"output rows {len(out):,} = input rows; total {out['area_mu'].sum():,.0f} 亩")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
