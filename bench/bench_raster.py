"""Benchmark: slope and zonal statistics on a large DEM through the library, with peak memory.

    python bench/bench_raster.py              # 20 000 × 20 000 DEM (10 m cells, 200 km square), 300 zones
    python bench/bench_raster.py 4000         # a quick run
    python bench/bench_raster.py 20000 --zones 500 --keep /tmp/bench_raster

Makes a synthetic DEM (float32, tiled, deflate) in EPSG:4544, then runs in separate fresh processes
``gis.raster.slope`` (degrees) and ``gis.raster.zonal_table`` on the slope raster with every statistic
(mean,min,max,std,median,p10,p90,count) and ``where="<15"`` for the zones: a few hundred irregular
polygons from 0.1 to 30 km² plus two very large ones (a quarter and a ninth of the raster), so the
quantiles of huge zones (exactextract's weighted quantile above ``gis.zonal.QUANTILE_CELLS``) are
exercised too (parcels at scale beside exactextract itself: ``bench/bench_zonal.py``). Each process
prints its wall time and its peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``); the issue's target is under
2 GB for the 20 000 × 20 000 DEM.

Measured 2026-11-22 on the shared 2-core machine, 20 000 × 20 000 and 302 zones: DEM made in 55 s;
slope 52 s, peak 357 MB; zonal statistics 32 s, peak 884 MB (two zones of 100 M and 30 M cells
took their quantiles from the histogram).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

X0, Y0, CELL = 400_000.0, 4_150_000.0, 10.0  # CGCS2000 GK 105°E, west and north of Lanzhou

SLOPE = r"""
import logging, resource, sys, time
logging.basicConfig(level=logging.INFO, format="  %(message)s")
from gis.raster import slope
t = time.perf_counter()
slope(sys.argv[1], sys.argv[2], overwrite=True)
print(f"slope: {time.perf_counter() - t:.1f} s, peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
"""

ZONAL = r"""
import logging, resource, sys, time
logging.basicConfig(level=logging.INFO, format="  %(message)s")
import geopandas as gpd
from gis.raster import zonal_table
zones = gpd.read_parquet(sys.argv[2])
t = time.perf_counter()
out, findings = zonal_table(sys.argv[1], zones, stats="mean,min,max,std,median,p10,p90,count", where="<15",
                            return_findings=True)
dt = time.perf_counter() - t
print(f"zonal: {len(out)} zones in {dt:.1f} s, peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
print(f"  zones with a finding: {int(findings['row'].dropna().nunique())}; "
      f"buildable (<15°) area {out['where_area_mu'].sum():,.0f} mu of {out['area_mu'].sum():,.0f} mu")
print(out[["mean", "p10", "p90", "count", "where_share", "area_m2"]].describe().round(2).to_string())
"""


def make_dem(path: Path, size: int) -> None:
    from gis._raster_io import block_windows, output_profile

    profile = output_profile(crs="EPSG:4544", transform=from_origin(X0, Y0, CELL, CELL), width=size, height=size,
                             dtype="float32", nodata=-9999.0)
    with rasterio.open(path, "w", **profile) as dst:
        for win in block_windows(size, size):
            rows, cols = np.mgrid[win.row_off:win.row_off + win.height, win.col_off:win.col_off + win.width]
            x, y = cols * CELL, rows * CELL
            z = (1500 + 0.004 * x + 400 * np.sin(x / 7000) * np.cos(y / 9000) + 150 * np.sin(x / 1100 + y / 1700)
                 + 30 * np.sin(x / 170) * np.cos(y / 230))
            if win.row_off == 0 and win.col_off == 0:
                z[100:140, 100:160] = -9999.0  # a nodata hole
            dst.write(z.astype("float32"), 1, window=win)


def make_zones(path: Path, size: int, n: int) -> None:
    rng = np.random.default_rng(42)
    extent = size * CELL
    cx = X0 + rng.uniform(0.02, 0.98, n) * extent
    cy = Y0 - rng.uniform(0.02, 0.98, n) * extent
    radius = np.minimum(rng.uniform(200, 3000, n), extent / 20)
    # irregular star-shaped polygons with 24 vertices
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    r = radius[:, None] * rng.uniform(0.6, 1.0, (n, 24))
    rings = np.stack([cx[:, None] + r * np.cos(ang), cy[:, None] + r * np.sin(ang)], axis=-1)
    geoms = list(shapely.polygons(rings))
    geoms.append(shapely.box(X0 + 0.05 * extent, Y0 - 0.55 * extent, X0 + 0.55 * extent, Y0 - 0.05 * extent))
    geoms.append(shapely.Point(X0 + 0.7 * extent, Y0 - 0.7 * extent).buffer(extent / 6.5))
    gdf = gpd.GeoDataFrame({"id": [f"Z{i:04d}" for i in range(len(geoms))]}, geometry=geoms, crs="EPSG:4544")
    gdf.to_parquet(path)


def run(script: str, *args) -> None:
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode:
        sys.stdout.write(proc.stderr)
        raise SystemExit(proc.returncode)
    for line in proc.stderr.splitlines():
        if line.startswith(("  zonal statistics:", "  slope:")):
            continue  # progress
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", nargs="?", type=int, default=20_000, help="DEM width and height in cells (default 20000)")
    ap.add_argument("--zones", type=int, default=300, help="number of irregular zones (plus two very large ones)")
    ap.add_argument("--keep", default=None, help="folder to keep the files in (default: a temporary folder)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_raster_"))
    work.mkdir(parents=True, exist_ok=True)
    dem, slope_tif, zones = work / "dem.tif", work / "slope.tif", work / "zones.parquet"
    try:
        print(f"DEM {args.size} × {args.size} cells ({args.size ** 2 / 1e6:,.1f} M cells), {args.zones} + 2 zones, in {work}")
        t = time.perf_counter()
        make_dem(dem, args.size)
        make_zones(zones, args.size, args.zones)
        print(f"made DEM in {time.perf_counter() - t:.1f} s ({dem.stat().st_size / 2**20:,.0f} MB on disk), "
              f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        run(SLOPE, dem, slope_tif)
        print(f"  slope file {slope_tif.stat().st_size / 2**20:,.0f} MB")
        run(ZONAL, slope_tif, zones)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
