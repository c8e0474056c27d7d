#!/usr/bin/env bash
# Set-up and the two main jobs. Creates/refreshes .venv at the repo root from uv.lock.
#   ./dev.sh demo   the offline demo on the embedded DuckDB store
#   ./dev.sh test   lint (ruff), strict types (mypy) and the whole test suite
# Both build the dashboard's browser assets first (npm, Node 20; see dashboard/build.mjs).
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
  # Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
  # process would otherwise compile pandas, pyarrow and gridvault from source (~3 s a start).
  UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync --locked --quiet --compile-bytecode "$@"
  .venv/bin/python -m compileall -q src >/dev/null
}

DASHBOARD_VENDORED=src/gridvault/dashboard/static/vendor/echarts.esm.min.mjs

# The dashboard's chart library comes from npm (dashboard/package-lock.json) and is copied
# into the package, which serves it (no CDN). Rebuilt only when missing or older than the lock.
build_dashboard() {
  if [ -f "$DASHBOARD_VENDORED" ] && [ "$DASHBOARD_VENDORED" -nt dashboard/package-lock.json ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "dev.sh: npm (Node.js 20) is needed to build the dashboard's assets; the page will say so" >&2
    return 1
  fi
  (cd dashboard && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
}

# The dashboard's browser tests drive the system's Chromium (under CI=true they fail without it).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "dev.sh: /usr/bin/chromium is missing (install it as root: apt-get install chromium)" >&2
  fi
}

case "${1:-}" in
  demo)
    shift
    ensure_venv --inexact
    build_dashboard || echo "dev.sh: the dashboard's assets were not built" >&2
    exec .venv/bin/gridvault demo "$@"
    ;;
  test)
    shift
    ensure_venv --all-groups
    # Without the assets or Chromium the browser tests skip (and fail under CI=true).
    build_dashboard || echo "dev.sh: the dashboard's assets were not built" >&2
    ensure_chromium
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
