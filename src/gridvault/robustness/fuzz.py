"""Generated requests against a running API's OpenAPI schema: none may make it fail.

Schemathesis (a dev tool: ``./dev.sh test`` installs it) reads ``/openapi.json`` and sends
valid and invalid requests built from it over real HTTP: to every GET operation with a read
key, and — given an admin key — to every other operation too (key management, backfill,
collect), revocations last since a generated key id may be the fuzzer's own key. A 5xx, or
a 4xx whose JSON ``detail`` is not a sentence a person can read, is a finding; findings are
collected, not raised, so a run reports how many there were.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Operations that need an admin key (the others are called with a read key).
ADMIN_OPERATIONS = frozenset(
    {
        ("GET", "/v1/keys"),
        ("POST", "/v1/keys"),
        ("DELETE", "/v1/keys/{key_id}"),
        ("POST", "/v1/backfill"),
        ("POST", "/v1/collect"),
    }
)


@dataclass
class FuzzResult:
    """Cases sent, their status codes, the operations covered and the findings."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: list[tuple[str, str]] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    bad_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.server_errors and not self.bad_errors


def human_readable(detail: Any) -> bool:
    """A sentence (or more) of text, not a data structure or a bare code."""
    return (
        isinstance(detail, str)
        and " " in detail.strip()
        and not detail.lstrip().startswith(("[", "{"))
    )


def fuzz_api(
    base_url: str, read_key: str, *, admin_key: str | None = None, max_examples: int = 30
) -> FuzzResult:
    """Up to ``max_examples`` positive and negative cases per operation of the API at
    ``base_url`` (derandomized: the same cases every run); only GETs without ``admin_key``."""
    import schemathesis  # noqa: PLC0415 - a dev tool, imported only when fuzzing

    result = FuzzResult()
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    selected = schema if admin_key is not None else schema.include(method="GET")
    # An invalid schema fails here.
    operations = [found.ok() for found in selected.get_all_operations()]  # type: ignore[union-attr]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        name = (operation.method.upper(), operation.path)
        key = admin_key if admin_key is not None and name in ADMIN_OPERATIONS else read_key
        _fuzz_operation(operation, key, max_examples, result)
        result.operations.append(name)
    return result


def _fuzz_operation(operation: Any, key: str, max_examples: int, result: FuzzResult) -> None:
    from hypothesis import HealthCheck, given, settings  # noqa: PLC0415
    from schemathesis import GenerationMode  # noqa: PLC0415

    strategy = operation.as_strategy(
        generation_mode=GenerationMode.POSITIVE
    ) | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

    @given(case=strategy)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def send(case: Any) -> None:
        response = case.call(headers={"X-API-Key": key}, timeout=30)
        result.cases += 1
        result.statuses[response.status_code] += 1
        where = f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}"
        if response.status_code >= 500:
            result.server_errors.append(f"{where}: {response.text[:300]}")
        elif response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = None
            if not human_readable(detail):
                result.bad_errors.append(f"{where}: {response.text[:300]}")

    send()


__all__ = ["ADMIN_OPERATIONS", "FuzzResult", "fuzz_api", "human_readable"]
