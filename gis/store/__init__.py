"""A shared parcel store on PostgreSQL/PostGIS: one source of truth for a planning team.

* :mod:`gis.store.url` — ``postgresql://`` URLs: parsing, redaction (passwords never shown), connecting.
* :mod:`gis.store.io` — a database table or query as a source and a sink (``read_source``, ``write_source``).
* :mod:`gis.store.schema` — the store's tables, indexes, constraints and history triggers (``init_store``).
* :mod:`gis.store.roles` — editor (per park, row-level security), auditor and reader roles (``grant``).
* :mod:`gis.store.runs` — audit runs and their per-parcel results (``write_audit_run``).
* :mod:`gis.store.maintain` — ``history`` of a parcel and the ``check_areas`` consistency check.
* :mod:`gis.store.styles` — QGIS default styles (``layer_styles``) for parcels and zones.

psycopg 3 is needed (``pip install 'parkgis[postgis]'``); it is imported only when a database is used.
"""

from __future__ import annotations

from .url import is_db_url, parse_url, redact

__all__ = ["is_db_url", "parse_url", "redact"]
