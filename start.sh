#!/usr/bin/env bash
# Start the assistant on this machine (SQLite, Twilio simulator unless credentials are set).
# First run builds two Python environments and trains the model: about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
exec .venv/bin/flask --app app serve "$@"
