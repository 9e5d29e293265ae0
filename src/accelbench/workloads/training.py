"""Training to quality: every recipe of :mod:`accelbench.training.recipes` is a workload kind.

Each case is one training run timed from before setup until the validation metric first
crosses the recipe's threshold (see :mod:`accelbench.training.trainer`); the per-epoch curve
goes to ``Result.trace`` and every hyper-parameter to ``config``. The recipes themselves, one
readable module each, say what they reproduce and what was measured with them.
"""

from __future__ import annotations

from accelbench.training.recipe import RECIPES
from accelbench.workloads.base import WORKLOADS

for _kind, _recipe in RECIPES:
    WORKLOADS.register(_kind)(_recipe)
