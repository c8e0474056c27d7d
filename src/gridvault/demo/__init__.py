"""The offline demo and its bundled real data.

``data/entsoe`` holds 28 real ENTSO-E API responses and ``data/timeseries`` real CSV
exports of the Transparency Platform website (FI 2015-2022, SK 2023-2024); each folder's
SOURCES.md gives their provenance. They are the parser test fixtures and the demo's data.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
ENTSOE_DIR = DATA_DIR / "entsoe"
TIMESERIES_DIR = DATA_DIR / "timeseries"
