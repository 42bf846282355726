#!/usr/bin/env python3
"""Generate parkgis' bundled schematic vector layers (layers/*.geojson).

Every coordinate below was chosen by hand from the plan text (ETDZ 13th-FYP outline, Lanbai plan)
and by looking at real district/river data; none is an official boundary.  The script then

  * scales each planned polygon about its centroid, in one Lambert azimuthal equal-area frame, until
    it hits the planned area (bisection, so clipping into a parent is accounted for),
  * builds children by intersecting with a slightly inset parent (children stay inside after
    rounding) and subtracts already-placed siblings plus a gap (siblings stay disjoint),
  * writes RFC 7946 GeoJSON (WGS84 lon/lat, 6 decimals, CCW exteriors) and re-checks the written
    files: planned vs measured geodesic area (pyproj.Geod GRS80), nesting, disjointness, validity.

Deterministic: running it again reproduces the files byte for byte.  Reads nothing at run time.
Usage:  python scripts/digitise_layers.py            (from the repo root or anywhere)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.polygon import orient

OUT = Path(__file__).resolve().parent.parent / "layers"
GEOD = Geod(ellps="GRS80")
# one equal-area frame for the whole area (LAEA is equal-area everywhere, on the GRS80 ellipsoid)
LAEA = "+proj=laea +lat_0=36.3 +lon_0=103.4 +ellps=GRS80 +units=m +no_defs"
_FWD = Transformer.from_crs("EPSG:4326", LAEA, always_xy=True)
_INV = Transformer.from_crs(LAEA, "EPSG:4326", always_xy=True)
MU_M2 = 2000.0 / 3.0
DIGI = "schematic, from the plan text; no official boundary"
SRC_ETDZ3 = "ETDZ plan 第三章 优化空间布局 (一区五园)"
SRC_PORT = "ETDZ plan 第五章第一节 四、空间布局 (一带、二轴、二心、二区、多组团)"
SRC_YAOGU = "ETDZ plan 第五章第二节 兰州西部药谷产业园"
SRC_UM = "ETDZ plan 第五章第三节 三、空间布局 (一心、两轴、两区、七组团)"
SRC_LANBAI = "Lanbai plan 三、空间布局 (一)兰白试验区核心创新区"

# ------------------------------------------------------------------ authored coordinates (lon, lat)
# 一区五园 ---------------------------------------------------------------------------------------
# 机场北高新园区: 兰州新区, north of Zhongchuan airport (103.620E 36.515N); straddles 永登/皋兰.
AIRPORT_NORTH = [(103.636, 36.552), (103.662, 36.550), (103.688, 36.553), (103.692, 36.565),
                 (103.690, 36.580), (103.684, 36.590), (103.664, 36.592), (103.646, 36.591),
                 (103.634, 36.584), (103.632, 36.567)]
BIOMED_BASE = [(103.636, 36.566), (103.652, 36.562), (103.666, 36.565), (103.668, 36.580),
               (103.664, 36.591), (103.646, 36.591), (103.634, 36.584)]
YAOGU_PHASE1 = [(103.641, 36.572), (103.652, 36.570), (103.656, 36.573), (103.656, 36.583),
                (103.642, 36.584), (103.639, 36.579)]
YAOGU_PHASE2 = [(103.6585, 36.5715), (103.666, 36.571), (103.667, 36.579), (103.6585, 36.5835)]
# 安宁园区: 南至北滨河路 (north bank), 西至黄羊头, 东至585号道路, 北至沙井驿焦家庄.
ANNING = [(103.613, 36.1425), (103.640, 36.1365), (103.659, 36.1265), (103.675, 36.1075),
          (103.692, 36.0925), (103.708, 36.0875), (103.722, 36.0965), (103.742, 36.0885),
          (103.768, 36.0880), (103.773, 36.1000), (103.772, 36.1160), (103.758, 36.1240),
          (103.738, 36.1275), (103.705, 36.1305), (103.675, 36.1365), (103.648, 36.1430),
          (103.622, 36.1470)]
ANNING_CORE = [(103.700, 36.0930), (103.712, 36.0915), (103.726, 36.1000), (103.744, 36.0930),
               (103.752, 36.1010), (103.746, 36.1160), (103.722, 36.1200), (103.702, 36.1150)]
# 西固园区 = 兰州国际港务区 + 西固新城工业园; along the Yellow River from 达川三江口 to 岸门.
XIGU = [(103.378, 36.128), (103.374, 36.136), (103.377, 36.148), (103.384, 36.157),
        (103.399, 36.164), (103.415, 36.170), (103.430, 36.1835), (103.442, 36.1925),
        (103.456, 36.1970), (103.472, 36.1985), (103.496, 36.1945), (103.514, 36.1835),
        (103.537, 36.152), (103.553, 36.139), (103.566, 36.1335), (103.574, 36.129),
        (103.588, 36.123), (103.593, 36.1225), (103.593, 36.109), (103.575, 36.1055),
        (103.545, 36.1115), (103.522, 36.1225), (103.495, 36.1445), (103.470, 36.1495),
        (103.445, 36.1475), (103.425, 36.137), (103.410, 36.132), (103.392, 36.1315)]
# 西固新城工业园: 新城镇, south bank, north to the river (enclave in the port area).
XINCHENG = [(103.452, 36.1715), (103.462, 36.1785), (103.480, 36.1805), (103.496, 36.1765),
            (103.498, 36.1675), (103.482, 36.1625), (103.458, 36.1635)]
# 红古园区: 南至湟水河, 北至兰海高速, 西至张家寺上沟下沟, 东至平安镇镇域东界.
HONGGU = [(103.196, 36.1810), (103.208, 36.1745), (103.229, 36.1730), (103.237, 36.1655),
          (103.256, 36.1650), (103.263, 36.1530), (103.295, 36.1515), (103.312, 36.1570),
          (103.316, 36.1625), (103.302, 36.1665), (103.280, 36.1695), (103.255, 36.1745),
          (103.234, 36.1795), (103.214, 36.1855), (103.198, 36.1875)]
# 皋兰园区: east of the 安宁/皋兰 line (兰海高速 side), north of 沙井驿, hills to the east.
GAOLAN = [(103.797, 36.2775), (103.815, 36.2830), (103.826, 36.2700), (103.846, 36.2655),
          (103.858, 36.2690), (103.856, 36.2850), (103.840, 36.3030), (103.818, 36.3120),
          (103.800, 36.3110), (103.790, 36.3030), (103.795, 36.2900)]
# 兰白试验区核心创新区: south 兰州新区, 4.4 km E-W x 1.3 km N-S, 5.7 km2.
LANBAI_CORE = [(103.6565, 36.4545), (103.7050, 36.4545), (103.7050, 36.4660), (103.6600, 36.4662),
               (103.6565, 36.4640)]

# 港务区 detail -------------------------------------------------------------------------------------
RIVER_SKETCH = [(103.366, 36.119), (103.396, 36.135), (103.424, 36.160), (103.447, 36.184),
                (103.470, 36.188), (103.497, 36.184), (103.516, 36.168), (103.540, 36.135),
                (103.557, 36.127), (103.590, 36.133)]          # my sketch of the river centreline
BELT_HALF_WIDTH_M = 300.0
AXIS_XIXING_LANYONG = [(103.392, 36.1345), (103.415, 36.1420), (103.440, 36.1530), (103.465, 36.1580),
                       (103.490, 36.1570), (103.515, 36.1430), (103.540, 36.1270), (103.565, 36.1200),
                       (103.585, 36.1170)]
AXIS_SHANQIAN = [(103.425, 36.1400), (103.445, 36.1505), (103.470, 36.1530), (103.495, 36.1480),
                 (103.515, 36.1350), (103.540, 36.1205), (103.565, 36.1130), (103.582, 36.1120)]
CENTRE_SERVICES = (103.556, 36.1300)   # east of the railway container centre station, on the river
CENTRE_TOURISM = (103.384, 36.1365)    # 三江口
PORT_WEST_AREA = [(103.350, 36.100), (103.350, 36.250), (103.447, 36.250), (103.447, 36.100)]
PORT_CLUSTERS = {   # key: (name_zh, name_en, area, bank of the river, function, authored outline)
    "sanjiangkou": ("三江口生态旅游组团", "Sanjiangkou eco-tourism cluster", "west", "north",
                    "eco-tourism", [(103.368, 36.125), (103.368, 36.190), (103.410, 36.190),
                                    (103.410, 36.125)]),
    "hekou": ("河口古镇组团", "Hekou ancient-town cluster", "west", "south", "heritage town, tourism",
              [(103.398, 36.125), (103.398, 36.190), (103.450, 36.190), (103.450, 36.125)]),
    "xincheng": ("新城镇工业物流组团", "Xinchengzhen industry-logistics cluster", "east", "south",
                 "industry, logistics",
                 [(103.447, 36.130), (103.447, 36.1610), (103.505, 36.1610), (103.505, 36.130)]),
    "qingshitai": ("青石台工业组团", "Qingshitai industrial cluster", "east", "south", "industry",
                   [(103.505, 36.115), (103.505, 36.190), (103.528, 36.190), (103.528, 36.115)]),
    "dongchuan": ("东川镇铁路枢纽物流组团", "Dongchuanzhen rail-hub logistics cluster", "east",
                  "south", "rail hub, logistics",
                  [(103.528, 36.100), (103.528, 36.160), (103.566, 36.160), (103.566, 36.100)]),
    "504": ("五〇四新能源组团", "504 new-energy cluster", "east", "south", "new energy",
            [(103.566, 36.100), (103.566, 36.140), (103.605, 36.140), (103.605, 36.100)]),
    "zamatai": ("扎马台工业组团", "Zamatai industrial cluster", "east", "north", "industry",
                [(103.440, 36.170), (103.440, 36.205), (103.515, 36.205), (103.515, 36.170)]),
}
DONGCHUAN_RAIL = [(103.531, 36.1205), (103.548, 36.1155), (103.563, 36.1115), (103.563, 36.1185),
                  (103.548, 36.1225), (103.531, 36.1275)]

# 西部药谷 six functional zones (all numbers in 亩) ---------------------------------------------------
YAOGU_ZONES = {  # key: (name_zh, name_en, mu, phase, function, authored outline)
    "production_support": ("生产配套区", "Production support", 63.31, 1, "two sewage stations",
                           [(103.6415, 36.5722), (103.6445, 36.5720), (103.6445, 36.5742),
                            (103.6415, 36.5742)]),
    "trading": ("交易展示区", "Trading and exhibition", 107.6, 1,
                "trading/exhibition centre, automated warehouse",
                [(103.6535, 36.5805), (103.6558, 36.5805), (103.6558, 36.5828), (103.6535, 36.5828)]),
    "public_service": ("公共服务区", "Public service", 187.4, 1,
                       "public core: administration, R&D and approval, inspection; housing, school",
                       [(103.6535, 36.5745), (103.6558, 36.5745), (103.6558, 36.5790),
                        (103.6535, 36.5790)]),
    "manufacturing": ("生产制造及研发区", "Manufacturing and R&D", 1779.6, 1,
                      "decoction pieces and extraction, preparations, health products, devices",
                      [(103.6400, 36.5710), (103.6525, 36.5700), (103.6525, 36.5845),
                       (103.6400, 36.5845)]),
    "health": ("康健医疗区", "Health and medical", 328.6, 2,
               "hospital, sports/health centre, park, offices, housing, schools",
               [(103.6585, 36.5770), (103.6668, 36.5765), (103.6668, 36.5800), (103.6585, 36.5830)]),
    "living": ("生活配套区", "Living support", 766.7, 2,
               "commerce and finance, hotel, offices, housing, schools, fire station, park",
               [(103.6585, 36.5710), (103.6668, 36.5705), (103.6668, 36.5760), (103.6585, 36.5762)]),
}

# 城市矿产 base (红古园区, around 平安镇) -----------------------------------------------------------
UM_G109 = [(103.193, 36.1845), (103.215, 36.1790), (103.240, 36.1725), (103.265, 36.1630),
           (103.290, 36.1590), (103.318, 36.1600)]
UM_HUANGSHUI_GREEN = [(103.199, 36.1818), (103.210, 36.1765), (103.230, 36.1750), (103.238, 36.1675),
                      (103.257, 36.1672), (103.264, 36.1552), (103.295, 36.1537), (103.309, 36.1585)]
UM_TOWN_CENTRE = (103.2955, 36.1600)   # 平安镇
UM_TOWN_AREA = [(103.281, 36.140), (103.281, 36.190), (103.330, 36.190), (103.330, 36.140)]
UM_LOGISTICS_EAST_X = 103.2155         # 张家寺 freight station area is west of this
UM_FLOOD_CHANNEL_X = 103.2395          # 排洪沟 (N-S)
UM_HV_CORRIDOR_X = 103.2605            # 高压走廊 (N-S)
UM_CLUSTERS = [  # (id suffix, name_zh, name_en, class, column (0 logistics, 1..3), side)
    ("logistics", "物流仓储组团", "Logistics and warehousing cluster", "logistics", 0, None),
    ("2", "工业组团二", "Industrial cluster 2", "M3", 1, "north"),
    ("6", "工业组团六", "Industrial cluster 6", "M3", 1, "south"),
    ("4", "工业组团四", "Industrial cluster 4", "M2", 2, "north"),
    ("5", "工业组团五", "Industrial cluster 5", "M2", 2, "south"),
    ("1", "工业组团一", "Industrial cluster 1", "M1+M2", 3, "north"),
    ("3", "工业组团三", "Industrial cluster 3", "M1+M2", 3, "south"),
]


# ------------------------------------------------------------------ helpers
def to_m(g):
    return shapely.transform(g, lambda c: np.column_stack(_FWD.transform(c[:, 0], c[:, 1])))


def to_ll(g):
    return shapely.transform(g, lambda c: np.column_stack(_INV.transform(c[:, 0], c[:, 1])))


def poly(coords):
    return to_m(Polygon(coords))


def line(coords):
    return to_m(LineString(coords))


def pt(xy):
    return to_m(Point(xy))


def inset(g, d=1.0):
    return g.buffer(-d, join_style="mitre")


def single(g, what):
    """Return g as one Polygon; tiny slivers (< 0.2 % of the area) from clipping are dropped."""
    if isinstance(g, MultiPolygon):
        parts = sorted(g.geoms, key=lambda p: p.area, reverse=True)
        if sum(p.area for p in parts[1:]) > 0.002 * g.area:
            raise SystemExit(f"{what}: clipping split it into {len(parts)} sizeable parts")
        g = parts[0]
    if not isinstance(g, Polygon) or g.is_empty:
        raise SystemExit(f"{what}: not a polygon ({g.geom_type})")
    return g


def clip_into_parent(g, parent, avoid=None, gap=0.0, what="?"):
    """g inside parent (inset 1 m so rounding cannot push it out), minus siblings plus a gap."""
    out = g.intersection(inset(parent))
    if avoid is not None and not avoid.is_empty:
        out = out.difference(avoid.buffer(gap, join_style="mitre") if gap else avoid)
    return single(out, what)


def scale_to_area(g, target_m2, parent=None, avoid=None, gap=0.0, what="?"):
    """Scale g about its centroid until (clipped) area == target (relative tol 1e-8)."""
    c = g.centroid

    def make(s):
        h = shapely.affinity.scale(g, s, s, origin=c)
        return clip_into_parent(h, parent, avoid, gap, what) if parent is not None else h

    lo, hi = 0.02, 1.0
    while make(hi).area < target_m2:
        hi *= 1.5
        if hi > 50:
            raise SystemExit(f"{what}: cannot reach {target_m2 / 1e6:.4f} km2 inside its parent")
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if make(mid).area < target_m2:
            lo = mid
        else:
            hi = mid
        if abs(make(hi).area / target_m2 - 1) < 1e-8:
            break
    return make(hi)


def half_plane(line_coords_m, side, far=20000.0):
    """Polygon on one side ('north'/'south') of an W-E polyline given in metres."""
    xs = [x for x, _ in line_coords_m]
    ys = [y for _, y in line_coords_m]
    yy = max(ys) + far if side == "north" else min(ys) - far
    pts = [(xs[0] - far, ys[0])] + list(line_coords_m) + [(xs[-1] + far, ys[-1]),
                                                          (xs[-1] + far, yy), (xs[0] - far, yy)]
    return Polygon(pts)


def x_band(x0, x1, lat=36.17):
    """Polygon between two meridians (degrees), generous in latitude; returned in metres."""
    return poly([(x0, lat - 0.2), (x1, lat - 0.2), (x1, lat + 0.2), (x0, lat + 0.2)])


FEATURES: dict[str, list[dict]] = {"parks": [], "port_zones": [], "yaogu_zones": [],
                                   "urban_mining_zones": []}
GEOM: dict[str, object] = {}


def add(layer, fid, geom, name_zh, name_en, kind, parent_id, source, km2=None, mu=None, **extra):
    GEOM[fid] = geom
    props = {"id": fid, "name_zh": name_zh, "name_en": name_en, "kind": kind,
             "parent_id": parent_id, "planned_km2": km2, "planned_mu": mu, "source": source,
             "digitisation": DIGI}
    props.update(extra)
    FEATURES[layer].append(props)


def target_m2(km2=None, mu=None):
    return km2 * 1e6 if km2 is not None else mu * MU_M2


# ------------------------------------------------------------------ build
def build_parks():
    parks = [("park.airport_north", AIRPORT_NORTH, "机场北高新园区", "Airport North Hi-tech Park", 18.14,
              "ETDZ plan 第三章 机场北高新园区 (规划面积18.14平方公里)"),
             ("park.anning", ANNING, "安宁园区", "Anning Park", 40.99,
              "ETDZ plan 第三章 安宁园区 (规划面积40.99平方公里)"),
             ("park.xigu", XIGU, "西固园区", "Xigu Park", 73.0,
              "ETDZ plan 第三章 西固园区 (规划面积73平方公里)"),
             ("park.honggu", HONGGU, "红古园区", "Honggu Park", 14.19,
              "ETDZ plan 第三章 红古园区 (规划面积14.19平方公里)"),
             ("park.gaolan", GAOLAN, "皋兰园区", "Gaolan Park", 19.0,
              "ETDZ plan 第三章 皋兰园区 (规划面积19平方公里)")]
    for fid, coords, zh, en, km2, src in parks:
        add("parks", fid, scale_to_area(poly(coords), km2 * 1e6, what=fid), zh, en, "park", None, src,
            km2=km2)
    add("parks", "park.anning.core",
        scale_to_area(poly(ANNING_CORE), 9.53e6, GEOM["park.anning"], what="core"),
        "国家核准面积 (安宁园区核心区)", "Nationally approved core area", "core_area", "park.anning",
        "ETDZ plan 第三章 (在国家核准面积9.53平方公里的基础上)", km2=9.53)
    xin = scale_to_area(poly(XINCHENG), 5.5e6, GEOM["park.xigu"], what="xincheng")
    port = single(GEOM["park.xigu"].difference(xin.buffer(0.5, join_style="mitre")), "port")
    add("parks", "park.xigu.port", port, "兰州国际港务区", "Lanzhou International Port Area", "subpark",
        "park.xigu", "ETDZ plan 第三章 兰州国际港务区规划面积67.5平方公里", km2=67.5,
        note="第五章第一节 gives a 73 km2 (109500 亩) planning control area; digitised at 67.5 so "
             "port + 新城工业园 = 西固园区 (see targets.yaml port.control_area)")
    add("parks", "park.xigu.xincheng", xin, "西固新城工业园", "Xigu Xincheng Industrial Park", "subpark",
        "park.xigu", "ETDZ plan 第三章 西固新城工业园规划面积5.5平方公里", km2=5.5)
    base = scale_to_area(poly(BIOMED_BASE), 7.41e6, GEOM["park.airport_north"], what="biomed")
    add("parks", "biomed.base", base, "生物医药产业基地", "Bio-medicine industrial base", "base",
        "park.airport_north", "ETDZ plan 第三章 机场北高新园区 (规划面积7.41平方公里的生物医药产业基地)",
        km2=7.41)
    p1 = scale_to_area(poly(YAOGU_PHASE1), 1.73e6, base, what="phase1")
    p2 = scale_to_area(poly(YAOGU_PHASE2), 1.1e6, base, avoid=p1, gap=20.0, what="phase2")
    add("parks", "yaogu.phase1", p1, "兰州西部药谷产业园 一期", "Western Pharma Valley, phase 1", "phase",
        "biomed.base", SRC_YAOGU + " 二、(一)一期建设内容 (1.73平方公里 2595.0亩)", km2=1.73, mu=2595.0)
    add("parks", "yaogu.phase2", p2, "兰州西部药谷产业园 二期", "Western Pharma Valley, phase 2", "phase",
        "biomed.base", SRC_YAOGU + " 二、(二)二期建设内容 (1.1平方公里 1650亩)", km2=1.1, mu=1650.0)
    um = single(inset(GEOM["park.honggu"], 1.0), "um.base")
    add("parks", "um.base", um, "国家“城市矿产”示范基地", "National 'urban mining' demonstration base",
        "base", "park.honggu", SRC_UM + "; 第三章 红古园区 (打造国家“城市矿产”示范基地)",
        note="no area figure in the plan; digitised as the whole of 红古园区")
    lb = scale_to_area(poly(LANBAI_CORE), 5.7e6, what="lanbai")
    add("parks", "lanbai.core", lb, "兰白试验区核心创新区", "Lanbai pilot zone core innovation area",
        "core_area", None, SRC_LANBAI + " (东西长4.4公里，南北宽1.3公里，面积5.7平方公里)", km2=5.7,
        note="feature of the Lanbai plan, not of the ETDZ")


def build_port():
    port = GEOM["park.xigu.port"]
    belt = clip_into_parent(line(RIVER_SKETCH).buffer(BELT_HALF_WIDTH_M, cap_style="flat"), port,
                            what="belt")
    add("port_zones", "port.belt.riverside", belt, "滨河生态景观带", "Riverside ecological landscape belt",
        "belt", "park.xigu.port", SRC_PORT + " “一带”", function="riverside green, landscape")
    for fid, coords, zh, en in [
            ("port.axis.xixing_lanyong", AXIS_XIXING_LANYONG, "西行线—兰永快速公路城市发展轴",
             "Xixing line - Lanyong expressway development axis"),
            ("port.axis.shanqian", AXIS_SHANQIAN, "山前路城市发展轴", "Shanqian road development axis")]:
        ln = line(coords)
        if not inset(port).contains(ln):
            raise SystemExit(f"{fid} leaves the port area")
        add("port_zones", fid, ln, zh, en, "axis", "park.xigu.port", SRC_PORT + " “二轴”",
            function="east-west urban development axis")
    for fid, xy, zh, en, fn in [
            ("port.centre.services", CENTRE_SERVICES, "综合服务中心", "Comprehensive service centre",
             "administration, business offices, commerce"),
            ("port.centre.tourism", CENTRE_TOURISM, "旅游服务中心", "Tourism service centre",
             "hotels, exhibition, commerce")]:
        p = pt(xy)
        if not inset(port).contains(p):
            raise SystemExit(f"{fid} outside the port area")
        add("port_zones", fid, p, zh, en, "centre", "park.xigu.port", SRC_PORT + " “二心”", function=fn)
    west = clip_into_parent(poly(PORT_WEST_AREA), port, what="west area")
    east = clip_into_parent(port, port, avoid=west, gap=100.0, what="east area")
    areas = {"west": west, "east": east}
    add("port_zones", "port.area.west", west, "西部旅游休闲片区", "Western tourism and leisure area",
        "district_area", "park.xigu.port", SRC_PORT + " “二区”", function="tourism, leisure")
    add("port_zones", "port.area.east", east, "东部物流产业区", "Eastern logistics industry area",
        "district_area", "park.xigu.port", SRC_PORT + " “二区”", function="logistics, industry")
    river = list(line(RIVER_SKETCH).coords)
    placed = belt.union(GEOM["park.xigu.xincheng"])
    for key, (zh, en, area, bank, fn, coords) in PORT_CLUSTERS.items():
        cell = poly(coords).intersection(half_plane(river, bank))
        cl = clip_into_parent(cell, areas[area], avoid=placed, gap=120.0, what=key)
        placed = placed.union(cl)
        add("port_zones", f"port.cluster.{key}", cl, zh, en, "cluster", f"port.area.{area}",
            SRC_PORT + " “多组团”", function=fn)
    rail = scale_to_area(poly(DONGCHUAN_RAIL), 2e6, GEOM["port.cluster.dongchuan"], what="rail")
    add("port_zones", "port.dongchuan_rail", rail, "兰州东川铁路国际物流中心",
        "Dongchuan rail international logistics centre", "zone", "port.cluster.dongchuan",
        SRC_PORT + " (兰州东川铁路国际物流中心用地2平方公里（3000亩）)", km2=2.0, mu=3000.0,
        function="rail logistics")


def build_yaogu():
    placed = {1: None, 2: None}
    for key, (zh, en, mu, phase, fn, coords) in YAOGU_ZONES.items():
        parent = GEOM[f"yaogu.phase{phase}"]
        z = scale_to_area(poly(coords), mu * MU_M2, parent, avoid=placed[phase], gap=15.0, what=key)
        placed[phase] = z if placed[phase] is None else placed[phase].union(z)
        add("yaogu_zones", f"yaogu.zone.{key}", z, zh, en, "zone", f"yaogu.phase{phase}",
            SRC_YAOGU + f" 四、空间布局 ({zh} 规划占地{mu:g}亩)", mu=mu, function=fn)


def build_urban_mining():
    base = GEOM["um.base"]
    g109 = line(UM_G109).intersection(inset(base, 2.0))
    green = line(UM_HUANGSHUI_GREEN)
    for fid, ln, zh, en, fn in [
            ("um.axis.g109", g109, "综合发展轴 (G109)", "Comprehensive development axis (G109)",
             "external transport corridor linking town and industry"),
            ("um.axis.huangshui", green, "生态景观轴 (湟水河滨河绿带)",
             "Ecological landscape axis (Huangshui riverside green belt)", "ecological barrier")]:
        if ln.geom_type != "LineString" or not inset(base).contains(ln):
            raise SystemExit(f"{fid} leaves the base")
        add("urban_mining_zones", fid, ln, zh, en, "axis", "um.base", SRC_UM + " (二)两轴", function=fn)
    c = pt(UM_TOWN_CENTRE)
    add("urban_mining_zones", "um.centre", c, "公共服务生活中心 (平安镇镇区)",
        "Public service and living centre (Ping'an town)", "centre", "um.base", SRC_UM + " (一)一心")
    town = clip_into_parent(poly(UM_TOWN_AREA), base, what="town")
    industry = clip_into_parent(base, base, avoid=town, gap=150.0, what="industry")
    if not town.contains(c):
        raise SystemExit("um.centre not in the town area")
    add("urban_mining_zones", "um.area.town", town, "平安镇镇区", "Ping'an town area", "district_area",
        "um.base", SRC_UM + " (三)两区", function="public services, living")
    add("urban_mining_zones", "um.area.industry", industry, "产业片区", "Industrial area",
        "district_area", "um.base", SRC_UM + " (三)两区", function="industry, warehousing")
    g_coords = list(line(UM_G109).coords)
    cols = [x_band(103.10, UM_LOGISTICS_EAST_X), x_band(UM_LOGISTICS_EAST_X, UM_FLOOD_CHANNEL_X),
            x_band(UM_FLOOD_CHANNEL_X, UM_HV_CORRIDOR_X), x_band(UM_HV_CORRIDOR_X, 103.40)]
    corridors = (line([(UM_LOGISTICS_EAST_X, 36.10), (UM_LOGISTICS_EAST_X, 36.25)]).buffer(30)
                 .union(line([(UM_FLOOD_CHANNEL_X, 36.10), (UM_FLOOD_CHANNEL_X, 36.25)]).buffer(25))
                 .union(line([(UM_HV_CORRIDOR_X, 36.10), (UM_HV_CORRIDOR_X, 36.25)]).buffer(40)))
    g109_strip = line(UM_G109).buffer(30, cap_style="flat")
    for suffix, zh, en, cls, col, side in UM_CLUSTERS:
        cell = cols[col] if side is None else cols[col].intersection(half_plane(g_coords, side))
        avoid = corridors if side is None else corridors.union(g109_strip)
        cl = clip_into_parent(cell, industry, avoid=avoid, what=f"um {suffix}")
        add("urban_mining_zones", f"um.cluster.{suffix}", cl, zh, en, "cluster", "um.area.industry",
            SRC_UM + " (四)七组团", industrial_class=cls,
            function="张家寺 railway freight station and warehousing" if side is None else None)


# ------------------------------------------------------------------ write and verify
def wgs84_clean(g):
    """metres -> lon/lat, snapped to 1e-6 deg, CCW exterior."""
    ll = shapely.set_precision(to_ll(g.simplify(0.05)), 1e-6)
    return orient(ll, 1.0) if isinstance(ll, Polygon) else ll


def _r(o):
    if isinstance(o, float):
        return round(o, 6)
    if isinstance(o, (list, tuple)):
        return [_r(v) for v in o]
    return o


def write_layers():
    for layer, feats in FEATURES.items():
        rows = []
        for props in feats:
            props = {k: v for k, v in props.items() if v is not None or k in
                     ("parent_id", "planned_km2", "planned_mu")}
            geom = mapping(wgs84_clean(GEOM[props["id"]]))
            geom = {"type": geom["type"], "coordinates": _r(geom["coordinates"])}
            rows.append(json.dumps({"type": "Feature", "properties": props, "geometry": geom},
                                   ensure_ascii=False, separators=(",", ":")))
        text = ('{"type":"FeatureCollection","name":"%s",\n"features":[\n%s\n]}\n'
                % (layer, ",\n".join(rows)))
        (OUT / f"{layer}.geojson").write_text(text, encoding="utf-8")


def geod_area_m2(g):
    return abs(GEOD.geometry_area_perimeter(g)[0])


def verify():
    feats = {}
    for layer in FEATURES:
        for f in json.loads((OUT / f"{layer}.geojson").read_text(encoding="utf-8"))["features"]:
            feats[f["properties"]["id"]] = (f["properties"], shape(f["geometry"]), layer)
    bad = []
    print(f"{'id':34} {'kind':13} {'parent':22} {'planned':>14} {'measured':>14} {'dev %':>8}")
    for fid, (p, g, layer) in feats.items():
        if not g.is_valid or g.geom_type.startswith("Multi"):
            bad.append(f"{fid}: invalid or multi ({g.geom_type})")
        planned = measured = dev = ""
        if g.geom_type == "Polygon" and (p["planned_km2"] or p["planned_mu"]):
            a = geod_area_m2(g)
            if p["planned_km2"] is not None:
                t, unit, m = p["planned_km2"], "km2", a / 1e6
            else:
                t, unit, m = p["planned_mu"], "mu", a / MU_M2
            d = 100 * (m / t - 1)
            planned, measured, dev = f"{t:g} {unit}", f"{m:.4f} {unit}", f"{d:+.4f}"
            if abs(d) > 0.05:
                bad.append(f"{fid}: area off by {d:+.4f} %")
        print(f"{fid:34} {p['kind']:13} {str(p['parent_id']):22} {planned:>14} {measured:>14} {dev:>8}")
        if p["parent_id"]:
            pg = to_m(feats[p["parent_id"]][1])
            gm = to_m(g)
            if g.geom_type == "Polygon":
                out = gm.difference(pg).area / gm.area
            elif g.geom_type == "LineString":
                out = gm.difference(pg).length / gm.length
            else:
                out = 0.0 if pg.covers(gm) else 1.0
            if out > 1e-6:
                bad.append(f"{fid}: {out:.2e} outside its parent {p['parent_id']}")
    groups = {}
    for fid, (p, g, _) in feats.items():
        if g.geom_type == "Polygon":
            key = ("top",) if p["parent_id"] is None else (p["parent_id"], p["kind"])
            groups.setdefault(key, []).append(fid)
    for key, ids in groups.items():
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                ga, gb = to_m(feats[a][1]), to_m(feats[b][1])
                ov = ga.intersection(gb).area / min(ga.area, gb.area)
                if ov > 1e-6:
                    bad.append(f"{a} and {b} overlap ({ov:.2e})")
    print(f"\n{len(feats)} features checked:", "all OK" if not bad else f"{len(bad)} problems")
    for b in bad:
        print("  PROBLEM", b)
    return not bad


def main():
    OUT.mkdir(exist_ok=True)
    build_parks()
    build_port()
    build_yaogu()
    build_urban_mining()
    write_layers()
    return 0 if verify() else 1


if __name__ == "__main__":
    from gis.cli import run_script  # noqa: E402

    sys.exit(run_script(lambda argv: main(), name="digitise_layers"))
