#!/usr/bin/env bash
# Installs everything the test suite needs and runs it twice: on SQLite, then
# on PostgreSQL. Safe to run again; each run creates and drops its own test
# databases (one per pytest-xdist worker). Override the PostgreSQL server with
# TEST_POSTGRES_URL; arguments go to pytest (`-n 0` runs in one process).
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium for the browser tests, from Debian's packages (Playwright's own
# browser download is not used). Noto CJK draws Chinese prompts and pages.
# gettext: tests/test_i18n.py runs makemessages (manage.py updatemessages).
if ! [ -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! command -v xgettext >/dev/null; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk fonts-dejavu-core gettext >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -r tests/requirements.txt

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== Django checks"
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
.venv/bin/python manage.py check

# Two worker processes, each taking the next test when it is free (worksteal).
PYTEST=(.venv/bin/pytest -n 2 --dist worksteal)

echo "== Test suite on SQLite"
"${PYTEST[@]}" "$@"

echo "== Test suite on PostgreSQL"
DATABASE_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/omnistudio}" "${PYTEST[@]}" "$@"
