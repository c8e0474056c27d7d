"""The ENTSO-E client against scripted responses (httpx2.MockTransport): classification,
retries, bans, paging, ZIP, and the token kept out of every error, log and URL."""

from __future__ import annotations

import asyncio
import io
import logging
import random
import ssl
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
import structlog

from gridvault.demo import ENTSOE_DIR
from gridvault.entsoe.catalog import get_dataset
from gridvault.sources.entsoe_client import (
    AcknowledgementRefused,
    BannedError,
    EntsoeClient,
    PermanentError,
    RawResponse,
    RetryableError,
    RetryPolicy,
    count_items,
)
from gridvault.sources.ratelimit import LocalRateLimiter
from gridvault.sources.windows import TimeWindow

TOKEN = "secret-token-1234567890"  # noqa: S105 - a fake token for leak checks
BASE = "https://entsoe.test/api"
NL_PRICES = (ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml").read_bytes()
NO_DATA = (
    ENTSOE_DIR / "Acknowledgement_no_matching_data_A44_A07_DE_LU_2024-09-02.xml"
).read_bytes()
OUTAGES_ZIP = (ENTSOE_DIR / "A80_unavailability_generation_units_BE_2025_59docs.zip").read_bytes()
DAY = TimeWindow(datetime(2024, 9, 1, 22, tzinfo=UTC), datetime(2024, 9, 2, 22, tzinfo=UTC))
FAST = RetryPolicy(attempts=4, backoff_base=0.001, backoff_cap=0.01, default_ban=0.2, min_ban=0.05)

Handler = Callable[[httpx.Request], httpx.Response]


# Earlier in-process CLI runs may leave logging on a closed stream (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_logging")


def refusal(text: str, code: str = "999") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Acknowledgement_MarketDocument '
        'xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">'
        f"<mRID>x</mRID><Reason><code>{code}</code><text>{text}</text></Reason>"
        "</Acknowledgement_MarketDocument>"
    ).encode()


def series_document(count: int) -> bytes:
    body = "".join(f"<TimeSeries><mRID>{i}</mRID></TimeSeries>" for i in range(count))
    return f'<Publication_MarketDocument xmlns="urn:x">{body}</Publication_MarketDocument>'.encode()


def make_client(
    handler: Handler, *, retry: RetryPolicy = FAST, limiter: LocalRateLimiter | None = None
) -> EntsoeClient:
    return EntsoeClient(
        token=TOKEN,
        base_url=BASE,
        limiter=limiter or LocalRateLimiter(1000, window_seconds=0.01),
        retry=retry,
        transport=httpx.MockTransport(handler),
        rng=random.Random(1),
    )


async def fetch(
    handler: Handler, dataset: str = "day_ahead_prices", **kwargs: object
) -> RawResponse:
    async with make_client(handler, **kwargs) as client:  # type: ignore[arg-type]
        return await client.fetch(get_dataset(dataset), "NL", None, DAY)


def test_data_response_carries_request_without_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=NL_PRICES, headers={"content-type": "text/xml"})

    raw = asyncio.run(fetch(handler))
    assert seen[0].url.params["securityToken"] == TOKEN
    assert seen[0].url.params["documentType"] == "A44"
    assert raw.status == 200
    assert not raw.no_data
    assert raw.items == 1
    assert raw.content == NL_PRICES
    record = repr(raw.request_record()) + raw.url + raw.name
    assert TOKEN not in record
    assert "securityToken" not in record
    assert raw.params["in_Domain"] == "10YNL----------L"
    assert raw.request_record()["window"] == "2024-09-01T22:00:00Z/2024-09-02T22:00:00Z"


@pytest.mark.parametrize("status", [200, 400])
def test_no_matching_data_is_an_empty_success(status: int) -> None:
    raw = asyncio.run(fetch(lambda _r: httpx.Response(status, content=NO_DATA)))
    assert raw.no_data
    assert raw.items == 0
    assert raw.status == status


@pytest.mark.parametrize("status", [200, 400])
def test_other_acknowledgements_are_permanent_errors_with_entsoe_text(status: int) -> None:
    text = "The amount of requested data exceeds allowed limit"
    with pytest.raises(AcknowledgementRefused) as caught:
        asyncio.run(fetch(lambda _r: httpx.Response(status, content=refusal(text))))
    error = caught.value
    assert error.kind == "permanent"
    assert error.reason_code == "999"
    assert text in str(error)
    assert error.response is not None
    assert error.response.status == status
    assert "day_ahead_prices NL 2024-09-01T22:00:00Z/2024-09-02T22:00:00Z" in str(error)
    assert BASE in str(error)
    assert TOKEN not in str(error)


def test_html_400_and_401_are_permanent() -> None:
    with pytest.raises(PermanentError, match="HTTP 400: Bad Request"):
        asyncio.run(
            fetch(lambda _r: httpx.Response(400, content=b"<html><body>Bad Request</body></html>"))
        )
    with pytest.raises(PermanentError, match="token was refused") as caught:
        asyncio.run(fetch(lambda _r: httpx.Response(401, content=b"<html>no</html>")))
    assert TOKEN not in str(caught.value)


def _flaky(failures: list[Callable[[httpx.Request], httpx.Response]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if failures:
            return failures.pop(0)(request)
        return httpx.Response(200, content=NL_PRICES)

    return handler


def _raise(exc_type: type[Exception], message: str) -> Callable[[httpx.Request], httpx.Response]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)  # type: ignore[call-arg]

    return fail


def test_retries_5xx_timeouts_and_broken_connections_then_succeeds() -> None:
    failures = [
        lambda _r: httpx.Response(503),
        _raise(httpx.ReadTimeout, "timed out"),
        _raise(httpx.RemoteProtocolError, "peer closed connection without sending complete body"),
    ]
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    async def run() -> tuple[RawResponse, int, int]:
        client = EntsoeClient(
            token=TOKEN,
            base_url=BASE,
            limiter=LocalRateLimiter(1000, window_seconds=0.01),
            retry=RetryPolicy(attempts=5, backoff_base=1.0, backoff_cap=8.0, jitter=0.5),
            transport=httpx.MockTransport(_flaky(failures)),
            sleep=record_sleep,
            rng=random.Random(3),
        )
        async with client:
            raw = await client.fetch(get_dataset("day_ahead_prices"), "NL", None, DAY)
        return raw, client.stats.requests, client.stats.retries

    raw, requests, retries = asyncio.run(run())
    assert raw.attempts == 4
    assert requests == 4
    assert retries == 3
    # Exponential with jitter: retry n waits between half and all of 2**(n-1) seconds.
    assert len(delays) == 3
    for n, delay in enumerate(delays, start=1):
        assert 2 ** (n - 1) * 0.5 <= delay <= 2 ** (n - 1)


def test_gives_up_after_the_attempts_with_a_retryable_error() -> None:
    calls: list[int] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502)

    with pytest.raises(RetryableError) as caught:
        asyncio.run(fetch(handler))
    assert len(calls) == FAST.attempts
    assert caught.value.kind == "retryable"
    assert "HTTP 502" in str(caught.value)
    assert f"after {FAST.attempts} attempts" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_token_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # configure_logging quiets httpx2 to WARNING; this test wants its per-request line.
    caplog.set_level(logging.DEBUG, logger="httpx2")

    def handler(request: httpx.Request) -> httpx.Response:
        # A hostile server echoing the full URL (token included) in its error page.
        return httpx.Response(503, content=f"failed: {request.url}".encode())

    with structlog.testing.capture_logs() as events, pytest.raises(RetryableError) as caught:
        asyncio.run(fetch(handler))
    assert any(e["event"] == "entsoe request failed, retrying" for e in events)
    logged = repr(events) + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: GET" in logged  # httpx2's own line, token masked
    assert TOKEN not in logged
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert "securityToken" not in caught.value.context.url


def test_non_transport_problems_are_permanent() -> None:
    with pytest.raises(PermanentError, match="cannot send"):
        asyncio.run(fetch(_raise(httpx.UnsupportedProtocol, "bad scheme")))


def test_ban_pauses_every_request_until_the_stated_time() -> None:
    banned_until = datetime.now(UTC) + timedelta(seconds=0.4)
    stamp = banned_until.strftime("%Y-%m-%dT%H:%M:%S.") + f"{banned_until.microsecond // 1000:03d}Z"
    served: list[tuple[float, int]] = []
    first = [True]

    def handler(_request: httpx.Request) -> httpx.Response:
        now = time.time()
        if first[0]:
            first[0] = False
            served.append((now, 429))
            body = f"<html><body><p>Requester banned until '{stamp}'.</p></body></html>"
            return httpx.Response(429, content=body.encode())
        served.append((now, 200))
        return httpx.Response(200, content=NL_PRICES)

    async def run() -> tuple[list[RawResponse], int]:
        limiter = LocalRateLimiter(5, window_seconds=0.25)  # 50 ms apart
        async with make_client(handler, limiter=limiter) as client:
            results = await asyncio.gather(
                *(
                    client.fetch(get_dataset("day_ahead_prices"), a, None, DAY)
                    for a in ("NL", "BE", "FR")
                )
            )
            return list(results), client.stats.bans

    results, bans = asyncio.run(run())
    assert bans == 1
    assert all(r.status == 200 for r in results)
    assert served[0][1] == 429
    # The first request is banned; the two others were already queued behind it in the
    # limiter, and none of the three is sent again before the ban ends.
    later = [at for at, status in served[1:] if status == 200]
    assert len(later) == 3
    assert min(later) >= banned_until.timestamp() - 0.01


def test_ban_longer_than_allowed_is_a_banned_error() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            content=b"<html><body><p>Requester banned until '2999-01-01T00:00:00.000Z'.</p></body></html>",
        )

    policy = RetryPolicy(attempts=2, backoff_base=0.001, max_ban_wait=5.0)
    with pytest.raises(BannedError) as caught:
        asyncio.run(fetch(handler, retry=policy))
    assert caught.value.kind == "banned"
    assert caught.value.until == datetime(2999, 1, 1, tzinfo=UTC)


def test_429_without_time_uses_retry_after_then_default() -> None:
    calls: list[float] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(
                429, content=b"Max allowed requests per minute", headers={"Retry-After": "0.3"}
            )
        return httpx.Response(200, content=NL_PRICES)

    raw = asyncio.run(fetch(handler))
    assert raw.status == 200
    assert raw.attempts == 2
    assert calls[1] - calls[0] >= 0.29


def _pages(counts: dict[int, int], seen: list[int]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "-1"))
        seen.append(offset)
        if counts.get(offset, 0) == 0:
            return httpx.Response(200, content=NO_DATA)
        return httpx.Response(200, content=series_document(counts[offset]))

    return handler


def test_paging_follows_offsets_until_a_short_page() -> None:
    seen: list[int] = []

    async def run() -> list[RawResponse]:
        async with make_client(_pages({0: 100, 100: 100, 200: 66}, seen)) as client:
            return [
                page
                async for page in client.pages(get_dataset("day_ahead_prices"), "NL", None, DAY)
            ]

    pages = asyncio.run(run())
    assert seen == [0, 100, 200]
    assert [p.items for p in pages] == [100, 100, 66]
    assert [p.offset for p in pages] == [0, 100, 200]
    assert pages[1].name.endswith("_offset100.xml")


def test_paging_stops_at_no_data_after_a_full_page() -> None:
    seen: list[int] = []

    async def run() -> list[RawResponse]:
        async with make_client(_pages({0: 100}, seen)) as client:
            return [
                page
                async for page in client.pages(get_dataset("day_ahead_prices"), "NL", None, DAY)
            ]

    pages = asyncio.run(run())
    assert seen == [0, 100]
    assert pages[-1].no_data


def test_paging_past_the_offset_limit_is_a_permanent_error() -> None:
    seen: list[int] = []
    full = dict.fromkeys(range(0, 5000, 100), 100)

    async def run() -> int:
        got = 0
        async with make_client(_pages(full, seen)) as client:
            async for _page in client.pages(get_dataset("day_ahead_prices"), "NL", None, DAY):
                got += 1
        return got

    with pytest.raises(PermanentError, match="paging limit"):
        asyncio.run(run())
    assert seen[-1] == 4800
    assert len(seen) == 49


def test_unpaged_dataset_sends_no_offset() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=series_document(150))

    async def run() -> list[RawResponse]:
        async with make_client(handler) as client:
            return [p async for p in client.pages(get_dataset("load_actual"), "NL", None, DAY)]

    pages = asyncio.run(run())
    assert len(pages) == 1
    assert "offset" not in seen[0].url.params


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_responses_count_documents_for_outage_paging() -> None:
    assert count_items(OUTAGES_ZIP, documents=True) == 59
    assert count_items(_zip({"a.xml": series_document(3), "b.xml": series_document(2)})) == 5
    assert count_items(b"PK\x03\x04 broken") == 0

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=OUTAGES_ZIP,
            headers={
                "content-type": "application/zip",
                "content-disposition": 'attachment; filename="../../evil/Outages_2025.zip"',
            },
        )

    raw = asyncio.run(fetch(handler, dataset="outages_generation_units"))
    assert raw.items == 59
    assert not raw.no_data
    assert raw.name == "Outages_2025.zip"


def test_empty_zip_is_no_data() -> None:
    empty = _zip({})
    raw = asyncio.run(
        fetch(
            lambda _r: httpx.Response(
                200, content=empty, headers={"content-type": "application/zip"}
            ),
            dataset="outages_generation_units",
        )
    )
    assert raw.no_data
    assert raw.items == 0


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (
            "<html><body><p>Requester banned until '2025-11-25T10:01:55.545Z'.</p></body></html>",
            {},
            datetime(2025, 11, 25, 10, 1, 55, 545000, tzinfo=UTC),
        ),
        (
            "Requester banned until 2025-11-25T10:01:55Z.",
            {},
            datetime(2025, 11, 25, 10, 1, 55, tzinfo=UTC),
        ),
        (
            "Max allowed requests per minute",
            {"Retry-After": "30"},
            datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC),
        ),
        ("Max allowed requests per minute", {}, datetime(2025, 1, 1, 0, 10, tzinfo=UTC)),
    ],
)
def test_ban_end_is_read_from_body_then_retry_after_then_ten_minutes(
    body: str, headers: dict[str, str], expected: datetime
) -> None:
    from gridvault.sources.entsoe_client import _ban_end

    now = datetime(2025, 1, 1, tzinfo=UTC)
    response = httpx.Response(429, content=body.encode(), headers=headers)
    assert _ban_end(response, now, 600.0) == expected


def test_clients_share_one_verifying_tls_context() -> None:
    def context(client: EntsoeClient) -> ssl.SSLContext:
        return client._http._transport._pool._ssl_context  # type: ignore[attr-defined,no-any-return]

    first = EntsoeClient(
        token=None, base_url="https://example.org/api", limiter=LocalRateLimiter(400)
    )
    second = EntsoeClient(
        token=None, base_url="https://example.org/api", limiter=LocalRateLimiter(9)
    )
    assert context(first) is context(second)
    assert context(first).verify_mode == ssl.CERT_REQUIRED
    assert context(first).check_hostname
