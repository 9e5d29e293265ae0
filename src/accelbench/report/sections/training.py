"""Training to accuracy: validation curves, first against steady epoch throughput."""

from __future__ import annotations

from accelbench.analysis import (
    training_runs,
)
from accelbench.analysis.groups import RunGroup
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt
from accelbench.report.sections import section


@section("training", order=70)
def _training(groups: list[RunGroup]) -> Section | None:
    runs = [t for g in groups for t in training_runs(g.results)]
    if not runs:
        return None
    s = Section("training", "Training to accuracy")
    s.text.append(
        "Validation metric after each epoch against wall time since the start of the run "
        "(setup, data preparation, compilation and evaluation included) and against epoch; "
        "dotted lines are the thresholds. Time to threshold is the headline number: "
        "throughput alone misleads. The first epoch carries setup and compilation, so its "
        "throughput is shown apart from the steady-state mean of the later epochs."
    )
    s.figures.append(
        FigureItem(
            "training-curves",
            "Validation metric against time and epoch",
            lambda: plots.training_curves(runs),
        )
    )
    s.figures.append(
        FigureItem(
            "training-throughput",
            "First-epoch against steady throughput",
            lambda: plots.throughput_bars(runs),
        )
    )
    s.tables.append(
        Table(
            [
                "run",
                "status",
                "epochs",
                "threshold",
                "best metric",
                "time to threshold (s)",
                "first-epoch samples/s",
                "steady samples/s",
            ],
            [
                [
                    t.label,
                    t.result.status.value,
                    len(t.epochs),
                    fmt(t.threshold),
                    fmt(max((m for m in t.metric if m is not None), default=None)),
                    fmt(t.time_to_threshold_s)
                    if t.time_to_threshold_s is not None
                    else (
                        t.result.metrics.get("time_to_threshold_s").unavailable
                        if t.result.metrics.get("time_to_threshold_s")
                        else "—"
                    ),
                    fmt(t.first_epoch_samples_per_s),
                    fmt(t.steady_samples_per_s),
                ]
                for t in runs
            ],
        )
    )
    return s
