"""The REST API (FastAPI): datasets, areas, data, coverage, freshness, health, metrics.

Build it with :func:`gridvault.api.app.create_app` from the process's services; serve it
with ``gridvault serve``.
"""

from __future__ import annotations

from gridvault.api.app import create_app
from gridvault.api.state import ApiOptions, BackgroundService

__all__ = ["ApiOptions", "BackgroundService", "create_app"]
