"""Generated requests against a running API's OpenAPI schema: none may make it fail.

Schemathesis (a dev tool: ``./dev.sh test`` installs it) reads ``/openapi.json`` and sends
valid and invalid requests built from it to every GET operation over real HTTP. A 5xx, or a
4xx without a JSON ``detail`` string, is a finding; findings are collected, not raised, so a
run reports how many there were.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FuzzResult:
    """Cases sent, their status codes, the operations covered and the findings."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    bad_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.server_errors and not self.bad_errors


def fuzz_api(base_url: str, api_key: str, *, max_examples: int = 30) -> FuzzResult:
    """Up to ``max_examples`` positive and negative cases per GET operation of the API at
    ``base_url``, sent with ``api_key``."""
    import schemathesis  # noqa: PLC0415 - a dev tool, imported only when fuzzing
    from hypothesis import given, settings  # noqa: PLC0415
    from schemathesis import GenerationMode  # noqa: PLC0415

    result = FuzzResult()
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    for found in schema.include(method="GET").get_all_operations():
        operation = found.ok()  # type: ignore[union-attr]  # an invalid schema fails here
        strategy = operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE
        ) | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

        @given(case=strategy)
        @settings(max_examples=max_examples, deadline=None, database=None)
        def send(case: Any) -> None:
            response = case.call(headers={"X-API-Key": api_key}, timeout=30)
            result.cases += 1
            result.statuses[response.status_code] += 1
            where = f"{case.method} {case.formatted_path} {case.query}"
            if response.status_code >= 500:
                result.server_errors.append(f"{where}: {response.text[:300]}")
            elif response.status_code >= 400:
                try:
                    detail = response.json().get("detail")
                except ValueError:
                    detail = None
                if not isinstance(detail, str):
                    result.bad_errors.append(f"{where}: {response.text[:300]}")

        send()
        result.operations.append(operation.path)
    return result


__all__ = ["FuzzResult", "fuzz_api"]
