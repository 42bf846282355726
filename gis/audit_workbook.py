"""The audit workbook leadership reads: headers with units, verdicts in words, formats instead of rounding.

:func:`write_workbook` writes the audit's tables as one ``.xlsx``: a sheet per table, headers from
``gis/data/workbook_labels.yaml`` in Chinese (``lang="zh"``) or English (``"en"``) — or the machine
names (``None``, as CSV and GeoParquet keep them) — verdicts as 达标/未达标/不适用/缺数据, ratios shown as
percentages and figures rounded *by number format* (the cell keeps the exact value), the header row
frozen with filters, columns sized to their content, failing verdicts and the values that failed
highlighted, and a 说明 (notes) sheet with the rules, their thresholds and sources.

>>> import pandas as pd
>>> header("green_ratio", "zh"), header("rule:etdz-invest-300", "zh", {"rule:etdz-invest-300": "投资强度≥300"})
('绿地率（%）', '规则：投资强度≥300')
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .datafile import load_yaml

__all__ = ["write_workbook", "workbook_labels", "header", "LANGS", "VERDICT_COLUMNS"]

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
VERDICT_COLUMNS = ("verdict",)
"""Columns holding a verdict besides the ``rule:<id>`` columns."""

_FILL = {"fail": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
         "missing": {"bg_color": "#FFEB9C", "font_color": "#7F6000"}}
_ORDER = {None: ("parcels", "summary", "findings", "rules", "indicators", "columns"),
          "zh": ("summary", "parcels", "findings", "rules", "indicators", "columns"),
          "en": ("summary", "parcels", "findings", "rules", "indicators", "columns")}


@functools.lru_cache(maxsize=1)
def workbook_labels() -> dict:
    """The headers, formats and verdict texts of ``gis/data/workbook_labels.yaml``."""
    path = Path(__file__).parent / "data" / "workbook_labels.yaml"
    return load_yaml(path.read_text(encoding="utf-8"))


_PCT_WORDS = ("率", "比", "系数", "密度", "占比", "比重")


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    """Indicator records of ``gis/data/indicators.yaml`` by column name (parcel metrics and zone indicators)."""
    try:
        from .indicators import load_registry

        reg = load_registry()
    except Exception as exc:  # the registry is optional here: labels fall back to column names
        log.debug("no indicator registry for workbook labels: %s", exc)
        return {}
    out = {}
    for section in ("parcel_metrics", "zone_indicators"):
        for name, rec in (reg.get(section) or {}).items():
            if isinstance(rec, dict):
                out[name] = rec
    return out


def _entry(column: str) -> dict | None:
    """Header texts and format of a column: the workbook's labels, else derived from the indicator registry."""
    col = str(column)
    entry = workbook_labels()["columns"].get(col)
    if entry or col not in _registry():
        return entry
    rec = _registry()[col]
    zh, en, unit = rec.get("name_zh") or col, rec.get("name_en") or col, rec.get("unit") or ""
    if unit == "ratio":
        pct = any(w in zh for w in _PCT_WORDS) and "容积率" not in zh
        return {"zh": f"{zh}（%）" if pct else zh, "en": f"{en} (%)" if pct else en, "format": "pct" if pct else "ratio2"}
    return {"zh": f"{zh}（{unit}）" if unit else zh, "en": f"{en} ({unit})" if unit else en, "format": "intensity"}


def header(column: str, lang: str | None, rule_names: dict | None = None) -> str:
    """The header of ``column`` in ``lang`` (its machine name when ``lang`` is None or it has no label)."""
    if lang is None:
        return str(column)
    labels = workbook_labels()
    col = str(column)
    for prefix, texts in labels["prefixes"].items():
        if col.startswith(prefix):
            rule = "rule:" + col[len(prefix):]
            return texts[lang] + str((rule_names or {}).get(rule) or col[len(prefix):])
    entry = _entry(col)
    return entry[lang] if entry else col


def _is_verdict(col) -> bool:
    return str(col).startswith("rule:") or str(col) in VERDICT_COLUMNS


def _cell_value(v):
    """A value xlsxwriter can write: NaN/NA/None → None (a blank cell, never 0), numpy → Python."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date)):
        return str(v)
    if isinstance(v, (list, tuple, dict, set)):
        return str(v)
    return v if isinstance(v, (int, str)) else str(v)


def _text_width(s) -> int:
    s = "" if s is None else str(s)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)


def _translate(frame: pd.DataFrame, lang: str | None) -> pd.DataFrame:
    """Verdicts, severities and booleans in words of ``lang``; other values untouched."""
    if lang is None:
        return frame
    labels = workbook_labels()
    verdicts, severities = labels["verdicts"][lang], labels["severities"][lang]
    yes_no = {True: "是", False: "否"} if lang == "zh" else {True: "yes", False: "no"}
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if _is_verdict(c):
            out[c] = col.astype("object").map(lambda v, m=verdicts: m.get(str(v), v) if _cell_value(v) is not None else v)
        elif str(c) in labels.get("values", {}):
            words = {k: v[lang] for k, v in labels["values"][str(c)].items()}
            out[c] = col.astype("object").map(lambda v, m=words: m.get(str(v), v) if _cell_value(v) is not None else v)
        elif c == "severity":
            out[c] = col.astype("object").map(lambda v, m=severities: m.get(str(v), v) if _cell_value(v) is not None else v)
        elif pd.api.types.is_bool_dtype(col.dtype):
            out[c] = col.astype("object").map(lambda v, m=yes_no: m.get(bool(v)) if _cell_value(v) is not None else v)
    return out


def _notes_rows(tables: dict, lang: str) -> list[list]:
    zh = lang == "zh"
    v = workbook_labels()["verdicts"][lang]
    rows = [
        ["兰州经济技术开发区 用地集约审核" if zh else "Lanzhou ETDZ land-intensity audit"],
        [("生成日期" if zh else "Generated"), _dt.date.today().isoformat()],
        [("面积" if zh else "Areas"),
         "CGCS2000 椭球面积；1 亩 = 2000/3 m²" if zh else "ellipsoidal (CGCS2000); 1 亩 = 2000/3 m²"],
        [("数字格式" if zh else "Number formats"),
         "比例以百分比显示、数值按格式四舍五入显示，单元格保留精确值" if zh else
         "ratios are shown as percentages and figures rounded by number format; cells keep the exact values"],
        [],
        ["结论" if zh else "Verdicts", "含义" if zh else "Meaning"],
        [v["pass"], "满足规则" if zh else "meets the rule"],
        [v["fail"], "不满足规则（红色标示，对应数值亦标红）" if zh else "does not meet the rule (red; the value that failed is red too)"],
        [v["n/a"], "规则不适用于该地块（如非工业用地）" if zh else "the rule does not apply (e.g. not industrial land)"],
        [v["missing"], "缺少判断所需数据（黄色标示），不按0计" if zh else "data needed for the rule are missing (amber); never read as 0"],
        [],
        ["规则" if zh else "Rules", "名称" if zh else "Name", "指标" if zh else "Metric", "比较" if zh else "Test",
         "阈值" if zh else "Threshold", "单位" if zh else "Unit", "依据" if zh else "Source"],
    ]
    rules = tables.get("rules")
    if rules is not None and not rules.empty:
        for r in rules.itertuples(index=False):
            d = r._asdict()
            threshold, unit = d.get("threshold"), d.get("unit")
            entry = _entry(str(d.get("metric"))) or {}
            try:
                if entry.get("format") == "pct":
                    threshold, unit = f"{float(threshold) * 100:g}%", "%"
            except (TypeError, ValueError):
                pass
            if unit == "ratio" and zh:
                unit = "比值"
            rows.append([str(d.get("rule", "")).removeprefix("rule:"), d.get("name_zh" if zh else "name_en"),
                         header(d.get("metric", ""), lang), d.get("op"), threshold, unit, d.get("source")])
    return rows


def write_workbook(tables: dict, path, *, lang: str | None = "zh") -> Path:
    """Write the audit ``tables`` (``AuditResult.tables()`` without geometry) to ``path`` as a formatted
    workbook; ``path`` is written directly (callers make it atomic)."""
    import xlsxwriter

    if lang not in (None, *LANGS):
        raise ValueError(f"lang must be one of {LANGS} or None, not {lang!r}")
    labels = workbook_labels()
    rules = tables.get("rules")
    rule_names, metric_of = {}, {}
    if rules is not None and not rules.empty and "rule" in rules:
        name_col = "name_en" if lang == "en" else "name_zh"
        for r in rules.to_dict("records"):
            rule_names[str(r["rule"])] = r.get(name_col) or r.get("name_zh")
            metric_of[str(r["rule"])] = r.get("metric")
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": False, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    try:
        head_fmt = wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True,
                                  "valign": "top"})
        fmts = {key: wb.add_format({"num_format": f}) for key, f in labels["formats"].items()}
        bad = {key: wb.add_format({"num_format": f, **_FILL["fail"]}) for key, f in labels["formats"].items()}
        bad[None] = wb.add_format(_FILL["fail"])
        cond = {k: wb.add_format(v) for k, v in _FILL.items()}
        verdict_text = labels["verdicts"][lang or "en"] if lang else {"fail": "fail", "missing": "missing"}
        order = [n for n in _ORDER[lang] if n in tables] + [n for n in tables if n not in _ORDER[lang]]
        for name in order:
            frame = tables[name]
            sheet_name = (labels["sheets"].get(name, {}).get(lang) if lang else None) or str(name)
            ws = wb.add_worksheet(sheet_name[:31])
            _write_sheet(ws, frame, lang=lang, rule_names=rule_names, metric_of=metric_of, head_fmt=head_fmt,
                         fmts=fmts, bad=bad, cond=cond, verdict_text=verdict_text)
        if lang:
            ws = wb.add_worksheet(labels["sheets"]["notes"][lang])
            bold = wb.add_format({"bold": True})
            title = wb.add_format({"bold": True, "font_size": 14})
            wrap = wb.add_format({"valign": "top"})  # long sources run on to the right, never over the next row
            for i, row in enumerate(_notes_rows(tables, lang)):
                for j, v in enumerate(row):
                    v = _cell_value(v)
                    if v is None:
                        continue
                    fmt = title if i == 0 else (bold if (j == 0 or (row and row[0] in ("结论", "Verdicts", "规则", "Rules")))
                                                else wrap)
                    ws.write(i, j, v, fmt)
            ws.set_column(0, 0, 26)
            ws.set_column(1, 1, 52)
            ws.set_column(2, 2, 30)
            ws.set_column(3, 5, 10)
            ws.set_column(6, 6, 120)
            ws.set_landscape()
            ws.set_paper(9)
            ws.fit_to_pages(1, 0)
    finally:
        wb.close()
    return Path(path)


def _write_sheet(ws, frame: pd.DataFrame, *, lang, rule_names, metric_of, head_fmt, fmts, bad, cond, verdict_text):
    raw = frame
    shown = _translate(frame, lang)
    cols = list(shown.columns)
    n = len(shown)
    fmt_key = {}
    for j, c in enumerate(cols):
        entry = _entry(str(c))
        key = entry.get("format") if entry else None
        if key is None and (str(c).startswith("value:") or pd.api.types.is_float_dtype(raw[c].dtype)):
            key = "intensity" if str(c).startswith("value:") else "area"  # figures rounded by format, never raw
        if key == "text" or (key and not pd.api.types.is_numeric_dtype(raw[c].dtype)):
            key = None if key != "text" else "text"
        fmt_key[c] = key
        ws.write(0, j, header(c, lang, rule_names), head_fmt)
        values = [_cell_value(v) for v in shown[c].tolist()]
        fmt = fmts.get(key) if key else None
        if fmt is not None:
            ws.write_column(1, j, values, fmt)
        else:
            ws.write_column(1, j, values)
        sample = values[:500]
        head_width = min(_text_width(header(c, lang, rule_names)) + 2, 22)  # longer headers wrap (3 lines at most)
        width = max([head_width] + [_text_width(f"{v:,.2f}" if isinstance(v, float) else v) + 2
                                    for v in sample if v is not None])
        ws.set_column(j, j, min(max(width, 8), 60))
        if _is_verdict(c) and n:
            for verdict in ("fail", "missing"):
                ws.conditional_format(1, j, n, j, {"type": "cell", "criteria": "==",
                                                   "value": f'"{verdict_text[verdict]}"', "format": cond[verdict]})
    # the value that failed a rule, in red, on the same row
    pos = {c: j for j, c in enumerate(cols)}
    for rule_col in [c for c in cols if str(c).startswith("rule:")]:
        metric = metric_of.get(str(rule_col))
        if metric not in pos:
            continue
        failed = np.flatnonzero(raw[rule_col].astype("string").eq("fail").fillna(False).to_numpy(dtype=bool))
        j = pos[metric]
        for i in failed:
            v = _cell_value(raw[metric].iloc[i])
            if v is not None:
                ws.write(i + 1, j, v, bad.get(fmt_key.get(metric)) or bad[None])
    ws.freeze_panes(1, 0)
    if cols:
        ws.autofilter(0, 0, max(n, 1), len(cols) - 1)
    ws.set_row(0, 48 if lang else 30)
    # printing: landscape A4, the header row on every page; narrow tables one page wide
    ws.set_landscape()
    ws.set_paper(9)
    if len(cols) <= 16:
        ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
