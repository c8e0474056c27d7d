"""Domain exceptions.

Every failure a user can cause or meet (bad input, an unreachable store, an upstream that
refuses) has its own exception type carrying a message a person can act on. The CLI turns
any :class:`GridvaultError` into a one-line message and a non-zero exit, without traceback.
"""

from __future__ import annotations


class GridvaultError(Exception):
    """Base of every expected, explainable failure."""

    exit_code: int = 1


class ConfigError(GridvaultError):
    """A setting is missing or invalid (wrong URL scheme, bad value)."""

    exit_code = 2


class InputError(GridvaultError):
    """A user-supplied argument is invalid (unknown area, end before start, bad date)."""

    exit_code = 2


class StoreError(GridvaultError):
    """The store cannot be opened or used (unreachable server, read-only file, lock held)."""

    exit_code = 3


class SchemaVersionError(StoreError):
    """The store's schema was written by a newer gridvault than this one."""


class ParseError(GridvaultError):
    """A payload is not a document we can read (malformed XML, unknown document type)."""

    exit_code = 4

    def __init__(self, message: str, *, source_name: str | None = None) -> None:
        self.source_name = source_name
        super().__init__(f"{source_name}: {message}" if source_name else message)


class UpstreamError(GridvaultError):
    """An upstream API answered with an error (its own text is carried along)."""

    exit_code = 5
