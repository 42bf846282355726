"""Make a folium page self-contained: its scripts and stylesheets inlined from ``vendor/``.

folium links Leaflet, jQuery, Bootstrap, awesome-markers and Font Awesome from CDNs. Our pages use
none of jQuery, Bootstrap, awesome-markers or Font Awesome, so those links are dropped in every
mode; Leaflet and the plugins are inlined from the copies in ``gis/webmap/vendor/`` (taken from
the npm packages, licences alongside) when ``offline`` is set. Images referenced by the vendored
CSS are inlined as data URIs. An offline page that would still load a script or stylesheet from
the network is an error, never a silent fallback.
"""

from __future__ import annotations

import base64
import functools
import logging
import mimetypes
import re
from pathlib import Path

from ..errors import InputError

__all__ = ["vendor_dir", "templates_dir", "process_html", "remote_assets", "VENDORED", "DROPPED"]

log = logging.getLogger(__name__)

VENDORED = {
    "leaflet.js": "leaflet/leaflet.js",
    "leaflet.css": "leaflet/leaflet.css",
    "leaflet-measure.min.js": "leaflet-measure/leaflet-measure.min.js",
    "leaflet-measure.js": "leaflet-measure/leaflet-measure.min.js",
    "leaflet-measure.min.css": "leaflet-measure/leaflet-measure.css",
    "leaflet-measure.css": "leaflet-measure/leaflet-measure.css",
    "Control.FullScreen.min.js": "leaflet.fullscreen/Control.FullScreen.js",
    "Control.FullScreen.js": "leaflet.fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "leaflet.fullscreen/Control.FullScreen.css",
}
"""File name in a CDN URL → vendored file (npm: leaflet 1.9.4, leaflet-measure 2.1.7, leaflet.fullscreen 3.0.0)."""

DROPPED = ("jquery", "bootstrap", "awesome-markers", "fontawesome", "leaflet.awesome.rotate", "glyphicons")
"""folium defaults our pages do not use: removed from every page."""

_SCRIPT = re.compile(r'<script\s+src="([^"]+)"\s*>\s*</script>\s*', re.I)
_LINK = re.compile(r'<link\s+rel="stylesheet"\s+href="([^"]+)"\s*/?>\s*', re.I)
_URL = re.compile(r"url\((['\"]?)([^)'\"]+)\1\)")


def vendor_dir() -> Path:
    return Path(__file__).resolve().parent / "vendor"


def templates_dir() -> Path:
    return Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=32)
def _read(rel: str) -> str:
    return (vendor_dir() / rel).read_text(encoding="utf-8")


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


@functools.lru_cache(maxsize=16)
def _inline_css(rel: str) -> str:
    css = _read(rel)
    folder = (vendor_dir() / rel).parent

    def repl(m):
        target = m.group(2)
        if target.startswith(("data:", "#")):
            return m.group(0)
        path = folder / target
        if not path.exists():
            return m.group(0)
        return f'url("{_data_uri(path)}")'

    return _URL.sub(repl, css)


def _script_safe(text: str) -> str:
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)


def _style_safe(text: str) -> str:
    return re.sub(r"</(style)", r"<\\/\1", text, flags=re.I)


def _basename(url: str) -> str:
    return url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


def _dropped(url: str) -> bool:
    low = url.lower()
    return any(d in low for d in DROPPED)


def process_html(page: str, *, offline: bool = True) -> str:
    """Drop unused CDN assets; with ``offline`` inline the rest or raise InputError if one is unknown."""
    missing = []

    def inliner(inline):
        """A regex replacement: drop unused CDN assets, inline vendored ones with ``inline(rel)``."""
        def replace(m):
            url = m.group(1)
            if _dropped(url):
                return ""
            if not offline or not url.startswith(("http://", "https://", "//")):
                return m.group(0)
            rel = VENDORED.get(_basename(url))
            if rel is None:
                missing.append(url)
                return m.group(0)
            return inline(rel)
        return replace

    page = _SCRIPT.sub(inliner(lambda rel: f"<script>/* {rel} (vendored) */\n{_script_safe(_read(rel))}\n</script>\n"),
                       page)
    page = _LINK.sub(inliner(lambda rel: f"<style>/* {rel} (vendored) */\n{_style_safe(_inline_css(rel))}\n</style>\n"),
                     page)
    if offline:
        if missing:
            raise InputError(f"offline page needs {missing[0]} which is not vendored in gis/webmap/vendor/; "
                             "vendor it or save without offline")
        left = remote_assets(page)
        if left:
            raise InputError(f"offline page still loads {left[0]}; vendor it or save without offline")
    return page


def remote_assets(page: str) -> list[str]:
    """URLs of scripts and stylesheets the page loads from the network (``<script src>``, ``<link href>``)."""
    urls = re.findall(r'<script[^>]*\ssrc=["\']((?:https?:)?//[^"\']+)', page, flags=re.I)
    urls += re.findall(r'<link[^>]*\shref=["\']((?:https?:)?//[^"\']+)', page, flags=re.I)
    urls += re.findall(r'@import\s+(?:url\()?["\']?((?:https?:)?//[^"\')]+)', page, flags=re.I)
    return urls
