"""The collection schedule: a TOML file of jobs, checked into clear errors.

A schedule is a list of ``[[job]]`` tables (one dataset, some areas, a cadence) plus an
optional ``[defaults]`` table whose keys apply to every job that does not set them::

    [defaults]
    timezone = "Europe/Brussels"   # cron fields are wall-clock times here (CET/CEST)
    jitter = 60                    # seconds: each run starts up to this much later

    [[job]]
    name = "load_actual"
    dataset = "load_actual"
    areas = ["DE_LU", "NL"]
    cadence = "5,20,35,50 *"       # minute hour, like cron; or an interval such as "15m"
    lag = "PT1H"                   # how late ENTSO-E publishes a value
    revision_window = "P3D"        # re-fetched on every run, so revisions replace values

Durations are ISO 8601 (``PT15M``, ``PT1H``, ``P3D``, ``P1DT12H``) or short (``15m``,
``1h``, ``3d``); months and years are refused (their length varies). Everything is
checked when the file is loaded — unknown keys, datasets, areas, cadences, durations —
and every problem is reported at once as ``FILE:LINE: job 'NAME': what is wrong`` in a
:class:`ScheduleError`, so a broken file never starts a half-configured scheduler.

The file the package ships (:data:`DEFAULT_SCHEDULE`) is documented in ``docs/schedule.md``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gridvault.entsoe.catalog import Dataset, get_dataset
from gridvault.errors import ConfigError, GridvaultError
from gridvault.pipeline.collect import ACTUAL_KINDS, AreaSpec, parse_areas
from gridvault.timegrid import zone

#: Cron fields are read in this zone unless a job or ``[defaults]`` says otherwise:
#: ENTSO-E publishes on Central European time.
DEFAULT_TIMEZONE = "Europe/Brussels"
#: How far back a run may reach to fill gaps after downtime (longer gaps: ``gridvault
#: collect`` or a backfill).
DEFAULT_MAX_CATCH_UP = timedelta(days=31)
MAX_JITTER_SECONDS = 3600.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ISO = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_SHORT = re.compile(r"^(?P<count>\d+)\s*(?P<unit>s|m|min|h|d|w)$")
_SHORT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ScheduleError(ConfigError):
    """A schedule file that cannot be used; ``problems`` are ``FILE:LINE: …`` lines."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[:20]
        more = len(self.problems) - len(shown)
        text = "\n  ".join(shown) + (f"\n  … and {more} more" if more else "")
        count = len(self.problems)
        super().__init__(
            f"invalid schedule {source} ({count} problem{'s' if count != 1 else ''}):\n  {text}"
        )


# -- durations and cadences ------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """``PT1H``, ``P3D``, ``P1DT12H``, ``PT0S`` or ``15m``/``1h``/``3d``/``0`` → timedelta.

    >>> parse_duration("P3D")
    datetime.timedelta(days=3)
    >>> parse_duration("15m")
    datetime.timedelta(seconds=900)
    """
    cleaned = text.strip()
    if cleaned == "0":
        return timedelta(0)
    iso = _ISO.match(cleaned.upper())
    if iso and cleaned.upper() not in ("P", "PT") and not cleaned.upper().endswith("T"):
        parts = {k: int(v) if v else 0 for k, v in iso.groupdict().items()}
        return timedelta(
            weeks=parts["weeks"],
            days=parts["days"],
            hours=parts["hours"],
            minutes=parts["minutes"],
            seconds=parts["seconds"],
        )
    short = _SHORT.match(cleaned.lower())
    if short:
        return timedelta(seconds=int(short["count"]) * _SHORT_SECONDS[short["unit"]])
    if re.match(r"^P.*\d+[MY]", cleaned.upper().split("T")[0]):
        raise ValueError(
            f"{text!r}: months and years have no fixed length; use days, e.g. P31D or P365D"
        )
    raise ValueError(f"{text!r} is not a duration; use ISO 8601 (PT1H, P3D) or 15m, 1h, 3d")


def format_duration(value: timedelta) -> str:
    """The ISO 8601 spelling :func:`parse_duration` reads back.

    >>> format_duration(timedelta(days=1, hours=12))
    'P1DT12H'
    """
    total = int(value.total_seconds())
    if total == 0:
        return "PT0S"
    sign = "-" if total < 0 else ""
    days, rest = divmod(abs(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time_part = "".join(
        f"{count}{unit}" for count, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if count
    )
    return f"{sign}P{f'{days}D' if days else ''}{f'T{time_part}' if time_part else ''}"


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError("a duration is a text such as 'PT1H' or '3d'")  # noqa: TRY004 - pydantic wants ValueError
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _field_values(text: str, low: int, high: int, what: str) -> tuple[int, ...]:
    """One cron field: ``*``, ``*/15``, ``5``, ``1-5``, ``0-30/10``, comma lists of these."""
    values: set[int] = set()
    for raw_part in text.split(","):
        part = raw_part.strip()
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
        except ValueError:
            raise ValueError(f"{what} field {text!r}: step {step_text!r} is not a number") from None
        if step < 1:
            raise ValueError(f"{what} field {text!r}: the step must be at least 1")
        if base == "*":
            first, last = low, high
        else:
            first_text, dash, last_text = base.partition("-")
            try:
                first = int(first_text)
                last = int(last_text) if dash else (high if step_text else first)
            except ValueError:
                raise ValueError(
                    f"{what} field {text!r}: use numbers, '*', ranges a-b and steps */n"
                ) from None
        if not low <= first <= last <= high:
            raise ValueError(f"{what} field {text!r}: values must lie in {low}..{high}")
        values.update(range(first, last + 1, step))
    return tuple(sorted(values))


@dataclass(frozen=True)
class CronCadence:
    """Wall-clock times in ``tz`` (``minute hour`` cron fields), DST-aware.

    A time that does not exist on a spring-forward day runs that much later (02:30 → 03:30
    CEST); a time that happens twice on a fall-back day runs once, at its first occurrence,
    unless the job runs every hour, in which case both hours run (no hour without a tick).
    """

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    tz: str

    def _day(self, day: date) -> list[datetime]:
        tzinfo = zone(self.tz)
        every_hour = len(self.hours) == 24
        found: set[datetime] = set()
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime(day.year, day.month, day.day, hour, minute)  # noqa: DTZ001 - wall time, zone added below
                first = wall.replace(tzinfo=tzinfo, fold=0).astimezone(UTC)
                found.add(first)
                if every_hour:
                    second = wall.replace(tzinfo=tzinfo, fold=1).astimezone(UTC)
                    if second != first and second.astimezone(tzinfo).replace(tzinfo=None) == wall:
                        found.add(second)
        return sorted(found)

    def _ticks(self, around: datetime, before: int, after: int) -> Iterator[datetime]:
        local = around.astimezone(zone(self.tz)).date()
        for offset in range(-before, after + 1):
            yield from self._day(local + timedelta(days=offset))

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``."""
        return min(t for t in self._ticks(moment, 1, 3) if t > moment)

    def previous(self, moment: datetime) -> datetime:
        """The last tick at or before ``moment``."""
        return max(t for t in self._ticks(moment, 3, 1) if t <= moment)

    def describe(self) -> str:
        return f"cron '{self.text}' ({self.tz})"


@dataclass(frozen=True)
class IntervalCadence:
    """Every ``every``, on multiples of it since 1970-01-01T00:00Z (``15m`` → :00, :15, …)."""

    text: str
    every: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return self.previous(moment) + self.every

    def previous(self, moment: datetime) -> datetime:
        step = self.every.total_seconds()
        count = (moment - _EPOCH).total_seconds() // step
        return _EPOCH + timedelta(seconds=count * step)

    def describe(self) -> str:
        return f"every {self.text}"


Cadence = CronCadence | IntervalCadence


@cache
def parse_cadence(text: str, tz: str = DEFAULT_TIMEZONE) -> Cadence:
    """``"15 13"`` (13:15 every day in ``tz``), ``"*/15 *"``, ``"5 0-23/2"`` or ``"15m"``.

    >>> parse_cadence("15m").next_after(datetime(2025, 1, 1, 10, 7, tzinfo=UTC)).minute
    15
    """
    cleaned = " ".join(text.split())
    if _SHORT.match(cleaned.lower()):
        every = parse_duration(cleaned)
        if every < timedelta(minutes=1):
            raise ValueError(f"{text!r}: run at most once a minute")
        return IntervalCadence(cleaned, every)
    fields = cleaned.split(" ")
    if len(fields) != 2:
        raise ValueError(
            f"{text!r}: give 'MINUTE HOUR' cron fields (e.g. '15 13' or '*/15 *') "
            "or an interval such as '15m' or '1h'"
        )
    zone(tz)
    return CronCadence(
        cleaned,
        _field_values(fields[0], 0, 59, "minute"),
        _field_values(fields[1], 0, 23, "hour"),
        tz,
    )


# -- the model -------------------------------------------------------------------------------

_FIXED_KEYS = ("name", "dataset", "areas", "cadence")


class JobConfig(BaseModel):
    """One scheduled collection job: a dataset for some areas on a cadence.

    Each run fetches, per area, from the first gap in what was collected recently (at most
    ``max_catch_up`` back; ``lag`` before the end of each collected window counts as not yet
    complete) or ``now - max(revision_window, lag)``, whichever is earlier, up to
    ``now + horizon`` (actual data: up to now).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: str
    areas: tuple[str, ...] = Field(min_length=1)
    timezone: str = DEFAULT_TIMEZONE
    cadence: str
    lag: Duration = timedelta(0)
    horizon: Duration = timedelta(0)
    revision_window: Duration = timedelta(0)
    max_catch_up: Duration = DEFAULT_MAX_CATCH_UP
    jitter: float = Field(default=0.0, ge=0.0, le=MAX_JITTER_SECONDS)
    params: dict[str, str] = Field(default_factory=dict)
    max_window: str | None = None
    enabled: bool = True
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"name {value!r}: use letters, digits, '_', '.', '-' (at most 64 characters)"
            )
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        try:
            return get_dataset(value).name
        except GridvaultError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("areas")
    @classmethod
    def _areas(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        name = info.data.get("dataset")
        if not isinstance(name, str):
            return value  # the dataset is reported; areas cannot be checked without it
        try:
            return tuple(spec.label for spec in parse_areas(get_dataset(name), list(value)))
        except GridvaultError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zone(value)
        except GridvaultError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, value: str, info: ValidationInfo) -> str:
        tz = info.data.get("timezone")
        if isinstance(tz, str):  # else the time zone is reported
            parse_cadence(value, tz)
        return value

    @field_validator("max_window")
    @classmethod
    def _max_window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, str]) -> dict[str, str]:
        if any(name.lower() == "securitytoken" for name in value):
            raise ValueError("the token comes from the settings, never from the schedule")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JobConfig:
        dataset = self.dataset_info
        for name in ("lag", "horizon", "revision_window", "max_catch_up"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name}: must not be negative")
        if dataset.kind in ACTUAL_KINDS and self.lookback <= timedelta(0):
            raise ValueError(
                f"revision_window: {dataset.name} holds {dataset.kind} data, which only exists "
                "for the past: give a revision_window or lag (e.g. revision_window = 'P3D')"
            )
        if self.max_catch_up < self.lookback:
            raise ValueError("max_catch_up: must be at least revision_window and lag")
        return self

    @property
    def dataset_info(self) -> Dataset:
        return get_dataset(self.dataset)

    @property
    def area_specs(self) -> tuple[AreaSpec, ...]:
        return tuple(parse_areas(self.dataset_info, list(self.areas)))

    @property
    def schedule(self) -> Cadence:
        return parse_cadence(self.cadence, self.timezone)

    @property
    def lookback(self) -> timedelta:
        """How far back every run reaches at least: revisions and late publications."""
        return max(self.revision_window, self.lag)


@dataclass(frozen=True)
class ScheduleConfig:
    """A loaded, checked schedule."""

    source: str
    jobs: tuple[JobConfig, ...]

    @property
    def enabled(self) -> tuple[JobConfig, ...]:
        return tuple(job for job in self.jobs if job.enabled)

    def job(self, name: str) -> JobConfig:
        for job in self.jobs:
            if job.name == name:
                return job
        names = [job.name for job in self.jobs]
        matches = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(matches)}?" if matches else ""
        raise ConfigError(f"no job {name!r} in the schedule {self.source}{hint}")


# -- loading ---------------------------------------------------------------------------------


def default_schedule_file() -> Traversable:
    """The schedule shipped with gridvault (see ``docs/schedule.md``)."""
    return resources.files("gridvault.schedule") / "default.toml"


def load_schedule(path: str | Path | None = None) -> ScheduleConfig:
    """Read and check a schedule file (``None``: the shipped default)."""
    if path is None:
        source = default_schedule_file()
        return parse_schedule(source.read_text("utf-8"), source="default.toml (built in)")
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ScheduleError(str(file), [f"{file}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScheduleError(str(file), [f"{file}:{line}: not UTF-8 text"]) from None
    return parse_schedule(text, source=str(file))


class _Lines:
    """Line numbers of tables and keys in TOML text (tomllib keeps none)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.jobs: list[int] = []
        self.defaults: int | None = None
        self.headers: list[int] = []
        for number, line in enumerate(self.lines, 1):
            stripped = line.strip()
            if stripped.startswith("["):
                self.headers.append(number)
                if re.match(r"^\[\[\s*job\s*\]\]", stripped):
                    self.jobs.append(number)
                elif re.match(r"^\[\s*defaults\s*\]", stripped):
                    self.defaults = number

    def key(self, header: int | None, key: str) -> int | None:
        """The line of ``key = …`` in the table starting at ``header`` (else the header)."""
        if header is None:
            return None
        following = [h for h in self.headers if h > header]
        end = following[0] if following else len(self.lines) + 1
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in range(header + 1, end):
            if pattern.match(self.lines[number - 1]):
                return number
        return header

    def top_key(self, key: str) -> int | None:
        end = self.headers[0] if self.headers else len(self.lines) + 1
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=.]")
        for number in range(1, end):
            if pattern.match(self.lines[number - 1]):
                return number
        return self.headers[0] if key in ("job", "defaults") and self.headers else None


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


def _message(error: Mapping[str, Any]) -> tuple[str | None, str]:
    """(the key it is about, a readable message) for one pydantic error."""
    loc = [str(part) for part in error.get("loc", ())]
    key = loc[0] if loc else None
    kind = error.get("type", "")
    text = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if key is None:
        named = re.match(r"^(\w+): ", text)
        if named and named.group(1) in JobConfig.model_fields:
            return named.group(1), text
    if kind == "extra_forbidden":
        known = [*JobConfig.model_fields]
        matches = difflib.get_close_matches(key or "", known, n=1)
        hint = f"; did you mean {matches[0]!r}?" if matches else f"; known keys: {', '.join(known)}"
        return key, f"unknown key {key!r}{hint}"
    if kind == "missing":
        return key, f"missing key {key!r}"
    where = ".".join(loc)
    if where and not text.startswith(f"{where}:"):
        text = f"{where}: {text}"
    return key, text


def parse_schedule(text: str, *, source: str = "<schedule>") -> ScheduleConfig:
    """Check schedule TOML text; raises :class:`ScheduleError` listing every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        where = f"{source}:{found.group(1)}:{found.group(2)}" if found else source
        raise ScheduleError(source, [f"{where}: not valid TOML: {reason}"]) from None
    lines = _Lines(text)
    problems: list[str] = []
    for key in document:
        if key not in ("job", "defaults"):
            problems.append(
                f"{_where(source, lines.top_key(key))}: unknown top-level key {key!r}; "
                "use [defaults] and [[job]] tables"
            )
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(f"{_where(source, lines.top_key('defaults'))}: defaults must be a table")
        defaults = {}
    for key in defaults:
        if key in _FIXED_KEYS or key not in JobConfig.model_fields:
            matches = difflib.get_close_matches(key, list(JobConfig.model_fields), n=1)
            why = "is set per job" if key in _FIXED_KEYS else "is not a job setting"
            why += f"; did you mean {matches[0]!r}?" if matches and key not in _FIXED_KEYS else ""
            problems.append(
                f"{_where(source, lines.key(lines.defaults, key))}: [defaults] {key!r} {why}"
            )
    defaults = {k: v for k, v in defaults.items() if k in JobConfig.model_fields}
    defaults = {k: v for k, v in defaults.items() if k not in _FIXED_KEYS}
    raw_jobs = document.get("job", [])
    if isinstance(raw_jobs, dict):
        problems.append(
            f"{_where(source, lines.top_key('job'))}: write each job as a [[job]] table "
            "(double brackets), not [job]"
        )
        raw_jobs = []
    if not raw_jobs and not problems:
        problems.append(f"{source}: no jobs; add at least one [[job]] table")
    jobs: list[JobConfig] = []
    seen: dict[str, int | None] = {}
    for index, raw in enumerate(raw_jobs):
        header = lines.jobs[index] if index < len(lines.jobs) else None
        label = f"job #{index + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{_where(source, header)}: {label} is not a table")
            continue
        job_name = raw.get("name")
        if isinstance(job_name, str):
            label = f"job {job_name!r}"
            if job_name in seen:
                first = seen[job_name]
                problems.append(
                    f"{_where(source, lines.key(header, 'name'))}: {label}: the name is already "
                    "used" + (f" on line {first}" if first else "")
                )
            seen.setdefault(job_name, lines.key(header, "name"))
        merged = {**defaults, **raw}
        try:
            job = JobConfig.model_validate(merged)
        except ValidationError as exc:
            for error in exc.errors():
                about, message = _message(error)
                line = lines.key(header, about) if about and about in raw else header
                if about and about not in raw and about in defaults:
                    line = lines.key(lines.defaults, about)
                problems.append(f"{_where(source, line)}: {label}: {message}")
            continue
        jobs.append(job)
    if problems:
        raise ScheduleError(source, problems)
    return ScheduleConfig(source, tuple(jobs))


__all__ = [
    "DEFAULT_MAX_CATCH_UP",
    "DEFAULT_TIMEZONE",
    "Cadence",
    "CronCadence",
    "IntervalCadence",
    "JobConfig",
    "ScheduleConfig",
    "ScheduleError",
    "default_schedule_file",
    "format_duration",
    "load_schedule",
    "parse_cadence",
    "parse_duration",
    "parse_schedule",
]
