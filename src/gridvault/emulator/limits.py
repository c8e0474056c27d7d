"""Per-token rate limit with bans, and the seeded fault draw. Both thread-safe.

Rate limit as ENTSO-E states it: at most ``rate_limit`` requests per token in any 60 s; the
request that exceeds it starts a ban of ``ban_seconds`` and every request during the ban gets
the same 429 (ban requests do not count towards the next window). Without a token check the
client address is the key.

Faults: one uniform number per request from ``random.Random(seed)`` picks at most one fault
(reset, 5xx, 429, truncate, malformed, ack, stall, in that order of the cumulative
probabilities), and a second number picks the variant (which 5xx status; how a body is truncated). The n-th request
after the spec was set meets the same fault for the same seed. A changed spec (tests flip
faults at run time) restarts the sequence.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gridvault.emulator.config import FaultSpec

WINDOW_SECONDS = 60.0
#: How long a ``burst_429`` fault bans the token: short, the limit was not really reached.
BURST_BAN_SECONDS = 1.0


class RateLimiter:
    """Sliding 60 s request counts and bans per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._banned_until: dict[str, tuple[float, datetime]] = {}

    def check(self, key: str, limit: int, ban_seconds: float) -> datetime | None:
        """Count one request; the UTC end of the ban if it is refused, else None."""
        now = time.monotonic()
        with self._lock:
            ban = self._banned_until.get(key)
            if ban is not None:
                if now < ban[0]:
                    return ban[1]
                del self._banned_until[key]
                self._seen.pop(key, None)
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - WINDOW_SECONDS:
                seen.popleft()
            seen.append(now)
            if len(seen) > limit:
                return self._ban(key, now, ban_seconds)
            return None

    def ban(self, key: str, seconds: float) -> datetime:
        """Ban ``key`` now for ``seconds`` (a burst-429 fault); the UTC end of the ban."""
        with self._lock:
            return self._ban(key, time.monotonic(), seconds)

    def _ban(self, key: str, now: float, seconds: float) -> datetime:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        self._banned_until[key] = (now + seconds, until)
        return until


@dataclass(frozen=True)
class FaultDraw:
    """The fault for one request (None: serve normally) and a number for its variant."""

    kind: str | None
    variant: float


class FaultDice:
    """The seeded per-request fault sequence of a :class:`FaultSpec`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: FaultSpec | None = None
        self._rng = random.Random(0)  # noqa: S311 - reproducible fault injection, not security

    def draw(self, spec: FaultSpec) -> FaultDraw:
        """The next request's fault under ``spec``."""
        with self._lock:
            if spec != self._spec:
                self._spec = FaultSpec(**vars(spec))
                self._rng = random.Random(spec.seed)  # noqa: S311 - see above
            roll, variant = self._rng.random(), self._rng.random()
        threshold = 0.0
        for kind, probability in (
            ("reset", spec.reset),
            ("5xx", spec.error_5xx),
            ("429", spec.burst_429),
            ("truncate", spec.truncate),
            ("malformed", spec.malformed),
            ("ack", spec.ack),
            ("stall", spec.stall),
        ):
            threshold += probability
            if roll < threshold:
                return FaultDraw(kind, variant)
        return FaultDraw(None, variant)
