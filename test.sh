#!/usr/bin/env bash
# Run the whole test suite. Builds what it needs on first run, as start.sh does.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh

# The console's browser test drives Debian's Chromium; as root we can install it, otherwise that test skips.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "… Installing Chromium for the console's browser test" >&2
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    echo "✓ Chromium installed" >&2
  else
    echo "Chromium could not be installed; the console's browser test will be skipped" >&2
  fi
fi

# Lint and format check first: a style slip fails in a second, not after the suite.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .

exec .venv/bin/python -m pytest "$@"
