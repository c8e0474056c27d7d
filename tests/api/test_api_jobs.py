"""The jobs API over real HTTP: POST /v1/backfill plans and works a range from the emulator,
GET /v1/jobs shows progress; scopes are enforced; bad requests are 4xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gridvault.api.testing import RunningApi, run_api
from gridvault.emulator import EmulatorConfig, running_emulator
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store.collection_state import record_window

TOKEN = "jobs-api-token"  # noqa: S105 - the emulator's token


@pytest.fixture(scope="module", autouse=True)
def _logging_to_a_live_stream() -> None:
    configure_logging("WARNING", "json")


@pytest.fixture
def services(duckdb_path: Path) -> Iterator[Services]:
    with running_emulator(EmulatorConfig(token=TOKEN, synthetic=True, rate_limit=10_000)) as emu:
        settings = Settings(
            database_url=f"duckdb:///{duckdb_path}",
            redis_url=None,
            entsoe_base_url=emu.base_url,
            entsoe_token=TOKEN,
        )
        with Services(settings) as opened:
            yield opened


def worked(api: RunningApi, plan_id: str, seconds: float = 60) -> dict[str, Any]:
    """GET /v1/jobs of ``plan_id`` once the plan is done (or ``seconds`` have passed)."""
    deadline = time.monotonic() + seconds
    while True:
        listing: dict[str, Any] = api.reader.get("/v1/jobs", params={"plan_id": plan_id}).json()
        if listing["plans"][0]["progress"] == 1.0 or time.monotonic() > deadline:
            return listing
        time.sleep(0.2)


def test_backfill_via_api_is_worked_in_the_background(services: Services) -> None:
    request = {
        "dataset": "load_actual",
        "area": ["NL"],
        "start": "2024-01-01T00:00Z",
        "end": "2024-01-04T00:00Z",
    }
    with run_api(services) as api:
        refused = api.reader.post("/v1/backfill", json=request)
        assert refused.status_code == 403
        created = api.admin.post("/v1/backfill", json=request)
        assert created.status_code == 202, created.text
        plan_id = created.json()["plan_id"]
        assert plan_id
        listing = worked(api, plan_id)
        plan = listing["plans"][0]
        assert plan["progress"] == 1.0, plan
        job = listing["jobs"][0]
        assert api.reader.get(f"/v1/jobs/{job['job_id']}").json()["state"] == "done"
        assert api.reader.get("/v1/jobs/999999").status_code == 404
        data = api.reader.get(
            "/v1/datasets/load_actual/data",
            params={"area": "NL", "start": "2024-01-01T00:00Z", "end": "2024-01-04T00:00Z"},
        ).json()
        assert len(data["data"]) == 3 * 96
        again = api.admin.post("/v1/backfill", json=request).json()
        assert again["chunks"] == 0  # nothing missing any more


def test_bad_job_requests_are_4xx(services: Services) -> None:
    with run_api(services) as api:
        bad_area = api.admin.post(
            "/v1/collect",
            json={
                "dataset": "load_actual",
                "area": ["NLX"],
                "start": "2024-01-01",
                "end": "2024-01-02",
            },
        )
        assert bad_area.status_code == 400
        assert "NL" in bad_area.json()["detail"]
        backwards = api.admin.post(
            "/v1/backfill",
            json={
                "dataset": "load_actual",
                "area": ["NL"],
                "start": "2024-01-02",
                "end": "2024-01-01",
            },
        )
        assert 400 <= backwards.status_code < 500
        assert api.reader.get("/v1/jobs", params={"state": "sleeping"}).status_code == 400
        empty = api.admin.post(
            "/v1/backfill",
            json={
                "dataset": "load_actual",
                "area": " , ",
                "start": "2024-01-01",
                "end": "2024-01-02",
            },
        )
        assert empty.status_code in (400, 422)
        assert "area" in empty.text


def test_a_job_request_names_its_areas_as_the_data_endpoints_do(services: Services) -> None:
    """One area as a text, or several comma-separated, like ``?area=NL,BE``."""
    window = {"dataset": "load_actual", "start": "2024-01-01", "end": "2024-01-02"}
    with run_api(services) as api:
        one = api.admin.post("/v1/backfill", json={**window, "area": "NL"})
        assert one.status_code == 202, one.text
        assert one.json()["chunks"] == 1
        two = api.admin.post("/v1/backfill", json={**window, "area": "be, DK_1"})
        assert two.status_code == 202, two.text
        plan_id = two.json()["plan_id"]
        areas = {
            job["area"]
            for job in api.reader.get("/v1/jobs", params={"plan_id": plan_id}).json()["jobs"]
        }
        assert areas == {"BE", "DK_1"}


def test_a_server_without_a_token_refuses_to_collect_before_planning(duckdb_path: Path) -> None:
    settings = Settings(
        database_url=f"duckdb:///{duckdb_path}",
        redis_url=None,
        entsoe_base_url="https://web-api.tp.entsoe.eu/api",
        entsoe_token=None,
    )
    window = {"dataset": "load_actual", "area": "NL", "start": "2024-01-01", "end": "2024-01-02"}
    with Services(settings) as opened, run_api(opened) as api:
        for path in ("/v1/collect", "/v1/backfill"):
            refused = api.admin.post(path, json=window)
            assert refused.status_code == 503, refused.text
            assert "GRIDVAULT_ENTSOE_TOKEN" in refused.json()["detail"]
        assert api.reader.get("/v1/jobs").json() == {"plans": [], "jobs": []}


def test_updates_say_when_collection_last_ran_and_what_it_changed(services: Services) -> None:
    window = {"dataset": "load_actual", "area": "NL", "start": "2024-01-01", "end": "2024-01-02"}
    store = services.store
    with run_api(services) as api:
        worked(api, api.admin.post("/v1/backfill", json=window).json()["plan_id"])
        (first,) = api.reader.get("/v1/updates", params={"dataset": "load_actual"}).json()
        assert (first["area"], first["rows"], first["rows_inserted"]) == ("NL", 96, 96)
        run = first["last_run"]
        assert (run["inserted"], run["updated"], run["healthy"], run["error"]) == (
            96,
            0,
            True,
            None,
        )
        assert (run["window_start"], run["window_end"]) == (
            "2023-12-31T23:00:00Z",
            "2024-01-01T23:00:00Z",
        )
        # The next day: the last run is that fetch, the totals add up.
        next_day = {**window, "start": "2024-01-02", "end": "2024-01-03"}
        worked(api, api.admin.post("/v1/backfill", json=next_day).json()["plan_id"])
        (again,) = api.reader.get("/v1/updates", params={"dataset": "load_actual"}).json()
        assert again["last_run"]["attempted_at"] > run["attempted_at"]
        assert again["last_run"]["window_start"] == "2024-01-01T23:00:00Z"
        assert (again["last_run"]["inserted"], again["rows_inserted"], again["rows"]) == (
            96,
            192,
            192,
        )
        # A dataset/area whose collection failed before anything was stored is listed too.
        record_window(
            store,
            dataset="load_actual",
            area="BE",
            window_start=datetime(2024, 1, 1, tzinfo=UTC),
            window_end=datetime(2024, 1, 2, tzinfo=UTC),
            outcome="failed",
            http_status=503,
            error="HTTP 503 from the upstream",
        )
        failing = api.reader.get("/v1/updates", params={"area": "BE"}).json()
        assert [(r["dataset"], r["rows"], r["series"]) for r in failing] == [("load_actual", 0, 0)]
        assert failing[0]["last_run"]["healthy"] is False
        assert failing[0]["last_run"]["error"] == "HTTP 503 from the upstream"
        assert failing[0]["last_run"]["inserted"] is None


def test_coverage_follows_the_15_minute_switch(services: Services) -> None:
    from gridvault.demo import ENTSOE_DIR
    from gridvault.pipeline.ingest import ingest_payload

    (document,) = ENTSOE_DIR.glob("A44_day_ahead_prices_ES_*")
    assert ingest_payload(services.store, document.read_bytes(), name=document.name).ok
    with run_api(services) as api:
        answer = api.reader.get(
            "/v1/datasets/day_ahead_prices/coverage",
            params={"area": "ES", "start": "2025-09-29", "end": "2025-10-03"},
        ).json()
    # Madrid days: two hourly days before the SDAC switch, two quarter-hourly after.
    assert answer["expected"] == 2 * 24 + 2 * 96
    assert answer["completeness"] == 1.0
