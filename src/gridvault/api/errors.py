"""Every failure as a JSON ``{"detail": "..."}`` a person can act on, with the right status.

* :class:`~gridvault.errors.InputError` (unknown area, end before start, bad bucket, …) → 400,
  :class:`NotFoundError` (unknown dataset, nothing stored for the areas asked) → 404;
* request validation (a parameter of the wrong type or out of range) → 422, flattened into
  one sentence per problem instead of FastAPI's nested list;
* :class:`~gridvault.errors.StoreError` → 503 (the store is down or locked: retry later);
* :class:`~gridvault.errors.ConfigError` → 503 (this server is not set up for the request,
  e.g. collecting without an ENTSO-E token: its operator must act);
* anything else → 500 with a generic message naming the request id; the exception is
  logged with its traceback by :class:`gridvault.api.telemetry.RequestMiddleware`.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gridvault.errors import ConfigError, GridvaultError, InputError, StoreError
from gridvault.logs import get_logger, redact

log = get_logger("gridvault.api")


class NotFoundError(InputError):
    """The thing asked for does not exist (unknown dataset, no stored series)."""


def _where(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "request"
    kind, *rest = loc
    name = ".".join(str(part) for part in rest)
    labels = {"query": "query parameter", "path": "path parameter", "header": "header"}
    if kind in labels:
        return f"{labels[kind]} {name!r}" if name else str(labels[kind])
    if kind == "body":
        return f"body field {name!r}" if name else "request body"
    return ".".join(str(part) for part in loc)


def validation_message(exc: RequestValidationError) -> str:
    """``query parameter 'limit': Input should be greater than or equal to 1 (got '0')``."""
    problems = []
    for error in exc.errors():
        text = f"{_where(tuple(error.get('loc', ())))}: {error.get('msg', 'invalid')}"
        given = error.get("input")
        if isinstance(given, str | int | float) and error.get("type") != "missing":
            text += f" (got {str(given)[:80]!r})"
        problems.append(text)
    return "; ".join(problems) or "invalid request"


async def _input_error(_request: Request, exc: Exception) -> JSONResponse:
    status = 404 if isinstance(exc, NotFoundError) else 400
    return JSONResponse({"detail": redact(str(exc))}, status_code=status)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    message = validation_message(cast(RequestValidationError, exc))
    return JSONResponse({"detail": message}, status_code=422)


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable", path=request.url.path, error=redact(str(exc)))
    return JSONResponse(
        {"detail": f"the store is unavailable: {redact(str(exc))}"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _config_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("not configured for a request", path=request.url.path, error=redact(str(exc)))
    return JSONResponse(
        {"detail": f"this server is not set up for that: {redact(str(exc))}"}, status_code=503
    )


async def _gridvault_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("request failed", path=request.url.path, error=redact(str(exc)))
    return JSONResponse({"detail": redact(str(exc))}, status_code=500)


def internal_error_body(request_id: str) -> bytes:
    """The body of a 500: says nothing about internals, names the request to look up."""
    return (
        '{"detail":"internal error; it has been logged with request id '
        + request_id.replace('"', "")
        + '"}'
    ).encode()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(GridvaultError, _gridvault_error)


__all__ = ["NotFoundError", "install_error_handlers", "internal_error_body", "validation_message"]
