"""Map specifications: YAML files in ``maps/`` that say what a map shows and how.

A specification is data, not code; the renderer is generic over it. Keys::

    id: yaogu                        # short name, used for output file names
    title: {zh: …, en: …}            # required
    source_note: …                   # data source line of the title block
    basemap: none                    # default base map (none|osm|esri|tianditu|gaode)
    targets: true                    # show the plan-target check of the features drawn (briefing)
    layers:                          # drawn bottom to top
      - name: {zh: …, en: …}         # layer control and legend title
        source: parks                # bundled layer name, or a path (relative to the spec file)
        filter: {kind: [park]}       # keep rows whose field is one of the values
        process: audit               # optional: run a named processing step first (audit)
        kind: zones                  # zones|boundary|axes|centres|parcels (default from geometry)
        style: {by: function, colors: {…}, column: …, scheme: Quantiles, k: 5, ramp: YlOrRd,
                outline: {field: …, equals: […], color: "#e31a1c", label: …}}
        label: name_zh               # permanent labels (axes, centres, zones)
        tooltip: [name_zh, area_mu, {field: planned_mu, label: "…", digits: 1}]
        popup: [...]                 # default: tooltip fields plus source
        legend: true
        show: true

>>> spec = validate_spec({"title": {"zh": "示例", "en": "Example"}, "layers": [{"source": "parks"}]})
>>> spec["layers"][0]["legend"], spec["id"]
(True, 'map')
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..datafile import load_yaml
from ..errors import InputError, LayerNotFoundError
from .style import KINDS

__all__ = ["load_spec", "validate_spec", "spec_paths", "BRIEFING_SPECS", "BASEMAPS"]

BRIEFING_SPECS = ("overview", "port", "yaogu", "urban_mining", "audit")
"""The briefing pack's maps, in the order of ``index.html``; each is ``maps/<id>.yaml``."""

BASEMAPS = ("none", "osm", "esri", "tianditu", "gaode")

_MAP_KEYS = {"id", "title", "source_note", "basemap", "targets", "layers", "description", "note", "context"}
_LAYER_KEYS = {"name", "source", "filter", "process", "kind", "style", "label", "tooltip", "popup", "legend",
               "show", "heading", "simplify_m", "label_min_zoom"}
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$")


def _fail(where: str, msg: str):
    raise InputError(f"{where}: {msg}")


def _check_colours(obj, where):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("color", "stroke") and v is not None and not _COLOUR.match(str(v)):
                _fail(where, f"{k} {v!r} is not a colour like '#1f77b4' or 'red'")
            if k in ("colors", "colors_list"):
                for c in ((v or {}).values() if isinstance(v, dict) else (v or [])):
                    if not _COLOUR.match(str(c)):
                        _fail(where, f"colour {c!r} is not a colour like '#1f77b4' or 'red'")
            else:
                _check_colours(v, where)


def _fields(value, where):
    if value is None:
        return None
    if not isinstance(value, list):
        _fail(where, "tooltip/popup must be a list of field names or {field:, label:} mappings")
    out = []
    for f in value:
        if isinstance(f, str):
            out.append({"field": f})
        elif isinstance(f, dict) and "field" in f:
            out.append(dict(f))
        else:
            _fail(where, f"tooltip/popup entry {f!r} is neither a field name nor {{field: …}}")
    return out


def validate_spec(raw: dict, *, where: str = "map spec", base_dir: Path | None = None) -> dict:
    """Check a parsed spec and fill in defaults; raises InputError naming the spec and the problem."""
    if not isinstance(raw, dict):
        _fail(where, "a map spec must be a YAML mapping with title: and layers:")
    unknown = set(raw) - _MAP_KEYS
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_MAP_KEYS)}")
    title = raw.get("title")
    if isinstance(title, str):
        title = {"zh": title, "en": ""}
    if not isinstance(title, dict) or not (title.get("zh") or title.get("en")):
        _fail(where, "title: needs zh: and en: texts")
    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        _fail(where, "layers: must be a non-empty list")
    basemap = raw.get("basemap", "none")
    if basemap not in BASEMAPS:
        _fail(where, f"basemap {basemap!r} unknown; use one of {', '.join(BASEMAPS)}")
    spec = {"id": str(raw.get("id", "map")), "title": {"zh": str(title.get("zh", "")), "en": str(title.get("en", ""))},
            "source_note": str(raw.get("source_note", "")), "basemap": basemap,
            "targets": bool(raw.get("targets", False)), "description": raw.get("description"),
            "context": bool(raw.get("context", True)),
            "base_dir": str(base_dir) if base_dir else None, "layers": []}
    for i, layer in enumerate(layers):
        lw = f"{where} layer {i + 1}"
        if not isinstance(layer, dict) or "source" not in layer:
            _fail(lw, "each layer needs source: (a bundled layer name or a file path)")
        unknown = set(layer) - _LAYER_KEYS
        if unknown:
            _fail(lw, f"unknown keys {sorted(unknown)}; allowed: {sorted(_LAYER_KEYS)}")
        kind = layer.get("kind")
        if kind is not None and kind not in KINDS:
            _fail(lw, f"kind {kind!r} unknown; use one of {', '.join(KINDS)}")
        flt = layer.get("filter") or {}
        if not isinstance(flt, dict):
            _fail(lw, "filter: must map field names to a value or a list of values")
        name = layer.get("name") or {"zh": str(layer["source"]), "en": ""}
        if isinstance(name, str):
            name = {"zh": name, "en": ""}
        _check_colours(layer.get("style") or {}, lw)
        spec["layers"].append({
            "name": {"zh": str(name.get("zh", "")), "en": str(name.get("en", ""))},
            "source": str(layer["source"]),
            "filter": {str(k): (v if isinstance(v, list) else [v]) for k, v in flt.items()},
            "process": layer.get("process"),
            "kind": kind,
            "style": dict(layer.get("style") or {}),
            "label": layer.get("label"),
            "heading": layer.get("heading", "name_zh"),
            "tooltip": _fields(layer.get("tooltip"), lw),
            "popup": _fields(layer.get("popup"), lw),
            "legend": bool(layer.get("legend", True)),
            "show": bool(layer.get("show", True)),
            "simplify_m": layer.get("simplify_m"),
            "label_min_zoom": layer.get("label_min_zoom"),
        })
    return spec


def load_spec(path_or_name) -> dict:
    """Read ``maps/<name>.yaml`` (bundled name) or a spec file path and validate it."""
    from ..bundled import maps_dir

    path = Path(path_or_name)
    if not path.exists():
        candidate = maps_dir() / f"{path_or_name}.yaml"
        if candidate.exists():
            path = candidate
        else:
            known = ", ".join(sorted(p.stem for p in maps_dir().glob("*.yaml")))
            raise LayerNotFoundError(f"no map spec {path_or_name!r}: give a YAML file or one of: {known}")
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(raw, dict) and "id" not in raw:
        raw = {**raw, "id": path.stem}
    return validate_spec(raw, where=str(path), base_dir=path.parent)


def spec_paths() -> dict[str, Path]:
    """The briefing specs found in ``maps/`` by id."""
    from ..bundled import maps_dir

    return {name: maps_dir() / f"{name}.yaml" for name in BRIEFING_SPECS}
