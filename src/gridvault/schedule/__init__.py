"""The collection schedule: a checked TOML file of jobs and the scheduler that runs it.

:mod:`~gridvault.schedule.config` reads and checks the file (``default.toml`` ships with
the package); :mod:`~gridvault.schedule.scheduler` runs it, in ``gridvault serve`` as a
background service or alone under ``gridvault run``. See ``docs/schedule.md``.
"""

from __future__ import annotations

from gridvault.schedule.config import (
    JobConfig,
    ScheduleConfig,
    ScheduleError,
    load_schedule,
    parse_cadence,
    parse_duration,
    parse_schedule,
)
from gridvault.schedule.scheduler import (
    JobRun,
    ManualClock,
    Scheduler,
    SystemClock,
    collection_range,
    first_due,
)

__all__ = [
    "JobConfig",
    "JobRun",
    "ManualClock",
    "ScheduleConfig",
    "ScheduleError",
    "Scheduler",
    "SystemClock",
    "collection_range",
    "first_due",
    "load_schedule",
    "parse_cadence",
    "parse_duration",
    "parse_schedule",
]
