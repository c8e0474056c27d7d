"""Property-based tests of the store against plain Python references, on both engines."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridvault.coverage import compute_coverage, expected_grid
from gridvault.store import SeriesKey, Store
from gridvault.timegrid import parse_resolution

_counter = itertools.count()
Q = timedelta(minutes=15)
BASE = datetime(2024, 3, 28, tzinfo=UTC)  # the spring DST change is inside the generated range
PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

values = st.one_of(st.none(), st.floats(-500, 4000, allow_nan=False).map(lambda v: round(v, 2)))
rows = st.lists(st.tuples(st.integers(0, 800), values), min_size=1, max_size=120)


def fresh_series(store: Store) -> int:
    return store.ensure_series(
        [SeriesKey("test", "prop", f"A{next(_counter)}", {"measure": "quantity"}, "MW", "PT15M")]
    )[0]


def to_batch(series_id: int, items: list[tuple[int, float | None]]) -> pa.Table:
    starts = [BASE + slot * Q for slot, _ in items]
    return pa.table(
        {
            "series_id": [series_id] * len(items),
            "interval_start": starts,
            "interval_end": [s + Q for s in starts],
            "value": [v for _, v in items],
        }
    )


@PROPERTY
@given(first=rows, second=rows)
def test_upsert_is_idempotent_and_last_write_wins(
    store: Store, first: list[tuple[int, float | None]], second: list[tuple[int, float | None]]
) -> None:
    sid = fresh_series(store)
    expected: dict[int, float | None] = {}
    for slot, value in first:
        expected[slot] = value
    result = store.upsert_observations(to_batch(sid, first))
    assert result.inserted == len(expected)
    repeat = store.upsert_observations(to_batch(sid, first))
    assert (repeat.inserted, repeat.updated, repeat.unchanged) == (0, 0, len(expected))

    after_second = dict(expected)
    latest_second: dict[int, float | None] = {}
    for slot, value in second:
        latest_second[slot] = value
    new = sum(1 for slot in latest_second if slot not in expected)
    changed = sum(
        1 for slot, value in latest_second.items() if slot in expected and expected[slot] != value
    )
    after_second.update(latest_second)
    result2 = store.upsert_observations(to_batch(sid, second))
    assert (result2.inserted, result2.updated) == (new, changed)

    table = store.read([sid], BASE, BASE + 1000 * Q)
    stored = dict(
        zip(
            [int((t - BASE) / Q) for t in table["interval_start"].to_pylist()],
            table["value"].to_pylist(),
            strict=True,
        )
    )
    assert stored == after_second  # no duplicate keys, every value the last written


def _reference(
    items: dict[int, float | None], agg: str, bucket: timedelta
) -> dict[datetime, float | None]:
    groups: dict[datetime, list[tuple[datetime, float]]] = defaultdict(list)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for slot, value in items.items():
        start = BASE + slot * Q
        if value is None:
            groups.setdefault(epoch + ((start - epoch) // bucket) * bucket, [])
            continue
        groups[epoch + ((start - epoch) // bucket) * bucket].append((start, value))
    out: dict[datetime, float | None] = {}
    for key, points in groups.items():
        vals = [v for _, v in sorted(points)]
        if not vals:
            out[key] = None
        elif agg == "mean":
            out[key] = sum(vals) / len(vals)  # equal 15-minute durations
        elif agg == "sum":
            out[key] = sum(vals)
        elif agg == "min":
            out[key] = min(vals)
        elif agg == "max":
            out[key] = max(vals)
        elif agg == "first":
            out[key] = vals[0]
        else:
            out[key] = vals[-1]
    return out


@PROPERTY
@given(
    items=rows,
    agg=st.sampled_from(["mean", "sum", "min", "max", "first", "last"]),
    bucket=st.sampled_from(["30min", "1h", "4h", "12h"]),
)
def test_resample_matches_python_reference(
    store: Store, items: list[tuple[int, float | None]], agg: str, bucket: str
) -> None:
    sid = fresh_series(store)
    latest = dict(items)
    store.upsert_observations(to_batch(sid, items))
    width = {"30min": 30, "1h": 60, "4h": 240, "12h": 720}[bucket]
    expected = _reference(latest, agg, timedelta(minutes=width))
    table = store.resample([sid], BASE, BASE + 1000 * Q, bucket, agg)
    got = dict(zip(table["interval_start"].to_pylist(), table["value"].to_pylist(), strict=True))
    assert got.keys() == expected.keys()
    for bucket_start, value in expected.items():
        if value is None:
            assert got[bucket_start] is None
        else:
            assert got[bucket_start] == pytest.approx(value, rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    day_offset=st.integers(-3, 3),
    days=st.integers(1, 5),
    missing=st.sets(st.integers(0, 5 * 96), max_size=30),
    tz=st.sampled_from(["Europe/Berlin", "Europe/Helsinki", "Europe/London"]),
    autumn=st.booleans(),
)
def test_coverage_counts_local_days_across_dst(
    day_offset: int, days: int, missing: set[int], tz: str, autumn: bool
) -> None:
    """15-minute grid over local days around a DST change: 92/96/100 slots per day."""
    zone = ZoneInfo(tz)
    change_day = datetime(2024, 10, 27) if autumn else datetime(2024, 3, 31)  # noqa: DTZ001
    local_start = change_day + timedelta(days=day_offset)
    start = local_start.replace(tzinfo=zone).astimezone(UTC)
    end = (local_start + timedelta(days=days)).replace(tzinfo=zone).astimezone(UTC)
    exp_s, exp_e = expected_grid(start, end, [(None, parse_resolution("PT15M"))], tz)
    # Reference: the number of real 15-minute slots is the UTC length of the local days.
    assert exp_s.size == int((end - start) / Q)
    present = [i for i in range(exp_s.size) if i not in missing]
    cov = compute_coverage(exp_s, exp_e, exp_s[present], exp_e[present])
    assert cov.present == len(present)
    assert cov.missing == exp_s.size - len(present)
    assert sum(g.intervals for g in cov.gaps) == cov.missing
    daily_s, _ = expected_grid(start, end, [(None, parse_resolution("P1D"))], tz)
    assert daily_s.size == days
