#!/usr/bin/env bash
# The whole test suite: install everything it needs, then run pytest (Python, JS and browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
export HF_HUB_OFFLINE=1
"${PYTHON:-python3}" -m pytest "$@"
