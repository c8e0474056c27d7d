"""``gridvault status``: collection health per dataset/area and the schedule's last runs.

Per dataset and area (or border): when a window was last collected successfully, how far
the newest stored value lags behind now (negative: forecasts reaching ahead), values
inserted and revised, failed windows, upstream HTTP status codes, the last error; then per
scheduled job its last start, finish and outcome. Read-only; ``--format json`` for scripts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from gridvault.cli.common import services
from gridvault.entsoe.catalog import get_dataset
from gridvault.errors import InputError
from gridvault.metrics import Freshness, data_freshness, is_running
from gridvault.store.collection_state import (
    CollectionStatus,
    ScheduleState,
    schedule_states,
    statuses,
)
from gridvault.timegrid import rfc3339

FORMATS = ("table", "json")


def duration_text(seconds: float | None) -> str:
    """``3d 4h``, ``2h 05m``, ``4m 10s``, ``-1d 2h`` (ahead); ``-`` when unknown.

    >>> duration_text(3725)
    '1h 02m'
    """
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    left = int(abs(seconds))
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _collection_rows(
    rows: list[CollectionStatus], fresh: list[Freshness], now: datetime
) -> list[dict[str, Any]]:
    by_key = {(f.dataset, f.area, f.area_to): f for f in fresh}
    result: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str | None]] = set()
    for row in rows:
        key = (row.dataset, row.area, row.area_to)
        seen.add(key)
        latest = by_key.get(key)
        result.append(
            {
                "dataset": row.dataset,
                "area": row.area,
                "area_to": row.area_to,
                "last_success": _time(row.last_success_at),
                "last_attempt": _time(row.last_attempt_at),
                "last_failure": _time(row.last_failure_at),
                "healthy": row.healthy,
                "latest_interval_end": _time(latest.latest_end if latest else None),
                "freshness_lag_seconds": latest.lag_seconds(now) if latest else None,
                "points_inserted": row.points_inserted,
                "points_updated": row.points_updated,
                "revisions": row.points_updated,
                "points_unchanged": row.points_unchanged,
                "requests": row.requests,
                "failures": row.failures,
                "empty_windows": row.empty_windows,
                "status_codes": dict(sorted(row.status_codes.items())),
                "last_error": row.last_error,
            }
        )
    for item in fresh:  # data stored without the collector (imports): freshness only
        if (item.dataset, item.area, item.area_to) in seen:
            continue
        result.append(
            {
                "dataset": item.dataset,
                "area": item.area,
                "area_to": item.area_to,
                "last_success": None,
                "last_attempt": None,
                "last_failure": None,
                "healthy": True,
                "latest_interval_end": _time(item.latest_end),
                "freshness_lag_seconds": item.lag_seconds(now),
                "points_inserted": 0,
                "points_updated": 0,
                "revisions": 0,
                "points_unchanged": 0,
                "requests": 0,
                "failures": 0,
                "empty_windows": 0,
                "status_codes": {},
                "last_error": None,
            }
        )
    result.sort(key=lambda r: (r["dataset"], r["area"], r["area_to"] or ""))
    return result


def _schedule_rows(states: dict[str, ScheduleState]) -> list[dict[str, Any]]:
    return [
        {
            "job": name,
            "last_started": _time(state.last_started_at),
            "last_finished": _time(state.last_finished_at),
            "running": is_running(state),
            "last_outcome": state.last_outcome,
            "last_error": state.last_error,
            "runs": state.runs,
        }
        for name, state in sorted(states.items())
    ]


def _seconds(text: str | None) -> str:
    """An RFC 3339 time to whole seconds, for the table."""
    if text is None:
        return "never"
    return rfc3339(datetime.fromisoformat(text.replace("Z", "+00:00")).replace(microsecond=0))


def _ago(text: str | None, now: datetime) -> str:
    if text is None:
        return "never"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return f"{_seconds(text)} ({duration_text((now - moment).total_seconds())} ago)"


def _print_table(
    collection: list[dict[str, Any]], schedule: list[dict[str, Any]], now: datetime
) -> None:
    typer.echo(f"status at {rfc3339(now)}")
    if not collection:
        typer.echo("nothing collected yet (gridvault collect, gridvault run)")
    header = (
        f"{'dataset':<30} {'area':<12} {'last success':<22} {'lag':>9} {'inserted':>9} "
        f"{'revisions':>9} {'failures':>8}  status codes"
    )
    if collection:
        typer.echo(header)
    for row in collection:
        area = row["area"] + (f">{row['area_to']}" if row["area_to"] else "")
        codes = " ".join(f"{code}:{count}" for code, count in row["status_codes"].items())
        success = _seconds(row["last_success"])
        typer.echo(
            f"{row['dataset']:<30} {area:<12} {success:<22} "
            f"{duration_text(row['freshness_lag_seconds']):>9} {row['points_inserted']:>9} "
            f"{row['revisions']:>9} {row['failures']:>8}  {codes or '-'}"
        )
        if not row["healthy"] and row["last_error"]:
            typer.echo(f"  last failure {_seconds(row['last_failure'])}: {row['last_error']}")
    typer.echo("")
    if not schedule:
        typer.echo("schedule: no runs recorded (gridvault run)")
        return
    typer.echo("schedule:")
    for item in schedule:
        state = "running" if item["running"] else (item["last_outcome"] or "-")
        typer.echo(
            f"  {item['job']}: {state}, last started {_ago(item['last_started'], now)}, "
            f"{item['runs']} run(s)"
        )
        if item["last_error"]:
            typer.echo(f"    last error: {item['last_error']}")


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_command(
        ctx: typer.Context,
        dataset: Annotated[
            str | None, typer.Option(help="Only this dataset, e.g. load_actual.")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    ) -> None:
        """Collection health per dataset/area and the schedule's last runs.

        Lag is now minus the end of the newest stored value (negative: forecasts reach
        ahead); revisions are stored values that changed (the old ones are in the history).
        """
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        name = get_dataset(dataset).name if dataset else None
        store = services(ctx).store
        now = datetime.now(UTC).replace(microsecond=0)
        collection = _collection_rows(
            statuses(store, dataset=name), data_freshness(store, dataset=name), now
        )
        schedule = _schedule_rows(schedule_states(store))
        if fmt == "json":
            typer.echo(
                json.dumps(
                    {"generated_at": rfc3339(now), "collection": collection, "schedule": schedule},
                    indent=2,
                )
            )
            return
        _print_table(collection, schedule, now)
