"""Validation: quality flags on values, never silent drops.

Each check sets a bit of :class:`gridvault.store.model.Quality` on the rows it doubts; the
values are stored anyway so a user can see (and filter) what was doubted and why.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridvault.entsoe.catalog import Dataset
from gridvault.pipeline.series_map import MappedBatch, _datasets
from gridvault.store.model import Quality

#: A flat line: this many identical consecutive non-zero values of an actual series.
FLAT_LINE_RUN = 24


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
            flags[rows[_flat_runs(series_values, starts[rows])]] |= Quality.FLAT_LINE
    # The same series and start twice in one document: keep both, flag both.
    combined = pa.table({"k": mapped.key_index, "s": values["interval_start"]})
    counts = combined.group_by(["k", "s"]).aggregate([("k", "count")])
    dup = counts.filter(pc.greater(counts["k_count"], 1))
    if dup.num_rows:
        joined = combined.append_column("_row", pa.array(np.arange(n))).join(
            dup.select(["k", "s"]), keys=["k", "s"], join_type="inner"
        )
        flags[joined["_row"].to_numpy()] |= Quality.DUPLICATE_IN_DOCUMENT
    return pa.array(flags, pa.int32())


def _flat_runs(series_values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Positions inside runs of >= FLAT_LINE_RUN identical non-zero values (time order)."""
    if series_values.size < FLAT_LINE_RUN:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(starts, kind="stable")
    ordered = series_values[order]
    same = np.concatenate([[False], (ordered[1:] == ordered[:-1]) & (ordered[1:] != 0)])
    flagged: list[int] = []
    run_start = 0
    for i in range(1, ordered.size + 1):
        if i == ordered.size or not same[i]:
            if i - run_start >= FLAT_LINE_RUN:
                flagged.extend(range(run_start, i))
            run_start = i
    return order[np.array(flagged, dtype=np.int64)] if flagged else np.zeros(0, dtype=np.int64)
