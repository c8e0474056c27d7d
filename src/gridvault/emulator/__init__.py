"""An ENTSO-E Transparency Platform API emulator: a real HTTP server on loopback.

Tests, the demo and benchmarks run the real client against it offline. It speaks the real
API's dialect (``GET /api`` with the real, case-sensitive query parameters), checks the
``securityToken``, enforces the per-token rate limit with 429 bans, answers invalid queries
with 400 acknowledgements and empty results with the HTTP 200 "No matching data"
acknowledgement, replays recorded documents byte for byte, synthesises well-formed
documents (``mRID`` ``SYNTHETIC-…``) for any area and window of the catalog, pages with
``offset``, and injects seeded faults.

    with running_emulator(EmulatorConfig(synthetic=True)) as emulator:
        client = EntsoeClient(base_url=emulator.base_url, token="emulator-token")
        ...
        assert [r.outcome for r in emulator.served()] == [...]

Modules: :mod:`~.config` (settings and the served log record), :mod:`~.query` (validation),
:mod:`~.replay`, :mod:`~.synthetic`/:mod:`~.series`/:mod:`~.profiles` (value documents),
:mod:`~.outages`, :mod:`~.limits` (rate limit, fault dice), :mod:`~.responses` (acks and
error pages), :mod:`~.server`.
"""

from __future__ import annotations

from gridvault.emulator.config import EmulatorConfig, FaultSpec, ServedRecord
from gridvault.emulator.server import Emulator, running_emulator

__all__ = ["Emulator", "EmulatorConfig", "FaultSpec", "ServedRecord", "running_emulator"]
