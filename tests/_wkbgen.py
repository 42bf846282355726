"""Hand-built WKB for the geometry kinds GEOS and shapely cannot write (curves, surfaces, broken rings)."""

from __future__ import annotations

import struct

import numpy as np
import pyogrio


def hdr(t, n=None):
    return struct.pack("<BI", 1, t) + (struct.pack("<I", n) if n is not None else b"")


def pts(p):
    return struct.pack("<I", len(p)) + b"".join(struct.pack("<" + "d" * len(q), *q) for q in p)


def circular(p):
    return hdr(8) + pts(p)


def linestring(p):
    return hdr(2) + pts(p)


def polygon(rings, t=3):
    return hdr(t, len(rings)) + b"".join(pts(r) for r in rings)


def write_gpkg(path, wkbs, *, crs="EPSG:4544", ids=None):
    """A GeoPackage layer of raw WKB values (geometry type Unknown, so anything goes in)."""
    ids = np.array(ids if ids is not None else [f"G{i}" for i in range(len(wkbs))], dtype=object)
    pyogrio.raw.write(str(path), geometry=np.array(wkbs, dtype=object), field_data=[ids], fields=["parcel_id"],
                      geometry_type="Unknown", crs=crs, driver="GPKG")
    return path
