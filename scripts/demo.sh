#!/usr/bin/env bash
# Install Sprechstunde into .venv, create the SQLite database under ./data with demo data,
# print the demo staff logins and serve on http://127.0.0.1:8000 (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo asks for development (the default is production): the published key, demo data
# and the development mailbox at /dev/mail.
export SPRECHSTUNDE_ENV=development
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/sprechstunde migrate
.venv/bin/sprechstunde seed-demo
echo "Open http://127.0.0.1:8000 to book, http://127.0.0.1:8000/staff for the staff workspace,"
echo "http://127.0.0.1:8000/docs for the API."
exec .venv/bin/sprechstunde serve --host 127.0.0.1 --port 8000
