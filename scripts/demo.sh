#!/usr/bin/env bash
# The main job: install, then execute notebooks/quickstart.ipynb headless and offline on the
# embedded model; writes out/quickstart.ipynb and out/quickstart.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo
export HF_HUB_OFFLINE=1
"${PYTHON:-python3}" scripts/main_job.py "$@"
