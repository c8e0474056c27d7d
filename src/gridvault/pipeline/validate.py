"""Validation: quality flags on values, never silent drops.

Each check sets a bit of :class:`gridvault.store.model.Quality` on the rows it doubts; the
values are stored anyway so a user can see (and filter) what was doubted and why.

* ``OUT_OF_RANGE``: outside the dataset's plausible range (catalog ``plausible_min/max``;
  negative prices are plausible, a negative load is not).
* ``FLAT_LINE``: the same non-zero value for :data:`FLAT_LINE_HOURS` hours or more in a
  dataset where that cannot be real (:data:`FLAT_LINE_DATASETS`: a country's load never
  holds still for hours; a nuclear unit or a saturated interconnector may, so generation
  and flows are not checked) — a stuck meter or a copied-forward value.
* ``DUPLICATE_IN_DOCUMENT``: the same series and interval start twice in one document
  (both rows are flagged; the store keeps the last).
* ``UNEXPECTED_RESOLUTION``: a resolution the dataset is not published in
  (:data:`EXPECTED_RESOLUTIONS`), an SDAC day-ahead price (auction sequence 1) whose market
  time unit does not fit its delivery day (60 minutes before :data:`SDAC_15MIN_FROM`,
  15 minutes from then on), or a series that turns *coarser* later in the same document
  (ENTSO-E market time units only ever became finer).
* ``FUTURE_ACTUAL``: an actual value for an interval that has not started yet.
* ``SYNTHETIC``: the document came from the emulator (mRID ``SYNTHETIC-…``).

Every check is a function of the document (and ``now``), never of what the store holds,
so ingesting the same document twice gives the same flags and costs no write.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import Dataset
from gridvault.errors import InputError
from gridvault.pipeline.series_map import MappedBatch, _datasets
from gridvault.store.model import Quality, SeriesKey
from gridvault.timegrid import parse_resolution, zone

#: A flat line: the same non-zero value for this long (hours) ...
FLAT_LINE_HOURS = 6
#: ... in these datasets, whose values never legitimately stand still that long.
FLAT_LINE_DATASETS = frozenset({"load_actual"})

_MTU = frozenset({"PT15M", "PT30M", "PT60M"})

#: The resolutions each dataset is published in; rows in another one are flagged. Datasets
#: not listed are not checked (their documents vary too much across areas to doubt one).
EXPECTED_RESOLUTIONS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        (
            "load_actual",
            "load_forecast_day_ahead",
            "generation_actual_per_type",
            "generation_actual_per_unit",
            "generation_forecast_day_ahead",
            "wind_solar_forecast_day_ahead",
            "wind_solar_forecast_intraday",
            "wind_solar_forecast_current",
            "day_ahead_prices",
            "intraday_auction_prices",
            "net_positions",
            "physical_flows",
            "scheduled_exchanges",
            "ntc_day_ahead",
            "imbalance_prices",
            "imbalance_volumes",
            "balancing_energy_prices",
        ),
        _MTU,
    ),
    "load_forecast_week_ahead": frozenset({"P1D"}),
    "load_forecast_month_ahead": frozenset({"P7D"}),
    "load_forecast_year_ahead": frozenset({"P7D"}),
    "installed_capacity_per_type": frozenset({"P1Y"}),
    "installed_capacity_per_unit": frozenset({"P1Y"}),
    "hydro_reservoir_filling": frozenset({"P7D"}),
}

#: SDAC (the single day-ahead coupling, auction sequence 1) moved from a 60- to a 15-minute
#: market time unit for delivery days from this date (local time of the bidding zone).
SDAC_15MIN_FROM = date(2025, 10, 1)
#: Bidding zones whose day-ahead prices do not come from SDAC (their own auctions keep
#: their own market time unit), so the SDAC rule does not apply to them.
NOT_SDAC = frozenset(
    {
        "AL",
        "AM",
        "AZ",
        "BA",
        "BY",
        "CH",
        "GB",
        "GB_IFA",
        "GB_IFA2",
        "GB_ELECLINK",
        "GB_NIR",
        "GE",
        "IE_SEM",
        "MD",
        "ME",
        "MK",
        "RS",
        "RU",
        "RU_KGD",
        "TR",
        "UA",
        "UA_IPS",
        "UA_BEI",
        "UA_DOBTPP",
        "UK",
        "XK",
    }
)


def validate(mapped: MappedBatch, *, now: datetime | None = None) -> pa.Array:
    """Per-row quality flags (int32) for a mapped batch."""
    values = mapped.values
    n = values.num_rows
    flags = np.zeros(n, dtype=np.int32)
    if n == 0:
        return pa.array(flags)
    now = now or datetime.now(UTC)
    key_index = mapped.key_index.to_numpy()
    value = values["value"].to_numpy(zero_copy_only=False).astype(float)
    starts = values["interval_start"].cast(pa.int64()).to_numpy()
    resolutions = _row_resolutions(values)
    datasets = _datasets()
    for position, key in enumerate(mapped.keys):
        rows = np.flatnonzero(key_index == position)
        dataset: Dataset | None = datasets.get(key.dataset)
        if dataset is None:
            continue
        series_values = value[rows]
        if key.unit == dataset.unit:
            low = dataset.plausible_min if dataset.plausible_min is not None else -np.inf
            high = dataset.plausible_max if dataset.plausible_max is not None else np.inf
            outside = (series_values < low) | (series_values > high)
            flags[rows[outside]] |= Quality.OUT_OF_RANGE
        if dataset.kind == "actual":
            future = starts[rows] > int(now.timestamp() * 1_000_000)
            flags[rows[future]] |= Quality.FUTURE_ACTUAL
        if dataset.name in FLAT_LINE_DATASETS:
            ends = values["interval_end"].cast(pa.int64()).to_numpy()[rows]
            flags[rows[_flat_runs(series_values, starts[rows], ends)]] |= Quality.FLAT_LINE
        if resolutions is not None:
            unexpected = _unexpected_resolution(
                key, resolutions, resolutions.codes[rows], starts[rows]
            )
            flags[rows[unexpected]] |= Quality.UNEXPECTED_RESOLUTION
    # Emulator output is data, but never real: mark it wherever it ends up.
    if "document_mrid" in values.column_names:
        synthetic = pc.fill_null(pc.starts_with(values["document_mrid"], "SYNTHETIC-"), False)
        flags[synthetic.to_numpy(zero_copy_only=False)] |= Quality.SYNTHETIC
    # The same series and start twice in one document: keep both, flag both.
    flags[_repeated(key_index, starts)] |= Quality.DUPLICATE_IN_DOCUMENT
    return pa.array(flags, pa.int32())


def _repeated(key_index: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Rows whose (series, start) another row has too."""
    if len(starts) < 2:
        return np.zeros(len(starts), dtype=bool)
    step_key, step_start = np.diff(key_index), np.diff(starts)
    if np.all((step_key > 0) | ((step_key == 0) & (step_start > 0))):
        return np.zeros(len(starts), dtype=bool)  # ordered by series, then start: none
    order = np.lexsort((starts, key_index))
    same = (np.diff(key_index[order]) == 0) & (np.diff(starts[order]) == 0)
    repeated = np.zeros(len(starts), dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    return repeated


class _Resolutions:
    """The rows' resolutions as codes into their few distinct canonical ISO texts, so every
    check runs once per distinct text and then indexes (no per-row string work)."""

    def __init__(self, values: pa.Table) -> None:
        texts = pc.fill_null(values["resolution"].cast(pa.string()), "")
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        encoded = texts.dictionary_encode()
        #: canonical ISO text per code ('' when unreadable)
        self.isos = [_canonical(text) for text in encoded.dictionary.to_pylist()]
        self.codes: np.ndarray = encoded.indices.to_numpy(zero_copy_only=False)
        self.unreadable = np.array([iso == "" for iso in self.isos], dtype=bool)
        self.seconds = np.array([_nominal_seconds(iso) for iso in self.isos], dtype=float)

    def among(self, allowed: frozenset[str]) -> np.ndarray:
        """Per code: is the resolution one of ``allowed``."""
        return np.array([iso in allowed for iso in self.isos], dtype=bool)


def _row_resolutions(values: pa.Table) -> _Resolutions | None:
    """The rows' resolutions, or None when the batch has none."""
    if "resolution" not in values.column_names:
        return None
    return _Resolutions(values)


@cache
def _canonical(text: str) -> str:
    try:
        return parse_resolution(text).iso
    except InputError:
        return ""


@cache
def _nominal_seconds(iso: str) -> float:
    return parse_resolution(iso).nominal.total_seconds() if iso else np.inf


@cache
def _sdac_switch_us(area: str) -> int | None:
    """The first instant of the 15-minute SDAC MTU in ``area``, in µs since the epoch."""
    if area in NOT_SDAC:
        return None
    try:
        tz = zone(lookup_area(area).tz)
    except InputError:
        return None
    first = datetime(
        SDAC_15MIN_FROM.year, SDAC_15MIN_FROM.month, SDAC_15MIN_FROM.day, tzinfo=tz
    ).astimezone(UTC)
    return int(first.timestamp()) * 1_000_000


_PT60M = frozenset({"PT60M"})
_PT15M = frozenset({"PT15M"})


def _unexpected_resolution(
    key: SeriesKey, resolutions: _Resolutions, codes: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """Boolean mask over the rows of one series (``codes``: their resolution codes; see
    the module doc for the rules)."""
    bad = resolutions.unreadable.copy()
    allowed = EXPECTED_RESOLUTIONS.get(key.dataset)
    if allowed is not None:
        bad |= ~resolutions.among(allowed)
    unexpected = bad[codes]
    if key.dataset == "day_ahead_prices" and key.dimensions.get("sequence") == "1":
        switch = _sdac_switch_us(key.area)
        if switch is not None:
            before = starts < switch
            unexpected |= before & ~resolutions.among(_PT60M)[codes]
            unexpected |= ~before & ~resolutions.among(_PT15M)[codes]
    # Coarser than an earlier row of the same series in this document.
    if codes.size > 1 and len(resolutions.isos) > 1:
        order = np.argsort(starts, kind="stable")
        seconds = resolutions.seconds[codes[order]]
        finest_before = np.minimum.accumulate(np.concatenate([[np.inf], seconds[:-1]]))
        regressed = np.zeros(seconds.size, dtype=bool)
        regressed[order] = seconds > finest_before
        unexpected |= regressed
    return np.asarray(unexpected, dtype=bool)


def _flat_runs(series_values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Positions inside runs of one non-zero value lasting >= FLAT_LINE_HOURS (time order)."""
    if series_values.size < 2:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(starts, kind="stable")
    ordered = series_values[order]
    # A new run starts where the value changes (NaN never equals itself: nulls break runs).
    breaks = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    run_id = np.cumsum(breaks) - 1
    first = np.flatnonzero(breaks)
    last = np.concatenate([first[1:], [ordered.size]]) - 1
    duration_us = ends[order][last] - starts[order][first]
    long_runs = (duration_us >= FLAT_LINE_HOURS * 3_600_000_000) & (ordered[first] != 0)
    flagged: np.ndarray = order[long_runs[run_id]]
    return flagged
