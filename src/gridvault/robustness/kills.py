"""Kill a worker process with SIGKILL at random points, then let it run to the end.

The points are chosen by a seeded RNG in *requests served*, not in seconds: "kill once the
emulator has answered k requests of this run (plus a few random milliseconds)" hits the
same stage of the work on a quiet or a busy machine (k = 0: while starting or planning).
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from gridvault.errors import GridvaultError


@dataclass(frozen=True)
class KilledRuns:
    """How a run-until-done went: processes started, killed, the last one's exit code."""

    runs: int
    kills: int
    returncode: int


def run_with_kills(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    served: Callable[[], int],
    rng: random.Random,
    kills: int = 2,
    most_requests: int = 16,
    output: IO[str] | None = None,
    timeout: float = 120.0,
) -> KilledRuns:
    """Start ``command``; for each of the first ``kills`` runs, SIGKILL it once ``served()``
    grew by a random 0..``most_requests``; then run it once more to its end.

    A run that ends by itself before its kill point counts as the last one. Raises
    :class:`GridvaultError` when a run outlives ``timeout`` seconds.
    """
    runs = done_kills = 0
    while True:
        runs += 1
        before = served()
        target = rng.randint(0, most_requests) if done_kills < kills else None
        process = subprocess.Popen(  # noqa: S603 - the caller's own command
            list(command), env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        killed = False
        try:
            while process.poll() is None and not killed:
                if time.monotonic() > deadline:
                    raise GridvaultError(f"{command[0]} ran longer than {timeout:g} s")
                if target is not None and served() - before >= target:
                    time.sleep(rng.uniform(0, 0.03))
                    process.kill()
                    killed = process.wait(timeout=30) == -9
                    done_kills += killed
                    continue
                time.sleep(0.002)
        finally:
            if process.poll() is None:
                process.kill()
            code = process.wait(timeout=30)
        if not killed:
            return KilledRuns(runs, done_kills, code)


__all__ = ["KilledRuns", "run_with_kills"]
