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
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from gridvault.api import ApiOptions
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.emulator import EmulatorConfig, running_emulator
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store.api_keys import create_key

EXAMPLES = 50
#: Operations that need an admin key (the others are called with a read key).
ADMIN = {("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}")}
ADMIN |= {("POST", "/v1/backfill"), ("POST", "/v1/collect")}


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


def human_readable(detail: Any) -> bool:
    """A sentence (or more) of text, not a data structure or a bare code."""
    return (
        isinstance(detail, str)
        and " " in detail.strip()
        and not detail.lstrip().startswith(("[", "{"))
    )


def fuzz(operation: Any, key: str, sent: list[int]) -> None:
    """Send EXAMPLES generated requests (valid and invalid) to one operation with ``key``."""
    strategy = operation.as_strategy(
        generation_mode=GenerationMode.POSITIVE
    ) | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def no_server_error(case: Any) -> None:
        response = case.call(headers={"X-API-Key": key}, timeout=30)
        sent.append(response.status_code)
        where = f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        if response.status_code >= 400:
            detail = response.json().get("detail")
            assert human_readable(detail), f"{where}: {detail!r}"

    no_server_error()


def test_no_request_makes_the_server_fail(api: RunningApi) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # Revocation last: a generated key id may be one of the fuzzer's own keys.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    checked: set[tuple[str, str]] = set()
    sent: list[int] = []
    for operation in operations:
        name = (operation.method.upper(), operation.path)
        fuzz(operation, api.admin_key if name in ADMIN else api.read_key, sent)
        checked.add(name)
    assert ("GET", "/v1/datasets/{dataset}/data") in checked
    assert checked >= ADMIN
    assert len(sent) > 500
    assert {200, 201, 400, 404, 422} <= set(sent)  # valid and invalid requests were both tried
