"""Window outcomes, monitoring counters and schedule state on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridvault.errors import InputError
from gridvault.store import Store
from gridvault.store.collection_state import (
    record_window,
    schedule_finished,
    schedule_started,
    schedule_states,
    statuses,
    window_outcomes,
)

D1 = datetime(2024, 1, 1, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
D3 = D2 + timedelta(days=1)


def test_window_outcomes_keep_no_data_apart_and_success_sticks(store: Store) -> None:
    record_window(
        store,
        dataset="load_actual",
        area="NL",
        window_start=D1,
        window_end=D2,
        outcome="data",
        points=96,
        inserted=96,
        http_status=200,
    )
    record_window(
        store,
        dataset="load_actual",
        area="NL",
        window_start=D2,
        window_end=D3,
        outcome="no_data",
        http_status=200,
    )
    record_window(
        store,
        dataset="load_actual",
        area="NL",
        window_start=D1,
        window_end=D2,
        outcome="failed",
        http_status=503,
        error="HTTP 503",
    )
    windows = window_outcomes(store, dataset="load_actual", areas=["NL"], start=D1, end=D3)
    assert [(w.window_start, w.outcome) for w in windows] == [(D1, "data"), (D2, "no_data")]
    assert windows[0].attempts == 2
    assert windows[0].last_error == "HTTP 503"  # kept for the operator, outcome stays data
    assert window_outcomes(store, dataset="load_actual", outcome="no_data")[0].window_start == D2
    (status,) = statuses(store, dataset="load_actual")
    assert (status.requests, status.failures, status.empty_windows) == (3, 1, 1)
    assert status.points_inserted == 96
    assert status.status_codes == {"200": 2, "503": 1}
    assert not status.healthy
    with pytest.raises(InputError):
        record_window(
            store, dataset="x", area="NL", window_start=D1, window_end=D2, outcome="maybe"
        )


def test_a_first_failure_is_recorded_as_failed(store: Store) -> None:
    record_window(
        store,
        dataset="day_ahead_prices",
        area="FR",
        window_start=D1,
        window_end=D2,
        outcome="failed",
        error="timeout",
    )
    (window,) = window_outcomes(store, dataset="day_ahead_prices")
    assert window.outcome == "failed"
    assert window.last_success_at is None


def test_the_last_successful_fetch_and_what_it_changed_are_kept(store: Store) -> None:
    def fetched(start: datetime, outcome: str, inserted: int = 0, updated: int = 0) -> None:
        record_window(
            store,
            dataset="load_actual",
            area="NL",
            window_start=start,
            window_end=start + timedelta(days=1),
            outcome=outcome,
            inserted=inserted,
            updated=updated,
        )

    fetched(D1, "data", inserted=96)
    fetched(D2, "data", inserted=3, updated=5)
    fetched(D3, "failed")
    (status,) = statuses(store, dataset="load_actual")
    assert (status.last_fetch_start, status.last_fetch_end) == (D2, D3)  # not the failure
    assert (status.last_fetch_inserted, status.last_fetch_updated) == (3, 5)
    assert (status.points_inserted, status.points_updated) == (99, 5)
    assert not status.healthy
    fetched(D1, "no_data")
    (status,) = statuses(store, dataset="load_actual")
    assert (status.last_fetch_start, status.last_fetch_inserted) == (D1, 0)


def test_schedule_state_survives(store: Store) -> None:
    schedule_started(store, "prices", at=D1)
    schedule_finished(store, "prices", "ok", at=D1 + timedelta(seconds=5))
    schedule_started(store, "prices", at=D2)
    state = schedule_states(store)["prices"]
    assert state.runs == 2
    assert state.last_started_at == D2
    assert state.last_finished_at == D1 + timedelta(seconds=5)
    assert state.last_outcome == "ok"


@pytest.mark.postgres
def test_concurrent_first_records_do_not_collide(pg_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gridvault.store.postgres_store import PostgresStore

    with PostgresStore(pg_url, pool_size=8) as pg:

        def write(i: int) -> None:
            record_window(
                pg,
                dataset="load_actual",
                area="NL",
                window_start=D1 + timedelta(hours=i % 3),
                window_end=D2,
                outcome="data",
                inserted=1,
                http_status=200,
            )

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, range(24)))
        (status,) = statuses(pg, dataset="load_actual")
        assert status.requests == 24
        assert status.points_inserted == 24
        assert status.status_codes == {"200": 24}
        assert sum(w.attempts for w in window_outcomes(pg, dataset="load_actual")) == 24
