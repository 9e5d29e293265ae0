#!/usr/bin/env bash
# The main job: set up, run the `quick` suite on this machine's CPU into ./accelbench.db, then
# write the HTML report of the store and print its path (the last line of output).
# Extra arguments go to `accelbench run` (e.g. --threads 1); set ACCELBENCH_DB=FILE to use another
# store for both the run and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${ACCELBENCH_DB:-accelbench.db}"
bash scripts/setup.sh
# The quick suite needs no data directory (its training run uses the digits scikit-learn
# ships). Real datasets for other runs: ../shared/data when present, unless ACCELBENCH_DATA_DIR
# already says where they are, so nothing there is ever downloaded again.
data_args=()
if [ -z "${ACCELBENCH_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  data_args=(--data-dir "$(cd ../shared/data && pwd)")
fi
.venv/bin/accelbench run quick --device cpu --db "$DB" "${data_args[@]}" "$@"
.venv/bin/accelbench report --db "$DB" -o report.html
