"""The bundled layers and targets as data, and the plan held against itself."""

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.area import add_area_columns
from gis.bundled import bundled_layer_names, read_bundled
from gis.plancheck import plan_check, printed_precision
from gis.targets import all_targets, check_bundled, check_target, get_target
from gis.units import MU_M2
from gis.validate import validate

from .conftest import geod_area_m2

LAYERS = ["parks", "port_zones", "yaogu_zones", "urban_mining_zones"]
REQUIRED = {"id", "name_zh", "name_en", "kind", "parent_id", "planned_km2", "planned_mu", "source", "digitisation"}


@pytest.fixture(scope="module")
def features():
    frames = [read_bundled(n).assign(layer=n) for n in LAYERS]
    return gpd.GeoDataFrame(gpd.pd.concat(frames, ignore_index=True), crs=4326)


def test_every_layer_is_there_with_the_schema():
    assert set(LAYERS) <= set(bundled_layer_names())
    for name in LAYERS:
        layer = read_bundled(name)
        assert REQUIRED <= set(layer.columns), name
        assert layer.crs.to_epsg() == 4326 and layer["id"].is_unique
        assert layer["digitisation"].str.contains("schematic").all()
        assert shapely.is_valid(layer.geometry.values).all()


def test_plan_elements_are_all_digitised(features):
    kinds = features.groupby("layer")["kind"].value_counts()
    assert kinds["parks"]["park"] == 5
    assert kinds["port_zones"]["cluster"] == 7 and kinds["port_zones"]["axis"] == 2
    assert kinds["port_zones"]["centre"] == 2 and kinds["port_zones"]["district_area"] == 2
    assert kinds["port_zones"]["belt"] == 1
    assert kinds["yaogu_zones"]["zone"] == 6
    assert kinds["urban_mining_zones"]["cluster"] == 7 and kinds["urban_mining_zones"]["axis"] == 2
    assert set(features.loc[features.kind == "axis"].geom_type) == {"LineString"}
    assert set(features.loc[features.kind == "centre"].geom_type) == {"Point"}


def test_planned_figures_within_half_a_percent_of_geodesic_area(features):
    polys = features[features.geom_type.isin(["Polygon", "MultiPolygon"])]
    for _, f in polys.iterrows():
        planned_m2 = (f.planned_km2 * 1e6) if f.planned_km2 == f.planned_km2 and f.planned_km2 is not None else (
            f.planned_mu * MU_M2 if f.planned_mu == f.planned_mu and f.planned_mu is not None else None)
        if planned_m2:
            assert geod_area_m2(f.geometry) == pytest.approx(planned_m2, rel=0.005), f.id


def test_children_inside_parents_and_siblings_disjoint(features):
    by_id = features.set_index("id")
    for _, f in features.iterrows():
        if isinstance(f.parent_id, str):
            parent = by_id.loc[f.parent_id].geometry
            outside = f.geometry.difference(parent.buffer(1e-7))
            assert outside.is_empty or outside.area < 1e-6 * max(parent.area, 1e-12), f.id
    polys = features[features.geom_type.isin(["Polygon", "MultiPolygon"])]
    for (_, kind), grp in polys.groupby(["parent_id", "kind"]):
        inter = shapely.STRtree(grp.geometry.values).query(grp.geometry.values, predicate="overlaps")
        assert (inter[0] == inter[1]).all() or not len(inter[0]), grp.id.tolist()


def test_validate_accepts_the_nested_layers():
    for name in LAYERS:
        assert validate(read_bundled(name)).problems.empty, name


def test_placed_in_the_real_lanzhou():
    parks = read_bundled("parks").set_index("id")
    # the districts' bounding boxes (Tianditu boundaries, rounded): the reference data are not shipped
    boxes = {"park.honggu": (102.83, 36.13, 103.37, 36.47), "park.anning": (103.55, 36.08, 103.86, 36.35),
             "park.xigu": (103.34, 35.97, 103.69, 36.23), "park.airport_north": (102.6, 36.2, 104.23, 37.0),
             "park.gaolan": (103.66, 36.09, 104.23, 36.85)}
    for pid, (x0, y0, x1, y1) in boxes.items():
        b = parks.loc[pid].geometry.bounds
        assert x0 < b[0] and b[2] < x1 and y0 < b[1] and b[3] < y1, pid
    # the airport-north park lies north of Zhongchuan airport (103.620 E, 36.515 N)
    assert parks.loc["park.airport_north"].geometry.centroid.y > 36.515


def test_targets_have_sources_and_units():
    targets = all_targets()
    assert len(targets) >= 30
    for t in targets.values():
        assert t.source and t.unit in {"km2", "mu", "ha", "m2", "wan_per_mu", "wan_per_ha", "yi_yuan"}, t.id
    assert get_target("yaogu.phase1").value_mu == pytest.approx(2595.0)
    assert get_target("yaogu.phase2").value_mu == pytest.approx(1650.0)
    assert get_target("intensity.industrial_min").value == 300
    assert get_target("port.control_area").value == 73 and get_target("park.xigu.port").value == 67.5


def test_plan_check_reports_the_plans_own_inconsistencies():
    checks = plan_check().set_index("id")
    bad = set(checks.index[~checks.consistent])
    assert bad == {"yaogu.zones_in_phase1", "yaogu.zones_in_phases", "port.area_equality"}
    assert checks.loc["yaogu.zones_in_phase1", "stated"] == pytest.approx(3233.21)
    assert checks.loc["yaogu.zones_in_phase1", "expected"] == pytest.approx(2595.0)
    assert checks.loc["yaogu.zones_in_phases", "expected"] == pytest.approx(4245.0)
    assert checks.loc["port.area_equality", "difference"] == pytest.approx(-8250.0)  # 5.5 km² in 亩
    assert checks.loc["etdz.parks_sum", "consistent"] and checks.loc["conv.anning_investment", "consistent"]


def test_printed_precision():
    assert printed_precision(217.87) == pytest.approx(0.005)
    assert printed_precision(73) == 0.5 and printed_precision(2595.0) == pytest.approx(0.05)


def test_bundled_layers_meet_their_targets():
    table = check_bundled()
    assert len(table) >= 19 and table["within"].all()
    assert (table["deviation_pct"].abs() < 0.05).all()


def test_check_target_on_generated_parcels(parcels_4490):
    # four ~18-亩 parcels against 2595 亩: far outside; the breakdown sums to the measured total
    result = check_target(parcels_4490, "yaogu.phase1")
    assert not result.within and result.deviation_pct < -90
    assert result.features["area_m2"].sum() == pytest.approx(result.measured_m2, rel=1e-9)
    expected = sum(geod_area_m2(g) for g in parcels_4490.geometry)
    assert result.measured_m2 == pytest.approx(expected, rel=1e-6)


def test_check_counts_overlapping_land_once():
    a = shapely.box(103.62, 36.58, 103.63, 36.59)
    layer = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[a, a], crs=4490)
    result = check_target(layer, "yaogu.phase1")
    assert result.sum_m2 == pytest.approx(2 * result.measured_m2)
    assert "counted once" in result.summary().to_string()


def test_cli_check_and_plan_check_exit_codes(run_cli, tmp_path):
    code, out, _ = run_cli("check")
    assert code == 0 and "0 outside" in out
    code, out, _ = run_cli("check", "parks", "--target", "yaogu.phase1")
    assert code == 0 and "within tolerance" in out
    code, out, _ = run_cli("check", "yaogu_zones", "--target", "yaogu.phase1")
    assert code == 1 and "OUTSIDE" in out  # 3233 亩 of zones against 2595
    code, out, _ = run_cli("check", "yaogu_zones", "--target", "yaogu.zones_total", "--tolerance", "0.01%")
    assert code == 0
    code, out, _ = run_cli("plan-check", "--out", tmp_path / "plan.csv")
    assert code == 1 and "3 inconsistent" in out and (tmp_path / "plan.csv").exists()
    code, _, err = run_cli("check", "parks")
    assert code == 2 and "give both" in err
    code, out, _ = run_cli("layers")
    assert code == 0 and "yaogu_zones" in out
    code, out, _ = run_cli("targets")
    assert code == 0 and "yaogu.phase1" in out


REFERENCE = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.mark.skipif(not (REFERENCE / "lanzhou_districts.geojson").exists(), reason="../shared/reference not beside the repo")
def test_parks_inside_their_real_districts():
    districts = gpd.read_file(REFERENCE / "lanzhou_districts.geojson").set_index("name")
    parks = read_bundled("parks").set_index("id")
    home = {"park.anning": ["安宁区"], "park.xigu": ["西固区"], "park.honggu": ["红古区"], "park.gaolan": ["皋兰县"],
            "park.airport_north": ["永登县", "皋兰县"]}
    for pid, names in home.items():
        district = shapely.union_all(districts.loc[names].geometry.values)
        g = parks.loc[pid].geometry
        assert g.difference(district).area / g.area < 0.001, pid
    river = shapely.union_all(gpd.read_file(REFERENCE / "rivers_lanzhou.geojson").geometry.values)
    belt = read_bundled("port_zones").set_index("id").loc["port.belt.riverside"].geometry
    assert belt.distance(river) < 0.015  # ~1.5 km: the reference river line is coarse
