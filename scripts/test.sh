#!/usr/bin/env bash
# The whole test suite: install everything it needs, then run pytest (Python, JS and browser tests).
# $PYTHON picks the interpreter (a virtualenv's python installs and tests inside that venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON="${PYTHON:-python3}"
bash scripts/install.sh test
export HF_HUB_OFFLINE=1
exec "$PYTHON" -m pytest "$@"
