"""Damaged files through the import path, into real DuckDB and PostgreSQL stores: a file is
stored whole or not at all, a refused one is archived as quarantined with its reason, and
the other files of the same ``gridvault import`` still land.

The damaged files come from tests/mutations.py (mutated recordings: XML, ZIP, CSV).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings

from gridvault.demo import ENTSOE_DIR, TIMESERIES_DIR
from gridvault.errors import ParseError
from gridvault.pipeline.ingest import ingest_payload, parse_entsoe
from gridvault.store import Store
from gridvault.store.duckdb_store import DuckDBStore
from gridvault.store.postgres_store import PostgresStore
from mutations import NOISE, any_damaged_file, recorded, zip_of
from probes import run_cli, table_counts

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

#: What a payload writes: the data tables, and the archive (payload bytes and fetch records).
DATA_TABLES = ("series", "observations", "observation_history", "outage_events")
ARCHIVE_TABLES = ("archive", "payloads")


def counts(store: Store) -> dict[str, int]:
    every = table_counts(store)
    return {table: every[table] for table in DATA_TABLES + ARCHIVE_TABLES}


def archived(store: Store, archive_id: int) -> tuple[str | None, str | None]:
    with store.session() as db:
        rows = db.fetchall(
            "SELECT parse_outcome, parse_error FROM archive WHERE archive_id = ?", (archive_id,)
        )
    return rows[0][0], rows[0][1]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # one store for all examples: counts are deltas
    ],
)
@given(file=any_damaged_file())
def test_a_damaged_file_is_stored_whole_or_not_at_all(
    store: Store, file: tuple[str, bytes]
) -> None:
    name, data = file
    try:
        parsed = parse_entsoe(data, name)
    except ParseError as exc:
        expected_error: str | None = str(exc)
    else:
        expected_error = None
    event("refused" if expected_error is not None else "parsed")
    before = counts(store)
    outcome = ingest_payload(store, data, name=name)  # a damaged file never raises
    after = counts(store)
    assert outcome.archive_id is not None
    outcome_name, error = archived(store, outcome.archive_id)
    assert after["archive"] == before["archive"] + 1  # every file is archived, good or not
    if expected_error is not None:
        assert outcome.error == expected_error
        assert (outcome_name, error) == ("quarantined", expected_error)
        assert {t: after[t] for t in DATA_TABLES} == {t: before[t] for t in DATA_TABLES}
        return
    assert outcome.ok, outcome.error
    values, outages = parsed
    assert outcome.values == values.num_rows
    assert outcome_name == ("no_data" if outcome.no_data else "ok")
    # Every row of the document was written or found unchanged: nothing half-stored.
    total = outcome.total
    assert total.inserted + total.updated + total.unchanged <= values.num_rows
    assert total.inserted <= after["observations"] - before["observations"] + total.updated
    if outages is not None:
        assert outcome.outages.total <= outages.num_rows


# -- one import of good and damaged files ------------------------------------------------------

GOOD = (
    "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml",
    "A78_unavailability_transmission_NL_BE_2020-11-18.zip",
    "A65_A16_actual_load_NL_2024-09-02_PT15M.xml",
)
GOOD_CSV = "entsoe_sk/total_load_dayahead_actual_SK_2024.csv"


def _damaged_set() -> dict[str, bytes]:
    """Files that fail in every way we know, each beside good ones in one import."""
    prices = recorded(GOOD[0])
    csv = (TIMESERIES_DIR / GOOD_CSV).read_bytes()
    return {
        "01-truncated.xml": prices[: len(prices) // 2],
        "02-dtd.xml": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><GL_MarketDocument/>',
        # A ZIP whose second member is broken: its good first member must not land either.
        "03-half-good.zip": zip_of([("a.xml", recorded(GOOD[2])), ("b.xml", prices[:300])]),
        "04-bad-value.xml": prices.replace(b"<price.amount>91.24<", b"<price.amount>n/a<"),
        "05-cut.csv": csv[: len(csv) // 3] + b'"01.02.2024 00:00 - 01.0',
        "06-nul.csv": csv.replace(b"Actual Total Load [MW]", b"Actual Total Load [M\x00W]"),
        "07-huge-field.csv": csv[:2000] + b'"' + b"9" * 200_000 + b'"\n',
        "08-year-one.csv": csv.split(b"\n")[0]
        + b'\n"01.01.0001 00:00 - 01.01.0001 01:00","1","2"\n',
        "09-html.xml": b"<html><body>Service unavailable</body></html>",
        "10-empty.csv": b"",
        # A 6 kB incompressible business type: more than a PostgreSQL index entry holds.
        "11-long-code.xml": recorded(GOOD[2]).replace(
            b">A04</businessType>", f">{NOISE}</businessType>".encode()
        ),
    }


def _import(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, directory: Path, url: str
) -> tuple[int, str]:
    """``gridvault import entsoe DIRECTORY`` into ``url``: exit code and stderr."""
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", url)
    monkeypatch.setenv("GRIDVAULT_LOG_FORMAT", "json")
    code, _, err = run_cli(capsys, "import", "entsoe", str(directory))
    return code, err


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, cli_store: Path) -> str:
    """The store the import writes to (``cli_store`` also undoes the CLI's logging set-up)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"duckdb:///{cli_store}"


def _open(url: str) -> Store:
    if url.startswith("duckdb:///"):
        return DuckDBStore(url.removeprefix("duckdb:///"), read_only=True)
    return PostgresStore(url)


def test_damaged_files_store_nothing_and_the_others_of_the_import_still_land(
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good_dir, mixed_dir = tmp_path / "good", tmp_path / "mixed"
    good_dir.mkdir()
    for name in GOOD:
        shutil.copy(ENTSOE_DIR / name, good_dir)
    shutil.copy(TIMESERIES_DIR / GOOD_CSV, good_dir)
    shutil.copytree(good_dir, mixed_dir)
    damaged = _damaged_set()
    for name, data in damaged.items():
        (mixed_dir / name).write_bytes(data)

    reference_url = f"duckdb:///{tmp_path / 'reference.duckdb'}"
    assert _import(capsys, monkeypatch, good_dir, reference_url)[0] == 0
    code, err = _import(capsys, monkeypatch, mixed_dir, store_url)

    assert code == ParseError.exit_code
    for name in damaged:
        assert f"{name}:" in err, f"{name} not reported"
    assert "Traceback" not in err
    reference, store = _open(reference_url), _open(store_url)
    try:
        expected, got = counts(reference), counts(store)
        assert {t: got[t] for t in DATA_TABLES} == {t: expected[t] for t in DATA_TABLES}
        assert expected["observations"] > 0
        quarantined = store.archive_records(outcome="quarantined")
        assert sorted(Path(r.request["file"]).name for r in quarantined) == sorted(damaged)
        assert all(r.parse_error for r in quarantined)
        assert got["archive"] == expected["archive"] + len(damaged)
    finally:
        reference.close()
        store.close()
