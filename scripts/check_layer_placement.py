#!/usr/bin/env python3
"""Check where the schematic park layers sit against real reference geodata (developer check).

Reads layers/parks.geojson and layers/port_zones.geojson from this repo, and the reference files
in ../shared/reference (relative to the repo root: lanzhou_districts.geojson, rivers_lanzhou.geojson).
The reference data are not shipped with parkgis; if they are absent the check is skipped.

Prints, per park, the district that contains its centroid, the share of its area inside the
expected district(s), and how far it keeps from that district's boundary; then the minimum
distance of the port's riverside belt (一带) to the Yellow River line.
Exit status 1 if a park is mostly outside its expected district or the belt is > 1.5 km away.
"""
from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
from shapely.ops import unary_union

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT.parent / "shared" / "reference"
LAYERS = ROOT / "layers"
METRIC = "+proj=laea +lat_0=36.3 +lon_0=103.4 +ellps=GRS80 +units=m +no_defs"
EXPECTED = {  # park id -> district name(s) in lanzhou_districts.geojson
    "park.airport_north": ["永登县", "皋兰县"],
    "park.anning": ["安宁区"],
    "park.xigu": ["西固区"],
    "park.honggu": ["红古区"],
    "park.gaolan": ["皋兰县"],
    "lanbai.core": ["永登县", "皋兰县"],
}


def main() -> int:
    districts_file = REF / "lanzhou_districts.geojson"
    rivers_file = REF / "rivers_lanzhou.geojson"
    if not (districts_file.exists() and rivers_file.exists()):
        print(f"reference data not found under {REF}; placement check skipped")
        return 0
    d = gpd.read_file(districts_file).to_crs(METRIC)
    d = d[d["level"] == "district"]
    rivers = gpd.read_file(rivers_file).to_crs(METRIC)
    parks = gpd.read_file(LAYERS / "parks.geojson").to_crs(METRIC).set_index("id")
    port = gpd.read_file(LAYERS / "port_zones.geojson").to_crs(METRIC).set_index("id")

    ok = True
    print(f"{'feature':20} {'centroid in':8} {'expected':14} {'inside %':>9} {'min margin m':>13}")
    for fid, names in EXPECTED.items():
        g = parks.geometry[fid]
        hit = d[d.contains(g.centroid)]["name"].tolist()
        region = unary_union(d[d["name"].isin(names)].geometry.tolist())
        inside = 100 * g.intersection(region).area / g.area
        margin = region.boundary.distance(g) if region.contains(g) else -g.difference(region).area
        ok &= inside > 99.0
        print(f"{fid:20} {','.join(hit) or '-':8} {'/'.join(names):14} {inside:9.2f} {margin:13.0f}")

    yellow = unary_union(rivers[rivers["name_zh"] == "黄河"].geometry.tolist())
    belt = port.geometry["port.belt.riverside"]
    dist = belt.distance(yellow)
    inside = yellow.intersection(parks.geometry["park.xigu.port"]).length
    print(f"\nport.belt.riverside: min distance to the Yellow River line {dist:.0f} m "
          f"(river length inside the port area: {inside / 1000:.1f} km; "
          f"{100 * belt.intersection(yellow.buffer(1500)).area / belt.area:.1f} % of the belt "
          f"within 1.5 km of it)")
    ok &= dist <= 1500
    print("placement:", "OK" if ok else "PROBLEM")
    return 0 if ok else 1


if __name__ == "__main__":
    from gis.cli import run_script  # noqa: E402

    sys.exit(run_script(lambda argv: main(), name="check_layer_placement"))
