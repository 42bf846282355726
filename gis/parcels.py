"""Parcel tables as planners keep them -> parkgis' parcel schema, with every problem reported per row.

Headers in Chinese (``宗地编号``, ``用地面积（公顷）``, ``税收（元）`` …) are mapped with
``gis/data/headers.yaml``; a unit written in a header is converted (元 → 万元, 公顷 → 亩), a unit that
cannot be read is a finding and the column is not used, never guessed. Values are then checked:
non-numeric or negative figures, blank or duplicate parcel ids, unknown status or land-use codes and
parcels in no zone each give a per-row finding; no row is ever dropped and a missing value stays
missing (NaN), never 0.

>>> import pandas as pd
>>> df = pd.DataFrame({"宗地编号": ["a"], "用地面积（公顷）": [2.0], "税收（元）": [150000]})
>>> mapped, report, findings = map_headers(df)
>>> mapped.to_dict("records")
[{'parcel_id': 'a', 'declared_area_mu': 30.0, 'tax_wan': 15.0}]
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from .datafile import load_yaml
from .findings import concat_findings, row_findings, table_finding
from .landuse import classify_landuse
from .units import AREA_UNITS_M2

__all__ = [
    "HEADERS_PATH", "STATUSES", "SUPPLIED_STATUSES", "SCALES", "NUMERIC_FIELDS", "MONEY_FIELDS", "TEXT_FIELDS",
    "load_headers", "map_headers", "check_values", "prepare_parcels", "clean_text", "duplicate_id_findings",
]

log = logging.getLogger(__name__)

HEADERS_PATH = Path(__file__).resolve().parent / "data" / "headers.yaml"
STATUSES = ("planned", "supplied", "under_construction", "built", "idle")
SUPPLIED_STATUSES = ("supplied", "under_construction", "built", "idle")
"""Land handed over to a user (已供应): everything but ``planned``."""
MONEY_FIELDS = ("investment_wan", "output_wan", "tax_wan", "value_added_wan", "rd_wan")
AREA_FIELDS = ("declared_area_mu", "floor_area_m2", "footprint_m2", "green_m2", "admin_area_m2")
NUMERIC_FIELDS = MONEY_FIELDS + ("sales_wan",) + AREA_FIELDS + ("energy_tce", "employees", "electricity_kwh", "emissions_t")
TEXT_FIELDS = ("parcel_id", "park_id", "zone_id", "phase", "land_use", "industry_code", "project", "status", "scale")
SCALES = ("above", "below")
"""``scale``: 规模以上 (above) or 规模以下 (below) industrial enterprise; picks a score's formula."""

_UNIT_TARGET = {"money": "wan", "energy": "tce", "count": "n", "electricity": "kwh", "mass": "t"}


def _norm(text) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower()


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        spec = load_yaml(fh)
    aliases = {}
    for field, fs in spec["fields"].items():
        for name in [field, *fs.get("aliases", [])]:
            aliases.setdefault(_norm(name), field)
    units = {kind: {_norm(u): v for u, v in table.items()} for kind, table in spec["units"].items()}
    status = {}
    for canon, words in spec.get("status_values", {}).items():
        for w in [canon, *words]:
            status[_norm(w)] = canon
    scale = {}
    for canon, words in spec.get("scale_values", {}).items():
        for w in [canon, *words]:
            scale[_norm(w)] = canon
    return {"fields": spec["fields"], "aliases": aliases, "units": units, "status": status, "scale": scale}


def load_headers(path=None) -> dict:
    """The header mapping: ``fields``, ``aliases`` (normalised name -> field), ``units``, ``status``."""
    return _load(str(Path(path or HEADERS_PATH).resolve()))


_BRACKET = re.compile(r"^(?P<base>.+?)\s*[(\[【]\s*(?P<unit>[^()\[\]【】]*?)\s*[)\]】]\s*$")


def _split_header(header: str, spec: dict):
    """(base, unit-or-None, had_unit_syntax) for a header, after NFKC normalisation."""
    h = _norm(header)
    if h in spec["fields"]:  # the schema's own name carries its unit (investment_wan, floor_area_m2)
        return h, "=", True
    if h in spec["aliases"]:
        return h, None, False
    m = _BRACKET.match(h)
    if m:
        return m.group("base").strip(), m.group("unit").strip(), True
    for sep in ("/", "_"):
        if sep in h:
            base, unit = h.rsplit(sep, 1)
            if base.strip() in spec["aliases"]:
                return base.strip(), unit.strip(), True
    return h, None, False


_EXAMPLE_UNITS = {"money": "元 or 万元", "area": "平方米, 亩 or 公顷", "energy": "吨标准煤", "count": "人",
                  "electricity": "千瓦时 or 万千瓦时", "mass": "吨"}


def _canonical_unit(kind, fs):
    return fs.get("unit") or _UNIT_TARGET.get(kind)


def _factor(kind: str, unit: str, field_spec: dict, spec: dict):
    """Multiplier from ``unit`` to the field's canonical unit, or None when the unit is unknown."""
    table = spec["units"].get(kind, {})
    entry = table.get(_norm(unit))
    if entry is None:
        return None
    if kind == "area":
        return float(entry["m2"]) / AREA_UNITS_M2[field_spec["unit"]]
    return float(entry[_UNIT_TARGET[kind]])


def map_headers(df: pd.DataFrame, *, headers=None):
    """Rename known headers to the schema and convert their units.

    Returns ``(frame, report, findings)``: a new frame (unknown columns pass through unchanged), a
    report with one row per input column (header, field, unit, factor, note) and header findings.
    """
    spec = load_headers(headers)
    geom_name = df.geometry.name if hasattr(df, "geometry") and "geometry" in df.columns else None
    out = df.copy()
    renames, factors, report, findings, taken = {}, {}, [], [], {}
    for col in df.columns:
        if col == geom_name or col == "_row":
            continue
        base, unit, had_unit = _split_header(col, spec)
        field = spec["aliases"].get(base)
        if field is None:
            report.append({"header": col, "field": None, "unit": unit, "factor": None, "note": "not part of the schema; kept as is"})
            continue
        fs = spec["fields"][field]
        kind = fs.get("kind", "text")
        if field in taken:
            findings.append(table_finding(
                kind="header", check="duplicate_header", severity="error", column=str(col),
                reason_zh=f"表头“{col}”与“{taken[field]}”对应同一字段 {field}，仅使用“{taken[field]}”",
                reason_en=f"header {col!r} maps to {field} like {taken[field]!r}; only {taken[field]!r} is used"))
            report.append({"header": col, "field": None, "unit": unit, "factor": None, "note": f"duplicate of {taken[field]!r}"})
            continue
        if kind == "text":
            renames[col] = field
            taken[field] = col
            report.append({"header": col, "field": field, "unit": None, "factor": None, "note": ""})
            continue
        note = ""
        if unit == "=":
            renames[col] = field
            taken[field] = col
            report.append({"header": col, "field": field, "unit": _canonical_unit(kind, fs), "factor": 1.0, "note": ""})
            continue
        if unit is None or unit == "":
            if had_unit and unit == "":
                unit = None
            default = fs.get("default_unit")
            if default is None:
                findings.append(table_finding(
                    kind="header", check="header_unit_missing", severity="error", column=str(col),
                    reason_zh=f"表头“{col}”未注明单位（如 {_EXAMPLE_UNITS.get(kind, '万元')}），该列未使用",
                    reason_en=f"header {col!r} does not say its unit (e.g. {_EXAMPLE_UNITS.get(kind, '万元')}); the column is "
                              f"not used — rename it, e.g. {col}（{_EXAMPLE_UNITS.get(kind, '万元').split()[-1]}）"))
                report.append({"header": col, "field": None, "unit": None, "factor": None, "note": "unit not given: column not used"})
                continue
            unit, note = default, f"unit not in header: {default} assumed ({fs.get('default_source', 'headers.yaml default')})"
            findings.append(table_finding(
                kind="header", check="header_unit_assumed", severity="info", column=str(col),
                reason_zh=f"表头“{col}”未注明单位，按 {default} 计", reason_en=f"header {col!r} has no unit: read as {default}",
                source=fs.get("default_source")))
        factor = _factor(kind, unit, fs, spec)
        if factor is None:
            findings.append(table_finding(
                kind="header", check="header_unit_unreadable", severity="error", column=str(col), raw=unit,
                reason_zh=f"表头“{col}”的单位“{unit}”无法识别，该列未使用",
                reason_en=f"the unit {unit!r} in header {col!r} cannot be read; the column is not used — "
                          f"use one of: {', '.join(sorted(spec['units'].get(kind, {})))}"))
            report.append({"header": col, "field": None, "unit": unit, "factor": None, "note": "unit not readable: column not used"})
            continue
        renames[col] = field
        taken[field] = col
        if factor != 1.0:
            factors[field] = factor
        report.append({"header": col, "field": field, "unit": unit, "factor": factor, "note": note})
    # columns that could not be used keep their header, unless it is a schema name another column now has
    targets = set(renames.values())
    for col in df.columns:
        if col not in renames and col in targets:
            renames[col] = f"{col} (not used)"
    out = out.rename(columns=renames)
    for field, factor in factors.items():
        num, bad = _to_number(out[field])
        if bad.any():  # text that is not a number is reported here, before the unit conversion
            findings.append(_not_a_number(out, bad, field))
        out[field] = num * factor
    return out, pd.DataFrame(report, columns=["header", "field", "unit", "factor", "note"]), concat_findings(findings)


def _to_number(s: pd.Series):
    """Numbers from a column as typed: returns (float Series, mask of non-blank text that is not a number)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64"), np.zeros(len(s), dtype=bool)
    text = s.astype("string").str.normalize("NFKC").str.strip()
    cleaned = text.str.replace(r"[,\s¥￥]", "", regex=True)
    num = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    bad = (text.notna() & text.ne("") & num.isna()).to_numpy(dtype=bool)
    return num, bad


def check_values(df: pd.DataFrame, *, headers=None, duplicates: bool = True):
    """Coerce and check values; returns ``(frame, findings)``. The frame is new; no row is dropped.

    Adds the land-use classification columns (:func:`gis.landuse.classify_landuse`) and a normalised
    ``status``. Bad numbers become NaN (reported), never 0. ``duplicates=False`` leaves out the
    duplicate-id check (a partition cannot see the other partitions' ids: the audit checks them across
    the whole layer).
    """
    spec = load_headers(headers)
    out = df.copy()
    if "_row" not in out.columns:
        out["_row"] = np.arange(len(out))
    findings = []
    for field in NUMERIC_FIELDS:
        if field not in out.columns:
            continue
        num, bad = _to_number(out[field])
        if bad.any():
            findings.append(_not_a_number(out, bad, field))
        neg = (num < 0).to_numpy(dtype=bool)
        if neg.any():
            findings.append(row_findings(
                out, neg, kind="data", check="negative_value", severity="error", column=field, value=num.to_numpy(),
                reason_zh=f"{field} 为负数，按缺失处理", reason_en=f"{field} is negative; treated as missing"))
            num = num.mask(neg)
        inf = np.isinf(num.to_numpy())
        if inf.any():
            num = num.mask(inf)
        out[field] = num
    for field in TEXT_FIELDS:
        if field in out.columns:
            s = out[field]
            out[field] = clean_text(s)
    findings.extend(_check_ids(out, duplicates=duplicates))
    findings.extend(_check_status(out, spec))
    lu = classify_landuse(out["land_use"] if "land_use" in out.columns else pd.Series([None] * len(out), index=out.index))
    for col in lu.columns:  # categoricals: a few distinct values each (written out as text)
        out[col] = lu[col].array
    unknown = ~lu["landuse_known"].to_numpy(dtype=bool)
    if unknown.any():
        findings.append(row_findings(
            out, unknown, kind="data", check="unknown_land_use", severity="error", column="land_use",
            raw=out["land_use"].to_numpy(dtype=object),
            reason_zh="用地性质代码无法识别（GB 50137-2011 或 2023 用地用海分类）",
            reason_en="land-use code not found in GB 50137-2011 or the 2023 land/sea use classification (gis/data/landuse_crosswalk.csv)"))
    blank_lu = lu["landuse_code"].isna().to_numpy()
    if blank_lu.any():
        findings.append(row_findings(
            out, blank_lu, kind="data", check="missing_land_use", severity="warning", column="land_use",
            reason_zh="缺少用地性质", reason_en="land use is missing"))
    findings.extend(_check_scale(out, spec))
    if "zone_id" not in out.columns:  # zones unknown: one note, not a warning on every row
        findings.append(table_finding(
            kind="header", check="zones_unknown", severity="info", column="zone_id", level="all", group="(all)",
            reason_zh="数据无片区列（片区/zone_id），不按片区汇总；可提供片区图层按位置判定",
            reason_en="the data has no zone column (zone_id / 片区): zones are unknown, so nothing is summarised by "
                      "zone; a zones layer assigns them by location"))
        no_zone = np.zeros(len(out), dtype=bool)
    else:
        no_zone = out["zone_id"].isna().to_numpy()
    if no_zone.any():
        findings.append(row_findings(
            out, no_zone, kind="data", check="outside_zones", severity="warning", column="zone_id",
            reason_zh="宗地不在任何片区内（无片区编号）", reason_en="parcel lies outside every zone (no zone_id)"))
    return out, concat_findings(findings, ids=out)


def clean_text(s: pd.Series) -> pd.Series:
    """A text field as the audit reads it: stripped text, blank as missing, ids read as numbers without ``.0``."""
    if pd.api.types.is_float_dtype(s):  # ids read as numbers: 1.0 -> "1"
        s = s.astype("Int64") if (s.dropna() % 1 == 0).all() else s
    s = s.astype("str").str.strip()  # text stays a (pyarrow) string column: fast to filter and write
    return s.mask(s.eq(""))


def _not_a_number(out, bad, field):
    return row_findings(out, bad, kind="data", check="not_a_number", severity="error", column=field,
                        raw=out[field].astype("string").to_numpy(dtype=object),
                        reason_zh=f"{field} 不是数字，按缺失处理", reason_en=f"{field} is not a number; treated as missing")


def _check_ids(out: pd.DataFrame, *, duplicates: bool = True):
    found = []
    if "parcel_id" not in out.columns:
        found.append(table_finding(kind="header", check="missing_parcel_id_column", severity="error", column="parcel_id",
                                   reason_zh="缺少宗地编号列", reason_en="there is no parcel id column (parcel_id / 宗地编号)"))
        return found
    ids = out["parcel_id"]
    blank = ids.isna().to_numpy()
    if blank.any():
        found.append(row_findings(out, blank, kind="data", check="missing_parcel_id", severity="error", column="parcel_id",
                                  reason_zh="缺少宗地编号", reason_en="parcel id is missing"))
    if not duplicates:
        return found
    dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
    if dup.any():
        found.append(duplicate_id_findings(out, dup))
    return found


def duplicate_id_findings(frame: pd.DataFrame, mask) -> pd.DataFrame:
    """Findings for the rows of ``frame`` (with ``parcel_id``) whose id is on several rows of the layer."""
    return row_findings(frame, mask, kind="data", check="duplicate_parcel_id", severity="error", column="parcel_id",
                        raw=frame["parcel_id"].to_numpy(dtype=object),
                        reason_zh="宗地编号重复", reason_en="duplicate parcel id: the same id is on several rows")


def _check_status(out: pd.DataFrame, spec: dict):
    if "status" not in out.columns:
        return []
    written = out["status"]
    cat = pd.Categorical(written)
    mapped_cats = [spec["status"].get(_norm(c)) for c in cat.categories]
    codes = np.asarray(cat.codes)
    # one lookup per distinct value as written, then category codes (no text per row)
    lookup = np.array([STATUSES.index(m) if m in STATUSES else -1 for m in mapped_cats] + [-1], dtype=np.int64)
    canon = lookup[codes]
    unknown = (codes >= 0) & (canon < 0)
    out["status"] = pd.Categorical.from_codes(canon, categories=list(STATUSES))
    if unknown.any():
        return [row_findings(out, unknown, kind="data", check="unknown_status", severity="error", column="status",
                             raw=written.to_numpy(dtype=object),
                             reason_zh="用地状态无法识别", reason_en=f"status not one of {', '.join(STATUSES)} (or a Chinese word for them)")]
    return []


def _check_scale(out: pd.DataFrame, spec: dict):
    if "scale" not in out.columns:
        return []
    written = out["scale"]
    cat = pd.Categorical(written)
    lookup = np.array([spec["scale"].get(_norm(c)) for c in cat.categories] + [None], dtype=object)
    codes = np.asarray(cat.codes)
    canon = lookup[codes]
    unknown = (codes >= 0) & pd.isna(canon)
    out["scale"] = pd.Categorical(canon, categories=list(SCALES))
    if unknown.any():
        return [row_findings(out, unknown, kind="data", check="unknown_scale", severity="error", column="scale",
                             raw=written.to_numpy(dtype=object), reason_zh="企业规模（规上/规下）无法识别",
                             reason_en="scale is not 规上/规下 (above/below)")]
    return []


def prepare_parcels(gdf, *, headers=None):
    """Map headers and check values in one go: ``(frame, header_report, findings)``."""
    mapped, report, f1 = map_headers(gdf, headers=headers)
    checked, f2 = check_values(mapped, headers=headers)
    return checked, report, concat_findings([f1, f2])
