"""A gridvault API on a free loopback port over a small sample store, for integration tests
and benchmarks of code that talks to the API (gridvault's own tests use it).

>>> from gridvault.services import Services
>>> from gridvault.settings import Settings
>>> services = Services(Settings(database_url="duckdb:///:memory:"))
>>> ids = seed_sample(services.store)
>>> with run_api(services) as api:  # doctest: +SKIP
...     api.reader.get("/v1/datasets/day_ahead_prices/data", params=...)
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx2
import pyarrow as pa

from gridvault.api.app import create_app
from gridvault.api.server import serve_in_thread
from gridvault.api.state import ApiOptions, BackgroundService
from gridvault.services import Services
from gridvault.store import SeriesKey, Store
from gridvault.store.api_keys import create_key

SAMPLE_START = datetime(2024, 1, 1, tzinfo=UTC)
_H = timedelta(hours=1)
_Q = timedelta(minutes=15)
_TS = pa.timestamp("us", tz="UTC")


def observations(
    series_id: int,
    start: datetime,
    values: Sequence[float | None],
    step: timedelta,
    publish_time: datetime | None = None,
) -> pa.Table:
    """An observation batch of consecutive intervals of length ``step`` from ``start``."""
    starts = [start + i * step for i in range(len(values))]
    return pa.table(
        {
            "series_id": pa.array([series_id] * len(values), pa.int64()),
            "interval_start": pa.array(starts, _TS),
            "interval_end": pa.array([s + step for s in starts], _TS),
            "value": pa.array(values, pa.float64()),
            "publish_time": pa.array([publish_time] * len(values), _TS),
        }
    )


def seed_sample(store: Store) -> dict[str, int]:
    """Store a small, fully known sample from :data:`SAMPLE_START` (2024-01-01T00:00Z).

    * ``price_de``: day-ahead prices DE_LU, hourly, 72 h, value ``50 + hour``, hours 30-33
      missing; published 12 h before the start (hours 0-29) and a day later (34-71);
    * ``price_fr``: day-ahead prices FR, hourly, 48 h, ``100 + hour``;
    * ``solar_de`` / ``wind_de``: generation per type DE_LU (B16 / B19), 15-minute, 2 days,
      ``i`` / ``1000 + i``;
    * ``flow_de_fr`` / ``flow_de_nl``: physical flows DE_LU → FR / NL, hourly, 24 h, 10 / 20;
    * ``load_fi``: actual load FI, hourly, 24 h: ``1000 + hour`` known on 2024-01-02, the
      first 12 hours revised to ``2000 + hour`` on 2024-01-03 (for as-of queries).

    Returns the series ids by those names.
    """
    keys = {
        "price_de": SeriesKey(
            "entsoe", "day_ahead_prices", "DE_LU", {"sequence": "1"}, "EUR/MWh", "PT60M"
        ),
        "price_fr": SeriesKey(
            "entsoe", "day_ahead_prices", "FR", {"sequence": "1"}, "EUR/MWh", "PT60M"
        ),
        "solar_de": SeriesKey(
            "entsoe", "generation_actual_per_type", "DE_LU", {"psr_type": "B16"}, "MW", "PT15M"
        ),
        "wind_de": SeriesKey(
            "entsoe", "generation_actual_per_type", "DE_LU", {"psr_type": "B19"}, "MW", "PT15M"
        ),
        "flow_de_fr": SeriesKey(
            "entsoe", "physical_flows", "DE_LU", {"area_to": "FR"}, "MW", "PT60M"
        ),
        "flow_de_nl": SeriesKey(
            "entsoe", "physical_flows", "DE_LU", {"area_to": "NL"}, "MW", "PT60M"
        ),
        "load_fi": SeriesKey("entsoe", "load_actual", "FI", {}, "MW", "PT60M"),
    }
    ids = dict(zip(keys, store.ensure_series(list(keys.values())), strict=True))
    t0 = SAMPLE_START
    published = t0 - 12 * _H
    prices = [50.0 + i for i in range(72)]
    store.upsert_observations(
        pa.concat_tables(
            [
                observations(ids["price_de"], t0, prices[:30], _H, published),
                observations(ids["price_de"], t0 + 34 * _H, prices[34:], _H, published + 24 * _H),
            ]
        )
    )
    store.upsert_observations(
        observations(ids["price_fr"], t0, [100.0 + i for i in range(48)], _H, published)
    )
    store.upsert_observations(observations(ids["solar_de"], t0, [float(i) for i in range(192)], _Q))
    store.upsert_observations(
        observations(ids["wind_de"], t0, [1000.0 + i for i in range(192)], _Q)
    )
    store.upsert_observations(observations(ids["flow_de_fr"], t0, [10.0] * 24, _H))
    store.upsert_observations(observations(ids["flow_de_nl"], t0, [20.0] * 24, _H))
    store.upsert_observations(
        observations(ids["load_fi"], t0, [1000.0 + i for i in range(24)], _H), known_at=t0 + 24 * _H
    )
    store.upsert_observations(
        observations(ids["load_fi"], t0, [2000.0 + i for i in range(12)], _H), known_at=t0 + 48 * _H
    )
    return ids


@dataclass
class RunningApi:
    """A server on loopback: its URL, an admin and a read key, and HTTP clients with them."""

    url: str
    services: Services
    admin_key: str
    read_key: str
    admin: httpx2.Client
    reader: httpx2.Client

    @property
    def store(self) -> Store:
        return self.services.store


@contextlib.contextmanager
def run_api(
    services: Services,
    *,
    options: ApiOptions | None = None,
    auth: bool = True,
    background: Sequence[BackgroundService] = (),
) -> Iterator[RunningApi]:
    """Serve ``create_app(services, …)`` in a thread until the block ends (``services`` stay
    open: the caller owns them). Creates two fresh keys, scopes admin and read."""
    tag = uuid.uuid4().hex[:8]
    _, admin_key = create_key(services.store, f"admin-{tag}", "admin")
    _, read_key = create_key(services.store, f"reader-{tag}", "read")
    app = create_app(services, auth=auth, background=background, options=options)
    with serve_in_thread(app) as url:
        admin = httpx2.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=60)
        reader = httpx2.Client(base_url=url, headers={"X-API-Key": read_key}, timeout=60)
        with admin, reader:
            yield RunningApi(url, services, admin_key, read_key, admin, reader)


__all__ = ["SAMPLE_START", "RunningApi", "observations", "run_api", "seed_sample"]
