"""Keys and SQL injection, on every route of the app, over real HTTP on DuckDB and PostgreSQL.

* Auth: the routes are enumerated from the app's routers (not a hand-written list); every
  one outside :data:`OPEN_ROUTES` refuses a missing, wrong or revoked key with 401, and a
  read key with 403 where it needs an admin key. Every method that changes something
  needs an admin key.
* Injection: every query and path parameter and every string body field of the OpenAPI
  schema (so a new parameter is covered the day it is added) gets classic SQL injection
  payloads. The answer is a clear 4xx or a normal answer with no more rows than without the
  payload, never a 5xx; afterwards every table holds what it held before.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from fastapi.routing import APIRoute

from gridvault.api import ApiOptions
from gridvault.api.routers import OPEN, V1_ADMIN, V1_READ, dashboard
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store.api_keys import create_key, revoke_key
from probes import table_counts

#: Routes anyone may call, by policy: probes, the Prometheus scrape (counts, latencies and
#: freshness times by dataset and area; never data, keys or tokens — see
#: test_secrets_never_leak.py), the API's own docs, and the dashboard's page and assets
#: (the page calls the API with a key like any client).
OPEN_ROUTES = {
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/",
    "/favicon.ico",
    "/static/{relative:path}",
}
#: Operations a read key may not call (everything that changes state, and key listing).
ADMIN_OPERATIONS = {
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("DELETE", "/v1/keys/{key_id}"),
    ("POST", "/v1/backfill"),
    ("POST", "/v1/collect"),
}
#: A value for each path parameter (an unknown one fails the test: add it here).
PATH_SAMPLES = {"dataset": "day_ahead_prices", "job_id": "1", "key_id": "1", "relative": "app.css"}
#: Valid values for the required parameters and bodies, per operation (the rest are left out).
BASELINE: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/datasets/{dataset}/data"): {
        "area": "DE_LU",
        "start": "2024-01-01T00:00Z",
        "end": "2024-01-03T00:00Z",
    },
    ("GET", "/v1/datasets/{dataset}/coverage"): {
        "area": "DE_LU",
        "start": "2024-01-01T00:00Z",
        "end": "2024-01-03T00:00Z",
    },
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/keys"): {"name": "injected", "scope": "read"},
    # A range that is stored already: a valid body plans nothing.
    ("POST", "/v1/backfill"): {
        "dataset": "day_ahead_prices",
        "area": ["FR"],
        "start": "2024-01-01T00:00Z",
        "end": "2024-01-01T06:00Z",
        "workers": 1,
    },
    ("POST", "/v1/collect"): {
        "dataset": "day_ahead_prices",
        "area": ["FR"],
        "start": "2024-01-01T00:00Z",
        "end": "2024-01-01T06:00Z",
        "workers": 1,
    },
}
INJECTIONS = (
    "'; DROP TABLE observations; --",
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR "1"="1',
    "1) UNION SELECT series_id, dataset, area, dimensions, unit, resolution FROM series --",
    "1 UNION SELECT key_hash FROM api_keys",
    "DE_LU' --",
    "%' OR dataset LIKE '%",
    "'; SELECT pg_sleep(10); --",
    "1; DELETE FROM api_keys",
    "'||(SELECT version())||'",
    "$$ OR 1=1 $$",
    "\\",
    "\\'; DROP TABLE series; --",
    "\x00",
    "DE_LU\x00' OR 1=1 --",
    "ʼ OR 1=1 --",  # a modifier apostrophe
    "%27%20OR%201%3D1",
    "x" * 5000,
)
OPTIONS = ApiOptions(rate_limit=1_000_000)


@pytest.fixture(scope="module", autouse=True)
def _logging_to_a_live_stream() -> None:
    configure_logging("WARNING", "json")


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_database: Callable[[], contextlib.AbstractContextManager[str]],
) -> Iterator[RunningApi]:
    with contextlib.ExitStack() as stack:
        if request.param == "duckdb":
            url = f"duckdb:///{tmp_path_factory.mktemp('security') / 'store.duckdb'}"
        else:
            url = stack.enter_context(pg_database())
        # An upstream that refuses at once on loopback: nothing here may reach the internet.
        settings = Settings(
            database_url=url,
            redis_url=None,
            entsoe_token="security-test-token",  # noqa: S106
            entsoe_base_url="http://127.0.0.1:9/api",
        )
        services = stack.enter_context(Services(settings))
        seed_sample(services.store)
        yield stack.enter_context(run_api(services, options=OPTIONS))


def routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves."""
    found = set()
    for router in (*V1_READ, *V1_ADMIN, *OPEN, dashboard.router):
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            for method in route.methods or ():
                found.add((method, route.path))
    return sorted(found)


def _url(template: str, values: dict[str, str] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        given = (values or {}).get(name, PATH_SAMPLES.get(name))
        assert given is not None, f"no sample value for path parameter {name!r}"
        return quote(given, safe="")

    return re.sub(r"\{([^}]+)\}", value, template)


def _send(client: httpx2.Client, method: str, template: str, **kwargs: Any) -> httpx2.Response:
    return client.request(method, _url(template), **kwargs)


def test_every_route_is_enumerated_and_documented(api: RunningApi) -> None:
    served = routes()
    spec = api.admin.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented <= set(served), "a router is missing from gridvault.api.routers"
    assert len(served) >= 20
    paths = {path for _, path in served}
    assert OPEN_ROUTES - {"/openapi.json", "/docs", "/docs/oauth2-redirect"} <= paths


def test_open_routes_need_no_key(api: RunningApi) -> None:
    anonymous = httpx2.Client(base_url=api.url, timeout=30)
    with anonymous:
        for template in sorted(OPEN_ROUTES):
            response = anonymous.get(_url(template))
            assert response.status_code == 200, (template, response.status_code)


def test_open_routes_take_hostile_input_without_failing(api: RunningApi) -> None:
    anonymous = httpx2.Client(base_url=api.url, timeout=30)
    with anonymous:
        for template in sorted(OPEN_ROUTES):
            for payload in INJECTIONS:
                response = anonymous.get(
                    _url(template, {"relative": payload}), params={"x": payload}
                )
                assert response.status_code < 500, (template, payload[:40], response.text[:200])
            traversal = anonymous.get("/static/..%2F..%2F..%2Fsettings.py")
            assert traversal.status_code == 404


def test_every_other_route_refuses_missing_wrong_and_revoked_keys(api: RunningApi) -> None:
    _, revoked = create_key(api.store, "revoked-reader", "read")
    revoke_key(api.store, "revoked-reader")
    _, revoked_admin = create_key(api.store, "revoked-admin", "admin")
    revoke_key(api.store, "revoked-admin")
    callers = {
        "no key": {},
        "empty key": {"X-API-Key": ""},
        "wrong key": {"X-API-Key": "gvk_" + "0" * 40},
        "key of another header": {"Authorization": f"Bearer {api.admin_key}"},
        "revoked key": {"X-API-Key": revoked},
        "revoked admin key": {"X-API-Key": revoked_admin},
    }
    checked = 0
    with httpx2.Client(base_url=api.url, timeout=30) as anonymous:
        for method, template in routes():
            if template in OPEN_ROUTES:
                continue
            for who, headers in callers.items():
                # Bad parameters and bodies too: a caller without a key learns nothing,
                # not even that a parameter is wrong (401 comes before 422).
                for params in ({}, {"limit": "-1", "start": "soon"}):
                    response = _send(anonymous, method, template, headers=headers, params=params)
                    where = f"{method} {template} with {who} {params}"
                    assert response.status_code == 401, f"{where}: {response.status_code}"
                    assert response.headers["www-authenticate"] == "APIKey", where
                    assert response.json()["detail"], where
                    checked += 1
            # The key in the query string is not a way in either.
            response = _send(anonymous, method, template, params={"api_key": api.admin_key})
            assert response.status_code == 401, f"{method} {template} with ?api_key="
    assert checked > 100


def test_read_keys_are_refused_exactly_the_admin_operations(api: RunningApi) -> None:
    refused = set()
    for method, template in routes():
        if template in OPEN_ROUTES:
            continue
        response = _send(api.reader, method, template, json=BODIES.get((method, template)))
        assert response.status_code != 401, f"{method} {template}"
        if response.status_code == 403:
            assert "admin" in response.json()["detail"]
            refused.add((method, template))
        if method not in ("GET", "HEAD"):
            assert (method, template) in refused, f"{method} {template} changes state"
    assert refused == ADMIN_OPERATIONS


# -- SQL injection -----------------------------------------------------------------------------


def rows(response: httpx2.Response) -> int:
    """How many records an answer holds (JSON lists, or lines of text)."""
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if isinstance(body, list):
            return len(body)
        if isinstance(body, dict):
            return sum(len(value) for value in body.values() if isinstance(value, list))
        return 1
    return len(response.text.splitlines())


def operations(api: RunningApi) -> list[tuple[str, str, dict[str, Any]]]:
    spec = api.admin.get("/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if path not in OPEN_ROUTES
    ]


def _refused_cleanly(response: httpx2.Response, where: str) -> bool:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert isinstance(detail, str), where
        assert detail.strip(), where
        return True
    return False


def _most_rows(api: RunningApi, method: str, path: str, baseline: dict[str, Any], name: str) -> int:
    """The most records the operation answers with ``name`` at its baseline value or left out."""
    without = {key: value for key, value in baseline.items() if key != name}
    answers = [_send(api.admin, method, path, params=params) for params in (baseline, without)]
    return max((rows(r) for r in answers if r.status_code == 200), default=0)


def test_injection_through_every_parameter_does_nothing(api: RunningApi) -> None:
    before = table_counts(api.store)
    assert before["observations"] > 0
    tried = 0
    for method, path, operation in operations(api):
        baseline = dict(BASELINE.get((method, path), {}))
        for parameter in operation.get("parameters", []):
            name, where = parameter["name"], parameter["in"]
            if parameter.get("required") and where == "query":
                assert name in baseline, f"add a valid {name!r} for {method} {path} to BASELINE"
        if method != "GET":
            continue
        for parameter in operation.get("parameters", []):
            name, where = parameter["name"], parameter["in"]
            most = _most_rows(api, method, path, baseline, name)
            for payload in INJECTIONS:
                if where == "path":
                    url = _url(path, {name: payload})
                    response = api.admin.request(method, url, params=baseline)
                else:
                    response = _send(api.admin, method, path, params={**baseline, name: payload})
                tried += 1
                label = f"{method} {path} {name}={payload[:40]!r}"
                if not _refused_cleanly(response, label):
                    assert rows(response) <= most, f"{label}: more rows than without it"
    assert tried > 500
    assert table_counts(api.store) == before


#: Times at and past the ends of what Python and the engines hold, with offsets that push
#: them over (found by the fuzzer: year 1 in a zone east of UTC was an OverflowError).
EXTREME_TIMES = (
    "0001-01-01",
    "0001-01-01T00:00Z",
    "0001-01-01T00:00+14:00",
    "1799-12-31T23:59Z",
    "1800-01-01T00:00Z",
    "9999-12-31",
    "9999-12-31T23:59Z",
    "9999-12-31T23:59-12:00",
)


def test_extreme_times_in_every_time_parameter_are_answered_or_refused(api: RunningApi) -> None:
    tried = 0
    for method, path, operation in operations(api):
        baseline = BASELINE.get((method, path), {})
        names = [p["name"] for p in operation.get("parameters", [])]
        for name in (n for n in names if n in ("start", "end", "as_of", "published_before")):
            for value in EXTREME_TIMES:
                for tz in (None, "Etc/GMT-14", "Etc/GMT+12"):
                    params = {**baseline, name: value} | (
                        {"tz": tz} if tz and "tz" in names else {}
                    )
                    response = _send(api.admin, method, path, params=params)
                    _refused_cleanly(response, f"{method} {path} {params}")
                    tried += 1
    assert tried > 50


def test_injection_through_every_body_field_is_stored_literally_or_refused(
    api: RunningApi,
) -> None:
    spec = api.admin.get("/openapi.json").json()
    before = table_counts(api.store)
    created: list[str] = []
    for method, path, operation in operations(api):
        body = operation.get("requestBody")
        if body is None:
            continue
        reference = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        fields = spec["components"]["schemas"][reference]["properties"]
        valid = BODIES[(method, path)]
        for field, schema in fields.items():
            for payload in INJECTIONS:
                is_list = schema.get("type") == "array"
                sent = {**valid, field: [payload] if is_list else payload}
                response = _send(api.admin, method, path, json=sent)
                label = f"{method} {path} {field}={payload[:40]!r}"
                if _refused_cleanly(response, label):
                    continue
                assert (method, path) == ("POST", "/v1/keys"), f"{label}: accepted"
                assert field == "name"
                assert response.json()["name"] == payload  # a name, stored as given
                created.append(payload)
    after = table_counts(api.store)
    assert after.pop("api_keys") == before.pop("api_keys") + len(created)
    assert after == before
    listed = {key["name"] for key in api.admin.get("/v1/keys").json()}
    assert set(created) <= listed
