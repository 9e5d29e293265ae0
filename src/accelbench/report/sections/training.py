"""Training to quality: validation curves, first against steady epoch throughput, repeated
runs."""

from __future__ import annotations

from accelbench.analysis import training_runs
from accelbench.analysis.groups import RunGroup
from accelbench.analysis.training import repeat_groups
from accelbench.names import describe_case
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt
from accelbench.report.sections import section


@section("training", order=70)
def _training(groups: list[RunGroup]) -> Section | None:
    runs = [t for g in groups for t in training_runs(g.results)]
    if not runs:
        return None
    s = Section("training", "Training to quality")
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
                "metric",
                "best",
                "time to threshold (s)",
                "first-epoch samples/s",
                "steady samples/s",
                "model TFLOP/s",
                "MFU (measured peak, %)",
                "waiting for data (%)",
            ],
            [
                [
                    t.label,
                    t.result.status.value,
                    len(t.epochs),
                    fmt(t.threshold),
                    t.metric_name,
                    fmt(t.result.metric("best_metric") or t.result.metric("best_accuracy")),
                    fmt(t.time_to_threshold_s)
                    if t.time_to_threshold_s is not None
                    else (
                        t.result.metrics.get("time_to_threshold_s").unavailable
                        if t.result.metrics.get("time_to_threshold_s")
                        else "—"
                    ),
                    fmt(t.first_epoch_samples_per_s),
                    fmt(t.steady_samples_per_s),
                    fmt(_tflops(t.result.metric("model_gflops"))),
                    fmt(t.result.metric("mfu_measured")),
                    fmt(t.result.metric("data_wait_fraction")),
                ]
                for t in runs
            ],
        )
    )
    repeated = [rg for g in groups for rg in repeat_groups(g.results) if rg.runs > 1]
    if repeated:
        s.tables.append(
            Table(
                [
                    "workload",
                    "configuration",
                    "runs",
                    "reached",
                    "mean (s)",
                    "median (s)",
                    "stdev (s)",
                    "min (s)",
                    "max (s)",
                    "MLPerf mean (s)",
                ],
                [
                    [
                        rg.workload,
                        describe_case(rg.case),
                        rg.runs,
                        rg.reached,
                        fmt(rg.mean_s),
                        fmt(rg.median_s),
                        fmt(rg.stdev_s),
                        fmt(rg.min_s),
                        fmt(rg.max_s),
                        fmt(rg.mlperf_mean_s),
                    ]
                    for rg in repeated
                ],
                caption="Repeated runs (seeds seed..seed+N-1): time to threshold over the runs "
                "that reached it. MLPerf mean: the fastest and the slowest run dropped, the mean "
                "of the rest (MLPerf's rule; needs 3 runs that reached the threshold).",
            )
        )
    return s


def _tflops(gflops: float | None) -> float | None:
    return None if gflops is None else gflops / 1e3
