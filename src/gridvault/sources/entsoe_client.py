"""The ENTSO-E Transparency Platform HTTP client: raw responses in, classified failures out.

One request = one catalog row, one area (or ``FROM>TO`` pair), one window, one ``offset``
page. The client asks the shared :class:`~gridvault.sources.ratelimit.RateLimiter` before
*every* HTTP attempt (retries count against ENTSO-E's budget too), and returns the raw bytes
with the request metadata for the archive. It never parses values: the pipeline archives
the bytes first and parses them afterwards (:mod:`gridvault.pipeline.collect`).

How each answer is classified (research notes §3.5):

================================  ==========================================================
HTTP 200 document / ZIP           data (:class:`RawResponse`)
200 or 400 + "No matching data"   **no data**: an empty, successful result (``no_data=True``);
                                  ENTSO-E moved from 400 to 200 for this, both are accepted.
                                  An empty ZIP (an offset past the end) is no data too.
200 or 400, other acknowledgement :class:`AcknowledgementRefused` (permanent) with ENTSO-E's
                                  text ("exceeds allowed limit", "not valid for this area" …)
400 that is not XML, 401/403,     :class:`PermanentError` — asking again cannot help
other 4xx
429                               **ban**: "Requester banned until '<ISO>'" (or Retry-After, or
                                  ten minutes) is handed to the limiter, which pauses *every*
                                  request until then; this request is then sent again. A ban
                                  longer than ``RetryPolicy.max_ban_wait`` raises
                                  :class:`BannedError` instead of waiting.
5xx, 408, timeouts, connection    **retryable**: exponential backoff with jitter, up to
errors                            ``RetryPolicy.attempts`` tries, then :class:`RetryableError`.
                                  A body cut short by a broken connection (Content-Length not
                                  reached, chunked stream aborted) is a connection error and
                                  is retried; a complete 200 body that is not a readable
                                  document is *not* retried: it is archived and quarantined
                                  by the pipeline and the window is recorded as failed.
================================  ==========================================================

The token (``securityToken``) is added to the query at the last moment; every URL in
errors, logs and archive records is built without it, and the token is registered with
:func:`gridvault.logs.register_secret` so the log redactor masks it wherever it appears.
httpx2 itself logs every request URL (token included) at INFO through the standard
library; a filter on its loggers masks the token there too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import ssl
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx2 as httpx
from pydantic import SecretStr

from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import Dataset, request_params
from gridvault.errors import ParseError, UpstreamError
from gridvault.logs import get_logger, redact, register_secret
from gridvault.sources.ratelimit import RateLimiter, Sleep
from gridvault.sources.windows import TimeWindow

log = get_logger("gridvault.entsoe.client")

USER_AGENT = "gridvault (+https://github.com/gridvault)"
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_BANNED = re.compile(
    r"banned until\s*'([^']+)'|banned until\s+([0-9][0-9T:.\-+Z]*[0-9Z])", re.IGNORECASE
)
_TIME_SERIES = re.compile(rb"<(?:[\w.\-]+:)?TimeSeries[\s>/]")
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


class _RedactingFilter(logging.Filter):
    """Masks the token in stdlib log records (httpx2 logs every request URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _guard_http_logs() -> None:
    for name in ("httpx2", "httpcore2"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Delays are seconds; tests shrink them to milliseconds.

    The n-th retry waits ``min(backoff_cap, backoff_base * 2**(n-1))``, of which the last
    ``jitter`` fraction is random (so workers that failed together do not retry together).
    ``max_bans`` bounds how often one request may be banned and resent; ``max_ban_wait``
    (None: no bound) makes a longer ban a :class:`BannedError` instead of a wait;
    ``default_ban`` is the pause when a 429 names no end (ENTSO-E bans for ten minutes),
    ``min_ban`` the least pause after any 429 (a stated end already past — clock skew —
    must not make us resend at once).
    """

    attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    jitter: float = 0.5
    max_bans: int = 3
    max_ban_wait: float | None = None
    default_ban: float = 600.0
    min_ban: float = 1.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        nominal: float = min(self.backoff_cap, self.backoff_base * 2.0 ** (retry - 1))
        return nominal * (1 - self.jitter * rng.random())


@dataclass(frozen=True)
class RequestContext:
    """What a request was for: carried by every error and log line (never the token)."""

    dataset: str
    area: str
    window: TimeWindow
    url: str

    def __str__(self) -> str:
        return f"{self.dataset} {self.area} {self.window}"


@dataclass(frozen=True)
class RawResponse:
    """One answer of ENTSO-E as received, with what is needed to archive it.

    ``params`` and ``url`` never contain the token. ``items`` counts the TimeSeries (for
    outage datasets: the documents) in the payload, for offset paging.
    """

    content: bytes
    status: int
    content_type: str | None
    name: str
    context: RequestContext
    params: dict[str, str]
    offset: int | None
    fetched_at: datetime
    attempts: int
    elapsed: float
    no_data: bool
    items: int

    @property
    def url(self) -> str:
        return self.context.url

    def request_record(self) -> dict[str, Any]:
        """The request as archived next to the payload."""
        return {
            "url": self.context.url,
            "params": dict(self.params),
            "area": self.context.area,
            "window": str(self.context.window),
            "offset": self.offset,
            "attempts": self.attempts,
            "elapsed_s": round(self.elapsed, 3),
        }


class EntsoeRequestError(UpstreamError):
    """A request that did not give a document; ``kind`` says what can be done about it."""

    kind: ClassVar[str] = "error"

    def __init__(
        self,
        reason: str,
        context: RequestContext,
        *,
        status: int | None = None,
        response: RawResponse | None = None,
    ) -> None:
        self.reason = redact(reason)
        self.context = context
        self.status = status
        self.response = response
        super().__init__(f"{context}: {self.reason} [{context.url}]")


class RetryableError(EntsoeRequestError):
    """Timeouts, connection errors, 5xx — still failing after every retry; try later."""

    kind = "retryable"


class PermanentError(EntsoeRequestError):
    """The request itself is wrong or refused (4xx); asking again will not help."""

    kind = "permanent"


class AcknowledgementRefused(PermanentError):
    """ENTSO-E answered with an acknowledgement other than "no matching data"."""

    def __init__(
        self,
        reason_code: str | None,
        reason_text: str | None,
        context: RequestContext,
        *,
        status: int | None = None,
        response: RawResponse | None = None,
    ) -> None:
        self.reason_code = reason_code
        self.reason_text = reason_text
        code = f" (reason code {reason_code})" if reason_code else ""
        super().__init__(
            f"ENTSO-E acknowledgement{code}: {reason_text or 'no reason text'}",
            context,
            status=status,
            response=response,
        )


class BannedError(EntsoeRequestError):
    """ENTSO-E banned the token/IP for longer than we were allowed to wait."""

    kind = "banned"

    def __init__(self, reason: str, context: RequestContext, *, until: datetime) -> None:
        self.until = until
        super().__init__(reason, context, status=429)


@dataclass
class ClientStats:
    """Counters of one client (all its requests, whatever the window)."""

    requests: int = 0
    retries: int = 0
    bans: int = 0
    responses: dict[int, int] = field(default_factory=dict)
    waited: float = 0.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process, shared by every client: building one loads
    the CA bundle (~0.1 s), which each backfill plan and scheduled run would pay again."""
    return httpx.create_ssl_context(trust_env=False)


class EntsoeClient:
    """Async ENTSO-E API client sharing one rate limiter across all concurrent requests.

    ``transport`` is injectable (``httpx2.MockTransport`` in unit tests); ``sleep`` and
    ``rng`` make backoff deterministic in tests. Use as an async context manager.
    """

    def __init__(
        self,
        *,
        token: SecretStr | str | None,
        base_url: str,
        limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_connections: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._token = token.get_secret_value() if isinstance(token, SecretStr) else token
        register_secret(self._token)
        _guard_http_logs()
        self.base_url = base_url.rstrip("?")
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._http = httpx.AsyncClient(
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            verify=_tls_context() if transport is None else True,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> EntsoeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- public ----------------------------------------------------------------------------
    async def pages(
        self,
        dataset: Dataset,
        area: str,
        area_to: str | None,
        window: TimeWindow,
        *,
        extra: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[RawResponse, None]:
        """Every response of one window: one for unpaged datasets, else ``offset`` pages.

        Paging goes on while a page is full (``page_size`` items); it stops at a short page,
        a "no matching data" acknowledgement or an empty ZIP. A window with more items than
        ``max_offset`` allows raises :class:`PermanentError` after the pages it could get:
        ask for shorter windows.
        """
        if dataset.page_size is None:
            yield await self.fetch(dataset, area, area_to, window, extra=extra)
            return
        offset = 0
        while True:
            page = await self.fetch(dataset, area, area_to, window, offset=offset, extra=extra)
            yield page
            if page.no_data or page.items < dataset.page_size:
                return
            offset += dataset.page_size
            if dataset.max_offset is not None and offset > dataset.max_offset:
                raise PermanentError(
                    f"more than {offset} items in one window, past ENTSO-E's paging limit "
                    f"(offset {dataset.max_offset}); the rest is missing: use shorter windows",
                    page.context,
                )

    async def fetch(
        self,
        dataset: Dataset,
        area: str,
        area_to: str | None,
        window: TimeWindow,
        *,
        offset: int | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> RawResponse:
        """One request (with retries and ban waits) → its raw response."""
        params = request_params(
            dataset, area, area_to, window.start, window.end, offset=offset, extra=extra
        )
        label = lookup_area(area).code + (f">{lookup_area(area_to).code}" if area_to else "")
        context = RequestContext(
            dataset=dataset.name,
            area=label,
            window=window,
            url=f"{self.base_url}?{urlencode(params)}",
        )
        query = dict(params)
        if self._token:
            query["securityToken"] = self._token
        attempts = 0  # HTTP requests sent for this page
        failures = 0  # of which failed in a retryable way
        bans = 0
        began = time.monotonic()
        while True:
            self.stats.waited += await self.limiter.acquire()
            attempts += 1
            self.stats.requests += 1
            try:
                response = await self._http.get(self.base_url, params=query)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
                raise PermanentError(f"cannot send the request: {exc}", context) from None
            except httpx.TimeoutException as exc:
                failure = f"timed out ({type(exc).__name__})"
                retry_after = None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                failure = f"connection failed ({type(exc).__name__}: {exc})"
                retry_after = None
            else:
                status = response.status_code
                self.stats.responses[status] = self.stats.responses.get(status, 0) + 1
                if status == 429:
                    bans += 1
                    self.stats.bans += 1
                    await self._handle_ban(response, context, bans)
                    continue
                if status >= 500 or status == 408:
                    failure = f"HTTP {status} {response.reason_phrase}".rstrip()
                    retry_after = _retry_after(response)
                else:
                    raw = self._raw(
                        response,
                        dataset,
                        context,
                        params=params,
                        offset=offset,
                        attempts=attempts,
                        began=began,
                    )
                    return self._classify(raw)
            failures += 1
            if failures >= self.retry.attempts:
                raise RetryableError(f"{failure}; gave up after {failures} attempts", context)
            delay = self.retry.delay(failures, self._rng)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.retry.backoff_cap))
            self.stats.retries += 1
            log.warning(
                "entsoe request failed, retrying",
                dataset=context.dataset,
                area=context.area,
                window=str(context.window),
                url=context.url,
                reason=redact(failure),
                attempt=failures,
                delay_s=round(delay, 3),
            )
            await self._sleep(delay)

    # -- internals -------------------------------------------------------------------------
    async def _handle_ban(
        self, response: httpx.Response, context: RequestContext, bans: int
    ) -> None:
        now = datetime.now(UTC)
        until = _ban_end(response, now, self.retry.default_ban)
        until = max(until, now + timedelta(seconds=self.retry.min_ban))
        await self.limiter.ban(until)
        wait = (until - now).total_seconds()
        log.warning(
            "entsoe ban: pausing every request",
            dataset=context.dataset,
            area=context.area,
            window=str(context.window),
            url=context.url,
            banned_until=until.isoformat(),
            wait_s=round(wait, 1),
        )
        if bans > self.retry.max_bans:
            raise BannedError(
                f"banned again (HTTP 429, {bans} times for this request) until {until.isoformat()}",
                context,
                until=until,
            )
        if self.retry.max_ban_wait is not None and wait > self.retry.max_ban_wait:
            raise BannedError(
                f"banned (HTTP 429) until {until.isoformat()}, longer than the "
                f"{self.retry.max_ban_wait:g} s we may wait",
                context,
                until=until,
            )

    def _raw(
        self,
        response: httpx.Response,
        dataset: Dataset,
        context: RequestContext,
        *,
        params: dict[str, str],
        offset: int | None,
        attempts: int,
        began: float,
    ) -> RawResponse:
        content = response.content
        content_type = response.headers.get("content-type")
        is_zip = content.startswith((_ZIP_MAGIC, _EMPTY_ZIP)) or "zip" in (content_type or "")
        name = _filename(response) or _default_name(params, offset, zipped=is_zip)
        return RawResponse(
            content=content,
            status=response.status_code,
            content_type=content_type,
            name=name,
            context=context,
            params=params,
            offset=offset,
            fetched_at=datetime.now(UTC),
            attempts=attempts,
            elapsed=time.monotonic() - began,
            no_data=False,
            items=count_items(content, documents=dataset.outage),
        )

    def _classify(self, raw: RawResponse) -> RawResponse:
        """Data, no data, or a refusal (an acknowledgement or a non-document 4xx)."""
        context, status, content = raw.context, raw.status, raw.content
        if content.startswith(_EMPTY_ZIP):
            return replace(raw, no_data=True)
        if _is_acknowledgement(content):
            from gridvault.entsoe.parser import (  # noqa: PLC0415
                AcknowledgementError,
                parse_document,
            )

            try:
                parsed = parse_document(content, source_name=raw.name)
            except AcknowledgementError as exc:
                raise AcknowledgementRefused(
                    exc.reason_code, exc.reason_text, context, status=status, response=raw
                ) from None
            except ParseError:
                parsed = None
            if parsed is not None and parsed.kind == "no_data":
                return replace(raw, no_data=True)
        if status in (401, 403):
            raise PermanentError(
                f"HTTP {status}: the token was refused; check GRIDVAULT_ENTSOE_TOKEN "
                "(or ENTSOE_API_KEY)",
                context,
                status=status,
                response=raw,
            )
        if status != 200:
            raise PermanentError(
                f"HTTP {status}: {_excerpt(content)}", context, status=status, response=raw
            )
        return raw


def _is_acknowledgement(content: bytes) -> bool:
    return b"Acknowledgement_MarketDocument" in content[:2048]


def count_items(content: bytes, *, documents: bool = False) -> int:
    """TimeSeries in a payload (``documents=True``: XML documents), ZIP members included.

    Used only to decide whether another ``offset`` page is needed; a payload that cannot
    be read counts 0 (paging stops, and the parser reports the defect).
    """
    from gridvault.entsoe.parser import iter_payloads  # noqa: PLC0415

    total = 0
    try:
        for _name, payload in iter_payloads(content):
            if documents:
                total += 0 if _is_acknowledgement(payload) else 1
            else:
                total += _count_time_series(payload)
    except ParseError:
        return 0
    return total


def _count_time_series(payload: bytes) -> int:
    """Opening TimeSeries tags. Fast path: when every mention of the name is a plain
    ``<TimeSeries>`` or ``</TimeSeries>`` tag, count them with C-speed substring counts."""
    plain = payload.count(b"<TimeSeries>")
    if payload.count(b"TimeSeries") == 2 * plain:
        return plain
    return len(_TIME_SERIES.findall(payload))


def _excerpt(content: bytes, limit: int = 300) -> str:
    text = content[:4096].decode("utf-8", "replace")
    text = _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()
    return redact(text[:limit]) or "(empty body)"


def _retry_after(response: httpx.Response) -> float | None:
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
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _ban_end(response: httpx.Response, now: datetime, default: float) -> datetime:
    """The end of a ban: the body's "banned until '<ISO>'", else Retry-After, else default."""
    match = _BANNED.search(response.text[:4096])
    if match:
        try:
            until = datetime.fromisoformat((match.group(1) or match.group(2)).strip())
        except ValueError:
            until = None
        if until is not None:
            return until if until.tzinfo else until.replace(tzinfo=UTC)
    retry_after = _retry_after(response)
    seconds = retry_after if retry_after is not None else default
    return now + timedelta(seconds=seconds)


_FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)


def _filename(response: httpx.Response) -> str | None:
    match = _FILENAME.search(response.headers.get("content-disposition", ""))
    if not match:
        return None
    # Only the base name: a header must not steer where anything is written.
    return match.group(1).strip().replace("\\", "/").rsplit("/", 1)[-1] or None


def _default_name(params: Mapping[str, str], offset: int | None, *, zipped: bool) -> str:
    domain = next((params[key] for key in params if key.endswith("Domain")), "?")
    page = f"_offset{offset}" if offset else ""
    suffix = "zip" if zipped else "xml"
    return (
        f"{params.get('documentType', 'entsoe')}_{domain}_{params.get('periodStart')}_"
        f"{params.get('periodEnd')}{page}.{suffix}"
    )
