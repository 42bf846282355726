"""Benchmark: zonal means of parcels over a DEM — parkgis (gis.zonal.zonal_table) beside exactextract
called directly, in the same run, with wall time and peak memory of each (separate fresh processes).

    python bench/bench_zonal.py                 # scaled default: 50 000 parcels over 4 000 × 4 000 cells
    python bench/bench_zonal.py --full          # issue 12's target: 1 000 000 parcels over 20 000 × 20 000
    python bench/bench_zonal.py --parcels 20000 --cells 2000 --keep /tmp/bench_zonal

The DEM is synthetic (float32, tiled 512, deflate, EPSG:4544, 10 m cells, a nodata hole); the parcels
are random rectangles of 15–120 m, as a land ledger's. Both sides compute the coverage-weighted
``mean`` of every parcel: exactextract through its own ``exact_extract(path, GeoDataFrame, ["mean"])``,
parkgis through ``zonal_table(path, parcels, stats="mean")``, which also measures each parcel's
ellipsoidal area, its data share and cell count and returns every parcel with its columns and
structured findings. A second parkgis run adds ``where="<1000"`` (areas meeting a condition). The
means are compared (max abs difference). Issue target: parkgis within 1.2 × exactextract, memory
under 2 GB at the full size.

Measured 2026-12-02 on the shared 2-core machine, issue 12's full size (1 000 000 parcels over
20 000 × 20 000 cells, one run each, little else running): exactextract 1379.1 s, 2365 MB;
parkgis 81.7 s (0.06 ×), 1762 MB; parkgis with where 114.7 s (0.08 ×), 1784 MB; means identical (max
difference 0 over 998 463 parcels; missing on the same 1 537 on both sides). Scaled default (50 000
over 4 000²): exactextract 16.0 s / 359 MB, parkgis 4.3 s (0.27 ×) / 387 MB, with where 5.8 s. At
full size the order of the zones decides: taken in the ledger's (random) order, as exactextract called
directly takes them, parkgis spent 90 % of its time in window reads (py-spy) — on a deflate GeoTIFF
that large each read decompresses blocks GDAL's cache has dropped — so it hands the zones over in the
raster's block order (``gis._zonal_exact.block_order``).
"""

from __future__ import annotations

import argparse
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
from rasterio.windows import Window

X0, Y0, CELL = 400_000.0, 4_150_000.0, 10.0

RUN = r"""
import resource, sys, time
import geopandas as gpd, numpy as np
side, dem, zones, out = sys.argv[1:5]
where = sys.argv[5] if len(sys.argv) > 5 else None
z = gpd.read_parquet(zones)
t = time.perf_counter()
if side == "exactextract":
    from exactextract import exact_extract
    mean = exact_extract(dem, z, ["mean"], output="pandas")["mean"].to_numpy()
else:
    from gis.zonal import zonal_table
    table, findings = zonal_table(dem, z, stats="mean", where=where, return_findings=True)
    mean = table["mean"].to_numpy()
    assert len(table) == len(z) and (table.index == z.index).all()
dt = time.perf_counter() - t
np.save(out, mean)
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""


def make_dem(path: Path, n: int) -> None:
    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:4544",
                   transform=from_origin(X0, Y0, CELL, CELL), nodata=-9999.0, tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, n, 512):
            h = min(512, n - r)
            y = np.arange(r, r + h)[:, None].astype("float64")
            x = np.arange(n)[None, :].astype("float64")
            z = 1000.0 + 80.0 * np.sin(x / 97.0) + 50.0 * np.cos(y / 53.0) + 0.02 * x
            hole = (np.abs(x - n * 0.3) < n * 0.02) & (np.abs(y - n * 0.6) < n * 0.02)
            ds.write(np.where(hole, -9999.0, z).astype("float32"), 1, window=Window(0, r, n, h))


def make_parcels(path: Path, n_parcels: int, n_cells: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    extent = n_cells * CELL
    w = rng.uniform(15, 120, n_parcels)
    h = w * rng.uniform(0.5, 1.5, n_parcels)
    x = X0 + rng.uniform(0, extent - 130, n_parcels)
    y = Y0 - rng.uniform(200, extent, n_parcels)
    g = gpd.GeoDataFrame({"parcel_id": [f"P{i:07d}" for i in range(n_parcels)],
                          "land_use": rng.choice(["M1", "M2", "B1", "R2"], n_parcels)},
                         geometry=shapely.box(x, y, x + w, y + h), crs="EPSG:4544")
    g.to_parquet(path)


def run(side, dem, zones, out, where=None):
    args = [sys.executable, "-c", RUN, side, str(dem), str(zones), str(out)] + ([where] if where else [])
    res = subprocess.run(args, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if res.returncode:
        raise SystemExit(f"{side} failed:\n{res.stderr}")
    t, mem = res.stdout.strip().splitlines()[-1].split()
    return float(t), float(mem)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=50_000)
    ap.add_argument("--cells", type=int, default=4_000, help="DEM side in cells")
    ap.add_argument("--full", action="store_true", help="1 000 000 parcels over 20 000 × 20 000 (issue 12's target)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the data here (and reuse it)")
    args = ap.parse_args(argv)
    if args.full:
        args.parcels, args.cells = 1_000_000, 20_000
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_zonal_"))
    work.mkdir(parents=True, exist_ok=True)
    dem = work / f"dem_{args.cells}.tif"
    zones = work / f"parcels_{args.parcels}_{args.cells}.parquet"
    t = time.perf_counter()
    if not dem.exists():
        make_dem(dem, args.cells)
    if not zones.exists():
        make_parcels(zones, args.parcels, args.cells)
    print(f"{args.parcels:,} parcels over a {args.cells:,} × {args.cells:,} DEM (data ready in {time.perf_counter() - t:.0f} s)")
    try:
        t_ee, m_ee = run("exactextract", dem, zones, work / "ee.npy")
        t_pg, m_pg = run("parkgis", dem, zones, work / "pg.npy")
        t_pw, m_pw = run("parkgis", dem, zones, work / "pw.npy", where="<1000")
        a, b = np.load(work / "pg.npy"), np.load(work / "ee.npy")
        both = np.isfinite(a) & np.isfinite(b)
        print(f"{'':32}{'time':>10}{'peak memory':>14}{'× exactextract':>16}")
        print(f"{'exactextract (direct)':32}{t_ee:>9.1f}s{m_ee:>11.0f} MB{1.0:>16.2f}")
        print(f"{'parkgis zonal_table mean':32}{t_pg:>9.1f}s{m_pg:>11.0f} MB{t_pg / t_ee:>16.2f}")
        print(f"{'parkgis … + where <1000':32}{t_pw:>9.1f}s{m_pw:>11.0f} MB{t_pw / t_ee:>16.2f}")
        print(f"means: max |parkgis − exactextract| = {np.abs(a[both] - b[both]).max():.2e} over {int(both.sum()):,} parcels; "
              f"missing on one side only: {int((np.isfinite(a) != np.isfinite(b)).sum())}")
        print("target (issue 12, full size): ≤ 1.20 × exactextract, < 2048 MB")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
