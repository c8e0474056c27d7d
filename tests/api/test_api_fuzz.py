"""Generated requests against the OpenAPI schema: whatever the parameters, never a 5xx.

Schemathesis reads ``/openapi.json`` from a running server (DuckDB, sample data) and sends
requests built from it, valid and invalid, to every read endpoint over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridvault.api import ApiOptions
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.logs import configure_logging
from gridvault.robustness.fuzz import fuzz_api
from gridvault.services import Services
from gridvault.settings import Settings


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    configure_logging("WARNING", "json")
    path: Path = tmp_path_factory.mktemp("fuzz") / "store.duckdb"
    with Services(Settings(database_url=f"duckdb:///{path}", redis_url=None)) as services:
        seed_sample(services.store)
        with run_api(services, options=ApiOptions(rate_limit=1_000_000)) as running:
            yield running


def test_no_request_makes_the_server_fail(api: RunningApi) -> None:
    result = fuzz_api(api.url, api.read_key, max_examples=30)
    assert result.server_errors == []
    assert result.bad_errors == []  # every 4xx says what is wrong in a JSON detail
    assert "/v1/datasets/{dataset}/data" in result.operations
    assert result.cases > 100
    assert {200, 400, 404, 422} <= set(
        result.statuses
    )  # valid and invalid requests were both tried
