"""Everything but the data rows, over real HTTP on both engines: datasets, areas, coverage,
freshness, health, metrics, API keys and scopes, and the 4xx of every bad parameter."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import psycopg
import pytest

from gridvault.api import ApiOptions
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings

ADMIN_URL = os.environ.get(
    "GRIDVAULT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
OPTIONS = ApiOptions(rate_limit=100_000, parquet_max_rows=1000)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this module (skips outside CI when PG is down)."""
    name = f"gv_api_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", autouse=True)
def _logging_to_a_live_stream() -> None:
    # An earlier test may have configured logging onto a stream that is closed by now.
    configure_logging("WARNING", "json")


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    with contextlib.ExitStack() as stack:
        if request.param == "duckdb":
            url = f"duckdb:///{tmp_path_factory.mktemp('api') / 'store.duckdb'}"
        else:
            url = stack.enter_context(pg_database())
        services = stack.enter_context(Services(Settings(database_url=url, redis_url=None)))
        seed_sample(services.store)
        yield stack.enter_context(run_api(services, options=OPTIONS))


def ok(response: httpx2.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


# -- catalog and freshness -------------------------------------------------------------------


def test_datasets_list_the_catalog_with_what_is_stored(api: RunningApi) -> None:
    every = ok(api.reader.get("/v1/datasets"))
    assert len(every) > 25
    prices = next(d for d in every if d["id"] == "day_ahead_prices")
    assert prices["unit"] == "EUR/MWh"
    assert prices["stored_areas"] == ["DE_LU", "FR"]
    assert prices["stored_series"] == 2
    stored = ok(api.reader.get("/v1/datasets", params={"stored": "true"}))
    assert sorted(d["id"] for d in stored) == [
        "day_ahead_prices",
        "generation_actual_per_type",
        "load_actual",
        "physical_flows",
    ]


def test_dataset_detail_has_stored_range_rows_and_dimensions(api: RunningApi) -> None:
    detail = ok(api.reader.get("/v1/datasets/generation_actual_per_type"))
    assert detail["description"]
    assert detail["resolution"] == "PT15M"
    assert detail["rows"] == 384
    assert detail["earliest"] == "2024-01-01T00:00:00Z"
    assert detail["latest"] == "2024-01-02T23:45:00Z"
    assert detail["last_update"] is not None
    assert detail["dimensions"] == {"psr_type": ["B16", "B19"]}
    assert [(a["area"], a["series"], a["rows"]) for a in detail["areas"]] == [("DE_LU", 2, 384)]
    empty = ok(api.reader.get("/v1/datasets/imbalance_prices"))
    assert (empty["rows"], empty["areas"], empty["earliest"]) == (0, [], None)


def test_unknown_dataset_is_404_with_suggestions(api: RunningApi) -> None:
    response = api.reader.get("/v1/datasets/day_ahead_price")
    assert response.status_code == 404
    assert response.json()["detail"].startswith(
        "unknown dataset 'day_ahead_price'; did you mean day_ahead_prices"
    )


def test_areas(api: RunningApi) -> None:
    areas = ok(api.reader.get("/v1/areas"))
    de = next(a for a in areas if a["code"] == "DE_LU")
    assert de == {
        "code": "DE_LU",
        "eic": "10Y1001A1001A82H",
        "name": de["name"],
        "kind": de["kind"],
        "tz": "Europe/Berlin",
    }
    assert "bidding_zone" in de["kind"]
    zones = ok(api.reader.get("/v1/areas", params={"kind": "bidding_zone"}))
    assert all("bidding_zone" in a["kind"] for a in zones)
    assert len(zones) < len(areas)
    assert api.reader.get("/v1/areas", params={"kind": "planet"}).status_code == 400


def test_updates_per_dataset_and_area(api: RunningApi) -> None:
    rows = ok(api.reader.get("/v1/updates"))
    assert [(r["dataset"], r["area"], r["series"], r["rows"]) for r in rows] == [
        ("day_ahead_prices", "DE_LU", 1, 68),
        ("day_ahead_prices", "FR", 1, 48),
        ("generation_actual_per_type", "DE_LU", 2, 384),
        ("load_actual", "FI", 1, 24),
        ("physical_flows", "DE_LU", 2, 48),
    ]
    assert all(r["last_update"] for r in rows)
    # The sample was stored directly, never collected: no run, nothing counted.
    assert {(r["last_run"], r["rows_inserted"], r["rows_updated"]) for r in rows} == {(None, 0, 0)}
    only = ok(api.reader.get("/v1/updates", params={"dataset": "day_ahead_prices", "area": "FR"}))
    assert [(r["area"], r["latest"]) for r in only] == [("FR", "2024-01-02T23:00:00Z")]


def test_coverage_reports_the_gap(api: RunningApi) -> None:
    params = {"area": "DE_LU", "start": "2024-01-01T00:00Z", "end": "2024-01-04T00:00Z"}
    body = ok(api.reader.get("/v1/datasets/day_ahead_prices/coverage", params=params))
    assert (body["expected"], body["present"]) == (72, 68)
    (series,) = body["series"]
    assert series["gaps"] == [
        {"start": "2024-01-02T06:00:00Z", "end": "2024-01-02T10:00:00Z", "intervals": 4}
    ]
    assert series["completeness"] == pytest.approx(68 / 72, abs=1e-6)
    too_long = {**params, "start": "2000-01-01T00:00Z"}
    small = api.reader.get("/v1/datasets/generation_actual_per_type/coverage", params=too_long)
    assert small.status_code == 200  # 24 years of 2 × 15-minute series: within the cap


# -- operations ------------------------------------------------------------------------------


def test_health_and_docs_need_no_key(api: RunningApi) -> None:
    anonymous = httpx2.Client(base_url=api.url, timeout=30)
    with anonymous:
        assert ok(anonymous.get("/health/live")) == {"status": "alive"}
        ready = ok(anonymous.get("/health/ready"))
        assert ready["status"] == "ready"
        assert ready["checks"]["store"]["ok"] is True
        assert anonymous.get("/docs").status_code == 200
        spec = ok(anonymous.get("/openapi.json"))
        assert "/v1/datasets/{dataset}/data" in spec["paths"]
        assert "X-API-Key" in str(spec["components"]["securitySchemes"])


def test_metrics_count_requests_and_report_freshness(api: RunningApi) -> None:
    api.reader.get("/v1/areas")
    text = httpx2.get(f"{api.url}/metrics", timeout=30).text
    assert 'gridvault_http_requests_total{method="GET",route="/v1/areas",status="200"}' in text
    assert "gridvault_http_request_duration_seconds_bucket" in text
    assert "gridvault_store_up 1.0" in text
    assert "process_resident_memory_bytes" in text
    assert (
        'gridvault_series_last_changed_timestamp_seconds{area="FI",dataset="load_actual"}' in text
    )


# -- keys and scopes -------------------------------------------------------------------------


def test_requests_need_a_valid_key(api: RunningApi) -> None:
    missing = httpx2.get(f"{api.url}/v1/areas", timeout=30)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    wrong = httpx2.get(f"{api.url}/v1/areas", headers={"X-API-Key": "gvk_nope"}, timeout=30)
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "invalid or revoked API key"}


def test_read_keys_cannot_administer(api: RunningApi) -> None:
    response = api.reader.get("/v1/keys")
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert api.reader.post("/v1/keys", json={"name": "x"}).status_code == 403


def test_admin_creates_lists_and_revokes_keys(api: RunningApi) -> None:
    created = api.admin.post("/v1/keys", json={"name": "dashboard", "scope": "read"})
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("gvk_")
    assert created.headers["cache-control"] == "no-store"
    listed = ok(api.admin.get("/v1/keys"))
    assert "dashboard" in [k["name"] for k in listed]
    assert key not in str(listed)
    fresh = httpx2.Client(base_url=api.url, headers={"X-API-Key": key}, timeout=30)
    with fresh:
        assert fresh.get("/v1/areas").status_code == 200
        revoked = api.admin.delete(f"/v1/keys/{body['key_id']}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        assert fresh.get("/v1/areas").status_code == 401  # at once, not after the key cache
    again = api.admin.delete(f"/v1/keys/{body['key_id']}")
    assert again.status_code == 400
    assert "already revoked" in again.json()["detail"]
    assert api.admin.delete("/v1/keys/999999").status_code == 404
    clash = api.admin.post("/v1/keys", json={"name": "same"})
    assert clash.status_code == 201
    assert api.admin.post("/v1/keys", json={"name": "same"}).status_code == 400
    bad = api.admin.post("/v1/keys", json={"name": "x", "scope": "root"})
    assert bad.status_code == 422
    assert "scope" in bad.json()["detail"]


# -- every bad parameter is a 4xx a person understands -----------------------------------------

DATA = "/v1/datasets/day_ahead_prices/data"
RANGE = {"area": "DE_LU", "start": "2024-01-01", "end": "2024-01-02"}
BAD: list[tuple[str, dict[str, Any], int, str]] = [
    ("/v1/datasets/nope/data", RANGE, 404, "unknown dataset 'nope'"),
    (DATA, {**RANGE, "area": "DE_LX"}, 400, "unknown area 'DE_LX'; did you mean DE_LU"),
    (
        DATA,
        {**RANGE, "area": "NO_5"},
        404,
        "no stored series of day_ahead_prices for area(s) NO_5; stored areas: DE_LU, FR",
    ),
    (DATA, {**RANGE, "sequence": "9"}, 404, "with sequence=9; stored for these areas: sequence=1"),
    (DATA, {**RANGE, "start": "2024-01-03"}, 400, "is not after start"),
    (DATA, {**RANGE, "end": "2024-01-01"}, 400, "is not after start"),
    (DATA, {**RANGE, "start": "yesterday"}, 400, "cannot read 'yesterday' as a time"),
    (DATA, {**RANGE, "resample": "7min"}, 400, "unknown resample bucket '7min'"),
    (DATA, {**RANGE, "resample": "1h", "agg": "median"}, 422, "query parameter 'agg'"),
    (DATA, {**RANGE, "agg": "max"}, 400, "agg applies to resampled data"),
    (DATA, {**RANGE, "tz": "Mars/Olympus"}, 400, "unknown time zone: 'Mars/Olympus'"),
    (
        DATA,
        {**RANGE, "format": "xml"},
        422,
        "query parameter 'format': Input should be 'json', 'csv', 'parquet' or 'arrow'",
    ),
    (
        DATA,
        {**RANGE, "limit": "0"},
        422,
        "query parameter 'limit': Input should be greater than or equal to 1",
    ),
    (DATA, {**RANGE, "limit": "many"}, 422, "query parameter 'limit'"),
    (DATA, {**RANGE, "cursor": "not-a-cursor"}, 400, "invalid cursor"),
    (DATA, {**RANGE, "as_of": "soon"}, 400, "as_of: cannot read 'soon'"),
    (DATA, {**RANGE, "aera": "FR"}, 400, "unknown query parameter(s) 'aera'"),
    (
        DATA,
        {"start": "2024-01-01", "end": "2024-01-02"},
        422,
        "query parameter 'area': Field required",
    ),
    (DATA, {**RANGE, "area": ","}, 400, "give at least one area"),
    (DATA, {**RANGE, "end": "2040-01-01"}, 400, "too long to read raw"),
    (
        DATA,
        {**RANGE, "end": "2024-03-01", "format": "parquet"},
        400,
        "too large for format=parquet",
    ),
    ("/v1/datasets/outages_generation_units/data", RANGE, 400, "outage events, not time series"),
    ("/v1/datasets/day_ahead_prices/coverage", {**RANGE, "start": "1990-01-01"}, 200, ""),
    (
        "/v1/datasets/generation_actual_per_type/coverage",
        {**RANGE, "start": "1900-01-01"},
        400,
        "too many to check at once",
    ),
    ("/v1/datasets/day_ahead_prices/latest", {"area": "XX"}, 400, "unknown area 'XX'"),
    ("/v1/updates", {"dataset": "prices"}, 400, "unknown dataset 'prices'"),
]


@pytest.mark.parametrize(("path", "params", "status", "message"), BAD)
def test_bad_parameters_are_explained(
    api: RunningApi, path: str, params: dict[str, Any], status: int, message: str
) -> None:
    response = api.reader.get(path, params=params)
    assert response.status_code == status, response.text
    body = response.json()
    if status != 200:
        assert set(body) == {"detail"}
        assert isinstance(body["detail"], str)
        assert message in body["detail"]
