"""Python client of the gridvault REST API: stored data as a pandas (or polars) DataFrame.

>>> from gridvault import Client
>>> client = Client("http://127.0.0.1:8000", api_key="gvk_...")  # doctest: +SKIP
>>> prices = client.get("day_ahead_prices", "DE_LU", "2024-01-01", "2024-02-01")  # doctest: +SKIP

Data travels as Arrow IPC (no JSON parsing, exact types), page by page following the
server's cursor, and arrives with tz-aware ``interval_start``/``interval_end`` (UTC, or the
zone asked with ``tz``). The series' dataset, area, unit, resolution and dimensions are
categorical columns. Every request has a timeout; HTTP 429 is retried after the server's
``Retry-After``, 5xx and network failures with exponential backoff and jitter; other
errors raise :class:`APIError` with the server's explanation.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import pyarrow as pa
import pyarrow.ipc as pa_ipc

from gridvault import __version__
from gridvault.errors import GridvaultError

TimeLike = str | datetime | date
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class APIError(GridvaultError):
    """The API refused a request (or could not be reached); ``detail`` says why."""

    def __init__(self, status_code: int, detail: str, url: str) -> None:
        self.status_code = status_code
        self.detail = detail
        self.url = url
        where = f"HTTP {status_code}" if status_code else "no answer"
        super().__init__(f"{where} from {url}: {detail}")


def _time_text(value: TimeLike) -> str:
    """ISO 8601 as the API reads it; naive times mean the area's local time there too."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _areas(area: str | Sequence[str]) -> list[str]:
    return [area] if isinstance(area, str) else list(area)


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(moment.timestamp()) - time.time())


class Client:
    """A connection to one gridvault server.

    ``api_key`` defaults to the ``GRIDVAULT_API_KEY`` environment variable. ``page_size``
    is the number of rows fetched per request (the server caps it at 1 000 000).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        page_size: int = 500_000,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        root = base_url.rstrip("/").removesuffix("/v1")
        key = api_key if api_key is not None else os.environ.get("GRIDVAULT_API_KEY")
        headers = {"User-Agent": f"gridvault-client/{__version__}"}
        if key:
            headers["X-API-Key"] = key
        self.base_url = root
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.page_size = page_size
        self._sleep = sleep
        self._http = httpx2.Client(
            base_url=root,
            headers=headers,
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"Client({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------
    def _delay(self, attempt: int) -> float:
        base: float = min(self.max_backoff, self.backoff * 2.0**attempt)
        return base * (0.5 + random.random())  # noqa: S311 - jitter, not cryptography

    def _request(
        self, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> httpx2.Response:
        """One call with retries on 429 (after Retry-After), 5xx and network failures."""
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx2.TransportError as exc:
                if last:
                    raise APIError(0, f"{type(exc).__name__}: {exc}", url) from None
                self._sleep(self._delay(attempt))
                continue
            if response.status_code in _RETRY_STATUSES and not last:
                wait = _retry_after(response)
                self._sleep(min(wait, 600.0) if wait is not None else self._delay(attempt))
                continue
            if response.status_code >= 400:
                try:
                    detail = str(response.json().get("detail", response.text))
                except ValueError:
                    detail = response.text[:500] or response.reason_phrase
                raise APIError(response.status_code, detail, url)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, path: str, params: Any = None) -> Any:
        return self._request("GET", path, params=params).json()

    def _frame(self, table: pa.Table, polars: bool) -> Any:
        table = table.unify_dictionaries()
        if polars:
            import polars as pl  # noqa: PLC0415 - optional dependency

            return pl.from_arrow(table)
        return table.to_pandas()

    # -- metadata ---------------------------------------------------------------------------
    def datasets(self, *, stored: bool = False) -> list[dict[str, Any]]:
        """Every dataset (id, description, kind, unit, resolution, stored areas)."""
        result: list[dict[str, Any]] = self._json("/v1/datasets", {"stored": stored})
        return result

    def dataset(self, dataset: str) -> dict[str, Any]:
        """One dataset with its stored areas, time range, rows and last update."""
        result: dict[str, Any] = self._json(f"/v1/datasets/{dataset}")
        return result

    def areas(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every area: code, EIC, name, kind, time zone."""
        result: list[dict[str, Any]] = self._json("/v1/areas", {"kind": kind} if kind else None)
        return result

    def updates(
        self, dataset: str | None = None, area: str | Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per dataset and area: rows, stored range, last update."""
        params: dict[str, Any] = {}
        if dataset:
            params["dataset"] = dataset
        if area:
            params["area"] = _areas(area)
        result: list[dict[str, Any]] = self._json("/v1/updates", params)
        return result

    def coverage(
        self,
        dataset: str,
        area: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        **filters: str,
    ) -> dict[str, Any]:
        """Completeness and gaps of the stored series over ``[start, end)``."""
        params = {
            "area": _areas(area),
            "start": _time_text(start),
            "end": _time_text(end),
            **filters,
        }
        result: dict[str, Any] = self._json(f"/v1/datasets/{dataset}/coverage", params)
        return result

    # -- data -------------------------------------------------------------------------------
    def get_arrow(
        self,
        dataset: str,
        area: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        resample: str | None = None,
        agg: str = "mean",
        tz: str | None = None,
        as_of: TimeLike | None = None,
        published_before: TimeLike | None = None,
        **filters: str,
    ) -> pa.Table:
        """Like :meth:`get`, as an Arrow table."""
        params: dict[str, Any] = {
            "area": _areas(area),
            "start": _time_text(start),
            "end": _time_text(end),
            "format": "arrow",
            "limit": self.page_size,
            **filters,
        }
        if resample:
            params["resample"] = resample
            params["agg"] = agg
        if tz:
            params["tz"] = tz
        if as_of is not None:
            params["as_of"] = _time_text(as_of)
        if published_before is not None:
            params["published_before"] = _time_text(published_before)
        pages: list[pa.Table] = []
        while True:
            response = self._request("GET", f"/v1/datasets/{dataset}/data", params=params)
            pages.append(pa_ipc.open_stream(response.content).read_all())
            cursor = response.headers.get("x-next-cursor")
            if not cursor:
                break
            params = {**params, "cursor": cursor}
        return pa.concat_tables(pages) if len(pages) > 1 else pages[0]

    def get(
        self,
        dataset: str,
        area: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        resample: str | None = None,
        agg: str = "mean",
        tz: str | None = None,
        as_of: TimeLike | None = None,
        published_before: TimeLike | None = None,
        polars: bool = False,
        **filters: str,
    ) -> Any:
        """Stored values of ``dataset`` in ``area`` over ``[start, end)`` as a DataFrame.

        ``start``/``end``: strings, dates or datetimes; naive means the area's local time.
        ``resample`` (``15min`` … ``1y``) with ``agg`` (mean, min, max, sum, first, last,
        ohlc, count); ``tz`` for output times and calendar buckets; ``as_of`` for what was
        known then; ``published_before`` for forecasts; dimension filters as keywords
        (``psr_type="B16"``, ``area_to="FR"``). ``polars=True`` returns a polars DataFrame.
        """
        table = self.get_arrow(
            dataset,
            area,
            start,
            end,
            resample=resample,
            agg=agg,
            tz=tz,
            as_of=as_of,
            published_before=published_before,
            **filters,
        )
        return self._frame(table, polars)

    def latest(
        self,
        dataset: str,
        area: str | Sequence[str] | None = None,
        *,
        tz: str | None = None,
        polars: bool = False,
        **filters: str,
    ) -> Any:
        """The most recent stored value of each matching series."""
        params: dict[str, Any] = {"format": "arrow", **filters}
        if area:
            params["area"] = _areas(area)
        if tz:
            params["tz"] = tz
        response = self._request("GET", f"/v1/datasets/{dataset}/latest", params=params)
        return self._frame(pa_ipc.open_stream(response.content).read_all(), polars)


__all__ = ["APIError", "Client"]
