"""ENTSO-E TimeSeries → rows: series dimensions, value rows and outage rows.

A TimeSeries carries the dimensions that tell series apart (business type, in/out domain,
psrType, classificationSequence, contract and auction type, flow direction, resource) in
children whose names vary by document family; they are read by local name into
:class:`Series`. Value rows are buffered column-wise (int64 microseconds, float64 values)
in a :class:`ValueSink`, with the series columns stored once per chunk (TimeSeries x Period
x measure) and expanded when the Arrow table is built, once per parse call.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

from gridvault.entsoe._grid import Grid, StepRun, Times, expand_runs, period_grid
from gridvault.entsoe._points import (
    Measure,
    is_price,
    measure_name,
    order_points,
    period_header,
    read_each_point,
    read_points,
)
from gridvault.entsoe._xml import (
    DocumentError,
    instant,
    iso,
    local_name,
    read_reasons,
    reason_children,
    text_of,
)
from gridvault.entsoe.areas import area_by_eic
from gridvault.entsoe.catalog import Dataset, identify
from gridvault.entsoe.schema import OUTAGE_SCHEMA, UTC_TS, VALUE_SCHEMA

#: Most value rows one call may produce (an A03 Period expands to one row per step).
MAX_ROWS = 20_000_000

#: Rows that curve A03 may add to a document by repeating values beyond its Points: this
#: many, or FILL_ROWS_PER_BYTE per byte of a larger document. ENTSO-E repeats far less (a
#: year of hourly NTC from one Point is 8,760 rows); a small forged document asking for
#: millions is an expansion bomb (measured: 8 kB → 20 M rows, 4.4 GB, 38 s).
MIN_FILL_BUDGET = 100_000
FILL_ROWS_PER_BYTE = 10

#: Longest code, identifier or name (mRID, EIC, psrType, unit name …) a document may carry.
#: ENTSO-E's are under 70 characters; a longer one is damage or a forgery, and would not fit
#: the PostgreSQL index entry of a series or outage key (free reason texts are not capped).
MAX_FIELD_LENGTH = 128

#: Time zone for calendar resolutions when the series' area is unknown (CET, like ENTSO-E).
FALLBACK_TZ = "Europe/Brussels"

#: ENTSO-E (UN/CEFACT) unit codes → readable units; unknown codes are kept as they are.
_UNITS = {
    "MAW": "MW",
    "MWH": "MWh",
    "KWT": "kW",
    "KWH": "kWh",
    "GWH": "GWh",
    "MVA": "MVA",
    "MAR": "MVAr",
    "AMP": "A",
    "P1": "%",
    "C62": "1",
}


def check_lengths(values: Sequence[Any], names: Sequence[str]) -> None:
    """Refuse a code, identifier or name longer than :data:`MAX_FIELD_LENGTH`."""
    for name, value in zip(names, values, strict=False):
        if isinstance(value, str) and len(value) > MAX_FIELD_LENGTH:
            raise DocumentError(
                f"{name} is {len(value):,} characters long, more than the {MAX_FIELD_LENGTH} "
                f"a code, identifier or name may have: {value[:40]!r}…"
            )


def _unit(code: str | None) -> str | None:
    """``MAW`` → ``MW``, ``MWH`` → ``MWh``; an unknown code is kept."""
    if not code:
        return None
    return _UNITS.get(code.upper(), code)


@dataclass
class Header:
    """The document header: root name, types, identity, doc-level domain and period."""

    root: str
    document_type: str | None = None
    process_type: str | None = None
    mrid: str | None = None
    revision: int | None = None
    created_at: int | None = None
    doc_status: str | None = None
    domain: str | None = None
    in_domain: str | None = None
    out_domain: str | None = None
    interval_start: int | None = None
    interval_end: int | None = None
    periods: int = 0


def sort_domain(name: str, eic: str, target: Header | Series) -> None:
    """Sort a ``*_Domain.mRID`` into in/out (flows, borders) or the single domain."""
    if not eic:
        return
    key = name[: -len(".mRID")] if name.endswith(".mRID") else name
    if key in ("in_Domain", "inBiddingZone_Domain", "acquiring_Domain"):
        target.in_domain = target.in_domain or eic
    elif key in ("out_Domain", "outBiddingZone_Domain", "connecting_Domain"):
        target.out_domain = target.out_domain or eic
    else:  # biddingZone_Domain, controlArea_Domain, area_Domain, domain, ...
        target.domain = target.domain or eic


@dataclass
class Series:
    """The dimensions of one TimeSeries and its Period elements."""

    mrid: str | None = None
    business_type: str | None = None
    curve_type: str | None = None
    psr_type: str | None = None
    sequence: str | None = None
    contract_type: str | None = None
    auction_type: str | None = None
    direction: str | None = None
    resource: str | None = None
    resource_name: str | None = None
    registered_resource: str | None = None
    registered_resource_name: str | None = None
    location: str | None = None
    nominal_power: float | None = None
    domain: str | None = None
    in_domain: str | None = None
    out_domain: str | None = None
    quantity_unit: str | None = None
    currency: str | None = None
    price_unit: str | None = None
    event_date_start: str | None = None
    event_time_start: str | None = None
    event_date_end: str | None = None
    event_time_end: str | None = None
    reasons: list[Any] = field(default_factory=list)
    periods: list[Any] = field(default_factory=list)


_SERIES_LEAVES: dict[str, str] = {
    "mRID": "mrid",
    "businessType": "business_type",
    "curveType": "curve_type",
    "classificationSequence_AttributeInstanceComponent.position": "sequence",
    "contract_MarketAgreement.type": "contract_type",
    "contract_MarketAgreement.Type": "contract_type",
    "type_MarketAgreement.type": "contract_type",
    "type_MarketAgreement.Type": "contract_type",
    "auction.type": "auction_type",
    "flowDirection.direction": "direction",
    "registeredResource.mRID": "registered_resource",
    "registeredResource.name": "registered_resource_name",
    "production_RegisteredResource.mRID": "resource",
    "production_RegisteredResource.name": "resource_name",
    "production_RegisteredResource.location.name": "location",
    "start_DateAndOrTime.date": "event_date_start",
    "start_DateAndOrTime.time": "event_time_start",
    "end_DateAndOrTime.date": "event_date_end",
    "end_DateAndOrTime.time": "event_time_end",
}


_SKIP, _ATTRIBUTE, _PERIOD, _REASON, _RESOURCE, _DOMAIN, _NOMINAL = range(7)
_SERIES_ROLES: dict[str, tuple[int, str]] = {}


def _series_role(tag: str) -> tuple[int, str]:
    """What a TimeSeries child is, by tag (cached: a document repeats the same few tags).

    ``_ATTRIBUTE`` children fill the named :class:`Series` field (the first one wins).
    """
    name = local_name(tag)
    lower = name.lower()
    attribute = _SERIES_LEAVES.get(name)
    role: tuple[int, str]
    if attribute is not None:
        role = (_ATTRIBUTE, attribute)
    elif name == "Period" or name.endswith("_Period"):
        role = (_PERIOD, "")  # Period, Available_Period, WindPowerFeedin_Period
    elif name == "Reason":
        role = (_REASON, "")
    elif name in ("MktPSRType", "Asset_RegisteredResource"):
        role = (_RESOURCE, "")
    elif lower.endswith("psrtype"):
        role = (_ATTRIBUTE, "psr_type")
    elif lower.endswith("domain.mrid"):
        role = (_DOMAIN, name)
    elif lower.endswith("unit.name"):
        unit = "currency" if "currency" in lower else "price_unit" if "price" in lower else ""
        role = (_ATTRIBUTE, unit or "quantity_unit")
    elif lower.endswith("nominalp"):
        role = (_NOMINAL, name)
    else:
        role = (_SKIP, "")
    if len(_SERIES_ROLES) < 4096:
        _SERIES_ROLES[tag] = role
    return role


def read_series(series: Any, header: Header) -> Series:
    """The dimensions and Periods of a TimeSeries (``Period``, ``Available_Period`` or
    ``WindPowerFeedin_Period``); counts the Periods in ``header``."""
    info = Series()
    known = _SERIES_ROLES.get
    fields = info.__dict__
    for child in series:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        kind, argument = known(tag) or _series_role(tag)
        if kind == _SKIP:
            continue
        if kind == _ATTRIBUTE:
            text = child.text
            if text and fields[argument] is None:
                fields[argument] = text.strip() or None
        elif kind == _PERIOD:
            info.periods.append(child)
            header.periods += 1
        elif kind == _RESOURCE:
            _read_resource(child, info)
        elif kind == _REASON:
            info.reasons.append(child)
        elif kind == _DOMAIN:
            sort_domain(argument, text_of(child), info)
        elif kind == _NOMINAL and (text := text_of(child)):
            try:
                info.nominal_power = float(text)
            except ValueError:
                raise DocumentError(f"{argument} is not a number: {text!r}") from None
    if info.resource is None and info.registered_resource is not None:
        info.resource = info.registered_resource
        info.resource_name = info.resource_name or info.registered_resource_name
    return info


def _read_resource(element: Any, info: Series) -> None:
    """``MktPSRType`` (psrType + PowerSystemResources) or ``Asset_RegisteredResource``."""
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child.tag)
        lower = name.lower()
        if len(child):
            if name == "PowerSystemResources":
                _read_resource(child, info)
            continue
        text = text_of(child) or None
        if lower.endswith("psrtype"):
            info.psr_type = info.psr_type or text
        elif name == "mRID":
            info.resource = info.resource or text
        elif name == "name":
            info.resource_name = info.resource_name or text
        elif name == "location.name":
            info.location = info.location or text


def _area(info: Series, header: Header) -> tuple[str | None, str | None, str | None]:
    """(area, in_domain, out_domain): the single domain, else in==out, else out (borders)."""
    in_domain = info.in_domain or header.in_domain
    out_domain = info.out_domain or header.out_domain
    single = info.domain or header.domain
    if single is not None:
        return single, in_domain, out_domain
    if in_domain and out_domain:
        return (in_domain if in_domain == out_domain else out_domain), in_domain, out_domain
    return in_domain or out_domain, in_domain, out_domain


@lru_cache(maxsize=1024)
def _tz(area: str | None) -> str:
    """IANA zone of an area EIC (calendar resolutions step in it), else CET."""
    if area:
        found = area_by_eic(area)
        if found is not None:
            return found.tz
    return FALLBACK_TZ


@lru_cache(maxsize=1024)
def _dataset(
    document_type: str | None,
    process_type: str | None,
    business_type: str | None,
    contract_type: str | None,
    resolution: str | None,
) -> Dataset | None:
    """The catalog dataset of a series (cached: a document repeats the same codes)."""
    if not document_type:
        return None
    return identify(
        document_type, process_type, business_type, contract_type, resolution=resolution
    )


#: Series columns stored once per chunk (TimeSeries x Period x measure): first the ones
#: that vary within a TimeSeries, then the ones fixed for it (see :func:`value_rows`).
_CHUNK_FIELDS: tuple[str, ...] = (
    "measure",
    "dataset",
    "resolution",
    "unit",
    "direction",
    "publish_time",
    "document_type",
    "process_type",
    "business_type",
    "curve_type",
    "area",
    "in_domain",
    "out_domain",
    "psr_type",
    "sequence",
    "contract_type",
    "auction_type",
    "resource",
    "resource_name",
    "document_mrid",
    "revision_number",
    "created_at",
)
_CHUNK_TYPES = tuple(VALUE_SCHEMA.field(name).type for name in _CHUNK_FIELDS)
_CHUNK_LABELS = tuple(str(kind) for kind in _CHUNK_TYPES)
_CHUNK_SLOTS = tuple(VALUE_SCHEMA.get_field_index(name) for name in _CHUNK_FIELDS)
_COLUMNS = len(VALUE_SCHEMA)
_STRING = pa.string()
_START, _END, _VALUE, _CATEGORY = (
    VALUE_SCHEMA.get_field_index(name)
    for name in ("interval_start", "interval_end", "value", "category")
)


class ValueSink:
    """Column buffers for value rows, turned into one Arrow table by :meth:`table`.

    Work per row stays in C: the times of a run of fixed steps are kept as a
    :class:`~gridvault.entsoe._grid.StepRun` and expanded for all runs at once, values are
    Python floats converted in one go, and the series columns are stored once per chunk
    (series × Period × measure) with the run of rows each chunk covers.
    """

    def __init__(self) -> None:
        self.times: list[Times] = []
        self.step_runs_only = True
        self.values: list[float] = []  # not yet converted
        self.value_parts: list[np.ndarray] = []  # converted (float64, NaN: no value)
        self.maybe_nan = False
        self.rows = 0
        self.run_chunks: list[int] = []  # chunk of each run of rows, in row order
        self.run_counts: list[int] = []  # rows in each run
        self.categories: list[str | None] | None = None  # None until a row has a category
        self.chunks: list[tuple[Any, ...]] = []
        self.chunk_index: dict[tuple[Any, ...], int] = {}
        self.grids: dict[tuple[Any, ...], Grid] = {}
        self.fill_budget = MIN_FILL_BUDGET

    def start_document(self, size: int) -> None:
        """Give the next document its A03 fill budget (see :data:`MIN_FILL_BUDGET`)."""
        self.fill_budget = max(MIN_FILL_BUDGET, FILL_ROWS_PER_BYTE * size)

    def spend_fill(self, rows: int) -> None:
        self.fill_budget -= rows
        if self.fill_budget < 0:
            raise DocumentError(
                "curve A03 repeats its Points into more rows than a document of this size "
                f"may ({MIN_FILL_BUDGET:,}, or {FILL_ROWS_PER_BYTE} per byte): "
                "an expansion bomb?"
            )

    def chunk(self, key: tuple[Any, ...]) -> int:
        index = self.chunk_index.get(key)
        if index is None:
            check_lengths(key, _CHUNK_FIELDS)
            index = self.chunk_index[key] = len(self.chunks)
            self.chunks.append(key)
        return index

    def add(
        self,
        chunk: int,
        times: Times,
        values: list[float],
        categories: Sequence[str | None] | None,
    ) -> None:
        """Rows ``times`` (as many as ``values``) of chunk ``chunk``."""
        count = len(values)
        if self.rows + count > MAX_ROWS:
            raise DocumentError(f"document expands to more than {MAX_ROWS:,} values")
        if categories is not None or self.categories is not None:
            self._add_categories(count, categories)
        self.times.append(times)
        if self.step_runs_only and not isinstance(times, StepRun):
            self.step_runs_only = False
        self.values += values
        if not self.maybe_nan and not math.isfinite(sum(values)):
            self.maybe_nan = True  # a NaN (or an infinity): checked exactly in table()
        if len(self.values) >= _VALUE_BLOCK:  # bounded memory for Python floats
            self.value_parts.append(np.array(self.values, dtype=np.float64))
            self.values = []
        self.rows += count
        if self.run_chunks and self.run_chunks[-1] == chunk:
            self.run_counts[-1] += count
        else:
            self.run_chunks.append(chunk)
            self.run_counts.append(count)

    def _add_categories(self, count: int, categories: Sequence[str | None] | None) -> None:
        if self.categories is None:
            self.categories = [None] * self.rows
        if categories is None:
            self.categories.extend([None] * count)
        else:
            check_lengths([max(filter(None, categories), key=len, default=None)], ["category"])
            self.categories.extend(categories)

    def table(self) -> pa.Table:
        """Everything added so far as one VALUE_SCHEMA table."""
        count = self.rows
        if count == 0:
            return empty_values()
        if self.step_runs_only:
            starts, ends = expand_runs(self.times)  # type: ignore[arg-type]  # all StepRuns
        else:
            starts, ends = _concatenate(
                [expand_runs([t]) if isinstance(t, StepRun) else t for t in self.times]
            )
        numbers = np.array(self.values, dtype=np.float64)
        if self.value_parts:
            numbers = np.concatenate([*self.value_parts, numbers])
        values = pa.Array.from_buffers(pa.float64(), count, [None, pa.py_buffer(numbers)])
        if self.maybe_nan:
            # NaN stands for "no value" (an empty quantity); Arrow gets a real null.
            missing = np.isnan(numbers)
            if missing.any():
                values = pa.array(numbers, mask=missing)
        nulls: dict[str, pa.Array] = {}
        arrays = _expand_chunks(self.chunks, self.run_chunks, self.run_counts, count, nulls)
        arrays[_START] = pa.Array.from_buffers(UTC_TS, count, [None, pa.py_buffer(starts)])
        arrays[_END] = pa.Array.from_buffers(UTC_TS, count, [None, pa.py_buffer(ends)])
        arrays[_VALUE] = values
        if self.categories is not None:
            arrays[_CATEGORY] = pa.array(self.categories, type=pa.string())
        else:
            arrays[_CATEGORY] = nulls.get("string") or pa.nulls(count, _STRING)
        return pa.Table.from_arrays(arrays, schema=VALUE_SCHEMA)


#: Values kept as Python floats before they are converted in one numpy call.
_VALUE_BLOCK = 1 << 16


def _concatenate(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    starts, ends = zip(*parts, strict=True)
    return np.concatenate(starts), np.concatenate(ends)


def _expand_chunks(
    chunks: list[tuple[Any, ...]],
    run_chunks: list[int],
    run_counts: list[int],
    count: int,
    nulls: dict[str, pa.Array],
) -> list[Any]:
    """The per-row series columns (VALUE_SCHEMA order, other slots None) from per-chunk
    values: a column constant in the document repeats one scalar (all-null columns of a type
    share one array), the others take their per-chunk values by chunk id."""
    arrays: list[Any] = [None] * _COLUMNS
    ids: pa.Array | None = None
    columns = zip(*chunks, strict=True) if len(chunks) > 1 else ((value,) for value in chunks[0])
    for slot, kind, label, name, column in zip(
        _CHUNK_SLOTS, _CHUNK_TYPES, _CHUNK_LABELS, _CHUNK_FIELDS, columns, strict=True
    ):
        first = column[0]
        if len(column) == 1 or column.count(first) == len(column):
            if first is not None:
                arrays[slot] = pa.repeat(_scalar(first, name), count)
                continue
            # Arrow arrays are immutable: one per type serves every column. (Keyed by the
            # type's name: hashing a DataType formats it as a string.)
            empty = nulls.get(label)
            if empty is None:
                empty = nulls[label] = pa.nulls(count, kind)
            arrays[slot] = empty
        else:
            if ids is None:
                expanded = np.repeat(np.asarray(run_chunks, dtype=np.int64), run_counts)
                ids = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(expanded)])
            arrays[slot] = pa.array(column, type=kind).take(ids)
    return arrays


@lru_cache(maxsize=1024)
def _scalar(value: Any, field_name: str) -> pa.Scalar:
    # Codes, units and names recur in every document: build their Arrow scalars once. Keyed
    # by the column name, not its Arrow type: hashing a DataType formats it as a string.
    return pa.scalar(value, VALUE_SCHEMA.field(field_name).type)


@lru_cache(maxsize=1)
def empty_values() -> pa.Table:
    return VALUE_SCHEMA.empty_table()


@lru_cache(maxsize=1)
def empty_outages() -> pa.Table:
    return OUTAGE_SCHEMA.empty_table()


def value_rows(info: Series, header: Header, sink: ValueSink) -> None:
    """Add the value rows of one TimeSeries to ``sink``, one chunk per Period and measure.

    The unit goes with the measure: prices take ``currency_Unit/price_Measure_Unit``
    (``EUR/MWh``), quantities ``quantity_Measure_Unit`` (``MW``). The dataset is identified
    per Period because A61 (NTC) horizons differ only by resolution; ``publish_time`` is
    ``createdDateTime`` for datasets whose values are known from publication (forecasts,
    auctions), so as-of queries do not see them earlier.
    """
    area, in_domain, out_domain = _area(info, header)
    tz = _tz(area)
    curve = info.curve_type or "A01"  # the IEC default when a document does not say
    fill = curve == "A03"
    quantity_unit = _unit(info.quantity_unit)
    if info.currency and info.price_unit:
        price_unit: str | None = f"{info.currency}/{_unit(info.price_unit)}"
    else:
        price_unit = info.currency or _unit(info.price_unit) or quantity_unit
    fixed = (
        header.document_type,
        header.process_type,
        info.business_type,
        curve,
        area,
        in_domain,
        out_domain,
        info.psr_type,
        info.sequence,
        info.contract_type,
        info.auction_type,
        info.resource,
        info.resource_name,
        header.mrid,
        header.revision,
        header.created_at,
    )
    for period in info.periods:
        start, end, resolution, first_point, first_index = period_header(period)
        if start is None or end is None:
            raise DocumentError("a Period has no timeInterval start/end")
        if resolution is None:
            raise DocumentError("a Period has no resolution")
        if first_point is None:
            continue
        grid = period_grid(start, end, resolution, tz, sink.grids)
        dataset = _dataset(
            header.document_type,
            header.process_type,
            info.business_type,
            info.contract_type,
            resolution,
        )
        dataset_name = dataset.name if dataset is not None else None
        publish_time = header.created_at if dataset is not None and dataset.forecast else None
        for measure in read_points(period, first_point, first_index):
            order_points(measure)
            unit = price_unit if is_price(measure.local) else (quantity_unit or price_unit)
            key = (
                measure_name(measure.local),
                dataset_name,
                resolution,
                unit,
                measure.direction or info.direction,
                publish_time,
                *fixed,
            )
            _emit(sink, sink.chunk(key), grid, measure, fill=fill)


def _emit(sink: ValueSink, chunk: int, grid: Grid, measure: Measure, *, fill: bool) -> None:
    """Rows of one measure: one per given position (A01) or per step until the next given
    position or the Period end (A03)."""
    values = measure.values
    count = len(values)
    if count == 0:
        return
    positions = measure.positions
    steps = grid.steps
    if positions is None:
        if count > steps:
            raise DocumentError(f"{count} Points in a Period of {steps} {grid.resolution} steps")
        if not fill or count == steps:
            sink.add(chunk, grid.run(0, count), values, measure.categories)
            return
        positions = list(range(1, count + 1))
    if positions[0] < 1 or positions[-1] > steps:
        bad = positions[0] if positions[0] < 1 else positions[-1]
        raise DocumentError(
            f"position {bad} outside its Period ({iso(grid.start)}/{iso(grid.end)}, "
            f"{steps} {grid.resolution} steps)"
        )
    if fill:
        first = positions[0]
        sink.spend_fill(steps - first + 1 - count)
        gaps = [b - a for a, b in pairwise(positions)]
        gaps.append(steps + 1 - positions[-1])
        sink.add(
            chunk,
            grid.run(first - 1, steps - first + 1),
            _repeat(values, gaps),
            _repeat_opt(measure.categories, gaps),
        )
        return
    sink.add(chunk, grid.slots(np.array(positions, dtype=np.int64)), values, measure.categories)


def _repeat(values: list[float], gaps: Sequence[int]) -> list[float]:
    if len(gaps) == sum(gaps):
        return values
    out: list[float] = []
    for value, gap in zip(values, gaps, strict=True):
        out += [value] * gap
    return out


def _repeat_opt(
    values: Sequence[str | None] | None, gaps: Sequence[int]
) -> list[str | None] | None:
    if values is None:
        return None
    out: list[str | None] = []
    for value, gap in zip(values, gaps, strict=True):
        out += [value] * gap
    return out


def _event_time(date: str | None, time: str | None) -> int | None:
    """``start_DateAndOrTime.date`` + ``.time`` (``2024-04-17`` + ``22:00:00Z``)."""
    if not date:
        return None
    clock = time or "00:00:00Z"
    return instant(f"{date}T{clock}")


_REASON_CODE = OUTAGE_SCHEMA.get_field_index("reason_code")
_REASON_TEXT = OUTAGE_SCHEMA.get_field_index("reason_text")
_OUTAGE_TYPES = tuple(field.type for field in OUTAGE_SCHEMA)


def outage_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows in OUTAGE_SCHEMA column order → one Arrow table."""
    columns = zip(*rows, strict=True)
    return pa.Table.from_arrays(
        [pa.array(column, type=kind) for column, kind in zip(columns, _OUTAGE_TYPES, strict=True)],
        schema=OUTAGE_SCHEMA,
    )


def outage_rows(
    info: Series, header: Header, grids: dict[tuple[Any, ...], Grid]
) -> Iterator[tuple[Any, ...]]:
    """One row (OUTAGE_SCHEMA order) per Point interval of each availability Period."""
    if header.mrid is None:
        raise DocumentError("outage document without mRID")
    area, in_domain, out_domain = _area(info, header)
    tz = _tz(area)
    dataset = _dataset(header.document_type, header.process_type, info.business_type, None, None)
    event_start = _event_time(info.event_date_start, info.event_time_start)
    event_end = _event_time(info.event_date_end, info.event_time_end)
    if event_start is None:
        event_start = header.interval_start
    if event_end is None:
        event_end = header.interval_end
    reason = read_reasons(info.reasons)
    check_lengths(reason[:1], ["reason_code"])
    head = (
        dataset.name if dataset is not None else None,
        header.document_type,
        header.process_type,
        info.business_type,
        header.doc_status,
        header.mrid,
        header.revision if header.revision is not None else 1,
        header.created_at,
        info.mrid or "",
        area,
        in_domain,
        out_domain,
        info.resource,
        info.resource_name,
        info.location,
        info.psr_type,
        info.nominal_power,
        _unit(info.quantity_unit),
        event_start,
        event_end,
    )
    check_lengths(head, OUTAGE_SCHEMA.names)
    fill = (info.curve_type or "A01") == "A03"
    # Available capacity is in Available_Period; offshore grid documents (A79) carry the
    # wind power feed-in (WindPowerFeedin_Period) instead, read when there is nothing else.
    periods = [p for p in info.periods if local_name(p.tag) == "Available_Period"]
    for period in periods or info.periods:
        start, end, resolution, first_point, first_index = period_header(period)
        if start is None or end is None or resolution is None:
            raise DocumentError("an availability Period has no timeInterval or resolution")
        if first_point is None:
            continue
        grid = period_grid(start, end, resolution, tz, grids)
        if len(period) - first_index == 1:  # one Point, the norm: no per-measure bookkeeping
            position, value = _only_point(first_point)
            if not 1 <= position <= grid.steps:
                raise DocumentError(
                    f"position outside its availability Period ({iso(start)}/{iso(end)})"
                )
            interval_end = grid.slot_end(grid.steps - 1 if fill else position - 1)
            available = None if math.isnan(value) else value
            yield (*head, grid.slot_start(position - 1), interval_end, available, *reason)
            continue
        measures = read_each_point(period, first_index)
        # Availability Points carry one quantity; keep it when a document adds others.
        quantities = [m for m in measures if m.local == "quantity"] or measures[:1]
        for measure in quantities:
            order_points(measure)
            positions = measure.positions or list(range(1, len(measure.values) + 1))
            if positions[0] < 1 or positions[-1] > grid.steps:
                raise DocumentError(
                    f"position outside its availability Period ({iso(start)}/{iso(end)})"
                )
            last = len(positions) - 1
            for index, position in enumerate(positions):
                if fill:
                    following = positions[index + 1] if index < last else grid.steps + 1
                    interval_end = grid.slot_end(following - 2)
                else:
                    interval_end = grid.slot_end(position - 1)
                value = measure.values[index]
                yield (
                    *head,
                    grid.slot_start(position - 1),
                    interval_end,
                    None if math.isnan(value) else value,
                    *reason,
                )


def _only_point(point: Any) -> tuple[int, float]:
    """(position, quantity) of a lone availability Point (NaN when it has no quantity)."""
    position: int | None = None
    value = math.nan
    for child in point:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        text = child.text
        text = text.strip() if text else ""
        name = local_name(tag)
        try:
            if name == "position":
                position = int(text)
            elif name == "quantity" and text:
                value = float(text)
        except ValueError:
            raise DocumentError(f"{name} is not a number: {text!r}") from None
    if position is None:
        raise DocumentError("a Point has no position")
    return position, value


def fill_document_reason(root: Any, rows: list[tuple[Any, ...]], start: int) -> None:
    """Give rows ``start:`` without a reason of their own the document-level ``Reason``
    (it follows the TimeSeries in the document, so it is known only at the end)."""
    code, text = read_reasons(reason_children(root))
    if code is None and text is None:
        return
    for index in range(start, len(rows)):
        row = rows[index]
        if row[_REASON_CODE] is None and row[_REASON_TEXT] is None:
            rows[index] = (*row[:_REASON_CODE], code, text, *row[_REASON_TEXT + 1 :])
