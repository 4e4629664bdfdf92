#!/usr/bin/env bash
# Install article-qa into ./.venv, fully offline at run time.
#   ./setup.sh          install, then answer the founding question on the shipped corpus
#   ./setup.sh --test   install with the test tools, then run the whole test suite
#   ./setup.sh --dev    install with the test tools only
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip

# sentence-transformers asks for torch; left to itself pip takes a multi-GB CUDA build.
# Install the CPU build first when no torch is present (this machine serves 2.13.0 from disk).
if ! python -c "import torch" >/dev/null 2>&1; then
  python -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}" \
    || python -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch
fi

if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--dev" ]; then
  python -m pip install --quiet -e ".[dev]"
  [ "$1" = "--dev" ] && exit 0
  exec python -m pytest "${@:2}"
fi
python -m pip install --quiet -e .
ask "How many troops did North Korea send to Russia?"
