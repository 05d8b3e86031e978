#!/usr/bin/env bash
# Install Sprechstunde with its test tools into .venv, then lint, type-check (mypy, strict for
# scheduler/ and signaling/) and run the whole test suite.
# Arguments are passed to pytest. Set SPRECHSTUNDE_TEST_DATABASE_URL (PostgreSQL) and
# SPRECHSTUNDE_TEST_REDIS_URL to run the same suite against those servers.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# Installs are skipped when their lock or project file is the one installed last: reinstalling
# would swap the package's files under another run using them, and takes time.
installed() { [ -f "$1" ] && sha256sum --check --status "$1" 2>/dev/null; }
if ! installed .venv/.installed-pyproject.sha256; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  sha256sum pyproject.toml >.venv/.installed-pyproject.sha256
fi
npm_ci() {
  local stamp="$1/node_modules/.installed-lock.sha256"
  installed "$stamp" && return
  npm ci --prefix "$@" --no-audit --no-fund --silent
  sha256sum "$1/package-lock.json" >"$stamp"
}
# ical.js, a second and independent iCalendar parser for the invite tests (needs Node.js).
npm_ci tests/icaljs
# The browser tests' tools: axe-core and IBM Equal Access (accessibility engines run in every
# page), the W3C Nu HTML checker (vnu-jar, run with Java) and puppeteer-core (drives Firefox).
# No install scripts: they would fetch browsers or a Java runtime; Debian provides both.
npm_ci tests/browser --ignore-scripts
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
