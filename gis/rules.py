"""Rule packs (YAML data) and a vectorised rule engine: one pass over whole columns per rule.

A pack (``gis/data/rules/<name>.yaml`` or any YAML file with the same layout) holds ``rules`` and
optionally ``scores``, ``tables`` and ``parameters``. A rule names the parcels it applies to
(``applies_to``: land use, status, any column), a metric of :data:`gis.intensity.METRICS`, a comparison
(``op``), a threshold (a number, or a lookup into one of the pack's tables), a severity and a source.

Verdicts: ``pass``; ``fail``; ``n/a`` — the rule does not apply (or its table has no value for this
case yet); ``missing`` — data needed is absent (the metric, or whether the rule applies, cannot be
told), never read as 0.

>>> pack = load_pack("lanzhou-etdz")
>>> [r.id for r in pack.rules]
['etdz-invest-300', 'etdz-park-avg-2020', 'etdz-park-avg-baseline']
"""

from __future__ import annotations

import dataclasses
import logging
import operator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .datafile import load_yaml
from .errors import InputError, LayerNotFoundError
from .findings import concat_findings, row_findings, table_finding
from .intensity import METRICS
from .scoring import evaluate_score

__all__ = [
    "VERDICTS", "RULES_DIR", "DEFAULT_PACKS", "Rule", "Score", "RulePack", "bundled_packs", "load_pack", "load_packs",
    "absent_columns", "applies_mask", "evaluate_rule", "evaluate_summary_rule", "evaluate_score", "overall_verdict", "rules_table",
    "no_threshold_finding", "summary_rule_sums", "summary_rule_verdicts",
]

log = logging.getLogger(__name__)

VERDICTS = ("pass", "fail", "n/a", "missing")
PASS, FAIL, NA, MISSING = range(4)
RULES_DIR = Path(__file__).resolve().parent / "data" / "rules"

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
_OP_WORDS = {">=": ("不低于", "at least"), ">": ("高于", "above"), "<=": ("不超过", "at most"), "<": ("低于", "below"),
             "==": ("等于", "equal to")}
_REL_TOL = 1e-9  # a value equal to the threshold up to rounding of the area passes


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    name_zh: str
    name_en: str
    metric: str
    op: str
    threshold: Any
    severity: str
    source: str
    scope: str = "parcel"
    applies_to: dict = dataclasses.field(default_factory=dict)
    unit: str = ""
    levels: tuple = ("park_id",)
    pack: str = ""

    @property
    def column(self) -> str:
        return f"rule:{self.id}"


@dataclasses.dataclass(frozen=True)
class Score:
    id: str
    name_zh: str
    name_en: str
    indicators: tuple
    classes: tuple
    fail_classes: tuple
    severity: str
    source: str
    applies_to: dict = dataclasses.field(default_factory=dict)
    cap: float | None = 1.5
    pack: str = ""
    classes_by: str = "score"  # score (min_score cut-offs), rank (percentile rank in the group) or none
    variant_column: str | None = None  # a column choosing the formula (e.g. scale: above/below)
    variants: tuple = ()  # ((value or None, indicators), …)
    drop_absent: bool = True  # an indicator whose column the data lacks is dropped (weights rescaled)
    not_evaluated_class: str | None = None  # class of parcels the score does not apply to (e.g. T)
    classes_note: str = ""

    @property
    def column(self) -> str:
        return f"rule:{self.id}"


@dataclasses.dataclass(frozen=True)
class RulePack:
    name: str
    title_zh: str
    title_en: str
    source: str
    path: str
    rules: tuple
    scores: tuple = ()
    tables: dict = dataclasses.field(default_factory=dict)
    parameters: dict = dataclasses.field(default_factory=dict)
    example: bool = False  # a template a planner copies, not a published method

    @property
    def parcel_rules(self):
        return [r for r in self.rules if r.scope == "parcel"]

    @property
    def summary_rules(self):
        return [r for r in self.rules if r.scope == "summary"]


# ------------------------------------------------------------------------------------------ loading
def bundled_packs() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.yaml"))


DEFAULT_PACKS = ("lanzhou-etdz", "gb-2008")
"""Packs an audit uses when none is named: the control indicators. Enterprise evaluations
(huangyan-2022, huaian-2024) and the example mujun-eval are chosen by name."""


def _need(d: dict, key: str, where: str):
    if key not in d or d[key] is None or d[key] == "":
        raise InputError(f"{where}: '{key}' is required — every rule needs id, metric, op, threshold, severity and source")
    return d[key]


def _read_pack_text(path: Path) -> str:
    """The pack's text: UTF-8, or GBK/GB18030 detected (logged); otherwise an error naming the encoding problem."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise InputError(f"{path.name} is not UTF-8 text (byte {exc.start}); save the rule pack as UTF-8") from None
        log.warning("%s is not UTF-8: read as GBK/GB18030 (save it as UTF-8 to be sure)", path.name)
        return text


def _mapping(value, where: str, what: str, example: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: {what} must be a mapping such as {example}, not {value!r}")
    return dict(value)


def _items(value, where: str, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: {what} must be a list of mappings, not {type(value).__name__} {value!r}")
    return value


def _check_item(item, where: str, what: str) -> dict:
    if not isinstance(item, dict):
        raise InputError(f"{where}: is a bare {type(item).__name__} {item!r}; a {what} is a mapping with "
                         + ("id, metric, op, threshold, severity and source" if what == "rule" else "its keys"))
    return item


_APPLIES_EXAMPLE = "{land_use: industrial, status: [built]}"


def _parse_rule(r, i: int, spec: dict, where: str, name: str) -> Rule:
    w = f"{where} rule {i + 1}"
    r = _check_item(r, w, "rule")
    w = f"{where} rule {i + 1} ({r.get('id', '?')})"
    metric = _need(r, "metric", w)
    if metric not in METRICS:
        raise InputError(f"{w}: unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
    op = str(_need(r, "op", w))
    if op not in _OPS:
        raise InputError(f"{w}: op must be one of {', '.join(_OPS)}, not {op!r}")
    sev = _need(r, "severity", w)
    if sev not in ("error", "warning", "info"):
        raise InputError(f"{w}: severity must be error, warning or info")
    thr = _need(r, "threshold", w)
    if isinstance(thr, dict):
        if thr.get("table") not in (spec.get("tables") or {}):
            raise InputError(f"{w}: threshold table {thr.get('table')!r} is not in the pack's tables")
        _mapping(thr.get("key"), w, "the threshold's key", "{industry_code: industry_code}")
    elif isinstance(thr, bool) or not isinstance(thr, (int, float)):
        raise InputError(f"{w}: threshold must be a number or {{table: …, key: …}}, not {thr!r}")
    scope = r.get("scope", "parcel")
    if scope not in ("parcel", "summary"):
        raise InputError(f"{w}: scope must be parcel or summary")
    levels = r.get("levels") or ("park_id",)
    if isinstance(levels, str):
        levels = (levels,)
    return Rule(
        id=str(_need(r, "id", w)), name_zh=str(r.get("name_zh", r["id"])), name_en=str(r.get("name_en", r["id"])),
        metric=metric, op=op, threshold=thr, severity=sev, source=str(_need(r, "source", w)), scope=scope,
        applies_to=_mapping(r.get("applies_to"), w, "applies_to", _APPLIES_EXAMPLE), unit=str(r.get("unit", "")),
        levels=tuple(levels), pack=name)


def _parse_indicators(items, w: str) -> tuple:
    inds = []
    for k, x in enumerate(_items(items, w, "indicators")):
        x = dict(_check_item(x, f"{w} indicator {k + 1}", "indicator"))
        for key in ("metric", "weight", "source"):
            _need(x, key, f"{w} indicator {x.get('metric', k + 1)}")
        for m in (x["metric"], x.get("fallback")):
            if m is not None and m not in METRICS:
                raise InputError(f"{w}: unknown metric {m!r}; metrics: {', '.join(METRICS)}")
        try:
            float(x["weight"])
        except (TypeError, ValueError):
            raise InputError(f"{w} indicator {x['metric']}: weight must be a number, not {x['weight']!r}") from None
        b = x.get("benchmark", "average")
        if not (b == "average" or (isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0)
                or (isinstance(b, dict) and isinstance(b.get("average_times"), (int, float)))):
            raise InputError(f"{w} indicator {x['metric']}: benchmark must be 'average', a positive number or "
                             f"{{average_times: 2}}, not {b!r}")
        if x.get("direction", "higher") not in ("higher", "lower"):
            raise InputError(f"{w} indicator {x['metric']}: direction must be higher or lower")
        inds.append(x)
    if not inds:
        raise InputError(f"{w}: 'indicators' is required (a list of {{metric, weight, benchmark, source}})")
    return tuple(inds)


def _parse_classes(s: dict, w: str, by: str) -> tuple:
    classes = []
    for k, c in enumerate(_items(s.get("classes"), w, "classes")):
        c = dict(_check_item(c, f"{w} class {k + 1}", "class"))
        if "class" not in c:
            raise InputError(f"{w} class {k + 1}: 'class' (its name, e.g. A) is required")
        key = {"score": "min_score", "rank": "rank_to_pct"}.get(by)
        if key is not None:
            if c.get(key) is None:
                raise InputError(f"{w} class {c['class']}: '{key}' is required when classes are by {by}"
                                 + (" (or set classes_by: rank / none)" if by == "score" else ""))
            try:
                c[key] = float(c[key])
            except (TypeError, ValueError):
                raise InputError(f"{w} class {c['class']}: {key} must be a number, not {c[key]!r}") from None
        classes.append(c)
    if by == "score":
        if not classes:
            raise InputError(f"{w}: 'classes' is required (e.g. [{{class: A, min_score: 90, source: …}}])")
        classes.sort(key=lambda c: -c["min_score"])
    elif by == "rank":
        classes.sort(key=lambda c: c["rank_to_pct"])
        if not classes or abs(classes[-1]["rank_to_pct"] - 100.0) > 1e-9:
            raise InputError(f"{w}: the last rank class must reach rank_to_pct: 100 (every evaluated parcel gets a class)")
    return tuple(classes)


def _parse_score(s, i: int, where: str, name: str) -> Score:
    w = f"{where} score {i + 1}"
    s = _check_item(s, w, "score")
    w = f"{where} score {i + 1} ({s.get('id', '?')})"
    by = s.get("classes_by", "score")
    if by not in ("score", "rank", "none"):
        raise InputError(f"{w}: classes_by must be score, rank or none, not {by!r}")
    if "formulas" in s:
        col = _need(s, "formula_column", w)
        formulas = _mapping(s["formulas"], w, "formulas", "{above: {indicators: […]}, below: {indicators: […]}}")
        variants = tuple((str(k), _parse_indicators(_mapping(v, w, f"formula {k}", "{indicators: […]}").get("indicators"),
                                                    f"{w} formula {k}")) for k, v in formulas.items())
        if not variants:
            raise InputError(f"{w}: formulas is empty")
    else:
        col = None
        variants = ((None, _parse_indicators(s.get("indicators"), w)),)
    cap = s.get("cap", 1.5)
    if cap is not None:
        try:
            cap = float(cap)
        except (TypeError, ValueError):
            raise InputError(f"{w}: cap must be a number or null, not {cap!r}") from None
    return Score(
        id=str(_need(s, "id", w)), name_zh=str(s.get("name_zh", s["id"])), name_en=str(s.get("name_en", s["id"])),
        indicators=variants[0][1], classes=_parse_classes(s, w, by), fail_classes=tuple(s.get("fail_classes") or ()),
        severity=str(s.get("severity", "warning")), source=str(_need(s, "source", w)),
        applies_to=_mapping(s.get("applies_to"), w, "applies_to", _APPLIES_EXAMPLE), cap=cap, pack=name,
        classes_by=by, variant_column=col, variants=variants, drop_absent=bool(s.get("drop_absent", True)),
        not_evaluated_class=s.get("not_evaluated_class"), classes_note=str(s.get("classes_note", "")))


def load_pack(name_or_path) -> RulePack:
    """A bundled pack by name (``lanzhou-etdz``) or a YAML file by path; raises InputError on bad content.

    Every rule and score is checked on load; a problem is one line naming the file, the rule and what
    is wrong.
    """
    if isinstance(name_or_path, RulePack):
        return name_or_path
    path = Path(str(name_or_path))
    if not (path.suffix.lower() in (".yaml", ".yml") and path.exists()):
        bundled = RULES_DIR / f"{name_or_path}.yaml"
        if not bundled.exists():
            if path.suffix.lower() in (".yaml", ".yml"):
                raise LayerNotFoundError(f"no such rule file: {path}")
            raise InputError(f"no rule pack {name_or_path!r}: use one of {', '.join(bundled_packs())} or a path to a .yaml file")
        path = bundled
    try:
        spec = load_yaml(_read_pack_text(path)) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise InputError(f"{path.name}: a rule pack is a mapping with 'pack' and 'rules'")
    name = str(spec.get("pack") or path.stem)
    where = f"{path.name}"
    tables = _mapping(spec.get("tables"), where, "tables", "{far_min: {key: [industry_code], rows: […]}}")
    for tname, t in tables.items():
        t = _mapping(t, f"{where} table {tname}", "a table", "{key: [industry_code], rows: […]}")
        for k, row in enumerate(_items(t.get("rows"), f"{where} table {tname}", "rows")):
            _check_item(row, f"{where} table {tname} row {k + 1}", "table row")
    params = _mapping(spec.get("parameters"), where, "parameters", "{region_class: {value: 5, source: …}}")
    rules = [_parse_rule(r, i, spec, where, name) for i, r in enumerate(_items(spec.get("rules"), where, "rules"))]
    scores = [_parse_score(s, i, where, name) for i, s in enumerate(_items(spec.get("scores"), where, "scores"))]
    ids = [r.id for r in rules] + [s.id for s in scores]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise InputError(f"{where}: rule ids must be unique; repeated: {', '.join(sorted(dup))}")
    return RulePack(name=name, title_zh=str(spec.get("title_zh", name)), title_en=str(spec.get("title_en", name)),
                    source=str(spec.get("source", "")), path=str(path), rules=tuple(rules), scores=tuple(scores),
                    tables=tables, parameters=params, example=bool(spec.get("example", False)))


def load_packs(names) -> list[RulePack]:
    packs = [load_pack(n) for n in names]
    seen = {}
    for p in packs:
        for r in [*p.rules, *p.scores]:
            if r.id in seen:
                raise InputError(f"rule id {r.id!r} is in both {seen[r.id]} and {p.name}: give one of them another id")
            seen[r.id] = p.name
    return packs


# ---------------------------------------------------------------------------------------- applying
def absent_columns(frame: pd.DataFrame, applies_to: dict) -> list[str]:
    """The columns a rule's ``applies_to`` filters on that the data does not have at all.

    Such a filter is not applied (the rule applies to every parcel its other filters admit) and the
    audit says so once; a blank value in a column the data has still makes the verdict ``missing``.
    """
    out = []
    for key in applies_to or {}:
        col = "land_use" if key == "land_use" else key
        if col not in frame.columns:
            out.append(col)
    return out


def applies_mask(frame: pd.DataFrame, applies_to: dict):
    """Three-valued applicability: (applies, cannot_tell, unknown per column) boolean arrays;
    neither applies nor cannot_tell = not applicable. A filter on a column the data lacks
    (:func:`absent_columns`) admits every parcel."""
    n = len(frame)
    applies = np.ones(n, dtype=bool)
    unknown = np.zeros(n, dtype=bool)
    unknown_cols = {}
    absent = set(absent_columns(frame, applies_to))
    for key, want in (applies_to or {}).items():
        if key in absent:
            continue
        if key == "land_use":
            yes, unk = _landuse_condition(frame, want)
        else:
            wants = {str(w) for w in (want if isinstance(want, (list, tuple)) else [want])}
            yes, unk = _in_values(frame[key], wants)
        unknown_cols[key] = unk & applies
        applies &= yes | unk
        unknown |= unk
    cannot_tell = applies & unknown
    return applies & ~unknown, cannot_tell, unknown_cols


def _as_text_codes(col: pd.Series):
    """(category codes, category texts) of a column, each value as text; -1 = missing. Vectorised."""
    cat = col if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    cat = cat.array if isinstance(cat, pd.Series) else cat
    return np.asarray(cat.codes), [str(c) for c in cat.categories]


def _in_values(col: pd.Series, wants: set):
    """(value in wants, value missing) as boolean arrays, one test per distinct value."""
    codes, texts = _as_text_codes(col)
    hit = np.array([t in wants for t in texts] + [False], dtype=bool)
    return hit[codes], codes < 0


def _landuse_condition(frame, want):
    n = len(frame)
    if "is_industrial" not in frame.columns:
        return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    known = frame["landuse_gb"].notna().to_numpy() | frame["landuse_2023"].notna().to_numpy()
    if want in ("industrial", "non_industrial"):
        ind = frame["is_industrial"].fillna(False).to_numpy(dtype=bool)
        yes = ind if want == "industrial" else ~ind
        return yes & known, ~known
    wants = [str(w).upper() for w in (want if isinstance(want, (list, tuple)) else [want])]
    exact = [w for w in wants if not w.endswith("*")]
    prefixes = tuple(w[:-1] for w in wants if w.endswith("*"))
    yes = np.zeros(n, dtype=bool)
    for col in ("landuse_gb", "landuse_2023", "landuse_code"):
        s = frame[col].astype("object")
        yes |= s.isin(exact).to_numpy()
        if prefixes:
            yes |= s.map(lambda v: isinstance(v, str) and v.startswith(prefixes), na_action="ignore").fillna(False).to_numpy(dtype=bool)
    return yes & known, ~known


def _table_threshold(frame: pd.DataFrame, rule: Rule, pack: RulePack):
    """Per-parcel threshold from a pack table: (values, key_missing, no_value, why_no_value).

    ``key_missing``: the parcel lacks a key the table needs (-> missing). ``no_value``: the table has
    no value for the case, or a pack parameter it needs is not set (-> n/a, reported once).
    """
    spec = rule.threshold
    table = pack.tables[spec["table"]]
    keymap = spec.get("key") or {}
    n = len(frame)
    rows = pd.DataFrame(table.get("rows") or [])
    if not rows.empty and "value" in rows.columns:
        rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
        rows = rows[rows["value"].notna()]
    if rows.empty or "value" not in rows.columns:
        return (np.full(n, np.nan), np.zeros(n, dtype=bool), np.ones(n, dtype=bool),
                f"table {spec['table']} has no values yet (a planner fills them from the cited source)")
    key_missing = np.zeros(n, dtype=bool)
    left = pd.DataFrame(index=range(n))
    for tcol, src in keymap.items():
        if isinstance(src, str) and src.startswith("param:"):
            p = pack.parameters.get(src[6:], {})
            val = p.get("value") if isinstance(p, dict) else p
            if val is None:
                return (np.full(n, np.nan), np.zeros(n, dtype=bool), np.ones(n, dtype=bool),
                        f"the pack parameter {src[6:]} is not set (a planner sets it in {Path(pack.path).name})")
            left[tcol] = str(val)
        elif src in frame.columns:
            codes, texts = _as_text_codes(frame[src])
            left[tcol] = pd.Categorical.from_codes(codes, categories=pd.Index(texts, dtype="object")) if texts else None
            key_missing |= codes < 0
        else:
            left[tcol] = None
            key_missing[:] = True
    rows = rows.copy()
    for tcol in keymap:
        rows[tcol] = rows[tcol].map(str, na_action="ignore")
    table_keys = pd.MultiIndex.from_frame(rows[list(keymap)].astype("object")) if len(keymap) > 1 else pd.Index(rows[next(iter(keymap))])
    values = pd.Series(rows["value"].to_numpy(), index=table_keys)
    values = values[~values.index.duplicated()]
    # one lookup per distinct combination of keys, then a vectorised take
    combo = left.astype("object")
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(combo) if len(keymap) > 1 else combo.iloc[:, 0])
    looked = values.reindex(uniques).to_numpy(dtype="float64") if len(uniques) else np.array([])
    thr = np.where(codes >= 0, np.append(looked, np.nan)[codes], np.nan)
    no_value = ~key_missing & np.isnan(thr)
    return thr, key_missing, no_value, f"table {spec['table']} has no threshold for these cases yet (a planner fills it)"


def _categorical(codes: np.ndarray, index) -> pd.Series:
    return pd.Series(pd.Categorical.from_codes(codes.astype(np.int8), categories=list(VERDICTS)), index=index)


_CAUSE_WORDS = {
    "area_m2": ("实测面积缺失或过小", "measured area missing or too small"),
    "area_mu": ("实测面积缺失或过小", "measured area missing or too small"),
    "area_ha": ("实测面积缺失或过小", "measured area missing or too small"),
}


def evaluate_rule(frame: pd.DataFrame, rule: Rule, pack: RulePack, *, tally: dict | None = None):
    """Verdicts of one parcel rule for every row (a categorical Series) and its findings.

    With a ``tally`` dict the one finding counting parcels without a threshold is counted into it
    instead (a partition's count; :func:`no_threshold_finding` makes it from the sum)."""
    n = len(frame)
    applies, cannot_tell, unknown_cols = applies_mask(frame, rule.applies_to)
    value = frame[rule.metric].to_numpy(dtype="float64") if rule.metric in frame.columns else np.full(n, np.nan)
    findings = []
    if isinstance(rule.threshold, dict):
        thr, key_missing, no_value, why = _table_threshold(frame, rule, pack)
    else:
        thr = np.full(n, float(rule.threshold))
        key_missing = no_value = np.zeros(n, dtype=bool)
        why = ""
    have = np.isfinite(value)
    cmp_thr = np.where(np.isfinite(thr), thr, 0.0)
    tol = _REL_TOL * np.maximum(np.abs(cmp_thr), 1.0)
    if rule.op in (">=", ">"):
        ok = _OPS[rule.op](value + tol, cmp_thr) if rule.op == ">=" else value > cmp_thr
    elif rule.op in ("<=", "<"):
        ok = _OPS[rule.op](value - tol, cmp_thr) if rule.op == "<=" else value < cmp_thr
    else:
        ok = np.abs(value - cmp_thr) <= tol
    codes = np.full(n, NA, dtype=np.int8)
    evaluable = applies & ~key_missing & ~no_value
    codes[evaluable & have & ok] = PASS
    codes[evaluable & have & ~ok] = FAIL
    miss_data = (applies & ~no_value & (~have | key_missing))
    codes[miss_data | cannot_tell] = MISSING
    verdict = _categorical(codes, frame.index)

    zh_op, en_op = _OP_WORDS[rule.op]
    base = dict(kind="rule", check=rule.id, severity=rule.severity, column=rule.metric, source=rule.source)
    findings.append(row_findings(
        frame, codes == FAIL, verdict="fail", value=value, threshold=thr,
        reason_zh=f"未达标：{rule.name_zh}（{_metric_zh(rule.metric)}应{zh_op}阈值）",
        reason_en=f"fails: {rule.name_en} ({_metric_en(rule.metric)} must be {en_op} the threshold)", **base))
    # missing: say which piece of data is absent
    for key, unk in unknown_cols.items():
        m = unk & (codes == MISSING)
        findings.append(row_findings(
            frame, m, verdict="missing", **{**base, "severity": "warning", "column": key},
            reason_zh=f"{key} 缺失或无法识别，无法判断是否适用：{rule.name_zh}",
            reason_en=f"{key} is missing or unknown, so it cannot be told whether the rule applies: {rule.name_en}"))
    if rule.metric in METRICS:
        num_col, den_col = METRICS[rule.metric][:2]
        remaining = miss_data & ~cannot_tell
        for col in (num_col, den_col):
            if col in _CAUSE_WORDS:  # the measured area: absent, zero or below the minimum
                absent = remaining & ~have
                zh, en = _CAUSE_WORDS[col]
            else:
                vals = frame[col].to_numpy(dtype="float64") if col in frame.columns else np.full(n, np.nan)
                absent = remaining & ~np.isfinite(vals)
                zh, en = f"缺少 {col}", f"{col} is missing"
            findings.append(row_findings(
                frame, absent, verdict="missing", **{**base, "severity": "warning", "column": col},
                reason_zh=f"{zh}，无法检查：{rule.name_zh}", reason_en=f"{en}: cannot check {rule.name_en}"))
            remaining = remaining & ~absent
        if isinstance(rule.threshold, dict):
            keys = ", ".join(str(v) for v in (rule.threshold.get("key") or {}).values())
            findings.append(row_findings(
                frame, remaining & key_missing, verdict="missing", **{**base, "severity": "warning", "column": keys},
                reason_zh=f"缺少查表所需的 {keys}，无法检查：{rule.name_zh}",
                reason_en=f"{keys} needed to look up the threshold is missing: cannot check {rule.name_en}"))
            remaining = remaining & ~key_missing
        findings.append(row_findings(
            frame, remaining, verdict="missing", **{**base, "severity": "warning"},
            reason_zh=f"指标无法计算，无法检查：{rule.name_zh}", reason_en=f"the metric cannot be computed: cannot check {rule.name_en}"))
    n_no_value = int((applies & no_value).sum())
    if n_no_value:
        if tally is None:
            findings.append(no_threshold_finding(rule, n_no_value, why))
        else:
            tally[("no_threshold", rule.id)] = (n_no_value, why)
    return verdict, concat_findings(findings, sort=False)


def no_threshold_finding(rule: Rule, n: int, why: str) -> pd.DataFrame:
    """The one finding of a rule whose table has no threshold for ``n`` parcels it applies to."""
    return table_finding(
        kind="rule_pack", check=rule.id, severity="info", column=rule.metric, value=float(n), source=rule.source,
        level="all", group="(all)",
        reason_zh=f"无可用阈值（{why}），{n} 宗地记为 n/a：{rule.name_zh}",
        reason_en=f"no threshold: {why}; {n} parcels marked n/a for {rule.name_en}")


def _metric_zh(metric):
    return METRICS[metric][4] if metric in METRICS else metric


def _metric_en(metric):
    return METRICS[metric][5] if metric in METRICS else metric


def summary_rule_sums(frame: pd.DataFrame, rule: Rule, level: str, *, min_area_m2: float) -> pd.DataFrame:
    """The additive part of a summary rule at one level: per group (index) Σ numerator, Σ denominator and
    parcels counted of its metric over the parcels it applies to (partitions' sums add up)."""
    from .intensity import _group_codes, _metric_sums

    applies, _, _ = applies_mask(frame, rule.applies_to)
    codes, groups = _group_codes(frame, level)
    s_num, s_den, cnt = _metric_sums(frame, codes, len(groups), [rule.metric], sel=applies, min_area_m2=min_area_m2)[rule.metric]
    return pd.DataFrame({"num": s_num, "den": s_den, "n": cnt}, index=groups)


def summary_rule_verdicts(rule: Rule, summary: pd.DataFrame, sums: dict):
    """Verdicts of an aggregate rule for every summary row (n/a on levels it is not about), its values
    and findings, from :func:`summary_rule_sums` per level (``{level: sums}``, summed over partitions)."""
    from .intensity import metric_ratio

    codes = np.full(len(summary), NA, dtype=np.int8)
    values = np.full(len(summary), np.nan)
    for level in rule.levels:
        rows = np.flatnonzero(summary["level"].to_numpy() == level)
        if not len(rows) or level not in sums:
            continue
        agg = sums[level].reindex(pd.Index(summary["group"].to_numpy()[rows], dtype="object"))
        v = metric_ratio(rule.metric, agg["num"].to_numpy(dtype="float64"), agg["den"].to_numpy(dtype="float64"))
        values[rows] = v
        thr = float(rule.threshold)
        tol = _REL_TOL * max(abs(thr), 1.0)
        fn = _OPS[rule.op]
        adj = v + tol if rule.op == ">=" else (v - tol if rule.op == "<=" else v)
        npar = agg["n"].fillna(0).to_numpy()
        codes[rows] = np.where(npar == 0, NA, np.where(np.isfinite(v), np.where(fn(adj, thr), PASS, FAIL), MISSING))
    verdict = pd.Series(pd.Categorical.from_codes(codes, categories=list(VERDICTS)), index=summary.index)
    fail = codes == FAIL
    parts = []
    zh_op, en_op = _OP_WORDS[rule.op]
    for i in np.flatnonzero(fail):
        parts.append(table_finding(
            kind="aggregate", check=rule.id, severity=rule.severity, column=rule.metric, level=summary["level"].iat[i],
            group=summary["group"].iat[i], value=float(values[i]), threshold=float(rule.threshold), verdict="fail",
            source=rule.source,
            reason_zh=f"未达标：{rule.name_zh}（{_metric_zh(rule.metric)} Σ/Σ 应{zh_op} {rule.threshold} {rule.unit}）",
            reason_en=f"fails: {rule.name_en} (Σ/Σ {_metric_en(rule.metric)} must be {en_op} {rule.threshold} {rule.unit})"))
    return verdict, values, concat_findings(parts)


def evaluate_summary_rule(frame: pd.DataFrame, rule: Rule, summary: pd.DataFrame, *, min_area_m2: float):
    """Verdicts of an aggregate rule for every summary row (n/a on levels it is not about) + findings.

    The metric is Σ numerator ÷ Σ area over the parcels the rule applies to, per group (the
    one-partition case of :func:`summary_rule_sums` then :func:`summary_rule_verdicts`).
    """
    sums = {lv: summary_rule_sums(frame, rule, lv, min_area_m2=min_area_m2) for lv in rule.levels if lv in frame.columns}
    return summary_rule_verdicts(rule, summary, sums)


def overall_verdict(verdicts: list[pd.Series], index) -> pd.Series:
    """fail if any rule fails, else missing if any is missing, else pass if any passes, else n/a."""
    n = len(index)
    if not verdicts:
        return pd.Series(pd.Categorical.from_codes(np.full(n, NA, dtype=np.int8), categories=list(VERDICTS)), index=index, name="verdict")
    stack = np.vstack([v.cat.codes.to_numpy() for v in verdicts])
    rank = np.array([2, 0, 3, 1])  # priority: fail 0, missing 1, pass 2, n/a 3
    best = rank[stack].min(axis=0)
    back = np.array([FAIL, MISSING, PASS, NA], dtype=np.int8)
    return pd.Series(pd.Categorical.from_codes(back[best], categories=list(VERDICTS)), index=index, name="verdict")


def rules_table(packs, *, notes: dict | None = None) -> pd.DataFrame:
    """One row per rule and score of the packs, as a planner reads them (for the 'rules' sheet)."""
    rows = []
    notes = notes or {}
    for p in packs:
        for r in p.rules:
            if isinstance(r.threshold, dict):
                t = p.tables[r.threshold["table"]]
                trows = t.get("rows") or []
                filled = sum(1 for x in trows if x.get("value") is not None)
                verified = sum(1 for x in trows if x.get("value") is not None and x.get("verified") is True)
                thr_text = (f"table {r.threshold['table']} ({t.get('unit', '')}): {filled} of {len(trows)} values filled, "
                            f"{verified} verified")
                src = f"{r.source}; table: {t.get('source', '')}"
            else:
                thr_text, src = f"{r.threshold:g}", r.source
            rows.append({"pack": p.name, "rule": r.column, "scope": r.scope, "name_zh": r.name_zh, "name_en": r.name_en,
                         "applies_to": _fmt_applies(r.applies_to), "metric": r.metric, "op": r.op, "threshold": thr_text,
                         "unit": r.unit, "severity": r.severity, "source": src, "file": p.path,
                         "notes": "; ".join(notes.get(r.id, []))})
        for s in p.scores:
            if s.classes_by == "score":
                classes = ", ".join(f"{c['class']} ≥ {c['min_score']:g}" for c in s.classes)
            elif s.classes_by == "rank":
                lo, parts = 0.0, []
                for c in s.classes:
                    parts.append(f"{c['class']} rank {lo:g}–{c['rank_to_pct']:g} %")
                    lo = c["rank_to_pct"]
                classes = "by rank in the evaluated group: " + ", ".join(parts)
            else:
                classes = f"no classes ({s.classes_note})" if s.classes_note else "no classes"
            if s.not_evaluated_class:
                classes += f"; {s.not_evaluated_class} = not evaluated"
            formula = f"; formula by {s.variant_column}" if s.variant_column else ""
            rows.append({"pack": p.name + (" (example)" if p.example else ""), "rule": s.column, "scope": "score",
                         "name_zh": s.name_zh, "name_en": s.name_en,
                         "applies_to": _fmt_applies(s.applies_to), "metric": "weighted score" + formula, "op": "class",
                         "threshold": f"{classes}; fail: {', '.join(s.fail_classes) or 'none'}", "unit": "score",
                         "severity": s.severity, "source": s.source, "file": p.path, "notes": "; ".join(notes.get(s.id, []))})
    return pd.DataFrame(rows)


def _fmt_applies(a: dict) -> str:
    return "; ".join(f"{k} in {v}" if isinstance(v, (list, tuple)) else f"{k} = {v}" for k, v in (a or {}).items()) or "all parcels"
