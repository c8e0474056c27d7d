"""``/v1/datasets/{id}/data`` and ``/latest`` over real HTTP on both engines.

One server per engine (DuckDB file, throwaway PostgreSQL database) over the sample of
:func:`gridvault.api.testing.seed_sample`; chunks are tiny (``chunk_rows=40``) so every
streamed answer spans several store reads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import pytest

from gridvault.api import ApiOptions
from gridvault.api.testing import SAMPLE_START, RunningApi, observations, run_api, seed_sample
from gridvault.logs import configure_logging
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store import SeriesKey

T0 = SAMPLE_START
H = timedelta(hours=1)
ADMIN_URL = os.environ.get(
    "GRIDVAULT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
OPTIONS = ApiOptions(chunk_rows=40, binary_chunk_rows=60, cache_max_rows=200, rate_limit=100_000)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this module (skips outside CI when PG is down)."""
    name = f"gv_api_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", autouse=True)
def _logging_to_a_live_stream() -> None:
    # An earlier test may have configured logging onto a stream that is closed by now.
    configure_logging("WARNING", "json")


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningApi, dict[str, int]]]:
    with contextlib.ExitStack() as stack:
        if request.param == "duckdb":
            url = f"duckdb:///{tmp_path_factory.mktemp('api') / 'store.duckdb'}"
        else:
            url = stack.enter_context(pg_database())
        services = stack.enter_context(Services(Settings(database_url=url, redis_url=None)))
        ids = seed_sample(services.store)
        yield stack.enter_context(run_api(services, options=OPTIONS)), ids


@pytest.fixture(scope="module")
def api(served: tuple[RunningApi, dict[str, int]]) -> RunningApi:
    return served[0]


@pytest.fixture(scope="module")
def ids(served: tuple[RunningApi, dict[str, int]]) -> dict[str, int]:
    return served[1]


DATA = "/v1/datasets/{}/data"
UTC_DAY = {"start": "2024-01-01T00:00Z", "end": "2024-01-04T00:00Z"}


def get_json(api: RunningApi, dataset: str, **params: Any) -> dict[str, Any]:
    response = api.reader.get(DATA.format(dataset), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def test_raw_json_is_what_the_store_holds(api: RunningApi, ids: dict[str, int]) -> None:
    body = get_json(api, "day_ahead_prices", area="DE_LU", **UTC_DAY)
    rows = body["data"]
    stored = api.store.read([ids["price_de"]], T0, T0 + 72 * H)
    assert [r["value"] for r in rows] == stored["value"].to_pylist()
    assert len(rows) == 68  # 72 hours minus the 4-hour gap
    first = rows[0]
    assert first["interval_start"] == "2024-01-01T00:00:00Z"
    assert first["interval_end"] == "2024-01-01T01:00:00Z"
    assert first["publish_time"] == "2023-12-31T12:00:00Z"
    assert (first["dataset"], first["area"], first["unit"], first["resolution"]) == (
        "day_ahead_prices",
        "DE_LU",
        "EUR/MWh",
        "PT60M",
    )
    assert first["sequence"] == "1"
    assert body["meta"]["rows"] == 68
    assert body["meta"]["next_cursor"] is None
    assert body["meta"]["start"] == "2024-01-01T00:00:00Z"


def test_naive_times_are_the_areas_local_time(api: RunningApi) -> None:
    body = get_json(api, "day_ahead_prices", area="DE_LU", start="2024-01-01", end="2024-01-02")
    assert body["meta"]["start"] == "2023-12-31T23:00:00Z"  # Berlin midnight
    assert body["data"][0]["interval_start"] == "2024-01-01T00:00:00Z"
    assert body["data"][-1]["interval_start"] == "2024-01-01T22:00:00Z"


def test_an_offset_sent_with_an_unescaped_plus_is_read(api: RunningApi) -> None:
    """``+01:00`` typed into a URL arrives as `` 01:00`` (a query decodes + as a space)."""
    raw = api.reader.get(
        "/v1/datasets/day_ahead_prices/data?area=DE_LU"
        "&start=2024-01-01T01:00+01:00&end=2024-01-01T03:00+01:00"
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["meta"]["start"] == "2024-01-01T00:00:00Z"
    assert [row["interval_start"] for row in raw.json()["data"]] == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00Z",
    ]


def test_several_areas_are_ordered_by_series_then_time(api: RunningApi) -> None:
    rows = get_json(api, "day_ahead_prices", area="FR,de_lu", **UTC_DAY)["data"]
    areas = [r["area"] for r in rows]
    assert areas == ["DE_LU"] * 68 + ["FR"] * 48  # DE_LU was registered first
    for area in ("DE_LU", "FR"):
        starts = [r["interval_start"] for r in rows if r["area"] == area]
        assert starts == sorted(starts)


def test_output_time_zone(api: RunningApi) -> None:
    rows = get_json(api, "day_ahead_prices", area="DE_LU", tz="Europe/Berlin", limit=2, **UTC_DAY)[
        "data"
    ]
    assert rows[0]["interval_start"] == "2024-01-01T01:00:00+01:00"
    assert rows[0]["publish_time"] == "2023-12-31T13:00:00+01:00"


def test_dimension_filters(api: RunningApi) -> None:
    solar = get_json(api, "generation_actual_per_type", area="DE_LU", psr_type="B16", **UTC_DAY)
    assert {r["psr_type"] for r in solar["data"]} == {"B16"}
    assert len(solar["data"]) == 192
    both = get_json(api, "generation_actual_per_type", area="DE_LU", **UTC_DAY)
    assert len(both["data"]) == 384
    flows = get_json(api, "physical_flows", area="DE_LU", area_to="fr", **UTC_DAY)
    assert {r["area_to"] for r in flows["data"]} == {"FR"}
    assert {r["value"] for r in flows["data"]} == {10.0}


def test_resample_mean_and_ohlc(api: RunningApi) -> None:
    hourly = get_json(
        api, "generation_actual_per_type", area="DE_LU", psr_type="B16", resample="1h", **UTC_DAY
    )["data"]
    assert len(hourly) == 48
    assert hourly[0]["value"] == pytest.approx(1.5)  # mean of 0, 1, 2, 3
    assert hourly[0]["count"] == 4
    assert hourly[0]["interval_end"] == "2024-01-01T01:00:00Z"
    ohlc = get_json(
        api,
        "generation_actual_per_type",
        area="DE_LU",
        psr_type="B16",
        resample="1h",
        agg="ohlc",
        **UTC_DAY,
    )["data"]
    assert (ohlc[1]["open"], ohlc[1]["high"], ohlc[1]["low"], ohlc[1]["close"]) == (
        4.0,
        7.0,
        4.0,
        7.0,
    )


def test_resampled_rows_show_the_bucket_as_their_resolution(api: RunningApi) -> None:
    quarter_hours = {"dataset": "generation_actual_per_type", "area": "DE_LU", **UTC_DAY}
    raw = get_json(api, **quarter_hours)["data"]
    assert {row["resolution"] for row in raw} == {"PT15M"}
    for bucket, resolution in (("1h", "PT60M"), ("1d", "P1D"), ("1mo", "P1M")):
        rows = get_json(api, **quarter_hours, resample=bucket)["data"]
        assert rows, bucket
        assert {row["resolution"] for row in rows} == {resolution}, bucket
    answer = api.reader.get(
        DATA.format("generation_actual_per_type"),
        params={"area": "DE_LU", **UTC_DAY, "resample": "1h", "format": "arrow"},
    )
    table = pa_ipc.open_stream(answer.content).read_all()
    assert set(table["resolution"].to_pylist()) == {"PT60M"}


def test_rows_from_before_a_resolution_switch_show_their_own(api: RunningApi) -> None:
    # Actual load NL (a series of its own, no other test reads it): hourly until 2024-01-02,
    # then quarter-hourly, as at the 15-minute MTU switch. The series' resolution is its
    # newest; each row shows what it covers.
    key = SeriesKey("entsoe", "load_actual", "NL", {}, "MW", "PT60M")
    (sid,) = api.store.ensure_series([key])
    switch = T0 + 24 * H
    api.store.upsert_observations(observations(sid, T0, [40.0 + i for i in range(24)], H))
    api.store.upsert_observations(
        observations(sid, switch, [80.0 + i for i in range(8)], timedelta(minutes=15))
    )
    api.store.note_resolution(sid, "PT15M", switch + timedelta(hours=1, minutes=45))
    query = {"area": "NL", "start": "2024-01-01T22:00Z", "end": "2024-01-02T01:00Z"}
    rows = get_json(api, "load_actual", **query)["data"]
    shown = [(row["interval_start"][11:16], row["resolution"]) for row in rows]
    assert shown == [("22:00", "PT60M"), ("23:00", "PT60M")] + [
        (f"{m // 60:02d}:{m % 60:02d}", "PT15M") for m in range(0, 60, 15)
    ]
    series = get_json(api, "load_actual", **query, layout="series")["series"]
    assert [(s["resolution"], len(s["values"])) for s in series] == [("PT60M", 2), ("PT15M", 4)]
    answer = api.reader.get(DATA.format("load_actual"), params={**query, "format": "csv"})
    lines = pa_csv.read_csv(io.BytesIO(answer.content))
    assert lines["resolution"].to_pylist() == [r for _, r in shown]
    answer = api.reader.get(DATA.format("load_actual"), params={**query, "format": "arrow"})
    table = pa_ipc.open_stream(answer.content).read_all()
    assert table["resolution"].to_pylist() == [r for _, r in shown]
    answer = api.reader.get(DATA.format("load_actual"), params={**query, "format": "parquet"})
    table = pq.read_table(io.BytesIO(answer.content))
    assert table["resolution"].to_pylist() == [r for _, r in shown]
    # Resampled to hours, every bucket is an hour, whatever the rows inside it.
    hourly = get_json(api, "load_actual", **query, resample="1h")["data"]
    assert [(row["resolution"], row["count"]) for row in hourly] == [
        ("PT60M", 1),
        ("PT60M", 1),
        ("PT60M", 4),
    ]


def test_calendar_buckets_follow_the_asked_zone(api: RunningApi) -> None:
    days = get_json(
        api,
        "day_ahead_prices",
        area="FR",
        resample="1d",
        agg="count",
        tz="Europe/Paris",
        start="2024-01-01",
        end="2024-01-03",
    )["data"]
    assert [d["interval_start"] for d in days] == [
        "2024-01-01T00:00:00+01:00",
        "2024-01-02T00:00:00+01:00",
    ]
    assert [d["value"] for d in days] == [23, 24]  # data starts at 01:00 Paris time


def test_as_of_returns_what_was_known_then(api: RunningApi) -> None:
    now = get_json(api, "load_actual", area="FI", limit=1, **UTC_DAY)["data"]
    before = get_json(api, "load_actual", area="FI", limit=1, as_of="2024-01-02T12:00Z", **UTC_DAY)[
        "data"
    ]
    never = get_json(api, "load_actual", area="FI", as_of="2023-12-01T00:00Z", **UTC_DAY)
    assert now[0]["value"] == 2000.0
    assert before[0]["value"] == 1000.0
    assert never["data"] == []


def test_published_before_filters_forecast_vintages(api: RunningApi) -> None:
    early = get_json(
        api, "day_ahead_prices", area="DE_LU", published_before="2024-01-01T00:00Z", **UTC_DAY
    )["data"]
    assert len(early) == 30  # the second batch was published a day later


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_every_format_carries_the_same_rows(api: RunningApi, fmt: str) -> None:
    params = {"area": "DE_LU", "psr_type": "B19", "format": fmt, **UTC_DAY}
    response = api.reader.get(DATA.format("generation_actual_per_type"), params=params)
    assert response.status_code == 200, response.text
    if fmt == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        table = pa_csv.read_csv(io.BytesIO(response.content))
        assert table.column_names[:4] == ["interval_start", "interval_end", "value", "flags"]
        assert table["interval_start"][0].as_py().isoformat() == "2024-01-01T00:00:00+00:00"
    elif fmt == "arrow":
        assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
        table = pa_ipc.open_stream(response.content).read_all()
        assert table.schema.field("interval_start").type == pa.timestamp("us", tz="UTC")
        assert pa.types.is_dictionary(table.schema.field("area").type)
    else:
        assert response.headers["content-type"] == "application/vnd.apache.parquet"
        table = pq.read_table(io.BytesIO(response.content))
    assert "attachment" in response.headers["content-disposition"]
    assert table["value"].to_pylist() == [1000.0 + i for i in range(192)]
    assert table["psr_type"].cast(pa.string()).to_pylist() == ["B19"] * 192


def test_streamed_answers_span_many_chunks_in_order(api: RunningApi) -> None:
    # chunk_rows=40 in the test options: 384 rows are read in about ten store reads.
    body = get_json(api, "generation_actual_per_type", area="DE_LU", **UTC_DAY)
    values = [r["value"] for r in body["data"]]
    assert values == [float(i) for i in range(192)] + [1000.0 + i for i in range(192)]
    arrow = api.reader.get(
        DATA.format("generation_actual_per_type"),
        params={"area": "DE_LU", "format": "arrow", **UTC_DAY},
    )
    assert pa_ipc.open_stream(arrow.content).read_all()["value"].to_pylist() == values


@pytest.mark.parametrize("params", [{}, {"resample": "1h"}, {"limit": 150}])
def test_the_series_layout_names_each_series_once(api: RunningApi, params: dict[str, Any]) -> None:
    # chunk_rows=40: each series' object is continued over several store reads.
    base = {"area": "DE_LU", **UTC_DAY, **params}
    rows = get_json(api, "generation_actual_per_type", **base)
    compact = get_json(api, "generation_actual_per_type", layout="series", **base)
    assert compact["meta"] == rows["meta"]
    objects = compact["series"]
    assert [obj["psr_type"] for obj in objects] == sorted({r["psr_type"] for r in rows["data"]})
    flat = [
        {**dict(zip(obj["columns"], values, strict=True)), **attributes}
        for obj in objects
        for attributes in [{k: v for k, v in obj.items() if k not in ("columns", "values")}]
        for values in obj["values"]
    ]
    assert flat == rows["data"]
    first = rows["data"][0]
    assert objects[0]["values"][0][:2] == [first["interval_start"], first["interval_end"]]
    assert first["interval_start"] == "2024-01-01T00:00:00Z"


def test_a_layout_shapes_json_only(api: RunningApi) -> None:
    params = {"area": "DE_LU", "format": "csv", "layout": "series", **UTC_DAY}
    response = api.reader.get(DATA.format("day_ahead_prices"), params=params)
    assert response.status_code == 400
    assert "layout=series applies to format=json" in response.json()["detail"]
    response = api.reader.get(
        DATA.format("day_ahead_prices"), params={"area": "DE_LU", "layout": "wide", **UTC_DAY}
    )
    assert response.status_code == 422
    assert "layout" in response.text
    latest = api.reader.get("/v1/datasets/day_ahead_prices/latest", params={"layout": "series"})
    assert [obj["area"] for obj in latest.json()["series"]] == ["DE_LU", "FR"]


@pytest.mark.parametrize("resample", [None, "1h"])
def test_cursor_pages_add_up_to_the_whole(api: RunningApi, resample: str | None) -> None:
    params: dict[str, Any] = {"area": "DE_LU", **UTC_DAY}
    if resample:
        params["resample"] = resample
    whole = get_json(api, "generation_actual_per_type", **params)["data"]
    pages: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page_params = {**params, "limit": 37, **({"cursor": cursor} if cursor else {})}
        response = api.reader.get(DATA.format("generation_actual_per_type"), params=page_params)
        body = response.json()
        assert len(body["data"]) <= 37
        pages.extend(body["data"])
        cursor = body["meta"]["next_cursor"]
        assert response.headers.get("x-next-cursor") == cursor
        if cursor is None:
            break
        assert 'rel="next"' in response.headers["link"]
    assert pages == whole


def test_arrow_pages_carry_the_cursor_in_a_header(api: RunningApi) -> None:
    params: dict[str, Any] = {"area": "FR", "format": "arrow", "limit": 20, **UTC_DAY}
    response = api.reader.get(DATA.format("day_ahead_prices"), params=params)
    table = pa_ipc.open_stream(response.content).read_all()
    assert table.num_rows == 20
    cursor = response.headers["x-next-cursor"]
    nxt = api.reader.get(DATA.format("day_ahead_prices"), params={**params, "cursor": cursor})
    second = pa_ipc.open_stream(nxt.content).read_all()
    assert second["value"].to_pylist()[0] == 120.0


def test_small_answers_are_cached_until_the_series_changes(
    api: RunningApi, ids: dict[str, int]
) -> None:
    params = {
        "area": "DE_LU",
        "area_to": "NL",
        "start": "2024-01-01T00:00Z",
        "end": "2024-01-01T03:00Z",
    }
    url = DATA.format("physical_flows")
    first = api.reader.get(url, params=params)
    second = api.reader.get(url, params=params)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.content == second.content
    etag = first.headers["etag"]
    assert api.reader.get(url, params=params, headers={"If-None-Match": etag}).status_code == 304
    # New data for the series: a new key, so the next answer is fresh.
    sid = ids["flow_de_nl"]
    api.store.upsert_observations(observations(sid, T0, [25.0], H))
    try:
        third = api.reader.get(url, params=params)
        assert third.headers["x-cache"] == "miss"
        assert third.headers["etag"] != etag
        assert json.loads(third.content)["data"][0]["value"] == 25.0
        assert (
            api.reader.get(url, params=params, headers={"If-None-Match": etag}).status_code == 200
        )
    finally:
        api.store.upsert_observations(observations(sid, T0, [20.0], H))


def test_latest_value_per_series(api: RunningApi) -> None:
    response = api.reader.get("/v1/datasets/day_ahead_prices/latest")
    assert response.status_code == 200
    rows = response.json()["data"]
    assert [(r["area"], r["value"], r["interval_start"]) for r in rows] == [
        ("DE_LU", 121.0, "2024-01-03T23:00:00Z"),
        ("FR", 147.0, "2024-01-02T23:00:00Z"),
    ]
    arrow = api.reader.get(
        "/v1/datasets/day_ahead_prices/latest", params={"area": "FR", "format": "arrow"}
    )
    assert pa_ipc.open_stream(arrow.content).read_all()["value"].to_pylist() == [147.0]


def test_empty_range_is_an_empty_answer_in_every_format(api: RunningApi) -> None:
    params = {"area": "FR", "start": "2025-01-01T00:00Z", "end": "2025-01-02T00:00Z"}
    url = DATA.format("day_ahead_prices")
    assert api.reader.get(url, params=params).json()["data"] == []
    csv = api.reader.get(url, params={**params, "format": "csv"}).text
    assert csv.splitlines()[0].startswith("interval_start,interval_end,value")
    arrow = api.reader.get(url, params={**params, "format": "arrow"})
    assert pa_ipc.open_stream(arrow.content).read_all().num_rows == 0
    parquet = api.reader.get(url, params={**params, "format": "parquet"})
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 0


def test_long_ranges_stream_without_a_size_limit(api: RunningApi) -> None:
    params = {"area": "FR", "start": "2015-01-01T00:00Z", "end": "2025-01-01T00:00Z"}
    response = api.reader.get(DATA.format("day_ahead_prices"), params={**params, "format": "csv"})
    assert response.status_code == 200
    assert len(response.text.splitlines()) == 49
