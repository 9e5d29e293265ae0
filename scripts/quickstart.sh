#!/usr/bin/env bash
# The main job: set up, then run the `quick` suite on this machine's CPU into ./accelbench.db.
# Extra arguments go to `accelbench run` (e.g. --threads 1, --db other.db).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/accelbench run quick --device cpu --db accelbench.db "$@"
echo "results: .venv/bin/accelbench results list --db accelbench.db"
