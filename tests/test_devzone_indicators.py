"""The development-zone indicator set (《开发区土地集约利用评价规程》) per zone, from the registry."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import yaml
from shapely.geometry import box

from gis.area import area_m2
from gis.audit import audit
from gis.indicators import REGISTRY_PATH, load_registry, zone_indicators
from gis.intensity import METRICS

GK = "EPSG:4544"
X0, Y0 = 380_000.0, 4_040_000.0

SET = ["land_development_rate", "land_supply_rate", "land_built_rate", "industrial_land_rate", "composite_far",
       "building_density", "industrial_far", "industrial_building_coverage", "industrial_investment_intensity_wan_per_ha",
       "industrial_tax_wan_per_ha"]


@pytest.fixture
def layers():
    zones = gpd.GeoDataFrame({"id": ["Z1", "Z2"], "name_zh": ["一区", "二区"]},
                             geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 2000, Y0, X0 + 3000, Y0 + 1000)],
                             crs=GK)
    sq = lambda x, y, s: box(X0 + x, Y0 + y, X0 + x + s, Y0 + y + s)  # noqa: E731
    parcels = gpd.GeoDataFrame({
        "parcel_id": list("abcdef"),
        "land_use": ["M1", "M2", "B1", "M1", "M1", "M1"],
        "status": ["built", "built", "built", "supplied", "planned", "built"],
        "floor_area_m2": [30000.0, 20000.0, 40000.0, None, None, 5000.0],
        "footprint_m2": [20000.0, 12000.0, 10000.0, None, None, 4000.0],
        "investment_wan": [9000.0, 4000.0, 1000.0, 500.0, None, 800.0],
        "tax_wan": [600.0, 300.0, 200.0, None, None, None],
    }, geometry=[sq(0, 0, 200), sq(300, 0, 150), sq(600, 0, 200), sq(0, 400, 250), sq(400, 400, 300),
                 sq(2100, 100, 100)], crs=GK)
    return zones, parcels


def test_indicators_per_zone_by_hand(layers):
    zones, parcels = layers
    t = zone_indicators(parcels, zones)
    assert t["id"].tolist() == ["Z1", "Z2"] and t["name_zh"].tolist() == ["一区", "二区"]
    a = area_m2(parcels).to_numpy()
    za = area_m2(zones).to_numpy()
    z1 = t.iloc[0]
    all1 = a[:5].sum()
    supplied1 = a[[0, 1, 2, 3]].sum()
    built1 = a[[0, 1, 2]].sum()
    ind_built1 = a[[0, 1]].sum()
    assert z1["zone_area_m2"] == pytest.approx(za[0])
    assert z1["land_development_rate"] == pytest.approx(all1 / za[0])
    assert z1["land_supply_rate"] == pytest.approx(supplied1 / all1)
    assert z1["land_built_rate"] == pytest.approx(built1 / supplied1)
    assert z1["industrial_land_rate"] == pytest.approx(ind_built1 / built1)
    assert z1["composite_far"] == pytest.approx(90000.0 / built1)
    assert z1["building_density"] == pytest.approx(42000.0 / built1)
    assert z1["industrial_far"] == pytest.approx(50000.0 / ind_built1)
    assert z1["industrial_building_coverage"] == pytest.approx(32000.0 / ind_built1)
    assert z1["industrial_investment_intensity_wan_per_ha"] == pytest.approx(13000.0 / (ind_built1 / 10_000))
    assert z1["industrial_tax_wan_per_ha"] == pytest.approx(900.0 / (ind_built1 / 10_000))
    z2 = t.iloc[1]
    assert np.isnan(z2["industrial_tax_wan_per_ha"])  # its one built industrial parcel reports no tax: not 0
    assert z2["industrial_far"] == pytest.approx(5000.0 / a[5])
    notes = t.attrs["notes"].set_index("indicator")
    assert notes.loc[SET, "computed"].all()


def test_each_indicator_says_what_it_lacks(layers):
    zones, parcels = layers
    t = zone_indicators(parcels.drop(columns=["status", "tax_wan"]))  # no zones layer, no status, no tax
    notes = t.attrs["notes"].set_index("indicator")
    assert "zones layer" in notes.loc["land_development_rate", "lacking"]
    assert "status" in notes.loc["land_supply_rate", "lacking"]
    assert "tax_wan" in notes.loc["industrial_tax_wan_per_ha", "lacking"]
    assert t[SET].isna().all().all()


def test_parcels_without_zone_ids_are_placed_by_location(layers):
    zones, parcels = layers
    t = zone_indicators(parcels, zones)
    given = parcels.assign(zone_id=["Z1"] * 5 + ["Z2"])
    t2 = zone_indicators(given, zones)
    np.testing.assert_allclose(t[SET].to_numpy(dtype=float), t2[SET].to_numpy(dtype=float), equal_nan=True)


def test_audit_with_zones_fills_the_zone_rows(layers):
    zones, parcels = layers
    r = audit(parcels.assign(park_id="P"), ["lanzhou-etdz"], zones=zones)
    z1 = r.summary[(r.summary["level"] == "zone_id") & (r.summary["group"] == "Z1")].iloc[0]
    t = zone_indicators(parcels, zones)
    assert z1["land_development_rate"] == pytest.approx(t["land_development_rate"].iloc[0])
    ind = r.indicators.set_index("column")
    assert ind.loc["land_development_rate", "computed"]


def test_registry_is_data_with_a_source_for_every_indicator():
    reg = load_registry()
    for section in ("parcel_metrics", "zone_indicators"):
        for name, rec in reg[section].items():
            assert rec["source"] and rec["unit"] and rec["name_zh"] and rec["name_en"], name
    assert set(SET) <= set(reg["zone_indicators"])
    assert set(METRICS) == set(reg["parcel_metrics"])  # the per-parcel metrics derive from the registry
    raw = yaml.safe_load(REGISTRY_PATH.read_text(encoding="utf-8"))
    assert METRICS["tax_per_10k_kwh_wan"][2] == raw["parcel_metrics"]["tax_per_10k_kwh_wan"]["factor"] == 10000
