"""Injected faults as a client meets them, and their determinism per seed."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime

import httpx2 as httpx
import pytest

from gridvault.emulator import Emulator, EmulatorConfig, FaultSpec, running_emulator
from gridvault.emulator.config import DEFAULT_TOKEN
from gridvault.entsoe.catalog import get_dataset, request_params
from gridvault.entsoe.parser import AcknowledgementError, parse_document
from gridvault.errors import InputError, ParseError

TOKEN = DEFAULT_TOKEN
PARAMS = request_params(
    get_dataset("day_ahead_prices"),
    "NL",
    None,
    datetime(2024, 9, 1, 22, tzinfo=UTC),
    datetime(2024, 9, 2, 22, tzinfo=UTC),
) | {"securityToken": TOKEN}


def observe(emulator: Emulator, client: httpx.Client | None = None) -> str:
    """What a client sees: an HTTP status, a broken document, or a transport error."""
    try:
        if client is None:
            with httpx.Client(timeout=10) as own:
                response = own.get(emulator.base_url, params=PARAMS)
        else:
            response = client.get(emulator.base_url, params=PARAMS)
    except httpx.TransportError as exc:
        return f"transport:{type(exc).__name__}"
    if response.status_code != 200:
        return f"status:{response.status_code}"
    try:
        parse_document(response.content)
    except ParseError:
        return "broken"
    return "ok"


def run(spec: FaultSpec, requests: int) -> tuple[list[str], list[str]]:
    config = EmulatorConfig(synthetic=True, faults=spec, ban_seconds=0.05)
    with running_emulator(config) as running, httpx.Client(timeout=10) as client:
        seen = []
        for _ in range(requests):
            seen.append(observe(running, client))
            time.sleep(0.06 if seen[-1] == "status:429" else 0)  # wait out a burst ban
        return seen, [record.outcome for record in running.served()]


def test_parse_reads_every_key_and_refuses_bad_specs() -> None:
    spec = FaultSpec.parse(
        "latency=0.05, 5xx=0.1,429=0.02,truncate=0.05,malformed=0.05,reset=0.05,seed=7"
    )
    assert spec == FaultSpec(
        latency=0.05,
        error_5xx=0.1,
        burst_429=0.02,
        truncate=0.05,
        malformed=0.05,
        reset=0.05,
        seed=7,
    )
    assert FaultSpec.parse("") == FaultSpec()
    assert FaultSpec.parse(spec.describe()) == spec
    for bad in (
        "5xx",
        "5xx=lots",
        "boom=0.1",
        "5xx=1.5",
        "latency=-1",
        "5xx=0.6,reset=0.6",
        "seed=1.5",
    ):
        with pytest.raises(InputError):
            FaultSpec.parse(bad)


def test_server_errors_have_empty_bodies() -> None:
    seen, outcomes = run(FaultSpec(error_5xx=1.0, seed=3), 8)
    assert set(seen) <= {"status:500", "status:502", "status:503"}
    assert "status:503" in seen
    assert outcomes == ["fault:5xx"] * 8


def test_burst_429_is_a_short_real_ban() -> None:
    with running_emulator(EmulatorConfig(faults=FaultSpec(burst_429=1.0))) as running:
        with httpx.Client(timeout=10) as client:
            response = client.get(running.base_url, params=PARAMS)
            assert response.status_code == 429
            assert response.text.startswith("<html><body><p>Requester banned until '")
            running.config.faults = FaultSpec()
            assert client.get(running.base_url, params=PARAMS).status_code == 429  # still banned
        outcomes = [record.outcome for record in running.served()]
    assert outcomes == ["fault:429", "banned"]


def test_truncated_bodies_break_the_document_or_the_connection() -> None:
    seen, outcomes = run(FaultSpec(truncate=1.0, seed=11), 10)
    assert outcomes == ["fault:truncate"] * 10
    assert set(seen) <= {"broken", "transport:RemoteProtocolError"}
    assert len(set(seen)) == 2  # both variants: honest short length, early close


def test_malformed_xml_is_http_200() -> None:
    seen, outcomes = run(FaultSpec(malformed=1.0), 3)
    assert seen == ["broken"] * 3
    assert outcomes == ["fault:malformed"] * 3


def test_reset_closes_without_a_response() -> None:
    seen, outcomes = run(FaultSpec(reset=1.0), 3)
    assert all(kind.startswith("transport:") for kind in seen)
    assert outcomes == ["fault:reset"] * 3


def test_latency_delays_every_response() -> None:
    with running_emulator(EmulatorConfig(faults=FaultSpec(latency=0.2))) as running:
        started = time.perf_counter()
        assert observe(running) == "ok"
        assert time.perf_counter() - started >= 0.2


def test_same_seed_same_faults_different_seed_different_faults() -> None:
    spec = FaultSpec(error_5xx=0.2, burst_429=0.1, truncate=0.1, malformed=0.1, reset=0.1, seed=7)
    first = run(spec, 30)
    second = run(spec, 30)
    other = run(FaultSpec(**(vars(spec) | {"seed": 8})), 30)
    assert first == second
    assert first[1] != other[1]
    kinds = set(first[1])
    assert {"fault:5xx", "fault:truncate", "fault:malformed", "fault:reset"} <= kinds
    assert "data" in kinds  # some requests get through


def test_changing_faults_at_run_time_takes_effect() -> None:
    config = EmulatorConfig(faults=FaultSpec(error_5xx=1.0))
    with running_emulator(config) as running:
        assert observe(running) == "status:503" or observe(running).startswith("status:5")
        config.faults = FaultSpec()
        assert observe(running) == "ok"


def test_an_ack_fault_replaces_the_answer_with_an_error_acknowledgement() -> None:
    seen, outcomes = run(FaultSpec(ack=1.0), 2)
    assert seen == ["broken", "broken"]  # parse_document raises AcknowledgementError
    assert outcomes == ["fault:ack"] * 2


def test_an_ack_fault_in_a_zipped_answer_is_one_more_member() -> None:
    params = request_params(
        get_dataset("outages_generation_units"),
        "NL",
        None,
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 1, tzinfo=UTC),
        offset=0,
    ) | {"securityToken": TOKEN}
    config = EmulatorConfig(synthetic=True)
    with running_emulator(config) as running, httpx.Client(timeout=10) as client:
        clean = client.get(running.base_url, params=params)
        config.faults = FaultSpec(ack=1.0)
        faulty = client.get(running.base_url, params=params)
    assert faulty.status_code == 200
    assert faulty.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(clean.content)) as good:
        documents = good.namelist()
    with zipfile.ZipFile(io.BytesIO(faulty.content)) as bad:
        assert bad.namelist() == [*documents, "acknowledgement.xml"]
        assert b"Unexpected error occurred" in bad.read("acknowledgement.xml")
    with pytest.raises(AcknowledgementError):
        parse_document(faulty.content)


def test_a_stall_holds_the_answer_until_the_client_times_out() -> None:
    config = EmulatorConfig(faults=FaultSpec(stall=1.0, stall_seconds=2.0))
    with running_emulator(config) as running, httpx.Client(timeout=0.3) as client:
        assert observe(running, client) == "transport:ReadTimeout"
        assert [record.outcome for record in running.served()] == ["fault:stall"]
        assert running.served()[0].status == 0
