"""Who may do what in the store: an editor role per park, an auditor role and a reader role.

* **reader** (``parkgis_reader``): reads every store table; changes nothing.
* **auditor** (``parkgis_auditor``): reads, and writes audit runs with their results and findings.
* **editor of a park** (``parkgis_editor_<park>``): reads, and inserts, updates and deletes parcels
  of that park only — row-level-security policies compare ``park_id`` with the park, both when a row
  is chosen (``USING``) and when it is written (``WITH CHECK``), so an editor can neither change
  another park's parcel nor move a parcel into another park. An UPDATE of another park's parcel
  changes nothing (zero rows).

:func:`grant` creates the group role when it is missing, gives it its privileges in the URL's schema,
and makes ``user`` a member (creating a LOGIN role without a password when the user does not exist —
set one with ``ALTER ROLE … PASSWORD`` or ``\\password`` in psql). Role, park and user names are
composed as identifiers and literals by :mod:`psycopg.sql`, never pasted.
"""

from __future__ import annotations

import hashlib
import logging

from ..errors import InputError
from .schema import AUDIT_TABLES, META_TABLE, require_store, schema_of
from .url import connect

__all__ = ["ROLE_KINDS", "role_name", "grant"]

log = logging.getLogger(__name__)

ROLE_KINDS = ("reader", "auditor", "editor")
_READ_TABLES = ("parcels", "zones", *AUDIT_TABLES, "history", META_TABLE)


def _short(text: str, limit: int = 63) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    digest = hashlib.sha1(raw).hexdigest()[:8]
    return raw[: limit - 9].decode("utf-8", errors="ignore") + "_" + digest


def role_name(kind: str, park: str | None = None) -> str:
    """The group role of ``kind``; for an editor, of ``park`` (at most 63 bytes, a hash keeps long names apart).

    >>> role_name("reader"), role_name("editor", "yaogu.phase1")
    ('parkgis_reader', 'parkgis_editor_yaogu.phase1')
    """
    if kind not in ROLE_KINDS:
        raise InputError(f"unknown role {kind!r}: use one of {', '.join(ROLE_KINDS)}")
    if kind == "editor":
        if not park or not str(park).strip():
            raise InputError("an editor role is per park: name the park")
        return _short(f"parkgis_editor_{park}")
    if park:
        raise InputError(f"a {kind} is not per park: leave the park out")
    return f"parkgis_{kind}"


def _policy_name(park: str, op: str) -> str:
    return f"editor_{hashlib.sha1(park.encode('utf-8')).hexdigest()[:12]}_{op}"


def _ensure_role(conn, sql, name: str, *, login: bool) -> bool:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
        return False
    conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN")))
    return True


def grant(url, kind: str, user: str, *, park: str | None = None, create_user: bool = True) -> str:
    """Give ``user`` the ``kind`` role (``park`` for an editor) in the URL's store; returns the group role's name."""
    from psycopg import sql

    group = role_name(kind, park)
    if not user or not str(user).strip():
        raise InputError("name the user to grant the role to")
    with connect(url) as (conn, target):
        red, schema = target.redacted, schema_of(target)
        require_store(conn, target)
        s = sql.Identifier(schema)
        g = sql.Identifier(group)
        with conn.transaction():
            _ensure_role(conn, sql, group, login=False)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, g))
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(schema, t) for t in _READ_TABLES), g))
            if conn.execute("SELECT to_regclass('public.layer_styles') IS NOT NULL").fetchone()[0]:
                conn.execute(sql.SQL("GRANT SELECT ON public.layer_styles TO {}").format(g))
            if kind == "auditor":
                conn.execute(sql.SQL("GRANT INSERT, UPDATE, DELETE ON {} TO {}").format(
                    sql.SQL(", ").join(sql.Identifier(schema, t) for t in AUDIT_TABLES), g))
            elif kind == "editor":
                parcels = sql.Identifier(schema, "parcels")
                conn.execute(sql.SQL("GRANT INSERT, UPDATE, DELETE ON {} TO {}").format(parcels, g))
                seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'fid')", [parcels.as_string(conn)]).fetchone()[0]
                if seq:
                    conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.SQL(seq), g))
                lit = sql.Literal(str(park))
                for op, clause in (("insert", "FOR INSERT TO {g} WITH CHECK (park_id = {p})"),
                                   ("update", "FOR UPDATE TO {g} USING (park_id = {p}) WITH CHECK (park_id = {p})"),
                                   ("delete", "FOR DELETE TO {g} USING (park_id = {p})")):
                    name = sql.Identifier(_policy_name(str(park), op))
                    conn.execute(sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(name, parcels))
                    conn.execute(sql.SQL("CREATE POLICY {} ON {} " + clause).format(name, parcels, g=g, p=lit))
            created = create_user and _ensure_role(conn, sql, str(user), login=True)
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [str(user)]).fetchone():
                raise InputError(f"{red}: there is no role {user!r}; create it first (CREATE ROLE … LOGIN)")
            conn.execute(sql.SQL("GRANT {} TO {}").format(g, sql.Identifier(str(user))))
        if created:
            log.warning("created the login role %r without a password: set one with ALTER ROLE … PASSWORD", user)
        log.info("%s: %s is now %s", red, user, group)
        return group
