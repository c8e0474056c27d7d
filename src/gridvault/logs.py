"""Structured logging with structlog.

JSON lines when stderr is not a terminal (services, CI), a readable console format on a
terminal. Context such as ``source``, ``dataset``, ``area`` and ``job`` is bound with
:func:`bind` (contextvars) and appears on every line logged inside that context. A final
processor redacts anything that looks like a secret value or a ``securityToken`` query
parameter or an API key (``gvk_…``), so neither can reach a log line by accident.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_TOKEN_IN_URL = re.compile(r"(securityToken=)[^&\s'\"]+", re.IGNORECASE)
# API keys (gridvault.store.api_keys.new_key: "gvk_" + 43 URL-safe characters) are known by
# their prefix, so one misplaced where nobody registered it (a URL, an error) is masked too.
_API_KEY = re.compile(r"gvk_[A-Za-z0-9_-]{20,}")
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it would be logged."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """Mask registered secrets, API keys and ``securityToken=`` values inside ``text``."""
    text = _TOKEN_IN_URL.sub(r"\1***", text)
    text = _API_KEY.sub("gvk_***", text)
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def _redacted(value: Any) -> Any:
    """``value`` with every string in it redacted (also inside dicts, lists and tuples)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(item) for item in value)
    return value


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = _redacted(value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and the stdlib root logger once, at the composition root."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: Iterable[Any] = (
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    )
    # Tracebacks become text first, then everything is redacted: an exception's message
    # (an upstream URL, a rejected key) is in the traceback too.
    redacted: Iterable[Any] = (structlog.processors.format_exc_info, _redact_processor)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, *redacted, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Resolve sys.stderr at each use, not once: it may be replaced (tests, daemons).
        logger_factory=lambda *_args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library (uvicorn, httpx2 with request URLs):
    # render them the same way, and redacted.
    handler = _CurrentStderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *redacted,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    root = logging.getLogger()
    for old_handler in list(root.handlers):
        root.removeHandler(old_handler)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # One line per HTTP request from the client library is noise at INFO; warnings stay.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` becomes the ``logger`` field."""
    return structlog.get_logger(name) if name else structlog.get_logger()


bind = structlog.contextvars.bind_contextvars
unbind = structlog.contextvars.unbind_contextvars
bound = structlog.contextvars.bound_contextvars
