"""Headless Chromium: PNG screenshots of map pages for slides, and the DOM after drawing (tests, bench).

Chromium runs with no network side channels (background networking, component updates, sync and
QUIC off) and a fresh profile in a temporary folder each time. Where no Chromium is installed,
:class:`ChromiumNotFound` says so in one line.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import ParkGISError
from ..io import atomic_output

__all__ = ["find_chromium", "ChromiumNotFound", "chromium_args", "screenshot", "dump_dom"]

log = logging.getLogger(__name__)

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class ChromiumNotFound(ParkGISError, FileNotFoundError):
    """No headless Chromium to render with."""


def find_chromium() -> str | None:
    """Path of a Chromium: ``$PARKGIS_CHROMIUM``, ``/usr/bin/chromium``, or one on PATH; else None."""
    env = os.environ.get("PARKGIS_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _require() -> str:
    exe = find_chromium()
    if exe is None:
        raise ChromiumNotFound("no Chromium found for PNG rendering: install chromium or set PARKGIS_CHROMIUM; "
                               "the HTML maps are written all the same")
    return exe


def chromium_args(profile_dir, *, offline: bool = True, window=(1600, 1000)) -> list[str]:
    """Flags for a quiet headless run; ``offline`` also points the proxy at a closed port (no network)."""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
            f"--user-data-dir={profile_dir}", f"--window-size={window[0]},{window[1]}"]
    if offline:
        args += ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    return args


def _run(extra: list[str], url: str, *, offline: bool, window, timeout_s: float) -> subprocess.CompletedProcess:
    exe = _require()
    with tempfile.TemporaryDirectory(prefix="parkgis-chromium-") as profile:
        cmd = [exe, *chromium_args(profile, offline=offline, window=window), *extra, url]
        log.debug("running %s", " ".join(cmd))
        try:
            return subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ParkGISError(f"Chromium did not finish rendering {url} within {timeout_s:.0f} s") from None


def _url(page) -> str:
    p = str(page)
    return p if p.startswith(("file:", "http:", "https:", "data:")) else Path(p).resolve().as_uri()


def dump_dom(page, *, budget_ms: int = 10000, offline: bool = True, window=(1600, 1000),
             timeout_s: float = 120) -> tuple[str, float]:
    """The serialised DOM of ``page`` after ``budget_ms`` of virtual time, and the wall-clock seconds taken."""
    t0 = time.perf_counter()
    res = _run(["--dump-dom", f"--virtual-time-budget={budget_ms}"], _url(page), offline=offline,
               window=window, timeout_s=timeout_s)
    wall = time.perf_counter() - t0
    return res.stdout.decode("utf-8", errors="replace"), wall


def screenshot(page, png_path, *, overwrite: bool = False, budget_ms: int = 8000, offline: bool = True,
               window=(1600, 1000), timeout_s: float = 120) -> Path:
    """Render ``page`` (an HTML file) to ``png_path`` with headless Chromium; atomic."""
    png_path = Path(png_path)
    with atomic_output(png_path, overwrite=overwrite) as tmp:
        res = _run([f"--screenshot={Path(tmp).resolve()}", f"--virtual-time-budget={budget_ms}"], _url(page),
                   offline=offline, window=window, timeout_s=timeout_s)
        if not Path(tmp).exists() or Path(tmp).stat().st_size == 0:
            err = res.stderr.decode("utf-8", errors="replace").strip().splitlines()
            raise ParkGISError(f"Chromium wrote no screenshot of {page}: {err[-1] if err else 'no message'}")
    log.info("wrote %s", png_path)
    return png_path
