"""XML entity bombs, external entities, ZIP bombs and expansion bombs are refused — by the
parser, by the import path into a store and by ``gridvault import`` — with bounded memory.

The payloads and the probe are in tests/bombs.py; the probe runs in a fresh process and
reports the peak-RSS growth each payload caused there. The API takes no files (its only
bodies are small JSON objects), so these are all the entry points that read payloads; the
collectors hand upstream bytes to the same import path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Generous: each payload is refused before it is expanded; the readers' working memory
#: for a refused payload is a few MiB (measured: at most 7 MiB).
BOUND = 64 * 1024 * 1024
TESTS = Path(__file__).resolve().parents[1]


def test_hostile_payloads_are_refused_with_bounded_memory(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
        "GRIDVAULT_DATABASE_URL": f"duckdb:///{tmp_path / 'cli.duckdb'}",
        "GRIDVAULT_LOG_LEVEL": "WARNING",
        "GRIDVAULT_LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-c", f"import bombs; bombs.probe({str(tmp_path)!r})"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    cli = report.pop("gridvault import")
    assert len(report) == 14
    for name, seen in report.items():
        assert seen["outcome"].startswith(f"ParseError: {name}"), (name, seen)
        assert seen["imported"] == "quarantined", name
        assert seen["growth"] < BOUND, (name, seen["growth"])
    assert cli["outcome"] == "exit 4"  # every file refused, none crashed the command
    assert cli["growth"] < BOUND
    assert "Traceback" not in done.stderr
