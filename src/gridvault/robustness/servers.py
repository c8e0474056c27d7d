"""Private PostgreSQL and Redis servers that a test may stop, kill and start again.

The shared servers of a machine are never restarted (other people's tests use them): a
restart test starts its own. :class:`PrivatePostgres` is a throwaway cluster (``initdb`` into
a temporary folder, ``pg_ctl`` on a free loopback port, trust authentication); initdb refuses
to run as root, so as root the cluster belongs to the ``postgres`` OS user (``runuser``).
:class:`PrivateRedis` is ``redis-server`` without persistence. Both keep their port across
restarts, so clients find them again at the same URL.

:class:`ServerUnavailable` says which binary or user is missing; the tests turn it into a
failure under CI and a skip elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from gridvault.errors import GridvaultError

_PG_BINDIRS = ("/usr/lib/postgresql/*/bin",)


class ServerUnavailable(GridvaultError):
    """A private server cannot be started here (a binary or the OS user is missing)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; :class:`GridvaultError` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if time.monotonic() > deadline:
            raise GridvaultError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")
        time.sleep(0.02)


def postgres_bindir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (newest installed PostgreSQL)."""
    found = sorted(
        (p for pattern in _PG_BINDIRS for p in Path("/").glob(pattern.lstrip("/"))),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for folder in reversed(found):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise ServerUnavailable("PostgreSQL's initdb/pg_ctl are not installed")


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (superuser ``postgres``, trust auth)."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise ServerUnavailable("running as root needs runuser to start PostgreSQL")
            try:
                import pwd  # noqa: PLC0415 - POSIX only

                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable("no 'postgres' OS user to own the cluster") from None
            self._as = ["runuser", "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="gridvault-pg-"))
        if self._as:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        """The ``postgres`` database's URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, tool: str, *args: str, check: bool = True) -> int:
        command = [*self._as, str(self.bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603 - our own binaries
        if check and done.returncode != 0:
            raise GridvaultError(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.returncode

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False) == 0

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c full_page_writes=off -c max_connections=50"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends sessions and stops cleanly; ``immediate`` is a crash (recovery on
        the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def create_database(self, name: str) -> str:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def close(self) -> None:
        with contextlib.suppress(GridvaultError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class PrivateRedis:
    """``redis-server`` on a free port, without persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 20)

    def stop(self) -> None:
        """Kill the server (SIGKILL: nothing is kept, as after a crash)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=20)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started throwaway cluster for the ``with`` block."""
    with PrivatePostgres() as server:
        yield server


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A started private Redis for the ``with`` block."""
    with PrivateRedis() as server:
        yield server


__all__ = [
    "PrivatePostgres",
    "PrivateRedis",
    "ServerUnavailable",
    "free_port",
    "postgres_bindir",
    "private_postgres",
    "private_redis",
    "wait_for_port",
]
