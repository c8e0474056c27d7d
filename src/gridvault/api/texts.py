"""Text of Arrow columns for JSON and CSV bodies: RFC 3339 times and JSON numbers.

Vectorised (no Python object per value) and byte-for-byte what Arrow's own casts write,
only cheaper where the data allow it:

* times: the series of one chunk share their time grid, so each distinct instant is
  formatted once; a series whose instants are a run of the chunk's sorted distinct instants
  (the usual case) takes its texts as a zero-copy slice, others by index.
* numbers: a float column with at most three decimals (MW, prices: nearly all stored
  values) is written from integers: up to five digits by looking the text up in a table
  built once, longer ones as integer part and fraction; some five times cheaper than
  Arrow's shortest round-trip float formatting, with the same text.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_US = 1_000_000
_UTC_TS = pa.timestamp("us", tz="UTC")
#: Arrow writes a float in exponent notation from 1e10 on: the integer path stays below.
_FIXED_NOTATION_LIMIT = 1e9
_MAX_DECIMALS = 3
_PROBE = 64  # values tried first: a column that is not decimal is usually told by these
_TABLE_UNITS = 100_000  # numbers of up to five digits are looked up: 4 tables of ~2 MB
_MAX_RUNS_COMPARED = 256  # more series in a chunk: hash its instants instead
#: Suffixes up to this long are written into a number table (see :func:`json_numbers`);
#: tables with a suffix are kept for the few suffixes that recur (``,0]``: flags 0).
_SUFFIX_IN_TABLE = 24
_TABLES_KEPT = 12


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _format_distinct(column: pa.Array, tz: str | None) -> pa.Array:
    if tz is None or tz == "UTC":
        local = column
        suffix: pa.Array | str = "Z"
    else:
        local = pc.local_timestamp(column.cast(pa.timestamp("us", tz=tz)))
        offsets = pc.divide(
            pc.subtract(local.cast(pa.int64()), column.cast(pa.int64())), _US
        ).dictionary_encode()
        names = pa.array(
            [_offset_text(int(v)) for v in offsets.dictionary.to_pylist()], pa.string()
        )
        suffix = names.take(offsets.indices)
    try:
        text = local.cast(pa.timestamp("s")).cast(pa.string())
    except pa.ArrowInvalid:  # sub-second instants: keep the digits that are not zero
        text = local.cast(pa.timestamp("us")).cast(pa.string())
        text = pc.replace_substring_regex(text, r"\.?0+$", "")
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, suffix, "")


def format_times(column: pa.Array, tz: str | None, *, quote: bool = False) -> pa.Array:
    """RFC 3339 strings, ``2024-01-01T00:00:00Z`` or ``…T01:00:00+01:00`` (in ``tz``).

    Null stays null. With ``quote`` the strings are JSON strings. Each distinct instant is
    formatted once: the series of one chunk share their time grid.
    """
    encoded = column.dictionary_encode()
    text = _format_distinct(encoded.dictionary, tz)
    if quote:
        text = pc.binary_join_element_wise('"', text, '"', "")
    return text.take(encoded.indices)


def epoch_micros(column: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """Microseconds since the epoch (nulls as 0): a view where the column allows it."""
    return column.cast(pa.int64()).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def _distinct_instants(table: pa.Table, columns: Sequence[str]) -> np.ndarray[Any, Any]:
    """The sorted distinct instants of ``columns`` (nulls left out).

    The series of a chunk usually share their grid: a series whose instants equal the
    previous series' is skipped before sorting, a comparison instead of a hash per row.
    """
    present = [table.column(name) for name in columns if name in table.column_names]
    ids = table.column("series_id").to_numpy()
    edges = (np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist()
    if len(edges) > _MAX_RUNS_COMPARED or any(column.null_count for column in present):
        chunks = [chunk for column in present for chunk in column.chunks]
        return _sorted_distinct(
            epoch_micros(pc.unique(pa.chunked_array(chunks, _UTC_TS)).drop_null())
        )
    bounds = [0, *edges, len(ids)]
    pieces: list[np.ndarray[Any, Any]] = []
    for column in present:
        values = epoch_micros(column)
        previous = None
        for begin, end in itertools.pairwise(bounds):
            run = values[begin:end]
            if previous is None or not np.array_equal(run, previous):
                pieces.append(run)
            previous = run
    return _sorted_distinct(np.concatenate(pieces)) if pieces else np.zeros(0, np.int64)


def _sorted_distinct(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    # A stable sort (timsort) merges sorted runs in linear time; np.unique hashes, slower.
    ordered = np.sort(values, kind="stable")
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class TimeTexts:
    """RFC 3339 texts of the distinct instants in some columns of one chunk, sorted.

    Rows take theirs as a slice (a run of consecutive instants) or by index. With
    ``pair=(before, between, after)``, :attr:`pairs` holds ``before + text(t[i]) + between +
    text(t[i+1]) + after`` for consecutive instants: the start and end of a row on the
    chunk's grid (its end is the next instant) as one piece. The texts of ``previous`` (the
    chunk before) are taken over when the instants are the same (the same range).
    """

    def __init__(
        self,
        table: pa.Table,
        columns: Sequence[str],
        tz: str | None,
        *,
        quote: bool,
        pair: tuple[str, str, str] | None = None,
        previous: TimeTexts | None = None,
    ) -> None:
        self.instants = _distinct_instants(table, columns)
        self.quote = quote
        self.text: pa.Array
        self.pairs: pa.Array | None = None
        if previous is not None and np.array_equal(previous.instants, self.instants):
            self.text, self.pairs = previous.text, previous.pairs
            return
        text = _format_distinct(pa.array(self.instants, _UTC_TS), tz)
        self.text = pc.binary_join_element_wise('"', text, '"', "") if quote else text
        if pair is not None and len(self.text) > 1:
            before, between, after = pair
            self.pairs = pc.binary_join_element_wise(
                before, self.text[:-1], between, self.text[1:], after, ""
            )

    def run(self, column: pa.Array) -> int | None:
        """Where ``column``'s instants are consecutive distinct instants: the first's index."""
        if len(column) == 0 or column.null_count:
            return None
        values = epoch_micros(column)
        first = int(np.searchsorted(self.instants, values[0]))
        if np.array_equal(self.instants[first : first + len(values)], values):
            return first
        return None

    def of(self, column: pa.Array) -> pa.Array:
        """The texts of ``column``'s instants (null where null, or ``null`` when quoting)."""
        first = self.run(column)
        if first is not None:
            return self.text.slice(first, len(column))
        index = np.searchsorted(self.instants, epoch_micros(column))
        np.minimum(index, max(len(self.instants) - 1, 0), out=index)  # a null's, masked
        nulls = pc.is_null(column).to_numpy(zero_copy_only=False) if column.null_count else None
        text = self.text.take(pa.array(index, mask=nulls))
        return pc.fill_null(text, "null") if self.quote and text.null_count else text


class ChunkTimes:
    """The time texts of one chunk: interval starts and ends (one grid), publish times apart
    (off the grid: they would break its runs). Texts of ``previous`` are reused (see
    :class:`TimeTexts`)."""

    def __init__(
        self,
        table: pa.Table,
        tz: str | None,
        *,
        quote: bool,
        pair: tuple[str, str, str] | None = None,
        previous: ChunkTimes | None = None,
    ) -> None:
        self.intervals: TimeTexts = TimeTexts(
            table,
            ("interval_start", "interval_end"),
            tz,
            quote=quote,
            pair=pair,
            previous=previous.intervals if previous else None,
        )
        self.publish: TimeTexts = TimeTexts(
            table,
            ("publish_time",),
            tz,
            quote=quote,
            previous=previous.publish if previous else None,
        )

    def of(self, name: str, column: pa.Array) -> pa.Array:
        """The texts of the instants of ``column``, the column ``name``."""
        return (self.publish if name == "publish_time" else self.intervals).of(column)

    def pairs(self, batch: pa.RecordBatch) -> pa.Array | None:
        """The start-and-end texts of the batch's rows (see :attr:`TimeTexts.pairs`), when
        every row ends at the instant after its start."""
        pairs = self.intervals.pairs
        if pairs is None:
            return None
        first = self.intervals.run(batch.column("interval_start"))
        if first is None or self.intervals.run(batch.column("interval_end")) != first + 1:
            return None
        return pairs.slice(first, batch.num_rows)


def constant_text(column: pa.Array) -> str | None:
    """The JSON text of a column that holds one value on every row (nulls or an integer)."""
    if column.null_count == len(column):
        return "null"
    if column.null_count or not pa.types.is_integer(column.type):
        return None
    low, high = pc.min_max(column).values()
    return str(low.as_py()) if low == high else None


@functools.cache
def _fraction_texts(decimals: int) -> pa.Array:
    """``""`` for 0, then ``".5"`` or ``".05"``…: the fraction digits without trailing zeros."""
    return pa.array(
        [f".{f:0{decimals}d}".rstrip("0") if f else "" for f in range(10**decimals)],
        pa.string(),
    )


def _decimals(magnitude: np.ndarray[Any, Any], at_least: int = 0) -> int | None:
    """The fewest decimals (at most three) that write every value exactly, if any."""
    for decimals in range(at_least, _MAX_DECIMALS + 1):
        scale = 10.0**decimals
        # x is the double nearest to n / 10**d: n / 10**d is its shortest round-trip text
        # (decimals of at most 15 digits map to distinct doubles).
        if np.array_equal(np.rint(magnitude * scale) / scale, magnitude):
            return decimals
    return None


def _written_parts(
    units: np.ndarray[Any, Any], negative: np.ndarray[Any, Any], decimals: int
) -> list[pa.Array]:
    """[integer part, fraction] texts of ``units / 10**decimals`` (``units`` >= 0)."""
    whole, fraction = np.divmod(units, 10**decimals)
    text = pa.array(np.where(negative, -whole, whole)).cast(pa.string())
    if (minus_zero := negative & (whole == 0)).any():  # -0.5 and -0: the sign has no digit
        text = pc.if_else(pa.array(minus_zero), "-0", text)
    if not decimals:
        return [text]
    return [text, _fraction_texts(decimals).take(pa.array(fraction))]


@functools.lru_cache(maxsize=_TABLES_KEPT)
def _decimal_table(decimals: int, suffix: str = "") -> pa.Array:
    """The text of ``u / 10**decimals`` (then ``suffix``) at index ``u + _TABLE_UNITS - 1``,
    |u| < _TABLE_UNITS."""
    units = np.arange(1 - _TABLE_UNITS, _TABLE_UNITS, dtype=np.int64)
    parts = _written_parts(np.abs(units), units < 0, decimals)
    return pc.binary_join_element_wise(*parts, suffix, "")


def _decimal_parts(column: pa.Array, suffix: str = "") -> list[pa.Array | str] | None:
    """A float column's JSON text (then ``suffix``), in parts to be joined, when it has few
    decimals.

    Small values (most: |x| < 10**5 / 10**decimals) are looked up in a table of texts that
    end with ``suffix`` when it is short, larger ones written as [integer part, fraction].
    """
    values = column.to_numpy(zero_copy_only=False)
    valid = np.isfinite(values)
    everywhere = bool(valid.all())
    if not everywhere:
        values = np.where(valid, values, 0.0)
    magnitude = np.abs(values)
    if len(values) == 0 or not magnitude.max() < _FIXED_NOTATION_LIMIT:
        return None
    probed = _decimals(magnitude[:_PROBE])
    if probed is None or (decimals := _decimals(magnitude, probed)) is None:
        return None
    units = np.rint(magnitude * 10.0**decimals).astype(np.int64)
    negative = np.signbit(values)
    if everywhere and units.max() < _TABLE_UNITS and not (negative & (units == 0)).any():
        index = np.where(negative, _TABLE_UNITS - 1 - units, _TABLE_UNITS - 1 + units)
        index_array = pa.array(index)
        if len(suffix) <= _SUFFIX_IN_TABLE:  # -0 is not in the table
            return [_decimal_table(decimals, suffix).take(index_array)]
        return [_decimal_table(decimals).take(index_array), suffix]
    parts: list[pa.Array | str] = list(_written_parts(units, negative, decimals))
    if not everywhere:
        mask = pa.array(valid)
        parts = [pc.if_else(mask, parts[0], "null"), *(pc.if_else(mask, p, "") for p in parts[1:])]
    return [*parts, suffix] if suffix else parts


def json_numbers(column: pa.Array, suffix: str = "") -> list[pa.Array | str]:
    """JSON text of numbers, then ``suffix`` on every row, in parts to be joined: null, NaN and
    infinities are ``null``.

    A constant text after a column costs the row-wise join nearly as much as another
    column: where the numbers come from a table of texts, a short suffix is part of it.
    """
    if pa.types.is_float64(column.type) and (parts := _decimal_parts(column, suffix)) is not None:
        return parts
    text = column.cast(pa.string())
    if pa.types.is_floating(column.type):
        finite = pc.is_finite(column)
        if not pc.all(finite).as_py():
            text = pc.if_else(finite, text, None)
    text = pc.fill_null(text, "null") if text.null_count else text
    return [text, suffix] if suffix else [text]


__all__ = [
    "ChunkTimes",
    "TimeTexts",
    "constant_text",
    "epoch_micros",
    "format_times",
    "json_numbers",
]
