"""Mutated real recordings never crash the readers: every XML, ZIP and CSV payload either
parses or raises our ParseError (AcknowledgementError included), whatever was done to it.

The mutations (tests/mutations.py) start from the bundled recordings and damage bytes,
XML structure, ZIP members and CSV lines. Examples are derandomized: each run tries the same
inputs, so a failure reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridvault.entsoe import parser
from gridvault.entsoe.csv_export import read_csv_export
from gridvault.entsoe.parser import parse_document
from gridvault.entsoe.schema import OUTAGE_SCHEMA, VALUE_SCHEMA
from gridvault.errors import ParseError
from gridvault.pipeline.ingest import parse_entsoe
from mutations import any_damaged_file, csv_exports, xml_documents, zip_payloads

# A failing example of 200 kB (a CSV field over the csv module's limit) is still worth seeing.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

T = TypeVar("T")

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _refusal(read: Callable[[], T]) -> T | ParseError:
    """What ``read`` returns, or the ParseError it raises; any other exception fails."""
    try:
        return read()
    except ParseError as exc:
        return exc


def _read_or_refuse(data: bytes, *, streamed: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        if streamed:  # the iterparse path as well as the whole-tree one
            patch.setattr(parser, "TREE_PARSE_LIMIT", 0)
        result = _refusal(lambda: parse_document(data, source_name="mutated"))
    if isinstance(result, ParseError):
        assert str(result).startswith("mutated")  # the error names the input
        return
    assert result.kind in ("values", "outages", "no_data", "mixed")
    assert result.values.schema == VALUE_SCHEMA
    assert result.outages.schema == OUTAGE_SCHEMA


@FUZZ
@given(xml_documents(), st.booleans())
def test_mutated_xml_documents_raise_only_parse_errors(data: bytes, streamed: bool) -> None:
    _read_or_refuse(data, streamed=streamed)


@FUZZ
@given(zip_payloads(), st.booleans())
def test_mutated_zip_responses_raise_only_parse_errors(data: bytes, streamed: bool) -> None:
    _read_or_refuse(data, streamed=streamed)


@FUZZ
@given(csv_exports())
def test_mutated_csv_exports_raise_only_parse_errors(data: bytes) -> None:
    table = _refusal(lambda: read_csv_export(data, "mutated.csv"))
    if isinstance(table, ParseError):
        assert str(table).startswith("mutated.csv: ")
        return
    assert table.schema == VALUE_SCHEMA
    assert pc.all(pc.less(table["interval_start"], table["interval_end"])).as_py() in (True, None)


@settings(FUZZ, max_examples=150)
@given(any_damaged_file())
def test_the_import_parser_tells_formats_apart_and_raises_only_parse_errors(
    file: tuple[str, bytes],
) -> None:
    """``gridvault import`` picks the reader by name and first bytes: a CSV named .xml, a
    ZIP named .csv … still end in a result or a ParseError."""
    name, data = file
    for as_name in (name, "renamed.xml", "renamed.csv"):
        parsed = _refusal(partial(parse_entsoe, data, as_name))
        if not isinstance(parsed, ParseError):
            assert parsed[0].schema == VALUE_SCHEMA
