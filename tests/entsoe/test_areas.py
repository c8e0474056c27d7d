"""The area registry: entsoe-py's Area enum is the floor, lookups forgive case and dashes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from entsoe.mappings import Area as EntsoePyArea

from gridvault.entsoe.areas import Area, all_areas, area_by_eic, lookup_area
from gridvault.errors import InputError

KINDS = {"bidding_zone", "control_area", "country", "market_balance_area", "other"}


@pytest.mark.parametrize("code", list(EntsoePyArea.__members__))
def test_every_entsoe_py_area_is_registered_with_its_eic_and_time_zone(code: str) -> None:
    theirs = EntsoePyArea[code]  # aliases (LU_BZN, GB_NIR) resolve like entsoe-py does
    ours = lookup_area(code)
    assert ours.code == code
    assert ours.eic == theirs.value
    assert ours.tz == theirs.tz


def test_registry_rows_are_well_formed() -> None:
    areas = all_areas()
    assert len(areas) >= len(EntsoePyArea.__members__)
    assert len({area.code for area in areas}) == len(areas)
    for area in areas:
        assert area.code == area.code.upper().strip()
        assert "-" not in area.code
        assert area.kinds
        assert set(area.kinds) <= KINDS, area
        assert area.name
        ZoneInfo(area.tz)  # a real IANA zone


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("DE_LU", "DE_LU"),
        ("de_lu", "DE_LU"),
        ("DE-LU", "DE_LU"),
        ("  de-lu\t", "DE_LU"),
        ("10Y1001A1001A82H", "DE_LU"),
        ("10y1001a1001a82h", "DE_LU"),
        ("10YDE-VE-------2", "DE_50HZ"),
        ("10yde-ve-------2", "DE_50HZ"),
        ("dk_1", "DK_1"),
        ("NO-5", "NO_5"),
        ("it_nord", "IT_NORD"),
        ("LU_BZN", "LU_BZN"),
        ("10Y1001A1001A016", "NIE"),
        ("DK_1A", "DK_1A"),
    ],
)
def test_lookup_by_code_or_eic(text: str, code: str) -> None:
    assert lookup_area(text).code == code


def test_lookup_returns_full_rows() -> None:
    assert lookup_area("DE_LU") == Area(
        code="DE_LU",
        eic="10Y1001A1001A82H",
        name="Germany-Luxembourg",
        kinds=("bidding_zone", "market_balance_area"),
        tz="Europe/Berlin",
    )
    austria = lookup_area("AT")
    assert set(austria.kinds) == {"bidding_zone", "control_area", "market_balance_area", "country"}
    assert lookup_area("DE").kinds == ("country",)
    assert lookup_area("DE_AMPRION").kinds == ("control_area",)
    assert lookup_area("FI").tz == "Europe/Helsinki"


def test_typo_lists_close_matches() -> None:
    with pytest.raises(InputError) as caught:
        lookup_area("DE_LUX")
    message = str(caught.value)
    assert message.startswith("unknown area 'DE_LUX'; did you mean DE_LU, DE_AT_LU")
    assert message.count(",") <= 2  # at most three suggestions


def test_eic_typo_suggests_the_eic_as_written() -> None:
    with pytest.raises(InputError, match=r"did you mean 10YDE-VE-------2"):
        lookup_area("10YDE-VE-------3")


def test_unknown_area_without_near_match() -> None:
    with pytest.raises(InputError, match=r"^unknown area 'QQQQQQ'$"):
        lookup_area("  QQQQQQ ")


def test_area_by_eic_prefers_the_bidding_zone_spelling() -> None:
    # entsoe-py's LU_BZN and GB_NIR share an EIC with DE_LU and NIE.
    de_lu = area_by_eic("10Y1001A1001A82H")
    assert de_lu is not None
    assert de_lu.code == "DE_LU"
    nie = area_by_eic("10Y1001A1001A016")
    assert nie is not None
    assert nie.code == "NIE"


def test_area_by_eic_is_exact_about_eics() -> None:
    netherlands = area_by_eic("10YNL----------L")
    assert netherlands is not None
    assert netherlands.code == "NL"
    assert area_by_eic("NL") is None  # a code is not an EIC
    assert area_by_eic("10YXX----------X") is None


def test_every_eic_resolves_to_an_area_with_that_eic() -> None:
    for area in all_areas():
        found = area_by_eic(area.eic)
        assert found is not None
        assert found.eic == area.eic
