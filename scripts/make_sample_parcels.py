#!/usr/bin/env python3
"""Generate the SYNTHETIC sample parcel layer layers/samples/yaogu_phase1_parcels.geojson.

It fills 药谷 phase 1 (feature ``yaogu.phase1`` of layers/parks.geojson) with a grid of blocks cut by
roads, gives each block a zone by location (layers/yaogu_zones.geojson) and invents projects and
figures — every project name and number is made up, and every feature says so (``synthetic: true``).
The mix is chosen so that an audit shows every verdict: industrial parcels below and above 300 万元/亩,
FAR/coverage/green/admin breaches, non-industrial parcels (n/a), missing and bad values (missing),
an unknown land-use code, a duplicate id, a sliver, a declared area far from the measured one, and
parcels outside every zone.

Deterministic (fixed seed): running it again reproduces the file.
Usage:  python scripts/make_sample_parcels.py [--out PATH] [--cell-m 165] [--overwrite]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gis.area import area_m2  # noqa: E402
from gis.bundled import read_bundled  # noqa: E402
from gis.crs import suitable_gk_crs  # noqa: E402
from gis.io import atomic_output  # noqa: E402
from gis.units import MU_M2  # noqa: E402

OUT = ROOT / "layers" / "samples" / "yaogu_phase1_parcels.geojson"
NOTE = "SYNTHETIC sample data: invented projects and figures inside the schematic 药谷 phase-1 outline; not real parcels"

# by zone: (land-use codes, weights); industrial codes mix GB 50137-2011 and 2023 codes on purpose
LANDUSE = {
    "yaogu.zone.manufacturing": (["M1", "M2", "100101", "100102", "M1", "A35"], [0.3, 0.3, 0.15, 0.1, 0.1, 0.05]),
    "yaogu.zone.trading": (["B1", "W1", "1101"], [0.4, 0.3, 0.3]),
    "yaogu.zone.public_service": (["A1", "R2", "0804"], [0.4, 0.4, 0.2]),
    "yaogu.zone.production_support": (["U2", "1302"], [0.5, 0.5]),
    None: (["M2", "G1", "S4", "100101"], [0.4, 0.2, 0.1, 0.3]),
}
STATUS = (["built", "under_construction", "supplied", "idle", "planned"], [0.6, 0.15, 0.1, 0.05, 0.1])
INDUSTRY = (["27", "27", "27", "35", "14"], None)
FIRMS = ["岐黄", "陇原", "祁连", "黄河", "丝路", "金城", "敦煌", "河西", "白塔", "皋兰", "药谷", "中川"]
KINDS = ["制药", "中药饮片", "生物制品", "医疗器械", "药用辅料", "保健食品", "药品包装"]


def build(cell_m: float, seed: int = 20260101) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    parks = read_bundled("parks")
    phase = parks[parks["id"] == "yaogu.phase1"]
    if phase.empty:
        raise SystemExit("layers/parks.geojson has no feature yaogu.phase1 yet: run again once it is digitised")
    zones = read_bundled("yaogu_zones")
    gk = suitable_gk_crs(phase)
    outline = phase.to_crs(gk).geometry.iloc[0]
    minx, miny, maxx, maxy = outline.bounds
    road_m = 14.0
    xs = np.arange(minx, maxx, cell_m)
    ys = np.arange(miny, maxy, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    # blocks of slightly varied depth, separated by roads
    jitter = rng.uniform(-0.15, 0.15, gx.shape) * cell_m
    cells = shapely.box(gx.ravel(), gy.ravel(), (gx + cell_m - road_m).ravel(), (gy + cell_m - road_m + jitter).ravel())
    pieces = shapely.intersection(cells, outline)
    pieces = pieces[~shapely.is_empty(pieces)]
    pieces = shapely.get_parts(pieces)  # multipart pieces become separate parcels
    pieces = pieces[shapely.get_type_id(pieces) == 3]
    gdf = gpd.GeoDataFrame(geometry=pieces, crs=gk)
    gdf = gdf[area_m2(gdf).to_numpy() > 4000].reset_index(drop=True)
    # zone by location (representative point)
    pts = gpd.GeoDataFrame(geometry=gdf.geometry.representative_point(), crs=gk)
    hit = gpd.sjoin(pts, zones[["id", "geometry"]].to_crs(gk), how="left", predicate="within")
    hit = hit[~hit.index.duplicated()]
    zone = np.array([None if pd.isna(z) else z for z in hit["id"]], dtype=object)

    n = len(gdf)
    measured_mu = area_m2(gdf).to_numpy() / MU_M2
    land_use = np.empty(n, dtype=object)
    for z, (codes, w) in LANDUSE.items():
        m = np.array([zz == z for zz in zone]) if z is not None else np.array([zz is None for zz in zone])
        land_use[m] = rng.choice(codes, size=int(m.sum()), p=w)
    status = rng.choice(STATUS[0], size=n, p=STATUS[1])
    industrial = np.isin(land_use, ["M1", "M2", "M3", "100101", "100102", "100103"])
    industry = np.where(industrial, rng.choice(INDUSTRY[0], size=n), None)
    # investment intensity around 300 万元/亩: about a third below
    inv_per_mu = np.where(industrial, rng.lognormal(np.log(330), 0.28, n), rng.lognormal(np.log(180), 0.4, n))
    investment = np.round(inv_per_mu * measured_mu, 1)
    output = np.round(investment * rng.uniform(0.6, 1.8, n), 1)
    tax = np.round(output * rng.uniform(0.03, 0.09, n), 1)
    value_added = np.round(output * rng.uniform(0.22, 0.38, n), 1)
    energy = np.round(output * rng.uniform(0.02, 0.08, n), 1)
    rd = np.round(output * rng.uniform(0.005, 0.05, n), 1)
    employees = np.round(measured_mu * rng.uniform(0.8, 3.0, n)).astype(int)
    area_m2_ = measured_mu * MU_M2
    far = np.where(industrial, rng.uniform(0.62, 1.6, n), rng.uniform(0.8, 2.5, n))
    coverage = np.where(industrial, rng.uniform(0.28, 0.6, n), rng.uniform(0.2, 0.4, n))
    green = rng.uniform(0.08, 0.215, n)
    admin = rng.uniform(0.02, 0.076, n)
    declared = np.round(measured_mu * rng.uniform(0.99, 1.01, n), 2)
    project = [f"{rng.choice(FIRMS)}{rng.choice(KINDS)}示例项目{i + 1:02d}（虚构）" for i in range(n)]
    parcel_id = [f"YG1-{i + 1:03d}" for i in range(n)]

    data = {
        "parcel_id": parcel_id, "park_id": "yaogu.phase1", "zone_id": zone, "phase": "一期",
        "land_use": land_use, "industry_code": industry, "project": project, "status": status,
        "declared_area_mu": declared, "investment_wan": investment, "output_wan": output, "tax_wan": tax,
        "value_added_wan": value_added, "energy_tce": energy, "rd_wan": rd, "employees": employees,
        "floor_area_m2": np.round(far * area_m2_), "footprint_m2": np.round(coverage * area_m2_),
        "green_m2": np.round(green * area_m2_), "admin_area_m2": np.round(admin * area_m2_),
    }
    out = gpd.GeoDataFrame(data, geometry=gdf.geometry.values, crs=gk).astype({"investment_wan": object, "tax_wan": object,
                                                                               "output_wan": object})
    planned = out["status"] == "planned"
    for col in ("output_wan", "tax_wan", "value_added_wan", "energy_tce", "rd_wan", "employees", "floor_area_m2",
                "footprint_m2", "green_m2", "admin_area_m2"):
        out[col] = out[col].where(~planned, None)  # nothing produced or built on planned land: missing, not 0

    # --- deliberate problems, so the audit shows every kind of verdict and finding
    ind_built = np.flatnonzero(industrial & (status == "built"))
    pick = rng.choice(ind_built, size=min(6, len(ind_built)), replace=False)
    out.loc[pick[0], "investment_wan"] = None                   # missing investment -> missing
    out.loc[pick[1], "tax_wan"] = "待核实"                        # not a number -> finding + missing
    out.loc[pick[2], "output_wan"] = -1200.0                    # negative money -> finding + missing
    out.loc[pick[3], "land_use"] = "Z7"                         # unknown land-use code
    out.loc[pick[4], "declared_area_mu"] = round(float(measured_mu[pick[4]]) * 1.12, 2)  # declared 12 % too big
    out.loc[pick[5], "parcel_id"] = out.loc[pick[0], "parcel_id"]  # duplicate parcel id
    out.loc[pick[5], "status"] = None                            # status unknown: applicability cannot be told
    # a sliver left over by digitising (below 1 m²)
    c = outline.representative_point()
    sliver = shapely.box(c.x, c.y, c.x + 0.8, c.y + 0.5)
    extra = gpd.GeoDataFrame({**{k: [None] for k in data}, "parcel_id": ["YG1-SLIVER"], "park_id": ["yaogu.phase1"],
                              "phase": ["一期"], "land_use": ["M1"], "status": ["built"], "investment_wan": [5.0],
                              "project": ["数字化碎片（虚构）"]}, geometry=[sliver], crs=gk)
    out = gpd.GeoDataFrame(np.concatenate([out.to_numpy(), extra[out.columns].to_numpy()]), columns=out.columns,
                           geometry="geometry", crs=gk)
    out["synthetic"] = True
    out["note"] = NOTE
    return out.to_crs("EPSG:4326")


def write(gdf: gpd.GeoDataFrame, path: Path, *, overwrite: bool) -> None:
    fc = json.loads(gdf.to_json(drop_id=True, to_wgs84=True))
    for f in fc["features"]:
        f["geometry"]["coordinates"] = _round(f["geometry"]["coordinates"])
    fc = {"type": "FeatureCollection", "name": "yaogu_phase1_parcels (SYNTHETIC sample data)",
          "synthetic": True, "note": NOTE, "generator": "scripts/make_sample_parcels.py", **{"features": fc["features"]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def _round(c):
    return [_round(x) for x in c] if isinstance(c[0], list) else [round(c[0], 7), round(c[1], 7)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cell-m", type=float, default=165.0, help="block size in metres (default 165: ~60 parcels)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if not args.cell_m > 0:
        from gis.errors import InputError

        raise InputError(f"--cell-m must be a positive number of metres, not {args.cell_m:g}")
    gdf = build(args.cell_m)
    write(gdf, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {len(gdf)} synthetic parcels, zones: {gdf['zone_id'].value_counts(dropna=False).to_dict()}")
    return 0


if __name__ == "__main__":
    from gis.cli import run_script  # noqa: E402

    raise SystemExit(run_script(main, name="make_sample_parcels"))
