"""Benchmark: a map of N parcels with tooltips, GeoDataFrame.explore() against parkgis' compact map.

Usage:  python bench/bench_maps.py [N=100000] [--no-browser] [--out bench/out]

Prints, for each: page size, build time (render + write), and the wall-clock time from navigation
until the page has drawn every feature in headless Chromium (DevTools protocol; network off).
explore()'s page links Leaflet from a CDN, so for the browser run its Leaflet is inlined from our
vendored copy (the rest of its CDN links are dropped; its legend is off because it needs d3).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.area import area_m2  # noqa: E402
from gis.units import m2_to_mu  # noqa: E402
from gis.webmap import render_map, save_map  # noqa: E402
from gis.webmap.offline import _read, process_html  # noqa: E402

TOOLTIP = ["parcel_id", "name_zh", "investment_intensity_wan_per_mu", "area_mu", "verdict"]


def make_parcels(n: int, *, seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` irregular pentagon parcels (~40–70 m) on a grid near 药谷, with attributes; vectorised."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0 = 103.60 + (i % side) * 0.0008
    y0 = 36.50 + (i // side) * 0.00065
    w = rng.uniform(0.00045, 0.0007, n)
    h = rng.uniform(0.00035, 0.0006, n)
    jit = rng.uniform(-0.00004, 0.00004, (n, 5, 2))
    base = np.array([[0, 0], [1, 0], [1, 0.8], [0.5, 1], [0, 1]], dtype=float)
    xy = np.empty((n, 6, 2))
    xy[:, :5, 0] = x0[:, None] + base[None, :, 0] * w[:, None] + jit[:, :, 0]
    xy[:, :5, 1] = y0[:, None] + base[None, :, 1] * h[:, None] + jit[:, :, 1]
    xy[:, 5] = xy[:, 0]
    geoms = shapely.polygons(xy)
    intensity = np.round(rng.lognormal(np.log(280), 0.5, n), 1)
    intensity[rng.random(n) < 0.02] = np.nan
    verdict = np.where(np.isnan(intensity), "missing", np.where(intensity >= 300, "pass", "fail"))
    gdf = gpd.GeoDataFrame({"parcel_id": [f"P{k:06d}" for k in i],
                            "name_zh": [f"示例地块{k:06d}" for k in i],
                            "investment_intensity_wan_per_mu": intensity, "verdict": verdict},
                           geometry=geoms, crs="EPSG:4326")
    return gdf


SPEC = {"id": "bench", "title": {"zh": "地块投资强度", "en": "Parcel investment intensity (benchmark)"},
        "source_note": "synthetic parcels",
        "layers": [{"name": {"zh": "地块", "en": "Parcels"}, "source": "parcels", "kind": "parcels",
                    "style": {"column": "investment_intensity_wan_per_mu", "scheme": "Quantiles", "k": 5,
                              "ramp": "YlGn", "outline": {"field": "verdict", "equals": ["fail"]}},
                    "heading": "parcel_id", "tooltip": TOOLTIP}]}


def build_explore(gdf, path: Path) -> float:
    t0 = time.perf_counter()
    m = gdf.explore(column="investment_intensity_wan_per_mu", tooltip=TOOLTIP, legend=False)
    m.save(str(path))
    return time.perf_counter() - t0


def build_ours(gdf, path: Path) -> float:
    t0 = time.perf_counter()
    m = render_map({"parcels": gdf.drop(columns=["area_mu"], errors="ignore")}, SPEC, offline=True)
    save_map(m, path, offline=True, overwrite=True)
    return time.perf_counter() - t0


def explore_offline_copy(path: Path) -> Path:
    page = process_html(path.read_text(encoding="utf-8"), offline=False)
    page = re.sub(r'<script src="[^"]*leaflet@[^"]*/leaflet\.js"></script>',
                  lambda m: "<script>" + _read("leaflet/leaflet.js") + "</script>", page)
    page = re.sub(r'<link rel="stylesheet" href="[^"]*leaflet@[^"]*/leaflet\.css"/>',
                  lambda m: "<style>" + _read("leaflet/leaflet.css") + "</style>", page)
    page = re.sub(r'<script src="https?://[^"]*"></script>', "", page)
    out = path.with_name(path.stem + "_inlined.html")
    out.write_text(page, encoding="utf-8")
    return out


def browser_time(path: Path, expr: str, *, timeout_s: float) -> tuple[object, float]:
    from _cdp import ChromiumSession  # bench/_cdp.py, beside this script

    with ChromiumSession(offline=True) as s:
        s.navigate(path.resolve().as_uri())
        value, secs = s.wait_for(expr, timeout_s=timeout_s)
        errors = s.evaluate("(window.parkgisErrors || []).join('; ')")
    if errors:
        print(f"    page errors: {errors}")
    return value, secs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=100_000)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for a page to draw")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gdf = make_parcels(args.n)
    gdf["area_mu"] = np.round(m2_to_mu(area_m2(gdf).to_numpy()), 2)  # explore() gets areas for free
    print(f"{args.n} parcels, tooltip fields {TOOLTIP}")

    p_exp, p_our = out / f"explore_{args.n}.html", out / f"parkgis_{args.n}.html"
    # warm up both (imports of matplotlib/mapclassify/jinja templates are not what we compare)
    build_explore(gdf.head(5), out / "warmup_explore.html")
    build_ours(gdf.head(5), out / "warmup_parkgis.html")
    t_exp = build_explore(gdf, p_exp)
    t_our = build_ours(gdf, p_our)
    s_exp, s_our = p_exp.stat().st_size, p_our.stat().st_size
    print(f"{'':10} {'size MB':>10} {'build s':>9}")
    print(f"{'explore':10} {s_exp / 1e6:10.2f} {t_exp:9.2f}")
    print(f"{'parkgis':10} {s_our / 1e6:10.2f} {t_our:9.2f}")
    print(f"ratio parkgis/explore: size {s_our / s_exp:.3f}, build time {t_our / t_exp:.3f} (target ≤ 0.25 each)")
    if args.no_browser:
        return 0
    drawn, secs = browser_time(p_our, "document.documentElement.getAttribute('data-drawn')", timeout_s=args.timeout)
    print(f"parkgis: {drawn} features drawn in headless Chromium after {secs:.2f} s (target ≤ 5 s)")
    inl = explore_offline_copy(p_exp)
    expr = f"document.querySelectorAll('.leaflet-overlay-pane path').length >= {args.n}"
    try:
        ok, secs_e = browser_time(inl, expr, timeout_s=args.timeout)
    except TimeoutError:  # explore()'s SVG page can keep the browser too busy to answer the DevTools socket
        ok, secs_e = False, float("nan")
    if ok:
        print(f"explore: {args.n} features drawn in headless Chromium after {secs_e:.2f} s")
    else:
        print(f"explore: not all {args.n} features drawn within {args.timeout:.0f} s (timed out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
