"""Analyses: pure functions over stored results (no store, device or file access here).

Each analysis takes lists of :class:`~accelbench.results.schema.Result` and returns plain
dataclasses that the report renders; the same functions serve notebooks and tests.
"""

from accelbench.analysis.bandwidth import BandwidthSeries, bandwidth_curves
from accelbench.analysis.compare import Comparison, compare
from accelbench.analysis.inference import InferenceRow, inference_rows
from accelbench.analysis.metrics import PrimaryMetric, primary_metric
from accelbench.analysis.platforms import Platform, platform_of
from accelbench.analysis.power import PowerRow, idle_power_rows, power_rows
from accelbench.analysis.regression import Regression, regress
from accelbench.analysis.roofline import Roofline, roofline
from accelbench.analysis.success import FailureReason, SuccessRow, failure_reasons, success_table
from accelbench.analysis.training import TrainingRun, training_runs

__all__ = [
    "BandwidthSeries",
    "Comparison",
    "FailureReason",
    "InferenceRow",
    "Platform",
    "PowerRow",
    "PrimaryMetric",
    "Regression",
    "Roofline",
    "SuccessRow",
    "TrainingRun",
    "bandwidth_curves",
    "compare",
    "failure_reasons",
    "idle_power_rows",
    "inference_rows",
    "platform_of",
    "power_rows",
    "primary_metric",
    "regress",
    "roofline",
    "success_table",
    "training_runs",
]
