"""What an emulator is told to do (:class:`EmulatorConfig`, :class:`FaultSpec`) and what it
reports back (:class:`ServedRecord`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from gridvault.errors import InputError

# Spec keys as users write them → FaultSpec attribute names.
_FAULT_KEYS = {
    "latency": "latency",
    "5xx": "error_5xx",
    "error_5xx": "error_5xx",
    "429": "burst_429",
    "burst_429": "burst_429",
    "truncate": "truncate",
    "malformed": "malformed",
    "reset": "reset",
    "ack": "ack",
    "stall": "stall",
    "stall_seconds": "stall_seconds",
    "seed": "seed",
}
#: The token an emulator expects unless told otherwise (not a secret: it only opens loopback).
DEFAULT_TOKEN = "emulator-token"  # noqa: S105 - see above

_PROBABILITIES = ("error_5xx", "burst_429", "truncate", "malformed", "reset", "ack", "stall")


@dataclass
class FaultSpec:
    """Faults injected per request, drawn from an RNG seeded with ``seed``.

    ``latency`` is seconds added to every response; the others are probabilities (0..1) per
    request, drawn in this order from one uniform number: ``reset`` (connection closed
    without a response), ``error_5xx`` (503, sometimes 500/502, empty body), ``burst_429``
    (a short 429 ban although the rate limit was not reached), ``truncate`` (body cut in the
    middle), ``malformed`` (HTTP 200 with broken XML), ``ack`` (HTTP 200 with an error
    acknowledgement instead of the answer; in a zipped answer it is one more ZIP member,
    beside the documents), ``stall`` (no answer for ``stall_seconds``, then the connection
    is closed: a client with a shorter read timeout times out). Their sum must not exceed 1.
    The n-th request of a run always meets the same fault for the same seed.
    """

    latency: float = 0.0
    error_5xx: float = 0.0
    burst_429: float = 0.0
    truncate: float = 0.0
    malformed: float = 0.0
    reset: float = 0.0
    ack: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency < 0 or self.stall_seconds < 0:
            raise InputError(
                f"fault latency and stall_seconds must be >= 0 seconds, not "
                f"{self.latency} and {self.stall_seconds}"
            )
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"fault probability {name}={value} is not between 0 and 1")
        if sum(getattr(self, name) for name in _PROBABILITIES) > 1.0 + 1e-9:
            raise InputError("fault probabilities add up to more than 1")

    @property
    def any_fault(self) -> bool:
        """True when some request may fail (latency alone is not a fault)."""
        return any(getattr(self, name) > 0 for name in _PROBABILITIES)

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Read ``"latency=0.05,5xx=0.1,429=0.02,truncate=0.05,malformed=0.05,reset=0.05,seed=7"``.

        Keys may be left out (default 0); an empty spec means no faults. Unknown keys, bad
        numbers and probabilities outside 0..1 raise :class:`InputError`.

        >>> FaultSpec.parse("5xx=0.1,seed=7").error_5xx
        0.1
        """
        values: dict[str, float | int] = {}
        for raw_item in spec.split(","):
            item = raw_item.strip()
            if not item:
                continue
            key, sep, raw_value = item.partition("=")
            attribute = _FAULT_KEYS.get(key.strip().lower())
            if not sep or attribute is None:
                known = ", ".join(k for k in _FAULT_KEYS if k not in ("error_5xx", "burst_429"))
                raise InputError(f"bad fault spec item {item!r}: use key=value with key in {known}")
            try:
                values[attribute] = (
                    int(raw_value) if attribute == "seed" else float(raw_value.strip())
                )
            except ValueError:
                raise InputError(f"bad fault spec value in {item!r}: not a number") from None
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        """The spec in the form :meth:`parse` reads (non-default fields only)."""
        parts = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != f.default
        ]
        return ",".join(parts) or "none"


@dataclass
class EmulatorConfig:
    """How an emulator behaves. Mutable at run time: the server reads it per request.

    ``token`` None disables the token check. ``data_dir`` holds recorded documents to replay
    (they win over synthetic ones). ``synthetic`` answers any catalog request with generated
    documents (``gaps``: probability that a day is missing; ``revision``: bump it to make
    ENTSO-E "revise" about one value in ten). ``rate_limit`` requests per sliding 60 s per
    token, then a ban of ``ban_seconds``. ``port`` 0 picks a free port.
    """

    token: str | None = DEFAULT_TOKEN
    data_dir: Path | None = None
    synthetic: bool = False
    faults: FaultSpec = field(default_factory=FaultSpec)
    rate_limit: int = 400
    ban_seconds: float = 600.0
    gaps: float = 0.0
    revision: int = 1
    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class ServedRecord:
    """One request the emulator answered (or dropped), for tests to reconcile counts.

    ``outcome`` is ``data``, ``no_data``, ``bad_request``, ``unauthorized``, ``banned`` or
    ``fault:<kind>`` (``5xx``, ``429``, ``truncate``, ``malformed``, ``reset``, ``ack``,
    ``stall``). ``at`` is when the request arrived. ``params`` is
    the query without ``securityToken``. ``points`` counts the ``<Point>`` elements of the
    document served (all ZIP members, the page actually served; a balancing Point with a
    quantity and a price is one Point but two parsed values); ``timeseries`` its
    ``<TimeSeries>`` (outage ZIPs: documents); ``bytes`` the body length sent (a truncated
    body: the cut length). ``status`` is 0 for a reset or a stall (no response at all).
    """

    at: datetime
    status: int
    outcome: str
    params: dict[str, str]
    dataset: str | None
    points: int
    timeseries: int
    bytes: int
