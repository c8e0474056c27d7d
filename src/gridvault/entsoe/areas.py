"""The ENTSO-E area registry: bidding zones, control areas, countries, market balance areas.

Every area is one row of :data:`_AREAS`: the code name as entsoe-py spells it (``DE_LU``,
``DK_1``, ``NO_5``, ``IT_NORD``, …), its EIC code, a readable name, what kind(s) of area the
EIC is, and the IANA time zone in which the area publishes (used to read naive user input and
to step calendar resolutions).

Why the kinds matter: ENTSO-E answers HTTP 400 when an endpoint gets the wrong kind of area
(per-unit generation and outages want a *bidding zone*, balancing items a *control area*,
Germany has a country EIC ``DE`` that almost no endpoint accepts). One EIC is often several
kinds at once (``AT`` is bidding zone, control area, market balance area and country), so
``kinds`` is a tuple.

The table contains every member of entsoe-py's ``Area`` enum (the floor: users already know
these names), with entsoe-py's EIC and time zone, plus a few areas of the official
Transparency Platform list that entsoe-py lacks (``DK_1A``, ``AM``, ``AZ``, bidding-zone
aggregations, regions, load-frequency blocks).

entsoe-py quirks kept on purpose:

* ``LU_BZN`` shares the EIC of ``DE_LU`` and ``GB_NIR`` that of ``NIE``; in entsoe-py these are
  enum *aliases*, so their effective time zone is that of the entry they alias
  (``Europe/Berlin`` and ``Europe/London``; the zone rules are identical anyway).
* ``IS`` has the literal EIC ``IS`` and ``XK`` the zone ``Europe/Rome`` (same rules as
  ``Europe/Belgrade``); ``UA*`` use the backward-compatible name ``Europe/Kiev``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

from gridvault.errors import InputError

BIDDING_ZONE = "bidding_zone"
CONTROL_AREA = "control_area"
COUNTRY = "country"
MARKET_BALANCE_AREA = "market_balance_area"
OTHER = "other"


@dataclass(frozen=True)
class Area:
    """One ENTSO-E area: entsoe-py code name, EIC, readable name, kinds, IANA time zone."""

    code: str
    eic: str
    name: str
    kinds: tuple[str, ...]
    tz: str

    def is_kind(self, kind: str) -> bool:
        """True when this EIC is used as ``kind`` (``bidding_zone``, ``control_area``, …)."""
        return kind in self.kinds


_BZ = (BIDDING_ZONE,)
_CA = (CONTROL_AREA,)
_MBA = (MARKET_BALANCE_AREA,)
_BZ_MBA = (BIDDING_ZONE, MARKET_BALANCE_AREA)
_BZ_CA_MBA = (BIDDING_ZONE, CONTROL_AREA, MARKET_BALANCE_AREA)
_NATIONAL = (BIDDING_ZONE, CONTROL_AREA, MARKET_BALANCE_AREA, COUNTRY)
_CA_MBA_COUNTRY = (CONTROL_AREA, MARKET_BALANCE_AREA, COUNTRY)
_OTHER = (OTHER,)
_BZ_CA = (BIDDING_ZONE, CONTROL_AREA)
_BZ_OTHER = (BIDDING_ZONE, OTHER)
_CA_OTHER = (CONTROL_AREA, OTHER)
_CA_COUNTRY = (CONTROL_AREA, COUNTRY)
_BZ_MBA_COUNTRY = (BIDDING_ZONE, MARKET_BALANCE_AREA, COUNTRY)
_BZ_CA_COUNTRY = (BIDDING_ZONE, CONTROL_AREA, COUNTRY)

# Order matters only among rows sharing an EIC: see area_by_eic.
_AREAS: tuple[Area, ...] = (
    # --- national areas: one EIC is bidding zone, control area, MBA and country -------------
    Area("AL", "10YAL-KESH-----5", "Albania (OST)", _NATIONAL, "Europe/Tirane"),
    Area("AT", "10YAT-APG------L", "Austria (APG)", _NATIONAL, "Europe/Vienna"),
    Area("BA", "10YBA-JPCC-----D", "Bosnia and Herzegovina", _NATIONAL, "Europe/Sarajevo"),
    Area("BE", "10YBE----------2", "Belgium (Elia)", _NATIONAL, "Europe/Brussels"),
    Area("BG", "10YCA-BULGARIA-R", "Bulgaria (ESO)", _NATIONAL, "Europe/Sofia"),
    Area("BY", "10Y1001A1001A51S", "Belarus", _NATIONAL, "Europe/Minsk"),
    Area("CH", "10YCH-SWISSGRIDZ", "Switzerland (Swissgrid)", _NATIONAL, "Europe/Zurich"),
    Area("CY", "10YCY-1001A0003J", "Cyprus (Cyprus TSO)", _NATIONAL, "Asia/Nicosia"),
    Area("CZ", "10YCZ-CEPS-----N", "Czech Republic (CEPS)", _NATIONAL, "Europe/Prague"),
    Area("EE", "10Y1001A1001A39I", "Estonia (Elering)", _NATIONAL, "Europe/Tallinn"),
    Area("ES", "10YES-REE------0", "Spain (REE)", _NATIONAL, "Europe/Madrid"),
    Area("FI", "10YFI-1--------U", "Finland (Fingrid)", _NATIONAL, "Europe/Helsinki"),
    Area("FR", "10YFR-RTE------C", "France (RTE)", _NATIONAL, "Europe/Paris"),
    Area("GE", "10Y1001A1001B012", "Georgia", _NATIONAL, "Asia/Tbilisi"),
    Area("GR", "10YGR-HTSO-----Y", "Greece (IPTO)", _NATIONAL, "Europe/Athens"),
    Area("HR", "10YHR-HEP------M", "Croatia (HOPS)", _NATIONAL, "Europe/Zagreb"),
    Area("HU", "10YHU-MAVIR----U", "Hungary (MAVIR)", _NATIONAL, "Europe/Budapest"),
    Area("LT", "10YLT-1001A0008Q", "Lithuania (Litgrid)", _NATIONAL, "Europe/Vilnius"),
    Area("LV", "10YLV-1001A00074", "Latvia (AST)", _NATIONAL, "Europe/Riga"),
    Area("MD", "10Y1001A1001A990", "Moldova (Moldelectrica)", _NATIONAL, "Europe/Chisinau"),
    Area("ME", "10YCS-CG-TSO---S", "Montenegro (CGES)", _NATIONAL, "Europe/Podgorica"),
    Area("MK", "10YMK-MEPSO----8", "North Macedonia (MEPSO)", _NATIONAL, "Europe/Skopje"),
    Area("MT", "10Y1001A1001A93C", "Malta", _NATIONAL, "Europe/Malta"),
    Area("NL", "10YNL----------L", "Netherlands (TenneT NL)", _NATIONAL, "Europe/Amsterdam"),
    Area("PL", "10YPL-AREA-----S", "Poland (PSE)", _NATIONAL, "Europe/Warsaw"),
    Area("PT", "10YPT-REN------W", "Portugal (REN)", _NATIONAL, "Europe/Lisbon"),
    Area("RO", "10YRO-TEL------P", "Romania (Transelectrica)", _NATIONAL, "Europe/Bucharest"),
    Area("RS", "10YCS-SERBIATSOV", "Serbia (EMS)", _NATIONAL, "Europe/Belgrade"),
    Area("RU", "10Y1001A1001A49F", "Russia", _NATIONAL, "Europe/Moscow"),
    Area("SI", "10YSI-ELES-----O", "Slovenia (ELES)", _NATIONAL, "Europe/Ljubljana"),
    Area("SK", "10YSK-SEPS-----K", "Slovakia (SEPS)", _NATIONAL, "Europe/Bratislava"),
    Area("TR", "10YTR-TEIAS----W", "Turkey (TEIAS)", _NATIONAL, "Europe/Istanbul"),
    Area("XK", "10Y1001C--00100H", "Kosovo (KOSTT)", _NATIONAL, "Europe/Rome"),
    Area("GB", "10YGB----------A", "Great Britain (National Grid)", _BZ_CA_MBA, "Europe/London"),
    Area("RU_KGD", "10Y1001A1001A50U", "Russia Kaliningrad", _BZ_CA_MBA, "Europe/Kaliningrad"),
    # --- countries whose EIC is not (only) one bidding zone ----------------------------------
    Area("DE", "10Y1001A1001A83F", "Germany", (COUNTRY,), "Europe/Berlin"),
    Area("DK", "10Y1001A1001A65H", "Denmark", (COUNTRY,), "Europe/Copenhagen"),
    Area("UK", "10Y1001A1001A92E", "United Kingdom", (COUNTRY,), "Europe/London"),
    Area("IS", "IS", "Iceland", (COUNTRY,), "Atlantic/Reykjavik"),
    Area("IT", "10YIT-GRTN-----B", "Italy (Terna)", _CA_MBA_COUNTRY, "Europe/Rome"),
    Area("NO", "10YNO-0--------C", "Norway (Statnett)", _CA_MBA_COUNTRY, "Europe/Oslo"),
    Area("SE", "10YSE-1--------K", "Sweden (SvK)", _CA_MBA_COUNTRY, "Europe/Stockholm"),
    Area("IE", "10YIE-1001A00010", "Ireland (EirGrid)", _CA_COUNTRY, "Europe/Dublin"),
    Area("LU", "10YLU-CEGEDEL-NQ", "Luxembourg (Creos)", _CA_COUNTRY, "Europe/Luxembourg"),
    Area("UA", "10Y1001C--00003F", "Ukraine", _BZ_MBA_COUNTRY, "Europe/Kiev"),
    Area("AM", "10Y1001A1001B004", "Armenia", _BZ_CA_COUNTRY, "Asia/Yerevan"),
    Area("AZ", "10Y1001A1001B05V", "Azerbaijan", _BZ_CA_COUNTRY, "Asia/Baku"),
    # --- bidding zones inside countries ------------------------------------------------------
    Area("DE_LU", "10Y1001A1001A82H", "Germany-Luxembourg", _BZ_MBA, "Europe/Berlin"),
    # Same EIC as DE_LU (entsoe-py alias): the Luxembourg part of the DE-LU zone.
    Area("LU_BZN", "10Y1001A1001A82H", "Luxembourg (DE-LU bidding zone)", _BZ, "Europe/Berlin"),
    Area("DE_AT_LU", "10Y1001A1001A63L", "DE-AT-LU (until 2018-10)", _BZ, "Europe/Berlin"),
    Area("CZ_DE_SK", "10YDOM-CZ-DE-SKK", "CZ-DE-SK", _BZ_OTHER, "Europe/Prague"),
    Area("DK_1", "10YDK-1--------W", "Denmark DK1", _BZ_MBA, "Europe/Copenhagen"),
    Area("DK_1A", "10YDK-1-------AA", "Denmark DK1A", _BZ, "Europe/Copenhagen"),
    Area("DK_2", "10YDK-2--------M", "Denmark DK2", _BZ_MBA, "Europe/Copenhagen"),
    Area("DK_1_NO_1", "46Y000000000007M", "Denmark DK1-Norway NO1", _BZ, "Europe/Copenhagen"),
    Area("NO_1", "10YNO-1--------2", "Norway NO1", _BZ_MBA, "Europe/Oslo"),
    Area("NO_1A", "10Y1001A1001A64J", "Norway NO1A", _BZ, "Europe/Oslo"),
    Area("NO_2", "10YNO-2--------T", "Norway NO2", _BZ_MBA, "Europe/Oslo"),
    Area("NO_2A", "10Y1001C--001219", "Norway NO2A", _BZ, "Europe/Oslo"),
    Area("NO_2_NSL", "50Y0JVU59B4JWQCU", "Norway NO2 North Sea Link", _BZ_MBA, "Europe/Oslo"),
    Area("NO_3", "10YNO-3--------J", "Norway NO3", _BZ_MBA, "Europe/Oslo"),
    Area("NO_4", "10YNO-4--------9", "Norway NO4", _BZ_MBA, "Europe/Oslo"),
    Area("NO_5", "10Y1001A1001A48H", "Norway NO5", _BZ_MBA, "Europe/Oslo"),
    Area("SE_1", "10Y1001A1001A44P", "Sweden SE1", _BZ_MBA, "Europe/Stockholm"),
    Area("SE_2", "10Y1001A1001A45N", "Sweden SE2", _BZ_MBA, "Europe/Stockholm"),
    Area("SE_3", "10Y1001A1001A46L", "Sweden SE3", _BZ_MBA, "Europe/Stockholm"),
    Area("SE_4", "10Y1001A1001A47J", "Sweden SE4", _BZ_MBA, "Europe/Stockholm"),
    Area("IE_SEM", "10Y1001A1001A59C", "Ireland (SEM)", _BZ_MBA, "Europe/Dublin"),
    Area("GB_IFA", "10Y1001C--00098F", "GB IFA", _BZ, "Europe/London"),
    Area("GB_IFA2", "17Y0000009369493", "GB IFA2", _BZ, "Europe/London"),
    Area("GB_ELECLINK", "11Y0-0000-0265-K", "GB ElecLink", _BZ, "Europe/London"),
    Area("IT_NORD", "10Y1001A1001A73I", "Italy North", _BZ_MBA, "Europe/Rome"),
    Area("IT_CNOR", "10Y1001A1001A70O", "Italy Centre-North", _BZ_MBA, "Europe/Rome"),
    Area("IT_CSUD", "10Y1001A1001A71M", "Italy Centre-South", _BZ_MBA, "Europe/Rome"),
    Area("IT_SUD", "10Y1001A1001A788", "Italy South", _BZ_MBA, "Europe/Rome"),
    Area("IT_CALA", "10Y1001C--00096J", "Italy Calabria", _BZ_MBA, "Europe/Rome"),
    Area("IT_SICI", "10Y1001A1001A75E", "Italy Sicily", _BZ_MBA, "Europe/Rome"),
    Area("IT_SARD", "10Y1001A1001A74G", "Italy Sardinia", _BZ_MBA, "Europe/Rome"),
    Area("IT_BRNN", "10Y1001A1001A699", "Italy Brindisi", _BZ_MBA, "Europe/Rome"),
    Area("IT_FOGN", "10Y1001A1001A72K", "Italy Foggia", _BZ_MBA, "Europe/Rome"),
    Area("IT_PRGP", "10Y1001A1001A76C", "Italy Priolo", _BZ_MBA, "Europe/Rome"),
    Area("IT_ROSN", "10Y1001A1001A77A", "Italy Rossano", _BZ_MBA, "Europe/Rome"),
    Area("IT_GR", "10Y1001A1001A66F", "Italy-Greece", _BZ, "Europe/Rome"),
    Area("IT_MALTA", "10Y1001A1001A877", "Italy-Malta", _BZ, "Europe/Rome"),
    Area("IT_NORD_AT", "10Y1001A1001A80L", "Italy North-Austria", _BZ, "Europe/Rome"),
    Area("IT_NORD_CH", "10Y1001A1001A68B", "Italy North-Switzerland", _BZ, "Europe/Rome"),
    Area("IT_NORD_FR", "10Y1001A1001A81J", "Italy North-France", _BZ, "Europe/Rome"),
    Area("IT_NORD_SI", "10Y1001A1001A67D", "Italy North-Slovenia", _BZ, "Europe/Rome"),
    Area("IT_SACO_AC", "10Y1001A1001A885", "Italy SACO AC", _BZ, "Europe/Rome"),
    Area("IT_SACO_DC", "10Y1001A1001A893", "Italy SACO DC", _BZ, "Europe/Rome"),
    Area("IT_MACRO_NORTH", "10Y1001A1001A84D", "Italy Macrozone North", _MBA, "Europe/Rome"),
    Area("IT_MACRO_SOUTH", "10Y1001A1001A85B", "Italy Macrozone South", _MBA, "Europe/Rome"),
    Area("UA_IPS", "10Y1001C--000182", "Ukraine IPS", _BZ_CA_MBA, "Europe/Kiev"),
    Area("UA_BEI", "10YUA-WEPS-----0", "Ukraine BEI", _BZ_CA_MBA, "Europe/Kiev"),
    Area("UA_DOBTPP", "10Y1001A1001A869", "Ukraine DobTPP", _BZ_CA, "Europe/Kiev"),
    # --- control areas inside countries ------------------------------------------------------
    Area("DE_50HZ", "10YDE-VE-------2", "Germany 50Hertz", _CA, "Europe/Berlin"),
    Area("DE_AMPRION", "10YDE-RWENET---I", "Germany Amprion", _CA, "Europe/Berlin"),
    Area("DE_TENNET", "10YDE-EON------1", "Germany TenneT", _CA, "Europe/Berlin"),
    Area("DE_TRANSNET", "10YDE-ENBW-----N", "Germany TransnetBW", _CA, "Europe/Berlin"),
    Area("DE_AMP_LU", "10Y1001C--00002H", "Amprion Luxembourg", _CA, "Europe/Berlin"),
    Area("DK_CA", "10Y1001A1001A796", "Denmark (Energinet)", _CA, "Europe/Copenhagen"),
    Area("NIE", "10Y1001A1001A016", "Northern Ireland (SONI)", _CA, "Europe/London"),
    # Same EIC as NIE (entsoe-py alias).
    Area("GB_NIR", "10Y1001A1001A016", "Northern Ireland (SONI)", _CA, "Europe/London"),
    Area("PL_CZ", "10YDOM-1001A082L", "PL-CZ", _CA_OTHER, "Europe/Warsaw"),
    # --- aggregations, regions, synchronous areas, load-frequency blocks ---------------------
    Area("CWE", "10YDOM-REGION-1V", "Central Western Europe region", _OTHER, "Europe/Brussels"),
    Area("CZ_DE_SK_LT_SE4", "10Y1001C--00038X", "CZ-DE-SK-LT-SE4", _OTHER, "Europe/Prague"),
    Area("LT_SE4", "10YDOM-PL-SE-LT2", "Lithuania-SE4 aggregation", _OTHER, "Europe/Vilnius"),
    Area("REGION_CORE", "10Y1001C--00059P", "Core region", _OTHER, "Europe/Brussels"),
    Area("REGION_NORDIC", "10Y1001A1001A91G", "Nordic region", _OTHER, "Europe/Stockholm"),
    Area("REGION_SWE", "10Y1001C--00095L", "South-West Europe region", _OTHER, "Europe/Madrid"),
    Area("REGION_ITALY_NORTH", "10Y1001C--00137V", "Italy North region", _OTHER, "Europe/Rome"),
    Area("REGION_GRIT", "10Y1001C--00138T", "Greece-Italy region", _OTHER, "Europe/Rome"),
    Area("REGION_AFRR", "10Y1001C--00090V", "aFRR platform region", _OTHER, "Europe/Brussels"),
    Area("CE_SYNC", "10YEU-CONT-SYNC0", "Continental Europe", _OTHER, "Europe/Brussels"),
    Area("LFB_DE_DK1_LU", "10YCB-GERMANY--8", "DE-DK1-LU LFC block", _OTHER, "Europe/Berlin"),
    Area("LFB_PL", "10YCB-POLAND---Z", "Poland LFC block", _OTHER, "Europe/Warsaw"),
    Area("LFB_RS_MK_ME", "10YCB-JIEL-----9", "RS-MK-ME LFC block", _OTHER, "Europe/Belgrade"),
    Area("LFB_SI_HR_BA", "10YCB-SI-HR-BA-3", "SI-HR-BA LFC block", _OTHER, "Europe/Ljubljana"),
)


def all_areas() -> tuple[Area, ...]:
    """Every registered area, in table order."""
    return _AREAS


def _normalise(text: str) -> str:
    return text.strip().upper().replace("-", "_")


@cache
def _by_code() -> dict[str, Area]:
    return {area.code: area for area in _AREAS}


@cache
def _by_eic() -> dict[str, Area]:
    """EIC → preferred area; see :func:`area_by_eic` for the rule."""
    preferred: dict[str, Area] = {}
    for area in _AREAS:
        current = preferred.get(area.eic)
        if current is None or (area.is_kind(BIDDING_ZONE) and not current.is_kind(BIDDING_ZONE)):
            preferred[area.eic] = area
    return preferred


@cache
def _by_normalised_eic() -> dict[str, Area]:
    # EICs contain '-' as padding; compare them with the same normalisation as codes.
    return {_normalise(eic): area for eic, area in _by_eic().items()}


def area_by_eic(eic: str) -> Area | None:
    """The area with EIC ``eic`` (exact, case-insensitive), or None.

    When several codes share one EIC (entsoe-py has ``DE_LU``/``LU_BZN`` and
    ``NIE``/``GB_NIR``), the preferred entry is the first one in table order that is a
    bidding zone, else the first one in table order: ``DE_LU`` and ``NIE``.
    """
    area = _by_eic().get(eic.strip())
    if area is None:
        area = _by_normalised_eic().get(_normalise(eic))
    return area


def lookup_area(text: str) -> Area:
    """The area named by a code (``DE_LU``, ``de-lu``) or an EIC (``10Y1001A1001A82H``).

    Case and surrounding whitespace are ignored and ``-`` is read as ``_``. An unknown name
    raises :class:`InputError` listing up to three close matches.
    """
    key = _normalise(text)
    area = _by_code().get(key) or _by_normalised_eic().get(key)
    if area is not None:
        return area
    # Compare normalised spellings, suggest as written: codes, then EICs.
    spelled = {code: code for code in _by_code()}
    spelled.update({_normalise(eic): eic for eic in _by_eic()})
    matches = difflib.get_close_matches(key, list(spelled), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(spelled[match] for match in matches)}?" if matches else ""
    raise InputError(f"unknown area {text.strip()!r}{hint}")
