"""Per-parcel metrics, Σ/Σ aggregates, development-zone indicators, header mapping and land-use codes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box

from gis.intensity import aggregate, area_findings, indicator_notes, parcel_metrics, safe_ratio, summarise
from gis.landuse import classify_landuse, industrial_codes, load_crosswalk
from gis.parcels import check_values, map_headers, prepare_parcels
from gis.units import MU_M2

GK = "EPSG:4544"  # CGCS2000 / 3-degree Gauss-Kruger CM 105E
X0, Y0 = 380_000.0, 4_040_000.0  # near Lanzhou
_GEOD = Geod(ellps="GRS80")
_TO_LL = Transformer.from_crs(GK, "EPSG:4490", always_xy=True)


def geod_area_m2(poly: Polygon) -> float:
    """Expected ellipsoidal area: the corners in CGCS2000 lon/lat, area by pyproj.Geod (GRS80)."""
    xs, ys = poly.exterior.coords.xy
    lon, lat = _TO_LL.transform(np.asarray(xs), np.asarray(ys))
    area, _ = _GEOD.polygon_area_perimeter(lon, lat)
    return abs(area)


def square(i: int, side_m: float) -> Polygon:
    x = X0 + i * 1000.0
    return box(x, Y0, x + side_m, Y0 + side_m)


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    geoms = [square(0, 100.0), square(1, 300.0), square(2, 200.0), square(3, 150.0)]
    return gpd.GeoDataFrame({
        "parcel_id": ["a", "b", "c", "d"],
        "park_id": ["p1", "p1", "p1", "p2"],
        "zone_id": ["z1", "z1", "z2", "z3"],
        "land_use": ["M1", "M2", "B1", "100101"],
        "status": ["built", "built", "built", "planned"],
        "investment_wan": [6000.0, 30000.0, 9000.0, np.nan],
        "tax_wan": [300.0, 1350.0, 500.0, np.nan],
        "floor_area_m2": [12000.0, 45000.0, 60000.0, np.nan],
        "footprint_m2": [4000.0, 36000.0, 10000.0, np.nan],
        "green_m2": [1500.0, 9000.0, 8000.0, np.nan],
        "admin_area_m2": [500.0, 9000.0, 0.0, np.nan],
        "declared_area_mu": [15.0, 135.0, 60.0, np.nan],
    }, geometry=geoms, crs=GK)


def prepared(gdf):
    frame, _, _ = prepare_parcels(gdf)
    return parcel_metrics(frame)


def test_area_is_measured_on_the_ellipsoid(parcels):
    m = parcel_metrics(parcels)
    expected = np.array([geod_area_m2(g) for g in parcels.geometry])
    np.testing.assert_allclose(m["area_m2"].to_numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(m["area_mu"].to_numpy(), expected / MU_M2, rtol=1e-6)
    # GK grid area differs from the ellipsoidal one away from the central meridian: not what we report
    assert not np.allclose(m["area_m2"].to_numpy(), parcels.geometry.area.to_numpy(), rtol=1e-4)
    assert "area_m2" not in parcels.columns  # input untouched


def test_parcel_metrics_values(parcels):
    m = parcel_metrics(parcels)
    a = m["area_m2"].to_numpy()
    mu = a / MU_M2
    np.testing.assert_allclose(m["investment_intensity_wan_per_mu"].to_numpy()[:3], [6000, 30000, 9000] / mu[:3], rtol=1e-12)
    np.testing.assert_allclose(m["investment_intensity_wan_per_ha"].to_numpy()[:3],
                               m["investment_intensity_wan_per_mu"].to_numpy()[:3] * 15, rtol=1e-12)
    np.testing.assert_allclose(m["tax_intensity_wan_per_mu"].to_numpy()[:3], [300, 1350, 500] / mu[:3], rtol=1e-12)
    np.testing.assert_allclose(m["far"].to_numpy()[:3], [12000, 45000, 60000] / a[:3], rtol=1e-12)
    np.testing.assert_allclose(m["building_coverage"].to_numpy()[:3], [4000, 36000, 10000] / a[:3], rtol=1e-12)
    np.testing.assert_allclose(m["green_ratio"].to_numpy()[:3], [1500, 9000, 8000] / a[:3], rtol=1e-12)
    np.testing.assert_allclose(m["admin_share"].to_numpy()[:3], [500, 9000, 0] / a[:3], rtol=1e-12)
    # declared vs measured, in % of the measured
    np.testing.assert_allclose(m["declared_diff_pct"].to_numpy()[:3], 100 * ([15, 135, 60] - mu[:3]) / mu[:3], rtol=1e-9)
    # a missing numerator stays missing, never 0
    assert np.isnan(m["investment_intensity_wan_per_mu"].iloc[3])
    assert np.isnan(m["output_intensity_wan_per_mu"]).all()  # no output column at all


def test_aggregate_is_sum_over_sum_not_mean_of_ratios(parcels):
    m = parcel_metrics(parcels)
    agg = aggregate(m, "park_id")
    mu = m["area_mu"].to_numpy()
    inv = np.array([6000.0, 30000.0])
    expected = inv.sum() / mu[:2].sum()
    mean_of_ratios = np.mean(inv / mu[:2])
    assert agg.loc["p1", "investment_intensity_wan_per_mu"] == pytest.approx((6000 + 30000 + 9000) / mu[:3].sum(), rel=1e-12)
    # the constructed case really separates the two
    p1_ind = aggregate(m, "park_id", mask=m["land_use"].isin(["M1", "M2"]).to_numpy())
    assert p1_ind.loc["p1", "investment_intensity_wan_per_mu"] == pytest.approx(expected, rel=1e-12)
    assert abs(expected - mean_of_ratios) > 10
    # p2's only parcel has no investment: no ratio, and zero parcels counted (not a 0 intensity)
    assert np.isnan(agg.loc["p2", "investment_intensity_wan_per_mu"])
    assert agg.loc["p2", "investment_intensity_wan_per_mu_n"] == 0


def test_missing_numerator_is_left_out_of_both_sides():
    g = gpd.GeoDataFrame({"park_id": ["p", "p"], "investment_wan": [3000.0, np.nan]},
                         geometry=[square(0, 100), square(1, 400)], crs=GK)
    m = parcel_metrics(g)
    agg = aggregate(m, "park_id")
    assert agg.loc["p", "investment_intensity_wan_per_mu"] == pytest.approx(3000 / m["area_mu"].iloc[0], rel=1e-12)
    assert agg.loc["p", "investment_intensity_wan_per_mu_n"] == 1


def test_zero_tiny_and_missing_geometry_give_no_ratio_and_a_finding():
    geoms = [square(0, 100), box(X0, Y0, X0 + 0.5, Y0 + 0.5), Polygon(), None]
    g = gpd.GeoDataFrame({"parcel_id": list("abcd"), "investment_wan": [100.0] * 4, "floor_area_m2": [10.0] * 4},
                         geometry=geoms, crs=GK)
    with np.errstate(all="raise"):  # no division by zero anywhere
        m = parcel_metrics(g)
        f = area_findings(m)
    assert np.isfinite(m["investment_intensity_wan_per_mu"].iloc[0])
    assert m[["investment_intensity_wan_per_mu", "far"]].iloc[1:].isna().all().all()
    assert not np.isinf(m.select_dtypes("number").to_numpy()).any()
    checks = dict(zip(f["parcel_id"], f["check"]))
    assert checks == {"b": "tiny_area", "c": "zero_area", "d": "no_geometry"}
    assert len(m) == 4


def test_declared_area_far_from_measured_is_a_finding(parcels):
    g = parcels.copy()
    g.loc[0, "declared_area_mu"] = 20.0  # measured ≈ 15 亩
    m = parcel_metrics(g)
    f = area_findings(m, declared_tolerance_pct=5)
    row = f[f["check"] == "declared_area_differs"]
    assert row["parcel_id"].tolist() == ["a"]
    assert row["value"].iloc[0] == pytest.approx(100 * (20 - m["area_mu"].iloc[0]) / m["area_mu"].iloc[0])


def test_summary_levels_and_indicators(parcels):
    m = prepared(parcels)
    s = summarise(m, levels=("park_id", "zone_id"), by="land_use")
    assert s["level"].tolist()[0] == "all"
    assert set(s["level"]) == {"all", "park_id", "zone_id", "land_use"}
    mu = m["area_mu"].to_numpy()
    allrow = s[s["level"] == "all"].iloc[0]
    assert allrow["area_mu"] == pytest.approx(mu.sum())
    # built = a, b, c; industrial built = a, b; supplied-like = a, b, c; all = a..d
    assert allrow["land_built_rate"] == pytest.approx(1.0)
    assert allrow["land_supply_rate"] == pytest.approx(mu[:3].sum() / mu.sum())
    assert allrow["industrial_land_rate"] == pytest.approx(mu[:2].sum() / mu[:3].sum())
    a = m["area_m2"].to_numpy()
    assert allrow["composite_far"] == pytest.approx((12000 + 45000 + 60000) / a[:3].sum())
    assert allrow["industrial_far"] == pytest.approx((12000 + 45000) / a[:2].sum())
    assert allrow["industrial_investment_intensity_wan_per_mu"] == pytest.approx(36000 / mu[:2].sum())
    assert allrow["industrial_investment_intensity_wan_per_ha"] == pytest.approx(36000 / mu[:2].sum() * 15)
    assert allrow["industrial_tax_wan_per_mu"] == pytest.approx(1650 / mu[:2].sum())
    assert allrow["composite_tax_wan_per_mu"] == pytest.approx(2150 / mu[:3].sum())
    assert np.isnan(allrow["land_development_rate"])
    notes = indicator_notes(m).set_index("column")
    assert not notes.loc["land_development_rate", "computed"]
    assert "已达到供地条件" in notes.loc["land_development_rate", "why_not"]
    assert notes.loc["composite_far", "computed"]
    z = s[s["level"] == "zone_id"].set_index("group")
    assert z.loc["z1", "n_parcels"] == 2 and z.loc["z3", "n_parcels"] == 1


def test_indicators_not_computed_say_why(parcels):
    m = prepared(parcels.drop(columns=["tax_wan"]))
    notes = indicator_notes(m).set_index("column")
    assert not notes.loc["industrial_tax_wan_per_mu", "computed"]
    assert "tax_wan" in notes.loc["industrial_tax_wan_per_mu", "why_not"]


def test_safe_ratio_never_divides_by_zero():
    with np.errstate(all="raise"):
        r = safe_ratio([1.0, 1.0, np.nan, 2.0], [0.0, np.nan, 1.0, 4.0])
    assert np.isnan(r[:3]).all() and r[3] == 0.5


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(20, 400), st.floats(0, 1e5)), min_size=1, max_size=8))
def test_group_ratio_is_area_weighted_mean_of_parcel_ratios(items):
    geoms = [square(i, side) for i, (side, _) in enumerate(items)]
    g = gpd.GeoDataFrame({"park_id": "p", "investment_wan": [v for _, v in items]}, geometry=geoms, crs=GK)
    m = parcel_metrics(g)
    agg = aggregate(m, "park_id").loc["p", "investment_intensity_wan_per_mu"]
    r = m["investment_intensity_wan_per_mu"].to_numpy()
    w = m["area_mu"].to_numpy()
    assert agg == pytest.approx(np.average(r, weights=w), rel=1e-9, abs=1e-9)
    assert r.min() - 1e-9 <= agg <= r.max() + 1e-9


# ------------------------------------------------------------------------------ headers and values
def test_chinese_headers_with_unit_conversion():
    df = pd.DataFrame({
        "宗地编号": ["A-1", "A-2"], "用地性质": ["M2", "100101"], "用地面积（公顷）": [2.0, 1.5],
        "固定资产投资（元）": [6.0e7, 1.2e8], "税收（万元）": [10.0, 20.0], "产值(亿元)": [1.2, 0.5],
        "总建筑面积": [20000.0, 15000.0], "建筑基底面积（㎡）": [8000.0, 6000.0], "绿地面积（亩）": [3.0, 1.5],
        "备注": ["x", "y"],
    })
    mapped, report, findings = map_headers(df)
    assert mapped["declared_area_mu"].tolist() == pytest.approx([30.0, 22.5])  # 公顷 -> 亩 (×15)
    assert mapped["investment_wan"].tolist() == pytest.approx([6000.0, 12000.0])  # 元 -> 万元
    assert mapped["output_wan"].tolist() == pytest.approx([12000.0, 5000.0])  # 亿元 -> 万元
    assert mapped["green_m2"].tolist() == pytest.approx([2000.0, 1000.0])  # 亩 -> m²
    assert mapped["footprint_m2"].tolist() == [8000.0, 6000.0]
    assert mapped["floor_area_m2"].tolist() == [20000.0, 15000.0]
    assert mapped["parcel_id"].tolist() == ["A-1", "A-2"] and "备注" in mapped.columns
    # the m² assumed for 总建筑面积 is said, not silent
    assumed = findings[findings["check"] == "header_unit_assumed"]
    assert assumed["column"].tolist() == ["总建筑面积"] and (assumed["severity"] == "info").all()
    assert report.set_index("header").loc["用地面积（公顷）", "factor"] == pytest.approx(15.0)
    assert list(df.columns)[0] == "宗地编号"  # input untouched


def test_unreadable_or_absent_money_unit_is_a_finding_not_a_guess():
    df = pd.DataFrame({"宗地编号": ["a"], "税收（美金）": [5.0], "固定资产投资": [100.0], "investment_wan": [7.0]})
    mapped, _, findings = map_headers(df)
    checks = dict(zip(findings["column"], findings["check"]))
    assert checks["税收（美金）"] == "header_unit_unreadable"
    assert checks["固定资产投资"] == "header_unit_missing"
    assert "tax_wan" not in mapped.columns
    assert mapped["investment_wan"].tolist() == [7.0]  # the schema name carries its unit
    assert (findings["severity"] == "error").all()


def test_bad_values_are_findings_and_rows_are_kept():
    df = pd.DataFrame({
        "parcel_id": ["a", "b", "b", None, "e"],
        "land_use": ["M1", "Q9", "B1", "M2", None],
        "status": ["built", "已建成", "在建", "whatever", "built"],
        "investment_wan": ["1,200", "abc", -5, None, 10],
        "zone_id": ["z", "z", None, "z", "z"],
    })
    out, findings = check_values(df)
    assert len(out) == 5
    assert out["investment_wan"].tolist()[:3] == [1200.0, None, None] or (
        out["investment_wan"].iloc[0] == 1200.0 and out["investment_wan"].iloc[1:4].isna().all())
    assert out["investment_wan"].iloc[4] == 10.0
    assert out["status"].tolist()[:3] == ["built", "built", "under_construction"]
    got = {(c, r) for c, r in zip(findings["check"], findings["row"])}
    assert ("not_a_number", 1) in got and ("negative_value", 2) in got
    assert ("duplicate_parcel_id", 1) in got and ("duplicate_parcel_id", 2) in got
    assert ("missing_parcel_id", 3) in got and ("unknown_status", 3) in got
    assert ("unknown_land_use", 1) in got and ("missing_land_use", 4) in got
    assert ("outside_zones", 2) in got
    assert findings.loc[findings["check"] == "not_a_number", "raw"].iloc[0] == "abc"


# ------------------------------------------------------------------------------------ land-use codes
def test_landuse_codes_of_both_systems():
    lu = classify_landuse(pd.Series(["M1", "100102", "m3", "Ｍ２", "1101", "W1", "0801", "A1", "二类工业用地", "M21", "B1", "Z9", None]))
    assert lu["is_industrial"].tolist()[:4] == [True, True, True, True]
    assert lu["is_industrial"].tolist()[4:8] == [False] * 4
    assert lu["landuse_gb"].tolist()[:6] == ["M1", "M2", "M3", "M2", "W", "W1"]
    assert lu["landuse_2023"].tolist()[:3] == ["100101", "100102", "100103"]
    assert lu["landuse_gb"].iloc[8] == "M2" and lu["landuse_gb"].iloc[9] == "M2"  # name; sub-code inherits
    assert not lu["landuse_known"].iloc[11] and pd.isna(lu["is_industrial"].iloc[11])
    assert lu["landuse_known"].iloc[12]  # blank is missing, not unknown


def test_crosswalk_is_complete_data():
    cw = load_crosswalk()
    assert {"gb50137_code", "code_2023", "gb50137_name_zh", "name_2023_zh", "name_en", "is_industrial", "source"} <= set(cw.columns)
    assert cw["source"].notna().all() and cw["name_en"].notna().all()
    assert set(industrial_codes()) == {"M", "M1", "M2", "M3", "1001", "100101", "100102", "100103"}


def test_two_headers_for_one_field_is_a_finding():
    df = pd.DataFrame({"宗地编号": ["a"], "parcel_id": ["b"], "税收（万元）": [1.0], "税收（元）": [20000.0]})
    mapped, _, findings = map_headers(df)
    dup = findings[findings["check"] == "duplicate_header"]
    assert sorted(dup["column"]) == ["parcel_id", "税收（元）"]
    assert mapped["parcel_id"].tolist() == ["a"] and mapped["tax_wan"].tolist() == [1.0]
