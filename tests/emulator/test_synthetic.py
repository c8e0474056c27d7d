"""Synthetic documents: every catalog dataset parses with the real parser, with the number
of values the window implies; DST days, the 15-minute MTU switch, paging, gaps, revisions,
no future actuals, determinism."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.emulator.config import DEFAULT_TOKEN
from gridvault.emulator.query import read_query
from gridvault.emulator.synthetic import _fixed2, generate
from gridvault.entsoe.catalog import all_datasets, get_dataset, request_params
from gridvault.entsoe.parser import ParsedDocument, parse_document

TOKEN = DEFAULT_TOKEN
# Monday 2025-03-24 to Monday 2025-03-31 in NL: 167 hours (Sunday 30 March has 23).
WEEK = (datetime(2025, 3, 23, 23, tzinfo=UTC), datetime(2025, 3, 30, 22, tzinfo=UTC))
DST_DAY = (datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 30, 22, tzinfo=UTC))
QUARTERS, HOURS = 167 * 4, 167

# Values the parser must find for WEEK (DST_DAY for one-day items), per dataset.
EXPECTED_ROWS = {
    "load_actual": QUARTERS,
    "load_forecast_day_ahead": QUARTERS,
    "load_forecast_week_ahead": 2 * 7,  # min and max per day
    "load_forecast_month_ahead": 2,  # min and max for one week
    "load_forecast_year_ahead": 2,
    "generation_actual_per_type": 5 * QUARTERS,
    "generation_actual_per_unit": 3 * 23,
    "generation_forecast_day_ahead": QUARTERS,
    "wind_solar_forecast_day_ahead": 3 * QUARTERS,
    "wind_solar_forecast_intraday": 3 * QUARTERS,
    "wind_solar_forecast_current": 3 * QUARTERS,
    "installed_capacity_per_type": 6,
    "installed_capacity_per_unit": 3,
    "hydro_reservoir_filling": 1,
    "day_ahead_prices": HOURS,  # hourly before the 15-minute MTU
    "intraday_auction_prices": 3 * QUARTERS,  # IDA1-3
    "net_positions": QUARTERS,
    "physical_flows": HOURS,
    "scheduled_exchanges": 2 * HOURS,  # total (A05) and day-ahead (A01)
    "ntc_day_ahead": HOURS,
    "ntc_week_ahead": 7,
    "ntc_month_ahead": 7,
    "ntc_year_ahead": 1,
    "imbalance_prices": QUARTERS,
    "imbalance_volumes": 2 * QUARTERS,  # up and down
    "current_balancing_state": HOURS * 60,
    "balancing_energy_prices": 2 * QUARTERS,
    "contracted_reserves": 2 * HOURS,  # quantity and procurement price per Point
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(synthetic=True, rate_limit=10_000)) as running:
        yield running


def fetch(
    emulator: Emulator,
    dataset: str,
    area: str,
    window: tuple[datetime, datetime],
    *,
    area_to: str | None = None,
    offset: int | None = None,
) -> httpx.Response:
    params = request_params(get_dataset(dataset), area, area_to, *window, offset=offset)
    with httpx.Client(timeout=30) as client:
        return client.get(emulator.base_url, params=params | {"securityToken": TOKEN})


def parsed(response: httpx.Response) -> ParsedDocument:
    assert response.status_code == 200, response.text[-300:]
    return parse_document(response.content)


@pytest.mark.parametrize(
    "dataset", [d for d in all_datasets() if not d.outage], ids=lambda d: d.name
)
def test_every_value_dataset_parses_with_the_expected_number_of_values(
    emulator: Emulator, dataset: object
) -> None:
    name = dataset.name  # type: ignore[attr-defined]
    spec = get_dataset(name)
    window = DST_DAY if spec.window_limit == "P1D" else WEEK
    response = fetch(
        emulator,
        name,
        "NL",
        window,
        area_to="BE" if spec.border else None,
        offset=0 if spec.page_size else None,
    )
    expected_type = "application/zip" if spec.zipped else "text/xml"
    assert response.headers["content-type"] == expected_type
    document = parsed(response)
    assert document.kind == "values"
    values = document.values
    assert values.num_rows == EXPECTED_ROWS[name]
    mrids = set(values["document_mrid"].to_pylist())
    assert len(mrids) == 1
    assert mrids.pop().startswith("SYNTHETIC-")
    assert set(values["revision_number"].to_pylist()) == {1}
    # A61 week- and month-ahead documents are indistinguishable (see catalog.identify).
    identified = "ntc_week_ahead" if name == "ntc_month_ahead" else name
    assert set(values["dataset"].to_pylist()) == {identified}
    # Calendar resolutions start at the local week or year containing the window.
    assert window[0] - timedelta(days=366) <= pc.min(values["interval_start"]).as_py() < window[1]
    assert pc.count(values["value"]).as_py() == values.num_rows  # no nulls
    record = emulator.served()[-1]
    assert (record.outcome, record.dataset) == ("data", name)
    assert record.points * (2 if name == "contracted_reserves" else 1) == values.num_rows


@pytest.mark.parametrize("dataset", [d for d in all_datasets() if d.outage], ids=lambda d: d.name)
def test_every_outage_dataset_parses_into_events(emulator: Emulator, dataset: object) -> None:
    name = dataset.name  # type: ignore[attr-defined]
    spec = get_dataset(name)
    month = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    response = fetch(
        emulator,
        name,
        "BE",
        month,
        area_to="NL" if spec.border else None,
        offset=0 if spec.page_size else None,
    )
    assert response.headers["content-type"] == ("application/zip" if spec.zipped else "text/xml")
    document = parsed(response)
    assert document.kind == "outages"
    outages = document.outages
    assert outages.num_rows == emulator.served()[-1].timeseries > 0
    assert set(outages["dataset"].to_pylist()) == {name}
    assert all(m.startswith("SYNTHETIC-") for m in outages["document_mrid"].to_pylist())
    assert pc.min(outages["event_end"]).as_py() > month[0]
    assert pc.max(outages["event_start"]).as_py() < month[1]
    if spec.zipped:
        assert document.documents == outages.num_rows


def test_one_year_of_de_lu_prices_switches_to_15_minutes_and_pages_by_100(
    emulator: Emulator,
) -> None:
    year = (datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 12, 31, 23, tzinfo=UTC))
    refused = fetch(emulator, "day_ahead_prices", "DE_LU", year)
    assert refused.status_code == 400
    assert "The number of instances (365) exceeds the allowed maximum (100)" in refused.text
    pages = [
        fetch(emulator, "day_ahead_prices", "DE_LU", year, offset=k) for k in (0, 100, 200, 300)
    ]
    records = emulator.served()[-4:]
    assert [r.timeseries for r in records] == [100, 100, 100, 65]
    past_end = fetch(emulator, "day_ahead_prices", "DE_LU", year, offset=400)
    assert parsed(past_end).kind == "no_data"
    values = pa.concat_tables([parsed(page).values for page in pages])
    assert values.num_rows == sum(r.points for r in records)
    starts = values["interval_start"].to_pylist()
    assert len(set(starts)) == len(starts)
    by_resolution = dict(zip(*_counts(values, "resolution"), strict=True))
    # 273 days before 1 October (one of 23 hours), 92 quarter-hour days after (one of 25 h).
    assert by_resolution == {"PT60M": 273 * 24 - 1, "PT15M": 92 * 96 + 4}
    switch = datetime(2025, 9, 30, 22, tzinfo=UTC)
    first_quarter = pc.min(
        pc.filter(values["interval_start"], pc.equal(values["resolution"], "PT15M"))
    )
    assert first_quarter.as_py() == switch
    assert all(v.startswith("SYNTHETIC-") for v in set(values["document_mrid"].to_pylist()))
    assert pc.min(values["value"]).as_py() < 0 < pc.max(values["value"]).as_py()


def test_local_days_and_dst_days_in_other_zones(emulator: Emulator) -> None:
    # 2025-10-26, the 25-hour day, in Finland (UTC+3 → UTC+2): 100 quarter hours.
    day = (datetime(2025, 10, 25, 21, tzinfo=UTC), datetime(2025, 10, 26, 22, tzinfo=UTC))
    values = parsed(fetch(emulator, "day_ahead_prices", "FI", day)).values
    assert values.num_rows == 100
    assert pc.min(values["interval_start"]).as_py() == day[0]
    # A sub-day request for prices still gets the whole local day (like the real API).
    noon = (datetime(2025, 10, 26, 10, tzinfo=UTC), datetime(2025, 10, 26, 11, tzinfo=UTC))
    assert parsed(fetch(emulator, "day_ahead_prices", "FI", noon)).values.num_rows == 100
    # Load is returned for the requested window only.
    assert parsed(fetch(emulator, "load_actual", "FI", noon)).values.num_rows == 4
    # Switzerland is outside SDAC: still hourly.
    ch = parsed(fetch(emulator, "day_ahead_prices", "CH", (day[0] + timedelta(hours=1), day[1])))
    assert set(ch.values["resolution"].to_pylist()) == {"PT60M"}
    assert ch.values.num_rows == 25


def test_solar_is_zero_at_night_and_load_is_lower_at_weekends(emulator: Emulator) -> None:
    values = parsed(fetch(emulator, "wind_solar_forecast_day_ahead", "NL", WEEK)).values
    solar = values.filter(pc.equal(values["psr_type"], "B16"))
    hours = pc.hour(pc.cast(solar["interval_start"], pa.timestamp("us", tz="Europe/Amsterdam")))
    night = solar.filter(pc.or_(pc.less(hours, 4), pc.greater_equal(hours, 22)))
    assert night.num_rows > 0
    assert pc.max(night["value"]).as_py() == 0
    assert pc.max(solar["value"]).as_py() > 0
    load = parsed(fetch(emulator, "load_actual", "NL", WEEK)).values["value"].to_pylist()
    weekday_mean = sum(load[: 5 * 96]) / (5 * 96)
    weekend_mean = sum(load[5 * 96 :]) / len(load[5 * 96 :])
    assert weekend_mean < weekday_mean


def test_no_future_actuals() -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    request = read_query(
        request_params(
            get_dataset("load_actual"),
            "NL",
            None,
            hour - timedelta(hours=3),
            hour + timedelta(days=2),
        )
    )
    payload = generate(request, revision=1, gaps=0.0, now=now)
    assert payload is not None
    values = parse_document(payload.body).values
    assert pc.max(values["interval_end"]).as_py() <= now
    future = read_query(
        request_params(
            get_dataset("load_actual"),
            "NL",
            None,
            hour + timedelta(days=1),
            hour + timedelta(days=2),
        )
    )
    assert generate(future, revision=1, gaps=0.0, now=now) is None
    # Forecasts exist for the future.
    forecast = read_query(
        request_params(
            get_dataset("load_forecast_day_ahead"),
            "NL",
            None,
            hour + timedelta(days=1),
            hour + timedelta(days=2),
        )
    )
    assert generate(forecast, revision=1, gaps=0.0, now=now) is not None


def test_future_actuals_window_gets_no_data_over_http(emulator: Emulator) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    response = fetch(emulator, "load_actual", "NL", (start, start + timedelta(days=1)))
    assert parsed(response).kind == "no_data"


def test_gaps_drop_whole_days_and_split_series() -> None:
    month = (datetime(2025, 4, 30, 22, tzinfo=UTC), datetime(2025, 5, 31, 22, tzinfo=UTC))
    request = read_query(request_params(get_dataset("load_actual"), "NL", None, *month))
    full = generate(request, revision=1, gaps=0.0, now=datetime.now(UTC))
    holey = generate(request, revision=1, gaps=0.3, now=datetime.now(UTC))
    assert full is not None
    assert holey is not None
    assert full.timeseries == 1
    assert full.points == 31 * 96
    assert holey.points % 96 == 0  # whole days only
    assert 10 * 96 <= holey.points < 31 * 96
    assert holey.timeseries > 1
    again = generate(request, revision=1, gaps=0.3, now=datetime.now(UTC))
    assert again is not None
    assert again.body == holey.body  # deterministic


def test_values_are_deterministic_and_independent_of_the_window(emulator: Emulator) -> None:
    week = parsed(fetch(emulator, "load_actual", "DE_LU", WEEK)).values
    day = parsed(fetch(emulator, "load_actual", "DE_LU", DST_DAY)).values
    week_by_start = dict(
        zip(week["interval_start"].to_pylist(), week["value"].to_pylist(), strict=True)
    )
    for start, value in zip(
        day["interval_start"].to_pylist(), day["value"].to_pylist(), strict=True
    ):
        assert week_by_start[start] == value
    again = fetch(emulator, "load_actual", "DE_LU", WEEK)
    assert parsed(again).values["value"].to_pylist() == week["value"].to_pylist()


def test_revision_bump_changes_about_one_value_in_ten() -> None:
    config = EmulatorConfig(synthetic=True)
    with running_emulator(config) as running:
        first = parsed(fetch(running, "load_actual", "NL", WEEK)).values
        config.revision = 2
        second = parsed(fetch(running, "load_actual", "NL", WEEK)).values
    assert set(second["revision_number"].to_pylist()) == {2}
    before, after = first["value"].to_pylist(), second["value"].to_pylist()
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    assert 0.05 * len(before) < changed < 0.15 * len(before)
    assert first["document_mrid"][0] != second["document_mrid"][0]


def test_outages_page_by_200_documents(emulator: Emulator) -> None:
    year = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    refused = fetch(emulator, "outages_generation_units", "DE_LU", year)
    assert refused.status_code == 400
    assert "exceeds the allowed maximum (200)" in refused.text
    first = parsed(fetch(emulator, "outages_generation_units", "DE_LU", year, offset=0))
    second = parsed(fetch(emulator, "outages_generation_units", "DE_LU", year, offset=200))
    assert first.documents == 200
    assert 0 < second.documents <= 200
    ids = first.outages["document_mrid"].to_pylist() + second.outages["document_mrid"].to_pylist()
    assert len(set(ids)) == len(ids)
    past = fetch(emulator, "outages_generation_units", "DE_LU", year, offset=400)
    assert parsed(past).kind == "no_data"


def test_one_year_of_load_for_one_area_is_fast() -> None:
    year = (datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 12, 31, 23, tzinfo=UTC))
    request = read_query(
        request_params(get_dataset("generation_actual_per_type"), "DE_LU", None, *year)
    )
    started = datetime.now(UTC)
    payload = generate(request, revision=1, gaps=0.0, now=datetime.now(UTC))
    assert payload is not None
    assert payload.points == 5 * 35040
    assert datetime.now(UTC) - started < timedelta(seconds=3)


def _counts(table: pa.Table, column: str) -> tuple[list[str], list[int]]:
    counts = pc.value_counts(table[column]).to_pylist()
    return [c["values"] for c in counts], [c["counts"] for c in counts]


def test_point_values_are_printed_like_python_prints_cents() -> None:
    """The vectorised formatting of Point values equals ``f"{v:.2f}"`` value by value,
    including negative values above -1, minus zero and large numbers."""
    rng = np.random.default_rng(7)
    values = np.round(
        np.concatenate(
            [
                rng.normal(0, 300, 5_000),
                rng.uniform(-1, 1, 1_000),
                [0.0, -0.0, 0.005, -0.005, 0.995, -0.995, 1e9 + 0.01, -123456.78],
            ]
        ),
        2,
    )
    assert _fixed2(values).to_pylist() == [f"{v:.2f}" for v in values]
