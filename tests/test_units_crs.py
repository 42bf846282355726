import pytest
from pyproj import CRS

from gis import units
from gis.crs import gk3_epsg, gk6_epsg, guess_crs_from_bounds, require_crs, to_crs
from gis.errors import CRSError


def test_plan_conversions_exact():
    assert units.MU_M2 == pytest.approx(2000 / 3, rel=0, abs=1e-12)
    assert units.km2_to_mu(1.73) == pytest.approx(2595.0)
    assert units.km2_to_mu(1.1) == pytest.approx(1650)
    assert units.km2_to_mu(73) == pytest.approx(109_500)
    assert units.km2_to_mu(3.1) == pytest.approx(4650)
    assert units.wan_per_ha_to_wan_per_mu(3268.08) == pytest.approx(217.872, abs=1e-3)
    assert units.wan_per_ha_to_wan_per_mu(281.84) == pytest.approx(18.789, abs=1e-3)
    assert units.mu_to_ha(15) == 1.0
    assert units.to_m2(2, "km2") == 2e6 and units.from_m2(10_000, "mu") == pytest.approx(15)
    with pytest.raises(ValueError, match="unknown area unit"):
        units.to_m2(1, "acre")


@pytest.mark.parametrize("lon,prefix,code", [(103.6, False, 4544), (102.9, False, 4543), (102.9, True, 4522),
                                              (103.6, True, 4523), (75.0, False, 4534), (135.0, False, 4554)])
def test_gk3_codes_match_epsg_names(lon, prefix, code):
    assert gk3_epsg(lon, zone_prefix=prefix) == code
    cm = int(round(lon / 3) * 3)
    name = CRS.from_epsg(code).name
    assert (f"zone {cm // 3}" in name) if prefix else (f"CM {cm}E" in name)


def test_gk6_codes():
    assert gk6_epsg(103.6) == 4507 and "CM 105E" in CRS.from_epsg(4507).name
    assert gk6_epsg(103.6, zone_prefix=True) == 4496 and "zone 18" in CRS.from_epsg(4496).name


@pytest.mark.parametrize("bounds,expect", [
    ((35_512_000, 3_990_000, 35_520_000, 3_998_000), "EPSG:4523"),
    ((34_480_000, 4_020_000, 34_490_000, 4_030_000), "EPSG:4522"),
    ((18_500_000, 4_000_000, 18_510_000, 4_010_000), "EPSG:4496"),
    ((11_530_000, 4_300_000, 11_540_000, 4_310_000), "EPSG:3857"),
    ((103.6, 36.0, 103.7, 36.1), "EPSG:4490"),
    ((410_000, 3_990_000, 420_000, 4_000_000), "EPSG:4543"),
])
def test_guess_crs_names_the_code(bounds, expect):
    assert expect in guess_crs_from_bounds(bounds)


def test_missing_crs_message_says_what_and_how(parcels_4490):
    gk = parcels_4490.to_crs(4523).set_crs(None, allow_override=True)
    with pytest.raises(CRSError) as err:
        require_crs(gk, what="parcels.gpkg")
    msg = str(err.value)
    assert "parcels.gpkg has no CRS" in msg and "zone 35" in msg and "--" not in msg  # the library names no flag
    assert err.value.setting == "crs" and err.value.suggestion == "EPSG:4523"
    from gis.cli import advice

    assert advice(err.value).endswith("pass --crs EPSG:4523")  # the command line adds the flag
    assert "\n" not in msg


def test_to_crs_errors_clearly():
    assert to_crs("4544").to_epsg() == 4544
    with pytest.raises(CRSError, match="EPSG:<code>"):
        to_crs("not a crs")
