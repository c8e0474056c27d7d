"""Saved responses on disk: walk paths, read files, report per file and per dataset."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from gridvault.errors import InputError

SUFFIXES = (".xml", ".zip", ".csv")


def input_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """Files named directly (any suffix) and, in directories, every .xml/.zip/.csv (sorted)."""
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        elif path.is_file():
            yield path
        else:
            raise InputError(f"{path}: no such file or directory")
