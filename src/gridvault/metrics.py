"""Domain metrics for Prometheus: collection health, data freshness, schedule runs.

A custom collector (:class:`DomainMetrics`) reads the store at scrape time — the counters
:func:`~gridvault.store.collection_state.record_window` keeps per dataset and area, the
scheduler's persisted runs, and the latest stored interval of each dataset/area — so the
numbers are the same whichever process collected the data and survive restarts. Register
it on the API's registry with :func:`register_domain_metrics`, or serve it alone with
:func:`serve_metrics` (``gridvault run --metrics-port``).

Exposed (labels ``source``, ``dataset``, ``area``, ``area_to`` — empty for one area; the
schedule ones by ``job``)::

    gridvault_domain_metrics_up                               1 when the store answered
    gridvault_collection_last_success_timestamp_seconds       last window collected (Unix time)
    gridvault_collection_last_attempt_timestamp_seconds
    gridvault_collection_last_failure_timestamp_seconds
    gridvault_collection_healthy                              1 unless the last attempt failed
    gridvault_collection_requests_total{code}                 upstream responses by HTTP status
    gridvault_collection_failures_total                       failed windows
    gridvault_collection_empty_windows_total                  "no matching data" windows
    gridvault_collection_points_inserted_total                values new to the store
    gridvault_collection_points_updated_total                 values that changed
    gridvault_collection_points_unchanged_total
    gridvault_collection_revisions_total                      = updated: each kept in history
    gridvault_data_latest_interval_end_timestamp_seconds      end of the newest stored value
    gridvault_data_freshness_lag_seconds                      now - that end (< 0: forecasts)
    gridvault_schedule_last_start_timestamp_seconds{job}
    gridvault_schedule_last_finish_timestamp_seconds{job}
    gridvault_schedule_last_run_ok{job}                       1 when the last run was ok
    gridvault_schedule_running{job}                           1 while a run holds the job
    gridvault_schedule_runs_total{job}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gridvault.logs import get_logger, redact
from gridvault.store import Store
from gridvault.store.base import _aware
from gridvault.store.collection_state import (
    CollectionStatus,
    ScheduleState,
    schedule_states,
    statuses,
)

log = get_logger("gridvault.metrics")

_KEY = ["source", "dataset", "area", "area_to"]
_DATA_KEY = ["dataset", "area", "area_to"]


@dataclass(frozen=True, slots=True)
class Freshness:
    """The newest stored value of a dataset in an area (or border): its interval end."""

    dataset: str
    area: str
    area_to: str | None
    latest_end: datetime | None
    series: int

    def lag_seconds(self, now: datetime) -> float | None:
        """``now`` minus the newest interval end (negative when data reach into the future)."""
        if self.latest_end is None:
            return None
        return (now - self.latest_end).total_seconds()


def data_freshness(store: Store, *, dataset: str | None = None) -> list[Freshness]:
    """Per dataset and area (border), the end of the newest stored interval.

    One indexed lookup per series (the newest row by ``interval_start``), not a scan of
    every observation, so it is cheap enough for every scrape. The newest series of a
    dataset/area counts: a discontinued production type does not make the area look stale.
    """
    where = "WHERE s.dataset = ?" if dataset else ""
    with store.session() as db:
        rows = db.fetchall(
            "SELECT s.dataset, s.area, s.dimensions, (SELECT o.interval_end FROM observations o "
            "WHERE o.series_id = s.series_id ORDER BY o.interval_start DESC LIMIT 1) "
            f"FROM series s {where} ORDER BY s.dataset, s.area",
            [dataset] if dataset else [],
        )
    grouped: dict[tuple[str, str, str | None], tuple[datetime | None, int]] = {}
    for name, area, dimensions, latest in rows:
        area_to = json.loads(dimensions).get("area_to") if dimensions else None
        key = (name, area, area_to)
        best, count = grouped.get(key, (None, 0))
        moment = _aware(latest)
        if moment is not None and (best is None or moment > best):
            best = moment
        grouped[key] = (best, count + 1)
    return [
        Freshness(name, area, area_to, latest, count)
        for (name, area, area_to), (latest, count) in sorted(
            grouped.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")
        )
    ]


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


class DomainMetrics(Collector):
    """Reads the store at each scrape; a store that does not answer gives ``up 0``."""

    def __init__(
        self,
        store: Store | Callable[[], Store],
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._now = now or (lambda: datetime.now(UTC))

    def _get_store(self) -> Store:
        return self._store if isinstance(self._store, Store) else self._store()

    def describe(self) -> Iterable[Metric]:
        return []  # everything is read at scrape time; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "gridvault_domain_metrics_up", "1 when the store answered the domain-metrics queries"
        )
        try:
            store = self._get_store()
            rows = statuses(store)
            states = schedule_states(store)
            fresh = data_freshness(store)
        except Exception as exc:
            log.warning("metrics: store unavailable", error=redact(str(exc)))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _collection(rows)
        yield from _freshness(fresh, self._now())
        yield from _schedule(states)


def _collection(rows: list[CollectionStatus]) -> Iterable[Metric]:
    gauges = {
        "last_success": GaugeMetricFamily(
            "gridvault_collection_last_success_timestamp_seconds",
            "When a window of this dataset/area was last collected successfully (Unix time)",
            labels=_KEY,
        ),
        "last_attempt": GaugeMetricFamily(
            "gridvault_collection_last_attempt_timestamp_seconds",
            "When a window of this dataset/area was last requested (Unix time)",
            labels=_KEY,
        ),
        "last_failure": GaugeMetricFamily(
            "gridvault_collection_last_failure_timestamp_seconds",
            "When a window of this dataset/area last failed (Unix time)",
            labels=_KEY,
        ),
    }
    healthy = GaugeMetricFamily(
        "gridvault_collection_healthy",
        "1 unless the last attempt for this dataset/area failed",
        labels=_KEY,
    )
    requests = CounterMetricFamily(
        "gridvault_collection_requests",
        "Upstream responses for this dataset/area, by HTTP status code",
        labels=[*_KEY, "code"],
    )
    counters = {
        "failures": CounterMetricFamily(
            "gridvault_collection_failures", "Windows that failed (recorded gaps)", labels=_KEY
        ),
        "empty_windows": CounterMetricFamily(
            "gridvault_collection_empty_windows",
            "Windows the upstream answered with no matching data",
            labels=_KEY,
        ),
        "points_inserted": CounterMetricFamily(
            "gridvault_collection_points_inserted", "Values new to the store", labels=_KEY
        ),
        "points_updated": CounterMetricFamily(
            "gridvault_collection_points_updated",
            "Stored values that changed (revisions)",
            labels=_KEY,
        ),
        "points_unchanged": CounterMetricFamily(
            "gridvault_collection_points_unchanged",
            "Values fetched again and found unchanged",
            labels=_KEY,
        ),
    }
    revisions = CounterMetricFamily(
        "gridvault_collection_revisions",
        "Revised values: each replaced one is kept in the revision history",
        labels=_KEY,
    )
    for row in rows:
        labels = [row.source, row.dataset, row.area, row.area_to or ""]
        for name, family in gauges.items():
            moment = _ts(getattr(row, f"{name}_at"))
            if moment is not None:
                family.add_metric(labels, moment)
        healthy.add_metric(labels, 1 if row.healthy else 0)
        for code, count in sorted(row.status_codes.items()):
            requests.add_metric([*labels, code], count)
        for name, counter in counters.items():
            counter.add_metric(labels, getattr(row, name))
        revisions.add_metric(labels, row.points_updated)
    yield from gauges.values()
    yield healthy
    yield requests
    yield from counters.values()
    yield revisions


def _freshness(rows: list[Freshness], now: datetime) -> Iterable[Metric]:
    latest = GaugeMetricFamily(
        "gridvault_data_latest_interval_end_timestamp_seconds",
        "End of the newest stored interval of this dataset/area (Unix time)",
        labels=_DATA_KEY,
    )
    lag = GaugeMetricFamily(
        "gridvault_data_freshness_lag_seconds",
        "Now minus the end of the newest stored interval (negative: data reach ahead)",
        labels=_DATA_KEY,
    )
    for row in rows:
        if row.latest_end is None:
            continue
        labels = [row.dataset, row.area, row.area_to or ""]
        latest.add_metric(labels, row.latest_end.timestamp())
        lag.add_metric(labels, row.lag_seconds(now) or 0.0)
    yield latest
    yield lag


def _schedule(states: dict[str, ScheduleState]) -> Iterable[Metric]:
    started = GaugeMetricFamily(
        "gridvault_schedule_last_start_timestamp_seconds",
        "When a run of this scheduled job last started (Unix time)",
        labels=["job"],
    )
    finished = GaugeMetricFamily(
        "gridvault_schedule_last_finish_timestamp_seconds",
        "When a run of this scheduled job last finished (Unix time)",
        labels=["job"],
    )
    ok = GaugeMetricFamily(
        "gridvault_schedule_last_run_ok",
        "1 when the last finished run of this job was ok",
        labels=["job"],
    )
    running = GaugeMetricFamily(
        "gridvault_schedule_running", "1 while a run holds this job", labels=["job"]
    )
    runs = CounterMetricFamily(
        "gridvault_schedule_runs", "Runs of this scheduled job started", labels=["job"]
    )
    for name, state in states.items():
        if state.last_started_at is not None:
            started.add_metric([name], state.last_started_at.timestamp())
        if state.last_finished_at is not None:
            finished.add_metric([name], state.last_finished_at.timestamp())
        if state.last_outcome is not None:
            ok.add_metric([name], 1 if state.last_outcome == "ok" else 0)
        running.add_metric([name], 1 if is_running(state) else 0)
        runs.add_metric([name], state.runs)
    yield started
    yield finished
    yield ok
    yield running
    yield runs


def is_running(state: ScheduleState) -> bool:
    """A run started and has not finished (or died without finishing)."""
    if state.last_started_at is None:
        return False
    return state.last_finished_at is None or state.last_finished_at < state.last_started_at


def register_domain_metrics(
    registry: CollectorRegistry,
    store: Store | Callable[[], Store],
    *,
    now: Callable[[], datetime] | None = None,
) -> DomainMetrics:
    """Add the domain collector to ``registry`` (e.g. the API app's) and return it."""
    collector = DomainMetrics(store, now=now)
    registry.register(collector)
    return collector


def serve_metrics(
    store: Store | Callable[[], Store], port: int, host: str = "127.0.0.1"
) -> tuple[WSGIServer, Thread]:
    """Serve the domain metrics alone on ``http://host:port/metrics`` (a daemon thread).

    Stop it with ``server.shutdown()``. Loopback by default: metrics name what is collected.
    """
    registry = CollectorRegistry(auto_describe=False)
    register_domain_metrics(registry, store)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread


__all__ = [
    "DomainMetrics",
    "Freshness",
    "data_freshness",
    "is_running",
    "register_domain_metrics",
    "serve_metrics",
]
