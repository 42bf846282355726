"""The indicator registry (``gis/data/indicators.yaml``) and the development-zone indicator set.

Every ratio parkgis reports is one record of the registry: numerator, denominator, which parcels
count, unit, names, digits and source. :data:`gis.intensity.METRICS` (the per-parcel metrics rule
packs name) is built from its ``parcel_metrics``; :func:`zone_indicators` computes its
``zone_indicators`` — the set of 《开发区土地集约利用评价规程》 (土地开发率, 土地供应率, 土地建成率,
工业用地率, 综合容积率, 建筑密度, 工业用地综合容积率, 工业用地建筑系数, 工业用地地均固定资产投资,
工业用地地均税收, 万元/公顷) per zone, from a zones layer (each zone's total area, measured on the
ellipsoid) and the parcels' status, land use and figures. An indicator that cannot be computed is
NaN and says which inputs it lacks.

>>> reg = load_registry()
>>> reg["zone_indicators"]["land_supply_rate"]["name_zh"]
'土地供应率'
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .datafile import load_yaml
from .errors import InputError

__all__ = ["REGISTRY_PATH", "load_registry", "metric_table", "indicator_record", "indicator_label", "indicator_heading", "zone_indicators", "zone_indicator_notes",
           "group_indicators", "indicator_sums", "indicator_values", "indicator_lacking"]

log = logging.getLogger(__name__)

REGISTRY_PATH = Path(__file__).resolve().parent / "data" / "indicators.yaml"
_AREA = {"area_m2": 1.0, "area_mu": 2000.0 / 3.0, "area_ha": 10_000.0}  # m² per unit


@functools.lru_cache(maxsize=2)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        spec = load_yaml(fh)
    for section in ("parcel_metrics", "zone_indicators"):
        for name, rec in (spec.get(section) or {}).items():
            for key in ("numerator", "denominator", "unit", "name_zh", "name_en", "source"):
                if rec.get(key) in (None, ""):
                    raise InputError(f"{Path(path).name}: {section} {name} has no {key}")
    return spec


def load_registry(path=None) -> dict:
    """The registry as a mapping: ``parcel_metrics`` and ``zone_indicators``, one record per indicator."""
    return _load(str(Path(path or REGISTRY_PATH).resolve()))


def indicator_record(name: str, path=None) -> dict | None:
    """The registry's record of a per-parcel metric or zone indicator (None when it is not one)."""
    reg = load_registry(path)
    return reg["parcel_metrics"].get(name) or reg["zone_indicators"].get(name)


def indicator_label(name: str, *, unit: bool = True, path=None) -> str | None:
    """The bilingual label every table, map and workbook shows for an indicator of the registry, e.g.
    ``投资强度 Investment intensity (万元/亩)``; None for a name the registry does not hold.

    >>> indicator_label("tax_intensity_wan_per_mu")
    '亩均税收 Tax per mu (万元/亩)'
    """
    rec = indicator_record(name, path)
    if rec is None:
        return None
    en = rec["name_en"][:1].upper() + rec["name_en"][1:]
    return f"{rec['name_zh']} {en}" + (f" ({rec['unit']})" if unit and rec["unit"] != "ratio" else "")


def indicator_heading(name: str, path=None) -> str | None:
    """A short column heading for a terminal table: the Chinese name and the unit (``投资强度 万元/亩``)."""
    rec = indicator_record(name, path)
    if rec is None:
        return None
    return rec["name_zh"] + (f" {rec['unit']}" if rec["unit"] != "ratio" else "")


def metric_table(path=None) -> dict[str, tuple]:
    """Per-parcel metrics as ``name: (numerator, denominator, factor, unit, 中文, English)``."""
    return {name: (r["numerator"], r["denominator"], float(r.get("factor", 1)), r["unit"], r["name_zh"], r["name_en"])
            for name, r in load_registry(path)["parcel_metrics"].items()}


def _parcel_filter(frame: pd.DataFrame, parcels: dict | None):
    """(mask, lacking columns) of the parcels a registry filter admits."""
    n = len(frame)
    mask = np.ones(n, dtype=bool)
    lacking = []
    for key, want in (parcels or {}).items():
        if key == "land_use":
            if "land_use" not in frame.columns or "is_industrial" not in frame.columns:
                lacking.append("land_use")
                continue
            ind = frame["is_industrial"].fillna(False).to_numpy(dtype=bool)
            mask &= ind if want == "industrial" else ~ind
        else:
            if key not in frame.columns:
                lacking.append(key)
                continue
            wants = [str(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
            col = frame[key]
            if isinstance(col.dtype, pd.CategoricalDtype):  # one test per category, not per parcel
                hit = np.append(pd.Index(col.cat.categories.astype(str)).isin(wants), False)
                mask &= hit[np.asarray(col.cat.codes)]
            else:
                mask &= col.astype("object").isin(wants).to_numpy()
    return mask, lacking


def _side(frame, side: dict, usable):
    """(values, mask of parcels counted, inputs lacking) of one side of a fraction."""
    col = side["sum"]
    mask, lacking = _parcel_filter(frame, side.get("parcels"))
    if col in _AREA:
        values = frame["area_m2"].to_numpy(dtype="float64") / _AREA[col]
    elif col in frame.columns:
        values = frame[col].to_numpy(dtype="float64")
    else:
        return None, mask, [*lacking, col]
    return values, mask & usable & np.isfinite(values), lacking


def zone_indicators(parcels, zones=None, *, zone_id: str = "id", headers=None, min_area_m2: float = 1.0) -> pd.DataFrame:
    """The development-zone indicators per zone, as a new frame on the zones' index.

    ``parcels`` is a parcel layer as planners keep it (headers are mapped, values checked and areas
    measured as the audit does); a parcel belongs to the zone its ``zone_id`` names, or, when it has
    none, to the zone holding it (by location). ``zones`` has a ``zone_id`` column naming each zone
    and polygons whose ellipsoidal area is the zone's total land. Without ``zones`` the groups are
    the parcels' ``zone_id`` values and 土地开发率 says it lacks the zones layer. Every zone is in the
    output (keeping its own columns, geometry dropped), then ``zone_area_m2``, ``n_parcels`` and one
    column per indicator (NaN where it cannot be computed); ``attrs["notes"]`` (also
    :func:`zone_indicator_notes`) says for each indicator whether it was computed and what it lacks.
    """
    from .audit import assign_zones
    from .intensity import parcel_metrics
    from .parcels import check_values, map_headers

    frame, _report, _f = map_headers(parcels, headers=headers)
    if zones is not None and ("zone_id" not in frame.columns or frame["zone_id"].isna().any()):
        located, _amb = assign_zones(frame, zones, zone_id=zone_id)
        given = frame["zone_id"].astype("object") if "zone_id" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        frame = frame.assign(zone_id=given.where(given.notna(), located))
    frame, _f2 = check_values(frame, headers=headers)
    frame = parcel_metrics(frame, min_area_m2=min_area_m2)
    return _zone_table(frame, zones, zone_id=zone_id)


def _zone_table(frame: pd.DataFrame, zones, *, zone_id: str = "id") -> pd.DataFrame:
    from .area import area_m2

    if zones is not None:
        if zone_id not in zones.columns:
            raise InputError(f"the zones layer has no {zone_id!r} column to name the zones; its columns: "
                             f"{', '.join(map(str, zones.columns))}")
        keys = zones[zone_id].astype(str)
        out = pd.DataFrame(zones.drop(columns=zones.geometry.name)).copy()
        zone_area = area_m2(zones).to_numpy(dtype="float64")
        out["zone_area_m2"] = zone_area
    else:
        keys = pd.Series(sorted(frame["zone_id"].dropna().astype(str).unique()) if "zone_id" in frame.columns else [],
                         dtype=object)
        out = pd.DataFrame({"zone_id": keys.to_numpy()})
        zone_area = None
    n_groups = len(out)
    if "zone_id" in frame.columns:
        pos = pd.Index(keys.to_numpy()).get_indexer(frame["zone_id"].astype("object").where(frame["zone_id"].notna(), None))
    else:
        pos = np.full(len(frame), -1)
    out["n_parcels"] = np.bincount(pos[pos >= 0], minlength=n_groups)
    values, notes = group_indicators(frame, pos, n_groups, zone_area_m2=zone_area)
    for name, v in values.items():
        out[name] = v
    out.attrs["notes"] = notes
    out.index = zones.index if zones is not None else out.index
    n_out = int((pos < 0).sum())
    if n_out:
        log.info("%d parcels are in no zone of the layer: left out of the zone indicators", n_out)
    return out


def group_indicators(frame: pd.DataFrame, codes, n_groups: int, *, zone_area_m2=None, min_area_m2: float = 1.0):
    """Every registry zone indicator for groups of parcels: ``(values by name, notes frame)``.

    ``codes`` gives each parcel's group (0 … n_groups − 1; −1 = in no group); ``zone_area_m2`` each
    group's total land (None when unknown: 土地开发率 then lacks it). ``frame`` is a prepared parcel
    frame (measured ``area_m2``, normalised ``status``, ``is_industrial``). The one-partition case of
    :func:`indicator_sums` (additive, so partitions' sums add up) then :func:`indicator_values`.
    """
    sums = indicator_sums(frame, codes, n_groups, min_area_m2=min_area_m2)
    return indicator_values(sums, zone_area_m2=zone_area_m2), indicator_lacking(frame, zone_area=zone_area_m2 is not None)


def indicator_sums(frame: pd.DataFrame, codes, n_groups: int, *, min_area_m2: float = 1.0, cache: dict | None = None,
                   totals=None, level=None) -> dict:
    """Additive sums of every registry zone indicator per group: ``{name: (Σ numerator, Σ denominator)}``.

    Σ denominator is None for an indicator over the zone's own land (``zone_area_m2``); a side whose
    inputs the frame lacks is all NaN (so partitions' sums of it stay NaN). ``cache`` (a dict kept
    between calls on the same frame, e.g. one per summary level) keeps each side's values, mask and per-parcel
    addends, so each further level costs two ``bincount`` per indicator; ``totals``
    (:class:`gis.intensity.GroupTotals`, with ``level``) sums them for every level in one pass.
    """
    reg = load_registry()["zone_indicators"]
    codes = np.asarray(codes, dtype=np.int64)
    inzone = codes >= 0
    every = bool(inzone.all())
    cz = codes if every else np.where(inzone, codes, 0)
    nan = np.full(n_groups, np.nan)
    out = {}
    cache = {} if cache is None else cache
    usable = None

    def side(spec):
        nonlocal usable
        key = ("side", repr(spec), min_area_m2)
        if key not in cache:
            if usable is None:
                area = frame["area_m2"].to_numpy(dtype="float64")
                usable = np.isfinite(area) & (area >= min_area_m2)
            cache[key] = _side(frame, spec, usable)
        return cache[key]

    def addends(spec, reported_by=None):
        """(key, each parcel's addend to a side's Σ (0 where it does not count)), kept for every level; the
        addends are None when the side's inputs are lacking."""
        key = ("addends", repr(spec), repr(reported_by), min_area_m2)
        if key not in cache:
            values, mask, lack = side(spec)
            if lack:
                cache[key] = None
            else:
                if reported_by is not None:  # a reported figure: only parcels that report it count below the line
                    mask = mask & np.isfinite(side(reported_by)[0])
                cache[key] = np.where(mask, values, 0.0)
        return key, cache[key]

    def total(key, w):
        if totals is not None and every:  # the summary levels, in one pass (zone-layer codes may be -1: not so)
            return totals.total(key, w, level)
        return np.bincount(cz, weights=w if every else np.where(inzone, w, 0.0), minlength=n_groups)

    for name, rec in reg.items():
        num_spec, den_spec = rec["numerator"], rec["denominator"]
        num_key, num_w = addends(num_spec)
        num = nan if num_w is None else total(num_key, num_w)
        if den_spec["sum"] == "zone_area_m2":
            out[name] = (num, None)
            continue
        den_key, den_w = (None, None) if num_w is None else addends(den_spec, None if num_spec["sum"] in _AREA else num_spec)
        if den_w is None:
            out[name] = (nan, nan)
            continue
        out[name] = (num, total(den_key, den_w))
    return out


def indicator_values(sums: dict, *, zone_area_m2=None) -> dict:
    """Σ numerator ÷ Σ denominator × factor of :func:`indicator_sums` (NaN where a Σ is 0 or unknown);
    ``zone_area_m2`` (per group) is the denominator of the indicators over the zone's own land."""
    reg = load_registry()["zone_indicators"]
    values = {}
    for name, (num, den) in sums.items():
        num = np.asarray(num, dtype="float64")
        if den is None:
            den = np.full(len(num), np.nan) if zone_area_m2 is None else np.asarray(zone_area_m2, dtype="float64")
        den = np.asarray(den, dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            values[name] = np.where(den > 0, num / np.where(den > 0, den, 1.0) * float(reg[name].get("factor", 1)), np.nan)
    return values


def indicator_lacking(frame: pd.DataFrame, *, zone_area: bool = False) -> pd.DataFrame:
    """The notes of the registry's zone indicators for a frame's columns: computed or not, and what is lacking
    (depends on the columns only, so any partition of a dataset says the same)."""
    reg = load_registry()["zone_indicators"]
    head = frame.iloc[:0]
    usable = np.zeros(0, dtype=bool)
    notes = []
    for name, rec in reg.items():
        lack = _side(head, rec["numerator"], usable)[2]
        if rec["denominator"]["sum"] == "zone_area_m2":
            lack = [*lack, *([] if zone_area else ["zone_area"])]
        else:
            lack = [*lack, *_side(head, rec["denominator"], usable)[2]]
        lack = list(dict.fromkeys(lack))
        notes.append({"indicator": name, "name_zh": rec["name_zh"], "name_en": rec["name_en"], "unit": rec["unit"],
                      "reported": bool(rec.get("reported", True)), "computed": not lack,
                      "lacking": ", ".join(_LACK_WORDS.get(c, f"the data has no {c} column") for c in lack),
                      "note": rec.get("note", ""), "source": rec["source"]})
    return pd.DataFrame(notes)


_LACK_WORDS = {"zone_area": "each zone's total land (开发区土地总面积, from a zones layer) beside the land that has reached "
                            "supply conditions (已达到供地条件), which a parcel layer does not hold"}


def zone_indicator_notes(table: pd.DataFrame) -> pd.DataFrame:
    """The notes of a :func:`zone_indicators` table: computed or not, and which inputs it lacks."""
    return table.attrs.get("notes", pd.DataFrame())
