# Sourced by start.sh and test.sh: make .venv for the web app, reinstalling when requirements change.
find_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 is needed (python3.11 or python3 on PATH)." >&2
  return 1
}

want=$(sha256sum requirements.txt | cut -c1-16)
if [ ! -f .venv/.requirements-"$want" ]; then
  python=$(find_python)
  echo "… Preparing the web app's environment (.venv)" >&2
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.requirements-"$want"
  echo "✓ Web app environment ready" >&2
fi
