"""Helpers shared by the CLI commands: services from the Typer context, time parsing."""

from __future__ import annotations

from datetime import datetime

import typer

from gridvault.services import Services, build_services
from gridvault.timegrid import parse_time


def services(ctx: typer.Context) -> Services:
    """The process's services, built once and closed when the command ends."""
    root = ctx.find_root()
    existing = root.obj if isinstance(root.obj, Services) else None
    if existing is None:
        overrides = root.meta.get("settings_overrides", {})
        existing = build_services(**overrides)
        root.obj = existing
        root.call_on_close(existing.close)
    return existing


def time_arg(text: str, tz: str) -> datetime:
    """A CLI time: exact with ``Z``/offset, otherwise wall-clock time in ``tz``."""
    return parse_time(text, tz)
