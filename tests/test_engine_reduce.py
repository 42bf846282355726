"""The reduce step on its own: sums of partitions equal the whole, rank cut-offs equal ranking the whole,
exact sums do not depend on how values are split, labels come from the registry."""

from __future__ import annotations

from fractions import Fraction

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.audit import audit
from gis.exact import exact_sum
from gis.indicators import indicator_label, load_registry
from gis.intensity import add_sums, finish_sums, level_sums, parcel_metrics, summarise
from gis.parcels import check_values
from gis.scoring import _classes_by_cuts, rank_classes, rank_cuts

CLASSES = [{"class": "A", "rank_to_pct": 20}, {"class": "B", "rank_to_pct": 60}, {"class": "C", "rank_to_pct": 95},
           {"class": "D", "rank_to_pct": 100}]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 6).map(float), st.just(float("nan"))), min_size=0, max_size=40))
def test_rank_cut_offs_class_every_parcel_as_ranking_the_whole_group(values):
    """With many ties (scores 0–6) and missing scores: the few cut-offs a partition gets give each parcel the
    class that ranking every evaluated parcel together gives."""
    v = np.array(values, dtype="float64")
    expected, _moved = rank_classes(v, CLASSES)
    cuts, _notes = rank_cuts(v, CLASSES)
    assert _classes_by_cuts(v, CLASSES, cuts).tolist() == expected.tolist()
    half = len(v) // 2  # each half classed with the whole group's cut-offs
    got = np.concatenate([_classes_by_cuts(v[:half], CLASSES, cuts), _classes_by_cuts(v[half:], CLASSES, cuts)])
    assert got.tolist() == expected.tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False), max_size=60), st.integers(0, 60))
def test_exact_sum_does_not_depend_on_the_split(values, cut):
    v = np.array(values, dtype="float64")
    whole = exact_sum(v)
    assert whole == sum((Fraction(x) for x in values), Fraction(0))
    assert exact_sum(v[:cut]) + exact_sum(v[cut:]) == whole


def _raw(n=600, seed=1):
    rng = np.random.default_rng(seed)
    x = 103.6 + np.arange(n) % 30 * 0.002
    y = 36.5 + np.arange(n) // 30 * 0.002
    g = gpd.GeoDataFrame({
        "parcel_id": [f"p{i}" for i in range(n)], "park_id": rng.choice(["a", "b"], n),
        "zone_id": rng.choice(np.array(["z1", "z2", "z3", None], dtype=object), n),
        "land_use": rng.choice(["M1", "B1", "R2"], n), "status": rng.choice(["built", "planned", "supplied"], n),
        "investment_wan": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(100, 5000, n)),
        "tax_wan": rng.uniform(1, 100, n), "floor_area_m2": rng.uniform(100, 9000, n),
    }, geometry=shapely.box(x, y, x + 0.0015, y + 0.0012), crs="EPSG:4490")
    return g


def _frame(n=600, seed=1):
    return parcel_metrics(check_values(_raw(n, seed))[0])


def test_sums_of_partitions_equal_the_whole_summary():
    m = _frame()
    whole = summarise(m, levels=("park_id", "zone_id"))
    parts = [m.iloc[:100], m.iloc[100:350], m.iloc[350:]]
    for level in (None, "park_id", "zone_id"):
        one = finish_sums(level_sums(m, level))
        added = finish_sums(add_sums([level_sums(p, level) for p in parts]))
        assert list(added.index) == list(one.index)  # groups in the same order, (none) last
        a, b = one.to_numpy(dtype="float64"), added.to_numpy(dtype="float64")
        assert np.array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        np.testing.assert_allclose(b[ok], a[ok], rtol=1e-12)
    # the stacked summary is built from the same sums
    zone = whole[whole["level"] == "zone_id"].set_index("group")
    ref = m.assign(z=m["zone_id"].astype(object).fillna("(none)")).groupby("z")
    got = zone["investment_intensity_wan_per_mu"]
    inv, mu = m["investment_wan"], m["area_mu"]
    both = inv.notna()
    expect = (inv[both].groupby(m.loc[both, "zone_id"].astype(object).fillna("(none)")).sum()
              / mu[both].groupby(m.loc[both, "zone_id"].astype(object).fillna("(none)")).sum())
    np.testing.assert_allclose(got.reindex(expect.index), expect, rtol=1e-12)
    assert set(ref.groups) == set(zone.index)


def test_a_group_in_one_partition_only_keeps_its_own_sums():
    m = _frame(200)
    a = level_sums(m[m["park_id"] == "a"], "park_id")
    b = level_sums(m[m["park_id"] == "b"], "park_id")
    both = add_sums([a, b])
    assert list(both.index) == ["a", "b"]
    assert both.loc["a", "n_parcels"] == (m["park_id"] == "a").sum()
    assert both["n_parcels"].dtype == np.int64


def test_every_label_comes_from_the_registry():
    from gis.webmap.style import field_label

    reg = load_registry()
    for section in ("parcel_metrics", "zone_indicators"):
        for name, rec in reg[section].items():
            label = field_label(name)
            assert label == indicator_label(name)
            assert rec["name_zh"] in label and rec["name_en"][1:] in label
            if rec["unit"] != "ratio":
                assert f"({rec['unit']})" in label
    assert field_label("no_such_field") == "no_such_field"


def test_audit_summary_counts_are_per_group_sums_of_the_verdicts():
    r = audit(_raw(300), ["lanzhou-etdz"])
    s = r.summary
    for level in ("park_id", "zone_id"):
        rows = s[s["level"] == level].set_index("group")
        key = r.parcels[level].astype(object).fillna("(none)")
        counts = pd.crosstab(key, r.parcels["verdict"].astype(str))
        for v, col in (("fail", "n_fail"), ("pass", "n_pass"), ("missing", "n_missing"), ("n/a", "n_na")):
            want = counts[v] if v in counts.columns else pd.Series(0, index=counts.index)
            assert rows[col].reindex(want.index).tolist() == want.tolist()
    from gis.audit import verdict_counts

    pd.testing.assert_frame_equal(r.verdict_counts(), verdict_counts(r.parcels))
