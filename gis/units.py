"""Area units used in Chinese land planning, with the unit in every name.

1 亩 (mu) is exactly 2000/3 m²; 15 亩 make 1 公顷 (hectare); 1 km² is 1 500 亩.

>>> round(km2_to_mu(1.73), 6)
2595.0
>>> mu_to_m2(15) == HA_M2
True
>>> round(wan_per_ha_to_wan_per_mu(3268.08), 2)
217.87
"""

from __future__ import annotations

__all__ = [
    "MU_M2",
    "HA_M2",
    "KM2_M2",
    "MU_PER_HA",
    "MU_PER_KM2",
    "m2_to_mu",
    "m2_to_ha",
    "m2_to_km2",
    "mu_to_m2",
    "ha_to_m2",
    "km2_to_m2",
    "km2_to_mu",
    "mu_to_km2",
    "ha_to_mu",
    "mu_to_ha",
    "wan_per_ha_to_wan_per_mu",
    "wan_per_mu_to_wan_per_ha",
    "AREA_UNITS_M2",
    "to_m2",
    "from_m2",
]

MU_M2: float = 2000.0 / 3.0
"""Square metres in one 亩 (mu), exactly 2000/3."""
HA_M2: float = 10_000.0
"""Square metres in one 公顷 (hectare)."""
KM2_M2: float = 1_000_000.0
"""Square metres in one km² (平方公里)."""
MU_PER_HA: float = HA_M2 / MU_M2  # 15
MU_PER_KM2: float = KM2_M2 / MU_M2  # 1500

AREA_UNITS_M2: dict[str, float] = {"m2": 1.0, "mu": MU_M2, "ha": HA_M2, "km2": KM2_M2}
"""Square metres per unit, keyed by the unit suffix used in column names."""


def m2_to_mu(area_m2):
    """Square metres to 亩. Works on scalars and numpy/pandas arrays."""
    return area_m2 / MU_M2


def m2_to_ha(area_m2):
    return area_m2 / HA_M2


def m2_to_km2(area_m2):
    return area_m2 / KM2_M2


def mu_to_m2(area_mu):
    return area_mu * MU_M2


def ha_to_m2(area_ha):
    return area_ha * HA_M2


def km2_to_m2(area_km2):
    return area_km2 * KM2_M2


def km2_to_mu(area_km2):
    return area_km2 * MU_PER_KM2


def mu_to_km2(area_mu):
    return area_mu / MU_PER_KM2


def ha_to_mu(area_ha):
    return area_ha * MU_PER_HA


def mu_to_ha(area_mu):
    return area_mu / MU_PER_HA


def wan_per_ha_to_wan_per_mu(value_wan_per_ha):
    """万元/公顷 to 万元/亩 (divide by 15)."""
    return value_wan_per_ha / MU_PER_HA


def wan_per_mu_to_wan_per_ha(value_wan_per_mu):
    return value_wan_per_mu * MU_PER_HA


def to_m2(value, unit: str):
    """Convert an area in ``unit`` ('m2', 'mu', 'ha', 'km2') to m²."""
    try:
        return value * AREA_UNITS_M2[unit]
    except KeyError:
        raise ValueError(f"unknown area unit {unit!r}; use one of {sorted(AREA_UNITS_M2)}") from None


def from_m2(area_m2, unit: str):
    """Convert an area in m² to ``unit`` ('m2', 'mu', 'ha', 'km2')."""
    try:
        return area_m2 / AREA_UNITS_M2[unit]
    except KeyError:
        raise ValueError(f"unknown area unit {unit!r}; use one of {sorted(AREA_UNITS_M2)}") from None
