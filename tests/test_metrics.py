"""Domain metrics: the Prometheus exposition carries collection counters, freshness and the
schedule's runs with the values the store holds; a store that fails gives up 0."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gridvault.demo import ENTSOE_DIR
from gridvault.metrics import data_freshness, register_domain_metrics, serve_metrics
from gridvault.pipeline.ingest import ingest_payload
from gridvault.store import Store
from gridvault.store.collection_state import record_window, schedule_finished, schedule_started

NOW = datetime(2024, 9, 3, 0, 0, tzinfo=UTC)
W1 = datetime(2024, 9, 1, 22, tzinfo=UTC)
W2 = datetime(2024, 9, 2, 22, tzinfo=UTC)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


NL = key(source="entsoe", dataset="load_actual", area="NL", area_to="")


def test_the_exposition_holds_the_domain_metrics(store: Store) -> None:
    ingest_payload(
        store,
        (ENTSOE_DIR / "A65_A16_actual_load_NL_2024-09-02_PT15M.xml").read_bytes(),
        name="load.xml",
    )
    ok_at = datetime(2024, 9, 2, 23, 0, tzinfo=UTC)
    record_window(
        store,
        dataset="load_actual",
        area="NL",
        window_start=W1,
        window_end=W2,
        outcome="data",
        points=96,
        inserted=90,
        updated=6,
        status_codes={200: 2, 429: 1},
        at=ok_at,
    )
    record_window(
        store,
        dataset="load_actual",
        area="NL",
        window_start=W2,
        window_end=W2 + timedelta(hours=1),
        outcome="failed",
        status_codes={503: 3},
        error="HTTP 503",
        at=ok_at + timedelta(minutes=15),
    )
    schedule_started(store, "load_actual", at=ok_at)
    schedule_finished(
        store, "load_actual", "partial", "NL: HTTP 503", at=ok_at + timedelta(minutes=1)
    )
    schedule_started(store, "prices", at=ok_at)

    registry = CollectorRegistry()
    register_domain_metrics(registry, store, now=lambda: NOW)
    got = samples(registry)
    assert got[("gridvault_domain_metrics_up", ())] == 1
    assert got[("gridvault_collection_last_success_timestamp_seconds", NL)] == ok_at.timestamp()
    assert (
        got[("gridvault_collection_last_failure_timestamp_seconds", NL)]
        == (ok_at + timedelta(minutes=15)).timestamp()
    )
    assert got[("gridvault_collection_healthy", NL)] == 0
    assert got[("gridvault_collection_points_inserted_total", NL)] == 90
    assert got[("gridvault_collection_points_updated_total", NL)] == 6
    assert got[("gridvault_collection_revisions_total", NL)] == 6
    assert got[("gridvault_collection_failures_total", NL)] == 1
    codes = {
        dict(labels)["code"]: value
        for (name, labels), value in got.items()
        if name == "gridvault_collection_requests_total"
    }
    assert codes == {"200": 2, "429": 1, "503": 3}
    data = key(dataset="load_actual", area="NL", area_to="")
    assert got[("gridvault_data_latest_interval_end_timestamp_seconds", data)] == W2.timestamp()
    assert got[("gridvault_data_freshness_lag_seconds", data)] == 2 * 3600
    assert got[("gridvault_schedule_runs_total", key(job="load_actual"))] == 1
    assert got[("gridvault_schedule_last_run_ok", key(job="load_actual"))] == 0
    assert got[("gridvault_schedule_running", key(job="load_actual"))] == 0
    assert got[("gridvault_schedule_running", key(job="prices"))] == 1
    assert got[("gridvault_schedule_last_start_timestamp_seconds", key(job="prices"))] == (
        ok_at.timestamp()
    )
    (fresh,) = data_freshness(store)
    assert (fresh.dataset, fresh.area, fresh.latest_end, fresh.series) == (
        "load_actual",
        "NL",
        W2,
        1,
    )


def test_a_failing_store_reports_up_zero() -> None:
    def broken() -> Store:
        raise RuntimeError("database is down")

    registry = CollectorRegistry()
    register_domain_metrics(registry, broken)
    assert samples(registry) == {("gridvault_domain_metrics_up", ()): 0}


def test_metrics_served_alone_on_loopback(store: Store) -> None:
    schedule_started(store, "load", at=NOW)
    server, _thread = serve_metrics(store, 0)
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'gridvault_schedule_runs_total{job="load"} 1.0' in body
    assert "gridvault_domain_metrics_up 1.0" in body
