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

__all__ = ["find_chromium", "ChromiumNotFound", "chromium_args", "screenshot", "dump_dom", "map_png", "print_pdf",
           "ink_share", "BlankImage", "SLIDE"]

SLIDE = (1920, 1080)
"""Window of slide PNGs (16:9)."""
MIN_INK = 0.02
"""Share of the map area that must be drawn (neither page white nor the empty map background)."""

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


class BlankImage(ParkGISError):
    """A rendered image shows (almost) nothing: the page did not draw."""


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


def ink_share(png_path, *, box=None) -> float:
    """Share of the pixels of ``png_path`` (within ``box`` = (left, top, right, bottom) fractions) that
    are neither near-white nor the empty map background (#e4e6e9 and Leaflet's #ddd)."""
    import numpy as np
    from PIL import Image

    with Image.open(png_path) as im:
        a = np.asarray(im.convert("RGB"), dtype=np.int16)
    if box is not None:
        h, w = a.shape[:2]
        a = a[int(box[1] * h):int(box[3] * h), int(box[0] * w):int(box[2] * w)]
    white = (a >= 245).all(axis=-1)
    bg = np.zeros(white.shape, dtype=bool)
    for rgb in ((0xE4, 0xE6, 0xE9), (0xDD, 0xDD, 0xDD)):
        bg |= (np.abs(a - np.array(rgb)) <= 3).all(axis=-1)
    return float(1.0 - (white | bg).mean()) if a.size else 0.0


def map_png(m, png_path, *, overwrite: bool = False, window=SLIDE, scale: int = 1, budget_ms: int = 8000,
            timeout_s: float = 120, inputs=()) -> Path:
    """A slide PNG of the rendered map ``m``: always from the offline page (inlined assets, no network),
    in print mode (no zoom, layer, measure or fullscreen controls; text-only attribution), at ``window``
    CSS pixels × ``scale``. Refuses (:class:`BlankImage`) to keep an image whose map area is blank."""
    from .render import page_html

    png_path = Path(png_path)
    exe = _require()
    with tempfile.TemporaryDirectory(prefix="parkgis-png-") as tmpdir:
        page = Path(tmpdir) / "page.html"
        page.write_text(page_html(m, offline=True), encoding="utf-8")
        with atomic_output(png_path, overwrite=overwrite, inputs=inputs) as tmp:
            extra = [f"--screenshot={Path(tmp).resolve()}", f"--virtual-time-budget={budget_ms}"]
            if scale != 1:
                extra.append(f"--force-device-scale-factor={scale}")
            with tempfile.TemporaryDirectory(prefix="parkgis-chromium-") as profile:
                cmd = [exe, *chromium_args(profile, offline=True, window=window), *extra, page.resolve().as_uri() + "?print"]
                try:
                    res = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
                except subprocess.TimeoutExpired:
                    raise ParkGISError(f"Chromium did not finish rendering {png_path.name} within {timeout_s:.0f} s") from None
            if not Path(tmp).exists() or Path(tmp).stat().st_size == 0:
                err = res.stderr.decode("utf-8", errors="replace").strip().splitlines()
                raise ParkGISError(f"Chromium wrote no image for {png_path.name}: {err[-1] if err else 'no message'}")
            share = ink_share(tmp, box=(0.2, 0.25, 0.8, 0.85))
            if share < MIN_INK:
                raise BlankImage(f"{png_path.name}: the map area came out blank ({share:.1%} drawn); not written")
    log.info("wrote %s", png_path)
    return png_path


def print_pdf(page, pdf_path, *, overwrite: bool = False, budget_ms: int = 10000, timeout_s: float = 180,
              inputs=()) -> Path:
    """Print the HTML ``page`` to ``pdf_path`` with headless Chromium (page size from the page's CSS @page)."""
    pdf_path = Path(pdf_path)
    with atomic_output(pdf_path, overwrite=overwrite, inputs=inputs) as tmp:
        res = _run([f"--print-to-pdf={Path(tmp).resolve()}", "--no-pdf-header-footer", f"--virtual-time-budget={budget_ms}"],
                   _url(page), offline=True, window=SLIDE, timeout_s=timeout_s)
        if not Path(tmp).exists() or Path(tmp).stat().st_size == 0:
            err = res.stderr.decode("utf-8", errors="replace").strip().splitlines()
            raise ParkGISError(f"Chromium wrote no PDF of {page}: {err[-1] if err else 'no message'}")
    log.info("wrote %s", pdf_path)
    return pdf_path
