"""Running the app under uvicorn: the ``gridvault serve`` configuration, and a background
thread on a free loopback port (tests, benchmarks, notebooks).

One worker, always: in embedded mode the DuckDB file admits one process, and the API,
scheduler and collectors share it. Scale out with PostgreSQL and more replicas instead.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from gridvault.errors import GridvaultError
from gridvault.logs import get_logger

log = get_logger("gridvault.api.server")
#: How long stopping waits for the server thread.
STOP_SECONDS = 30.0


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def uvicorn_config(
    app: FastAPI, host: str, port: int, *, log_level: str = "info"
) -> uvicorn.Config:
    """uvicorn settings: one worker, our logging (``log_config=None``), our access log."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        log_config=None,
        log_level=log_level.lower(),
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a daemon thread; yields its base URL, stops it on exit.

    ``port=0`` takes a free port. Raises :class:`GridvaultError` when the app fails to start
    (its lifespan raised), and when it does not stop within :data:`STOP_SECONDS` (a task of
    its loop that does not end when cancelled; logged instead if the block raised).
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, host, bound_port, log_level="warning"))

    def run() -> None:
        # uvicorn ends a failed start with sys.exit(); in a thread that is just an ending.
        with contextlib.suppress(SystemExit):
            server.run(sockets=[sock])

    thread = threading.Thread(target=run, name="gridvault-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise GridvaultError("the API server did not start (see the log)")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_SECONDS)
        sock.close()
        if thread.is_alive():
            message = (
                f"the API server did not stop within {STOP_SECONDS:g} s: a task of its event "
                "loop does not end when cancelled"
            )
            if sys.exc_info()[1] is None:
                raise GridvaultError(message)
            log.error(message)


__all__ = ["is_loopback", "serve_in_thread", "uvicorn_config"]
