"""Settings from the environment and structured, secret-free logging."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gridvault.errors import ConfigError
from gridvault.logs import redact, register_secret
from gridvault.settings import load_settings
from gridvault.store.api_keys import new_key


def test_settings_from_env_and_secret_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDVAULT_DATABASE_URL", "postgresql://u@h:5432/db")
    monkeypatch.setenv("ENTSOE_API_KEY", "tok-123456")
    settings = load_settings()
    assert settings.database_url == "postgresql://u@h:5432/db"
    assert settings.entsoe_token is not None
    assert settings.entsoe_token.get_secret_value() == "tok-123456"
    dumped = json.dumps(settings.model_dump(mode="json")) + repr(settings)
    assert "tok-123456" not in dumped


def test_own_token_variable_wins_over_entsoe_py_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTSOE_API_KEY", "from-entsoe-py")
    monkeypatch.setenv("GRIDVAULT_ENTSOE_TOKEN", "ours")
    token = load_settings().entsoe_token
    assert token is not None
    assert token.get_secret_value() == "ours"


def test_default_store_is_a_duckdb_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDVAULT_DATABASE_URL", raising=False)
    url = load_settings().database_url
    assert url.startswith("duckdb:///")
    assert not url.startswith("duckdb:////")
    assert url.endswith("gridvault.duckdb")


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / ".env").write_text("GRIDVAULT_ENTSOE_RATE_LIMIT=123\n")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("GRIDVAULT_ENTSOE_RATE_LIMIT", raising=False)
    assert load_settings().entsoe_rate_limit == 123


def test_bad_settings_are_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDVAULT_ENTSOE_RATE_LIMIT", "lots")
    with pytest.raises(ConfigError, match="entsoe_rate_limit"):
        load_settings()


def test_redaction_of_tokens_in_text() -> None:
    register_secret("s3cr3t-token")
    assert redact("GET /api?securityToken=abc&x=1") == "GET /api?securityToken=***&x=1"
    assert "s3cr3t-token" not in redact("failed with s3cr3t-token in it")


def test_api_keys_are_masked_wherever_they_turn_up() -> None:
    key = new_key()
    assert redact(f"GET /v1/areas?api_key={key}&x=1") == "GET /v1/areas?api_key=gvk_***&x=1"
    assert key not in redact(f"rejected {key!r}")
    assert redact("gvk_short and gvk_") == "gvk_short and gvk_"  # not a key: left alone


def test_logs_are_json_off_terminal_with_context_and_no_secret() -> None:
    code = (
        "from gridvault.logs import configure_logging, get_logger, bound, register_secret\n"
        "configure_logging('INFO', 'auto')\n"
        "register_secret('tok-987654')\n"
        "with bound(source='entsoe', dataset='load_actual', area='NL', job=7):\n"
        "    get_logger('t').info('fetched', url='https://x/api?securityToken=tok-987654')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["event"] == "fetched"
    assert (line["source"], line["dataset"], line["area"], line["job"]) == (
        "entsoe",
        "load_actual",
        "NL",
        7,
    )
    assert "tok-987654" not in done.stderr
    assert line["level"] == "info"


def test_library_logs_through_stdlib_are_rendered_and_redacted() -> None:
    code = (
        "import logging\n"
        "from gridvault.logs import configure_logging, register_secret\n"
        "configure_logging('INFO', 'json')\n"
        "register_secret('tok-555555')\n"
        "logging.getLogger('httpx2').warning('HTTP Request: GET %s', "
        "'https://x/api?securityToken=tok-555555&a=1')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["logger"] == "httpx2"
    assert "securityToken=***" in line["event"]
    assert "tok-555555" not in done.stderr


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_tracebacks_and_nested_values_are_redacted_too(fmt: str) -> None:
    """An exception's message is in its traceback: it is rendered first, then redacted (it
    used to be rendered after the redaction, token and all)."""
    code = (
        "import logging\n"
        "from gridvault.logs import configure_logging, get_logger, register_secret\n"
        f"configure_logging('INFO', {fmt!r})\n"
        "register_secret('tok-777777')\n"
        "try:\n"
        "    raise RuntimeError('GET https://x/api?securityToken=tok-777777 with gvk_' + 'A' * 43)\n"
        "except RuntimeError:\n"
        "    get_logger('t').exception('failed', request={'params': ['tok-777777']})\n"
        "    logging.getLogger('library').exception('failed too')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr.count("RuntimeError: GET https://x/api?securityToken=*** with gvk_***") == 2
    assert "tok-777777" not in done.stderr
    assert "A" * 43 not in done.stderr
