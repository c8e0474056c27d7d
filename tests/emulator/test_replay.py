"""Replay of the bundled real recordings: exact bytes for a matching request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest
from lxml import etree

from gridvault.demo import ENTSOE_DIR
from gridvault.emulator import Emulator, EmulatorConfig, running_emulator
from gridvault.emulator.config import DEFAULT_TOKEN
from gridvault.emulator.replay import ReplayIndex
from gridvault.entsoe.catalog import get_dataset, request_params
from gridvault.entsoe.parser import parse_document

TOKEN = DEFAULT_TOKEN
NL_DAY = (datetime(2024, 9, 1, 22, tzinfo=UTC), datetime(2024, 9, 2, 22, tzinfo=UTC))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(data_dir=ENTSOE_DIR)) as running:
        yield running


def fetch(
    emulator: Emulator,
    dataset: str,
    area: str,
    area_to: str | None,
    window: tuple[datetime, datetime],
    *,
    offset: int | None = None,
) -> httpx.Response:
    params = request_params(get_dataset(dataset), area, area_to, *window, offset=offset)
    with httpx.Client(timeout=10) as client:
        return client.get(emulator.base_url, params=params | {"securityToken": TOKEN})


def recorded(name: str) -> bytes:
    return (ENTSOE_DIR / name).read_bytes()


@pytest.mark.parametrize(
    "case",
    [
        (
            "day_ahead_prices",
            "NL",
            None,
            NL_DAY,
            "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml",
            "text/xml",
        ),
        (
            "load_actual",
            "NL",
            None,
            NL_DAY,
            "A65_A16_actual_load_NL_2024-09-02_PT15M.xml",
            "text/xml",
        ),
        (
            "physical_flows",
            "DE_LU",
            "NL",
            NL_DAY,
            "A11_physical_flows_NL_to_DE_LU_2024-09-02_PT15M.xml",
            "text/xml",
        ),
        (
            "imbalance_prices",
            "AT",
            None,
            (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)),
            "A85_imbalance_prices_AT_2024-01-01_to_05_PT15M.zip",
            "application/zip",
        ),
        (
            "outages_transmission",
            "BE",
            "NL",
            (datetime(2020, 11, 17, 23, tzinfo=UTC), datetime(2020, 11, 18, 23, tzinfo=UTC)),
            "A78_unavailability_transmission_NL_BE_2020-11-18.zip",
            "application/zip",
        ),
        (
            "ntc_week_ahead",
            "DK_2",
            "DK_1",
            (datetime(2026, 3, 1, 23, tzinfo=UTC), datetime(2026, 3, 8, 23, tzinfo=UTC)),
            "A61_ntc_week_ahead_DK2_to_DK1_2026-02-17_to_03-29_P1D_across_DST.xml",
            "text/xml",
        ),
    ],
)
def test_matching_request_gets_the_recorded_bytes(
    emulator: Emulator, case: tuple[str, str, str | None, tuple[datetime, datetime], str, str]
) -> None:
    dataset, area, area_to, window, file_name, content_type = case
    response = fetch(emulator, dataset, area, area_to, window)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == recorded(file_name)
    record = emulator.served()[-1]
    assert (record.outcome, record.dataset, record.bytes) == (
        "data",
        dataset,
        len(response.content),
    )
    assert record.points > 0


def test_paged_outage_zip_is_replayed_on_its_first_page_only(emulator: Emulator) -> None:
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC))
    name = "A80_unavailability_generation_units_BE_2025_59docs.zip"
    first = fetch(emulator, "outages_generation_units", "BE", None, window, offset=0)
    assert first.content == recorded(name)
    assert emulator.served()[-1].timeseries == 59
    second = fetch(emulator, "outages_generation_units", "BE", None, window, offset=200)
    assert second.status_code == 200
    assert parse_document(second.content).kind == "no_data"


def test_non_matching_request_gets_the_real_no_data_acknowledgement(emulator: Emulator) -> None:
    # The recorded answer to exactly this query (intraday auctions, DE-LU, 2024-09-02).
    response = fetch(emulator, "intraday_auction_prices", "DE_LU", None, NL_DAY)
    assert response.status_code == 200
    ns = {"a": "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"}
    ours = etree.fromstring(response.content).findtext("a:Reason/a:text", namespaces=ns)
    real = etree.fromstring(
        recorded("Acknowledgement_no_matching_data_A44_A07_DE_LU_2024-09-02.xml")
    ).findtext("a:Reason/a:text", namespaces=ns)
    assert ours == real
    assert emulator.served()[-1].outcome == "no_data"


@pytest.mark.parametrize(
    ("dataset", "area", "window"),
    [
        ("day_ahead_prices", "BE", NL_DAY),  # another area
        (
            "day_ahead_prices",
            "NL",
            (datetime(2024, 9, 5, 22, tzinfo=UTC), datetime(2024, 9, 6, 22, tzinfo=UTC)),
        ),
        ("load_forecast_day_ahead", "NL", NL_DAY),  # another process type
    ],
)
def test_other_area_day_or_process_is_not_replayed(
    emulator: Emulator, dataset: str, area: str, window: tuple[datetime, datetime]
) -> None:
    response = fetch(emulator, dataset, area, None, window)
    assert response.status_code == 200
    assert parse_document(response.content).kind == "no_data"


def test_with_synthetic_on_a_recording_must_cover_the_window() -> None:
    config = EmulatorConfig(data_dir=ENTSOE_DIR, synthetic=True)
    with running_emulator(config) as running:
        exact = fetch(running, "day_ahead_prices", "NL", None, NL_DAY)
        week = (datetime(2024, 8, 31, 22, tzinfo=UTC), datetime(2024, 9, 7, 22, tzinfo=UTC))
        wider = fetch(running, "day_ahead_prices", "NL", None, week)
    assert exact.content == recorded("A44_day_ahead_prices_NL_2024-09-02_PT60M.xml")
    assert b"<mRID>SYNTHETIC-" in wider.content
    assert parse_document(wider.content).values.num_rows == 7 * 24


def test_index_reads_every_bundled_recording_and_skips_acknowledgements() -> None:
    index = ReplayIndex.load(ENTSOE_DIR)
    names = {recording.path.name for recording in index.recordings}
    documents = {path.name for path in ENTSOE_DIR.iterdir() if path.suffix in (".xml", ".zip")}
    assert names == {name for name in documents if not name.startswith("Acknowledgement")}
    assert len(names) == 27


def test_index_ignores_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "broken.xml").write_bytes(b"<not xml")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 garbage")
    (tmp_path / "readme.txt").write_text("hello")
    assert ReplayIndex.load(tmp_path).recordings == []
