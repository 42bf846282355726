#!/usr/bin/env python3
"""Benchmark: ``parkgis audit`` of a partitioned GeoParquet dataset on the dask engine, side by side in one run.

Generates N parcels on disk as a dataset of partitions (``--rows-per-part``, default 250 000), chunk by
chunk (never the whole layer in this process), in CGCS2000 / 3° GK CM 105 with the attribute mix of
bench/bench_audit.py. Then times, each as a child process, end to end (imports, cluster start, read,
measure, rules, summaries, writing the parcels dataset and the tables):

* ``parkgis audit DATASET --rules lanzhou-etdz --rules gb-2008 --by zone_id --engine dask --workers W --out OUT/``
  for W = 2 and W = 1 (the speed-up printed), and
* the same with ``--engine memory`` (the whole layer in one process), unless ``--no-memory``.

For each run: wall time, and the peak of the summed resident memory of the whole process tree (the
command, the scheduler and every worker; polled every 0.2 s with psutil). Goals from issue 11: 10 M
within 6 GB for the tree, 10 M ≤ 11 × the 1 M time, 1 → 2 workers ≥ 1.6×.

Measured here (2 shared cores, 24 GB; 250 000 parcels per partition; 2026-12-01, other work on the machine):
      parcels   dask 2 workers        dask 1 worker         memory engine
    1 000 000   15.2 s  1.79 GB       27.9 s  1.08 GB       20.7 s  2.46 GB    speed-up 1.84×
    3 000 000   41.8 s  1.85 GB       79.7 s  1.09 GB       65.4 s  5.61 GB    speed-up 1.91×
   10 000 000  186.9 s  1.96 GB       (not run)             (not run: ~1.9 GB per million → ~19 GB)
  (an earlier 10 M run on a quieter machine, before the memory fix: 119.1 s, 9.8 GB.)
Again 2026-12-02, after the per-partition speed-ups (threads off inside workers), little else running:
    1 000 000   14.2 s  1.56 GB
    3 000 000   38.1 s  1.63 GB       58.5 s  1.00 GB                             speed-up 1.53×
   10 000 000  109.6 s  1.74 GB                                                   10 M / 1 M = 7.74×
  The faster partitions leave the two worker processes contending for memory bandwidth: a partition
  of 250 000 takes ~6.3 s with two workers busy and ~4.5 s alone (-v logs), so 1 → 2 workers gives
  1.53× where the slower code gave 1.9×.

Again 2026-12-02 later (findings' ids as Arrow text, categoricals written as dictionaries):
    1 000 000   15.1 s  1.52 GB
    3 000 000   34.6 s  1.58 GB       59.2 s  0.96 GB  (best of 2: 36.3/59.2, 34.6/61.6)  speed-up 1.71×
   10 000 000  107.9 s  1.72 GB                                                   10 M / 1 M = 7.15×
   10 000 000  109.1 s  1.70 GB                             163.6 s  19.03 GB  (another run, side by side)
  The in-memory engine does finish 10 M here, needing 19 GB of this machine's 24 GB, 1.5× dask's time.
  The same machine gave 2.0× and 1.66× for two single runs an hour before: its neighbours move these
  figures by ±20 %, hence --repeat.

Usage:  python bench/bench_dask.py                      (300 000 parcels: a quick run)
        python bench/bench_dask.py --n 1000000          (1 M)
        python bench/bench_dask.py --n 3000000 --n 10000000 --no-memory
        python bench/bench_dask.py --n 3000000 --no-memory --repeat 2   (the speed-up, best of two)
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PACKS = ["--rules", "lanzhou-etdz", "--rules", "gb-2008"]


def generate(folder: Path, n: int, rows_per_part: int, seed: int = 7) -> None:
    """N rectangles of 2–200 亩 as ``part-NNNN.parquet`` files of ``rows_per_part`` rows each."""
    import geopandas as gpd
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    cols = int(np.ceil(np.sqrt(n)))
    for j, start in enumerate(range(0, n, rows_per_part)):
        stop = min(n, start + rows_per_part)
        k = stop - start
        rng = np.random.default_rng(seed + j)
        i = np.arange(start, stop)
        side = np.sqrt(rng.uniform(2, 200, k) * 2000 / 3)
        x = 330_000 + (i % cols) * 400.0
        y = 3_950_000 + (i // cols) * 400.0
        aspect = rng.uniform(0.7, 1.3, k)
        area_m2 = side * side * aspect
        mu = area_m2 / (2000 / 3)
        inv = mu * rng.lognormal(np.log(320), 0.35, k)
        inv[rng.random(k) < 0.02] = np.nan
        out = inv * rng.uniform(0.5, 2.0, k)
        gdf = gpd.GeoDataFrame({
            "parcel_id": np.char.add("P", i.astype(str)),
            "park_id": rng.choice(np.array(["park.anning", "park.xigu", "park.honggu", "park.gaolan", "park.airport_north"]), k),
            "zone_id": np.char.add("zone-", rng.integers(0, 60, k).astype(str)),
            "phase": rng.choice(np.array(["一期", "二期"]), k),
            "land_use": rng.choice(np.array(["M1", "M2", "M3", "100101", "B1", "W1", "A1", "R2"]), k,
                                   p=[0.3, 0.2, 0.05, 0.15, 0.1, 0.1, 0.05, 0.05]),
            "industry_code": rng.choice(np.array(["27", "33", "43", "35", "14"]), k),
            "status": rng.choice(np.array(["built", "under_construction", "supplied", "idle", "planned"]), k,
                                 p=[0.6, 0.15, 0.1, 0.05, 0.1]),
            "declared_area_mu": np.round(mu * rng.uniform(0.97, 1.03, k), 2),
            "investment_wan": inv, "output_wan": out, "tax_wan": out * rng.uniform(0.02, 0.08, k),
            "floor_area_m2": area_m2 * rng.uniform(0.4, 1.8, k), "footprint_m2": area_m2 * rng.uniform(0.2, 0.6, k),
            "green_m2": area_m2 * rng.uniform(0.05, 0.25, k), "admin_area_m2": area_m2 * rng.uniform(0.02, 0.1, k),
        }, geometry=shapely.box(x, y, x + side, y + side * aspect), crs="EPSG:4544")
        gdf.to_parquet(folder / f"part-{j:04d}.parquet", index=False)


def run_tree(cmd: list[str]) -> tuple[float, float, int, str]:
    """Run a child; return (seconds, peak MB of the summed RSS of it and all its descendants, exit code, stderr tail)."""
    import psutil

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    stop = threading.Event()

    def poll():
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                break
            stop.wait(0.2)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, err = proc.communicate()
    dt = time.perf_counter() - t
    stop.set()
    th.join()
    tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
    return dt, peak[0] / 2**20, proc.returncode, (tail[0] if tail else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="parcels (repeat for several sizes; default 300 000)")
    ap.add_argument("--rows-per-part", type=int, default=250_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the generated datasets")
    ap.add_argument("--no-memory", action="store_true", help="skip the in-memory engine")
    ap.add_argument("--no-single", action="store_true", help="skip the 1-worker run")
    ap.add_argument("--memory-limit", default=None, help="--memory-limit for each dask worker")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the set this many times, alternating; every run printed, each engine's best kept "
                         "(a shared machine's neighbours change the figures by ±20 %%)")
    args = ap.parse_args(argv)
    sizes = args.n or [300_000]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_dask_"))
    work.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m", "gis", "-q"]
    rows = []
    try:
        for n in sizes:
            ds = work / f"parcels_{n}"
            t = time.perf_counter()
            if not ds.exists():
                generate(ds, n, args.rows_per_part)
            parts = len(list(ds.glob("*.parquet")))
            print(f"dataset: {n:,} parcels in {parts} partitions at {ds} (generated in {time.perf_counter() - t:.1f} s)",
                  flush=True)
            runs = [("dask, 2 workers", ["--engine", "dask", "--workers", "2"])]
            if not args.no_single:
                runs.append(("dask, 1 worker", ["--engine", "dask", "--workers", "1"]))
            if not args.no_memory:
                runs.append(("memory engine", ["--engine", "memory"]))
            best = {}
            for round_ in range(max(1, args.repeat)):
                for label, extra in runs:
                    out = work / f"out_{n}_{label.split(',')[0].strip()}_{extra[-1]}"
                    shutil.rmtree(out, ignore_errors=True)
                    limit = ["--memory-limit", args.memory_limit] if args.memory_limit and "dask" in label else []
                    cmd = [*py, "audit", str(ds), *PACKS, "--by", "zone_id", *extra, *limit, "--out", f"{out}/"]
                    dt, mb, code, tail = run_tree(cmd)
                    ok = code in (0, 1) and (out / "parcels").is_dir()
                    run = (n, label, dt, mb, code, tail if not ok else "")
                    if label not in best or (ok and dt < best[label][2]):
                        best[label] = run
                    print(f"  {label:16s} {dt:8.1f} s  peak tree RSS {mb:8.0f} MB  exit {code}"
                          + (f"  (run {round_ + 1})" if args.repeat > 1 else "") + ("" if ok else f"  FAILED: {tail}"),
                          flush=True)
                    shutil.rmtree(out, ignore_errors=True)
            rows.extend(best[label] for label, _ in runs)
        print("\nsummary (side by side" + (f", best of {args.repeat}" if args.repeat > 1 else "") + "):")
        print(f"{'parcels':>12} {'run':16} {'time s':>8} {'peak MB':>8}")
        for n, label, dt, mb, code, tail in rows:
            print(f"{n:>12,} {label:16} {dt:8.1f} {mb:8.0f}" + (f"  failed ({tail})" if tail else ""))
        by = {(n, label): dt for n, label, dt, *_ in rows}
        for n in sizes:
            if (n, "dask, 1 worker") in by:
                print(f"speed-up 1 → 2 workers at {n:,}: {by[(n, 'dask, 1 worker')] / by[(n, 'dask, 2 workers')]:.2f}× "
                      f"(goal ≥ 1.6× at 3 M)")
            if (n, "memory engine") in by:
                print(f"memory engine / dask (2 workers) at {n:,}: {by[(n, 'memory engine')] / by[(n, 'dask, 2 workers')]:.2f}×")
        if len(sizes) > 1:
            small, big = min(sizes), max(sizes)
            print(f"time {big:,} / {small:,}: {by[(big, 'dask, 2 workers')] / by[(small, 'dask, 2 workers')]:.2f}× for "
                  f"{big / small:.1f}× the parcels")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
