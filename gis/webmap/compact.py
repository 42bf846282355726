"""A compact, columnar encoding of a layer for the browser, decoded by ``templates/parkgis.js``.

Plain ``folium.GeoJson`` writes one JSON object per feature with full-precision coordinates; a
page of 100 000 parcels is ~60 MB and freezes the browser. Here a layer travels as

* geometry: integer coordinates quantised to ``quantum_deg`` (1e-6° ≈ 0.1 m by default), each
  axis delta-encoded along the whole stream, zig-zag mapped and packed as base64 varints, with
  the structure (parts per feature, type and rings per part, vertices per ring) in four more
  varint streams; polygon rings drop their closing vertex (Leaflet closes them);
* attributes: one array per field (not one object per feature); repeated strings dictionary
  encoded; numbers rounded to the digits shown;
* style: one palette plus one small integer per feature.

The page draws everything on one shared ``L.canvas`` renderer, with a single tooltip and popup
bound on the layer group (built with ``textContent``, so attribute values always stay text).

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> g = gpd.GeoSeries([box(103.0, 36.0, 103.001, 36.001)], crs="EPSG:4326")
>>> enc = encode_geometry(g)
>>> decode_geometry(enc)[0][0][0][:2]
[(103.001, 36.0), (103.001, 36.001)]
"""

from __future__ import annotations

import base64
import json
import logging
import math

import numpy as np
import pandas as pd
import shapely

__all__ = ["encode_geometry", "decode_geometry", "encode_column", "safe_json", "varint_encode",
           "varint_decode", "DEFAULT_QUANTUM_DEG"]

log = logging.getLogger(__name__)

DEFAULT_QUANTUM_DEG = 1e-6
"""Coordinate step in degrees: 1e-6° is ~0.11 m north–south and ~0.09 m east–west at 36°N."""

_DENSE_VERTICES = 16
"""Simplify only layers whose features average more vertices than this (simple parcels gain nothing)."""

# part type codes in the stream
_POINT, _LINE, _POLYGON = 0, 1, 2


def varint_encode(values) -> bytes:
    """LEB128 varints of non-negative integers, vectorised (a loop over byte positions only).

    >>> varint_encode([0, 1, 127, 128, 300]).hex()
    '00017f8001ac02'
    """
    v = np.asarray(values, dtype=np.uint64).ravel()
    if v.size == 0:
        return b""
    nbytes = np.ones(v.size, dtype=np.int64)
    for k in range(1, 10):
        nbytes += v >= np.uint64(1) << np.uint64(7 * k)
    ends = np.cumsum(nbytes)
    starts = ends - nbytes
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    for k in range(int(nbytes.max())):
        sel = nbytes > k
        byte = (v[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (nbytes[sel] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[sel] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


def varint_decode(data: bytes) -> np.ndarray:
    """Inverse of :func:`varint_encode` (used by tests and the bench; the page decodes in JS)."""
    b = np.frombuffer(data, dtype=np.uint8)
    last = (b & 0x80) == 0
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    out = np.zeros(ends.size, dtype=np.uint64)
    group = np.repeat(np.arange(ends.size), ends - starts + 1)
    pos = np.arange(b.size) - starts[group]
    np.add.at(out, group, (b & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64))
    return out


def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    u = u.astype(np.int64)
    return (u >> 1) ^ -(u & 1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _flatten_parts(geoms: np.ndarray):
    """Single-part geometries and the index of the feature each came from (collections flattened)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    while True:
        multi = np.isin(shapely.get_type_id(parts), [4, 5, 6, 7])
        if not multi.any():
            return parts, owner
        sub, sub_owner = shapely.get_parts(parts[multi], return_index=True)
        keep = ~multi
        parts_new = np.concatenate([parts[keep], sub])
        owner_new = np.concatenate([owner[keep], owner[multi][sub_owner]])
        order = np.argsort(owner_new, kind="stable")
        parts, owner = parts_new[order], owner_new[order]


def encode_geometry(geoms, *, quantum_deg: float = DEFAULT_QUANTUM_DEG, simplify_deg: float | None = None) -> dict:
    """Encode lon/lat geometries (a GeoSeries or array in EPSG:4326 order x=lon, y=lat).

    Returns ``{"q": quantum, "n": features, "P", "T", "R", "N", "C": base64 varint streams}``.
    Missing and empty geometries encode as a feature with no parts (not drawn, still counted).
    ``simplify_deg`` drops vertices closer to the line than that (choose it below one screen pixel
    at the largest zoom the map will be read at).
    """
    arr = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    arr = np.array([g for g in arr], dtype=object) if arr.dtype != object else arr
    n = arr.size
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    arr = np.where(missing, None, arr)
    if simplify_deg and np.nanmean(shapely.get_num_coordinates(arr)) > _DENSE_VERTICES:
        arr = shapely.simplify(arr, simplify_deg, preserve_topology=True)
    parts, owner = _flatten_parts(arr)
    type_id = shapely.get_type_id(parts)
    ptype = np.full(parts.size, _LINE, dtype=np.int64)
    ptype[type_id == 0] = _POINT
    ptype[type_id == 3] = _POLYGON
    is_poly = ptype == _POLYGON
    # rings: polygons give exterior + holes, lines and points are their own single "ring"
    poly_idx = np.flatnonzero(is_poly)
    rings_p, rings_owner = shapely.get_rings(parts[is_poly], return_index=True)
    rings_owner = poly_idx[rings_owner]
    other_idx = np.flatnonzero(~is_poly)
    ring_geoms = np.concatenate([rings_p, parts[~is_poly]])
    ring_part = np.concatenate([rings_owner, other_idx])
    order = np.argsort(ring_part, kind="stable")
    ring_geoms, ring_part = ring_geoms[order], ring_part[order]
    coords, ring_of = shapely.get_coordinates(ring_geoms, return_index=True)
    counts = np.bincount(ring_of, minlength=ring_geoms.size)
    # drop the closing vertex of polygon rings
    ring_is_poly = is_poly[ring_part]
    if coords.size:
        ends = np.cumsum(counts) - 1
        drop = np.zeros(len(coords), dtype=bool)
        closing = ends[ring_is_poly & (counts > 0)]
        drop[closing] = True
        coords = coords[~drop]
        counts = counts - (ring_is_poly & (counts > 0))
    q = np.rint(coords / quantum_deg).astype(np.int64) if coords.size else np.zeros((0, 2), np.int64)
    deltas = np.diff(q, axis=0, prepend=np.zeros((1, 2), np.int64))
    parts_per_feature = np.bincount(owner, minlength=n)
    rings_per_part = np.bincount(ring_part, minlength=parts.size)
    return {
        "q": quantum_deg,
        "n": int(n),
        "P": _b64(varint_encode(parts_per_feature)),
        "T": _b64(varint_encode(ptype)),
        "R": _b64(varint_encode(rings_per_part)),
        "N": _b64(varint_encode(counts)),
        "C": _b64(varint_encode(_zigzag(deltas.ravel()))),
    }


def decode_geometry(enc: dict) -> list:
    """Python mirror of the page's decoder: per feature a list of parts, each a list of rings of (lon, lat).

    Polygon rings come back without their closing vertex.
    """
    def stream(key):
        return varint_decode(base64.b64decode(enc[key])).astype(np.int64)

    P, T, R, N = stream("P"), stream("T"), stream("R"), stream("N")
    xy = np.cumsum(_unzigzag(stream("C")).reshape(-1, 2), axis=0) * enc["q"]
    feats, pi, ri, ci = [], 0, 0, 0
    for nparts in P:
        parts = []
        for _ in range(nparts):
            rings = []
            for _ in range(R[pi]):
                k = int(N[ri])
                rings.append([(round(float(x), 9), round(float(y), 9)) for x, y in xy[ci:ci + k]])
                ri += 1
                ci += k
            parts.append(rings)
            pi += 1
        feats.append(parts)
    return feats


def _digits_for(values: np.ndarray) -> int:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0
    if np.all(finite == np.round(finite)):
        return 0
    mag = float(np.nanmedian(np.abs(finite))) or 1.0
    return int(min(6, max(1, 3 - math.floor(math.log10(mag)))))


def encode_column(values: pd.Series, *, digits: int | None = None) -> dict:
    """One attribute column: ``{"v": [...]}`` or dictionary-encoded ``{"d": [...], "k": [codes]}``.

    Numbers are rounded to ``digits`` (chosen from their magnitude when None); missing values are
    ``null`` (never 0).
    """
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s):
        s = s.map({True: "是 yes", False: "否 no"})
    if pd.api.types.is_numeric_dtype(s):
        f = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        d = _digits_for(f) if digits is None else digits
        r = np.round(f, d)
        finite = np.isfinite(r)
        if d == 0 and np.all(np.abs(r[finite]) < 2**53):
            out = np.where(finite, r, 0).astype(np.int64).tolist()
        else:
            out = r.tolist()
        for i in np.flatnonzero(~finite):  # only the missing values: null, never 0
            out[i] = None
        return {"v": out, "num": True}
    as_str = s.astype("string")
    codes, uniques = pd.factorize(as_str, use_na_sentinel=True)
    if len(uniques) * 2 <= len(s):
        return {"d": [str(u) for u in uniques], "k": codes.tolist()}
    return {"v": as_str.astype(object).where(as_str.notna(), None).tolist()}


def safe_json(obj) -> str:
    """JSON that is safe inside an HTML ``<script>``: ``<``, ``>``, ``&`` and line separators escaped.

    >>> safe_json({"name": "</script><img src=x onerror=alert(1)>"})
    '{"name":"\\\\u003c/script\\\\u003e\\\\u003cimg src=x onerror=alert(1)\\\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
