"""SQL injection through every text option and argument of every CLI command that reads or
writes the store, on DuckDB and PostgreSQL: a one-line error or a normal answer with no more
rows than without the payload, never a traceback, and every table intact afterwards.

The options are enumerated from the Typer app, so a new option is covered the day it is
added; a new command must be put in :data:`STORE_COMMANDS` (with valid arguments) or in
:data:`NO_STORE_INPUT` (with the reason it cannot carry a value to SQL).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import typer

from gridvault.api.testing import seed_sample
from gridvault.cli.main import build_app
from gridvault.demo import ENTSOE_DIR
from gridvault.store import open_store
from gridvault.store.api_keys import list_keys
from probes import run_cli, table_counts

#: Commands whose options reach the store, with valid arguments (injected options replace
#: theirs or are added).
PRICES_DE_LU = ["day_ahead_prices", "--area", "DE_LU"]
A_DAY = ["--start", "2024-01-01T00:00Z", "--end", "2024-01-02T00:00Z"]
STORE_COMMANDS: dict[str, list[str]] = {
    "query": [*PRICES_DE_LU, *A_DAY],
    "coverage": [*PRICES_DE_LU, *A_DAY],
    # --dry-run: plan and show, fetch nothing.
    "backfill": [
        "day_ahead_prices",
        "--area",
        "FR",
        "--start",
        "2024-01-01T00:00Z",
        "--end",
        "2024-01-01T06:00Z",
        "--dry-run",
    ],
    "status": ["--dataset", "day_ahead_prices"],
    "reparse": ["--dataset", "day_ahead_prices"],
    "jobs list": ["--plan", "none"],
    "jobs retry": ["--plan", "none"],
    "jobs cancel": ["none"],
    "keys create": ["--name", "someone"],
    "keys list": [],
    "keys revoke": ["nobody"],
    "import entsoe": [],  # file names: see the test of its own below
}
NO_STORE_INPUT = {
    "config": "prints settings",
    "demo": "loads the bundled files into its own store",
    "collect": "values go to the upstream request; the store sees only upstream data",
    "emulator": "a test server, no store",
    "serve": "host, port and files only; the API is tested in tests/api",
    "run": "a schedule file, validated before any store access",
    "db migrate": "no values",
    "db info": "no values",
    "parse entsoe": "reads files, no store",
}
#: Fewer than the API's (tests/api/test_api_security.py): each CLI run costs 0.2 s.
INJECTIONS = (
    "'; DROP TABLE observations; --",
    "' OR '1'='1",
    "1) UNION SELECT series_id, dataset, area, dimensions, unit, resolution FROM series --",
)
#: File names (import): quotes, backslashes and look-alike apostrophes as well.
FILE_NAMES = (*INJECTIONS, "\\'; DELETE FROM api_keys; --", '" OR ""="', "ʼ OR 1=1 --")


def commands() -> dict[str, list[Any]]:
    """Every leaf command of the app and its parameters."""
    found: dict[str, list[Any]] = {}

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = list(command.params)

    walk(typer.main.get_command(build_app()), [])
    return found


def text_parameters(params: list[Any]) -> list[Any]:
    """The options and arguments that take text (not flags, numbers, choices or paths)."""
    return [
        p
        for p in params
        if not getattr(p, "is_flag", False) and "str" in repr(p.type_descriptor.annotation)
    ]


def with_value(base: list[str], param: Any, value: str) -> list[str]:
    """``base`` with ``param`` set to ``value`` (replacing its value, or added)."""
    args = list(base)
    if param.param_type_name == "argument":
        positional = [i for i, a in enumerate(args) if not a.startswith("-")]
        if positional and positional[0] == 0:
            args[0] = value
        else:
            args.insert(0, value)
        return args
    for flag in param.opts:
        if flag in args:
            args[args.index(flag) + 1] = value
            return args
    return [*args, param.opts[0], value]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(
    request: pytest.FixtureRequest, cli_store: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A seeded store for in-process CLI runs (``cli_store`` undoes their logging set-up)."""
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgres" else ""
    url = url or f"duckdb:///{cli_store}"
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", url)
    monkeypatch.setenv("GRIDVAULT_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("GRIDVAULT_ENTSOE_BASE_URL", "http://127.0.0.1:9/api")  # never the internet
    store = open_store(url)
    try:
        seed_sample(store)
    finally:
        store.close()
    return url


def test_every_command_is_classified() -> None:
    assert set(commands()) == set(STORE_COMMANDS) | set(NO_STORE_INPUT)


def test_injection_through_every_text_option_does_nothing(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(store_url)
    before = table_counts(store)
    store.close()
    tried = 0
    created: list[str] = []
    for name, params in commands().items():
        if name not in STORE_COMMANDS or name == "import entsoe":
            continue
        base = [*name.split(), *STORE_COMMANDS[name]]
        base_code, base_out, _ = run_cli(capsys, *base)
        for param in text_parameters(params):
            for payload in INJECTIONS:
                args = [*name.split(), *with_value(STORE_COMMANDS[name], param, payload)]
                code, out, err = run_cli(capsys, *args)
                tried += 1
                label = f"gridvault {name} {param.name}={payload!r}"
                assert "Traceback" not in err, f"{label}: {err[-500:]}"
                if code != 0:
                    assert err.strip(), f"{label}: exit {code} without a message"
                    continue
                if name == "keys create":
                    created.append(payload)  # a name like any other, stored as given
                    continue
                if name == "keys revoke" and payload in created:
                    continue  # the key of that name, created above
                assert base_code == 0, f"{label} succeeded where the valid command did not"
                assert len(out.splitlines()) <= len(base_out.splitlines()), f"{label}: more rows"
    assert tried > 100
    store = open_store(store_url)
    try:
        after = table_counts(store)
        assert after.pop("api_keys") == before.pop("api_keys") + len(created) + 1
        assert after == before
        names = {key.name for key in list_keys(store)}
        assert set(created) <= names
    finally:
        store.close()


def test_file_names_that_look_like_sql_are_just_names(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    source = ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml"
    names = [f"{payload}.xml" for payload in FILE_NAMES]
    for name in names:
        shutil.copy(source, folder / name)
    code, out, err = run_cli(capsys, "import", "entsoe", str(folder))
    assert code == 0, err
    assert out.splitlines()[-1] == f"{len(names)} file(s), 0 failed"
    store = open_store(store_url)
    try:
        archived = {Path(r.request["file"]).name for r in store.archive_records()}
        assert set(names) <= archived
        (series,) = store.find_series(dataset="day_ahead_prices", area="NL")
        assert series.series_id > 0
        counts = table_counts(store)
        assert counts["observations"] > 24  # the sample and the 24 NL prices, once
    finally:
        store.close()
