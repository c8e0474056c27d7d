"""Website CSV exports: CET wall clock to UTC across DST, missing-value tokens, bad files."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridvault.demo import TIMESERIES_DIR
from gridvault.entsoe.csv_export import read_csv_export
from gridvault.entsoe.schema import VALUE_SCHEMA
from gridvault.errors import ParseError

FI = "10YFI-1--------U"
SK = "10YSK-SEPS-----K"
HOUR = timedelta(hours=1)


@cache
def _read(relative: str) -> pa.Table:
    path = TIMESERIES_DIR / relative
    return read_csv_export(path.read_bytes(), path.name)


def _series(table: pa.Table, dataset: str) -> dict[datetime, float | None]:
    """interval_start -> value of one dataset, checking that starts are unique."""
    rows = table.filter(pc.equal(table.column("dataset"), dataset))
    starts = rows.column("interval_start").to_pylist()
    series = dict(zip(starts, rows.column("value").to_pylist(), strict=True))
    assert len(series) == len(starts)
    return series


def _utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# --- the bundled files -------------------------------------------------------------------

# file -> (rows, null values, day-ahead forecast rows, actual rows)
COUNTS = {
    "entsoe_fi/total_load_dayahead_actual_FI_2015.csv": (17520, 23, 8760, 8760),
    "entsoe_fi/total_load_dayahead_actual_FI_2016.csv": (17568, 32, 8784, 8784),
    "entsoe_fi/total_load_dayahead_actual_FI_2017.csv": (17520, 79, 8760, 8760),
    "entsoe_fi/total_load_dayahead_actual_FI_2018.csv": (17520, 3, 8760, 8760),
    "entsoe_fi/total_load_dayahead_actual_FI_2019.csv": (17520, 0, 8760, 8760),
    "entsoe_fi/total_load_dayahead_actual_FI_2020.csv": (17568, 0, 8784, 8784),
    "entsoe_fi/total_load_dayahead_actual_FI_2021.csv": (17520, 0, 8760, 8760),
    # Exported in Oct 2022: the rest of the year is "-" (not yet published) and dropped.
    "entsoe_fi/total_load_dayahead_actual_FI_2022.csv": (12968, 0, 6502, 6466),
    "entsoe_sk/total_load_dayahead_actual_SK_2023.csv": (17520, 0, 8760, 8760),
    "entsoe_sk/total_load_dayahead_actual_SK_2024.csv": (1401, 0, 720, 681),
}
PRICE_COUNTS = {
    "entsoe_fi/dayahead_prices_FI_2015.csv": (8760, 0),
    "entsoe_fi/dayahead_prices_FI_2016.csv": (8784, 24),
    "entsoe_fi/dayahead_prices_FI_2017.csv": (8760, 0),
    "entsoe_fi/dayahead_prices_FI_2018.csv": (8760, 0),
    "entsoe_fi/dayahead_prices_FI_2019.csv": (8760, 0),
    "entsoe_fi/dayahead_prices_FI_2020.csv": (8784, 0),
    "entsoe_fi/dayahead_prices_FI_2021.csv": (8760, 0),
    "entsoe_fi/dayahead_prices_FI_2022.csv": (6455, 0),
}


def test_every_bundled_export_has_expected_counts() -> None:
    bundled = {
        str(path.relative_to(TIMESERIES_DIR)) for path in TIMESERIES_DIR.glob("entsoe_*/*.csv")
    }
    assert bundled == set(COUNTS) | set(PRICE_COUNTS)


@pytest.mark.parametrize(("relative", "counts"), sorted(COUNTS.items()))
def test_load_file_counts(relative: str, counts: tuple[int, int, int, int]) -> None:
    rows, nulls, forecast_rows, actual_rows = counts
    table = _read(relative)
    assert table.schema == VALUE_SCHEMA
    assert table.num_rows == rows
    assert table.column("value").null_count == nulls
    assert len(_series(table, "load_forecast_day_ahead")) == forecast_rows
    assert len(_series(table, "load_actual")) == actual_rows


@pytest.mark.parametrize(("relative", "counts"), sorted(PRICE_COUNTS.items()))
def test_price_file_counts(relative: str, counts: tuple[int, int]) -> None:
    rows, nulls = counts
    table = _read(relative)
    assert table.schema == VALUE_SCHEMA
    assert table.num_rows == rows
    assert table.column("value").null_count == nulls
    assert set(table.column("dataset").to_pylist()) == {"day_ahead_prices"}


def test_load_rows_are_filled_like_the_xml_parser_fills_them() -> None:
    table = _read("entsoe_fi/total_load_dayahead_actual_FI_2019.csv")
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "interval_start": _utc(2018, 12, 31, 23),
        "interval_end": _utc(2019, 1, 1, 0),
        "value": 10018.0,
        "measure": "quantity",
        "dataset": "load_forecast_day_ahead",
        "document_type": "A65",
        "process_type": "A01",
        "business_type": "A04",
        "resolution": "PT60M",
        "unit": "MW",
        "curve_type": None,
        "area": FI,
        "in_domain": None,
        "out_domain": None,
        "psr_type": None,
        "sequence": None,
        "contract_type": None,
        "auction_type": None,
        "direction": None,
        "category": None,
        "resource": None,
        "resource_name": None,
        "document_mrid": "csv:total_load_dayahead_actual_FI_2019.csv",
        "revision_number": None,
        "created_at": None,
        "publish_time": None,
    }
    actual = next(row for row in table.to_pylist() if row["dataset"] == "load_actual")
    assert (actual["process_type"], actual["value"]) == ("A16", 10467.0)
    ends = table.column("interval_end").to_pylist()
    starts = table.column("interval_start").to_pylist()
    assert all(end - start == HOUR for start, end in zip(starts, ends, strict=True))


def test_price_rows() -> None:
    table = _read("entsoe_fi/dayahead_prices_FI_2019.csv")
    first = table.slice(0, 1).to_pylist()[0]
    assert first["interval_start"] == _utc(2018, 12, 31, 23)
    assert first["value"] == 28.32
    assert (first["measure"], first["unit"], first["area"]) == ("price", "EUR/MWh", FI)
    assert (first["document_type"], first["process_type"], first["business_type"]) == (
        "A44",
        None,
        "A62",
    )


def test_fi_2019_spring_gap_is_dropped_and_times_are_cet_not_finnish() -> None:
    load = _read("entsoe_fi/total_load_dayahead_actual_FI_2019.csv")
    actual = _series(load, "load_actual")
    forecast = _series(load, "load_forecast_day_ahead")
    # "31.03.2019 01:00 - 02:00" CET, the empty "02:00 - 03:00" row, "03:00 - 04:00" CEST.
    assert actual[_utc(2019, 3, 31, 0)] == 9060.0
    assert actual[_utc(2019, 3, 31, 1)] == 9062.0
    assert forecast[_utc(2019, 3, 31, 0)] == 8801.0
    assert forecast[_utc(2019, 3, 31, 1)] == 8827.0
    # Hourly and gap-free in UTC: no hour is missing or doubled around the change.
    starts = sorted(actual)
    assert all(later - earlier == HOUR for earlier, later in itertools.pairwise(starts))
    assert starts[0] == _utc(2018, 12, 31, 23)
    assert starts[-1] == _utc(2019, 12, 31, 22)

    prices = _series(_read("entsoe_fi/dayahead_prices_FI_2019.csv"), "day_ahead_prices")
    assert prices[_utc(2019, 3, 31, 0)] == 28.88
    assert prices[_utc(2019, 3, 31, 1)] == 25.07


def test_fi_2019_autumn_repeated_hour_is_summer_then_winter_time() -> None:
    load = _read("entsoe_fi/total_load_dayahead_actual_FI_2019.csv")
    actual = _series(load, "load_actual")
    forecast = _series(load, "load_forecast_day_ahead")
    # "27.10.2019 01:00 - 02:00" CEST, "02:00 - 03:00" twice (CEST, CET), "03:00 - 04:00" CET.
    assert actual[_utc(2019, 10, 26, 23)] == 8387.0
    assert actual[_utc(2019, 10, 27, 0)] == 8325.0
    assert actual[_utc(2019, 10, 27, 1)] == 8328.0
    assert actual[_utc(2019, 10, 27, 2)] == 8428.0
    assert forecast[_utc(2019, 10, 27, 0)] == 8510.0
    assert forecast[_utc(2019, 10, 27, 1)] == 8489.0

    prices = _series(_read("entsoe_fi/dayahead_prices_FI_2019.csv"), "day_ahead_prices")
    assert prices[_utc(2019, 10, 27, 0)] == 31.46
    assert prices[_utc(2019, 10, 27, 1)] == 31.49


def test_na_cells_are_kept_as_null_values() -> None:
    load_2018 = _read("entsoe_fi/total_load_dayahead_actual_FI_2018.csv")
    # "20.06.2018 12:00 - 13:00","8319","N/A" (CEST)
    assert _series(load_2018, "load_actual")[_utc(2018, 6, 20, 10)] is None
    assert _series(load_2018, "load_forecast_day_ahead")[_utc(2018, 6, 20, 10)] == 8319.0

    # An N/A in the second (winter-time) occurrence of the repeated autumn hour.
    load_2015 = _read("entsoe_fi/total_load_dayahead_actual_FI_2015.csv")
    assert _series(load_2015, "load_actual")[_utc(2015, 10, 25, 1)] is None
    assert _series(load_2015, "load_actual")[_utc(2015, 10, 25, 0)] == 7940.0
    assert _series(load_2015, "load_forecast_day_ahead")[_utc(2015, 10, 25, 1)] == 7146.0

    prices_2016 = _series(_read("entsoe_fi/dayahead_prices_FI_2016.csv"), "day_ahead_prices")
    # The whole delivery day 06.10.2016 (CEST) is N/A.
    day = [_utc(2016, 10, 5, 22) + HOUR * hour for hour in range(24)]
    assert [prices_2016[start] for start in day] == [None] * 24
    assert prices_2016[_utc(2016, 10, 5, 21)] is not None


def test_sk_2024_not_yet_published_tail_is_dropped() -> None:
    table = _read("entsoe_sk/total_load_dayahead_actual_SK_2024.csv")
    assert set(table.column("area").to_pylist()) == {SK}
    actual = _series(table, "load_actual")
    forecast = _series(table, "load_forecast_day_ahead")
    assert max(actual) == _utc(2024, 1, 29, 7)  # "29.01.2024 08:00 - 09:00" CET
    assert actual[max(actual)] == 3819.0
    assert max(forecast) == _utc(2024, 1, 30, 22)  # "30.01.2024 23:00 - 31.01.2024 00:00"
    assert forecast[max(forecast)] == 3130.0
    assert min(forecast) == _utc(2023, 12, 31, 23)
    assert None not in actual.values()


def test_sk_2023_unquoted_variant() -> None:
    table = _read("entsoe_sk/total_load_dayahead_actual_SK_2023.csv")
    actual = _series(table, "load_actual")
    # 26.03.2023: 01:00 CET, gap row ",,", 03:00 CEST
    assert actual[_utc(2023, 3, 26, 0)] == 2232.0
    assert actual[_utc(2023, 3, 26, 1)] == 2212.0
    # 29.10.2023: 02:00 twice
    assert actual[_utc(2023, 10, 29, 0)] == 2206.0
    assert actual[_utc(2023, 10, 29, 1)] == 2171.0


def test_every_fi_load_file_reads() -> None:
    # Their speed is not a test's business (bench/ holds speed goals); that each reads is.
    for path in sorted((TIMESERIES_DIR / "entsoe_fi").glob("total_load_*.csv")):
        table = read_csv_export(path.read_bytes(), path.name)
        assert table.num_rows > 8_000, path.name  # a year of hours, two measures


# --- small handmade files ----------------------------------------------------------------

LOAD_HEADER = (
    '"Time (CET/CEST)","Day-ahead Total Load Forecast [MW] - BZN|FI",'
    '"Actual Total Load [MW] - BZN|FI"\n'
)


def _load(body: str, header: str = LOAD_HEADER, name: str = "test.csv") -> pa.Table:
    return read_csv_export((header + body).encode(), name)


def test_quoted_and_unquoted_read_the_same() -> None:
    quoted = _load('"01.01.2024 00:00 - 01.01.2024 01:00","10","11"\n')
    unquoted = _load(
        "01.01.2024 00:00 - 01.01.2024 01:00,10,11\n",
        header=LOAD_HEADER.replace('"', ""),
    )
    assert quoted.equals(unquoted)
    assert quoted.num_rows == 2


def test_byte_order_mark_and_crlf_are_accepted() -> None:
    data = "\ufeff" + LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","10","11"\n'
    table = read_csv_export(data.replace("\n", "\r\n").encode(), "bom.csv")
    assert table.column("value").to_pylist() == [10.0, 11.0]


def test_quarter_hour_autumn_repeats_interleave() -> None:
    labels = ["02:00 - 02:15", "02:15 - 02:30", "02:30 - 02:45", "02:45 - 03:00"] * 2
    body = "".join(
        f'"27.10.2024 {label[:5]} - 27.10.2024 {label[8:]}","{index}","{index}"\n'
        for index, label in enumerate(labels)
    )
    table = _load(body)
    forecast = _series(table, "load_forecast_day_ahead")
    expected_starts = [_utc(2024, 10, 27, 0) + timedelta(minutes=15 * i) for i in range(8)]
    assert list(forecast) == expected_starts
    assert list(forecast.values()) == [float(index) for index in range(8)]
    assert set(table.column("resolution").to_pylist()) == {"PT15M"}


def test_dash_and_ne_drop_one_value_empty_and_na_keep_a_null() -> None:
    table = _load(
        '"01.01.2024 00:00 - 01.01.2024 01:00","1","-"\n'
        '"01.01.2024 01:00 - 01.01.2024 02:00","","N/A"\n'
        '"01.01.2024 02:00 - 01.01.2024 03:00","n/e","3"\n'
    )
    assert _series(table, "load_forecast_day_ahead") == {
        _utc(2023, 12, 31, 23): 1.0,
        _utc(2024, 1, 1, 0): None,
    }
    assert _series(table, "load_actual") == {
        _utc(2024, 1, 1, 0): None,
        _utc(2024, 1, 1, 1): 3.0,
    }


def test_area_labels_in_website_spelling() -> None:
    header = LOAD_HEADER.replace("BZN|FI", "BZN|DK1")
    table = _load('"01.01.2024 00:00 - 01.01.2024 01:00","1","2"\n', header=header)
    assert set(table.column("area").to_pylist()) == {"10YDK-1--------W"}
    header = LOAD_HEADER.replace("BZN|FI", "BZN|DE-LU")
    table = _load('"01.01.2024 00:00 - 01.01.2024 01:00","1","2"\n', header=header)
    assert set(table.column("area").to_pylist()) == {"10Y1001A1001A82H"}


def test_utc_export() -> None:
    header = LOAD_HEADER.replace("CET/CEST", "UTC")
    table = _load('"31.03.2024 02:00 - 31.03.2024 03:00","1","2"\n', header=header)
    assert set(table.column("interval_start").to_pylist()) == {_utc(2024, 3, 31, 2)}


def test_header_only_gives_an_empty_table() -> None:
    table = _load("")
    assert table.num_rows == 0
    assert table.schema == VALUE_SCHEMA


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^bad\.csv: empty file"),
        (b"\xff\xfe\x00", r"^bad\.csv: not UTF-8"),
        (b'"Time (XYZ)","Actual Total Load [MW] - BZN|FI"\n', r"^bad\.csv: line 1: first column"),
        (b'"Time (CET/CEST)","Wind [MW] - BZN|FI"\n', r"^bad\.csv: line 1: unsupported column"),
        (b'"Time (CET/CEST)","Actual Total Load [MW]"\n', r"^bad\.csv: line 1: no area"),
        (
            b'"Time (CET/CEST)","Actual Total Load [MW] - BZN|XX"\n',
            r"^bad\.csv: line 1: unknown area 'BZN\|XX'",
        ),
        (
            (
                LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","1","2"\n"yesterday","1","2"\n'
            ).encode(),
            r"^bad\.csv: line 3: cannot read interval 'yesterday'",
        ),
        (
            (LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","1","abc"\n').encode(),
            r"^bad\.csv: line 2: not a number: 'abc'",
        ),
        (
            (LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","1","2","3"\n').encode(),
            r"^bad\.csv: line 2: 4 fields where the header has 3",
        ),
        (
            (LOAD_HEADER + '"31.02.2024 00:00 - 31.02.2024 01:00","1","2"\n').encode(),
            r"^bad\.csv: line 2: no such date",
        ),
        (
            (
                LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","1","2"\n'
                '"01.01.2024 01:00 - 01.01.2024 01:15","1","2"\n'
            ).encode(),
            r"^bad\.csv: line 3: interval .* is not 60 minutes long",
        ),
        (
            (
                LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","1","2"\n'
                '"01.01.2024 00:00 - 01.01.2024 01:00","1","2"\n'
            ).encode(),
            r"^bad\.csv: line 3: interval repeats line 2",
        ),
        (
            (LOAD_HEADER + '"31.03.2024 02:00 - 31.03.2024 03:00","1","2"\n').encode(),
            r"^bad\.csv: line 2: values for .* does not exist in Europe/Brussels",
        ),
        # Found by the fuzz tests: these escaped as OverflowError, csv.Error, or (NUL in the
        # header) a PostgreSQL error that stopped a whole import.
        (
            (LOAD_HEADER + '"01.01.0001 00:00 - 01.01.0001 01:00","1","2"\n').encode(),
            r"^bad\.csv: line 2: date out of range",
        ),
        (
            (LOAD_HEADER + '"01.01.2024 00:00 - 01.01.2024 01:00","1","' + "9" * 200_000).encode(),
            r"^bad\.csv: line 2: field larger than field limit",
        ),
        (
            b'"Time (CET/CEST)","Actual Total Load [M\x00W] - BZN|FI"\n',
            r"^bad\.csv: holds NUL bytes",
        ),
        ("Time (CET/CEST),Actual Total Load [MW] - BZN|FI\n".encode("utf-16-le"), "NUL bytes"),
    ],
)
def test_malformed_files_raise_parse_error_with_file_and_line(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        read_csv_export(data, "bad.csv")
    assert caught.value.source_name == "bad.csv"


def test_parse_error_is_raised_for_a_real_file_cut_short() -> None:
    source = TIMESERIES_DIR / "entsoe_fi/total_load_dayahead_actual_FI_2019.csv"
    lines = source.read_bytes().splitlines(keepends=True)
    broken = b"".join([*lines[:100], b'"01.04.2019 00:00 - 01.04.20'])
    with pytest.raises(ParseError, match=r"^cut\.csv: line 101: cannot read interval"):
        read_csv_export(broken, "cut.csv")
