"""Layer kinds → colours, classes and legends.

A map layer has a *kind* that decides how it is drawn:

* ``zones`` — polygons filled by a categorical field (function, name, kind);
* ``boundary`` — polygons drawn as outlines only (phase boundaries, park limits);
* ``axes`` — lines drawn dashed and labelled;
* ``centres`` — points drawn as circle markers and labelled;
* ``parcels`` — polygons filled by a classed colour ramp over a numeric field (mapclassify), with
  features that fail a rule outlined in red.

Every function returns plain data (palette, per-feature indices, legend entries); nothing here
writes HTML except :func:`legend_html`, which escapes every text it is given.
"""

from __future__ import annotations

import html
import logging

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["KINDS", "QUALITATIVE", "RAMPS", "FIELD_LABELS", "AXIS_COLOURS", "infer_kind", "layer_style", "field_label",
           "legend_html", "landuse_colours"]

log = logging.getLogger(__name__)

KINDS = ("zones", "boundary", "axes", "centres", "parcels")

QUALITATIVE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
               "#e15759", "#bab0ac", "#86bcb6", "#d4a6c8", "#8cd17d", "#f1ce63", "#a0cbe8", "#ffbe7d"]
"""Categorical colours (Tableau 20 subset), assigned in order of first appearance."""

RAMPS = {
    "YlOrRd": ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
    "YlGn": ["#ffffcc", "#d9f0a3", "#addd8e", "#78c679", "#41ab5d", "#238443", "#005a32"],
    "Blues": ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"],
    "PuBuGn": ["#f6eff7", "#d0d1e6", "#a6bddb", "#67a9cf", "#3690c0", "#02818a", "#016450"],
}
"""Sequential ramps (ColorBrewer, 7 steps); k classes take k evenly spaced steps."""

NO_DATA_COLOUR = "#cccccc"

AXIS_COLOURS = ["#6a1b9a", "#d94801", "#08519c", "#7f2704"]
"""One colour per development axis (purple, orange, blue, brown): two axes never look alike."""


def landuse_colours() -> dict:
    """Land-use code → (colour, name_zh, name_en): :func:`gis.landuse.landuse_colours`, the one colour table."""
    from ..landuse import landuse_colours as table

    return table()

KIND_DEFAULTS = {
    "zones": {"stroke": "#4d4d4d", "weight": 1.2, "opacity": 0.9, "fill_opacity": 0.55},
    "boundary": {"stroke": None, "weight": 3.0, "opacity": 1.0, "fill_opacity": 0.0, "dash": "8 5",
                 "color": "#1f3b73"},
    "axes": {"stroke": None, "weight": 4.0, "opacity": 0.95, "fill_opacity": 0.0, "dash": "12 6",
             "color": "#6a1b9a"},
    "centres": {"stroke": "#333333", "weight": 2.0, "opacity": 1.0, "fill_opacity": 0.95, "radius": 8,
                "color": "#d62728"},
    "parcels": {"stroke": "#555555", "weight": 0.6, "opacity": 0.8, "fill_opacity": 0.75},
}

FIELD_LABELS = {
    "name_zh": "名称 Name",
    "name_en": "英文名 Name (en)",
    "id": "编号 ID",
    "kind": "类型 Kind",
    "function": "功能 Function",
    "industrial_class": "工业用地类别 Industrial class",
    "parent_id": "上级 Parent",
    "area_mu": "实测面积 Measured (亩)",
    "area_km2": "实测面积 Measured (km²)",
    "area_ha": "实测面积 Measured (ha)",
    "planned_mu": "规划面积 Planned (亩)",
    "planned_km2": "规划面积 Planned (km²)",
    "deviation_pct": "实测−规划 Measured vs planned (%)",
    "investment_wan": "投资额 Investment (万元)",
    "verdict": "审核结论 Audit verdict",
    "source": "来源 Source",
    "note": "说明 Note",
}


def field_label(field: str) -> str:
    """The bilingual label of a field: an indicator's from the registry (:func:`gis.indicators.indicator_label`),
    else from :data:`FIELD_LABELS`, else the field name itself."""
    from ..indicators import indicator_label

    return indicator_label(field) or FIELD_LABELS.get(field, field)


def infer_kind(gdf) -> str:
    """A kind from the geometry types: points → centres, lines → axes, polygons → zones/parcels."""
    types = set(gdf.geometry.dropna().geom_type.unique())
    if types and types <= {"Point", "MultiPoint"}:
        return "centres"
    if types and types <= {"LineString", "MultiLineString"}:
        return "axes"
    if "investment_intensity_wan_per_mu" in gdf.columns:
        return "parcels"
    return "zones"


def _text(value) -> str:
    if isinstance(value, dict):
        parts = [str(value.get(k)) for k in ("zh", "en") if value.get(k)]
        return " ".join(parts)
    return "" if value is None else str(value)


def _categorical(gdf, st: dict):
    by = st.get("by", "kind")
    if by not in gdf.columns:
        raise InputError(f"style field {by!r} is not in the layer (fields: {', '.join(map(str, gdf.columns))}); "
                         "fix 'style: by:' in the map spec")
    values = gdf[by].astype("string").fillna("—")
    explicit = {str(k): v for k, v in (st.get("colors") or {}).items()}
    landuse = {str(k): str(v) for k, v in (st.get("landuse") or {}).items()}
    if landuse:
        return _by_landuse(values, landuse, explicit, by)
    labels_of = st.get("labels") or {}
    cats = list(dict.fromkeys(values.tolist()))
    palette, legend = [], []
    auto = iter(QUALITATIVE * (len(cats) // len(QUALITATIVE) + 1))
    for c in cats:
        colour = explicit.get(c) or next(auto)
        palette.append(colour)
    codes = pd.Categorical(values, categories=cats).codes.astype(int)
    # legend label: the category with its English name when the layer has one per category
    label_field = st.get("legend_label")
    for c, colour in zip(cats, palette):
        label = labels_of.get(c)
        if label is None and label_field and label_field in gdf.columns:
            match = gdf.loc[values == c, label_field].dropna()
            label = f"{c} {match.iloc[0]}" if len(match) else c
        legend.append({"swatch": "fill", "color": colour, "label": _text(label) if label is not None else c})
    return palette, codes.tolist(), legend


def _by_landuse(values: pd.Series, landuse: dict, explicit: dict, by: str):
    """Categories coloured by their land-use class (national colour table); one legend entry per class."""
    table = landuse_colours()
    codes = []
    for v in values:
        code = landuse.get(v)
        if code is not None and code not in table:
            raise InputError(f"land-use code {code!r} for {v!r} is not in gis/data/landuse_colours.csv; "
                             f"known: {', '.join(sorted(k for k in table if not k[0].isdigit()))}")
        codes.append(code or "—")
    classes = list(dict.fromkeys(codes))
    palette, legend = [], []
    for code in classes:
        if code == "—":
            colour, label = NO_DATA_COLOUR, f"未分类 unclassified ({by})"
        else:
            colour, zh, en = table[code]
            members = [v for v, c in zip(values, codes) if c == code]
            colour = explicit.get(members[0], colour) if members else colour
            label = f"{code} {zh} {en}"
        palette.append(colour)
        legend.append({"swatch": "fill", "color": colour, "label": label})
    idx = [classes.index(c) for c in codes]
    return palette, idx, legend


def _classify(y: np.ndarray, scheme: str, k: int, column: str):
    """Upper class bounds and the class of each value (right-closed, as mapclassify).

    Quantiles are computed here with numpy exactly as ``mapclassify.Quantiles`` does (importing
    mapclassify pulls in scipy, seconds on a cold start); every other scheme goes to mapclassify.
    """
    if scheme.lower() == "quantiles":
        bins = np.unique(np.percentile(y, np.linspace(0, 100, k + 1)[1:]))
        return bins, np.searchsorted(bins, y, side="left")
    import mapclassify

    try:
        cls = mapclassify.classify(y, scheme, k=k)
    except Exception as exc:  # unknown scheme names and degenerate inputs
        raise InputError(f"cannot classify {column!r} with {scheme!r}: {exc}; use Quantiles or NaturalBreaks") from None
    return np.asarray(cls.bins), np.asarray(cls.yb)


def _classed(gdf, st: dict):
    column = st.get("column")
    if not column or column not in gdf.columns:
        raise InputError(f"classed style needs 'column:' naming a numeric field of the layer (got {column!r})")
    y = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(y)
    scheme = st.get("scheme", "Quantiles")
    k = int(st.get("k", 5))
    ramp = RAMPS.get(st.get("ramp", "YlOrRd"))
    if ramp is None:
        raise InputError(f"unknown ramp {st.get('ramp')!r}; use one of {', '.join(RAMPS)}")
    idx = np.full(len(y), -1, dtype=int)
    legend = []
    palette: list[str] = []
    unit = st.get("unit", "")
    suffix = f" {unit}" if unit else ""
    if st.get("breaks"):
        # classes anchored at given thresholds, left-closed (a value equal to 300 is in "300 and above")
        breaks = np.asarray(sorted(float(b) for b in st["breaks"]), dtype=float)
        colours = st.get("colors_list") or ramp
        n = len(breaks) + 1
        if len(colours) < n:
            raise InputError(f"style breaks {list(breaks)} make {n} classes; give {n} colours in colors_list")
        steps = np.linspace(0, len(colours) - 1, n).round().astype(int) if not st.get("colors_list") else range(n)
        palette = [colours[s_] for s_ in steps]
        idx[ok] = np.searchsorted(breaks, y[ok], side="right")
        for i in range(n):
            count = int((idx == i).sum())
            if i == 0:
                label = f"< {breaks[0]:g}{suffix}"
            elif i == n - 1:
                label = f"≥ {breaks[-1]:g}{suffix}"
            else:
                label = f"{breaks[i - 1]:g} – {breaks[i]:g}{suffix}"
            legend.append({"swatch": "fill", "color": palette[i], "label": f"{label} ({count})"})
    elif ok.sum() > 0:
        uniq = np.unique(y[ok])
        k_eff = max(1, min(k, uniq.size))
        if k_eff == 1:
            bins = np.array([uniq.max()])
            idx[ok] = 0
        else:
            bins, yb = _classify(y[ok], scheme, k_eff, column)
            idx[ok] = yb
        n = len(bins)
        steps = np.linspace(0, len(ramp) - 1, n).round().astype(int) if n > 1 else [len(ramp) // 2]
        palette = [ramp[s] for s in steps]
        lo = float(np.nanmin(y[ok]))
        for i, hi in enumerate(bins):
            a = lo if i == 0 else float(bins[i - 1])
            count = int((idx == i).sum())
            legend.append({"swatch": "fill", "color": palette[i],
                           "label": f"{a:,.1f} – {float(hi):,.1f}{(' ' + unit) if unit else ''} ({count})"})
    if (~ok).any():
        palette.append(NO_DATA_COLOUR)
        idx[~ok] = len(palette) - 1
        legend.append({"swatch": "fill", "color": NO_DATA_COLOUR, "label": f"无数据 no data ({int((~ok).sum())})"})
    return palette, idx.tolist(), legend


def _outline(gdf, spec: dict | None):
    if not spec:
        return None, []
    field = spec.get("field")
    if field not in gdf.columns:
        log.warning("outline field %r not in the layer; no features outlined", field)
        return None, []
    values = spec.get("equals", [True])
    values = values if isinstance(values, list) else [values]
    col = gdf[field]
    flags = col.isin(values) | col.astype("string").isin([str(v) for v in values])
    flags = flags.fillna(False).astype(bool)
    colour = spec.get("color", "#e31a1c")
    label = _text(spec.get("label")) or f"{field} ∈ {values}"
    legend = [{"swatch": "outline", "color": colour, "label": f"{label} ({int(flags.sum())})"}]
    return {"flags": flags.astype(int).tolist(), "color": colour, "weight": float(spec.get("weight", 2.5))}, legend


def layer_style(gdf, kind: str, st: dict | None = None) -> tuple[dict, list[dict]]:
    """The style payload for the page and the legend entries of one layer.

    ``st`` is the ``style:`` block of the layer spec. Returns ``(style, legend)`` where style has
    ``palette``, ``fill_idx`` (or None), ``stroke``, ``weight``, ``opacity``, ``fill_opacity``,
    ``dash``, ``radius``, ``outline``.
    """
    if kind not in KINDS:
        raise InputError(f"unknown layer kind {kind!r}; use one of {', '.join(KINDS)}")
    st = dict(st or {})
    base = dict(KIND_DEFAULTS[kind])
    for key in ("stroke", "weight", "opacity", "fill_opacity", "dash", "radius", "color"):
        if key in st:
            base[key] = st[key]
    fill_idx = None
    outline, outline_legend = None, []
    if kind == "zones" and ("by" in st or "kind" in gdf.columns):
        palette, fill_idx, legend = _categorical(gdf, st)
    elif kind == "parcels" and (st.get("column") or "investment_intensity_wan_per_mu" in gdf.columns):
        st.setdefault("column", "investment_intensity_wan_per_mu")
        if st["column"] == "investment_intensity_wan_per_mu":
            st.setdefault("unit", "万元/亩")
        palette, fill_idx, legend = _classed(gdf, st)
        if "outline" not in st and "verdict" in gdf.columns:  # audited parcels: failures in red by default
            st["outline"] = {"field": "verdict", "equals": ["fail"], "label": {"zh": "未达标", "en": "fails a rule"}}
        outline, outline_legend = _outline(gdf, st.get("outline"))
    else:
        colour = base.get("color") or QUALITATIVE[0]
        palette = [colour]
        swatch = {"axes": "line", "centres": "dot", "boundary": "outline"}.get(kind, "fill")
        if kind == "boundary" and "by" in st:
            palette, fill_idx, legend = _categorical(gdf, st)
            for entry in legend:
                entry["swatch"] = "outline"
        elif kind in ("axes", "centres") and st.get("legend_each", True) and "name_zh" in gdf.columns:
            colours = [colour] * len(gdf)
            if kind == "axes" and "color" not in st:  # each axis its own colour
                palette = [AXIS_COLOURS[i % len(AXIS_COLOURS)] for i in range(len(gdf))]
                fill_idx = list(range(len(gdf)))
                colours = palette
            legend = [{"swatch": swatch, "color": c,
                       "label": " ".join(str(v) for v in row if isinstance(v, str) and v)}
                      for c, row in zip(colours, gdf[[c for c in ("name_zh", "name_en") if c in gdf.columns]]
                                        .itertuples(index=False))]
        else:
            legend = [{"swatch": swatch, "color": colour, "label": _text(st.get("legend_label")) or ""}]
    if kind == "boundary":
        base["stroke"] = None  # stroke takes the palette colour
    style = {"palette": palette, "fill_idx": fill_idx, "stroke": base.get("stroke"),
             "weight": float(base["weight"]), "opacity": float(base["opacity"]),
             "fill_opacity": float(base["fill_opacity"]), "dash": base.get("dash"),
             "radius": float(base.get("radius", 7)), "outline": outline}
    return style, legend + outline_legend


def legend_html(sections: list[tuple[str, list[dict]]]) -> str:
    """The legend box: one titled list per layer; every text escaped."""
    out = ['<div class="parkgis-legend" id="parkgis-legend"><div class="parkgis-legend-head"><span>图例 Legend</span>'
           '<button type="button" class="parkgis-legend-toggle" aria-expanded="true" title="收起/展开 collapse/expand">▾</button>'
           '</div><div class="parkgis-legend-body">']
    for title, entries in sections:
        if not entries:
            continue
        out.append(f"<h3>{html.escape(title)}</h3><ul>")
        for e in entries:
            colour = html.escape(str(e["color"]), quote=True)
            kind = e["swatch"]
            if kind == "line":
                sw = f'<span class="parkgis-swatch line" style="border-top-color:{colour}"></span>'
            elif kind == "outline":
                sw = f'<span class="parkgis-swatch outline" style="border-color:{colour}"></span>'
            elif kind == "dot":
                sw = f'<span class="parkgis-swatch dot" style="background:{colour}"></span>'
            else:
                sw = f'<span class="parkgis-swatch" style="background:{colour}"></span>'
            out.append(f"<li>{sw}{html.escape(str(e['label']))}</li>")
        out.append("</ul>")
    out.append("</div></div>")
    return "".join(out)
