"""The briefing pack: every map of ``maps/`` rendered offline, plus an ``index.html`` with the
measured areas and the plan-target check beside each map.

The pack is written into a temporary folder next to ``out_dir`` and renamed into place when
complete (:func:`gis.io.atomic_output`), so a failed run never leaves half a pack; an existing
non-empty folder is replaced only with ``overwrite``; a missing parent folder is created. With
Chromium it also holds a slide PNG of every map (1920 × 1080, print mode), and on request
``briefing.pdf`` and ``briefing.pptx`` (:mod:`gis.webmap.slides`). A map that audits parcels also
leaves its workbook (``audit.xlsx``: Chinese headers and verdicts, :mod:`gis.audit_workbook`). A map whose processing step is not installed (the audit map before
``gis.audit`` exists) or whose sample data is missing is left out with a logged note and listed in
the index as not available.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LayerNotFoundError, OutputExistsError, ParkGISError
from ..io import atomic_output
from .render import SCHEMATIC_NOTE, ProcessorUnavailable, render_map, save_map
from .spec import BRIEFING_SPECS, load_spec

__all__ = ["build_briefing", "BriefingMap", "area_table", "target_table", "consistency_table", "html_table"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class BriefingMap:
    """One map of the pack: where it went, or why it is not there."""

    id: str
    title_zh: str = ""
    title_en: str = ""
    html: str | None = None
    png: str | None = None
    png_2x: str | None = None
    png_path: str | None = None
    source_note: str = ""
    available: bool = True
    reason: str = ""
    areas: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    targets: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    summary: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    consistency: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def area_table(frames) -> pd.DataFrame:
    """Measured (ellipsoidal) area of every polygon drawn, against its planned figure where the plan gives one.

    ``frames`` is ``m.parkgis_frames``; parcel layers are summarised in :func:`parcel_summary` instead.
    """
    rows = []
    for lspec, gdf, kind in frames:
        if kind == "parcels":
            continue
        layer = f"{lspec['name']['zh']} {lspec['name']['en']}".strip()
        polys = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        for _, r in polys.iterrows():  # a handful of plan features per map, not parcels
            rows.append({"layer": layer, "id": r.get("id"), "name_zh": r.get("name_zh"), "name_en": r.get("name_en"),
                         "area_mu": r.get("area_mu"), "area_km2": r.get("area_km2"),
                         "planned_mu": r.get("planned_mu", np.nan), "deviation_pct": r.get("deviation_pct", np.nan)})
    out = pd.DataFrame(rows, columns=["layer", "id", "name_zh", "name_en", "area_mu", "area_km2", "planned_mu",
                                      "deviation_pct"])
    return out.drop_duplicates(subset=["id"], keep="first") if out["id"].notna().all() else out


def parcel_summary(frames) -> pd.DataFrame:
    """Per parcel layer: parcel count, measured area and, when audited, how many got each verdict."""
    rows = []
    for lspec, gdf, kind in frames:
        if kind != "parcels":
            continue
        row = {"layer": f"{lspec['name']['zh']} {lspec['name']['en']}".strip(), "parcels": len(gdf),
               "area_mu": float(np.nansum(gdf["area_mu"])), "area_km2": float(np.nansum(gdf["area_km2"]))}
        if "verdict" in gdf.columns:
            counts = gdf["verdict"].astype("string").fillna("—").value_counts()
            for v in ("pass", "fail", "missing", "n/a"):
                row[f"verdict_{v}"] = int(counts.get(v, 0))
        rows.append(row)
    return pd.DataFrame(rows)


def target_table(frames, checks: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of the plan-target check (``gis.targets.check_bundled``) for the features this map draws."""
    if checks is None or checks.empty:
        return pd.DataFrame()
    sel = checks[checks["feature"].astype(str).isin(_drawn_ids(frames))]
    cols = [c for c in ("target", "name", "planned_mu", "measured_mu", "planned_km2", "measured_km2", "deviation_mu",
                        "deviation_pct", "within", "note") if c in sel.columns]
    return sel[cols].reset_index(drop=True)


def _drawn_ids(frames) -> set[str]:
    ids = set()
    for _, gdf, _ in frames:
        if "id" in gdf.columns:
            ids |= set(gdf["id"].dropna().astype(str))
    return ids


def consistency_table(frames, plan: pd.DataFrame | None) -> pd.DataFrame:
    """The plan's own part/whole relations (``gis.plancheck``) that involve a feature this map draws.

    The plan is not always consistent with itself (药谷's six zones add up to neither phase); the
    briefing says so next to the map instead of hiding it.
    """
    if plan is None or plan.empty:
        return pd.DataFrame()
    from ..bundled import load_targets
    from ..targets import all_targets

    feature_of = {t.id: t.feature_id for t in all_targets().values()}
    ids = _drawn_ids(frames)
    keep = []
    for rel in load_targets().get("relations", []) or []:
        names = [rel.get("whole"), rel.get("equals"), *(rel.get("parts") or []), *(rel.get("parts_share") or {})]
        if any(feature_of.get(n, n) in ids for n in names if n):
            keep.append(rel["id"])
    sel = plan[plan["id"].isin(keep)]
    cols = [c for c in ("statement", "expected", "stated", "difference", "unit", "consistent", "note") if c in sel.columns]
    return sel[cols].reset_index(drop=True)


_LABELS = {"layer": "图层 Layer", "id": "编号 ID", "name_zh": "名称", "name_en": "Name", "name": "名称 Name",
           "area_mu": "实测 亩", "area_km2": "实测 km²", "planned_mu": "规划 亩", "planned_km2": "规划 km²",
           "measured_mu": "实测 亩", "measured_km2": "实测 km²", "deviation_mu": "偏差 亩",
           "deviation_pct": "偏差 %", "within": "容差内 within tolerance", "note": "说明 Note", "target": "指标 Target",
           "parcels": "地块数 Parcels", "verdict_pass": "达标 pass", "verdict_fail": "未达标 fail",
           "verdict_missing": "缺数据 missing", "verdict_n/a": "不适用 n/a",
           "statement": "规划表述 Plan statement", "expected": "应为 Expected", "stated": "规划值 Stated",
           "difference": "差 Difference", "unit": "单位 Unit", "consistent": "自洽 Consistent"}
_DIGITS = {"area_mu": 1, "planned_mu": 1, "measured_mu": 1, "deviation_mu": 2, "area_km2": 4, "planned_km2": 4,
           "measured_km2": 4, "deviation_pct": 3}


def _cell(col, v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "是 yes" if v else "否 no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        d = _DIGITS.get(col, 2)
        return f"{float(v):+,.{d}f}" if col.startswith("deviation") else f"{float(v):,.{d}f}"
    return str(v)


def html_table(df: pd.DataFrame, *, caption: str = "") -> str:
    """An HTML table with every header and cell escaped."""
    if df is None or df.empty:
        return ""
    head = "".join(f"<th>{html.escape(_LABELS.get(c, str(c)))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row):
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            cells.append(f'<td class="{"num" if num else "txt"}">{html.escape(_cell(c, v))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="data">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


_INDEX_CSS = """
body { font: 14px/1.45 "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 0; color: #222; }
header { padding: 14px 24px; background: #1f3b73; color: #fff; }
header h1 { margin: 0 0 4px 0; font-size: 22px; } header p { margin: 2px 0; font-size: 13px; }
.note { color: #ffd9d9; }
nav { padding: 8px 24px; background: #eef2f8; } nav a { margin-right: 16px; }
section { padding: 16px 24px; border-bottom: 1px solid #ddd; }
section h2 { margin: 0 0 8px 0; font-size: 18px; }
.row { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.map { flex: 1 1 100%; } .map iframe { width: 100%; height: 680px; border: 1px solid #bbb; }
.tables { flex: 1 1 100%; overflow-x: auto; }
table.data { border-collapse: collapse; margin-bottom: 14px; font-size: 12px; }
table.data caption { text-align: left; font-weight: bold; padding: 4px 0; }
table.data th, table.data td { border: 1px solid #ccc; padding: 3px 6px; white-space: nowrap; }
table.data th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.unavailable { color: #8a1c1c; }
"""


def _index_html(maps: list[BriefingMap], *, date: str, png: bool, extras=()) -> str:
    nav = " ".join(f'<a href="#{html.escape(m.id)}">{html.escape(m.title_zh or m.id)}</a>' for m in maps)
    nav += "".join(f' · <a href="{html.escape(name)}">{html.escape(label)}</a>' for name, label in extras)
    parts = [
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        "<title>兰州经济技术开发区 简报地图 Briefing maps</title>",
        f"<style>{_INDEX_CSS}</style></head><body>",
        "<header><h1>兰州经济技术开发区 简报地图 · Lanzhou ETDZ briefing maps</h1>",
        f"<p>日期 Date: {html.escape(date)} · 面积为CGCS2000椭球面积 areas are ellipsoidal (CGCS2000), "
        "1 亩 = 2000/3 m² · 数据来源 Data source: 《兰州经济技术开发区“十三五”发展规划纲要》; parkgis bundled layers</p>",
        f'<p class="note">{html.escape(SCHEMATIC_NOTE)}</p></header>',
        f"<nav>{nav}</nav>",
    ]
    for m in maps:
        parts.append(f'<section id="{html.escape(m.id)}"><h2>{html.escape(m.title_zh)} · {html.escape(m.title_en)}</h2>')
        if not m.available:
            parts.append(f'<p class="unavailable">不可用 not available: {html.escape(m.reason)}</p></section>')
            continue
        links = f'<a href="{html.escape(m.html)}">全屏打开 open full page</a>'
        if m.png:
            links += f' · <a href="{html.escape(m.png)}">PNG 图片 for slides</a>'
        parts.append('<div class="row"><div class="map">'
                     f'<iframe src="{html.escape(m.html)}" title="{html.escape(m.title_en)}" loading="lazy"></iframe>'
                     f"<p>{links}</p></div><div class=\"tables\">")
        parts.append(html_table(m.areas, caption="面积 Areas (measured 实测 vs planned 规划)"))
        if not m.summary.empty:
            parts.append(html_table(m.summary, caption="地块审核 Parcel audit"))
        if not m.targets.empty:
            parts.append(html_table(m.targets, caption="规划指标核对 Plan target check (gis.targets, ±0.5 %)"))
        if not m.consistency.empty:
            parts.append(html_table(m.consistency, caption="规划自身一致性 Plan consistency (gis.plancheck)"))
        parts.append("</div></div></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _optional_table(what: str, compute):
    """A table for the index, or None with a logged reason when its data cannot be had (the areas still show)."""
    try:
        return compute()
    except ParkGISError as exc:
        log.warning("%s not available: %s", what, exc)
        return None


def _plan_checks():
    from ..plancheck import plan_check

    return _optional_table("plan consistency check", plan_check)


def _target_checks():
    from ..targets import check_bundled

    return _optional_table("plan-target check", check_bundled)


def _tables_for_print(made, checks, plan):
    """(heading, subtitle, html) of the PDF's table pages."""
    out = []
    if checks is not None and not checks.empty:
        cols = [c for c in ("target", "name", "planned_mu", "measured_mu", "planned_km2", "measured_km2", "deviation_pct",
                            "within") if c in checks.columns]
        out.append(("规划指标核对 Plan target check", "实测椭球面积与规划面积之比较（容差 ±0.5 %）· measured vs planned areas",
                    html_table(checks[cols].reset_index(drop=True))))
    if plan is not None and not plan.empty:
        cols = [c for c in ("statement", "expected", "stated", "difference", "unit", "consistent") if c in plan.columns]
        out.append(("规划自身一致性 Plan consistency", "规划文本中的部分与整体是否相符 · do the plan's parts add up",
                    html_table(plan[cols].reset_index(drop=True))))
    for m in made:
        if m.available and not m.summary.empty:
            out.append((f"地块审核汇总 Audit summary · {m.title_zh}", "按规则包审核的地块结论 · verdicts of the parcels audited",
                        html_table(m.summary)))
    return out


def _audit_workbook(spec: dict, path: Path, *, lang: str = "zh") -> Path | None:
    """The audited parcels of a spec's ``process: audit`` layer as the leadership workbook
    (:func:`gis.audit_output.write_audit`); None when the spec audits nothing."""
    from ..audit import audit
    from ..audit_output import write_audit
    from ..bundled import resolve_layer
    from ..io import read_layer

    for layer in spec["layers"]:
        step = layer.get("process")
        name = step if isinstance(step, str) else (step or {}).get("name")
        if name != "audit":
            continue
        args = {} if isinstance(step, str) else {k: v for k, v in step.items() if k != "name"}
        packs = args.pop("packs", ["lanzhou-etdz"])
        zones = args.pop("zones", None)
        parcels = read_layer(resolve_layer(layer["source"]))
        zone_layer = read_layer(resolve_layer(zones)) if isinstance(zones, str) else None
        result = audit(parcels, list(packs) if isinstance(packs, (list, tuple)) else [packs], zones=zone_layer, **args)
        write_audit(result, path, lang=lang)
        return path
    return None


def build_briefing(out_dir="briefing", *, overwrite: bool = False, png: bool | None = None, basemap: str = "none",
                   offline: bool = True, specs=BRIEFING_SPECS, date: str | None = None, pdf: bool = False,
                   pptx: bool = False, hidpi: bool = False) -> list[BriefingMap]:
    """Render the briefing pack into ``out_dir`` (default ``briefing/``) and return what was made.

    ``png``: True requires Chromium for a slide PNG (1920 × 1080) of every map, False makes none, None
    (default) makes them when Chromium is found and logs a note otherwise. ``hidpi`` adds 2× PNGs
    (``<id>@2x.png``). ``pdf`` and ``pptx`` (which need the PNGs, hence Chromium) add
    ``briefing.pdf`` and ``briefing.pptx``.
    """
    from .png import ChromiumNotFound, find_chromium, map_png

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file, not a folder: choose another folder")
    empty = out.is_dir() and not any(out.iterdir())
    chromium = find_chromium()
    wants = [w for w, on in (("PNG", png is True), ("PDF", pdf), ("PPTX", pptx)) if on]
    if wants and chromium is None:
        raise ChromiumNotFound(f"the {'/'.join(wants)} output needs Chromium and none was found: install chromium "
                               "or set PARKGIS_CHROMIUM")
    make_png = bool(chromium) if png is None else png
    make_png = make_png or pdf or pptx
    if png is None and not chromium:
        log.warning("no Chromium found: the briefing pack is written without PNG images")
    date = date or _dt.date.today().isoformat()
    checks = _target_checks()
    plan = _plan_checks()

    made: list[BriefingMap] = []
    extras = []
    with atomic_output(out, overwrite=overwrite or empty, directory=True, make_parents=True) as tmp:
        tmp = Path(tmp)
        for map_id in specs:
            spec = load_spec(map_id)
            bm = BriefingMap(id=spec["id"], title_zh=spec["title"]["zh"], title_en=spec["title"]["en"],
                             source_note=spec.get("source_note", ""))
            try:
                m = render_map(None, spec, offline=offline, basemap=basemap, date=date)
            except ProcessorUnavailable as exc:
                bm.available, bm.reason = False, str(exc)
                log.warning("map %s left out of the briefing: %s", map_id, exc)
                made.append(bm)
                continue
            except LayerNotFoundError as exc:
                if not any(layer.get("process") for layer in spec["layers"]):
                    raise
                bm.available, bm.reason = False, str(exc)
                log.warning("map %s left out of the briefing: %s", map_id, exc)
                made.append(bm)
                continue
            bm.html = f"{spec['id']}.html"
            save_map(m, tmp / bm.html, offline=offline)
            bm.areas = area_table(m.parkgis_frames)
            bm.summary = parcel_summary(m.parkgis_frames)
            if spec.get("targets"):
                bm.targets = target_table(m.parkgis_frames, checks)
                bm.consistency = consistency_table(m.parkgis_frames, plan)
            if make_png:  # always from the offline page, in print mode, never blank
                bm.png = f"{spec['id']}.png"
                bm.png_path = str(tmp / bm.png)
                map_png(m, tmp / bm.png)
                if hidpi:
                    bm.png_2x = f"{spec['id']}@2x.png"
                    map_png(m, tmp / bm.png_2x, scale=2)
            if not (tmp / f"{spec['id']}.xlsx").exists() and _audit_workbook(spec, tmp / f"{spec['id']}.xlsx"):
                extras.append((f"{spec['id']}.xlsx", f"审核工作簿 {bm.title_zh}"))
            log.info("briefing map %s done", map_id)
            made.append(bm)
        if pdf:
            from .slides import write_pdf

            write_pdf(made, tmp, date=date, title_zh="兰州经济技术开发区 简报", title_en="Lanzhou ETDZ briefing",
                      tables_html=_tables_for_print(made, checks, plan))
            extras.append(("briefing.pdf", "PDF 打印版"))
        if pptx:
            from .slides import write_pptx

            write_pptx(made, tmp / "briefing.pptx", date=date)
            extras.append(("briefing.pptx", "PPT 幻灯片"))
        (tmp / "index.html").write_text(_index_html(made, date=date, png=make_png, extras=extras), encoding="utf-8")
    for bm in made:
        if bm.png_path:
            bm.png_path = str(out / bm.png)
    log.info("briefing pack written to %s (%d maps, %d not available)", out, sum(m.available for m in made),
             sum(not m.available for m in made))
    return made
