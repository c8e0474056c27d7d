"""Prometheus metrics of one app, and the middleware that measures and logs each request.

Metrics live in the app's own :class:`~prometheus_client.CollectorRegistry` (not the
process-global one), so apps built in tests do not collide. One process serves the API
(DuckDB embedded mode allows no more), so no multiprocess mode is needed and a custom
collector can read the store at scrape time: when each dataset/area last changed, whether
the store answers, whether each background service is alive.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridvault.api.errors import internal_error_body
from gridvault.api.state import BackgroundService, service_name
from gridvault.logs import get_logger
from gridvault.store import Store

log = get_logger("gridvault.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Metrics:
    """The instruments of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # process_resident_memory_bytes & co. (streaming is meant to keep memory flat).
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "gridvault_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gridvault_http_request_duration_seconds",
            "Time to answer a request (until its last byte), by route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "gridvault_http_requests_in_progress",
            "Requests being answered",
            registry=self.registry,
        )
        self.cache = Counter(
            "gridvault_api_cache_requests",
            "Response cache lookups, by result (hit, miss)",
            ["result"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gridvault_api_rate_limited",
            "Requests refused with 429 by the per-key rate limit",
            registry=self.registry,
        )
        self.rows = Counter(
            "gridvault_api_rows_served",
            "Data rows served, by format",
            ["format"],
            registry=self.registry,
        )

    def watch(self, store: Callable[[], Store], background: Sequence[BackgroundService]) -> None:
        """Add the scrape-time collector of store freshness and background liveness."""
        self.registry.register(_StateCollector(store, background))


def series_freshness(store: Store) -> list[tuple[str, str, Any]]:
    """(dataset, area, when its values last changed) for every dataset/area stored."""
    with store.session() as db:
        return db.fetchall(
            "SELECT dataset, area, max(last_changed_at) FROM series GROUP BY dataset, area "
            "ORDER BY dataset, area"
        )


class _StateCollector(Collector):
    def __init__(self, store: Callable[[], Store], background: Sequence[BackgroundService]):
        self._store = store
        self._background = background

    def describe(self) -> Iterable[Metric]:
        return []  # collected at scrape time only; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("gridvault_store_up", "1 when the store answers a query")
        changed = GaugeMetricFamily(
            "gridvault_series_last_changed_timestamp_seconds",
            "When values of a dataset in an area last changed (Unix time)",
            labels=["dataset", "area"],
        )
        try:
            rows = series_freshness(self._store())
        except Exception as exc:
            log.warning("metrics: store unavailable", error=str(exc))
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for dataset, area, moment in rows:
                if moment is not None:
                    changed.add_metric([dataset, area], moment.timestamp())
        yield up
        yield changed
        alive = GaugeMetricFamily(
            "gridvault_background_service_up",
            "1 when a background service of this process is alive",
            labels=["service"],
        )
        for service in self._background:
            try:
                ok = bool(service.alive())
            except Exception:
                ok = False
            alive.add_metric([service_name(service)], 1 if ok else 0)
        yield alive


class RequestMiddleware:
    """Request id, metrics, one log line per request, and a JSON 500 for unhandled errors.

    Pure ASGI (no ``BaseHTTPMiddleware``), so streamed bodies pass through untouched.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        began = time.perf_counter()
        self.metrics.in_progress.inc()
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    await self.app(scope, receive, send_wrapper)
                except Exception:
                    log.exception(
                        "unhandled error", method=scope.get("method"), path=scope.get("path")
                    )
                    if started:
                        raise  # the body was under way: the server drops the connection
                    status = 500
                    body = internal_error_body(request_id)
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 500,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-request-id", request_id.encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - began
            self.metrics.in_progress.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", "?"))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            state = scope.get("state") or {}
            log.info(
                "request",
                request_id=request_id,
                method=method,
                path=scope.get("path"),
                status=status,
                ms=round(elapsed * 1000, 1),
                principal=state.get("principal"),
            )


__all__ = ["Metrics", "RequestMiddleware", "series_freshness"]
