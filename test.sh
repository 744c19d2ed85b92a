#!/usr/bin/env bash
# Run the whole test suite. Builds what it needs on first run, as start.sh does.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
exec .venv/bin/python -m pytest "$@"
