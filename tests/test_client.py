"""The Python client against a real server on loopback, and its retry rules (mock transport)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the dev group
import polars as pl
import pytest

import gridvault
from gridvault.api import ApiOptions
from gridvault.api.testing import RunningApi, run_api, seed_sample
from gridvault.client import APIError, Client
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings

START, END = "2024-01-01T00:00Z", "2024-01-04T00:00Z"


@pytest.fixture(scope="module", autouse=True)
def _logging_to_a_live_stream() -> None:
    # An earlier test may have configured logging onto a stream that is closed by now.
    configure_logging("WARNING", "json")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    path: Path = tmp_path_factory.mktemp("client") / "store.duckdb"
    with Services(Settings(database_url=f"duckdb:///{path}", redis_url=None)) as services:
        seed_sample(services.store)
        with run_api(
            services, options=ApiOptions(chunk_rows=50, binary_chunk_rows=50, rate_limit=100_000)
        ) as running:
            yield running


class Counting(httpx2.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx2.Request] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return super().handle_request(request)


@pytest.fixture
def client(api: RunningApi) -> Iterator[Client]:
    with Client(api.url, api.read_key) as opened:
        yield opened


def test_get_returns_a_dataframe_with_tz_aware_intervals(client: Client) -> None:
    frame = client.get("day_ahead_prices", "DE_LU", START, END)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 68
    assert str(frame["interval_start"].dtype) == "datetime64[us, UTC]"
    assert str(frame["interval_end"].dtype) == "datetime64[us, UTC]"
    assert frame["interval_start"].iloc[0] == pd.Timestamp("2024-01-01T00:00Z")
    assert frame["value"].iloc[0] == 50.0
    assert list(frame["area"].unique()) == ["DE_LU"]
    assert {"publish_time", "unit", "resolution", "sequence"} <= set(frame.columns)


def test_get_follows_cursor_pages(api: RunningApi) -> None:
    transport = Counting()
    with Client(api.url, api.read_key, page_size=50, transport=transport) as paged:
        frame = paged.get("generation_actual_per_type", "DE_LU", START, END)
    assert len(transport.requests) == 8  # 384 rows in pages of 50
    assert all(r.url.params["format"] == "arrow" for r in transport.requests)
    assert frame["value"].tolist() == [float(i) for i in range(192)] + [
        1000.0 + i for i in range(192)
    ]
    assert frame["interval_start"].is_monotonic_increasing is False  # two series, one after another
    assert frame.groupby("psr_type", observed=True).size().to_dict() == {"B16": 192, "B19": 192}


def test_get_with_resample_tz_filters_and_as_of(client: Client) -> None:
    hourly = client.get(
        "generation_actual_per_type",
        "DE_LU",
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, tzinfo=UTC),
        resample="1h",
        tz="Europe/Berlin",
        psr_type="B16",
    )
    assert len(hourly) == 24
    assert hourly["value"].iloc[0] == pytest.approx(1.5)
    assert str(hourly["interval_start"].dt.tz) == "Europe/Berlin"
    assert hourly["interval_start"].iloc[0] == pd.Timestamp("2024-01-01T01:00+01:00")
    before = client.get("load_actual", ["FI"], START, END, as_of="2024-01-02T12:00Z")
    assert before["value"].iloc[0] == 1000.0
    flows = client.get("physical_flows", "DE_LU", START, END, area_to="NL")
    assert set(flows["value"]) == {20.0}


def test_polars_on_request(client: Client) -> None:
    frame = client.get("day_ahead_prices", "FR", START, END, polars=True)
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == 48
    assert frame.schema["interval_start"] == pl.Datetime("us", "UTC")


def test_metadata_calls(client: Client) -> None:
    assert "day_ahead_prices" in [d["id"] for d in client.datasets(stored=True)]
    assert client.dataset("load_actual")["rows"] == 24
    assert "DE_LU" in [a["code"] for a in client.areas(kind="bidding_zone")]
    assert [u["dataset"] for u in client.updates(dataset="load_actual")] == ["load_actual"]
    coverage = client.coverage("day_ahead_prices", "DE_LU", START, END)
    assert coverage["present"] == 68
    latest = client.latest("day_ahead_prices", "FR")
    assert latest["value"].tolist() == [147.0]


def test_errors_carry_the_servers_explanation(api: RunningApi, client: Client) -> None:
    with pytest.raises(APIError) as bad_area:
        client.get("day_ahead_prices", "DE_LX", START, END)
    assert bad_area.value.status_code == 400
    assert "did you mean DE_LU" in bad_area.value.detail
    with Client(api.url, "gvk_wrong") as wrong, pytest.raises(APIError) as denied:
        wrong.areas()
    assert denied.value.status_code == 401
    assert "gvk_wrong" not in str(denied.value)
    assert "gvk" not in repr(Client(api.url, api.read_key))


def _mock(responses: list[httpx2.Response | Exception]) -> tuple[httpx2.MockTransport, list[int]]:
    calls: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        answer = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx2.MockTransport(handler), calls


def test_429_is_retried_after_retry_after() -> None:
    transport, calls = _mock(
        [
            httpx2.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
            httpx2.Response(200, json=[{"code": "DE_LU"}]),
        ]
    )
    slept: list[float] = []
    with Client("http://gridvault.test", "k", transport=transport, sleep=slept.append) as c:
        assert c.areas() == [{"code": "DE_LU"}]
    assert (len(calls), slept) == (2, [7.0])


def test_5xx_and_network_errors_back_off_then_give_up() -> None:
    transport, calls = _mock(
        [
            httpx2.Response(503, json={"detail": "store down"}),
            httpx2.ReadTimeout("too slow"),
            httpx2.Response(200, json=[]),
        ]
    )
    slept: list[float] = []
    with Client("http://gridvault.test", transport=transport, sleep=slept.append) as c:
        assert c.datasets() == []
    assert len(calls) == 3
    assert 0.25 <= slept[0] <= 0.75  # backoff 0.5 s with jitter
    assert 0.5 <= slept[1] <= 1.5  # then doubled
    failing, calls = _mock([httpx2.Response(500, json={"detail": "internal error"})])
    with (
        Client("http://gridvault.test", transport=failing, max_retries=2, sleep=slept.append) as c,
        pytest.raises(APIError, match=r"HTTP 500 .*internal error"),
    ):
        c.datasets()
    assert len(calls) == 3
    unreachable, _ = _mock([httpx2.ConnectError("refused")])
    with (
        Client(
            "http://gridvault.test", transport=unreachable, max_retries=1, sleep=slept.append
        ) as c,
        pytest.raises(APIError, match=r"no answer .*ConnectError"),
    ):
        c.datasets()


def test_4xx_is_not_retried() -> None:
    transport, calls = _mock([httpx2.Response(404, json={"detail": "unknown dataset 'x'"})])
    with Client("http://gridvault.test", transport=transport) as c, pytest.raises(APIError):
        c.dataset("x")
    assert len(calls) == 1


def test_every_request_has_a_timeout() -> None:
    with Client("http://gridvault.test/v1/", timeout=12) as c:
        assert c.base_url == "http://gridvault.test"
        timeout = c._http.timeout
        assert (timeout.read, timeout.connect) == (12, 10)


def test_client_is_exported_lazily() -> None:
    assert gridvault.Client is Client
    code = (
        "import sys, gridvault; assert 'gridvault.client' not in sys.modules; "
        "gridvault.Client; assert 'gridvault.client' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
