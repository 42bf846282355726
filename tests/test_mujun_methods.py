"""Issue 12: rules that give verdicts on real ledgers, validated packs, and the published 亩均 methods."""

from __future__ import annotations

import textwrap

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from gis.area import area_m2
from gis.audit import audit
from gis.errors import InputError
from gis.rules import load_pack
from gis.scoring import rank_classes
from gis.units import MU_M2

GK = "EPSG:4544"
X0, Y0 = 380_000.0, 4_040_000.0


def ledger(n, **cols):
    geoms = [box(X0 + (i % 20) * 300.0, Y0 + (i // 20) * 300.0, X0 + (i % 20) * 300.0 + 100, Y0 + (i // 20) * 300.0 + 100)
             for i in range(n)]
    base = {"parcel_id": [f"p{i}" for i in range(n)]}
    base.update(cols)
    return gpd.GeoDataFrame(base, geometry=geoms, crs=GK)


def mu_of(g):
    return area_m2(g).to_numpy() / MU_M2


# ------------------------------------------------------------------------------ verdicts on real ledgers
def test_no_status_column_rule_applies_with_one_note():
    g = ledger(3, park_id=["P"] * 3, land_use=["M1", "M1", "B1"])
    mu = mu_of(g)
    g["investment_wan"] = [299 * mu[0], 301 * mu[1], 500 * mu[2]]
    r = audit(g, ["lanzhou-etdz"])
    assert r.parcels["rule:etdz-invest-300"].astype(str).tolist() == ["fail", "pass", "n/a"]
    f = r.findings
    notes = f[f["check"] == "filter_column_absent"]
    assert len(notes) == 1 and notes["column"].iloc[0] == "status" and notes["severity"].iloc[0] == "info"
    assert "etdz-invest-300" in notes["reason_en"].iloc[0] and pd_isna(notes["row"].iloc[0])
    assert not ((f["column"] == "status") & (f["verdict"] == "missing")).any()


def pd_isna(v):
    import pandas as pd

    return pd.isna(v)


def test_blank_value_in_an_existing_status_column_is_still_missing():
    g = ledger(2, park_id=["P"] * 2, land_use=["M1", "M1"], status=["built", None])
    mu = mu_of(g)
    g["investment_wan"] = [400 * mu[0], 400 * mu[1]]
    r = audit(g, ["lanzhou-etdz"])
    assert r.parcels["rule:etdz-invest-300"].astype(str).tolist() == ["pass", "missing"]
    assert "filter_column_absent" not in set(r.findings["check"].astype(str))


def test_no_zone_column_gives_one_note_not_a_warning_per_row():
    g = ledger(5, land_use=["M1"] * 5)
    r = audit(g, ["lanzhou-etdz"])
    checks = r.findings["check"].astype(str)
    assert (checks == "outside_zones").sum() == 0
    assert (checks == "zones_unknown").sum() == 1


def test_with_zones_parcels_outside_get_the_finding():
    g = ledger(3, land_use=["M1"] * 3)
    zones = gpd.GeoDataFrame({"id": ["Z"]}, geometry=[box(X0 - 10, Y0 - 10, X0 + 450, Y0 + 150)], crs=GK)
    r = audit(g, ["lanzhou-etdz"], zones=zones)
    out = r.findings[r.findings["check"] == "outside_zones"]
    assert out["parcel_id"].tolist() == ["p2"]
    zrow = r.summary[(r.summary["level"] == "zone_id") & (r.summary["group"] == "Z")].iloc[0]
    # 土地开发率: parcels with a status ÷ the zone's area; no status column here, so not computable
    assert np.isnan(zrow["land_development_rate"])
    assert zrow["zone_area_m2"] == pytest.approx(float(area_m2(zones).iloc[0]))


def test_empty_gb2008_investment_table_is_said_once():
    g = ledger(4, land_use=["M1"] * 4, industry_code=["27"] * 4, status=["built"] * 4, investment_wan=[1000.0] * 4)
    r = audit(g, ["gb-2008"])
    notes = r.findings[r.findings["check"] == "gb2008-investment-intensity"]
    assert len(notes) == 1 and "no values yet" in notes["reason_en"].iloc[0]


# ------------------------------------------------------------------------------ packs checked on load
@pytest.mark.parametrize("body, words", [
    ("rules:\n  - id: a\n    metric: nonsense\n    op: '>='\n    threshold: 1\n    severity: error\n    source: s\n",
     ["rule 1 (a)", "unknown metric 'nonsense'"]),
    ("rules:\n  - invest at least 300\n", ["rule 1", "bare str"]),
    ("rules:\n  - id: a\n    applies_to: industrial\n    metric: far\n    op: '>='\n    threshold: 1\n    severity: error\n"
     "    source: s\n", ["rule 1 (a)", "applies_to must be a mapping"]),
    ("scores:\n  - id: s\n    source: x\n    indicators: [{metric: far, weight: 1, source: x}]\n    classes: [{class: A}]\n",
     ["score 1 (s)", "class A", "min_score"]),
    ("rules: industrial\n", ["rules must be a list"]),
    ("scores:\n  - id: s\n    source: x\n    indicators: [{metric: far, weight: 1, source: x}]\n    classes_by: rank\n"
     "    classes: [{class: A, rank_to_pct: 50}]\n", ["rank_to_pct: 100"]),
])
def test_bad_packs_are_one_line_naming_file_rule_and_problem(tmp_path, body, words):
    p = tmp_path / "bad.yaml"
    p.write_text("pack: bad\n" + body, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_pack(p)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("bad.yaml")
    for w in words:
        assert w in msg


def test_gbk_pack_is_read(tmp_path, caplog):
    text = textwrap.dedent("""\
        pack: gbk
        rules:
          - id: inv
            name_zh: 工业项目投资强度不低于300万元每亩
            metric: investment_intensity_wan_per_mu
            op: ">="
            threshold: 300
            severity: error
            source: 兰州经济技术开发区规划
        """)
    p = tmp_path / "gbk.yaml"
    p.write_bytes(text.encode("gbk"))
    pack = load_pack(p)
    assert pack.rules[0].name_zh == "工业项目投资强度不低于300万元每亩"
    assert "GBK" in caplog.text


def test_undecodable_pack_suggests_utf8(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"pack: x\nrules: \xff\xfe\xff\n")
    with pytest.raises(InputError, match="bin.yaml is not UTF-8.*save the rule pack as UTF-8"):
        load_pack(p)


# ------------------------------------------------------------------------------ percentile-rank classes
def test_rank_classes_ties_share_the_better_class():
    classes = [{"class": "A", "rank_to_pct": 20}, {"class": "B", "rank_to_pct": 100}]
    v = np.array([10, 9, 8, 8, 7, 6, 5, 4, 3, 2], dtype=float)  # edge of A at rank 2; ranks 3 and 4 tie
    got, moved = rank_classes(v, classes)
    assert got.tolist() == ["A", "A", "B", "B", "B", "B", "B", "B", "B", "B"] and moved == 0
    v2 = np.array([10, 9, 9, 8, 7, 6, 5, 4, 3, 2], dtype=float)  # ranks 2 and 3 tie across A's edge
    got2, moved2 = rank_classes(v2, classes)
    assert got2.tolist()[:4] == ["A", "A", "A", "B"] and moved2 == 1
    assert rank_classes(np.array([np.nan, 1.0]), classes)[0].tolist() == [None, "B"]  # 20 % of 1 rounds to 0


def test_huaian_100_enterprises_give_20_40_35_5_and_T():
    rng = np.random.default_rng(7)
    n = 104
    land = ["M1"] * 100 + ["B1"] * 4  # four not evaluated (not industrial)
    g = ledger(n, land_use=land)
    mu = mu_of(g)
    g["tax_wan"] = rng.uniform(5, 60, n) * mu
    g["sales_wan"] = rng.uniform(100, 900, n) * mu
    g["energy_tce"] = rng.uniform(50, 500, n)
    r = audit(g, ["huaian-2024"])
    cls = r.parcels["class:huaian-mujun"].astype(str)
    counts = cls.value_counts()
    assert (counts["A"], counts["B"], counts["C"], counts["D"], counts["T"]) == (20, 40, 35, 5, 4)
    # the score: Σ weight × value ÷ (2 × the group's Σ/Σ mean), weights 45/35/20 — by hand
    ind = np.arange(100)
    tax, sales, tce = g["tax_wan"].to_numpy()[ind], g["sales_wan"].to_numpy()[ind], g["energy_tce"].to_numpy()[ind]
    b_tax = 2 * tax.sum() / mu[ind].sum()
    b_sales = 2 * sales.sum() / mu[ind].sum()
    b_green = 2 * tax.sum() / tce.sum()
    hand = 45 * (tax / mu[ind]) / b_tax + 35 * (sales / mu[ind]) / b_sales + 20 * (tax / tce) / b_green
    np.testing.assert_allclose(r.parcels["score:huaian-mujun"].to_numpy()[ind], hand, rtol=1e-9)
    top = np.argsort(-hand)[:20]
    assert set(cls.iloc[top]) == {"A"}
    assert r.parcels["rule:huaian-mujun"].astype(str).iloc[np.argsort(-hand)[-5:]].eq("fail").all()
    notes = r.rules.set_index("rule").loc["rule:huaian-mujun", "notes"]
    assert "A 20, B 40, C 35, D 5" in notes and "equal scores share the better class" in notes


def test_huaian_uses_electricity_when_energy_is_absent():
    g = ledger(10, land_use=["M1"] * 10)
    mu = mu_of(g)
    g["tax_wan"] = np.linspace(10, 50, 10) * mu
    g["sales_wan"] = np.linspace(100, 500, 10) * mu
    g["electricity_kwh"] = np.linspace(1e5, 2e5, 10)
    r = audit(g, ["huaian-2024"])
    notes = r.rules.set_index("rule").loc["rule:huaian-mujun", "notes"]
    assert "tax_per_10k_kwh_wan: weight 20" in notes
    assert r.parcels["score:huaian-mujun"].notna().all()


def test_huangyan_scores_match_a_hand_computation():
    g = ledger(4, land_use=["M1"] * 4, scale=["规上", "规模以下", "规上", None])
    mu = mu_of(g)
    tax_mu = np.array([30.0, 12.0, 20.0, 15.0])
    va_mu = np.array([150.0, 80.0, 100.0, 90.0])
    g["tax_wan"] = tax_mu * mu
    g["value_added_wan"] = va_mu * mu
    g["energy_tce"] = [600.0, 100.0, 400.0, 300.0]
    g["emissions_t"] = [2.0, 1.0, 1.5, 1.0]
    g["employees"] = [800.0, 50.0, 500.0, 100.0]
    g["rd_wan"] = [300.0, 5.0, 100.0, 10.0]
    g["sales_wan"] = [9000.0, 500.0, 5000.0, 800.0]
    g["electricity_kwh"] = [5e6, 4e5, 3e6, 1e6]
    r = audit(g, ["huangyan-2022"])
    s = r.parcels["score:huangyan-mujun"].to_numpy()
    va, tax = g["value_added_wan"].to_numpy(), g["tax_wan"].to_numpy()

    def above(i):
        return (tax[i] / mu[i] / 24.097 * 30 + va[i] / mu[i] / 136.16 * 20 + va[i] / g["energy_tce"][i] / 2.694 * 20
                + va[i] / g["emissions_t"][i] / 4929.81 * 10 + va[i] / g["employees"][i] / 18.14 * 10
                + g["rd_wan"][i] / g["sales_wan"][i] / 0.0302 * 10)

    below1 = tax[1] / mu[1] / 11.5932 * 50 + tax[1] / (g["electricity_kwh"][1] / 1e4) / 0.2352 * 50
    np.testing.assert_allclose(s[:3], [above(0), below1, above(2)], rtol=1e-12)
    assert np.isnan(s[3])  # scale blank: the formula cannot be chosen
    assert r.parcels["rule:huangyan-mujun"].astype(str).tolist() == ["n/a", "n/a", "n/a", "missing"]
    miss = r.findings[(r.findings["check"] == "huangyan-mujun") & (r.findings["verdict"] == "missing")]
    assert miss["column"].tolist() == ["scale"]
    notes = r.rules.set_index("rule").loc["rule:huangyan-mujun", "threshold"]
    assert "浙亩均办〔2022〕1号" in notes


def test_huangyan_without_a_required_column_is_missing_not_rescaled():
    g = ledger(2, land_use=["M1"] * 2, scale=["规下", "规下"], tax_wan=[100.0, 200.0])
    r = audit(g, ["huangyan-2022"])
    assert r.parcels["class:huangyan-mujun"].astype(str).tolist() == ["missing", "missing"]
    assert "electricity_kwh" in r.rules.set_index("rule").loc["rule:huangyan-mujun", "notes"]


def test_mujun_eval_is_labelled_an_example():
    p = load_pack("mujun-eval")
    assert p.example and "EXAMPLE" in p.title_en
    assert all("published" not in s.source for s in p.scores)


def test_published_packs_cite_every_figure():
    for name, url in (("huangyan-2022", "chacewang.com/newsdetail/news430850.html"),
                      ("huaian-2024", "at2000.net/col/16801_148235/art/17171712/1717377730245iH6Bz1NN.html")):
        p = load_pack(name)
        assert url in p.source
        for s in p.scores:
            for _key, inds in s.variants:
                assert all(url.split("/")[0] in i["source"] for i in inds)
