"""Text of columns for JSON/CSV bodies: the fast paths write what Arrow's own casts write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvault.api.streaming import DataQuery, Layout, encode
from gridvault.api.texts import ChunkTimes, format_times, json_numbers
from gridvault.entsoe.catalog import get_dataset
from gridvault.store import Series

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
STEP = timedelta(minutes=15)


def arrow_json_numbers(column: pa.Array) -> list[str]:
    """The reference: Arrow's shortest round-trip text, ``null`` for null, NaN and infinity."""
    text = column.cast(pa.string()).to_pylist()
    finite = pc.is_finite(column).to_pylist()
    return [t if ok else "null" for t, ok in zip(text, finite, strict=True)]


def joined(parts: list[pa.Array | str]) -> list[str]:
    result: list[str] = pc.binary_join_element_wise(*parts, "").to_pylist()
    return result


#: What may follow a number in a row: nothing, the rest of a row in the series layout, a
#: text too long to be written into the table of number texts.
SUFFIXES = st.sampled_from(["", ",0]", ',"flags":1,"dataset":"load_actual","area":"DE_LU"}'])


decimals = st.integers(min_value=0, max_value=3).flatmap(
    lambda d: st.lists(
        st.integers(min_value=-(10**11), max_value=10**11).map(lambda n: n / 10**d),
        min_size=1,
        max_size=80,
    )
)
floats = st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=80)


@settings(deadline=None)  # a busy machine: hypothesis's 200 ms deadline is not ours
@given(decimals, SUFFIXES)
def test_numbers_with_few_decimals_are_written_as_arrow_writes_them(
    values: list[float], suffix: str
) -> None:
    column = pa.array(values, pa.float64())
    expected = [text + suffix for text in arrow_json_numbers(column)]
    assert joined(json_numbers(column, suffix)) == expected


@settings(deadline=None)
@given(floats, st.lists(st.booleans(), min_size=80, max_size=80), SUFFIXES)
def test_any_float_and_null_is_written_as_arrow_writes_it(
    values: list[float], nulls: list[bool], suffix: str
) -> None:
    column = pa.array(values, pa.float64(), mask=np.array(nulls[: len(values)]))
    expected = [text + suffix for text in arrow_json_numbers(column)]
    assert joined(json_numbers(column, suffix)) == expected


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -0.0, -0.5, -0.05, 0.001, -0.001, 7.0, -7.0],
        [999_999_999.9, 1e9, 1e10, 123.4567, 5e-324, 1e-7, 0.1 + 0.2],
        [812.3, float("nan"), float("inf"), -float("inf"), None, 1.5],
        [9999.9, -9999.9, 0.1, -0.1, 12.0],  # the ends of the table of texts
        [99999.0, -99999.0, 100000.0],
        [-99999.0, 5.0, -0.0],
    ],
)
def test_edge_numbers(values: list[float | None]) -> None:
    column = pa.array(values, pa.float64())
    assert joined(json_numbers(column)) == arrow_json_numbers(column)


def grid_table(
    starts: list[list[int]], publish: bool = False, lengths: tuple[int, ...] = ()
) -> pa.Table:
    """Rows of series 1, 2, … whose starts are the given 15-minute steps after T0, each
    ``lengths[i]`` steps long (one by default)."""
    t0 = int(T0.timestamp() * 1_000_000)
    step = int(STEP.total_seconds() * 1_000_000)
    ids, first, last = [], [], []
    for sid, steps in enumerate(starts, start=1):
        length = lengths[sid - 1] if sid <= len(lengths) else 1
        ids += [sid] * len(steps)
        first += [t0 + s * step for s in steps]
        last += [t0 + (s + length) * step for s in steps]
    columns = {
        "series_id": pa.array(ids, pa.int64()),
        "interval_start": pa.array(first, TS),
        "interval_end": pa.array(last, TS),
        "value": pa.array(np.arange(len(ids)) / 10, pa.float64()),
    }
    if publish:
        columns["publish_time"] = pa.array(
            [None if i % 3 == 0 else v - 7_000_001 for i, v in enumerate(first)], TS
        )
    columns["flags"] = pa.array([0] * len(ids), pa.int32())
    return pa.table(columns)


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_time_texts_by_slice_or_by_index_equal_formatted_times(tz: str | None) -> None:
    # series 1 on the grid, series 2 with a gap, series 3 on a shifted grid
    table = grid_table([list(range(10)), [0, 1, 2, 5, 6], [3, 4, 5, 6, 7, 8, 9, 10]], True)
    times = ChunkTimes(table, tz, quote=True, pair=("<", "|", ">"))
    for name in ("interval_start", "interval_end", "publish_time"):
        column = table.column(name).combine_chunks()
        expected = pc.fill_null(format_times(column, tz, quote=True), "null")
        assert times.of(name, column).to_pylist() == expected.to_pylist()
    first = table.slice(0, 10).to_batches()[0]
    gap = table.slice(10, 5).to_batches()[0]
    pairs = times.pairs(first)
    assert pairs is not None
    start = format_times(first.column("interval_start"), tz, quote=True).to_pylist()
    end = format_times(first.column("interval_end"), tz, quote=True).to_pylist()
    assert pairs.to_pylist() == [f"<{a}|{b}>" for a, b in zip(start, end, strict=True)]
    assert times.pairs(gap) is None  # not a run of the chunk's instants


def test_json_rows_are_the_same_on_and_off_the_grid_and_across_chunks() -> None:
    dataset = get_dataset("load_forecast_day_ahead")
    series = [
        Series(i, "entsoe", dataset.name, "DE_LU", {"psr_type": f"B{i}"}, "MW", "PT15M")
        for i in (1, 2, 3)
    ]
    query = DataQuery(dataset, series, T0, T0 + timedelta(days=1))
    table = grid_table([list(range(20)), [0, 1, 2, 5, 6], list(range(3, 20))], publish=True)
    table = table.select(query.schema().names).cast(query.schema())
    whole = json.loads(b"".join(encode(Layout(query), "json", [table])))
    split = json.loads(b"".join(encode(Layout(query), "json", [table[:12], table[12:]])))
    assert whole["data"] == split["data"]
    rows = whole["data"]
    assert len(rows) == table.num_rows
    start = format_times(table.column("interval_start").combine_chunks(), None).to_pylist()
    publish = format_times(table.column("publish_time").combine_chunks(), None).to_pylist()
    assert [r["interval_start"] for r in rows] == start
    assert [r["publish_time"] for r in rows] == publish
    assert [r["psr_type"] for r in rows] == ["B1"] * 20 + ["B2"] * 5 + ["B3"] * 17


def test_rows_that_do_not_end_at_the_next_instant_take_their_own_end() -> None:
    table = grid_table([list(range(10)), list(range(10))], lengths=(1, 2))
    times = ChunkTimes(table, None, quote=True, pair=("<", "|", ">"))
    second = table.slice(10, 10).to_batches()[0]  # starts are a run, ends are not next
    assert times.pairs(second) is None
    dataset = get_dataset("load_actual")
    series = [Series(i, "entsoe", dataset.name, "FI", {}, "MW", "PT15M") for i in (1, 2)]
    query = DataQuery(dataset, series, T0, T0 + timedelta(days=1))
    table = table.select(query.schema().names).cast(query.schema())
    rows = json.loads(b"".join(encode(Layout(query), "json", [table])))["data"]
    end = format_times(table.column("interval_end").combine_chunks(), None).to_pylist()
    assert [r["interval_end"] for r in rows] == end
