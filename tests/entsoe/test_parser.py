"""The ENTSO-E parser on every bundled real API response: exact values and timestamps.

Each test names the quirk of the document it pins down (DST, the 15-minute switch, A03
blocks, several TimeSeries per key, per-point categories, ZIPs, outages, acknowledgements).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from gridvault.demo import ENTSOE_DIR
from gridvault.entsoe import parser
from gridvault.entsoe.parser import ParsedDocument, parse, parse_document, parse_outages
from gridvault.entsoe.schema import OUTAGE_SCHEMA, VALUE_SCHEMA
from gridvault.errors import ParseError

NL = "10YNL----------L"
BE = "10YBE----------2"
DE_LU = "10Y1001A1001A82H"
ES = "10YES-REE------0"
FR = "10YFR-RTE------C"
DK1 = "10YDK-1--------W"
DK2 = "10YDK-2--------M"
GB = "10YGB----------A"
AT = "10YAT-APG------L"
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
DAY = timedelta(days=1)


def _path(prefix: str) -> Path:
    matches = sorted(ENTSOE_DIR.glob(f"{prefix}*"))
    assert len(matches) == 1, (prefix, matches)
    return matches[0]


@cache
def _parsed(prefix: str) -> ParsedDocument:
    path = _path(prefix)
    return parse_document(path.read_bytes(), source_name=path.name)


def _values(prefix: str) -> list[dict[str, Any]]:
    return list(_parsed(prefix).values.to_pylist())


def _where(rows: list[dict[str, Any]], **equal: Any) -> list[dict[str, Any]]:
    return [row for row in rows if all(row[key] == value for key, value in equal.items())]


def _series(rows: list[dict[str, Any]]) -> dict[datetime, float | None]:
    """interval_start -> value, checking that the rows are one series (unique starts)."""
    series = {row["interval_start"]: row["value"] for row in rows}
    assert len(series) == len(rows)
    return series


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _check_contiguous(rows: list[dict[str, Any]], step: timedelta) -> None:
    ordered = sorted(rows, key=lambda row: row["interval_start"])
    for row in ordered:
        assert row["interval_end"] - row["interval_start"] == step
    for before, after in pairwise(ordered):
        assert before["interval_end"] == after["interval_start"]


# --------------------------------------------------------------------------------------
# Every fixture


EXPECTED: list[tuple[str, str, int, int, int]] = [
    # prefix, kind, value rows, outage rows, XML documents
    ("A09_", "values", 576, 0, 1),
    ("A11_physical_flows_DK1", "values", 44, 0, 1),
    ("A11_physical_flows_NL", "values", 96, 0, 1),
    ("A44_day_ahead_prices_DE_LU", "values", 240, 0, 1),
    ("A44_day_ahead_prices_ES", "values", 240, 0, 1),
    ("A44_day_ahead_prices_FR", "values", 48, 0, 1),
    ("A44_day_ahead_prices_NL", "values", 24, 0, 1),
    ("A61_ntc_day_ahead", "values", 41, 0, 1),
    ("A61_ntc_week_ahead", "values", 41, 0, 1),
    ("A65_A01", "values", 96, 0, 1),
    ("A65_A16_actual_load_DK1", "values", 47, 0, 1),
    ("A65_A16_actual_load_NL", "values", 96, 0, 1),
    ("A65_A31", "values", 2, 0, 1),
    ("A65_A33", "values", 106, 0, 1),
    ("A68_", "values", 20, 0, 1),
    ("A69_A01", "values", 288, 0, 1),
    ("A69_A18", "values", 640, 0, 1),
    ("A71_", "values", 96, 0, 1),
    ("A73_", "values", 1080, 0, 1),
    ("A75_A16_generation_per_type_NL", "values", 1920, 0, 1),
    ("A75_A16_generation_per_type_NO5", "values", 235, 0, 1),
    ("A76_", "outages", 0, 1, 1),
    ("A78_", "outages", 0, 3, 1),
    ("A80_", "outages", 0, 84, 59),
    ("A81_", "values", 46, 0, 1),
    ("A84_", "values", 68, 0, 1),
    ("A85_", "values", 768, 0, 1),
    ("Acknowledgement_", "no_data", 0, 0, 1),
]


def test_every_bundled_document_is_covered() -> None:
    files = sorted(p.name for p in ENTSOE_DIR.iterdir() if p.suffix in (".xml", ".zip"))
    assert len(files) == 28
    assert sorted(_path(prefix).name for prefix, *_ in EXPECTED) == files


@pytest.mark.parametrize(("prefix", "kind", "values", "outages", "documents"), EXPECTED)
def test_fixture_shape(prefix: str, kind: str, values: int, outages: int, documents: int) -> None:
    result = _parsed(prefix)
    assert result.kind == kind
    assert result.values.schema == VALUE_SCHEMA
    assert result.outages.schema == OUTAGE_SCHEMA
    assert result.values.num_rows == values
    assert result.outages.num_rows == outages
    assert result.documents == documents
    for row in result.values.to_pylist():
        assert row["interval_start"] < row["interval_end"]
        assert row["measure"]
        assert row["unit"]
        assert row["dataset"] is not None, row
        assert row["document_type"] == _path(prefix).name[:3]


@pytest.mark.parametrize("case", EXPECTED, ids=[case[0] for case in EXPECTED])
def test_streaming_path_reads_the_same(
    monkeypatch: pytest.MonkeyPatch, case: tuple[str, str, int, int, int]
) -> None:
    """Large documents are streamed with iterparse; the result must not depend on the path."""
    prefix, kind = case[0], case[1]
    monkeypatch.setattr(parser, "TREE_PARSE_LIMIT", 0)
    streamed = parse_document(_path(prefix).read_bytes())
    assert streamed.kind == kind
    assert streamed.values.equals(_parsed(prefix).values)
    assert streamed.outages.equals(_parsed(prefix).outages)


# --------------------------------------------------------------------------------------
# Day-ahead prices (A44)


def test_a44_nl_hourly_prices() -> None:
    rows = _values("A44_day_ahead_prices_NL")
    series = _series(rows)
    assert len(series) == 24
    assert series[_utc(2024, 9, 1, 22)] == 91.24
    assert series[_utc(2024, 9, 1, 23)] == 94.77
    assert series[_utc(2024, 9, 2, 4)] == 113.2
    _check_contiguous(rows, HOUR)
    first = rows[0]
    assert first["measure"] == "price"
    assert first["unit"] == "EUR/MWh"
    assert first["dataset"] == "day_ahead_prices"
    assert (first["area"], first["in_domain"], first["out_domain"]) == (NL, NL, NL)
    assert (first["contract_type"], first["auction_type"], first["business_type"]) == (
        "A01",
        "A01",
        "A62",
    )
    assert first["curve_type"] == "A03"
    assert first["resolution"] == "PT60M"
    assert first["document_mrid"] == "8c6f96f960dd43d8825846643f939b37"
    assert first["revision_number"] == 1
    assert first["created_at"] == datetime(2026, 5, 7, 10, 12, 22, tzinfo=UTC)
    # Auction results are known from their publication on: publish_time = createdDateTime.
    assert first["publish_time"] == first["created_at"]


def test_a44_fr_old_xsd_curve_a01_two_days() -> None:
    rows = _values("A44_day_ahead_prices_FR")
    series = _series(rows)
    assert len(series) == 48
    assert series[_utc(2023, 5, 6, 22)] == 106.78
    assert series[_utc(2023, 5, 7, 0)] == 90.0
    _check_contiguous(rows, HOUR)
    assert {row["curve_type"] for row in rows} == {"A01"}
    # The pre-October-2024 XSD has no mRID, contract, auction type or sequence.
    assert {row["document_mrid"] for row in rows} == {None}
    assert {row["contract_type"] for row in rows} == {None}
    assert {row["area"] for row in rows} == {FR}
    assert {row["dataset"] for row in rows} == {"day_ahead_prices"}


def test_a44_es_switch_to_15_minutes_and_a03_fill() -> None:
    rows = _values("A44_day_ahead_prices_ES")
    hourly = _where(rows, resolution="PT60M")
    quarter = _where(rows, resolution="PT15M")
    assert len(hourly) == 48
    assert len(quarter) == 192
    switch = _utc(2025, 9, 30, 22)
    assert max(row["interval_end"] for row in hourly) == switch
    assert min(row["interval_start"] for row in quarter) == switch
    _check_contiguous(hourly, HOUR)
    _check_contiguous(quarter, QUARTER)
    # 2025-10-01: 93 given Points for 96 quarter hours; positions 12, 15 and 84 are left out
    # because their value equals the one before (curve A03).
    first_day = [r for r in quarter if r["interval_start"] < switch + DAY]
    assert len(first_day) == 96
    series = _series(quarter)

    def position(number: int) -> datetime:
        return switch + (number - 1) * QUARTER

    assert series[position(11)] == series[position(12)] == 100.0
    assert series[position(14)] == series[position(15)] == 97.51
    assert series[position(13)] != 97.51
    assert series[position(83)] == series[position(84)] == 230.0
    assert series[position(85)] == 150.0
    # Second day: positions 10-12 repeat position 9's value.
    second = switch + DAY
    assert series[second + 8 * QUARTER] == 95.0
    assert series[second + 9 * QUARTER] == series[second + 10 * QUARTER] == 95.0
    assert series[second + 11 * QUARTER] == 95.0
    assert series[second + 12 * QUARTER] == 95.5


def test_a44_de_lu_two_sequences_stay_apart() -> None:
    rows = _values("A44_day_ahead_prices_DE_LU")
    sdac = _where(rows, sequence="1")
    exaa = _where(rows, sequence="2")
    assert len(sdac) == 48
    assert len(exaa) == 192
    assert {row["resolution"] for row in sdac} == {"PT60M"}
    assert {row["resolution"] for row in exaa} == {"PT15M"}
    _check_contiguous(sdac, HOUR)
    _check_contiguous(exaa, QUARTER)
    sdac_series, exaa_series = _series(sdac), _series(exaa)
    start = _utc(2024, 10, 5, 22)
    assert sdac_series[start] == 67.04
    assert exaa_series[start] == 98.1
    assert sdac_series[start + DAY] == 34.58
    assert exaa_series[start + DAY] == 79.91
    # Position 15 of the SDAC day 1 is missing (A03): it repeats position 14.
    assert sdac_series[start + 14 * HOUR] == sdac_series[start + 13 * HOUR]
    assert {row["area"] for row in rows} == {DE_LU}


# --------------------------------------------------------------------------------------
# Load (A65)


def test_a65_actual_load_nl_quarter_hours() -> None:
    rows = _values("A65_A16_actual_load_NL")
    assert len(rows) == 96
    _check_contiguous(rows, QUARTER)
    first = rows[0]
    assert first["interval_start"] == _utc(2024, 9, 1, 22)
    assert first["dataset"] == "load_actual"
    assert first["area"] == NL
    assert first["out_domain"] == NL
    assert first["in_domain"] is None
    assert first["unit"] == "MW"
    assert first["publish_time"] is None  # actuals have no publish time


def test_a65_actual_load_dk1_partial_day_a01() -> None:
    rows = _values("A65_A16_actual_load_DK1")
    series = _series(rows)
    assert len(series) == 47
    assert series[_utc(2023, 12, 28, 15)] == 3031.0
    assert series[_utc(2023, 12, 30, 13)] == 2723.0
    # The document interval runs to 12-31T00:00Z; the data stops at 12-30T14:00Z.
    assert max(row["interval_end"] for row in rows) == _utc(2023, 12, 30, 14)
    assert {row["area"] for row in rows} == {DK1}


def test_a65_day_ahead_forecast_dk2_four_timeseries() -> None:
    rows = _values("A65_A01")
    assert len(_series(rows)) == 96
    _check_contiguous(rows, HOUR)
    assert min(row["interval_start"] for row in rows) == _utc(2023, 12, 27, 23)
    assert max(row["interval_end"] for row in rows) == _utc(2023, 12, 31, 23)
    assert {row["dataset"] for row in rows} == {"load_forecast_day_ahead"}
    assert {row["publish_time"] for row in rows} == {rows[0]["created_at"]}


def test_a65_week_ahead_p1d_min_max() -> None:
    rows = _values("A65_A31")
    assert len(rows) == 2
    assert {row["business_type"] for row in rows} == {"A60", "A61"}
    for row in rows:
        assert (row["interval_start"], row["interval_end"]) == (
            _utc(2024, 9, 1, 22),
            _utc(2024, 9, 2, 22),
        )
        assert row["resolution"] == "P1D"
        assert row["dataset"] == "load_forecast_week_ahead"
    minimum, maximum = (_where(rows, business_type=code)[0]["value"] for code in ("A60", "A61"))
    assert minimum < maximum


def test_a65_year_ahead_p7d_weeks_follow_local_time() -> None:
    rows = _where(_values("A65_A33"), business_type="A60")
    assert len(rows) == 53
    starts = [row["interval_start"] for row in rows]
    assert starts == sorted(starts)
    assert starts[0] == _utc(2023, 12, 31, 23)  # Monday 2024-01-01 00:00 CET
    assert rows[-1]["interval_end"] == _utc(2025, 1, 5, 23)
    # The week of the spring change is 167 hours, the one of the autumn change 169.
    spring = _where(rows, interval_start=_utc(2024, 3, 24, 23))[0]
    assert spring["interval_end"] == _utc(2024, 3, 31, 22)
    summer = _where(rows, interval_start=_utc(2024, 3, 31, 22))[0]
    assert summer["value"] == 9602.69
    autumn = _where(rows, interval_start=_utc(2024, 10, 20, 22))[0]
    assert autumn["interval_end"] == _utc(2024, 10, 27, 23)
    assert autumn["value"] == 10253.15
    assert rows[0]["value"] == 9091.65
    assert {row["resolution"] for row in rows} == {"P7D"}


# --------------------------------------------------------------------------------------
# Generation (A68, A69, A71, A73, A75)


def test_a75_nl_generation_and_consumption_stay_apart() -> None:
    rows = _values("A75_A16_generation_per_type_NL")
    by_kind = Counter((row["psr_type"], row["in_domain"], row["out_domain"]) for row in rows)
    assert len(by_kind) == 20
    for (psr_type, in_domain, out_domain), count in by_kind.items():
        assert count == 96, psr_type
        assert (in_domain, out_domain) in ((NL, None), (None, NL))
    generation = _where(rows, psr_type="B04", in_domain=NL)
    consumption = _where(rows, psr_type="B04", out_domain=NL)
    assert len(_series(generation)) == len(_series(consumption)) == 96
    assert {row["area"] for row in rows} == {NL}
    assert {row["dataset"] for row in rows} == {"generation_actual_per_type"}


def test_a75_no5_hourly_a01() -> None:
    rows = _values("A75_A16_generation_per_type_NO5")
    assert Counter(row["psr_type"] for row in rows) == dict.fromkeys(
        {row["psr_type"] for row in rows}, 47
    )
    assert len({row["psr_type"] for row in rows}) == 5
    assert {row["curve_type"] for row in rows} == {"A01"}
    for psr in {row["psr_type"] for row in rows}:
        _check_contiguous(_where(rows, psr_type=psr), HOUR)


def test_a73_per_unit_mixed_resolutions_with_names() -> None:
    rows = _values("A73_")
    units = {(row["resource"], row["resource_name"], row["resolution"]) for row in rows}
    assert len(units) == 42
    assert Counter(resolution for *_, resolution in units) == {"PT60M": 41, "PT15M": 1}
    amer = _where(rows, resource_name="Amer 9")
    assert {row["resource"] for row in amer} == {"49W000000000002F"}
    assert {row["psr_type"] for row in amer} == {"B01"}
    assert len(amer) == 24
    quarter = _where(rows, resolution="PT15M")
    assert len(quarter) == 96
    assert quarter[0]["resource_name"] == "Maasstroom Energie"
    assert quarter[0]["value"] == 286.66
    _check_contiguous(quarter, QUARTER)


def test_a68_installed_capacity_p1y() -> None:
    rows = _values("A68_")
    assert len(rows) == 20
    for row in rows:
        assert row["interval_start"] == _utc(2023, 12, 31, 23)
        assert row["interval_end"] == _utc(2024, 12, 31, 23)
        assert row["resolution"] == "P1Y"
    assert _where(rows, psr_type="B01")[0]["value"] == 418.0
    assert {row["dataset"] for row in rows} == {"installed_capacity_per_type"}


def test_a69_wind_solar_day_ahead_a03_fill() -> None:
    rows = _values("A69_A01")
    assert Counter((row["psr_type"], row["business_type"]) for row in rows) == {
        ("B16", "A94"): 96,
        ("B18", "A93"): 96,
        ("B19", "A93"): 96,
    }
    assert {row["dataset"] for row in rows} == {"wind_solar_forecast_day_ahead"}
    assert {row["publish_time"] for row in rows} == {datetime(2026, 5, 7, 13, 3, 23, tzinfo=UTC)}


def test_a69_current_fi_partial_last_period() -> None:
    rows = _values("A69_A18")
    assert len(rows) == 640
    assert {row["area"] for row in rows} == {"10YFI-1--------U"}
    for psr in {row["psr_type"] for row in rows}:
        series = _where(rows, psr_type=psr)
        assert len(_series(series)) == 320
        _check_contiguous(series, QUARTER)
    assert max(row["interval_end"] for row in rows) == _utc(2024, 2, 11, 6)


def test_a71_generation_forecast() -> None:
    rows = _values("A71_")
    assert len(_series(rows)) == 96
    assert {row["dataset"] for row in rows} == {"generation_forecast_day_ahead"}


# --------------------------------------------------------------------------------------
# Flows, exchanges, capacities (A11, A09, A61)


def test_a11_nl_de_flows_border_domains() -> None:
    rows = _values("A11_physical_flows_NL")
    assert len(_series(rows)) == 96
    first = rows[0]
    assert (first["in_domain"], first["out_domain"]) == (NL, DE_LU)
    assert first["area"] == DE_LU  # border documents: area = out_Domain
    assert first["dataset"] == "physical_flows"


def test_a11_dk1_gb_gaps_stay_gaps() -> None:
    rows = _values("A11_physical_flows_DK1")
    series = _series(rows)
    assert len(series) == 39 + 2 + 3
    assert series[_utc(2023, 12, 20, 17)] == 1362.0
    assert series[_utc(2023, 12, 20, 18)] == 102.0
    assert series[_utc(2023, 12, 22, 9)] == 1.0
    # No row in the gaps between the three TimeSeries (08:00-09:00, 11:00-13:00).
    for hour in (8, 11, 12, 16, 17):
        assert _utc(2023, 12, 22, hour) not in series
    assert max(series) == _utc(2023, 12, 22, 15)
    assert {(row["in_domain"], row["out_domain"], row["area"]) for row in rows} == {(GB, DK1, DK1)}


def test_a09_contract_types_stay_apart() -> None:
    rows = _values("A09_")
    day_ahead = _where(rows, contract_type="A01")
    total = _where(rows, contract_type="A05")
    assert len(_series(day_ahead)) == len(_series(total)) == 288
    for series in (day_ahead, total):
        _check_contiguous(series, QUARTER)
        assert min(row["interval_start"] for row in series) == _utc(2024, 3, 23, 23)
        assert max(row["interval_end"] for row in series) == _utc(2024, 3, 26, 23)
    assert {(row["out_domain"], row["in_domain"], row["area"]) for row in rows} == {(BE, NL, BE)}


def test_a61_day_ahead_sparse_a03() -> None:
    rows = _values("A61_ntc_day_ahead")
    series = _series(rows)
    start = _utc(2026, 3, 19, 6)
    assert len(series) == 41
    assert min(series) == start
    assert max(row["interval_end"] for row in rows) == _utc(2026, 3, 20, 23)
    given = {1: 3006, 5: 2914, 9: 2960, 12: 3607, 18: 3422, 22: 3515, 24: 3469, 29: 3099, 36: 3607}
    current = None
    for position in range(1, 42):
        current = given.get(position, current)
        assert series[start + (position - 1) * HOUR] == current, position
    assert {(row["out_domain"], row["in_domain"]) for row in rows} == {(FR, ES)}
    assert {row["dataset"] for row in rows} == {"ntc_day_ahead"}


def test_a61_week_ahead_single_point_across_dst() -> None:
    rows = sorted(_values("A61_ntc_week_ahead"), key=lambda row: row["interval_start"])
    assert len(rows) == 41
    assert {row["value"] for row in rows} == {600.0}
    # Every day starts at local midnight (CET = 23:00Z); the last day, 2026-03-29, has 23 hours.
    for index, row in enumerate(rows):
        assert row["interval_start"] == _utc(2026, 2, 16, 23) + index * DAY
    assert rows[-1]["interval_start"] == _utc(2026, 3, 28, 23)
    assert rows[-1]["interval_end"] == _utc(2026, 3, 29, 22)
    assert rows[-2]["interval_end"] == rows[-1]["interval_start"]
    assert {(row["out_domain"], row["in_domain"], row["area"]) for row in rows} == {(DK2, DK1, DK2)}


# --------------------------------------------------------------------------------------
# Balancing (A81, A84, A85)


def test_a81_fcr_23_hour_day_two_measures() -> None:
    rows = _values("A81_")
    quantity = _where(rows, measure="quantity")
    price = _where(rows, measure="procurement_price")
    assert len(_series(quantity)) == len(_series(price)) == 23  # 2025-03-30 has 23 hours
    _check_contiguous(quantity, HOUR)
    assert min(row["interval_start"] for row in rows) == _utc(2025, 3, 29, 23)
    assert max(row["interval_end"] for row in rows) == _utc(2025, 3, 30, 22)
    series = _series(quantity)
    # Six 4-hour products; the first is 3 hours long in UTC (00:00-04:00 local on a 23-hour day).
    assert [series[_utc(2025, 3, 29, 23) + h * HOUR] for h in range(3)] == [43.0] * 3
    assert series[_utc(2025, 3, 30, 2)] == 41.0
    assert series[_utc(2025, 3, 30, 21)] == 37.0
    assert _series(price)[_utc(2025, 3, 29, 23)] == 2.54
    assert {row["unit"] for row in quantity} == {"MW"}
    # The document gives only a currency for the procurement price.
    assert {row["unit"] for row in price} == {"EUR"}
    assert {row["category"] for row in rows} == {"A06"}
    assert {row["contract_type"] for row in rows} == {"A01"}
    assert {(row["area"], row["direction"], row["psr_type"]) for row in rows} == {
        (NL, "A03", "A04")
    }


def test_a84_activation_prices_per_direction() -> None:
    rows = _values("A84_")
    assert {row["measure"] for row in rows} == {"activation_price"}
    for direction in ("A01", "A02"):
        series = _series(_where(rows, direction=direction))
        assert len(series) == 34  # 00:00Z-08:30Z; positions 1 and 25 given (A03)
        start = _utc(2025, 5, 29)
        assert series[start] == series[start + 23 * QUARTER] == 11.252
        assert series[start + 24 * QUARTER] == series[_utc(2025, 5, 29, 8, 15)] == 27.5
    assert {row["unit"] for row in rows} == {"EUR/MWh"}
    assert {row["category"] for row in rows} == {"A06"}
    assert {row["dataset"] for row in rows} == {"balancing_energy_prices"}


def test_a85_zip_imbalance_prices_with_category_per_point() -> None:
    rows = _values("A85_")
    assert {row["measure"] for row in rows} == {"imbalance_price"}
    assert Counter(row["category"] for row in rows) == {"A04": 384, "A05": 384}
    long = _series(_where(rows, category="A04"))
    assert len(long) == 384
    assert long[_utc(2024, 1, 1)] == 45.93
    assert long[_utc(2024, 1, 1, 0, 15)] == 47.13
    assert long[_utc(2024, 1, 1, 0, 30)] == -3.49
    assert {row["area"] for row in rows} == {AT}
    assert {row["unit"] for row in rows} == {"EUR/MWh"}


# --------------------------------------------------------------------------------------
# Outages (A76, A78, A80)


def test_a80_zip_of_59_outage_documents() -> None:
    table = _parsed("A80_").outages
    rows = table.to_pylist()
    events = {(row["document_mrid"], row["timeseries_mrid"]) for row in rows}
    assert len(events) == 59
    per_document = {row["document_mrid"]: row["doc_status"] for row in rows}
    assert Counter(per_document.values()) == {"A09": 37, None: 22}
    assert Counter(row["business_type"] for row in rows) == {"A53": 77, "A54": 7}
    seraing = _where(rows, document_mrid="OY9M-blJDeqrxffkxC0BDA")
    assert len(seraing) == 3  # three Available_Periods: PT60M, PT15M, PT1M
    assert [(row["interval_start"], row["interval_end"]) for row in seraing] == [
        (_utc(2024, 4, 17, 22), _utc(2025, 10, 31, 22)),
        (_utc(2025, 10, 31, 22), _utc(2025, 10, 31, 22, 45)),
        (_utc(2025, 10, 31, 22, 45), _utc(2025, 10, 31, 22, 59)),
    ]
    first = seraing[0]
    assert first["event_start"] == _utc(2024, 4, 17, 22)
    assert first["event_end"] == _utc(2025, 10, 31, 22, 59)
    assert first["available_capacity"] == 0.0
    assert first["resource"] == "22W201806271---D"
    assert first["resource_name"] == "EDF Luminus Seraing TGV"
    assert first["resource_location"] == "Belgium"
    assert first["psr_type"] == "B04"
    assert first["nominal_power"] == 170.0
    assert first["unit"] == "MW"
    assert first["revision_number"] == 2
    assert first["area"] == BE
    assert first["reason_code"] == "A95"
    assert first["reason_text"] is not None
    assert first["reason_text"].startswith("Temporary shutdown of the Steam Turbine")
    assert "\n" not in first["reason_text"]
    assert first["dataset"] == "outages_generation_units"
    cancelled = _where(rows, document_mrid="sOnGlGarZCzEeJlysN_XnQ")[0]
    assert cancelled["doc_status"] == "A09"
    assert cancelled["reason_text"] == "Overhaul"


def test_a78_zip_transmission_outage() -> None:
    rows = parse_outages(_path("A78_").read_bytes()).to_pylist()
    assert [(row["interval_start"], row["interval_end"]) for row in rows] == [
        (_utc(2020, 10, 15, 5, 30), _utc(2020, 10, 15, 6)),
        (_utc(2020, 10, 15, 6), _utc(2020, 12, 16, 14)),
        (_utc(2020, 12, 16, 14), _utc(2020, 12, 16, 14, 30)),
    ]
    row = rows[0]
    assert (row["in_domain"], row["out_domain"]) == (NL, BE)
    assert row["resource"] == "22T20161020----I"
    assert row["resource_name"] == "AVLGM380 101 HORTA"
    assert row["resource_location"] == "AVELGEM - HORTA 380.101"
    assert row["psr_type"] == "B21"
    assert row["available_capacity"] == 1400.0
    assert (row["reason_code"], row["reason_text"]) == ("B19", "ScheduledWorks")
    assert row["revision_number"] == 3
    assert (row["event_start"], row["event_end"]) == (
        _utc(2020, 10, 15, 5, 30),
        _utc(2020, 12, 16, 14, 30),
    )


def test_a76_plain_xml_consumption_outage() -> None:
    (row,) = parse_outages(_path("A76_").read_bytes()).to_pylist()
    assert (row["interval_start"], row["interval_end"]) == (
        _utc(2023, 11, 30, 11),
        _utc(2023, 11, 30, 23),
    )
    assert row["available_capacity"] == 126.0
    assert row["area"] == DE_LU
    assert row["reason_code"] == "A95"
    assert row["reason_text"] is None  # blank <text> </text>
    assert row["dataset"] == "outages_consumption_units"


def test_outage_payload_is_refused_by_parse_and_values_by_parse_outages() -> None:
    with pytest.raises(ParseError, match="parse_outages"):
        parse(_path("A76_").read_bytes())
    with pytest.raises(ParseError, match=r"parse\(\)"):
        parse_outages(_path("A44_day_ahead_prices_NL").read_bytes())


# --------------------------------------------------------------------------------------
# Acknowledgement


def test_no_matching_data_acknowledgement_is_empty() -> None:
    data = _path("Acknowledgement_").read_bytes()
    assert parse(data).num_rows == 0
    assert parse(data).schema == VALUE_SCHEMA
    assert parse_outages(data).num_rows == 0
    assert parse_document(data).kind == "no_data"


def test_public_entry_point_is_lazy_reexport() -> None:
    from gridvault import entsoe

    assert entsoe.parse is parse
    assert isinstance(entsoe.parse(_path("A44_day_ahead_prices_NL").read_bytes()), pa.Table)
