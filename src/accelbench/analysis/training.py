"""Training to accuracy: the validation curve against wall time and epoch, time to
threshold, and first-epoch against steady-state throughput.

Reads each training result's per-epoch ``trace``. Key names are looked up from a short list
of aliases, so the analysis keeps reading traces when a trainer adds fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accelbench.names import describe_case
from accelbench.results.schema import Result

# trace key -> the names a trainer may store it under, first match wins
TRACE_KEYS: dict[str, tuple[str, ...]] = {
    "epoch": ("epoch",),
    "wall_s": ("wall_s", "elapsed_s", "time_s", "wall_time_s"),
    "metric": ("val_metric", "val_accuracy", "accuracy", "metric"),
    "samples_per_s": ("samples_per_s", "train_samples_per_s", "throughput"),
    "loss": ("train_loss", "loss"),
}


def _get(row: dict[str, Any], what: str) -> Any:
    for k in TRACE_KEYS[what]:
        if row.get(k) is not None:
            return row[k]
    return None


@dataclass
class TrainingRun:
    result: Result
    label: str
    epochs: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    metric: list[float | None] = field(default_factory=list)
    samples_per_s: list[float | None] = field(default_factory=list)
    threshold: float | None = None

    @property
    def time_to_threshold_s(self) -> float | None:
        return self.result.metric("time_to_threshold_s")

    @property
    def first_epoch_samples_per_s(self) -> float | None:
        v = self.result.metric("first_epoch_samples_per_s")
        if v is None and self.samples_per_s:
            v = self.samples_per_s[0]
        return v

    @property
    def steady_samples_per_s(self) -> float | None:
        v = self.result.metric("steady_samples_per_s")
        if v is None:
            rest = [x for x in self.samples_per_s[1:] if x is not None]
            v = sum(rest) / len(rest) if rest else None
        return v


def training_runs(results: list[Result]) -> list[TrainingRun]:
    """Every result that carries a per-epoch trace with a validation metric."""
    runs = []
    for r in results:
        rows = [row for row in r.trace if _get(row, "epoch") is not None]
        if not rows:
            continue
        t = TrainingRun(
            result=r, label=f"{r.workload} {r.description or describe_case(r.case)}".strip()
        )
        for row in rows:
            t.epochs.append(int(_get(row, "epoch")))
            t.wall_s.append(float(_get(row, "wall_s") or 0.0))
            t.metric.append(_get(row, "metric"))
            t.samples_per_s.append(_get(row, "samples_per_s"))
        th = r.config.get("threshold", r.config.get("params", {}).get("threshold"))
        t.threshold = float(th) if isinstance(th, int | float) else None
        runs.append(t)
    return runs
