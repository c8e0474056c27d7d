"""Parsed ENTSO-E rows (VALUE_SCHEMA) → series keys and an observation batch.

A series is ``(source, dataset, area, dimensions)``. ``area`` is the area code as entsoe-py
spells it (``DE_LU``); for border datasets it is the *from* area and the *to* area is the
``area_to`` dimension. The dimensions are the fields that split a dataset into series —
measure, business/process type, production type, auction sequence, contract type,
direction, price category, unit (resource) — with two normalisations so the same series
stays one series across ENTSO-E's format changes:

* ``contract_type`` equal to the dataset's fixed request parameter (A01 for day-ahead
  prices) and ``auction_type`` are implied by the dataset and dropped;
* day-ahead prices before the Oct-2024 XSD carry no ``classificationSequence``: that is
  the SDAC sequence, 1.

Generation documents carry production in ``inBiddingZone`` and consumption (pumping,
storage charging) in ``outBiddingZone``; the latter get ``flow=consumption``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.entsoe.areas import area_by_eic
from gridvault.entsoe.catalog import Dataset, all_datasets
from gridvault.store.model import SeriesKey

SOURCE = "entsoe"
KEY_COLUMNS: tuple[str, ...] = (
    "dataset",
    "document_type",
    "process_type",
    "business_type",
    "area",
    "in_domain",
    "out_domain",
    "psr_type",
    "sequence",
    "contract_type",
    "direction",
    "category",
    "resource",
    "resource_name",
    "measure",
    "unit",
)
_DIMENSIONS = (
    "measure",
    "process_type",
    "business_type",
    "psr_type",
    "sequence",
    "contract_type",
    "direction",
    "category",
    "resource",
)


@cache
def _datasets() -> dict[str, Dataset]:
    return {d.name: d for d in all_datasets()}


def area_code(eic: str | None) -> str | None:
    """entsoe-py's code for an EIC, or the EIC itself when the registry does not know it."""
    if not eic:
        return None
    area = area_by_eic(eic)
    return area.code if area else eic


@dataclass(frozen=True, slots=True)
class MappedBatch:
    """An observation batch (``series_id`` resolved later) plus one key per distinct series."""

    keys: list[SeriesKey]
    key_index: pa.Array  # per row: index into ``keys``
    values: pa.Table


def series_key(row: dict[str, str | None], resolution: str | None) -> SeriesKey:
    """The series key of one distinct combination of KEY_COLUMNS (empty strings = absent)."""
    dataset_name = row.get("dataset") or f"unknown_{row.get('document_type') or 'document'}"
    dataset = _datasets().get(dataset_name)
    dims: dict[str, str] = {name: str(row[name]) for name in _DIMENSIONS if row.get(name)}
    if dataset is not None:
        fixed = dict(dataset.fixed_params)
        if (
            dims.get("contract_type")
            and fixed.get("contract_MarketAgreement.type") == dims["contract_type"]
        ):
            del dims["contract_type"]
        if dataset.name == "day_ahead_prices":
            dims.setdefault("sequence", "1")
    border = bool(dataset and dataset.border)
    if border:
        area = area_code(row.get("out_domain") or row.get("area")) or "unknown"
        to = area_code(row.get("in_domain"))
        if to:
            dims["area_to"] = to
    else:
        area = (
            area_code(row.get("area") or row.get("in_domain") or row.get("out_domain")) or "unknown"
        )
        if (
            dataset_name.startswith("generation")
            and row.get("out_domain")
            and not row.get("in_domain")
        ):
            dims["flow"] = "consumption"
    if row.get("resource_name") and row.get("resource"):
        dims["resource_name"] = str(row["resource_name"])
    return SeriesKey(SOURCE, dataset_name, area, dims, row.get("unit") or None, resolution)


def map_values(values: pa.Table) -> MappedBatch:
    """Group parsed rows by series; vectorised (one Python step per series, not per row)."""
    n = values.num_rows
    present = [c for c in KEY_COLUMNS if c in values.column_names]
    filled = pa.table({c: pc.fill_null(values[c].cast(pa.string()), "") for c in present})
    if n == 0:
        return MappedBatch([], pa.array([], pa.int64()), values)
    resolution = values["resolution"] if "resolution" in values.column_names else None
    if all(_constant(filled[c]) for c in present):
        # One series (a year of load, a page of prices): no grouping needed.
        latest = resolution[n - 1].as_py() if resolution is not None else None
        key = series_key(filled.slice(0, 1).to_pylist()[0], latest)
        return MappedBatch([key], pa.array(np.zeros(n, dtype=np.int64)), values)
    return _grouped(values, filled, present, resolution)


def _grouped(
    values: pa.Table, filled: pa.Table, present: list[str], resolution: pa.ChunkedArray | None
) -> MappedBatch:
    """:func:`map_values` for several series: one hash grouping over the key columns."""
    n = values.num_rows
    filled = filled.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
    groups = filled.group_by(present, use_threads=False).aggregate([("_row", "list")])
    lists = groups["_row_list"].combine_chunks()
    rows = pc.list_flatten(lists).to_numpy()
    index = np.empty(n, dtype=np.int64)
    index[rows] = pc.list_parent_indices(lists).to_numpy()
    # The series' resolution is the one of its latest row (it may change, e.g. 15-min MTU).
    last_rows = rows[lists.offsets.to_numpy()[1:] - 1]
    latest_each = resolution.take(last_rows).to_pylist() if resolution is not None else None
    keys = [
        series_key(combo, latest_each[position] if latest_each is not None else None)
        for position, combo in enumerate(groups.select(present).to_pylist())
    ]
    return MappedBatch(keys, pa.array(index), values)


def _constant(column: pa.ChunkedArray) -> bool:
    """Whether every row holds the first row's value (nulls already filled)."""
    return bool(pc.all(pc.equal(column, column[0])).as_py())


#: The parsed columns :func:`observations` (and the resolution bookkeeping) use.
STORED_COLUMNS = ("interval_start", "interval_end", "value", "publish_time", "document_mrid")


def observations(mapped: MappedBatch, series_ids: Sequence[int], flags: pa.Array) -> pa.Table:
    """The store batch: per-row series ids, times, values, publish time, flags, document id."""
    values = mapped.values
    ids = pa.array(series_ids, pa.int64()).take(mapped.key_index)
    doc = (
        values["document_mrid"].cast(pa.string())  # dictionary-encoded when prepared
        if "document_mrid" in values.column_names
        else pa.nulls(values.num_rows, pa.string())
    )
    publish = (
        values["publish_time"]
        if "publish_time" in values.column_names
        else pa.nulls(values.num_rows, pa.timestamp("us", tz="UTC"))
    )
    return pa.table(
        {
            "series_id": ids,
            "interval_start": values["interval_start"],
            "interval_end": values["interval_end"],
            "value": values["value"],
            "publish_time": publish,
            "flags": flags,
            "document_id": doc,
        }
    )
