#!/usr/bin/env bash
# Install Sprechstunde with its test tools into .venv, then lint, type-check (mypy, strict for
# scheduler/ and signaling/) and run the whole test suite.
# Arguments are passed to pytest. Set SPRECHSTUNDE_TEST_DATABASE_URL (PostgreSQL) and
# SPRECHSTUNDE_TEST_REDIS_URL to run the same suite against those servers.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# ical.js, a second and independent iCalendar parser for the invite tests (needs Node.js).
npm ci --prefix tests/icaljs --no-audit --no-fund --silent
# The browser tests' tools: axe-core and IBM Equal Access (accessibility engines run in every
# page), the W3C Nu HTML checker (vnu-jar, run with Java) and puppeteer-core (drives Firefox).
# No install scripts: they would fetch browsers or a Java runtime; Debian provides both.
npm ci --prefix tests/browser --no-audit --no-fund --silent --ignore-scripts
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
