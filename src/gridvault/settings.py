"""Typed settings from the environment (prefix ``GRIDVAULT_``) and an optional ``.env`` file.

Nothing is read at import time: call :func:`load_settings` in the composition root.
Secrets are :class:`~pydantic.SecretStr`, so ``repr``, ``model_dump`` and logs show
``**********`` instead of the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridvault.errors import ConfigError

SUPPORTED_SCHEMES = ("duckdb", "postgresql", "postgres")


def default_data_dir() -> Path:
    """The per-user data directory (e.g. ``~/.local/share/gridvault`` on Linux)."""
    return Path(platformdirs.user_data_dir("gridvault", appauthor=False))


def default_database_url() -> str:
    path = str(default_data_dir() / "gridvault.duckdb")
    return "duckdb:///" + path.lstrip("/")


class Settings(BaseSettings):
    """All runtime configuration of gridvault."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDVAULT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = Field(default_factory=default_database_url)
    #: Seconds a PostgreSQL call waits for a connection before the database is reported
    #: unavailable (the API answers 503 instead of hanging).
    database_timeout: float = Field(default=5.0, gt=0, le=600)
    redis_url: str | None = None
    log_level: str = "INFO"
    log_format: str = "auto"  # auto | json | console
    entsoe_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GRIDVAULT_ENTSOE_TOKEN", "ENTSOE_API_KEY"),
    )
    entsoe_base_url: str = "https://web-api.tp.entsoe.eu/api"
    entsoe_rate_limit: int = Field(default=350, ge=1, le=10_000)
    #: Seconds an ENTSO-E response may take (large windows are slow); then it is retried.
    entsoe_timeout: float = Field(default=120.0, gt=0, le=3600)
    #: Worker processes that parse large responses (None: one per core but one, at most 4;
    #: 0: parse in the collecting process). See gridvault.pipeline.parsing.
    parse_processes: int | None = Field(default=None, ge=0, le=64)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SUPPORTED_SCHEMES:
            raise ValueError(
                f"GRIDVAULT_DATABASE_URL must start with duckdb:/// or postgresql://, got {scheme or value!r}"
            )
        return value

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in ("auto", "json", "console"):
            raise ValueError("GRIDVAULT_LOG_FORMAT must be auto, json or console")
        return value


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, turning validation errors into :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
