#!/usr/bin/env bash
# Create .venv and install accelbench (editable) with its test tools.
# torch is pinned by constraints/cpu.txt to the CPU build (2.13.0), so a CPU machine does not pull
# several GB of CUDA wheels. On a GPU/NPU machine whose torch is already right, run with
# ACCELBENCH_CONSTRAINTS=none to keep the installed build.
# ACCELBENCH_EXTRAS picks the extras (default: dev); scripts/test.sh adds mindspore, the real
# MindSpore build its tests run (an 800 MB wheel; 2.4 GB installed). MindSpore has wheels for
# Python 3.9-3.12 only: where it cannot install, setup goes on without it and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
CONSTRAINTS="${ACCELBENCH_CONSTRAINTS:-constraints/cpu.txt}"
EXTRAS="${ACCELBENCH_EXTRAS:-dev}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
pip_install() {
  local args=(--quiet --disable-pip-version-check -e ".[$1]")
  if [ "$CONSTRAINTS" != "none" ]; then args=(-c "$CONSTRAINTS" "${args[@]}"); fi
  # pip prints one harmless warning per package for the machine's empty local index; hide those.
  .venv/bin/python -m pip install "${args[@]}" 2>&1 | grep -v "^WARNING: Location 'file:"
  return "${PIPESTATUS[0]}"
}
echo "setup: installing accelbench and its dependencies into .venv (extras: $EXTRAS)"
if ! pip_install "$EXTRAS"; then
  if [[ ",$EXTRAS," != *",mindspore,"* ]]; then exit 1; fi
  without=$(echo ",$EXTRAS," | sed 's/,mindspore,/,/; s/^,//; s/,$//')
  echo "setup: the mindspore extra did not install here (MindSpore 2.10 has wheels for Python"
  echo "setup: 3.9-3.12 only); going on without it: its tests skip, or fail under CI=true"
  pip_install "${without:-dev}"
fi
.venv/bin/python -c "import accelbench, torch; print(f'setup: accelbench {accelbench.__version__}, torch {torch.__version__}')"
