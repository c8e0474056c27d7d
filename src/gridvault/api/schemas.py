"""Response and request bodies of the REST API (what ``/docs`` shows).

Times are UTC instants, serialised as RFC 3339. Data rows themselves (``/data``,
``/latest``) are not modelled here: they are streamed by :mod:`gridvault.api.streaming`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gridvault.store.api_keys import MAX_RATE_LIMIT


class Detail(BaseModel):
    """Every error: one sentence a person can act on."""

    detail: str = Field(examples=["unknown area 'DE_XX'; did you mean DE_LU, DE_AT_LU?"])


class DatasetSummary(BaseModel):
    id: str = Field(description="Dataset id, e.g. day_ahead_prices.")
    description: str
    kind: str = Field(description="actual, forecast, auction, capacity, balancing or outage.")
    unit: str
    resolution: str = Field(description="Typical resolution (ISO 8601), e.g. PT15M.")
    forecast: bool = Field(description="True when values carry a publish time (as-of queries).")
    border: bool = Field(description="True when series are per border (filter with area_to).")
    stored_series: int = Field(description="Series of this dataset in this store.")
    stored_areas: list[str]


class AreaStats(BaseModel):
    area: str
    series: int
    rows: int
    earliest: datetime | None = Field(description="First stored interval_start (UTC).")
    latest: datetime | None = Field(description="Last stored interval_start (UTC).")
    last_update: datetime | None = Field(description="When a value was last inserted or changed.")


class DatasetDetail(DatasetSummary):
    earliest: datetime | None
    latest: datetime | None
    rows: int
    last_update: datetime | None
    areas: list[AreaStats]
    dimensions: dict[str, list[str]] = Field(
        description="Filters that split this dataset into series, with the stored values."
    )


class AreaOut(BaseModel):
    code: str = Field(description="Area code as entsoe-py spells it, e.g. DE_LU.")
    eic: str = Field(description="ENTSO-E EIC code.")
    name: str
    kind: list[str] = Field(description="bidding_zone, control_area, country, …")
    tz: str = Field(description="IANA time zone the area publishes in.")


class LastRunOut(BaseModel):
    """The collector's last fetches of one dataset and area (borders: all its borders)."""

    attempted_at: datetime | None = Field(description="When a fetch was last attempted.")
    succeeded_at: datetime | None
    failed_at: datetime | None
    healthy: bool = Field(description="The last attempt succeeded (or none ever failed).")
    error: str | None = Field(description="Why the last failed attempt failed.")
    window_start: datetime | None = Field(description="The last successful fetch's window.")
    window_end: datetime | None
    inserted: int | None = Field(description="Rows the last successful fetch inserted.")
    updated: int | None = Field(description="Rows it revised (the old values kept as history).")


class UpdateOut(BaseModel):
    dataset: str
    area: str
    series: int
    rows: int
    earliest: datetime | None
    latest: datetime | None = Field(description="Last stored interval_start (UTC).")
    last_update: datetime | None = Field(description="When a value was last inserted or changed.")
    rows_inserted: int = Field(description="Rows collection has inserted, in all.")
    rows_updated: int = Field(description="Rows collection has revised, in all.")
    last_run: LastRunOut | None = Field(
        description="Absent for data that was only imported, never collected."
    )


class GapOut(BaseModel):
    start: datetime
    end: datetime
    intervals: int


class SeriesCoverage(BaseModel):
    area: str
    dimensions: dict[str, str]
    resolution: str
    expected: int
    present: int
    missing: int
    completeness: float = Field(description="present / expected, 0..1.")
    gaps: list[GapOut] = Field(description="Runs of missing intervals (the first 1000).")
    gaps_total: int


class CoverageOut(BaseModel):
    dataset: str
    start: datetime
    end: datetime
    expected: int
    present: int
    completeness: float
    series: list[SeriesCoverage]


class CheckOut(BaseModel):
    ok: bool
    detail: str | None = None


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, CheckOut]


class LiveOut(BaseModel):
    status: Literal["alive"]


class KeyOut(BaseModel):
    key_id: int
    name: str
    scope: str
    rate_limit: int | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: Literal["read", "admin"] = "read"
    rate_limit: int | None = Field(
        default=None, ge=1, le=MAX_RATE_LIMIT, description="Requests per window."
    )


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. Shown once: it is stored only as a hash.")


__all__ = [
    "AreaOut",
    "AreaStats",
    "CheckOut",
    "CoverageOut",
    "DatasetDetail",
    "DatasetSummary",
    "Detail",
    "GapOut",
    "KeyCreate",
    "KeyCreated",
    "KeyOut",
    "LastRunOut",
    "LiveOut",
    "ReadyOut",
    "SeriesCoverage",
    "UpdateOut",
]
