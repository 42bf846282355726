"""The layers and plan targets that ship with parkgis, found from a checkout or an installed wheel.

>>> "parks" in bundled_layer_names()
True
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from .datafile import load_yaml
from .errors import LayerNotFoundError

__all__ = ["layers_dir", "maps_dir", "bundled_layer_names", "bundled_layer_path", "read_bundled",
           "resolve_layer", "load_targets"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _package_dir(name: str, fallback: Path) -> Path:
    """Where an installed wheel keeps a bundled folder: inside the ``gis`` package (see pyproject's package-dir)."""
    installed = Path(__file__).resolve().parent / name
    return installed if installed.is_dir() else fallback


def layers_dir() -> Path:
    """Folder of the bundled layers: ``$PARKGIS_LAYERS``, the installed package data, or ``layers/``."""
    if os.environ.get("PARKGIS_LAYERS"):
        return Path(os.environ["PARKGIS_LAYERS"])
    local = _REPO_ROOT / "layers"
    return local if local.is_dir() else _package_dir("_bundled_layers", local)


def maps_dir() -> Path:
    """Folder of the bundled map specifications (``maps/`` in a checkout)."""
    local = _REPO_ROOT / "maps"
    return local if local.is_dir() else _package_dir("_bundled_maps", local)


def bundled_layer_names() -> list[str]:
    return sorted(p.stem for p in layers_dir().glob("*.geojson"))


def bundled_layer_path(name: str) -> Path:
    path = layers_dir() / f"{name}.geojson"
    if not path.exists():
        raise LayerNotFoundError(f"no bundled layer {name!r}; bundled layers: {', '.join(bundled_layer_names())}")
    return path


def read_bundled(name: str):
    """Read a bundled layer (e.g. ``"parks"``) as a GeoDataFrame in EPSG:4326."""
    from .io import read_layer

    return read_layer(bundled_layer_path(name))


def resolve_layer(value):
    """A file path as given, or the path of a bundled layer when ``value`` names one and no such file exists.

    A URL (``postgresql://…``) is returned unchanged, as text: it is a source, not a path.
    """
    from .io import is_url

    if is_url(value):
        return str(value)
    path = Path(value)
    if path.exists():
        return path
    name = str(value).removeprefix("bundled:")
    if (layers_dir() / f"{name}.geojson").exists():
        return layers_dir() / f"{name}.geojson"
    return path  # let the reader say "no such file"


@functools.lru_cache(maxsize=4)
def _load_yaml(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return load_yaml(fh) or {}


def load_targets(path=None) -> dict:
    """The plan's figures (``layers/targets.yaml``): ``{"targets": [...], "relations": [...], "conversions": [...]}``."""
    path = Path(path) if path else layers_dir() / "targets.yaml"
    if not path.exists():
        raise LayerNotFoundError(f"no targets file at {path}")
    return _load_yaml(str(path.resolve()))
