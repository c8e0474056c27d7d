"""The composition root: settings → logging → store, shared by the CLI, API and scheduler.

Nothing here runs at import time; :func:`build_services` is called once per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gridvault.logs import configure_logging, register_secret
from gridvault.settings import Settings, load_settings
from gridvault.store import Store, open_store


@dataclass
class Services:
    """Long-lived objects of one process; the store is opened on first use."""

    settings: Settings
    _opened: list[Store] = field(default_factory=list)

    @cached_property
    def store(self) -> Store:
        opened = open_store(self.settings.database_url, timeout=self.settings.database_timeout)
        self._opened.append(opened)
        return opened

    def close(self) -> None:
        for opened in self._opened:
            opened.close()
        self._opened.clear()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def build_services(settings: Settings | None = None, **overrides: Any) -> Services:
    """Load settings (unless given), configure logging and secret redaction."""
    settings = settings or load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if settings.entsoe_token is not None:
        register_secret(settings.entsoe_token.get_secret_value())
    return Services(settings=settings)
