"""The ENTSO-E dataset catalog: one row of data per dataset, no method per endpoint.

Each :class:`Dataset` row says how to ask the Transparency Platform API for it (document,
process and business type, which query parameters take the area, fixed parameters, the
largest window one request may cover, offset paging, whether the answer is a ZIP) and how
to read and check what comes back (unit, typical resolution, whether ``createdDateTime`` is
the publish time of the values, a plausible value range). One generic request builder
(:func:`request_params`) and one parser serve every row, so adding a dataset is a row.

Codes follow the Transparency Platform RESTful API guide and entsoe-py 0.8 (which is
proven against the live API); the bundled recorded documents (``gridvault.demo.ENTSOE_DIR``)
confirm what real documents carry. Things worth knowing:

* Real documents do not always carry the process type that was requested: A44, A09, A11,
  A61 documents have none; outage documents say ``A26`` whatever was asked. A61 (NTC)
  documents carry neither process nor contract type, so day-/week-/month-/year-ahead can
  only be told apart by resolution, and week- from month-ahead not at all (see
  :func:`identify`).
* Parameter names are spelled as the guide spells them, including its inconsistent case:
  ``contract_MarketAgreement.type`` for energy prices, ``contract_MarketAgreement.Type``
  for exchanges and capacities.
* Limits (window, page size) are per item and ENTSO-E changes them without notice
  (Nov 2025); they are data here so they can be changed in one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from gridvault.entsoe.areas import lookup_area
from gridvault.errors import InputError

ACTUAL = "actual"
FORECAST = "forecast"
AUCTION = "auction"
CAPACITY = "capacity"
OUTAGE = "outage"
BALANCING = "balancing"

_CONTRACT = "contract_MarketAgreement.Type"
_PRICE_CONTRACT = "contract_MarketAgreement.type"  # the A44 spelling in the guide
_RESERVE_AGREEMENT = "type_MarketAgreement.Type"


@dataclass(frozen=True)
class Dataset:
    """One ENTSO-E data item and everything needed to request, identify and check it.

    ``process_type``/``business_type`` are the request filters (None: not sent).
    ``match_process``/``match_business``/``match_contract`` are the codes that *documents*
    of this dataset carry, used by :func:`identify`; empty means "does not tell this
    dataset apart". ``window_limit`` is the longest ``periodStart``..``periodEnd`` span one
    request may cover (ISO 8601 duration); ``page_size``/``max_offset`` describe ``offset``
    paging (None: the item is not paged). ``forecast`` is True when ``createdDateTime`` is
    the publish time of the values (forecasts, auction results), so it is stored as
    ``publish_time`` for as-of queries.
    """

    name: str
    description: str
    document_type: str
    process_type: str | None
    business_type: str | None
    domain_params: tuple[str, ...]
    border: bool
    fixed_params: tuple[tuple[str, str], ...]
    window_limit: str
    page_size: int | None
    max_offset: int | None
    zipped: bool
    unit: str
    resolution: str
    kind: str
    forecast: bool
    published: str
    plausible_min: float | None
    plausible_max: float | None
    outage: bool = False
    match_process: tuple[str, ...] = ()
    match_business: tuple[str, ...] = ()
    match_contract: tuple[str, ...] = ()


_BZ_OUT = ("outBiddingZone_Domain",)
_IN = ("in_Domain",)
_IN_OUT = ("in_Domain", "out_Domain")
_CONTROL_AREA = ("controlArea_Domain",)
_BIDDING_ZONE = ("biddingZone_Domain",)

_LOAD_PUBLISHED = {
    "A01": "day-ahead, no later than two hours before the day-ahead gate closure (~10:00 CET)",
    "A31": "every Friday for the following week (daily min/max)",
    "A32": "no later than one week before the delivery month (weekly min/max)",
    "A33": "once a year, no later than the 15th of the month before the year (weekly min/max)",
}


def _load_forecast(name: str, horizon: str, process: str, resolution: str) -> Dataset:
    return Dataset(
        name=name,
        description=f"{horizon} forecast of total load per bidding zone [6.1.B/C/D/E]",
        document_type="A65",
        process_type=process,
        business_type=None,
        domain_params=_BZ_OUT,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution=resolution,
        kind=FORECAST,
        forecast=True,
        published=_LOAD_PUBLISHED[process],
        plausible_min=0.0,
        plausible_max=200_000.0,
        match_process=(process,),
    )


def _wind_solar(name: str, horizon: str, process: str, published: str) -> Dataset:
    return Dataset(
        name=name,
        description=f"{horizon} wind and solar generation forecast per bidding zone [14.1.D]",
        document_type="A69",
        process_type=process,
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT15M",
        kind=FORECAST,
        forecast=True,
        published=published,
        plausible_min=0.0,
        plausible_max=150_000.0,
        match_process=(process,),
    )


_NTC_HORIZONS = {
    # contract type: (name suffix, matching process type if a document carries one,
    #                 typical resolution, publication rule)
    "A01": ("day_ahead", "A01", "PT60M", "daily, one hour before the day-ahead gate closure"),
    "A02": ("week_ahead", "A31", "P1D", "weekly, every Friday for the following week"),
    "A03": ("month_ahead", "A32", "P1D", "monthly, two working days before the month"),
    "A04": ("year_ahead", "A33", "P1Y", "yearly, one week before the yearly allocation"),
}


def _ntc(contract: str) -> Dataset:
    suffix, process, resolution, published = _NTC_HORIZONS[contract]
    return Dataset(
        name=f"ntc_{suffix}",
        description=f"forecasted {suffix.replace('_', '-')} net transfer capacity [11.1.A]",
        document_type="A61",
        process_type=None,
        business_type=None,
        domain_params=_IN_OUT,
        border=True,
        fixed_params=((_CONTRACT, contract),),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution=resolution,
        kind=CAPACITY,
        forecast=True,
        published=published,
        plausible_min=0.0,
        plausible_max=30_000.0,
        match_process=(process,),
        match_contract=(contract,),
    )


def _outage(
    name: str, document_type: str, what: str, *, border: bool = False, zipped: bool = True
) -> Dataset:
    return Dataset(
        name=name,
        description=f"unavailability of {what}",
        document_type=document_type,
        process_type=None,
        business_type=None,
        domain_params=_IN_OUT if border else _BIDDING_ZONE,
        border=border,
        fixed_params=(),
        window_limit="P1Y",
        # Outage ZIPs hold at most 200 documents; offset steps of 200 up to 4800.
        page_size=200 if zipped else None,
        max_offset=4800 if zipped else None,
        zipped=zipped,
        unit="MW",
        resolution="PT60M",
        kind=OUTAGE,
        forecast=False,
        published="within one hour after a planned outage is decided or a forced one happens",
        plausible_min=0.0,
        plausible_max=10_000.0,
        outage=True,
    )


_DATASETS: tuple[Dataset, ...] = (
    # --- load [6.1] -----------------------------------------------------------------------
    Dataset(
        name="load_actual",
        description="actual total load per bidding zone [6.1.A]",
        document_type="A65",
        process_type="A16",
        business_type=None,
        domain_params=_BZ_OUT,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT15M",
        kind=ACTUAL,
        forecast=False,
        published="no later than one hour after each market time unit",
        plausible_min=0.0,
        plausible_max=200_000.0,
        match_process=("A16",),
    ),
    _load_forecast("load_forecast_day_ahead", "day-ahead", "A01", "PT15M"),
    _load_forecast("load_forecast_week_ahead", "week-ahead", "A31", "P1D"),
    _load_forecast("load_forecast_month_ahead", "month-ahead", "A32", "P7D"),
    _load_forecast("load_forecast_year_ahead", "year-ahead", "A33", "P7D"),
    # --- generation [14.1, 16.1] ----------------------------------------------------------
    Dataset(
        name="generation_actual_per_type",
        description="actual generation per production type (psrType) [16.1.B/C]",
        document_type="A75",
        process_type="A16",
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT15M",
        kind=ACTUAL,
        forecast=False,
        published="no later than one hour after each market time unit",
        plausible_min=0.0,
        plausible_max=150_000.0,
        match_process=("A16",),
    ),
    Dataset(
        name="generation_actual_per_unit",
        description="actual generation per generation unit >= 100 MW [16.1.A]",
        document_type="A73",
        process_type="A16",
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        # The one common item limited to one day per request.
        window_limit="P1D",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT60M",
        kind=ACTUAL,
        forecast=False,
        published="no later than five days after the operational period",
        plausible_min=0.0,
        plausible_max=3_000.0,
        match_process=("A16",),
    ),
    Dataset(
        name="generation_forecast_day_ahead",
        description="day-ahead aggregated generation forecast per bidding zone [14.1.C]",
        document_type="A71",
        process_type="A01",
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT15M",
        kind=FORECAST,
        forecast=True,
        published="no later than 18:00 CET on the day before delivery",
        plausible_min=0.0,
        plausible_max=200_000.0,
        match_process=("A01",),
    ),
    _wind_solar(
        "wind_solar_forecast_day_ahead",
        "day-ahead",
        "A01",
        "no later than 18:00 CET on the day before delivery",
    ),
    _wind_solar(
        "wind_solar_forecast_intraday",
        "intraday",
        "A40",
        "intraday updates, at least once a day at 08:00 CET for the same day",
    ),
    _wind_solar(
        "wind_solar_forecast_current",
        "current (latest)",
        "A18",
        "the latest intraday forecast, refreshed during the day",
    ),
    Dataset(
        name="installed_capacity_per_type",
        description="installed generation capacity per production type [14.1.A]",
        document_type="A68",
        process_type="A33",
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="P1Y",
        kind=CAPACITY,
        forecast=False,
        published="once a year, one week before the end of the previous year",
        plausible_min=0.0,
        plausible_max=200_000.0,
        match_process=("A33",),
    ),
    Dataset(
        name="installed_capacity_per_unit",
        description="installed capacity per production unit >= 100 MW [14.1.B]",
        document_type="A71",
        process_type="A33",
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        # The guide states no limit; one year keeps requests comparable with the rest.
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="P1Y",
        kind=CAPACITY,
        forecast=False,
        published="once a year, for the following three years",
        plausible_min=0.0,
        plausible_max=5_000.0,
        match_process=("A33",),
    ),
    Dataset(
        name="hydro_reservoir_filling",
        description="aggregated filling rate of water reservoirs and hydro storage [16.1.D]",
        document_type="A72",
        process_type="A16",
        business_type=None,
        domain_params=_IN,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MWh",
        resolution="P7D",
        kind=ACTUAL,
        forecast=False,
        published="weekly, no later than the third working day after the week",
        plausible_min=0.0,
        plausible_max=150_000_000.0,
        match_process=("A16",),
    ),
    # --- market [12.1] --------------------------------------------------------------------
    Dataset(
        name="day_ahead_prices",
        description="day-ahead auction prices (SDAC; EXAA as classificationSequence 2) [12.1.D]",
        document_type="A44",
        process_type=None,
        business_type=None,
        domain_params=_IN_OUT,  # the same zone in both
        border=False,
        fixed_params=((_PRICE_CONTRACT, "A01"),),
        window_limit="P1Y",
        # At most 100 TimeSeries per response: one year (one TS per day) needs offset pages.
        page_size=100,
        max_offset=4800,
        zipped=False,
        unit="EUR/MWh",
        resolution="PT15M",
        kind=AUCTION,
        forecast=True,
        published="day-ahead auction results after ~12:45 CET for the next day",
        # SDAC harmonised minimum and maximum clearing prices; negative prices are valid.
        plausible_min=-500.0,
        plausible_max=4_000.0,
        match_contract=("A01",),
    ),
    Dataset(
        name="intraday_auction_prices",
        description="intraday auction prices IDA1-IDA3 (classificationSequence) [12.1.D]",
        document_type="A44",
        process_type=None,
        business_type=None,
        domain_params=_IN_OUT,
        border=False,
        fixed_params=((_PRICE_CONTRACT, "A07"),),
        window_limit="P1Y",
        page_size=100,
        max_offset=4800,
        zipped=False,
        unit="EUR/MWh",
        resolution="PT15M",
        kind=AUCTION,
        forecast=True,
        published="IDA1 ~15:30 CET and IDA2 ~22:30 CET for the next day, IDA3 ~10:30 CET same day",
        # SIDC harmonised intraday price limits.
        plausible_min=-9_999.0,
        plausible_max=9_999.0,
        match_contract=("A07",),
    ),
    Dataset(
        name="net_positions",
        description="implicit day-ahead allocation net position per bidding zone [12.1.E]",
        document_type="A25",
        process_type=None,
        business_type="B09",
        domain_params=_IN_OUT,  # the same zone in both
        border=False,
        fixed_params=((_CONTRACT, "A01"),),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT15M",
        kind=AUCTION,
        forecast=True,
        published="after the day-ahead auction (~12:45 CET) for the next day",
        plausible_min=-50_000.0,
        plausible_max=50_000.0,
        match_business=("B09",),
        match_contract=("A01",),
    ),
    # --- transmission [11.1, 12.1.F, 12.1.G] ----------------------------------------------
    Dataset(
        name="physical_flows",
        description="cross-border physical flows, out_Domain -> in_Domain [12.1.G]",
        document_type="A11",
        process_type=None,
        business_type=None,
        domain_params=_IN_OUT,
        border=True,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT60M",
        kind=ACTUAL,
        forecast=False,
        published="no later than one hour after each market time unit",
        plausible_min=0.0,
        plausible_max=20_000.0,
    ),
    Dataset(
        name="scheduled_exchanges",
        description="scheduled commercial exchanges, total (A05) and day-ahead (A01) [12.1.F]",
        document_type="A09",
        process_type=None,
        business_type=None,
        domain_params=_IN_OUT,
        border=True,
        # Asking for the total (A05) returns the day-ahead (A01) series as well.
        fixed_params=((_CONTRACT, "A05"),),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT60M",
        kind=ACTUAL,
        forecast=False,
        published="day-ahead schedules after the day-ahead market; totals updated intraday",
        plausible_min=0.0,
        plausible_max=20_000.0,
        match_contract=("A01", "A05"),
    ),
    _ntc("A01"),
    _ntc("A02"),
    _ntc("A03"),
    _ntc("A04"),
    # --- balancing [17.1, GL EB] ----------------------------------------------------------
    Dataset(
        name="imbalance_prices",
        description="imbalance prices per imbalance settlement period [17.1.G]",
        document_type="A85",
        process_type=None,
        business_type=None,
        domain_params=_CONTROL_AREA,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=True,
        unit="EUR/MWh",
        resolution="PT15M",
        kind=BALANCING,
        forecast=False,
        published="shortly after each imbalance settlement period, revised when settled",
        plausible_min=-20_000.0,
        plausible_max=20_000.0,
    ),
    Dataset(
        name="imbalance_volumes",
        description="total imbalance volumes per imbalance settlement period [17.1.H]",
        document_type="A86",
        process_type=None,
        business_type=None,
        domain_params=_CONTROL_AREA,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=True,
        unit="MWh",
        resolution="PT15M",
        kind=BALANCING,
        forecast=False,
        published="shortly after each imbalance settlement period, revised when settled",
        plausible_min=-50_000.0,
        plausible_max=50_000.0,
        match_business=("A19",),
    ),
    Dataset(
        name="current_balancing_state",
        description="current balancing state / area control error [GL EB 12.3.A]",
        document_type="A86",
        process_type=None,
        business_type="B33",
        domain_params=("area_Domain",),
        border=False,
        fixed_params=(),
        window_limit="P100D",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="MW",
        resolution="PT1M",
        kind=BALANCING,
        forecast=False,
        published="near real time, per minute",
        plausible_min=-20_000.0,
        plausible_max=20_000.0,
        match_business=("B33",),
    ),
    Dataset(
        name="balancing_energy_prices",
        description="prices of activated balancing energy (aFRR, mFRR, RR) [17.1.F]",
        document_type="A84",
        process_type="A16",
        business_type=None,
        domain_params=_CONTROL_AREA,
        border=False,
        fixed_params=(),
        window_limit="P1Y",
        page_size=None,
        max_offset=None,
        zipped=False,
        unit="EUR/MWh",
        resolution="PT15M",
        kind=BALANCING,
        forecast=False,
        published="shortly after each imbalance settlement period",
        # Harmonised balancing energy price limits (European platforms).
        plausible_min=-15_000.0,
        plausible_max=15_000.0,
    ),
    Dataset(
        name="contracted_reserves",
        description="amount and price of contracted (procured) balancing reserves [17.1.B/C]",
        document_type="A81",
        # Mandatory in the request: A52 FCR, A51 aFRR, A47 mFRR, A46 RR (override per call).
        process_type="A52",
        business_type="B95",
        domain_params=_CONTROL_AREA,
        border=False,
        fixed_params=((_RESERVE_AGREEMENT, "A01"),),
        window_limit="P1Y",
        # At most 100 TimeSeries counted across all files of the ZIP.
        page_size=100,
        max_offset=4800,
        zipped=True,
        unit="MW",
        resolution="PT60M",
        kind=BALANCING,
        forecast=False,
        published="after each procurement auction (daily auctions on the day before delivery)",
        plausible_min=0.0,
        plausible_max=50_000.0,
        match_business=("B95",),
    ),
    # --- outages [7.1, 10.1, 15.1] --------------------------------------------------------
    _outage("outages_generation_units", "A80", "generation units [15.1.A/B]"),
    _outage("outages_production_units", "A77", "production units [15.1.C/D]"),
    _outage("outages_transmission", "A78", "transmission infrastructure [10.1.A/B]", border=True),
    _outage("outages_offshore_grid", "A79", "offshore grid infrastructure [10.1.C]"),
    # Answered as plain XML, not a ZIP (recorded sample).
    _outage("outages_consumption_units", "A76", "consumption units [7.1.A/B]", zipped=False),
)


def all_datasets() -> tuple[Dataset, ...]:
    """Every dataset of the catalog, in table order."""
    return _DATASETS


@cache
def _by_name() -> dict[str, Dataset]:
    return {dataset.name: dataset for dataset in _DATASETS}


def get_dataset(name: str) -> Dataset:
    """The dataset called ``name`` (case-insensitive); unknown names list close matches."""
    key = name.strip().lower().replace("-", "_")
    dataset = _by_name().get(key)
    if dataset is not None:
        return dataset
    matches = difflib.get_close_matches(key, list(_by_name()), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(matches)}?" if matches else ""
    raise InputError(f"unknown dataset {name.strip()!r}{hint}")


def _score(allowed: tuple[str, ...], value: str | None) -> int | None:
    """+1 when the document's code confirms the dataset, 0 when it says nothing, None: no."""
    if not allowed or value is None:
        return 0
    return 1 if value in allowed else None


def identify(
    document_type: str,
    process_type: str | None,
    business_type: str | None = None,
    contract_type: str | None = None,
    *,
    resolution: str | None = None,
) -> Dataset | None:
    """The dataset a parsed document (or one of its TimeSeries) belongs to, or None.

    Every dataset of the document type is a candidate; a process, business or contract
    code the document carries must be one its dataset's documents carry (``match_*``), and
    each code that confirms a candidate counts for it. The best-confirmed candidate wins;
    on a tie, a candidate whose typical resolution equals ``resolution`` wins, then the
    first in table order (so an old-XSD A44 without contract type is a day-ahead price and
    an A65 without process type is actual load).

    A61 (NTC) documents carry neither process nor contract type: pass the Period's
    ``resolution`` to tell a sub-daily day-ahead NTC from a daily one. Week-, month- and
    year-ahead A61 documents with a ``P1D`` resolution are indistinguishable and resolve to
    week-ahead; a caller that knows the requested dataset should trust the request instead.
    """
    best: Dataset | None = None
    best_rank: tuple[int, int] = (-1, -1)
    for dataset in _DATASETS:
        if dataset.document_type != document_type:
            continue
        scores = (
            _score(dataset.match_process, process_type),
            _score(dataset.match_business, business_type),
            _score(dataset.match_contract, contract_type),
        )
        if None in scores:
            continue
        rank = (
            sum(score or 0 for score in scores),
            int(resolution is not None and dataset.resolution == resolution),
        )
        if rank > best_rank:
            best, best_rank = dataset, rank
    return best


def _utc_stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InputError(f"naive datetime {moment.isoformat()} where an aware one is required")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def request_params(
    dataset: Dataset,
    area: str,
    area_to: str | None,
    start: datetime,
    end: datetime,
    *,
    offset: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The GET query parameters (without ``securityToken``) for one request window.

    ``area``/``area_to`` are codes or EICs (see :func:`gridvault.entsoe.areas.lookup_area`).
    For border datasets the flow goes from ``area`` to ``area_to``: ``out_Domain`` = area,
    ``in_Domain`` = area_to (ENTSO-E's convention). Non-border datasets put the one area in
    every domain parameter (A44 prices want it in both ``in_Domain`` and ``out_Domain``).
    ``start``/``end`` must be aware; they are sent as UTC ``yyyyMMddHHmm``. ``offset`` is
    added for paged datasets; ``extra`` adds or overrides parameters (``psrType``, another
    ``processType`` for contracted reserves, ``classificationSequence…``).
    """
    period_start, period_end = _utc_stamp(start), _utc_stamp(end)
    if end <= start:
        raise InputError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    params: dict[str, str] = {"documentType": dataset.document_type}
    if dataset.process_type is not None:
        params["processType"] = dataset.process_type
    if dataset.business_type is not None:
        params["businessType"] = dataset.business_type
    eic = lookup_area(area).eic
    if dataset.border:
        if area_to is None:
            raise InputError(f"{dataset.name} is between two areas: give the area it flows to")
        params["in_Domain"] = lookup_area(area_to).eic
        params["out_Domain"] = eic
    elif area_to is not None:
        raise InputError(f"{dataset.name} is for one area; do not give a second area")
    else:
        for param in dataset.domain_params:
            params[param] = eic
    params.update(dataset.fixed_params)
    params["periodStart"] = period_start
    params["periodEnd"] = period_end
    if offset is not None:
        if dataset.page_size is None:
            raise InputError(f"{dataset.name} is not paged; offset is not allowed")
        params["offset"] = str(offset)
    if extra:
        params.update(extra)
    return params
