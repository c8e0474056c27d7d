"""``gridvault parse entsoe``: records out, bad files reported, exit codes."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gridvault.cli.main import main
from gridvault.cli.parse import OUTAGE_FIELDS, VALUE_FIELDS
from gridvault.demo import ENTSOE_DIR

NL_PRICES = ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml"
A61_WEEK = ENTSOE_DIR / "A61_ntc_week_ahead_DK2_to_DK1_2026-02-17_to_03-29_P1D_across_DST.xml"
A78 = ENTSOE_DIR / "A78_unavailability_transmission_NL_BE_2020-11-18.zip"
ACK = ENTSOE_DIR / "Acknowledgement_no_matching_data_A44_A07_DE_LU_2024-09-02.xml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["parse", "entsoe", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_records(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(NL_PRICES))
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 24
    assert records[0] == {
        "interval_start": "2024-09-01T22:00:00Z",
        "interval_end": "2024-09-01T23:00:00Z",
        "value": 91.24,
        "measure": "price",
        "dataset": "day_ahead_prices",
        "document_type": "A44",
        "business_type": "A62",
        "resolution": "PT60M",
        "unit": "EUR/MWh",
        "curve_type": "A03",
        "area": "10YNL----------L",
        "in_domain": "10YNL----------L",
        "out_domain": "10YNL----------L",
        "contract_type": "A01",
        "auction_type": "A01",
        "document_mrid": "8c6f96f960dd43d8825846643f939b37",
        "revision_number": 1,
        "created_at": "2026-05-07T10:12:22Z",
        "publish_time": "2026-05-07T10:12:22Z",
    }


def test_csv_has_a_fixed_header_and_empty_cells(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(A61_WEEK), "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == list(VALUE_FIELDS)
    assert len(rows) == 42
    last = dict(zip(rows[0], rows[-1], strict=True))
    assert last["interval_start"] == "2026-03-28T23:00:00Z"
    assert last["interval_end"] == "2026-03-29T22:00:00Z"  # the 23-hour DST day
    assert last["value"] == "600.0"
    assert last["sequence"] == ""
    assert last["process_type"] == ""


def test_outage_zip_prints_events(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(A78))
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3
    assert records[1]["interval_start"] == "2020-10-15T06:00:00Z"
    assert records[1]["available_capacity"] == 1400.0
    assert records[1]["reason_text"] == "ScheduledWorks"
    assert set(records[1]) <= set(OUTAGE_FIELDS)


def test_no_matching_data_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, str(ACK)) == (0, "", "")


def test_directory_is_walked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for source in (NL_PRICES, A61_WEEK, ACK):
        shutil.copy(source, tmp_path / source.name)
    (tmp_path / "notes.md").write_text("not a document")
    code, out, err = run(capsys, str(tmp_path))
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == 24 + 41


def test_bad_file_is_reported_and_others_still_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "broken.xml"
    bad.write_bytes(NL_PRICES.read_bytes()[:500])
    code, out, err = run(capsys, str(bad), str(NL_PRICES), str(tmp_path / "missing.xml"))
    assert code == 4
    assert len(out.splitlines()) == 24
    lines = err.splitlines()
    assert lines[0].startswith(f"error: {bad}: malformed XML (truncated?)")
    assert lines[1] == f"error: {tmp_path / 'missing.xml'}: no such file or directory"
    assert lines[-1] == "error: 2 inputs could not be read"


def test_bad_zip_member_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("001-good.xml", NL_PRICES.read_bytes())
        writer.writestr("002-bad.xml", b"<html><body>Bad Request</body></html>")
    code, out, err = run(capsys, str(archive))
    assert code == 4
    assert len(out.splitlines()) == 24
    assert f"error: {archive}:002-bad.xml: an HTML page" in err


def test_csv_refuses_to_mix_values_and_outages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(NL_PRICES), str(A78), "--format", "csv")
    assert code == 4
    assert len(out.splitlines()) == 25
    assert "holds outages but this CSV holds values" in err


def test_installed_command(tmp_path: Path) -> None:
    executable = str(Path(sys.executable).parent / "gridvault")
    done = subprocess.run(
        [executable, "parse", "entsoe", str(ACK), str(NL_PRICES), "--format", "jsonl"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 24
