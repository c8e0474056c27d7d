"""What tests look at after the fact: every table's row count, every text value in the
store, and an in-process CLI run with its exit code and output. Shared by the security and
robustness suites (injection, import fuzzing, secret leaks)."""

from __future__ import annotations

import pytest

from gridvault.cli.main import main
from gridvault.store import Store

_USER_TABLES = (
    "table_schema NOT IN ('information_schema', 'pg_catalog') AND table_schema NOT LIKE 'pg_temp%'"
)


def table_counts(store: Store) -> dict[str, int]:
    """Rows of every table of the store (whatever tables a later migration adds)."""
    with store.session() as db:
        tables = [
            row[0]
            for row in db.fetchall(
                "SELECT table_name FROM information_schema.tables "
                f"WHERE table_type = 'BASE TABLE' AND {_USER_TABLES} ORDER BY table_name"
            )
        ]
        return {t: int(db.fetchall(f'SELECT count(*) FROM "{t}"')[0][0]) for t in tables}


def text_columns(store: Store) -> dict[str, str]:
    """Every text value of every table, one string per table."""
    with store.session() as db:
        columns = db.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE {_USER_TABLES} "
            "AND lower(data_type) IN ('text', 'varchar', 'character varying', 'json', 'jsonb')"
        )
        dumps: dict[str, list[str]] = {}
        for table, column in columns:
            values = db.fetchall(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
            dumps.setdefault(table, []).extend(str(v[0]) for v in values)
    return {table: "\n".join(values) for table, values in dumps.items()}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``gridvault ARGS`` in this process: exit code, stdout, stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    out, err = capsys.readouterr()
    return code, out, err
