"""Render a map from layers and a spec: folium page, compact canvas layers, legend, title block.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> zones = gpd.GeoDataFrame({"name_zh": ["甲"], "kind": ["zone"]},
...                          geometry=[box(103.60, 36.50, 103.61, 36.51)], crs="EPSG:4326")
>>> spec = {"title": {"zh": "示例", "en": "Example"}, "layers": [{"source": "zones"}]}
>>> m = render_map({"zones": zones}, spec)
>>> round(m.parkgis_frames[0][1]["area_mu"].iloc[0])
1491
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import os
from pathlib import Path

import folium
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from folium.plugins import Fullscreen, MeasureControl
from jinja2 import Template

from ..area import area_m2
from ..bundled import resolve_layer
from ..crs import require_crs
from ..errors import InputError, ParkGISError
from ..io import atomic_output, read_layer
from ..units import MU_M2, km2_to_mu, m2_to_km2, m2_to_mu
from .compact import DEFAULT_QUANTUM_DEG, encode_column, encode_geometry, safe_json
from .offline import process_html, templates_dir
from .spec import BASEMAPS, validate_spec
from .style import field_label, infer_kind, layer_style, legend_html

__all__ = ["render_map", "save_map", "page_html", "prepare_layer", "ProcessorUnavailable", "SCHEMATIC_NOTE",
           "PROCESSORS", "is_schematic", "name_id_fields", "default_tooltip"]

log = logging.getLogger(__name__)

SCHEMATIC_NOTE = "示意性数字化，依据规划文本，非官方边界 · schematic digitisation, from the plan text; no official boundary"

_M_PER_DEG = 111_320.0

DEFAULT_FIELDS = {
    "zones": ["name_zh", "name_en", "kind", "function", "industrial_class", "area_mu", "area_km2", "planned_mu",
              "planned_km2", "deviation_pct"],
    "boundary": ["name_zh", "name_en", "area_mu", "area_km2", "planned_mu", "planned_km2", "deviation_pct"],
    "axes": ["name_zh", "name_en", "function"],
    "centres": ["name_zh", "name_en", "function"],
    "parcels": ["name_zh", "name", "parcel_id", "investment_intensity_wan_per_mu", "area_mu", "area_km2",
                "verdict"],
}
NAME_FIELDS = ("name_zh", "name", "名称", "项目名称", "地块名称", "NAME", "Name", "title", "name_en")
ID_FIELDS = ("parcel_id", "宗地编号", "地块编号", "id", "ID", "Id", "编号", "code", "CODE", "fid", "FID", "adcode")
"""Columns looked for (in this order) as a feature's name and id in a user's own file."""


def name_id_fields(gdf) -> list[str]:
    """The name and id columns of ``gdf`` (first match of each in NAME_FIELDS / ID_FIELDS)."""
    out = []
    for group in (NAME_FIELDS, ID_FIELDS):
        hit = next((c for c in group if c in gdf.columns), None)
        if hit is None:  # case-insensitive second pass
            lower = {str(c).lower(): c for c in gdf.columns}
            hit = next((lower[c.lower()] for c in group if c.lower() in lower), None)
        if hit is not None and hit not in out:
            out.append(hit)
    return out


def default_tooltip(gdf, kind: str) -> list[str]:
    """Tooltip fields: the kind's defaults that the layer has, led by the layer's own name/id columns;
    for a file with none of them, its first few attribute columns."""
    fields = [f for f in name_id_fields(gdf)]
    fields += [f for f in DEFAULT_FIELDS[kind] if f in gdf.columns and f not in fields]
    own = [c for c in gdf.columns if c != gdf.geometry.name and c not in fields
           and c not in ("area_mu", "area_km2", "planned_mu", "deviation_pct", "planned_km2")]
    if len([f for f in fields if f not in ("area_mu", "area_km2")]) < 2:
        fields = own[:6] + fields
    return fields


FIELD_DIGITS = {"area_mu": 1, "area_km2": 3, "planned_mu": 1, "planned_km2": 3, "deviation_pct": 2,
                "area_ha": 2, "investment_intensity_wan_per_mu": 1}


class ProcessorUnavailable(ParkGISError, ImportError):
    """A spec asks for a processing step (e.g. ``audit``) whose module is not installed yet."""


def _process_audit(gdf, *, packs=("lanzhou-etdz",), zones=None, **kwargs):
    """Audit parcels with :func:`gis.audit.audit`; the page shows its ``verdict`` and ``rule:…`` columns."""
    try:
        from ..audit import audit  # built by another part of the toolkit
    except ImportError as exc:
        raise ProcessorUnavailable(f"gis.audit is not available ({exc}); the audit map needs it") from None
    if isinstance(zones, str):
        zones = read_layer(resolve_layer(zones))
    result = audit(gdf, list(packs) if isinstance(packs, (list, tuple)) else [packs], zones=zones, **kwargs)
    return getattr(result, "parcels", result)


PROCESSORS = {"audit": _process_audit}
"""Named processing steps a layer spec may ask for with ``process:``."""


# ------------------------------------------------------------------ folium elements
class CompactLayer(folium.map.Layer):
    """A layer drawn by ``parkgis.js`` from its compact payload (one ``L.FeatureGroup`` on a shared canvas).

    The payload goes into the page as literal text: not through a template macro, because branca
    compiles every macro's output again as a Jinja template (slow for megabytes, and a value such
    as ``{{ … }}`` in the data would be evaluated).
    """

    _template = Template("")

    def __init__(self, payload: dict, *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "ParkgisLayer"
        self.payload = safe_json(payload)

    def render(self, **kwargs):
        figure = self.get_root()
        name = self.get_name()
        figure.html.add_child(_Raw(f'<script type="application/json" id="{name}_data">{self.payload}</script>'),
                              name=f"{name}_data")
        figure.script.add_child(
            _Raw(f'var {name} = parkgis.layer(JSON.parse(document.getElementById("{name}_data").textContent));'),
            name=name)
        super().render(**kwargs)


def _control_text(text: str) -> str:
    """A layer name for Leaflet's layer control: HTML-escaped (it is set as innerHTML) and with braces
    as entities (folium passes the control's script through Jinja once more)."""
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


class _Raw(Element):
    """Literal HTML in the page. Never ``Element(text)``: branca would compile the text as a Jinja
    template, so a name like ``{{ … }}`` in a legend would be evaluated (and lexing is slow)."""

    _template = Template("{{ this.content }}")

    def __init__(self, content: str):
        super().__init__()
        self.content = content


class _Finish(MacroElement):
    """Scale bar, north arrow, context layers, panels moved into the map, then ``parkgis.finish``
    (fit the data clear of the panels, place the labels, report drawn)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, maxWidth: 160, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});
        parkgis.northArrow({{ this._parent.get_name() }});
        (function (map) {
          ['parkgis-title', 'parkgis-legend'].forEach(function (id) {
            var el = document.getElementById(id);
            if (!el) return;
            map.getContainer().appendChild(el);
            L.DomEvent.disableClickPropagation(el);
            L.DomEvent.disableScrollPropagation(el);
          });
          var ctx = document.getElementById('parkgis_context');
          if (ctx) parkgis.context(map, JSON.parse(ctx.textContent));
        })({{ this._parent.get_name() }});
        parkgis.finish({{ this._parent.get_name() }}, {{ this.bounds }});
        {% endmacro %}
    """)

    def __init__(self, bounds=None):
        super().__init__()
        self._name = "ParkgisFinish"
        self.bounds = "null" if bounds is None else safe_json(bounds)


_PRINT_JS = """<script>
if (/[?&#]print/.test(location.search + location.hash)) document.documentElement.classList.add('parkgis-print');
</script>"""


_ERRORS_JS = """<script>
(function () {
  var errs = [];
  function report(msg) {
    errs.push(String(msg));
    var el = document.getElementById('parkgis-errors');
    if (!el && document.body) { el = document.createElement('pre'); el.id = 'parkgis-errors'; document.body.appendChild(el); }
    if (el) el.textContent = errs.join('\\n');
    document.documentElement.setAttribute('data-js-errors', String(errs.length));
  }
  window.parkgisErrors = errs;
  window.addEventListener('error', function (e) { report((e.message || 'error') + ' @' + (e.filename || '') + ':' + (e.lineno || '')); });
  window.addEventListener('unhandledrejection', function (e) { report('unhandled rejection: ' + e.reason); });
  document.documentElement.setAttribute('data-js-errors', '0');
})();
</script>"""


def _runtime_html() -> str:
    js = (templates_dir() / "parkgis.js").read_text(encoding="utf-8")
    css = (templates_dir() / "parkgis.css").read_text(encoding="utf-8")
    return f"<style>{css}</style>\n<script>{js}</script>"


def _title_html(spec: dict, *, basemap: str, date: str, schematic: bool = True) -> str:
    t = spec["title"]
    source = spec.get("source_note") or "parkgis bundled layers"
    tiles = {"none": "无底图 no base map", "osm": "OpenStreetMap", "esri": "Esri World Imagery",
             "tianditu": "天地图 Tianditu", "gaode": "高德 Gaode (GCJ-02; overlays shifted to match)"}[basemap]
    return (f'<div class="parkgis-title" id="parkgis-title"><h1>{html.escape(t["zh"])}</h1>'
            f'<h2>{html.escape(t["en"])}</h2>'
            f'<div class="parkgis-meta">日期 Date: {html.escape(date)} · 数据来源 Data source: {html.escape(source)}'
            f' · 底图 Base map: {html.escape(tiles)} · 面积为CGCS2000椭球面积 areas ellipsoidal (CGCS2000)</div>'
            + (f'<div class="parkgis-note">{html.escape(SCHEMATIC_NOTE)}</div>' if schematic else "") + '</div>')


def is_schematic(gdf) -> bool:
    """True for the bundled plan digitisations (their ``digitisation`` says "schematic"), which the
    title block flags as such; a user's own file carries no such note."""
    col = gdf.get("digitisation") if hasattr(gdf, "get") else None
    return col is not None and bool(col.astype("string").str.contains("schematic", case=False).fillna(False).any())


# ------------------------------------------------------------------ data preparation
def _load_source(source: str, layers, base_dir: str | None):
    if layers is not None and source in layers:
        return layers[source]
    if base_dir:
        candidate = Path(base_dir) / source
        if candidate.exists():
            return read_layer(candidate)
    return read_layer(resolve_layer(source))


def _filter(gdf, flt: dict, where: str):
    if not flt:
        return gdf
    mask = pd.Series(True, index=gdf.index)
    for field, values in flt.items():
        if field not in gdf.columns:
            raise InputError(f"{where}: filter field {field!r} is not in the layer "
                             f"(fields: {', '.join(map(str, gdf.columns))})")
        col = gdf[field]
        mask &= col.isin(values) | col.astype("string").isin([str(v) for v in values]).fillna(False)
    out = gdf.loc[mask.to_numpy(dtype=bool)]
    if len(out) == 0:
        log.warning("%s: the filter %s keeps no feature", where, flt)
    return out


def measured_columns(gdf):
    """A copy with ``area_mu``/``area_km2`` (ellipsoidal, polygons only; NaN for points and lines),
    ``planned_mu`` completed from ``planned_km2``, and ``deviation_pct`` of measured against planned."""
    out = gdf.copy()
    a = area_m2(out).to_numpy(dtype=float)
    polygonal = out.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    a = np.where(polygonal, a, np.nan)
    out["area_mu"] = m2_to_mu(a)
    out["area_km2"] = m2_to_km2(a)
    planned_mu = pd.to_numeric(out["planned_mu"], errors="coerce") if "planned_mu" in out else pd.Series(np.nan, index=out.index)
    if "planned_km2" in out:
        planned_mu = planned_mu.fillna(km2_to_mu(pd.to_numeric(out["planned_km2"], errors="coerce")))
        out["planned_km2"] = pd.to_numeric(out["planned_km2"], errors="coerce")
    if planned_mu.notna().any():
        out["planned_mu"] = planned_mu
        out["deviation_pct"] = (out["area_mu"] - planned_mu) / planned_mu * 100.0
    return out


def _field_specs(fields, gdf, explicit: bool, where: str):
    out = []
    for f in fields:
        name = f["field"]
        if name not in gdf.columns:
            if explicit:
                log.warning("%s: field %r is not in the layer; left out of the tooltip", where, name)
            continue
        out.append({"field": name, "label": str(f.get("label") or field_label(name)), "values": f.get("values"),
                    "digits": f.get("digits", FIELD_DIGITS.get(name)), "suffix": f.get("suffix"),
                    "skip_empty": bool(f.get("skip_empty", not explicit))})
    return out


def prepare_layer(lspec: dict, layers=None, *, base_dir=None, where="layer"):
    """Load, filter, process and measure one spec layer; returns ``(gdf in EPSG:4326, kind)``."""
    gdf = _load_source(lspec["source"], layers, base_dir)
    require_crs(gdf, what=f"layer {lspec['source']!r}")
    gdf = _filter(gdf, lspec["filter"], where)
    if lspec.get("process"):
        step = lspec["process"]
        name, args = (step, {}) if isinstance(step, str) else (step.get("name"), {k: v for k, v in step.items() if k != "name"})
        proc = PROCESSORS.get(name)
        if proc is None:
            raise InputError(f"{where}: unknown process {name!r}; known: {', '.join(PROCESSORS)}")
        gdf = proc(gdf, **args)
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    if missing.any():
        log.warning("%s: %d feature(s) have no geometry and are not drawn", where, int(missing.sum()))
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    gdf = measured_columns(gdf)
    kind = lspec.get("kind") or infer_kind(gdf)
    return gdf, kind


def _layer_payload(gdf, kind: str, lspec: dict, *, shift=None, where: str):
    st = lspec["style"]
    style, legend = layer_style(gdf, kind, st)
    explicit_tip = lspec["tooltip"] is not None
    defaults = [{"field": f} for f in default_tooltip(gdf, kind)]
    tooltip = _field_specs(lspec["tooltip"] or defaults, gdf, explicit_tip, where)
    popup_src = lspec["popup"] or (lspec["tooltip"] or defaults) + \
        [{"field": "id"}, {"field": "source"}, {"field": "note"}]
    popup = _field_specs(popup_src, gdf, lspec["popup"] is not None, where)
    label = lspec["label"] if lspec["label"] is not None else ("name_zh" if kind in ("axes", "centres") else None)
    if label and label not in gdf.columns:
        log.warning("%s: label field %r is not in the layer", where, label)
        label = None
    heading = lspec["heading"] if lspec["heading"] in gdf.columns else next(iter(name_id_fields(gdf)), None)
    fields = {f["field"] for f in tooltip + popup} | {x for x in (label, heading) if x}
    value_maps = {}
    for f in tooltip + popup:
        if f.pop("values", None):
            value_maps[f["field"]] = next(x for x in (lspec["tooltip"] or []) + (lspec["popup"] or [])
                                          if x["field"] == f["field"] and x.get("values"))["values"]
    cols = {}
    for f in sorted(fields):
        col = gdf[f]
        if f in value_maps:
            mapping = {str(k): str(v) for k, v in value_maps[f].items()}
            col = col.map(lambda v, m=mapping: m.get(str(v), v) if v is not None and v == v else v)
        cols[f] = encode_column(col, digits=FIELD_DIGITS.get(f))
    geoms = gdf.geometry.values
    if shift is not None:
        import shapely

        geoms = shapely.transform(np.asarray(geoms), shift)
    simplify_m = lspec.get("simplify_m")
    if simplify_m is None:
        simplify_m = 0.3 if kind == "parcels" else 0.5
    geom = encode_geometry(geoms, quantum_deg=DEFAULT_QUANTUM_DEG,
                           simplify_deg=(float(simplify_m) / _M_PER_DEG) if simplify_m else None)
    payload = {"kind": kind, "geom": geom, "cols": cols, "style": style, "tooltip": tooltip, "popup": popup,
               "label": label, "heading": heading, "label_min_zoom": lspec.get("label_min_zoom")}
    return payload, legend


def _gcj_shift():
    try:
        from ..offsets import wgs84_to_gcj02
    except ImportError as exc:
        raise InputError(f"basemap gaode needs gis.offsets.wgs84_to_gcj02 ({exc}); use another basemap") from None

    def shift(xy):
        lon, lat = wgs84_to_gcj02(np.asarray(xy[:, 0]), np.asarray(xy[:, 1]))
        return np.column_stack([np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)])

    return shift


def _add_basemap(m, basemap: str):
    if basemap == "none":
        return
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=True).add_to(m)
    elif basemap == "esri":
        folium.TileLayer(
            tiles="https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
            attr="Tiles © Esri — Source: Esri, Maxar, Earthstar Geographics", name="Esri 影像 imagery",
            max_zoom=19).add_to(m)
    elif basemap == "tianditu":
        key = os.environ.get("TIANDITU_KEY", "").strip()
        if key and not key.isalnum():
            raise InputError("TIANDITU_KEY should be the 32-character key from console.tianditu.gov.cn (letters and digits)")
        if not key:
            raise InputError("basemap tianditu needs a key: set TIANDITU_KEY (free from console.tianditu.gov.cn), "
                             "or choose --basemap none/osm/esri/gaode")
        url = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
               "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + key)
        folium.TileLayer(tiles=url.replace("{layer}", "vec"), attr="天地图 Tianditu", name="天地图 矢量 Tianditu",
                         subdomains="01234567", max_zoom=18).add_to(m)
        folium.TileLayer(tiles=url.replace("{layer}", "cva"), attr="天地图 Tianditu", name="天地图 注记 labels",
                         subdomains="01234567", max_zoom=18, overlay=True, control=True).add_to(m)
    elif basemap == "gaode":
        folium.TileLayer(
            tiles="https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="© 高德 AutoNavi (GCJ-02)", name="高德 Gaode", subdomains="1234", max_zoom=18).add_to(m)
    else:
        raise InputError(f"unknown basemap {basemap!r}; use one of {', '.join(BASEMAPS)}")


def render_map(layers, spec, *, offline: bool = True, basemap: str | None = None, date: str | None = None,
               context: bool | None = None) -> folium.Map:
    """Render ``spec`` (a validated spec, a raw mapping, or a path/name of a YAML spec) into a folium Map.

    ``layers`` maps a spec ``source`` to a GeoDataFrame (sources not given are read from their path or
    the bundled layers); ``None`` reads them all. ``basemap`` overrides the spec's. ``offline`` is
    recorded on the map as the default for :func:`save_map`. The prepared frames (with measured
    areas) are on ``m.parkgis_frames`` as ``[(layer_spec, gdf, kind), …]``.

    ``context`` (default: the spec's ``context``, else on) draws the districts, the Yellow River and
    the named places under data near Lanzhou (:mod:`gis.webmap.context`).
    """
    from .spec import load_spec

    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    elif "base_dir" not in spec:
        spec = validate_spec(spec)
    basemap = basemap or spec.get("basemap", "none")
    if basemap not in BASEMAPS:
        raise InputError(f"unknown basemap {basemap!r}; use one of {', '.join(BASEMAPS)}")
    shift = _gcj_shift() if basemap == "gaode" else None
    prepared = []
    for i, lspec in enumerate(spec["layers"]):
        where = f"map {spec['id']!r} layer {i + 1} ({lspec['source']})"
        gdf, kind = prepare_layer(lspec, layers, base_dir=spec.get("base_dir"), where=where)
        prepared.append((lspec, gdf, kind))

    # fractional zoom lets the data fill the room between the panels; big layers keep whole zoom levels,
    # which the canvas redraws markedly faster (100 000 parcels: ~4.5 s against ~7.5 s)
    n_features = sum(len(gdf) for _, gdf, _ in prepared)
    snap = 0.25 if n_features < 5000 else 1
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_control=True, zoom_snap=snap,
                   zoom_delta=max(snap, 0.5))
    m.parkgis_offline = offline
    m.parkgis_frames = prepared
    m.parkgis_spec = spec
    root = m.get_root()
    root.header.add_child(_Raw(_ERRORS_JS), name="parkgis_errors", index=0)
    root.header.add_child(_Raw(_PRINT_JS), name="parkgis_print", index=1)
    root.title = html.escape(f"{spec['title']['zh']} {spec['title']['en']}".strip())
    root.html.add_child(_Raw(_runtime_html()), name="parkgis_runtime")
    _add_basemap(m, basemap)

    sections = []
    bounds = []
    for i, (lspec, gdf, kind) in enumerate(prepared):
        where = f"map {spec['id']!r} layer {i + 1} ({lspec['source']})"
        payload, legend = _layer_payload(gdf, kind, lspec, shift=shift, where=where)
        title = f"{lspec['name']['zh']} {lspec['name']['en']}".strip()
        CompactLayer(payload, name=_control_text(title), show=lspec["show"]).add_to(m)
        if lspec["legend"]:
            sections.append((title, legend))
        valid = gdf.geometry[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
        if len(valid):
            b = valid.total_bounds
            if shift is not None:
                xy = shift(np.array([[b[0], b[1]], [b[2], b[3]]]))
                b = [xy[0, 0], xy[0, 1], xy[1, 0], xy[1, 1]]
            bounds.append(b)
    date = date or _dt.date.today().isoformat()
    schematic = any(is_schematic(gdf) for _, gdf, _ in prepared)
    root.html.add_child(_Raw(_title_html(spec, basemap=basemap, date=date, schematic=schematic)), name="parkgis_title")
    root.html.add_child(_Raw(legend_html(sections)), name="parkgis_legend")
    fit = None
    if bounds:
        b = np.array(bounds, dtype=float)
        fit = [[float(b[:, 1].min()), float(b[:, 0].min())], [float(b[:, 3].max()), float(b[:, 2].max())]]
        m.fit_bounds(fit)
    use_context = spec.get("context", True) if context is None else context
    m.parkgis_context = None
    if use_context and fit and shift is None:
        from .context import context_payload

        payload = context_payload((fit[0][1], fit[0][0], fit[1][1], fit[1][0]))
        if payload:
            if schematic:
                payload["attribution"] += " · 园区 parkgis（示意 schematic）"
            m.parkgis_context = payload
            root.html.add_child(_Raw(f'<script type="application/json" id="parkgis_context">{safe_json(payload)}</script>'),
                                name="parkgis_context")
    MeasureControl(position="topleft", primary_length_unit="meters", secondary_length_unit="kilometers",
                   primary_area_unit="sqmeters", secondary_area_unit="mu",
                   units={"mu": {"factor": 1.0 / MU_M2, "display": "亩 (mu)", "decimals": 2}}).add_to(m)
    Fullscreen(position="topleft", title="全屏 Full screen", title_cancel="退出全屏 Exit full screen").add_to(m)
    m.add_child(_Finish(fit), name="parkgis_finish")
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    return m


def page_html(m, *, offline: bool | None = None) -> str:
    """The page of a rendered map as one string (assets inlined when ``offline``)."""
    offline = getattr(m, "parkgis_offline", True) if offline is None else offline
    return process_html(m.get_root().render(), offline=offline)


def save_map(m, path, *, offline: bool | None = None, overwrite: bool = False, make_parents: bool = False,
             inputs=()) -> Path:
    """Write the map page to ``path`` atomically (never over an existing file without ``overwrite``, never
    over one of ``inputs``); ``make_parents`` creates a missing output folder."""
    text = page_html(m, offline=offline)
    path = Path(path)
    with atomic_output(path, overwrite=overwrite, make_parents=make_parents, inputs=inputs) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path
