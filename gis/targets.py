"""The plan's figures as data (``layers/targets.yaml``) and measured areas held against them.

>>> t = get_target("yaogu.phase1")
>>> t.value_mu
2595.0
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import add_area_columns, area_m2
from .bundled import load_targets
from .errors import InputError
from .units import AREA_UNITS_M2, MU_M2

__all__ = ["Target", "get_target", "all_targets", "check_target", "check_bundled", "TargetCheck", "parse_tolerance_pct"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One planned figure: ``value`` in ``unit`` (km2, mu, ha, m2, or a rate such as wan_per_mu)."""

    id: str
    value: float
    unit: str
    source: str
    name_zh: str = ""
    name_en: str = ""
    feature_id: str | None = None
    layer: str | None = None
    note: str | None = None

    @property
    def is_area(self) -> bool:
        return self.unit in AREA_UNITS_M2

    @property
    def value_m2(self) -> float:
        if not self.is_area:
            raise InputError(f"target {self.id} is {self.value} {self.unit}, not an area")
        return float(self.value) * AREA_UNITS_M2[self.unit]

    @property
    def value_mu(self) -> float:
        return round(self.value_m2 / MU_M2, 6)


def all_targets(path=None) -> dict[str, Target]:
    """Every target in the targets file, by id."""
    data = load_targets(path)
    out = {}
    for row in data.get("targets", []):
        known = {k: row.get(k) for k in Target.__dataclass_fields__}
        out[row["id"]] = Target(**known)
    return out


def get_target(target_id: str, path=None) -> Target:
    targets = all_targets(path)
    if target_id not in targets:
        close = [t for t in targets if target_id.split(".")[0] in t][:8]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise InputError(f"no target {target_id!r} in targets.yaml{hint} (list them with `parkgis targets`)")
    return targets[target_id]


def parse_tolerance_pct(text) -> float:
    """'0.5%', '0.5' or 0.5 → 0.5 (percent)."""
    try:
        value = float(str(text).strip().rstrip("%"))
    except ValueError:
        raise InputError(f"cannot read the tolerance {text!r}: write it as a percentage, e.g. 0.5%") from None
    if value < 0:
        raise InputError("the tolerance must not be negative")
    return value


@dataclass(frozen=True)
class TargetCheck:
    target: Target
    measured_m2: float
    sum_m2: float
    tolerance_pct: float
    features: pd.DataFrame = field(repr=False)
    selection: str = ""
    missing_features: int = 0  # features without a measurable geometry: the total cannot be told

    @property
    def status(self) -> str:
        """``within``, ``outside``, or ``missing`` when some feature has no geometry (never read as 0)."""
        if self.missing_features:
            return "missing"
        return "within" if abs(self.deviation_pct) <= self.tolerance_pct else "outside"

    @property
    def planned_m2(self) -> float:
        return self.target.value_m2

    @property
    def deviation_m2(self) -> float:
        return self.measured_m2 - self.planned_m2

    @property
    def deviation_pct(self) -> float:
        return 100.0 * self.deviation_m2 / self.planned_m2 if self.planned_m2 else float("nan")

    @property
    def within(self) -> bool:
        return self.status == "within"

    @property
    def overlap_m2(self) -> float:
        return self.sum_m2 - self.measured_m2

    def summary(self) -> pd.DataFrame:
        t = self.target
        rows = [
            ("target", t.id),
            ("name", f"{t.name_zh} {t.name_en}".strip()),
            ("planned", f"{t.value:g} {t.unit} = {self.planned_m2 / MU_M2:,.2f} 亩 = {self.planned_m2 / 1e6:,.4f} km²"),
            ("measured", f"{self.measured_m2 / MU_M2:,.2f} 亩 = {self.measured_m2 / 1e6:,.4f} km²"),
            ("deviation", f"{self.deviation_m2 / MU_M2:+,.2f} 亩 ({self.deviation_pct:+.3f} %)"),
            ("tolerance", f"±{self.tolerance_pct:g} %"),
            ("verdict", {"within": "within tolerance", "outside": "OUTSIDE tolerance",
                         "missing": f"MISSING: {self.missing_features} feature(s) have no geometry, so the total "
                                    f"cannot be told (the measured figure counts only the others)"}[self.status]),
            ("source", t.source),
        ]
        if self.selection:
            rows.insert(3, ("measured features", self.selection))
        if self.overlap_m2 > 0.01:
            rows.append(("overlaps", f"features overlap by {self.overlap_m2 / MU_M2:,.2f} 亩: counted once in the total"))
        return pd.DataFrame(rows, columns=["item", "value"])


def check_target(gdf, target: Target | str, *, tolerance_pct: float = 0.5, id_field: str = "id") -> TargetCheck:
    """Measure ``gdf`` and hold its total against ``target``.

    When the layer has the target's feature (``id`` equal to the target's ``feature_id``), only that
    feature is measured; otherwise every feature is. The total counts overlapping land once (the area of
    the union); the per-feature breakdown gives each feature's own area and share.
    """
    if isinstance(target, str):
        target = get_target(target)
    if not target.is_area:
        raise InputError(f"target {target.id} is a rate ({target.unit}), not an area: use `parkgis audit` for it")
    selection = ""
    chosen = gdf
    if target.feature_id and id_field in gdf.columns and (gdf[id_field] == target.feature_id).any():
        chosen = gdf[gdf[id_field] == target.feature_id]
        selection = f"the feature {id_field} = {target.feature_id}"
    else:
        selection = f"all {len(gdf)} features"
    measured = add_area_columns(chosen)
    polys = np.asarray(measured.geometry.values, dtype=object)
    polys = polys[~shapely.is_missing(polys)]
    union = shapely.union_all(shapely.make_valid(polys)) if len(polys) else shapely.Polygon()
    union_m2 = float(area_m2(gpd.GeoSeries([union], crs=gdf.crs)).iloc[0]) if not union.is_empty else 0.0
    sum_m2 = float(np.nansum(measured["area_m2"]))
    features = pd.DataFrame(measured.drop(columns=measured.geometry.name))
    features["share_of_target_pct"] = 100.0 * features["area_m2"] / target.value_m2
    missing = int(measured["area_m2"].isna().sum())
    return TargetCheck(target=target, measured_m2=union_m2, sum_m2=sum_m2, tolerance_pct=tolerance_pct,
                       features=features, selection=selection, missing_features=missing)


def check_bundled(*, tolerance_pct: float = 0.5) -> pd.DataFrame:
    """Every target that names a feature of a bundled layer, held against that feature's measured area.

    One row per target: planned and measured in 亩 and km², deviation in 亩 and %, and whether it is
    within ``tolerance_pct``. A target whose feature is missing from its layer is a row saying so.
    """
    from .bundled import read_bundled

    rows = []
    layers: dict[str, gpd.GeoDataFrame] = {}
    for t in all_targets().values():
        if not (t.is_area and t.feature_id and t.layer):
            continue
        if t.layer not in layers:
            layers[t.layer] = add_area_columns(read_bundled(t.layer))
        layer = layers[t.layer]
        hit = layer[layer["id"] == t.feature_id] if "id" in layer.columns else layer.iloc[:0]
        measured = float(hit["area_m2"].sum()) if len(hit) else float("nan")
        dev = measured - t.value_m2
        rows.append({"target": t.id, "name": t.name_zh, "layer": t.layer, "feature": t.feature_id,
                     "planned_mu": t.value_m2 / MU_M2, "measured_mu": measured / MU_M2,
                     "planned_km2": t.value_m2 / 1e6, "measured_km2": measured / 1e6,
                     "deviation_mu": dev / MU_M2, "deviation_pct": 100.0 * dev / t.value_m2,
                     "within": bool(len(hit)) and abs(100.0 * dev / t.value_m2) <= tolerance_pct,
                     "note": "" if len(hit) else f"no feature {t.feature_id} in layers/{t.layer}.geojson"})
    return pd.DataFrame(rows)
