"""The pure parts of streaming: chunk planning, cursors, time formatting, JSON numbers."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvault.api.streaming import (
    Cursor,
    DataQuery,
    Layout,
    encode,
    format_times,
    plan_chunks,
)
from gridvault.entsoe.catalog import get_dataset
from gridvault.errors import GridvaultError, InputError
from gridvault.store import Series
from gridvault.store.buckets import parse_bucket

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def series(n: int, resolution: str = "PT15M") -> list[Series]:
    return [
        Series(i, "entsoe", "load_actual", "DE_LU", {"psr_type": f"B{i:02d}"}, "MW", resolution)
        for i in range(1, n + 1)
    ]


def test_short_series_are_grouped_into_chunks() -> None:
    query = DataQuery(get_dataset("load_actual"), series(10), T0, T0 + timedelta(days=1))
    chunks = plan_chunks(query, chunk_rows=300)  # 96 rows per series: 3 fit in a chunk
    assert [c.series_ids for c in chunks] == [(1, 2, 3), (4, 5, 6), (7, 8, 9), (10,)]
    assert all((c.start, c.end) == (query.start, query.end) for c in chunks)


def test_a_long_series_is_split_in_time_but_a_resampled_one_is_not() -> None:
    query = DataQuery(get_dataset("load_actual"), series(2), T0, T0 + timedelta(days=10))
    chunks = plan_chunks(query, chunk_rows=300)  # 960 rows per series: 4 windows each
    assert [c.series_ids for c in chunks] == [(1,)] * 4 + [(2,)] * 4
    assert chunks[0].start == T0
    assert chunks[3].end == query.end
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks[:4]))
    hourly = DataQuery(
        get_dataset("load_actual"),
        series(2),
        T0,
        T0 + timedelta(days=100),
        resample=parse_bucket("1h"),
    )
    assert [c.series_ids for c in plan_chunks(hourly, chunk_rows=300)] == [(1,), (2,)]


def test_a_cursor_skips_earlier_series_and_moves_the_start_of_its_own() -> None:
    resume = T0 + timedelta(hours=5)
    query = DataQuery(
        get_dataset("load_actual"), series(4), T0, T0 + timedelta(days=1), cursor=Cursor(2, resume)
    )
    chunks = plan_chunks(query, chunk_rows=10_000)
    assert [(c.series_ids, c.start) for c in chunks] == [((2,), resume), ((3, 4), T0)]


@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=0, max_value=10**15))
def test_cursors_round_trip(series_id: int, micros: int) -> None:
    cursor = Cursor(series_id, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros))
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["", "abc", "djIuMS4y", "!!!", "djEuYS5i"])
def test_bad_cursors_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="invalid cursor"):
        Cursor.decode(text)


def test_times_are_rfc3339_in_utc_or_with_the_zone_offset() -> None:
    column = pa.array(
        [T0, datetime(2024, 3, 31, 1, 0, tzinfo=UTC), None, T0 + timedelta(microseconds=5)], TS
    )
    assert format_times(column, None).to_pylist() == [
        "2024-01-01T00:00:00Z",
        "2024-03-31T01:00:00Z",
        None,
        "2024-01-01T00:00:00.000005Z",
    ]
    assert format_times(column[:3], "Europe/Berlin").to_pylist() == [
        "2024-01-01T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",  # after the spring-forward gap
        None,
    ]
    assert format_times(column[:1], "America/St_Johns").to_pylist() == ["2023-12-31T20:30:00-03:30"]


def test_json_rows_are_valid_json_with_nulls_for_missing_and_non_finite() -> None:
    only = series(1, "PT60M")
    query = DataQuery(get_dataset("load_actual"), only, T0, T0 + timedelta(hours=4))
    values = [1.5, None, float("nan"), float("inf")]
    table = pa.table(
        {
            "series_id": pa.array([1] * 4, pa.int64()),
            "interval_start": pa.array([T0 + timedelta(hours=i) for i in range(4)], TS),
            "interval_end": pa.array([T0 + timedelta(hours=i + 1) for i in range(4)], TS),
            "value": pa.array(values, pa.float64()),
            "flags": pa.array([0, 0, 1, 1], pa.int32()),
        }
    )
    body = b"".join(encode(Layout(query), "json", [table]))
    rows = json.loads(body)["data"]
    assert [r["value"] for r in rows] == [1.5, None, None, None]
    assert rows[0] == {
        "interval_start": "2024-01-01T00:00:00Z",
        "interval_end": "2024-01-01T01:00:00Z",
        "value": 1.5,
        "flags": 0,
        "dataset": "load_actual",
        "area": "DE_LU",
        "unit": "MW",
        "resolution": "PT60M",
        "psr_type": "B01",
    }


def test_attributes_with_quotes_are_escaped() -> None:
    odd = [Series(1, "entsoe", "load_actual", 'A"B', {"resource": "x\\y\n"}, None, "PT60M")]
    query = DataQuery(get_dataset("load_actual"), odd, T0, T0 + timedelta(hours=1))
    table = pa.table(
        {
            "series_id": pa.array([1], pa.int64()),
            "interval_start": pa.array([T0], TS),
            "interval_end": pa.array([T0 + timedelta(hours=1)], TS),
            "value": pa.array([1.0]),
            "flags": pa.array([0], pa.int32()),
        }
    )
    (row,) = json.loads(b"".join(encode(Layout(query), "json", [table])))["data"]
    assert (row["area"], row["resource"], row["unit"]) == ('A"B', "x\\y\n", None)


def flatten_series(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a series-layout answer as the rows layout writes them."""
    rows: list[dict[str, Any]] = []
    for obj in body["series"]:
        attributes = {k: v for k, v in obj.items() if k not in ("columns", "values")}
        rows.extend(
            {**dict(zip(obj["columns"], values, strict=True)), **attributes}
            for values in obj["values"]
        )
    return rows


def forecast_table(
    query: DataQuery,
    lengths: list[int],
    flags: bool,
    gaps: bool,
    *,
    hourly: int = 0,
    glitch: bool = False,
) -> pa.Table:
    """Rows of ``query``'s series, ``lengths[i]`` each (every third missing with ``gaps``),
    publish times, some values missing or not finite. A series' first ``hourly`` rows are
    hours, the others quarter-hours (a switch to the 15-minute MTU); with ``glitch`` the
    middle row of a series lasts twice its step."""
    ids, starts, ends, values = [], [], [], []
    for series_id, length in zip([s.series_id for s in query.series], lengths, strict=False):
        steps = [i for i in range(length) if not (gaps and i % 3 == 2)]
        ids += [series_id] * len(steps)
        for i in steps:
            step = timedelta(hours=1) if i < hourly else timedelta(minutes=15)
            start = T0 + min(i, hourly) * timedelta(hours=1) + max(0, i - hourly) * step
            starts.append(start)
            ends.append(start + step * (2 if glitch and i == length // 2 else 1))
    for i in range(len(ids)):
        values.append(None if i % 11 == 5 else float("nan") if i % 13 == 7 else round(i * 1.7, 1))
    table = pa.table(
        {
            "series_id": pa.array(ids, pa.int64()),
            "interval_start": pa.array(starts, TS),
            "interval_end": pa.array(ends, TS),
            "value": pa.array(values, pa.float64()),
            "publish_time": pa.array([None if i % 4 == 0 else T0 for i in range(len(ids))], TS),
            "flags": pa.array([i % 2 if flags else 0 for i in range(len(ids))], pa.int32()),
        }
    )
    return table.select(query.schema().names).cast(query.schema())


@given(
    lengths=st.lists(st.sampled_from([0, 1, 3, 40, 5000]), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=4),
    flags=st.booleans(),
    gaps=st.booleans(),
    tz=st.sampled_from([None, "Europe/Berlin"]),
    forecast=st.booleans(),
    hourly=st.sampled_from([0, 0, 2, 30, 4000]),
    glitch=st.booleans(),
)
@settings(deadline=None, max_examples=40)
def test_the_series_layout_holds_the_rows_of_the_rows_layout(
    *,
    lengths: list[int],
    cuts: list[int],
    flags: bool,
    gaps: bool,
    tz: str | None,
    forecast: bool,
    hourly: int,
    glitch: bool,
) -> None:
    # Long series (5000 rows) are encoded in their own slices, short ones share a slice;
    # chunks cut anywhere, so a series' object continues across chunks and slices. Series
    # that switch from hourly to quarter-hourly rows, and a row of another length amid a
    # series, show each row's own resolution.
    dataset = get_dataset("load_forecast_day_ahead" if forecast else "load_actual")
    query = DataQuery(dataset, series(len(lengths)), T0, T0 + timedelta(days=60), tz=tz)
    table = forecast_table(query, lengths, flags, gaps, hourly=hourly, glitch=glitch)
    bounds = sorted({0, table.num_rows, *(c for c in cuts if c < table.num_rows)})
    chunks = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)] or [table]
    rows = json.loads(b"".join(encode(Layout(query), "json", chunks)))
    compact = json.loads(b"".join(encode(Layout(query, "series"), "json", chunks)))
    assert flatten_series(compact) == rows["data"]
    assert compact["meta"] == rows["meta"] == {"rows": table.num_rows}
    spans = [e - s for s, e in zip(table["interval_start"], table["interval_end"], strict=True)]
    own = [f"PT{span.as_py() // timedelta(minutes=1)}M" for span in spans]
    assert [row["resolution"] for row in rows["data"]] == own
    # One object per run of a series' rows of one resolution, in series order, named once.
    runs = [(row["psr_type"], row["resolution"]) for row in rows["data"]]
    named = [(obj["psr_type"], obj["resolution"]) for obj in compact["series"]]
    assert named == [run for run, _ in itertools.groupby(runs)]
    columns = ["interval_start", "interval_end", "value"]
    columns += ["publish_time", "flags"] if forecast else ["flags"]
    assert all(obj["columns"] == columns for obj in compact["series"])
    # Arrow (dictionaries growing across batches) and CSV show the same resolutions.
    stream = pa.ipc.open_stream(b"".join(encode(Layout(query), "arrow", chunks))).read_all()
    assert stream["resolution"].to_pylist() == own
    text = b"".join(encode(Layout(query), "csv", chunks)).decode()
    assert [line["resolution"] for line in csv.DictReader(io.StringIO(text))] == own


def test_rows_before_a_resolution_switch_show_theirs_across_chunk_cuts() -> None:
    query = DataQuery(get_dataset("load_actual"), series(2), T0, T0 + timedelta(days=60))
    table = forecast_table(query, [5000, 3], flags=False, gaps=False, hourly=4000)
    cuts = [1000, 4500, 5001]  # in the hourly rows, in the quarter-hours, in the next series
    chunks = [table.slice(a, b - a) for a, b in itertools.pairwise([0, *cuts, table.num_rows])]
    body = json.loads(b"".join(encode(Layout(query, "series"), "json", chunks)))
    shape = [(o["psr_type"], o["resolution"], len(o["values"])) for o in body["series"]]
    assert shape == [("B01", "PT60M", 4000), ("B01", "PT15M", 1000), ("B02", "PT60M", 3)]
    hour = body["series"][0]["values"][-1]
    assert hour[:2] == ["2024-06-15T15:00:00Z", "2024-06-15T16:00:00Z"]
    arrow = pa.ipc.open_stream(b"".join(encode(Layout(query), "arrow", chunks))).read_all()
    assert arrow["resolution"].type == pa.dictionary(pa.int16(), pa.string())
    assert arrow["resolution"][3999:4001].to_pylist() == ["PT60M", "PT15M"]


def test_resampled_rows_show_the_bucket_as_their_resolution() -> None:
    daily = DataQuery(
        get_dataset("load_actual"),
        series(1),
        T0,
        T0 + timedelta(days=2),
        resample=parse_bucket("1d"),
    )
    table = pa.table(
        {
            "series_id": pa.array([1, 1], pa.int64()),
            "interval_start": pa.array([T0, T0 + timedelta(days=1)], TS),
            "interval_end": pa.array([T0 + timedelta(days=1), T0 + timedelta(days=2)], TS),
            "value": pa.array([1.0, 2.0]),
            "count": pa.array([96, 96], pa.int64()),
        }
    )
    rows = json.loads(b"".join(encode(Layout(daily), "json", [table])))["data"]
    assert [row["resolution"] for row in rows] == ["P1D", "P1D"]  # the series is PT15M
    arrow = pa.ipc.open_stream(b"".join(encode(Layout(daily), "arrow", [table]))).read_all()
    assert arrow["resolution"].to_pylist() == ["P1D", "P1D"]


def test_an_empty_answer_in_the_series_layout() -> None:
    query = DataQuery(get_dataset("load_actual"), series(2), T0, T0 + timedelta(days=1))
    body = json.loads(
        b"".join(encode(Layout(query, "series"), "json", [query.schema().empty_table()]))
    )
    assert body == {"series": [], "meta": {"rows": 0}}


def test_an_unknown_layout_is_an_input_error() -> None:
    query = DataQuery(get_dataset("load_actual"), series(1), T0, T0 + timedelta(days=1))
    with pytest.raises(InputError, match="unknown layout 'columns'; use one of rows, series"):
        Layout(query, "columns")


def test_irregular_intervals_are_shown_as_they_are_and_arrow_says_when_they_are_too_many() -> None:
    # 33,000 rows of as many lengths: JSON shows each (no quadratic work per distinct
    # length); Arrow's int16 dictionary of resolutions cannot hold them and says so.
    query = DataQuery(get_dataset("load_actual"), series(1), T0, T0 + timedelta(days=40_000))
    count = 33_000
    starts = [T0 + timedelta(days=i) for i in range(count)]
    table = pa.table(
        {
            "series_id": pa.array([1] * count, pa.int64()),
            "interval_start": pa.array(starts, TS),
            "interval_end": pa.array(
                [s + timedelta(seconds=61 + i) for i, s in enumerate(starts)], TS
            ),
            "value": pa.array([1.0] * count),
            "flags": pa.array([0] * count, pa.int32()),
        }
    )
    rows = json.loads(b"".join(encode(Layout(query), "json", [table])))["data"]
    assert [row["resolution"] for row in rows[:2]] == ["PT61S", "PT62S"]
    assert rows[-1]["resolution"] == "PT551M"  # 33,060 s
    with pytest.raises(GridvaultError, match=r"distinct resolution values .* format=json"):
        b"".join(encode(Layout(query), "arrow", [table]))
