"""Quality flags on real recorded documents (and edits of them): each flag where it belongs,
none where it does not, and flagged values stored, never dropped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridvault.demo import ENTSOE_DIR
from gridvault.pipeline.ingest import ingest_payload, parse_entsoe
from gridvault.pipeline.series_map import KEY_COLUMNS, _grouped, map_values
from gridvault.pipeline.validate import FLAT_LINE_HOURS, _repeated, validate
from gridvault.store import Store
from gridvault.store.model import Quality

FLAT_LINE_RUN = FLAT_LINE_HOURS * 4  # quarter-hours of the NL load document
LATER = datetime(2026, 6, 1, tzinfo=UTC)


def raw(prefix: str) -> bytes:
    (path,) = sorted(ENTSOE_DIR.glob(f"{prefix}*"))
    return path.read_bytes()


def flags_of(data: bytes, name: str = "doc.xml", now: datetime = LATER) -> np.ndarray:
    values, _ = parse_entsoe(data, name)
    flags: np.ndarray = validate(map_values(values), now=now).to_numpy()
    return flags


def flags_of_table(values: pa.Table, now: datetime = LATER) -> np.ndarray:
    flags: np.ndarray = validate(map_values(values), now=now).to_numpy()
    return flags


def count(flags: np.ndarray, flag: Quality) -> int:
    return int(np.count_nonzero(flags & int(flag)))


@pytest.mark.parametrize(
    "path", sorted(p for p in ENTSOE_DIR.iterdir() if p.suffix in (".xml", ".zip")), ids=str
)
def test_real_documents_raise_no_resolution_or_range_doubts(path: object) -> None:
    flags = flags_of(path.read_bytes(), path.name)  # type: ignore[attr-defined]
    assert count(flags, Quality.UNEXPECTED_RESOLUTION) == 0
    assert count(flags, Quality.OUT_OF_RANGE) == 0
    assert count(flags, Quality.DUPLICATE_IN_DOCUMENT) == 0
    assert count(flags, Quality.FUTURE_ACTUAL) == 0


def set_amounts(data: bytes, tag: bytes, replacements: dict[int, str]) -> bytes:
    """Replace the n-th ``<tag>`` values (0-based) of a document."""
    pattern = re.compile(rb"(<" + tag + rb">)([^<]*)(</" + tag + rb">)")
    seen = -1

    def swap(match: re.Match[bytes]) -> bytes:
        nonlocal seen
        seen += 1
        if seen in replacements:
            return match.group(1) + replacements[seen].encode() + match.group(3)
        return match.group(0)

    return pattern.sub(swap, data)


def test_out_of_range_but_negative_prices_are_plausible() -> None:
    data = set_amounts(
        raw("A44_day_ahead_prices_NL_2024-09-02"), b"price.amount", {3: "-120.5", 7: "5000"}
    )
    flags = flags_of(data)
    assert count(flags, Quality.OUT_OF_RANGE) == 1
    assert flags[7] & Quality.OUT_OF_RANGE
    assert flags[3] == 0
    load = set_amounts(raw("A65_A16_actual_load_NL_2024-09-02"), b"quantity", {0: "-5"})
    assert count(flags_of(load), Quality.OUT_OF_RANGE) == 1


def test_flat_lines_of_actual_data() -> None:
    run = dict.fromkeys(range(10, 10 + FLAT_LINE_RUN + 2), "12345")
    flat = flags_of(set_amounts(raw("A65_A16_actual_load_NL_2024-09-02"), b"quantity", run))
    assert count(flat, Quality.FLAT_LINE) == FLAT_LINE_RUN + 2
    short = dict.fromkeys(range(10, 10 + FLAT_LINE_RUN - 1), "12345")
    assert (
        count(
            flags_of(set_amounts(raw("A65_A16_actual_load_NL"), b"quantity", short)),
            Quality.FLAT_LINE,
        )
        == 0
    )
    # Generation may legitimately stand still (a nuclear unit at full output): not checked.
    generation = raw("A75_A16_generation_per_type_NL_2024-09-02")
    assert count(flags_of(generation), Quality.FLAT_LINE) == 0
    zeros = dict.fromkeys(range(40), "0")
    assert (
        count(
            flags_of(set_amounts(raw("A65_A16_actual_load_NL"), b"quantity", zeros)),
            Quality.FLAT_LINE,
        )
        == 0
    )


def test_duplicates_within_one_document_are_both_flagged() -> None:
    values, _ = parse_entsoe(raw("A65_A16_actual_load_NL_2024-09-02"), "load.xml")
    doubled = pa.concat_tables([values, values.slice(5, 3)])
    flags = flags_of_table(doubled)
    assert count(flags, Quality.DUPLICATE_IN_DOCUMENT) == 6
    assert all(flags[i] & Quality.DUPLICATE_IN_DOCUMENT for i in (5, 6, 7, 96, 97, 98))


def test_future_actuals_but_not_future_forecasts() -> None:
    noon = datetime(2024, 9, 2, 12, 0, tzinfo=UTC)
    actual = flags_of(raw("A65_A16_actual_load_NL_2024-09-02"), now=noon)
    # The document covers 2024-09-01T22:00Z..2024-09-02T22:00Z: 39 quarter hours start after noon.
    assert count(actual, Quality.FUTURE_ACTUAL) == 39
    forecast = flags_of(
        raw("A65_A01_day_ahead_load_forecast_DK2"), now=datetime(2023, 1, 1, tzinfo=UTC)
    )
    assert count(forecast, Quality.FUTURE_ACTUAL) == 0


def with_resolution(values: pa.Table, resolution: list[str]) -> pa.Table:
    index = values.schema.get_field_index("resolution")
    return values.set_column(index, "resolution", pa.array(resolution, pa.string()))


def test_unexpected_resolutions() -> None:
    # 15-minute SDAC prices (sequence 1) before the 15-minute MTU started on 2025-10-01.
    early = raw("A44_day_ahead_prices_NL_2024-09-02").replace(
        b"<resolution>PT60M</resolution>", b"<resolution>PT15M</resolution>"
    )
    flagged = flags_of(early)
    assert count(flagged, Quality.UNEXPECTED_RESOLUTION) == flagged.size == 96  # A03 filled
    # ... and hourly ones after it (the real switch document is fine, checked above).
    values, _ = parse_entsoe(raw("A44_day_ahead_prices_ES_2025-09-29"), "es.xml")
    starts = values["interval_start"].to_pylist()
    switch = datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
    hourly = with_resolution(values, ["PT60M"] * values.num_rows)
    expected = sum(1 for start in starts if start >= switch)
    assert count(flags_of_table(hourly), Quality.UNEXPECTED_RESOLUTION) == expected
    # A resolution the dataset is not published in.
    week = raw("A65_A31_week_ahead_load_forecast_NL").replace(b">P1D<", b">PT60M<")
    assert count(flags_of(week), Quality.UNEXPECTED_RESOLUTION) > 0
    # A series that turns coarser later in the document (MTUs only ever became finer).
    load, _ = parse_entsoe(raw("A65_A16_actual_load_NL_2024-09-02"), "load.xml")
    coarser = with_resolution(load, ["PT15M"] * 86 + ["PT60M"] * 10)
    flags = flags_of_table(coarser)
    assert count(flags, Quality.UNEXPECTED_RESOLUTION) == 10
    assert all(flags[86:] & Quality.UNEXPECTED_RESOLUTION)
    finer = with_resolution(load, ["PT60M"] * 10 + ["PT15M"] * 86)
    assert count(flags_of_table(finer), Quality.UNEXPECTED_RESOLUTION) == 0
    garbled = with_resolution(load, ["PT15M"] * 95 + ["weekly"])
    assert count(flags_of_table(garbled), Quality.UNEXPECTED_RESOLUTION) == 1


def test_flagged_values_are_stored_with_their_flags(store: Store) -> None:
    data = set_amounts(raw("A44_day_ahead_prices_NL_2024-09-02"), b"price.amount", {7: "5000"})
    outcome = ingest_payload(store, data, name="prices.xml")
    assert outcome.ok
    assert outcome.flagged == 1
    (series,) = store.find_series(dataset="day_ahead_prices", area="NL")
    stored = store.read(
        [series.series_id], datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 3, tzinfo=UTC)
    )
    assert stored.num_rows == 24
    assert stored["value"][7].as_py() == 5000
    assert stored["flags"][7].as_py() == Quality.OUT_OF_RANGE
    # Ingesting the same document again: same flags, nothing written.
    again = ingest_payload(store, data, name="prices.xml")
    assert again.total.unchanged == 24


def test_emulator_documents_are_flagged_synthetic() -> None:
    from datetime import timedelta

    from gridvault.emulator import EmulatorConfig, running_emulator
    from gridvault.entsoe.catalog import get_dataset, request_params

    start = datetime(2024, 9, 1, 22, tzinfo=UTC)
    params = request_params(
        get_dataset("load_actual"), "NL", None, start, start + timedelta(days=1)
    )
    import urllib.parse
    import urllib.request

    with running_emulator(EmulatorConfig(token="t", synthetic=True)) as emu:  # noqa: S106
        query = urllib.parse.urlencode({**params, "securityToken": "t"})
        with urllib.request.urlopen(f"{emu.base_url}?{query}", timeout=30) as response:  # noqa: S310 - loopback
            body = response.read()
    synthetic = flags_of(body)
    assert synthetic.size == 96
    assert count(synthetic, Quality.SYNTHETIC) == 96
    assert count(flags_of(raw("A65_A16_actual_load_NL_2024-09-02")), Quality.SYNTHETIC) == 0


def test_repeated_keys_match_a_brute_force_count() -> None:
    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(0, 40))
        keys = rng.integers(0, 3, n)
        starts = rng.integers(0, 12, n)
        if trial % 3 == 0:  # the common case: ordered by series then start, no repeat
            pairs = sorted({(int(k), int(s)) for k, s in zip(keys, starts, strict=True)})
            keys = np.array([k for k, _ in pairs], dtype=np.int64)
            starts = np.array([s for _, s in pairs], dtype=np.int64)
        seen: dict[tuple[int, int], int] = {}
        for pair in zip(keys.tolist(), starts.tolist(), strict=True):
            seen[pair] = seen.get(pair, 0) + 1
        expected = [seen[(k, s)] > 1 for k, s in zip(keys.tolist(), starts.tolist(), strict=True)]
        assert _repeated(keys, starts).tolist() == expected


@pytest.mark.parametrize(
    "path", sorted(p for p in ENTSOE_DIR.iterdir() if p.suffix in (".xml", ".zip")), ids=str
)
def test_one_series_shortcut_maps_as_the_grouping_does(path: object) -> None:
    values, _ = parse_entsoe(path.read_bytes(), str(path))  # type: ignore[attr-defined]
    mapped = map_values(values)
    if values.num_rows == 0:
        return
    present = [c for c in KEY_COLUMNS if c in values.column_names]
    filled = pa.table({c: pc.fill_null(values[c].cast(pa.string()), "") for c in present})
    resolution = values["resolution"] if "resolution" in values.column_names else None
    grouped = _grouped(values, filled, present, resolution)
    assert mapped.keys == grouped.keys
    assert mapped.key_index.equals(grouped.key_index)
