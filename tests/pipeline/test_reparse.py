"""`reparse`: quarantined payloads are parsed again from the archive after a parser fix,
stored once (idempotent), never over a later revision; refusals are left alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from gridvault.demo import ENTSOE_DIR
from gridvault.errors import InputError, ParseError
from gridvault.pipeline.ingest import ingest_payload, parse_entsoe
from gridvault.pipeline.reparse import reparse_archive
from gridvault.store import Store

LOAD = ENTSOE_DIR / "A65_A16_actual_load_NL_2024-09-02_PT15M.xml"
DAY = (datetime(2024, 9, 1, 22, tzinfo=UTC), datetime(2024, 9, 2, 22, tzinfo=UTC))


def buggy_parser(data: bytes, name: str) -> tuple[pa.Table, pa.Table | None]:
    """A parser release that could not read this document type."""
    raise ParseError("unsupported curve type (parser bug)", source_name=name)


def stored_values(store: Store) -> list[float]:
    series = store.find_series(dataset="load_actual", area="NL")
    if not series:
        return []
    table = store.read([s.series_id for s in series], *DAY)
    return [float(v) for v in table["value"].to_pylist()]


def test_a_quarantined_payload_is_stored_after_the_fix(store: Store) -> None:
    data = LOAD.read_bytes()
    outcome = ingest_payload(store, data, name=LOAD.name, parser=buggy_parser)
    assert outcome.error is not None
    assert stored_values(store) == []
    (record,) = store.archive_records(outcome="quarantined")

    (result,) = reparse_archive(store)
    assert result.archive_id == record.archive_id
    assert result.name == LOAD.name
    assert (result.before, result.after, result.error) == ("quarantined", "ok", None)
    assert result.points.inserted == 96
    expected, _ = parse_entsoe(data, LOAD.name)
    assert stored_values(store) == expected["value"].to_pylist()
    assert store.archive_records(outcome="quarantined") == []
    (after,) = store.archive_records()
    assert after.parse_outcome == "ok"

    # Idempotent: nothing left to do, and reparsing everything changes nothing.
    assert reparse_archive(store) == []
    (again,) = reparse_archive(store, outcome="all")
    assert again.points.unchanged == 96
    assert (again.points.inserted, again.points.updated) == (0, 0)
    assert len(store.archive_records()) == 1  # the archive row is reused, not duplicated


def test_a_payload_that_still_fails_stays_quarantined_with_the_new_reason(store: Store) -> None:
    data = LOAD.read_bytes()
    truncated = data[: len(data) // 2]
    ingest_payload(store, truncated, name="truncated.xml")
    ingest_payload(store, data, name=LOAD.name, parser=buggy_parser)
    results = reparse_archive(store)
    assert [r.name for r in results] == ["truncated.xml", LOAD.name]
    broken, fixed = results
    assert broken.after == "quarantined"
    assert broken.error is not None
    assert fixed.after == "ok"
    assert fixed.points.inserted == 96
    (still,) = store.archive_records(outcome="quarantined")
    assert still.archive_id == broken.archive_id
    assert still.parse_error == broken.error


def test_an_old_payload_never_overwrites_a_later_revision(store: Store) -> None:
    old = LOAD.read_bytes()
    ingest_payload(store, old, name="first.xml", parser=buggy_parser)
    # A later revision of the document (another mRID, every value +1) parses fine.
    revised = re.sub(
        rb"<quantity>([0-9.]+)</quantity>",
        lambda m: b"<quantity>%d</quantity>" % (int(float(m.group(1))) + 1),
        old,
    ).replace(b"d45529e26f674a828aa877c11277a709", b"later-revision-0002")
    assert ingest_payload(store, revised, name="second.xml").ok
    newer = stored_values(store)
    (result,) = reparse_archive(store)
    assert result.after == "ok"
    assert result.kept_newer == 96
    assert result.points.total == 0
    assert stored_values(store) == newer


def test_refusals_are_skipped_and_options_are_checked(store: Store) -> None:
    record = store.archive_payload(
        b"<html>400 Bad Request</html>", source="entsoe", request={"file": "x"}, http_status=400
    )
    store.set_parse_outcome(record.archive_id, "error", "HTTP 400")
    (result,) = reparse_archive(store, outcome="error")
    assert result.skipped == "HTTP 400 response, not a data document"
    assert store.archive_records(outcome="error")[0].parse_error == "HTTP 400"
    with pytest.raises(InputError, match="unknown outcome"):
        reparse_archive(store, outcome="pending")
