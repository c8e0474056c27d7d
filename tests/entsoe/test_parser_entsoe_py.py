"""Cross-check against entsoe-py 0.8.1 on every bundled document it can parse.

entsoe-py concatenates all TimeSeries of a document into one pandas Series/DataFrame, so
documents with several series (contract types, min/max, in/out domains) cannot be compared
as a whole. Each document is therefore split into single-TimeSeries documents (same header,
one TimeSeries) and both parsers read each of them; values and UTC timestamps must agree.

Justified differences, each asserted below rather than skipped:

* P7D (A65 year-ahead): entsoe-py steps weeks as fixed 7 x 24 h in UTC, so after the spring
  DST change its weeks start an hour late (23:00Z instead of 22:00Z local midnight) until
  the autumn change. Values agree in order; timestamps agree in winter time.
* P1D across the spring change (A61 week-ahead): entsoe-py builds the A03 range up to
  ``end - 1 day`` in UTC and loses the last, 23-hour, day (2026-03-28T23:00Z).
* P1Y (A68): entsoe-py reindexes A03 on a ``12MS`` (month start) range, which moves the
  year's start from local midnight 2023-12-31T23:00Z to 2024-01-01T23:00Z.
"""

from __future__ import annotations

import copy
import io
import warnings
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the dev group
import pytest
from lxml import etree

from gridvault.demo import ENTSOE_DIR
from gridvault.entsoe.parser import parse, parse_outages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

eparsers = pytest.importorskip("entsoe.parsers")


def _bytes(prefix: str) -> bytes:
    (path,) = ENTSOE_DIR.glob(f"{prefix}*")
    return path.read_bytes()


def _member(prefix: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(_bytes(prefix))) as archive:
        (info,) = archive.infolist()
        return archive.read(info)


def _single_series_documents(xml: bytes) -> Iterator[bytes]:
    root = etree.fromstring(xml)
    series = [child for child in root if etree.QName(child).localname == "TimeSeries"]
    assert series
    for keep in series:
        document = copy.deepcopy(root)
        for child in list(document):
            if etree.QName(child).localname == "TimeSeries":
                document.remove(child)
        document.append(copy.deepcopy(keep))
        yield etree.tostring(document, xml_declaration=True, encoding="UTF-8")


def _theirs(result: Any) -> pd.Series:
    """entsoe-py's result as one float Series indexed by UTC timestamps."""
    if isinstance(result, dict):  # parse_prices: {'15min': ..., '30min': ..., '60min': ...}
        parts = [s for s in result.values() if s is not None and len(s)]
        result = pd.concat(parts) if parts else pd.Series(dtype=float)
    if isinstance(result, pd.DataFrame):
        assert result.shape[1] == 1, list(result.columns)
        result = result.iloc[:, 0]
    series = result.dropna().astype(float)
    series.index = pd.DatetimeIndex(series.index).tz_convert("UTC")
    return series.sort_index()


def _ours(xml: bytes, measure: str) -> pd.Series:
    rows = [row for row in parse(xml).to_pylist() if row["measure"] == measure]
    series = pd.Series(
        [row["value"] for row in rows],
        index=pd.DatetimeIndex([row["interval_start"] for row in rows]),
        dtype=float,
    )
    assert series.index.is_unique
    return series.sort_index()


def _run(reader: Callable[[str], Any], xml: bytes) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _theirs(reader(xml.decode()))


CASES: list[tuple[str, Callable[[str], Any], str, bool]] = [
    # prefix, entsoe-py reader, our measure, zipped
    ("A44_day_ahead_prices_NL", eparsers.parse_prices, "price", False),
    ("A44_day_ahead_prices_FR", eparsers.parse_prices, "price", False),
    ("A44_day_ahead_prices_ES", eparsers.parse_prices, "price", False),
    ("A44_day_ahead_prices_DE_LU", eparsers.parse_prices, "price", False),
    ("A65_A16_actual_load_NL", lambda x: eparsers.parse_loads(x, "A16"), "quantity", False),
    ("A65_A16_actual_load_DK1", lambda x: eparsers.parse_loads(x, "A16"), "quantity", False),
    ("A65_A01", lambda x: eparsers.parse_loads(x, "A01"), "quantity", False),
    ("A65_A31", lambda x: eparsers.parse_loads(x, "A16"), "quantity", False),
    ("A75_A16_generation_per_type_NL", eparsers.parse_generation, "quantity", False),
    ("A75_A16_generation_per_type_NO5", eparsers.parse_generation, "quantity", False),
    ("A71_", eparsers.parse_generation, "quantity", False),
    ("A69_A01", eparsers.parse_generation, "quantity", False),
    ("A69_A18", eparsers.parse_generation, "quantity", False),
    ("A73_", lambda x: eparsers.parse_generation(x, per_plant=True), "quantity", False),
    ("A11_physical_flows_NL", eparsers.parse_crossborder_flows, "quantity", False),
    ("A11_physical_flows_DK1", eparsers.parse_crossborder_flows, "quantity", False),
    ("A09_", eparsers.parse_crossborder_flows, "quantity", False),
    ("A61_ntc_day_ahead", eparsers.parse_crossborder_flows, "quantity", False),
    (
        "A81_",
        lambda x: eparsers.parse_contracted_reserve(x, "UTC", "quantity"),
        "quantity",
        False,
    ),
    (
        "A81_",
        lambda x: eparsers.parse_contracted_reserve(x, "UTC", "procurement_price.amount"),
        "procurement_price",
        False,
    ),
    (
        "A84_",
        lambda x: eparsers.parse_activated_balancing_energy_prices(x)[["Price"]],
        "activation_price",
        False,
    ),
    ("A85_", eparsers.parse_imbalance_prices, "imbalance_price", True),
]


@pytest.mark.parametrize(
    ("prefix", "reader", "measure", "zipped"),
    CASES,
    ids=[f"{case[0].rstrip('_')}-{case[2]}" for case in CASES],
)
def test_same_values_and_timestamps_as_entsoe_py(
    prefix: str, reader: Callable[[str], Any], measure: str, zipped: bool
) -> None:
    xml = _member(prefix) if zipped else _bytes(prefix)
    compared = 0
    for document in _single_series_documents(xml):
        ours, theirs = _ours(document, measure), _run(reader, document)
        assert len(ours) > 0
        pd.testing.assert_series_equal(ours, theirs, check_names=False, check_freq=False)
        compared += len(ours)
    assert compared > 0


def test_p7d_weeks_entsoe_py_shifts_summer_weeks() -> None:
    for document in _single_series_documents(_bytes("A65_A33")):
        ours = _ours(document, "quantity")
        theirs = _run(lambda x: eparsers.parse_loads(x, "A16"), document)
        assert list(ours.to_numpy()) == list(theirs.to_numpy())
        shifted = [(a, b) for a, b in zip(ours.index, theirs.index, strict=True) if a != b]
        # Weeks starting from 2024-03-31 (summer time) to 2024-10-20 are an hour apart.
        assert len(shifted) == 30
        assert all(b - a == timedelta(hours=1) for a, b in shifted)
        assert shifted[0][0] == datetime(2024, 3, 31, 22, tzinfo=UTC)
        assert shifted[-1][0] == datetime(2024, 10, 20, 22, tzinfo=UTC)


def test_p1d_across_dst_entsoe_py_drops_the_short_day() -> None:
    (document,) = _single_series_documents(_bytes("A61_ntc_week_ahead"))
    ours = _ours(document, "quantity")
    theirs = _run(eparsers.parse_crossborder_flows, document)
    assert len(ours) == 41
    assert len(theirs) == 40
    missing = ours.index.difference(theirs.index)
    assert list(missing) == [pd.Timestamp("2026-03-28T23:00Z")]
    pd.testing.assert_series_equal(ours.drop(missing), theirs, check_names=False, check_freq=False)


def test_p1y_entsoe_py_moves_the_year_start() -> None:
    for document in _single_series_documents(_bytes("A68_")):
        ours = _ours(document, "quantity")
        theirs = _run(eparsers.parse_generation, document)
        assert list(ours.index) == [pd.Timestamp("2023-12-31T23:00Z")]
        assert list(theirs.index) == [pd.Timestamp("2024-01-01T23:00Z")]
        assert list(ours.to_numpy()) == list(theirs.to_numpy())


@pytest.mark.parametrize("doc_type", ["A80", "A78"])
def test_outages_same_intervals_as_entsoe_py(doc_type: str) -> None:
    data = _bytes(f"{doc_type}_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = eparsers.parse_unavailabilities(data, doc_type).reset_index()
    expected = sorted(
        zip(
            theirs["mrid"],
            pd.to_datetime(theirs["start"], utc=True),
            pd.to_datetime(theirs["end"], utc=True),
            theirs["avail_qty"].astype(float),
            theirs["revision"].astype(int),
            strict=True,
        )
    )
    rows = parse_outages(data).to_pylist()
    actual = sorted(
        (
            row["document_mrid"],
            pd.Timestamp(row["interval_start"]),
            pd.Timestamp(row["interval_end"]),
            row["available_capacity"],
            row["revision_number"],
        )
        for row in rows
    )
    assert actual == expected
