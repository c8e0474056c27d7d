"""The emulator over real loopback HTTP: token, validation acknowledgements, no data,
rate limit and bans, concurrency and the served log."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from lxml import etree

from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.emulator.config import DEFAULT_TOKEN
from gridvault.emulator.query import BadRequest, read_query
from gridvault.entsoe.catalog import all_datasets, get_dataset, request_params
from gridvault.entsoe.parser import AcknowledgementError, parse_document

TOKEN = DEFAULT_TOKEN
ACK_NS = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"
BAN_BODY = re.compile(
    r"^<html><body><p>Requester banned until '(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)'\.</p></body></html>$"
)
DAY_START = datetime(2024, 9, 1, 22, tzinfo=UTC)
DAY_END = datetime(2024, 9, 2, 22, tzinfo=UTC)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(rate_limit=10_000)) as running:
        yield running


def get(emulator: Emulator, params: dict[str, str], token: str | None = TOKEN) -> httpx.Response:
    query = dict(params)
    if token is not None:
        query["securityToken"] = token
    with httpx.Client(timeout=10) as client:
        return client.get(emulator.base_url, params=query)


def prices(**changes: str) -> dict[str, str]:
    params = request_params(get_dataset("day_ahead_prices"), "NL", None, DAY_START, DAY_END)
    params.update(changes)
    return {key: value for key, value in params.items() if value != ""}


def ack_reason(response: httpx.Response) -> tuple[str, str]:
    root = etree.fromstring(response.content)
    assert etree.QName(root).localname == "Acknowledgement_MarketDocument"
    assert etree.QName(root).namespace == ACK_NS
    code = root.findtext(f"{{{ACK_NS}}}Reason/{{{ACK_NS}}}code")
    text = root.findtext(f"{{{ACK_NS}}}Reason/{{{ACK_NS}}}text")
    assert code is not None
    assert text is not None
    return code, text


# ---- token ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token-123"])
def test_missing_or_wrong_token_is_401_without_echo(emulator: Emulator, token: str | None) -> None:
    response = get(emulator, prices(), token=token)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert b"wrong-token-123" not in response.content
    assert emulator.served()[-1].outcome == "unauthorized"
    assert "securityToken" not in emulator.served()[-1].params


def test_no_token_check_when_configured_off() -> None:
    with running_emulator(EmulatorConfig(token=None)) as running:
        response = get(running, prices(), token=None)
    assert response.status_code == 200


# ---- validation: HTTP 400 acknowledgements -----------------------------------------------


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"documentType": "A99"}, "documentType=A99 is not valid"),
        ({"documentType": ""}, "documentType is missing"),
        (
            {"contract_MarketAgreement.type": "A09"},
            "not valid, check you request against dependency tables",
        ),
        ({"in_Domain": ""}, "in_Domain is missing"),
        ({"in_Domain": "10YXX-NOWHERE--1", "out_Domain": "10YXX-NOWHERE--1"}, "not a valid EIC"),
        ({"in_Domain": "10YBE----------2"}, "must be the same area"),
        ({"periodStart": ""}, "periodStart is missing"),
        (
            {"periodEnd": "2024-09-02"},
            "periodEnd=2024-09-02 is not valid; expected format yyyyMMddHHmm",
        ),
        ({"periodEnd": "202413022200"}, "not a valid date"),
        ({"periodEnd": "202409012200"}, "must be greater than"),
        (
            {"periodEnd": "202509032200"},
            "larger than maximum allowed period 'P1Y' for 'ENERGY_PRICES:XML' export",
        ),
        ({"offset": "50"}, "multiple of 100"),
        ({"offset": "-100"}, "offset=-100 is not valid"),
        ({"offset": "4900"}, "exceeds the allowed limit"),
    ],
)
def test_invalid_queries_get_400_acknowledgements(
    emulator: Emulator, changes: dict[str, str], phrase: str
) -> None:
    response = get(emulator, prices(**changes))
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/xml"
    code, text = ack_reason(response)
    assert code == "999"
    assert phrase in text
    assert emulator.served()[-1].outcome == "bad_request"
    with pytest.raises(AcknowledgementError):
        parse_document(response.content)


def test_one_day_item_refuses_two_days(emulator: Emulator) -> None:
    params = request_params(
        get_dataset("generation_actual_per_unit"),
        "NL",
        None,
        DAY_START,
        DAY_END + timedelta(days=1),
    )
    response = get(emulator, params)
    assert response.status_code == 400
    assert "maximum allowed period 'P1D'" in ack_reason(response)[1]


def test_window_limit_allows_a_local_year_and_day_across_dst() -> None:
    # 2024-10-27 in Berlin has 25 hours: a local day is more than 24 UTC hours.
    day = read_query(
        request_params(
            get_dataset("generation_actual_per_unit"),
            "DE_LU",
            None,
            datetime(2024, 10, 26, 22, tzinfo=UTC),
            datetime(2024, 10, 27, 23, tzinfo=UTC),
        )
    )
    assert day.dataset.name == "generation_actual_per_unit"
    year = request_params(
        get_dataset("load_actual"),
        "DE_LU",
        None,
        datetime(2024, 3, 31, 0, tzinfo=UTC),
        datetime(2025, 3, 31, 0, 30, tzinfo=UTC),
    )
    with pytest.raises(BadRequest, match="P1Y"):
        read_query(year)


def test_every_catalog_request_resolves_to_its_own_dataset() -> None:
    for dataset in all_datasets():
        area_to = "BE" if dataset.border else None
        offset = 0 if dataset.page_size else None
        params = request_params(dataset, "NL", area_to, DAY_START, DAY_END, offset=offset)
        request = read_query(params)
        assert request.dataset == dataset, dataset.name
        assert request.area.code == "NL"


def test_contracted_reserves_accept_every_reserve_process() -> None:
    dataset = get_dataset("contracted_reserves")
    for process in ("A52", "A51", "A47", "A46"):
        params = request_params(
            dataset, "NL", None, DAY_START, DAY_END, extra={"processType": process}
        )
        assert read_query(params).dataset == dataset
    with pytest.raises(BadRequest, match="dependency tables"):
        read_query(
            request_params(dataset, "NL", None, DAY_START, DAY_END, extra={"processType": "A16"})
        )


def test_unknown_path_is_404(emulator: Emulator) -> None:
    with httpx.Client(timeout=10) as client:
        response = client.get(emulator.base_url.replace("/api", "/other"))
    assert response.status_code == 404


# ---- no data ---------------------------------------------------------------------------


def test_no_data_is_http_200_acknowledgement(emulator: Emulator) -> None:
    response = get(emulator, prices())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"
    assert response.headers["content-disposition"] == 'inline; filename="acknowledgement.xml"'
    code, text = ack_reason(response)
    assert code == "999"
    assert text == (
        "No matching data found for Data item ENERGY_PRICES [12.1.D] (10YNL----------L, "
        "10YNL----------L) and interval 2024-09-01T22:00:00Z/2024-09-02T22:00:00Z."
    )
    assert parse_document(response.content).kind == "no_data"
    record = emulator.served()[-1]
    assert (record.status, record.outcome, record.dataset) == (200, "no_data", "day_ahead_prices")
    assert record.points == record.timeseries == 0
    assert record.bytes == len(response.content)


# ---- rate limit --------------------------------------------------------------------------


def test_rate_limit_bans_with_the_real_429_body_until_the_ban_ends() -> None:
    with running_emulator(EmulatorConfig(rate_limit=5, ban_seconds=0.6)) as running:
        with httpx.Client(timeout=10) as client:

            def call() -> httpx.Response:
                return client.get(running.base_url, params=prices() | {"securityToken": TOKEN})

            statuses = [call().status_code for _ in range(5)]
            assert statuses == [200] * 5
            before = datetime.now(UTC)
            banned = call()
            assert banned.status_code == 429
            match = BAN_BODY.match(banned.text)
            assert match is not None
            until = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            assert before < until <= before + timedelta(seconds=1.5)
            again = call()
            assert again.status_code == 429
            assert again.text == banned.text  # the same ban, not a new one
            time.sleep(0.7)
            assert call().status_code == 200
        outcomes = [record.outcome for record in running.served()]
    assert outcomes == ["no_data"] * 5 + ["banned", "banned", "no_data"]


def test_rate_limit_is_per_token() -> None:
    config = EmulatorConfig(token=None, rate_limit=2, ban_seconds=5)
    with running_emulator(config) as running, httpx.Client(timeout=10) as client:
        first = [
            client.get(running.base_url, params=prices() | {"securityToken": "a"}).status_code
            for _ in range(3)
        ]
        other = client.get(running.base_url, params=prices() | {"securityToken": "b"})
    assert first == [200, 200, 429]
    assert other.status_code == 200


# ---- concurrency and the log ---------------------------------------------------------------


def test_concurrent_requests_are_all_answered_and_logged() -> None:
    with running_emulator(EmulatorConfig(synthetic=True)) as running:
        params = request_params(get_dataset("load_actual"), "DE_LU", None, DAY_START, DAY_END)

        def call(_: int) -> int:
            with httpx.Client(timeout=20) as client:
                return client.get(
                    running.base_url, params=params | {"securityToken": TOKEN}
                ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, range(24)))
        served = running.served()
        running.reset_log()
        assert running.served() == []
    assert statuses == [200] * 24
    assert len(served) == 24
    assert {(r.outcome, r.points, r.timeseries) for r in served} == {("data", 96, 1)}
    assert all("securityToken" not in r.params for r in served)


def test_keep_alive_connection_serves_several_requests(emulator: Emulator) -> None:
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            response = client.get(emulator.base_url, params=prices() | {"securityToken": TOKEN})
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == len(response.content)
