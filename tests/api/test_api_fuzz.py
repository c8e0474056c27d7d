"""Generated requests against the OpenAPI schema: whatever the parameters, never a 5xx, and
every 4xx explains itself in a sentence.

Schemathesis reads ``/openapi.json`` from a running server (DuckDB, sample data, a temporary
store of its own) and sends requests built from it, valid and invalid, to every operation —
reads with a read key, key management, backfill and collect with an admin key — over real
HTTP. A collection it happens to start fetches from a local emulator, never the internet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridvault.api import ApiOptions
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.emulator import EmulatorConfig, running_emulator
from gridvault.logs import configure_logging
from gridvault.robustness.fuzz import ADMIN_OPERATIONS, fuzz_api
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store.api_keys import create_key


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    configure_logging("WARNING", "json")
    path: Path = tmp_path_factory.mktemp("fuzz") / "store.duckdb"
    emulator = EmulatorConfig(token="fuzz-token", synthetic=True, rate_limit=100_000)  # noqa: S106
    with running_emulator(emulator) as upstream:
        settings = Settings(
            database_url=f"duckdb:///{path}",
            redis_url=None,
            entsoe_token="fuzz-token",  # noqa: S106
            entsoe_base_url=upstream.base_url,
            entsoe_rate_limit=10_000,
        )
        with Services(settings) as services:
            seed_sample(services.store)
            # Other keys first, so that a generated DELETE /v1/keys/{id} is unlikely to hit the
            # admin key the fuzzer itself uses (the revocation endpoint runs last anyway).
            for number in range(40):
                create_key(services.store, f"bystander-{number}", "read")
            with run_api(services, options=ApiOptions(rate_limit=1_000_000)) as running:
                yield running


def test_no_request_makes_the_server_fail(api: RunningApi) -> None:
    result = fuzz_api(api.url, api.read_key, admin_key=api.admin_key, max_examples=50)
    assert result.server_errors == []
    assert result.bad_errors == []  # every 4xx says what is wrong in a sentence
    assert ("GET", "/v1/datasets/{dataset}/data") in result.operations
    assert set(result.operations) >= ADMIN_OPERATIONS
    assert result.cases > 500
    assert {200, 201, 400, 404, 422} <= set(result.statuses)  # valid and invalid both tried
