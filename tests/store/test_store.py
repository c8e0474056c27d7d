"""The store contract, run against DuckDB (temp file) and PostgreSQL (throwaway database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from gridvault.errors import InputError, StoreError
from gridvault.store import SeriesKey, Store
from gridvault.store.model import JobSpec

T0 = datetime(2024, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
Q = timedelta(minutes=15)
TS = pa.timestamp("us", tz="UTC")


def key(area: str = "DE_LU", **dims: str) -> SeriesKey:
    return SeriesKey(
        "entsoe", "day_ahead_prices", area, dims or {"measure": "price"}, "EUR/MWh", "PT60M"
    )


def batch(
    series_id: int, start: datetime, values: Sequence[float | None], step: timedelta = H
) -> pa.Table:
    starts = [start + i * step for i in range(len(values))]
    return pa.table(
        {
            "series_id": [series_id] * len(values),
            "interval_start": starts,
            "interval_end": [s + step for s in starts],
            "value": values,
        }
    )


def test_series_register_is_idempotent_and_found_by_key(store: Store) -> None:
    a, b = store.ensure_series([key("DE_LU"), key("FR")])
    again = store.ensure_series([key("FR"), key("DE_LU"), key("FR")])
    assert again == [b, a, b]
    assert a != b
    found = store.find_series(dataset="day_ahead_prices", area="FR")
    assert [s.series_id for s in found] == [b]
    assert found[0].dimensions == {"measure": "price"}
    assert store.get_series(key("DE_LU")) is not None
    assert store.get_series(key("NL")) is None
    # Dimension order does not make a different series.
    k1 = SeriesKey("entsoe", "x", "NL", {"a": "1", "b": "2"})
    k2 = SeriesKey("entsoe", "x", "NL", {"b": "2", "a": "1"})
    assert store.ensure_series([k1]) == store.ensure_series([k2])


def test_upsert_counts_inserted_updated_unchanged(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    first = store.upsert_observations(batch(sid, T0, [1.0, 2.0, 3.0, None]))
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)
    again = store.upsert_observations(batch(sid, T0, [1.0, 2.0, 3.0, None]))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    changed = store.upsert_observations(batch(sid, T0 + 2 * H, [3.0, 4.0, 5.0]))
    assert (changed.inserted, changed.updated, changed.unchanged) == (1, 1, 1)
    table = store.read([sid], T0, T0 + 10 * H)
    assert table["value"].to_pylist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert table.num_rows == 5


def test_duplicates_within_a_batch_last_wins(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    dup = pa.concat_tables([batch(sid, T0, [1.0, 2.0]), batch(sid, T0, [10.0])])
    result = store.upsert_observations(dup)
    assert result.total == 2
    assert store.read([sid], T0, T0 + 2 * H)["value"].to_pylist() == [10.0, 2.0]


def test_read_is_half_open(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    store.upsert_observations(batch(sid, T0, [1.0, 2.0, 3.0]))
    table = store.read([sid], T0 + H, T0 + 2 * H)
    assert table["interval_start"].to_pylist() == [T0 + H]


def test_read_gives_the_columns_asked_for_in_their_order(store: Store) -> None:
    a, b = store.ensure_series([key(), key("FR")])
    store.upsert_observations(batch(b, T0, [4.0, None]))
    store.upsert_observations(batch(a, T0, [1.0, -2.5, 3.0]))
    full = store.read([a, b], T0, T0 + 3 * H)
    narrow = store.read([a, b], T0, T0 + 3 * H, columns=["value", "interval_start"])
    assert narrow.column_names == ["value", "interval_start"]
    assert narrow.schema.field("interval_start").type == pa.timestamp("us", tz="UTC")
    assert narrow.to_pylist() == full.select(["value", "interval_start"]).to_pylist()
    assert narrow["value"].to_pylist() == [1.0, -2.5, 3.0, 4.0, None]
    ids_only = store.read([a, b], T0, T0 + 3 * H, columns=["series_id"])
    assert ids_only.column_names == ["series_id"]
    assert ids_only["series_id"].to_pylist() == [a, a, a, b, b]
    flagged = store.read([b], T0, T0 + 3 * H, columns=["flags", "document_id", "publish_time"])
    assert flagged.to_pylist() == [{"flags": 0, "document_id": None, "publish_time": None}] * 2


def test_read_columns_apply_to_as_of_and_empty_reads(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    t1 = datetime(2024, 2, 1, tzinfo=UTC)
    store.upsert_observations(batch(sid, T0, [1.0, 2.0]), known_at=t1)
    store.upsert_observations(batch(sid, T0, [1.5, 2.0]), known_at=t1 + H)
    old = store.read([sid], T0, T0 + 2 * H, as_of=t1, columns=["interval_end", "value"])
    assert old.to_pylist() == [
        {"interval_end": T0 + H, "value": 1.0},
        {"interval_end": T0 + 2 * H, "value": 2.0},
    ]
    empty = store.read([sid], T0 + 5 * H, T0 + 6 * H, columns=["value", "flags"])
    assert empty.num_rows == 0
    assert empty.schema.types == [pa.float64(), pa.int32()]


@pytest.mark.parametrize("columns", [[], ["value", "value"], ["value", "ingested_at"]])
def test_read_refuses_unknown_or_repeated_columns(store: Store, columns: list[str]) -> None:
    (sid,) = store.ensure_series([key()])
    with pytest.raises(InputError, match="give distinct names among series_id"):
        store.read([sid], T0, T0 + H, columns=columns)


def test_revision_history_and_as_of(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    t1 = datetime(2024, 2, 1, tzinfo=UTC)
    t2 = datetime(2024, 2, 2, tzinfo=UTC)
    t3 = datetime(2024, 2, 3, tzinfo=UTC)
    store.upsert_observations(batch(sid, T0, [1.0, 2.0]), known_at=t1)
    store.upsert_observations(batch(sid, T0, [1.5, 2.0]), known_at=t2)
    store.upsert_observations(batch(sid, T0, [1.7, 2.0]), known_at=t3)
    current = store.read([sid], T0, T0 + 2 * H)
    assert current["value"].to_pylist() == [1.7, 2.0]
    at_t1 = store.read([sid], T0, T0 + 2 * H, as_of=t1 + H)
    assert at_t1["value"].to_pylist() == [1.0, 2.0]
    at_t2 = store.read([sid], T0, T0 + 2 * H, as_of=t2 + H)
    assert at_t2["value"].to_pylist() == [1.5, 2.0]
    before = store.read([sid], T0, T0 + 2 * H, as_of=t1 - H)
    assert before.num_rows == 0
    versions = store.history(sid, T0)
    assert [v[0] for v in versions] == [1.0, 1.5]


def forecast(series_id: int, values: Sequence[float], published: datetime) -> pa.Table:
    table = batch(series_id, T0, values)
    return table.append_column("publish_time", pa.array([published] * len(values), TS))


def test_published_before_gives_the_vintage_that_stood_then(store: Store) -> None:
    """A revised forecast: published_before P returns the version published at or before P,
    also when a later vintage replaced it (it used to drop such intervals)."""
    (sid,) = store.ensure_series([key()])
    p1, p2 = T0 - 14 * H, T0 - 6 * H  # the day-ahead forecast and its revision
    received = datetime(2024, 2, 1, tzinfo=UTC)
    store.upsert_observations(forecast(sid, [100.0, 101.0, 102.0], p1), known_at=received)
    store.upsert_observations(forecast(sid, [200.0, 101.0], p2), known_at=received + H)

    def values(published_before: datetime, as_of: datetime | None = None) -> list[float]:
        table = store.read([sid], T0, T0 + 3 * H, published_before=published_before, as_of=as_of)
        return [float(v) for v in table["value"].to_pylist()]

    assert values(p1 - H) == []
    assert values(p1) == [100.0, 101.0, 102.0]  # at P itself it was published
    assert values(p2 - H) == [100.0, 101.0, 102.0]
    assert values(p2 + H) == [200.0, 101.0, 102.0]  # the second hour was not revised
    # What had been received by a time, among the vintages published by another.
    assert values(p2 + H, as_of=received + H / 2) == [100.0, 101.0, 102.0]
    assert values(p2 + H, as_of=received - H) == []
    columns = store.read(
        [sid], T0, T0 + 3 * H, published_before=p2 - H, columns=["interval_start", "value"]
    )
    assert columns.column_names == ["interval_start", "value"]
    assert columns["interval_start"].to_pylist() == [T0, T0 + H, T0 + 2 * H]
    daily = store.resample([sid], T0, T0 + 3 * H, "1d", "max", published_before=p2 - H)
    assert daily["value"].to_pylist() == [102.0]
    assert store.read([sid], T0, T0 + 3 * H)["value"].to_pylist() == [200.0, 101.0, 102.0]


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    (sid,) = store.ensure_series([key()])

    def write_then_fail() -> None:
        with store.session(write=True):
            store.upsert_observations(batch(sid, T0, [1.0, 2.0]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert store.read([sid], T0, T0 + 5 * H).num_rows == 0


def test_bad_batches_are_refused_before_writing(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    bad = pa.table(
        {"series_id": [sid], "interval_start": [T0], "interval_end": [T0], "value": [1.0]}
    )
    with pytest.raises(InputError, match="end is not after"):
        store.upsert_observations(bad)
    with pytest.raises(InputError, match="lacks columns"):
        store.upsert_observations(pa.table({"series_id": [sid]}))
    with pytest.raises(InputError, match="not after start"):
        store.read([sid], T0 + H, T0)


def test_resample_mean_is_time_weighted_and_ohlc(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    # One hour of 15-minute values and one plain hourly value in the same 2-hour bucket.
    store.upsert_observations(batch(sid, T0, [10.0, 20.0, 30.0, 40.0], step=Q))
    store.upsert_observations(batch(sid, T0 + H, [100.0]))
    mean = store.resample([sid], T0, T0 + 2 * H, "2h", "mean")
    assert mean["value"].to_pylist() == [pytest.approx((25.0 + 100.0) / 2)]
    assert mean["count"].to_pylist() == [5]
    ohlc = store.resample([sid], T0, T0 + 2 * H, "1h", "ohlc")
    assert ohlc["open"].to_pylist() == [10.0, 100.0]
    assert ohlc["high"].to_pylist() == [40.0, 100.0]
    assert ohlc["low"].to_pylist() == [10.0, 100.0]
    assert ohlc["close"].to_pylist() == [40.0, 100.0]
    assert ohlc["interval_start"].to_pylist() == [T0, T0 + H]
    assert ohlc["interval_end"].to_pylist() == [T0 + H, T0 + 2 * H]


def test_daily_buckets_follow_local_days_across_dst(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    # Berlin 2024-10-27 is a 25-hour day: 2024-10-26T22:00Z .. 2024-10-27T23:00Z.
    start = datetime(2024, 10, 26, 22, tzinfo=UTC)
    store.upsert_observations(batch(sid, start, [1.0] * 25 + [2.0] * 24))
    daily = store.resample([sid], start, start + 49 * H, "1d", "sum", tz="Europe/Berlin")
    assert daily["interval_start"].to_pylist() == [start, start + 25 * H]
    assert daily["interval_end"].to_pylist() == [start + 25 * H, start + 49 * H]
    assert daily["value"].to_pylist() == [25.0, 48.0]
    utc_daily = store.resample([sid], start, start + 49 * H, "1d", "count")
    assert utc_daily["interval_start"].to_pylist()[0] == datetime(2024, 10, 26, tzinfo=UTC)


def test_resample_rejects_bad_parameters(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    with pytest.raises(InputError, match="unknown resample bucket"):
        store.resample([sid], T0, T0 + H, "7min", "mean")
    with pytest.raises(InputError, match="unknown aggregation"):
        store.resample([sid], T0, T0 + H, "1h", "median")
    with pytest.raises(InputError, match="unknown time zone"):
        store.resample([sid], T0, T0 + H, "1d", "mean", tz="Mars/Olympus")


def test_coverage_finds_gaps_and_nulls(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    store.upsert_observations(batch(sid, T0, [1.0, 2.0, None, 4.0]))
    store.upsert_observations(batch(sid, T0 + 6 * H, [7.0]))
    cov = store.coverage(sid, T0, T0 + 8 * H)
    assert (cov.expected, cov.present, cov.missing) == (8, 4, 4)
    assert [(g.start, g.end, g.intervals) for g in cov.gaps] == [
        (T0 + 2 * H, T0 + 3 * H, 1),
        (T0 + 4 * H, T0 + 6 * H, 2),
        (T0 + 7 * H, T0 + 8 * H, 1),
    ]
    assert cov.completeness == pytest.approx(0.5)


def test_coverage_of_daily_series_in_local_time(store: Store) -> None:
    key_daily = SeriesKey("entsoe", "ntc_week_ahead", "DK_1", {"measure": "quantity"}, "MW", "P1D")
    (sid,) = store.ensure_series([key_daily])
    # Copenhagen days around the spring change: 23:00Z before, 22:00Z after 2026-03-29.
    starts = [
        datetime(2026, 3, 27, 23, tzinfo=UTC),
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    ]
    ends = [starts[1], starts[2], datetime(2026, 3, 30, 22, tzinfo=UTC)]
    store.upsert_observations(
        pa.table(
            {
                "series_id": [sid] * 3,
                "interval_start": starts,
                "interval_end": ends,
                "value": [1.0, 2.0, 3.0],
            }
        )
    )
    cov = store.coverage(sid, starts[0], ends[-1] + timedelta(days=1), tz="Europe/Copenhagen")
    assert (cov.expected, cov.present) == (4, 3)
    assert cov.gaps[0].start == datetime(2026, 3, 30, 22, tzinfo=UTC)


def test_latest_and_stats(store: Store) -> None:
    a, b = store.ensure_series([key("DE_LU"), key("FR")])
    store.upsert_observations(batch(a, T0, [1.0, 2.0, 3.0]))
    store.upsert_observations(batch(b, T0, [5.0]))
    latest = store.latest([a, b])
    assert latest["value"].to_pylist() == [3.0, 5.0]
    stats = store.series_stats([a, b])
    assert stats["rows"].to_pylist() == [3, 1]
    assert stats["latest"].to_pylist()[0] == T0 + 2 * H


def test_archive_is_content_addressed_and_scrubs_secrets(store: Store) -> None:
    body = b"<xml>payload</xml>" * 100
    request = {
        "url": "https://x/api?securityToken=SECRET123&documentType=A44",
        "securityToken": "SECRET123",
        "params": {"documentType": "A44", "api_key": "k"},
    }
    first = store.archive_payload(
        body,
        source="entsoe",
        request=request,
        http_status=200,
        content_type="text/xml",
        dataset="day_ahead_prices",
    )
    second = store.archive_payload(body, source="entsoe", request=request, http_status=200)
    assert first.sha256 == second.sha256
    assert first.archive_id != second.archive_id
    assert store.payload(first.sha256) == body
    store.set_parse_outcome(first.archive_id, "ok")
    records = store.archive_records(outcome="ok")
    assert [r.archive_id for r in records] == [first.archive_id]
    text = repr(records[0].request)
    assert "SECRET123" not in text
    assert "api_key" not in text
    assert records[0].size == len(body)
    with pytest.raises(StoreError):
        store.payload("0" * 64)


def test_outage_events_upsert_and_latest_revision(store: Store) -> None:
    from gridvault.entsoe.schema import OUTAGE_SCHEMA

    def event(rev: int, capacity: float, status: str = "A05") -> dict[str, object]:
        row: dict[str, object] = dict.fromkeys(OUTAGE_SCHEMA.names)
        row.update(
            document_mrid="doc1",
            revision_number=rev,
            timeseries_mrid="1",
            area="10YBE----------2",
            interval_start=T0,
            interval_end=T0 + 10 * H,
            event_start=T0,
            event_end=T0 + 10 * H,
            available_capacity=capacity,
            doc_status=status,
            dataset="outages_generation_units",
        )
        return row

    table = pa.Table.from_pylist([event(1, 100.0)], schema=OUTAGE_SCHEMA)
    assert store.upsert_outages(table).inserted == 1
    assert store.upsert_outages(table).unchanged == 1
    changed = pa.Table.from_pylist([event(1, 50.0)], schema=OUTAGE_SCHEMA)
    assert store.upsert_outages(changed).updated == 1
    store.upsert_outages(pa.Table.from_pylist([event(2, 0.0)], schema=OUTAGE_SCHEMA))
    rows = store.read_outages(start=T0, end=T0 + H, areas=["10YBE----------2"])
    assert rows["revision_number"].to_pylist() == [2]
    assert rows["available_capacity"].to_pylist() == [0.0]
    all_revisions = store.read_outages(start=T0, end=T0 + H, latest_revision_only=False)
    assert sorted(all_revisions["revision_number"].to_pylist()) == [1, 2]
    store.upsert_outages(pa.Table.from_pylist([event(3, 0.0, "A09")], schema=OUTAGE_SCHEMA))
    assert store.read_outages(start=T0, end=T0 + H).num_rows == 0


def test_a_plan_larger_than_one_insert_statement_is_enqueued_whole_and_once(store: Store) -> None:
    specs = [
        JobSpec("big", "backfill", "entsoe", "load_actual", "NL", T0 + i * H, T0 + (i + 1) * H)
        for i in range(1_201)  # three statements' worth
    ]
    assert store.enqueue_jobs(specs) == 1_201
    assert store.enqueue_jobs(specs[600:] + specs[:10]) == 0
    assert store.job_counts("big")["pending"] == 1_201


def test_job_ledger_leases(store: Store) -> None:
    specs = [
        JobSpec("plan1", "backfill", "entsoe", "load_actual", "NL", T0 + i * H, T0 + (i + 1) * H)
        for i in range(3)
    ]
    assert store.enqueue_jobs(specs) == 3
    assert store.enqueue_jobs(specs) == 0  # never twice
    a = store.claim_jobs("worker-a", limit=2, lease_seconds=60)
    b = store.claim_jobs("worker-b", limit=5, lease_seconds=60)
    assert len(a) == 2
    assert len(b) == 1
    assert {j.job_id for j in a}.isdisjoint({j.job_id for j in b})
    assert store.complete_job(a[0].job_id, "worker-a", {"inserted": 4})
    assert not store.complete_job(a[1].job_id, "worker-b")  # not the lease holder
    assert store.fail_job(a[1].job_id, "worker-a", "HTTP 503", retry_after=0) == "pending"
    assert store.fail_job(b[0].job_id, "worker-b", "bad request") == "failed"
    retried = store.claim_jobs("worker-c", limit=5)
    assert [j.job_id for j in retried] == [a[1].job_id]
    assert retried[0].attempts == 2
    assert retried[0].last_error == "HTTP 503"
    counts = store.job_counts("plan1")
    assert counts == {"pending": 0, "running": 1, "done": 1, "failed": 1}
    failed = store.jobs(state="failed")
    assert failed[0].last_error == "bad request"
    assert store.jobs(job_ids=[a[0].job_id])[0].result == {"inserted": 4}


def test_expired_lease_is_taken_over(store: Store) -> None:
    store.enqueue_jobs([JobSpec("p", "backfill", "entsoe", "load_actual", "NL", T0, T0 + H)])
    (job,) = store.claim_jobs("dead-worker", lease_seconds=-1)  # already expired
    (taken,) = store.claim_jobs("live-worker", lease_seconds=60)
    assert taken.job_id == job.job_id
    assert not store.renew_lease(job.job_id, "dead-worker")
    assert store.renew_lease(job.job_id, "live-worker")
    assert not store.complete_job(job.job_id, "dead-worker")
    assert store.complete_job(job.job_id, "live-worker")


def test_last_changed_moves_only_when_values_change(store: Store) -> None:
    (sid,) = store.ensure_series([key()])
    assert store.last_changed([sid]) is None
    t1 = datetime(2024, 5, 1, tzinfo=UTC)
    t2 = datetime(2024, 5, 2, tzinfo=UTC)
    t3 = datetime(2024, 5, 3, tzinfo=UTC)
    store.upsert_observations(batch(sid, T0, [1.0]), known_at=t1)
    assert store.last_changed([sid]) == t1
    store.upsert_observations(batch(sid, T0, [1.0]), known_at=t2)  # unchanged
    assert store.last_changed([sid]) == t1
    store.upsert_observations(batch(sid, T0, [2.0]), known_at=t3)
    assert store.last_changed([sid]) == t3


def test_resolution_follows_the_newest_data_only(store: Store) -> None:
    quarter = SeriesKey(
        "entsoe", "day_ahead_prices", "ES", {"measure": "price"}, "EUR/MWh", "PT15M"
    )
    (sid,) = store.ensure_series([quarter])
    store.upsert_observations(batch(sid, datetime(2025, 10, 1, tzinfo=UTC), [1.0], step=Q))
    hourly = SeriesKey("entsoe", "day_ahead_prices", "ES", {"measure": "price"}, "EUR/MWh", "PT60M")
    assert store.ensure_series([hourly]) == [sid]
    # Old hourly data arriving later does not make the series hourly again...
    assert not store.note_resolution(sid, "PT60M", datetime(2025, 9, 30, 21, tzinfo=UTC))
    assert store.find_series(series_ids=[sid])[0].resolution == "PT15M"
    # ...newer data in another resolution does.
    assert store.note_resolution(sid, "PT30M", datetime(2025, 10, 2, tzinfo=UTC))
    assert store.find_series(series_ids=[sid])[0].resolution == "PT30M"
