"""Generated requests against the OpenAPI schema: whatever the parameters, never a 5xx.

Schemathesis reads ``/openapi.json`` from a running server (DuckDB, sample data) and sends
requests built from it, valid and invalid, to every read endpoint over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode

from gridvault.api import ApiOptions
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.logs import configure_logging
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
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    checked: list[str] = []
    sent: list[int] = []
    for result in schema.include(method="GET").get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema fails here
        strategy = operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE
        ) | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

        @given(case=strategy)
        @settings(max_examples=30, deadline=None, database=None)
        def no_server_error(case: Any) -> None:
            response = case.call(headers={"X-API-Key": api.read_key}, timeout=30)
            sent.append(response.status_code)
            where = f"{case.method} {case.formatted_path} {case.query}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            if response.status_code >= 400:
                assert isinstance(response.json().get("detail"), str), where

        no_server_error()
        checked.append(operation.path)
    assert "/v1/datasets/{dataset}/data" in checked
    assert len(sent) > 100
    assert {200, 400, 404, 422} <= set(sent)  # valid and invalid requests were both tried
