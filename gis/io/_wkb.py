"""A small WKB reader for the geometries GEOS cannot parse: curves, surfaces, TINs, broken rings.

Cadastral data (FileGDB, GeoPackage from QGIS, PostGIS) is full of arcs — CircularString,
CompoundCurve, CurvePolygon, MultiSurface — and 3-D exports carry PolyhedralSurface, TIN and Triangle.
GEOS reads none of them. This module walks ISO and extended (PostGIS) WKB and returns 2-D shapely
geometry plus a note of what it changed:

- an arc (three points: start, a point on the arc, end) is stroked into chords at most
  :data:`ARC_STEP_DEG` degrees of arc apart, so a polygon bounded by true arcs loses at most
  θ²/6 ≈ 1.3e-7 of its area (GDAL's default of 4° loses 8e-4);
- Triangle is a polygon, PolyhedralSurface and TIN are multipolygons of their faces;
- Z and M are dropped; an unclosed ring is closed; a ring of fewer than 4 points is refused.

It is used row by row only for the rows GEOS refused (there is a reason for this Python loop: such rows
are rare, and each needs structural work); every other row is parsed by ``shapely.from_wkb`` in bulk.

>>> import struct
>>> arc = struct.pack("<BII", 1, 8, 3) + struct.pack("<6d", -1, 0, 1, 0, -1, 0)    # a full circle
>>> poly = struct.pack("<BII", 1, 10, 1) + arc                                       # CurvePolygon
>>> geom, notes = parse(poly)
>>> geom.geom_type, sorted(notes)
('Polygon', ['curve'])
>>> abs(geom.area - 3.141592653589793) < 1e-6
True
"""

from __future__ import annotations

import math
import struct

import numpy as np
import shapely

__all__ = ["parse", "wkb_type_codes", "ARC_STEP_DEG", "WKBError", "CURVE_TYPES", "SURFACE_TYPES"]

ARC_STEP_DEG = 0.05
"""Largest angle of arc between two stroked vertices."""

CURVE_TYPES = frozenset({8, 9, 10, 11, 12, 13, 14})  # CircularString … MultiSurface, Curve, Surface
SURFACE_TYPES = frozenset({15, 16, 17})  # PolyhedralSurface, TIN, Triangle
_EWKB_Z, _EWKB_M, _EWKB_SRID = 0x80000000, 0x40000000, 0x20000000


class WKBError(ValueError):
    """The bytes are not well-formed WKB (a short buffer, an unknown type)."""


def wkb_type_codes(wkb_values) -> np.ndarray:
    """The 2-D base type (1 Point … 17 Triangle) of each WKB value; 0 for missing or too short.

    Handles both byte orders, ISO Z/M/ZM codes (1000s) and PostGIS extended flags.
    """
    out = np.zeros(len(wkb_values), dtype=np.int64)
    for i, b in enumerate(wkb_values):  # struct is fast enough for headers; values are bytes
        if b is None or len(b) < 5:
            continue
        code = struct.unpack_from("<I" if b[0] == 1 else ">I", b, 1)[0]
        out[i] = (code & 0x0FFFFFFF) % 1000
    return out


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(bytes(data))
        self.pos = 0
        self.notes: set[str] = set()

    def _take(self, fmt: str):
        try:
            vals = struct.unpack_from(fmt, self.data, self.pos)
        except struct.error:
            raise WKBError("the geometry's bytes end early") from None
        self.pos += struct.calcsize(fmt)
        return vals

    def header(self):
        (order,) = self._take("B")
        if order not in (0, 1):
            raise WKBError(f"byte order {order} is neither 0 nor 1")
        self.end = "<" if order == 1 else ">"
        (code,) = self._take(self.end + "I")
        has_z = bool(code & _EWKB_Z)
        has_m = bool(code & _EWKB_M)
        if code & _EWKB_SRID:
            self._take(self.end + "I")
        code &= 0x0FFFFFFF
        iso, base = divmod(code, 1000)
        if iso in (1, 3):
            has_z = True
        if iso in (2, 3):
            has_m = True
        if has_z or has_m:
            self.notes.add("z")
        return base, 2 + has_z + has_m

    def points(self, dims: int) -> np.ndarray:
        (n,) = self._take(self.end + "I")
        if n > (len(self.data) - self.pos) // (8 * dims):
            raise WKBError("the geometry's bytes end early")
        a = np.frombuffer(self.data, dtype=np.dtype(self.end + "f8"), count=n * dims, offset=self.pos)
        self.pos += 8 * n * dims
        return a.reshape(n, dims)[:, :2].astype(float)

    def count(self) -> int:
        return self._take(self.end + "I")[0]

    # ------------------------------------------------------------------ one geometry, returned as coordinates
    def geometry(self):
        base, dims = self.header()
        if base == 1:
            (xy,) = [np.array(self._take(self.end + "d" * dims)[:2])]
            return shapely.points(xy) if np.isfinite(xy).all() else shapely.Point()
        if base in (2, 8, 9, 13):  # LineString, CircularString, CompoundCurve, Curve
            line = self._curve(base, dims)
            return shapely.linestrings(line) if len(line) >= 2 else shapely.LineString()
        if base in (3, 17):  # Polygon, Triangle
            return self._polygon([self.points(dims) for _ in range(self.count())])
        if base in (10, 14):  # CurvePolygon, Surface
            return self._polygon([self._ring_curve() for _ in range(self.count())])
        if base in (4, 5, 6, 7, 11, 12, 15, 16):  # multis, collections, MultiCurve, MultiSurface, PolyhedralSurface, TIN
            parts = [self.geometry() for _ in range(self.count())]
            parts = [p for p in parts if p is not None and not p.is_empty]
            if base in (6, 12, 15, 16) and all(p.geom_type == "Polygon" for p in parts):
                if base in (15, 16):
                    self.notes.add("surface")
                return shapely.multipolygons(parts) if parts else shapely.MultiPolygon()
            if base in (5, 11) and all(p.geom_type == "LineString" for p in parts):
                return shapely.multilinestrings(parts) if parts else shapely.MultiLineString()
            if base == 4 and all(p.geom_type == "Point" for p in parts):
                return shapely.multipoints(parts) if parts else shapely.MultiPoint()
            return shapely.geometrycollections(parts)
        raise WKBError(f"unknown WKB geometry type {base}")

    def _ring_curve(self) -> np.ndarray:
        base, dims = self.header()
        return self._curve(base, dims)

    def _curve(self, base: int, dims: int) -> np.ndarray:
        if base == 2:
            return self.points(dims)
        if base == 8:
            self.notes.add("curve")
            return stroke_arcs(self.points(dims))
        if base == 9:  # CompoundCurve: a chain of LineStrings and CircularStrings
            pieces = []
            for _ in range(self.count()):
                sub, sub_dims = self.header()
                pieces.append(self._curve(sub, sub_dims))
            pieces = [p for p in pieces if len(p)]
            if not pieces:
                return np.zeros((0, 2))
            out = [pieces[0]] + [p[1:] if np.allclose(p[0], prev[-1]) else p for prev, p in zip(pieces, pieces[1:])]
            return np.concatenate(out)
        raise WKBError(f"WKB type {base} is not a curve")

    def _polygon(self, rings):
        if not rings:
            return shapely.Polygon()
        fixed = []
        for ring in rings:
            ring = ring[np.isfinite(ring).all(axis=1)] if not np.isfinite(ring).all() else ring
            if len(ring) and not np.array_equal(ring[0], ring[-1]):
                self.notes.add("unclosed")
                ring = np.vstack([ring, ring[:1]])
            if len(ring) < 4:
                self.notes.add("short_ring")
                return None
            fixed.append(ring)
        return shapely.Polygon(fixed[0], fixed[1:])


def stroke_arcs(points: np.ndarray, *, step_deg: float = ARC_STEP_DEG) -> np.ndarray:
    """Chords along a CircularString (start, mid, end, mid, end …): vertices at most ``step_deg`` apart."""
    if len(points) < 3 or len(points) % 2 == 0:
        raise WKBError(f"a circular arc needs an odd number ≥ 3 of points, not {len(points)}")
    out = [points[:1]]
    for i in range(0, len(points) - 2, 2):
        out.append(_arc(points[i], points[i + 1], points[i + 2], step_deg)[1:])
    return np.concatenate(out)


def _arc(p0, p1, p2, step_deg):
    # a closed arc (start == end): p1 is diametrically opposite, the arc is a full circle
    if np.allclose(p0, p2):
        c = (p0 + p1) / 2.0
        r = float(np.hypot(*(p0 - c)))
        a0 = math.atan2(p0[1] - c[1], p0[0] - c[0])
        return _points_on(c, r, a0, 2 * math.pi, step_deg, p0, p2)
    ax, ay = p0
    bx, by = p1
    cx, cy = p2
    d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    if abs(d) < 1e-30 * max(1.0, abs(ax) + abs(bx) + abs(cx)) ** 2:  # collinear: a straight line
        return np.array([p0, p2])
    # centre relative to p0 keeps precision on 8-digit projected coordinates
    bx, by, cx, cy = bx - ax, by - ay, cx - ax, cy - ay
    d = 2.0 * (bx * cy - by * cx)
    ux = (cy * (bx * bx + by * by) - by * (cx * cx + cy * cy)) / d
    uy = (bx * (cx * cx + cy * cy) - cx * (bx * bx + by * by)) / d
    c = np.array([ax + ux, ay + uy])
    r = math.hypot(ux, uy)
    a0 = math.atan2(-uy, -ux)
    a2 = math.atan2(p2[1] - c[1], p2[0] - c[0])
    ccw = d > 0  # orientation of p0 → p1 → p2
    sweep = (a2 - a0) % (2 * math.pi)
    if not ccw:
        sweep -= 2 * math.pi
    return _points_on(c, r, a0, sweep, step_deg, p0, p2)


def _points_on(c, r, a0, sweep, step_deg, start, end):
    n = max(1, int(math.ceil(abs(math.degrees(sweep)) / step_deg)))
    t = a0 + sweep * np.arange(n + 1) / n
    pts = np.column_stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)])
    pts[0], pts[-1] = start, end  # exact end points, so chained pieces and rings close
    return pts


def parse(wkb: bytes):
    """``(geometry, notes)`` for one WKB value; notes ⊆ {curve, surface, z, unclosed, short_ring}.

    The geometry is None when a ring cannot be a polygon (fewer than 4 points). Raises
    :class:`WKBError` for bytes that are not WKB.
    """
    reader = _Reader(wkb)
    geom = reader.geometry()
    return geom, reader.notes
