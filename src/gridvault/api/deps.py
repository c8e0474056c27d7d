"""Dependencies of the route handlers, as ``Annotated`` aliases so signatures stay short.

Also the parameters several data routes share (areas, time range, dimension filters), parsed
once here with the query layer's rules: areas as codes or EICs (any case, suggestions on a
typo), naive times in the first area's local time, end after start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Path, Query, Request

from gridvault.api.auth import Principal, require_admin, require_read
from gridvault.api.errors import NotFoundError
from gridvault.api.state import ApiState, api_state
from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import Dataset, get_dataset
from gridvault.errors import InputError
from gridvault.query import area_codes
from gridvault.store import Series, Store
from gridvault.timegrid import parse_time, zone

T = TypeVar("T")

State = Annotated[ApiState, Depends(api_state)]
ReadAccess = Annotated[Principal, Depends(require_read)]
AdminAccess = Annotated[Principal, Depends(require_admin)]


def get_store(state: State) -> Store:
    return state.services.store


StoreDep = Annotated[Store, Depends(get_store)]


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking (store) call in the thread pool."""
    return await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))


def dataset_from_path(
    dataset: Annotated[str, Path(description="Dataset id, e.g. day_ahead_prices.")],
) -> Dataset:
    try:
        return get_dataset(dataset)
    except InputError as exc:
        raise NotFoundError(str(exc)) from None


DatasetDep = Annotated[Dataset, Depends(dataset_from_path)]

#: Dimensions that split datasets into series, usable as filters (``psr_type=B16``).
DIMENSION_FILTERS = (
    "area_to",
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


def dimension_filters(
    *,
    area_to: Annotated[
        str | None, Query(description="Border datasets: the area the flow goes to.")
    ] = None,
    measure: Annotated[str | None, Query(description="e.g. price, quantity, min, max.")] = None,
    process_type: Annotated[
        str | None, Query(description="ENTSO-E process type, e.g. A01.")
    ] = None,
    business_type: Annotated[str | None, Query(description="ENTSO-E business type.")] = None,
    psr_type: Annotated[str | None, Query(description="Production type, e.g. B16 (solar).")] = None,
    sequence: Annotated[str | None, Query(description="Auction sequence, e.g. 1.")] = None,
    contract_type: Annotated[str | None, Query(description="Contract type, e.g. A01.")] = None,
    direction: Annotated[str | None, Query(description="Balancing direction, e.g. A01.")] = None,
    category: Annotated[str | None, Query(description="Price category.")] = None,
    resource: Annotated[str | None, Query(description="Unit (resource) EIC.")] = None,
) -> dict[str, str]:
    given = {
        "measure": measure,
        "process_type": process_type,
        "business_type": business_type,
        "psr_type": psr_type,
        "sequence": sequence,
        "contract_type": contract_type,
        "direction": direction,
        "category": category,
        "resource": resource,
    }
    filters = {name: value.strip() for name, value in given.items() if value and value.strip()}
    if area_to and area_to.strip():
        filters["area_to"] = lookup_area(area_to).code
    return filters


Filters = Annotated[dict[str, str], Depends(dimension_filters)]


def split_areas(values: list[str] | None) -> list[str]:
    """Areas from repeated and/or comma-separated parameters, canonical codes, no repeats."""
    raw = [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
    return list(dict.fromkeys(area_codes(raw))) if raw else []


def check_tz(tz: str | None) -> str | None:
    if tz is None or not tz.strip():
        return None
    zone(tz.strip())
    return tz.strip()


def reject_unknown_parameters(request: Request, known: set[str]) -> None:
    """A misspelt parameter is an error, not silently ignored (it would widen the answer)."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InputError(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


async def refuse_nul(request: Request) -> None:
    """Refuse NUL characters in the path, the query and a JSON body: they can be sent
    (``%00``, ``\\u0000``) but never mean anything here, and PostgreSQL cannot even compare
    text holding one (it would answer 500 where DuckDB answers 404)."""
    where = None
    if "\x00" in request.scope["path"]:
        where = "the path"
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            where = f"query parameter {name.replace(chr(0), '')!r}"
    if request.method not in ("GET", "HEAD") and (body := await request.body()):
        try:
            document = json.loads(body)
        except ValueError:
            document = None  # not JSON: the body's own validation explains it
        if any("\x00" in text for text in _strings(document)):
            where = "the request body"
    if where is not None:
        raise InputError(f"NUL characters (\\x00) are not allowed in {where}")


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    local_tz: str


def time_range(start: str, end: str, areas: list[str]) -> TimeRange:
    """``[start, end)``: exact with ``Z``/offset, else wall-clock time of the first area."""
    local_tz = lookup_area(areas[0]).tz if areas else "UTC"
    begin, finish = parse_time(start, local_tz), parse_time(end, local_tz)
    if finish <= begin:
        raise InputError(
            f"end {finish.isoformat()} is not after start {begin.isoformat()} "
            "(ranges are [start, end))"
        )
    return TimeRange(begin, finish, local_tz)


def optional_time(text: str | None, tz: str, name: str) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_time(text, tz)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


async def find_series(
    store: Store, dataset: Dataset, areas: list[str], filters: dict[str, str]
) -> list[Series]:
    """The stored series asked for; none at all is a 404 that says what *is* stored."""
    if dataset.outage:
        raise InputError(
            f"{dataset.name} holds outage events, not time series; it is not served by the "
            "time-series endpoints"
        )
    found = await in_thread(
        store.find_series, dataset=dataset.name, area=areas or None, dimensions=filters
    )
    if found:
        return sorted(found, key=lambda s: s.series_id)
    stored = await in_thread(store.find_series, dataset=dataset.name)
    where = f" for area(s) {', '.join(areas)}" if areas else ""
    with_filters = (
        " with " + ", ".join(f"{k}={v}" for k, v in sorted(filters.items())) if filters else ""
    )
    if not stored:
        raise NotFoundError(f"nothing stored yet for dataset {dataset.name}")
    stored_areas = sorted({s.area for s in stored})
    hint = f"; stored areas: {', '.join(stored_areas[:30])}"
    if filters and areas and any(s.area in areas for s in stored):
        dims = sorted(
            {f"{k}={v}" for s in stored if s.area in areas for k, v in s.dimensions.items()}
        )
        hint = f"; stored for these areas: {', '.join(dims[:30])}"
    raise NotFoundError(f"no stored series of {dataset.name}{where}{with_filters}{hint}")


__all__ = [
    "DIMENSION_FILTERS",
    "AdminAccess",
    "DatasetDep",
    "Filters",
    "ReadAccess",
    "State",
    "StoreDep",
    "TimeRange",
    "check_tz",
    "find_series",
    "in_thread",
    "optional_time",
    "refuse_nul",
    "reject_unknown_parameters",
    "split_areas",
    "time_range",
]
