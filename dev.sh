#!/usr/bin/env bash
# Set-up and the two main jobs. Creates/refreshes .venv at the repo root from uv.lock.
#   ./dev.sh demo   the offline demo on the embedded DuckDB store
#   ./dev.sh test   lint (ruff), strict types (mypy) and the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION=0.13.9

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -c 'import sys; assert sys.version_info >= (3, 11), "gridvault needs Python >= 3.11"'
    python3 -m venv .venv
  fi
  if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync --locked --quiet "$@"
}

case "${1:-}" in
  demo)
    shift
    ensure_venv --inexact
    exec .venv/bin/gridvault demo "$@"
    ;;
  test)
    shift
    ensure_venv --all-groups
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy
    exec .venv/bin/pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
