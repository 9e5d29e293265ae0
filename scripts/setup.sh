#!/usr/bin/env bash
# Create .venv and install accelbench (editable) with its test tools.
# torch is pinned by constraints/cpu.txt to the CPU build (2.13.0), so a CPU machine does not pull
# several GB of CUDA wheels. On a GPU/NPU machine whose torch is already right, run with
# ACCELBENCH_CONSTRAINTS=none to keep the installed build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
CONSTRAINTS="${ACCELBENCH_CONSTRAINTS:-constraints/cpu.txt}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
args=(--quiet --disable-pip-version-check -e ".[dev]")
if [ "$CONSTRAINTS" != "none" ]; then args=(-c "$CONSTRAINTS" "${args[@]}"); fi
echo "setup: installing accelbench and its dependencies into .venv"
# pip prints one harmless warning per package for the machine's empty local index; hide those.
.venv/bin/python -m pip install "${args[@]}" 2>&1 | grep -v "^WARNING: Location 'file:" || true
.venv/bin/python -c "import accelbench, torch; print(f'setup: accelbench {accelbench.__version__}, torch {torch.__version__}')"
