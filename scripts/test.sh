#!/usr/bin/env bash
# Set up, lint, and run the default test tier (CPU with fake devices). Extra arguments go to
# pytest, e.g. `bash scripts/test.sh -m slow` for the slow tier.
set -euo pipefail
cd "$(dirname "$0")/.."
# The MindSpore tests run the real CPU build, so the tests install the mindspore extra (once:
# an 800 MB download; ACCELBENCH_EXTRAS=dev skips it, and those tests then skip).
ACCELBENCH_EXTRAS="${ACCELBENCH_EXTRAS:-dev,mindspore}" bash scripts/setup.sh
# The HTML report's end-to-end test renders it in real headless Chromium (tests/browser.py).
# Install Debian's chromium when none is found and we can (root with apt-get); a failed install
# is reported, not fatal: those tests then skip (or fail when CI=true).
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium chromium-browser google-chrome >/dev/null 2>&1 \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing chromium with apt-get for the browser tests (about 30 s, once)"
  log=$(mktemp)
  if ! apt-cache show chromium >/dev/null 2>&1; then apt-get update -qq >"$log" 2>&1 || true; fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    >>"$log" 2>&1; then
    echo "test: chromium install failed (browser tests will skip, or fail under CI=true):"
    tail -n 5 "$log"
  fi
  rm -f "$log"
fi
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/python -m pytest "$@"
