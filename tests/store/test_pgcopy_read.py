"""Reads through binary COPY of arrays (:mod:`gridvault.store.pgcopy`) on real PostgreSQL.

Every value goes through the server's own binary output, and the rows psycopg fetches for
the same query are the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridvault.store import SeriesKey
from gridvault.store.pgcopy import CopyFormatError, Field, decode, text_to_arrow, to_arrow
from gridvault.store.postgres_store import PostgresStore, _observation_table

pytestmark = pytest.mark.postgres

UTC_TS = pa.timestamp("us", tz="UTC")
H = timedelta(hours=1)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        yield connection


def copy_out(conn: psycopg.Connection[Any], select: str) -> bytes:
    with conn.cursor() as cur, cur.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)") as copy:
        return b"".join(copy)


def arrays(conn: psycopg.Connection[Any], select: str, fields: list[Field]) -> list[pa.Array]:
    """The one tuple of ``select`` (array columns only) decoded into Arrow arrays."""
    (row,) = decode(copy_out(conn, select), fields)
    return [to_arrow(values, valid, f.type) for (values, valid), f in zip(row, fields, strict=True)]


def test_arrays_of_every_fixed_width_type_with_negatives_and_nulls(
    conn: psycopg.Connection[Any],
) -> None:
    select = (
        "SELECT ARRAY[-9223372036854775808, -1, NULL, 9223372036854775807]::bigint[], "
        "ARRAY[-2147483648, NULL, NULL, 7]::integer[], ARRAY[NULL, -32768, 0, 32767]::smallint[],"
        " ARRAY[-1.5, 'NaN', '-Infinity', NULL]::double precision[], "
        "ARRAY[-0.25, NULL, 3.5, NULL]::real[], ARRAY[true, NULL, false, true]::boolean[]"
    )
    types = [pa.int64(), pa.int32(), pa.int16(), pa.float64(), pa.float32(), pa.bool_()]
    decoded = arrays(conn, select, [Field(t) for t in types])
    assert [a.type for a in decoded] == types
    assert decoded[0].to_pylist() == [-(2**63), -1, None, 2**63 - 1]
    assert decoded[1].to_pylist() == [-(2**31), None, None, 7]
    assert decoded[2].to_pylist() == [None, -32768, 0, 32767]
    floats = decoded[3].to_pylist()
    assert floats[0] == -1.5
    assert np.isnan(floats[1])
    assert floats[2] == -np.inf
    assert floats[3] is None
    assert decoded[4].to_pylist() == [-0.25, None, 3.5, None]
    assert decoded[5].to_pylist() == [True, None, False, True]


def test_timestamps_before_and_after_2000(conn: psycopg.Connection[Any]) -> None:
    moments = [
        datetime(1800, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2262, 4, 11, tzinfo=UTC),
    ]
    texts = ", ".join(f"'{m.isoformat()}'" for m in moments)
    (decoded,) = arrays(conn, f"SELECT ARRAY[{texts}, NULL]::timestamptz[]", [Field(UTC_TS)])
    assert decoded.type == UTC_TS
    assert decoded.to_pylist() == [*moments, None]


def test_infinite_timestamps_are_refused(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(CopyFormatError, match="infinite"):
        arrays(conn, "SELECT ARRAY['infinity']::timestamptz[]", [Field(UTC_TS)])


@pytest.mark.parametrize(
    "pattern",
    [
        "all null",
        "no null",
        "null first and last",
        "every other",
        "long runs",
    ],
)
def test_null_runs_of_every_shape(conn: psycopg.Connection[Any], pattern: str) -> None:
    n = 1000
    null = {
        "all null": "true",
        "no null": "false",
        "null first and last": f"i IN (1, {n})",
        "every other": "i % 2 = 0",
        "long runs": "(i / 97) % 2 = 1 OR i % 300 = 7",  # runs longer than a probe window
    }[pattern]
    select = (
        f"SELECT array_agg(CASE WHEN {null} THEN NULL ELSE -i * 1.5 END::float8 ORDER BY i), "
        f"array_agg(CASE WHEN {null} THEN NULL ELSE -i END::int8 ORDER BY i) "
        f"FROM generate_series(1, {n}) i"
    )
    reference = conn.execute(
        f"SELECT CASE WHEN {null} THEN NULL ELSE -i * 1.5 END::float8, "
        f"CASE WHEN {null} THEN NULL ELSE -i END::int8 FROM generate_series(1, {n}) i ORDER BY i"
    ).fetchall()
    floats, ints = arrays(conn, select, [Field(pa.float64()), Field(pa.int64())])
    assert floats.to_pylist() == [r[0] for r in reference]
    assert ints.to_pylist() == [r[1] for r in reference]


def test_texts_travel_as_lengths_and_bytes(conn: psycopg.Connection[Any]) -> None:
    values = ["abc", None, "", "Zürich – €", None, "x" * 300]
    literal = ", ".join("NULL" if v is None else "'" + v + "'" for v in values)
    select = (
        f"SELECT array_agg(octet_length(convert_to(v, 'UTF8')) ORDER BY o), "
        f"string_agg(convert_to(v, 'UTF8'), ''::bytea ORDER BY o) "
        f"FROM unnest(ARRAY[{literal}]::text[]) WITH ORDINALITY AS t(v, o)"
    )
    (((lengths, valid), data),) = decode(
        copy_out(conn, select), [Field(pa.int32()), Field(pa.binary(), array=False)]
    )
    text = text_to_arrow(lengths, valid, data)
    assert text.type == pa.string()
    assert text.to_pylist() == values


def test_no_tuples_null_fields_and_empty_arrays(conn: psycopg.Connection[Any]) -> None:
    fields = [Field(pa.int64(), array=False), Field(pa.float64())]
    assert (
        decode(copy_out(conn, "SELECT 1::bigint, ARRAY[1.0]::float8[] WHERE false"), fields) == []
    )
    (row,) = decode(copy_out(conn, "SELECT NULL::bigint, '{}'::float8[]"), fields)
    assert row[0] is None
    values, valid = row[1]
    assert values.size == 0
    assert valid is None
    (row,) = decode(copy_out(conn, "SELECT -7::bigint, NULL::float8[]"), fields)
    assert row == [-7, None]


def test_a_stream_of_other_fields_is_refused(conn: psycopg.Connection[Any]) -> None:
    payload = copy_out(conn, "SELECT ARRAY[1, 2]::bigint[]")
    with pytest.raises(CopyFormatError, match="a tuple of 1 fields, expected 2"):
        decode(payload, [Field(pa.int64()), Field(pa.int64())])
    with pytest.raises(CopyFormatError, match="type OID 20, expected int32"):
        decode(payload, [Field(pa.int32())])
    with pytest.raises(CopyFormatError, match="no PGCOPY signature"):
        decode(b"PGCOPY?" + payload[7:], [Field(pa.int64())])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(2**40), 2**40),
        ),
        max_size=300,
    )
)
def test_decoded_arrays_equal_fetched_rows(
    conn: psycopg.Connection[Any], values: list[float | int | None]
) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS v (o int, f float8, i int8, t timestamptz)")
    conn.execute("TRUNCATE v")
    with conn.cursor().copy("COPY v (o, f, i, t) FROM STDIN") as copy:
        for o, value in enumerate(values):
            number = None if value is None else value
            whole = None if value is None else int(value) % (2**40)
            moment = (
                None
                if value is None
                else datetime(2000, 1, 1, tzinfo=UTC)
                + timedelta(microseconds=int(value) % (2**45) - 2**44)
            )
            copy.write_row((o, number, whole, moment))
    expected = conn.execute("SELECT f, i, t FROM v ORDER BY o").fetchall()
    fields = [Field(pa.float64()), Field(pa.int64()), Field(UTC_TS)]
    rows = decode(
        copy_out(
            conn,
            "SELECT array_agg(f ORDER BY o), array_agg(i ORDER BY o), "
            "array_agg(t ORDER BY o) FROM v",
        ),
        fields,
    )
    if not values:
        assert rows == [[None, None, None]]  # array_agg of no rows is NULL
        return
    decoded = [
        to_arrow(values, valid, f.type).to_pylist()
        for (values, valid), f in zip(rows[0], fields, strict=True)
    ]
    assert decoded == [list(column) for column in zip(*expected, strict=True)]


def test_store_reads_nulls_negatives_old_times_and_texts(pg_url: str) -> None:
    store = PostgresStore(pg_url, pool_size=2)
    try:
        a, b = store.ensure_series([SeriesKey("s", "d", "A"), SeriesKey("s", "d", "B")])
        t0 = datetime(1999, 12, 31, 22, tzinfo=UTC)
        starts = [t0 + i * H for i in range(200)]
        values = [None if i % 3 == 0 or 50 <= i < 150 else -0.5 * i for i in range(200)]
        documents = [None if i % 2 else f"doc-{i}-ü" for i in range(200)]
        store.upsert_observations(
            pa.table(
                {
                    "series_id": [b] * 200,
                    "interval_start": pa.array(starts, UTC_TS),
                    "interval_end": pa.array([s + H for s in starts], UTC_TS),
                    "value": pa.array(values, pa.float64()),
                    "publish_time": pa.array([None] * 199 + [t0 - 1000 * H], UTC_TS),
                    "flags": pa.array([-(i % 2) for i in range(200)], pa.int32()),
                    "document_id": pa.array(documents, pa.string()),
                }
            )
        )
        store.upsert_observations(
            pa.table(
                {
                    "series_id": [a],
                    "interval_start": pa.array([t0], UTC_TS),
                    "interval_end": pa.array([t0 + H], UTC_TS),
                    "value": [float("-inf")],
                }
            )
        )
        table = store.read([b, a], t0, t0 + 300 * H)
        assert table.schema.types == [
            pa.int64(),
            UTC_TS,
            UTC_TS,
            pa.float64(),
            UTC_TS,
            pa.int32(),
            pa.string(),
        ]
        assert table["series_id"].to_pylist() == [a] + [b] * 200
        assert table["interval_start"].to_pylist() == [t0, *starts]
        assert table["value"].to_pylist() == [float("-inf"), *values]
        assert table["publish_time"].to_pylist() == [None] * 200 + [t0 - 1000 * H]
        assert table["flags"].to_pylist() == [0] + [-(i % 2) for i in range(200)]
        assert table["document_id"].to_pylist() == [None, *documents]
        with store.session() as db:  # the rows as fetched, one by one
            rows = db.fetch_arrow(
                "SELECT * FROM observations WHERE series_id IN (?, ?) "
                "ORDER BY series_id, interval_start",
                [a, b],
            )
        assert table.to_pylist() == rows.drop_columns(["ingested_at"]).to_pylist()
        empty = store.read([a, b], t0 - 10 * H, t0 - 5 * H)
        assert empty.num_rows == 0
        assert empty.schema.types == table.schema.types
    finally:
        store.close()


def test_groups_out_of_order_are_sorted() -> None:
    def group(series_id: int, starts: list[int]) -> list[Any]:
        return [
            series_id,
            (np.array(starts, np.int64), None),
            (np.array([float(s) for s in starts]), None),
        ]

    table = _observation_table(
        [group(2, [5, 1]), group(1, [3])],
        ["interval_start", "value"],
        [UTC_TS, pa.float64()],
        ["series_id", "value"],
    )
    assert table.to_pylist() == [
        {"series_id": 1, "value": 3.0},
        {"series_id": 2, "value": 1.0},
        {"series_id": 2, "value": 5.0},
    ]
