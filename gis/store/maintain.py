"""Looking after the store: a parcel's history, and whether the stored areas still fit the geometry.

:func:`check_areas` compares each parcel's stored ``area_mu`` (measured by parkgis when written) with
PostGIS' ``ST_Area(geom::geography)`` on the same geometry. The two agree to ~1e-6 on a geometry that
has not changed since, so a relative difference above ``tolerance`` (1e-5) means the geometry was
edited elsewhere (QGIS) after the last measurement, or the area was never measured.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from ..errors import InputError
from ..area import area_m2
from ..units import MU_M2
from .schema import MANAGED, require_store, schema_of
from .url import connect

__all__ = ["history", "check_areas", "remeasure", "AREA_TOLERANCE"]

log = logging.getLogger(__name__)

AREA_TOLERANCE = 1e-5
_QUIET = ("fid", "measured_at")


def _without_geometry(row):
    """A row's attributes as the history shows them (its geometry has columns of its own)."""
    return {k: v for k, v in row.items() if k != "geom"} if isinstance(row, dict) else row


def _changes(before, after, geom_changed=False) -> str:
    before, after = before or {}, after or {}
    if not before:
        return f"created ({len([k for k in after if k not in _QUIET])} fields)"
    if not after:
        return "deleted"
    parts = ["geometry changed"] if geom_changed else []
    for key in dict.fromkeys([*before, *after]):
        if key in _QUIET:
            continue
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "area_mu" and isinstance(old, (int, float)) and isinstance(new, (int, float)):
            parts.append(f"area_mu {old:.4f} → {new:.4f}")
        else:
            parts.append(f"{key}: {old} → {new}")
    return "; ".join(parts)


def history(url, key: str, *, table: str = "parcels") -> pd.DataFrame:
    """Every change of the parcel (or zone) ``key``, oldest first: at, operation, who, changes, before, after."""
    from psycopg import sql

    if table not in MANAGED:
        raise InputError(f"history is kept for {', '.join(MANAGED)}, not {table!r}")
    with connect(url) as (conn, target):
        require_store(conn, target)
        # an INSERT's row is stored once: as the "before" of the row's next entry, or as the row itself
        rows = conn.execute(sql.SQL(
            "SELECT h.at, h.operation, h.who, h.before, "
            "CASE WHEN h.operation = 'INSERT' AND h.after IS NULL THEN "
            "  coalesce(lead(h.before) OVER w, (SELECT to_json(p) FROM {t} p WHERE p.fid = h.fid)) ELSE h.after END, "
            "h.geom_before IS DISTINCT FROM h.geom_after AND h.operation = 'UPDATE' "
            "FROM {h} h WHERE h.table_name = %s AND h.fid IN (SELECT fid FROM {h} WHERE table_name = %s AND key = %s) "
            "WINDOW w AS (PARTITION BY h.fid ORDER BY h.at, h.id) ORDER BY h.at, h.id").format(
            h=sql.Identifier(schema_of(target), "history"), t=sql.Identifier(schema_of(target), table)),
            [table, table, str(key)]).fetchall()
    frame = pd.DataFrame(rows, columns=["at", "operation", "who", "before", "after", "geom_changed"])
    frame["after"] = [_without_geometry(a) for a in frame["after"]]
    frame.insert(3, "changes", [_changes(b, a, g) for b, a, g in zip(frame["before"], frame["after"], frame.pop("geom_changed"))])
    for col in ("before", "after"):
        frame[col] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in frame[col]]
    return frame


def check_areas(url, *, tolerance: float = AREA_TOLERANCE) -> pd.DataFrame:
    """Per parcel: stored area_mu, PostGIS' geodesic area in 亩, relative difference and whether they agree."""
    from psycopg import sql

    with connect(url) as (conn, target):
        require_store(conn, target)
        rows = conn.execute(sql.SQL(
            "SELECT parcel_id, park_id, area_mu, ST_Area(geom::geography) / %s FROM {} ORDER BY parcel_id").format(
            sql.Identifier(schema_of(target), "parcels")), [MU_M2]).fetchall()
    frame = pd.DataFrame(rows, columns=["parcel_id", "park_id", "area_mu", "postgis_area_mu"])
    for col in ("area_mu", "postgis_area_mu"):
        frame[col] = pd.to_numeric(frame[col]).astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (frame["area_mu"] - frame["postgis_area_mu"]).abs() / frame["postgis_area_mu"].abs()
    frame["rel_diff"] = rel
    frame["agrees"] = (rel <= tolerance).fillna(False).astype(bool)
    frame["reason"] = np.where(frame["area_mu"].isna(), "never measured",
                               np.where(frame["agrees"], "", "geometry changed since area_mu was measured"))
    log.info("checked %d parcels: %d disagree above %g", len(frame), int((~frame["agrees"]).sum()), tolerance)
    return frame


def remeasure(url, parcel_ids) -> int:
    """Measure the geometry of ``parcel_ids`` again (parkgis' ellipsoidal area) and store it as area_mu.

    For parcels whose geometry was edited elsewhere (QGIS) since they were written; the geometry is
    left as it is. Returns the number of parcels updated (each update is in the history).
    """
    from psycopg import sql

    import geopandas as gpd
    import pyarrow as pa
    import shapely

    from ._copy import copy_in

    ids = [str(p) for p in parcel_ids]
    if not ids:
        return 0
    with connect(url) as (conn, target):
        info = require_store(conn, target)
        t = sql.Identifier(schema_of(target), "parcels")
        with conn.transaction():
            rows = conn.execute(sql.SQL("SELECT fid, ST_AsBinary(geom) FROM {} WHERE parcel_id = ANY(%s) FOR UPDATE").format(t),
                                [ids]).fetchall()
            geoms = gpd.GeoSeries(shapely.from_wkb(np.array([bytes(g) for _, g in rows], dtype=object)), crs=f"EPSG:{info.get('srid', 4490)}")
            mu = area_m2(geoms).to_numpy() / MU_M2
            conn.execute("CREATE TEMP TABLE parkgis_remeasure (fid bigint, area_mu double precision) ON COMMIT DROP")
            copy_in(conn.cursor(), sql.Identifier("parkgis_remeasure"),
                    pa.table({"fid": pa.array([f for f, _ in rows], type=pa.int64()), "area_mu": pa.array(mu)}))
            n = conn.execute(sql.SQL("UPDATE {} p SET area_mu = r.area_mu, measured_at = now() FROM parkgis_remeasure r "
                                     "WHERE p.fid = r.fid").format(t)).rowcount
    log.info("remeasured %d parcels", n)
    return n
