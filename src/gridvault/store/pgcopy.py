"""PostgreSQL's binary COPY format, vectorised: Arrow tables in, arrays of values out.

``write_row`` per Python tuple costs microseconds per row; building the binary stream
with numpy costs nanoseconds. Layout (PostgreSQL docs, "COPY … BINARY"): an 11-byte
signature, two int32 header fields, then per tuple an int16 field count and per field an
int32 byte length (-1 for NULL) followed by the value in network byte order. Timestamps are
int64 microseconds since 2000-01-01 UTC.

Reading (:func:`decode`): ``COPY … TO STDOUT`` hands the client one message per tuple, and
psycopg costs a few microseconds of Python per message, as much as fetching the rows.
So a read aggregates its rows into a few tuples of arrays (``array_agg`` per column, one
tuple per group) and :func:`decode` takes each array apart with numpy: an array of a
fixed-width type is a header and then, per element, an int32 length (-1 for NULL) and the
value, so an array without NULLs is one strided block, and one with NULLs is cut into runs
of NULLs and of values. Text travels as the int32 byte lengths of its values plus one
``bytea`` of their concatenation (:func:`text_aggregates`): offsets and data of an Arrow
string array as they are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in µs since the Unix epoch


def _fixed(
    column: pa.ChunkedArray | pa.Array,
) -> tuple[npt.NDArray[np.uint8], int, npt.NDArray[np.bool_]]:
    """Big-endian bytes (n × width) of a fixed-width column, its width, and its validity."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    typ = arr.type
    if pa.types.is_timestamp(typ):
        us = pc.fill_null(arr.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), 0)
        values = us.to_numpy().astype(np.int64) - _PG_EPOCH_US
        data = values.astype(">i8")
        width = 8
    elif pa.types.is_int64(typ):
        data = pc.fill_null(arr, 0).to_numpy().astype(">i8")
        width = 8
    elif pa.types.is_int32(typ):
        data = pc.fill_null(arr, 0).to_numpy().astype(">i4")
        width = 4
    elif pa.types.is_floating(typ):
        data = pc.fill_null(arr.cast(pa.float64()), 0.0).to_numpy().astype(">f8")
        width = 8
    elif pa.types.is_boolean(typ):
        data = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(np.uint8)
        width = 1
    else:
        raise TypeError(f"no binary COPY encoding for {typ}")
    return np.frombuffer(data.tobytes(), dtype=np.uint8).reshape(-1, width), width, valid


def _layouts(
    signature: list[npt.NDArray[np.int64]], n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Distinct row layouts and, per row, its layout index (cheap when columns are uniform)."""
    key = np.zeros(n, dtype=np.int64)
    for column in signature:
        if (column == column[0]).all():
            continue
        uniques, codes = np.unique(column, return_inverse=True)
        key = key * len(uniques) + codes.reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    table = np.stack(signature, axis=1)[first]
    return table, inverse.reshape(-1)


def encode(table: pa.Table) -> bytes:
    """The binary COPY payload (header, tuples, trailer) for all rows of ``table``.

    Column types must match the target columns: int64→bigint, int32→integer,
    float64→double precision, timestamp→timestamptz, string→text, bool→boolean.

    Rows are grouped by *layout* (which fields are NULL, how long each text is); within a
    group every tuple has the same byte layout, so it is written as one 2-D block with
    column slices instead of per-row scatter. Batches usually have one to three layouts.
    Tuples come out grouped, not in table order — fine for a staging table.
    """
    n = table.num_rows
    if n == 0:
        return HEADER + TRAILER
    fields: list[tuple[str, Any, npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = []
    signature = []
    for column in table.columns:
        typ = column.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ):
            arr = column.combine_chunks().cast(pa.large_binary())
            valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
                arr.offset : arr.offset + n + 1
            ]
            lengths = np.where(valid, np.diff(offsets), 0).astype(np.int64)
            buffer = arr.buffers()[2]
            data = np.frombuffer(buffer, dtype=np.uint8) if buffer else np.zeros(0, np.uint8)
            fields.append(("var", (data, offsets), lengths, valid))
            signature.append(np.where(valid, lengths, -1))
        else:
            raw, width, valid = _fixed(column)
            fields.append(("fixed", raw, np.full(n, width, np.int64), valid))
            signature.append(valid.astype(np.int64))
    layouts, inverse = _layouts(signature, n)
    count_bytes = np.frombuffer(np.array([len(fields)], dtype=">i2").tobytes(), dtype=np.uint8)
    parts = [HEADER]
    for group, layout in enumerate(layouts):
        rows = np.flatnonzero(inverse == group)
        widths = [
            4
            + (int(layout[i]) if kind == "var" else int(width[0]))
            * bool(layout[i] >= 0 and (kind == "var" or layout[i]))
            for i, (kind, _, width, _) in enumerate(fields)
        ]
        block = np.empty((rows.size, 2 + sum(widths)), dtype=np.uint8)
        block[:, :2] = count_bytes
        pos = 2
        for i, (kind, payload, _width, _valid) in enumerate(fields):
            present = layout[i] >= 0 if kind == "var" else bool(layout[i])
            size = widths[i] - 4
            length = size if present else -1
            block[:, pos : pos + 4] = np.frombuffer(
                np.array([length], dtype=">i4").tobytes(), np.uint8
            )
            pos += 4
            if not present or size == 0:
                continue
            if kind == "fixed":
                block[:, pos : pos + size] = payload[rows]
            else:
                data, offsets = payload
                block[:, pos : pos + size] = data[offsets[rows][:, None] + np.arange(size)]
            pos += size
        parts.append(block.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)


# -- decoding ----------------------------------------------------------------------------------

#: PostgreSQL's type of each Arrow type a read may ask for (the cast in the aggregate).
PG_TYPES: dict[pa.DataType, str] = {
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.int16(): "smallint",
    pa.float64(): "double precision",
    pa.float32(): "real",
    pa.bool_(): "boolean",
    pa.timestamp("us", tz="UTC"): "timestamptz",
    pa.string(): "text",
}
#: Wire dtype (big-endian) of each fixed-width Arrow type.
_WIRE: dict[pa.DataType, str] = {
    pa.int64(): ">i8",
    pa.int32(): ">i4",
    pa.int16(): ">i2",
    pa.float64(): ">f8",
    pa.float32(): ">f4",
    pa.bool_(): "u1",
    pa.timestamp("us", tz="UTC"): ">i8",
}
#: PostgreSQL's type OID of the elements of an array of each fixed-width Arrow type.
_OIDS: dict[pa.DataType, int] = {
    pa.int64(): 20,
    pa.int32(): 23,
    pa.int16(): 21,
    pa.float64(): 701,
    pa.float32(): 700,
    pa.bool_(): 16,
    pa.timestamp("us", tz="UTC"): 1184,
}
_NULL_LENGTH = b"\xff\xff\xff\xff"
_INFINITIES = (np.iinfo(np.int64).max, np.iinfo(np.int64).min)


class CopyFormatError(ValueError):
    """A binary COPY stream that is not what the query asked for (a bug, never user input)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the tuples: a scalar (``array=False``) or an array of ``type``."""

    type: pa.DataType
    array: bool = True


def text_aggregates(column: str) -> tuple[str, str]:
    """The two aggregates that carry a text column: byte lengths (NULL for NULL) and bytes."""
    data = f"convert_to({column}, 'UTF8')"
    return f"array_agg(octet_length({data}))", f"string_agg({data}, ''::bytea)"


def fields_of(types: list[pa.DataType]) -> list[Field]:
    """The tuple fields that :func:`text_aggregates` and one ``array_agg`` per other
    column produce for columns of ``types``, in order."""
    fields: list[Field] = []
    for typ in types:
        if typ == pa.string():
            fields += [Field(pa.int32()), Field(pa.binary(), array=False)]
        else:
            fields.append(Field(typ))
    return fields


def decode(payload: bytes | bytearray | memoryview, fields: list[Field]) -> list[list[Any]]:
    """The tuples of a binary COPY stream, each field decoded: an array field as
    ``(values, valid)`` numpy arrays (``valid`` None when nothing is NULL), a scalar field as
    its value (bytes for ``binary``, an int for integers) or None for NULL."""
    view = memoryview(payload).cast("B")
    if bytes(view[:11]) != HEADER[:11]:
        raise CopyFormatError("not a binary COPY stream (no PGCOPY signature)")
    (extension,) = struct.unpack_from(">i", view, 15)
    pos = 19 + extension
    tuples: list[list[Any]] = []
    while True:
        (count,) = struct.unpack_from(">h", view, pos)
        pos += 2
        if count == -1:
            return tuples
        if count != len(fields):
            raise CopyFormatError(f"a tuple of {count} fields, expected {len(fields)}")
        row: list[Any] = []
        for field in fields:
            (length,) = struct.unpack_from(">i", view, pos)
            pos += 4
            if length < 0:
                row.append(None)
                continue
            data = view[pos : pos + length]
            pos += length
            if field.array:
                row.append(_decode_array(data, field.type))
            elif field.type == pa.binary():
                row.append(data)
            else:
                row.append(int(np.frombuffer(data, _WIRE[field.type])[0]))
        tuples.append(row)


def _decode_array(
    data: memoryview, typ: pa.DataType
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """Values (native byte order) and validity of a one-dimensional binary array."""
    ndim, has_nulls, element_oid = struct.unpack_from(">iii", data, 0)
    if element_oid != _OIDS[typ]:
        raise CopyFormatError(f"an array of type OID {element_oid}, expected {typ}")
    wire = np.dtype(_WIRE[typ])
    if ndim == 0:
        return np.zeros(0, wire.newbyteorder("=")), None
    if ndim != 1:
        raise CopyFormatError(f"an array of {ndim} dimensions, expected 1")
    (n,) = struct.unpack_from(">i", data, 12)
    buffer = np.frombuffer(data, np.uint8, offset=20)
    width = wire.itemsize
    if not has_nulls:
        if buffer.size != n * (4 + width):
            raise CopyFormatError(f"an array of {n} elements in {buffer.size} bytes")
        block = buffer.reshape(n, 4 + width)
        if not (block[:, :4] == np.frombuffer(struct.pack(">i", width), np.uint8)).all():
            raise CopyFormatError(f"array elements are not {width} bytes wide")
        values = np.ascontiguousarray(block[:, 4:]).view(wire).ravel()
        return values.astype(wire.newbyteorder("=")), None
    return _decode_runs(buffer, n, wire)


def _decode_runs(
    buffer: npt.NDArray[np.uint8], n: int, wire: np.dtype[Any]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Elements with NULLs among them: alternating runs of NULLs (4 bytes each) and of values
    (4 + width bytes each), each run found with one vectorised comparison of the length
    words where the run's stride puts them (Python work per run, not per element)."""
    width = wire.itemsize
    values = np.zeros(n, wire.newbyteorder("="))
    valid = np.ones(n, np.bool_)
    value_length = np.frombuffer(struct.pack(">i", width), np.uint8)
    null_length = np.frombuffer(_NULL_LENGTH, np.uint8)
    pos = element = 0
    while element < n:
        if buffer.size < pos + 4:
            raise CopyFormatError("an array ends inside an element")
        is_null = bytes(buffer[pos : pos + 4]) == _NULL_LENGTH
        stride = 4 if is_null else 4 + width
        expected = null_length if is_null else value_length
        if not is_null and not (buffer[pos : pos + 4] == value_length).all():
            raise CopyFormatError(f"array elements are not {width} bytes wide")
        limit = min(n - element, (buffer.size - pos) // stride)
        run = _run_length(buffer, pos, stride, expected, limit)
        if is_null:
            valid[element : element + run] = False
        else:
            block = np.lib.stride_tricks.as_strided(
                buffer[pos + 4 :], shape=(run, width), strides=(stride, 1), writeable=False
            )
            values[element : element + run] = np.ascontiguousarray(block).view(wire).ravel()
        pos += run * stride
        element += run
    if pos != buffer.size:
        raise CopyFormatError("an array has bytes after its last element")
    return values, valid


def _run_length(
    buffer: npt.NDArray[np.uint8],
    pos: int,
    stride: int,
    expected: npt.NDArray[np.uint8],
    limit: int,
) -> int:
    """How many consecutive elements from ``pos`` on (at most ``limit``, at least 1) have the
    length word ``expected``; probes windows that double, so a short run costs little."""
    run, window = 0, 64
    while run < limit:
        size = min(window, limit - run)
        heads = np.lib.stride_tricks.as_strided(
            buffer[pos + run * stride :], shape=(size, 4), strides=(stride, 1), writeable=False
        )
        same = (heads == expected).all(axis=1)
        if not same.all():
            return run + int(np.argmin(same))
        run += size
        window *= 2
    return run


def to_arrow(
    values: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None, typ: pa.DataType
) -> pa.Array:
    """An Arrow array of ``typ`` from decoded values (timestamps still in PostgreSQL's epoch)."""
    mask = None if valid is None or valid.all() else ~valid
    if pa.types.is_timestamp(typ):
        if values.size and np.isin(values, _INFINITIES).any():
            raise CopyFormatError("an infinite timestamp has no Arrow value")
        return pa.array(values + _PG_EPOCH_US, pa.int64(), mask=mask).view(typ)
    if typ == pa.bool_():
        return pa.array(values.astype(np.bool_), typ, mask=mask)
    return pa.array(values, typ, mask=mask)


def text_to_arrow(
    lengths: npt.NDArray[np.int32], valid: npt.NDArray[np.bool_] | None, data: memoryview | None
) -> pa.Array:
    """A string array from its values' byte lengths and their concatenated bytes."""
    n = lengths.size
    sizes = lengths.astype(np.int64) if valid is None else np.where(valid, lengths, 0)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    body = bytes(data) if data is not None else b""
    if int(offsets[-1]) != len(body):
        raise CopyFormatError(f"text lengths add up to {offsets[-1]}, the data has {len(body)}")
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    array = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(body), bitmap
    )
    return array.cast(pa.string())
