"""The browser dashboard: static files served by ``gridvault serve`` at ``/``.

The page is plain ES modules in ``static/`` that talk to the same ``/v1`` API as every other
client. Its one third-party library, Apache ECharts, is copied from npm into
``static/vendor/`` by the build step (``./dev.sh demo`` or ``./dev.sh test`` run it; by hand:
``cd dashboard && npm ci && npm run build``). The vendored file is not committed; when it is
missing the page says which command to run.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
#: The vendored chart library (ECharts' self-contained ES module build).
ECHARTS_FILE = STATIC_DIR / "vendor" / "echarts.esm.min.mjs"
#: What to run when :data:`ECHARTS_FILE` is missing.
BUILD_COMMAND = "./dev.sh demo (or: cd dashboard && npm ci && npm run build)"

__all__ = ["BUILD_COMMAND", "ECHARTS_FILE", "STATIC_DIR"]
