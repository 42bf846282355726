"""Database URLs: parsing, redaction and connecting, with every failure as a one-line :class:`InputError`.

A source or sink URL is a libpq connection URI plus parkgis' own query parameters::

    postgresql://[user[:password]@]host[:port]/db?table=parcels&schema=public
    postgresql:///planning?host=/var/run/postgresql&table=parcels      (a socket folder, as libpq allows)
    postgresql://?service=parkgis&table=parcels                         (a pg_service.conf entry)
    postgresql://host/db?sql=SELECT * FROM parcels WHERE park_id = 'a'  (reading only)

``table``, ``schema``, ``sql`` and ``run`` belong to parkgis; every other parameter (``host``, ``port``,
``sslmode``, ``service``, ``password`` …) goes to libpq unchanged, so credentials may come from the
environment (``PGUSER``, ``PGPASSWORD``), a service file or ``~/.pgpass``. A password is accepted in the
URL but never shown: every message uses :func:`redact`.

>>> redact("postgresql://ana:s3cret@db.example/zone?table=parcels")
'postgresql://ana:***@db.example/zone?table=parcels'
>>> redact("postgresql:///zone?host=/tmp&password=x")
'postgresql:///zone?host=/tmp&password=***'
>>> u = parse_url("postgres://db/zone?table=parcels&schema=plan&sslmode=disable")
>>> u.schema, u.table, u.conninfo
('plan', 'parcels', 'postgresql://db/zone?sslmode=disable')
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from ..errors import InputError

__all__ = ["SCHEMES", "StoreURL", "parse_url", "redact", "is_db_url", "connect"]

log = logging.getLogger(__name__)

SCHEMES = ("postgresql", "postgres")
_OWN_PARAMS = ("table", "schema", "sql", "run")
_SECRET_PARAMS = ("password", "sslpassword")


def is_db_url(value) -> bool:
    """True for a ``postgresql://`` or ``postgres://`` URL."""
    return isinstance(value, str) and value.split(":", 1)[0].lower() in SCHEMES and "://" in value


def redact(url: str) -> str:
    """``url`` with any password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostinfo = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = parts.query
    if query:
        pairs = []
        for piece in query.split("&"):
            key = piece.split("=", 1)[0]
            pairs.append(f"{key}=***" if key.lower() in _SECRET_PARAMS and "=" in piece else piece)
        query = "&".join(pairs)
    return _join(parts.scheme, netloc, parts.path, query)


def _join(scheme: str, netloc: str, path: str, query: str) -> str:
    """A URL from its parts, keeping ``//`` when there is no host (``postgresql:///db``), unlike urlunsplit."""
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


@dataclasses.dataclass(frozen=True)
class StoreURL:
    """A parsed URL: ``conninfo`` for libpq, and what parkgis reads or writes there."""

    url: str
    conninfo: str
    schema: str | None = None
    table: str | None = None
    sql: str | None = None
    run: str | None = None

    @property
    def redacted(self) -> str:
        return redact(self.url)

    def with_table(self, table: str | None) -> "StoreURL":
        return dataclasses.replace(self, table=table) if table else self


def parse_url(url: str, *, layer: str | None = None) -> StoreURL:
    """Split ``url`` into a libpq conninfo and parkgis' parameters; ``layer`` (when given) names the table."""
    if not is_db_url(url):
        raise InputError(f"{redact(url)} is not a postgresql:// URL")
    parts = urlsplit(url)
    own, passed = {}, []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OWN_PARAMS:
            own[key] = value
        else:
            passed.append((key, value))
    conninfo = _join("postgresql", parts.netloc, parts.path, urlencode(passed, quote_via=quote))
    for key in ("table", "schema", "run"):
        if key in own and not own[key].strip():
            raise InputError(f"{redact(url)}: the {key} parameter is empty")
    table = layer or own.get("table")
    if own.get("sql") and table:
        raise InputError(f"{redact(url)}: give either a table or sql, not both")
    return StoreURL(url=url, conninfo=conninfo, schema=own.get("schema"), table=table, sql=own.get("sql") or None,
                    run=own.get("run"))


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _explain(message: str) -> str:
    low = message.lower()
    if "password authentication failed" in low:
        return "wrong user name or password (" + message.split("FATAL:", 1)[-1].strip() + ")"
    if "no password supplied" in low:
        return "the server wants a password: put it in ~/.pgpass, PGPASSWORD or a service file"
    if "does not exist" in low and "database" in low:
        return message.split("FATAL:", 1)[-1].strip()
    if "connection refused" in low or "no such file or directory" in low or "could not translate host" in low \
            or "timeout expired" in low or "could not connect" in low:
        return "cannot reach the server (is PostgreSQL running there, and the host/port right?)"
    return message


@contextlib.contextmanager
def connect(url, *, layer: str | None = None, autocommit: bool = False, need_postgis: bool = True,
            connect_timeout: int = 10):
    """Open a psycopg connection for ``url`` (a str or :class:`StoreURL`); yields ``(conn, StoreURL)``.

    The work of the block is committed when it ends normally and rolled back when it raises.
    Connection failures, a missing PostGIS extension (with ``need_postgis``) and database errors raised
    inside the block become :class:`InputError` with the URL redacted.
    """
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError("reading or writing postgresql:// needs psycopg: pip install 'parkgis[postgis]'") from None
    target = url if isinstance(url, StoreURL) else parse_url(url, layer=layer)
    red = target.redacted
    try:
        conn = psycopg.connect(target.conninfo, autocommit=autocommit, connect_timeout=connect_timeout,
                               application_name="parkgis", client_encoding="UTF8")  # COPY sends UTF-8
    except psycopg.OperationalError as exc:
        raise InputError(f"cannot connect to {red}: {_explain(_first_line(exc))}") from None
    except psycopg.ProgrammingError as exc:  # a malformed conninfo
        raise InputError(f"{red} is not a valid connection URL: {_first_line(exc)}") from None
    try:
        if need_postgis:
            require_postgis(conn, red)
        yield conn, target
        if not conn.autocommit and not conn.closed:
            conn.commit()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InputError(f"{red}: permission denied ({_first_line(exc)})") from None
    except psycopg.Error as exc:
        raise InputError(f"{red}: {_first_line(exc)}") from None
    finally:
        conn.close()


def require_postgis(conn, red: str) -> None:
    """Raise :class:`InputError` when the database has no PostGIS extension."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
    if not conn.autocommit:
        conn.rollback()
    if row is None:
        raise InputError(f"{red}: the database has no PostGIS extension; a superuser can add it with "
                         f"CREATE EXTENSION postgis")
