"""A throwaway PostgreSQL cluster for the store tests: initdb in a temporary folder, unix socket only.

initdb refuses to run as root, so as root the cluster runs as the system user ``parkgis_test``
(created with useradd when missing). The superuser ``postgres`` connects without a password (trust);
every other role needs its password (scram-sha-256), so the tests can try right and wrong ones.
One cluster serves the whole session and is stopped at exit. Without PostgreSQL or PostGIS the tests
skip, saying why; with ``PARKGIS_REQUIRE_DB=1`` (CI) they fail instead.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

RUN_AS = "parkgis_test"
_CLUSTER = None
_FAILED = None


def skip_or_fail(reason: str):
    if os.environ.get("PARKGIS_REQUIRE_DB") == "1":
        pytest.fail(f"PARKGIS_REQUIRE_DB=1 but {reason}")
    pytest.skip(reason)


def _bindir() -> Path | None:
    if os.environ.get("PARKGIS_PG_BINDIR"):
        return Path(os.environ["PARKGIS_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _has_postgis(bindir: Path) -> bool:
    try:
        share = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        share = ""
    if share and Path(share, "extension", "postgis.control").exists():
        return True
    return bool(glob.glob(f"/usr/share/postgresql/{bindir.parent.name}/extension/postgis.control"))


class Cluster:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="parkgis-pg-"))
        self.data = self.root / "data"
        self.socket = str(self.root)
        self.prefix = []
        if os.geteuid() == 0:
            if subprocess.run(["id", RUN_AS], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
                               check=True, capture_output=True)
            shutil.chown(self.root, user=RUN_AS)
            os.chmod(self.root, 0o755)
            self.prefix = ["runuser", "-u", RUN_AS, "--"]

    def _run(self, *args):
        proc = subprocess.run([*self.prefix, *map(str, args)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(str(args[0])).name} failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
        return proc

    def start(self, **settings):
        """initdb and start; ``settings`` are extra server settings (name=value), e.g. for a benchmark."""
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        hba = self.data / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        opts = (f"-c listen_addresses='' -c unix_socket_directories={self.socket} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=40 -c shared_buffers=64MB"
                + "".join(f" -c {k}={v}" for k, v in settings.items()))
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-o", opts, "-w", "-t", "60", "-l", self.root / "log", "start")
        atexit.register(self.stop)
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE parkgis_template")
        with psycopg.connect(self.url("parkgis_template"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        return self

    def stop(self):
        if self.data.exists():
            subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                            "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: str, user: str = "postgres", password: str | None = None, **params) -> str:
        from urllib.parse import quote

        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
        query = "&".join([f"host={self.socket}", *(f"{k}={v}" for k, v in params.items())])
        return f"postgresql://{auth}@/{db}?{query}"

    def new_database(self, *, postgis: bool = True) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {'parkgis_template' if postgis else 'template0'}")
        return name

    def admin(self, db: str):
        import psycopg

        return psycopg.connect(self.url(db), autocommit=True)

    def add_user(self, name: str, password: str) -> None:
        from psycopg import sql

        with self.admin("postgres") as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))


def cluster(**settings) -> Cluster:
    """The session's cluster, started on first use; skips (or fails under PARKGIS_REQUIRE_DB=1) when unavailable.

    ``settings`` (server settings) apply when this call starts the cluster.
    """
    global _CLUSTER, _FAILED
    if _CLUSTER is not None:
        return _CLUSTER
    if _FAILED:
        skip_or_fail(_FAILED)
    try:
        import adbc_driver_postgresql  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        _FAILED = f"{exc.name} is not installed (pip install 'parkgis[postgis]')"
        skip_or_fail(_FAILED)
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        _FAILED = "PostgreSQL is not installed (no initdb; apt-get install postgresql-15-postgis-3)"
        skip_or_fail(_FAILED)
    if not _has_postgis(bindir):
        _FAILED = f"PostGIS is not installed for the PostgreSQL in {bindir} (apt-get install postgresql-15-postgis-3)"
        skip_or_fail(_FAILED)
    try:
        _CLUSTER = Cluster(bindir).start(**settings)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        _FAILED = f"cannot start a throwaway PostgreSQL cluster: {exc}"
        skip_or_fail(_FAILED)
    return _CLUSTER
