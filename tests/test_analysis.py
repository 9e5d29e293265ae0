"""Analyses on constructed result sets whose answers are known."""

from __future__ import annotations

import math

import pytest
from analysis_data import KNOWN_INTERCEPT, KNOWN_WEIGHTS, linear_sweep, result

from accelbench.analysis import (
    bandwidth_curves,
    compare,
    power_rows,
    regress,
    roofline,
    success_table,
    training_runs,
)
from accelbench.analysis.metrics import primary_metric
from accelbench.results.schema import Basis, DatasheetRef, PeakRef, References, Status


def test_regression_recovers_known_weights() -> None:
    (fit,) = regress(linear_sweep())
    assert fit.kind == "linear" and fit.group == {"mode": "forward", "dtype": "float32"}
    assert fit.n == 36
    got = {c.param: c.weight for c in fit.coefficients}
    for p, w in KNOWN_WEIGHTS.items():
        assert got[p] == pytest.approx(w, abs=0.5)
    assert fit.intercept == pytest.approx(KNOWN_INTERCEPT, abs=0.5)
    assert fit.r2 is not None and fit.r2 > 0.999
    assert all(c.significant for c in fit.coefficients)
    # largest effect first
    assert [c.param for c in fit.coefficients] == ["batch", "seq", "width"]


def test_regression_flags_a_parameter_that_does_not_matter() -> None:
    rs = linear_sweep(noise=5.0)
    # Add a parameter with no effect: its weight is small and not significant.
    rs = [
        result(
            r.kind,
            {**r.case, "junk": (i * 7) % 5},
            {"achieved_gflops": r.metric("achieved_gflops")},
            offset_s=i,
        )
        for i, r in enumerate(rs)
    ]
    (fit,) = regress(rs)
    junk = next(c for c in fit.coefficients if c.param == "junk")
    assert not junk.significant and abs(junk.weight) < 5


def test_regression_groups_by_categorical_settings_and_reports_too_few() -> None:
    rs = [
        *linear_sweep(),
        result(
            "linear",
            {"batch": 8, "width": 8, "seq": 1, "mode": "forward", "dtype": "bfloat16"},
            {"achieved_gflops": 5.0},
        ),
        result(
            "linear",
            {"batch": 16, "width": 8, "seq": 1, "mode": "forward", "dtype": "bfloat16"},
            {"achieved_gflops": 6.0},
        ),
    ]
    fits = {f.group["dtype"]: f for f in regress(rs)}
    assert fits["float32"].coefficients
    small = fits["bfloat16"]
    assert not small.coefficients and small.note and "needed" in small.note
    assert set(small.constant) == {"width", "seq"}


def test_regression_skips_failed_results() -> None:
    rs = [
        *linear_sweep(),
        result(
            "linear",
            {"batch": 1, "width": 1, "seq": 1, "mode": "forward", "dtype": "float32"},
            status=Status.OOM,
        ),
    ]
    (fit,) = regress(rs)
    assert fit.n == 36


def test_a_run_compared_with_itself_gives_ratio_one() -> None:
    rs = linear_sweep()
    cmp = compare(rs, rs)
    assert len(cmp.pairs) == 36
    assert all(p.ratio == pytest.approx(1.0) for p in cmp.pairs)
    (s,) = cmp.summaries
    assert (s.min, s.median, s.max, s.geomean) == pytest.approx((1, 1, 1, 1))
    assert not cmp.one_sided


def test_comparison_ratios_and_geomean() -> None:
    base = linear_sweep(run_id="base")
    cand = [
        result(
            r.kind,
            r.case,
            {"achieved_gflops": r.metric("achieved_gflops") * (2.0 if i % 2 else 0.5)},
            run_id="cand",
            offset_s=i,
        )
        for i, r in enumerate(base)
    ]
    cmp = compare(base, cand)
    (s,) = cmp.summaries
    assert s.min == pytest.approx(0.5) and s.max == pytest.approx(2.0)
    assert s.geomean == pytest.approx(1.0)  # 2x and 0.5x cancel geometrically
    assert all(p.params is not None and p.batch in (16, 32, 64, 128) for p in cmp.pairs)


def test_time_metrics_are_inverted_so_above_one_means_faster() -> None:
    case = {"model": "m", "threshold": 90}
    base = [
        result("train-x", case, {"time_to_threshold_s": 100.0}, units={"time_to_threshold_s": "s"})
    ]
    cand = [
        result(
            "train-x",
            case,
            {"time_to_threshold_s": 50.0},
            run_id="c",
            units={"time_to_threshold_s": "s"},
        )
    ]
    assert primary_metric("train-x", base).higher_is_better is False
    (p,) = compare(base, cand).pairs
    assert p.ratio == pytest.approx(2.0)


def test_training_without_threshold_is_compared_on_steady_throughput() -> None:
    case = {"model": "m"}
    base = [result("train-y", case, {"steady_samples_per_s": 100.0})]
    cand = [result("train-y", case, {"steady_samples_per_s": 150.0}, run_id="c")]
    assert primary_metric("train-y", base).name == "steady_samples_per_s"
    (p,) = compare(base, cand).pairs
    assert p.ratio == pytest.approx(1.5)


def test_a_configuration_failing_on_one_side_is_listed() -> None:
    base = linear_sweep()
    cand = list(base)
    victim = cand[3]
    cand[3] = result(
        victim.kind, victim.case, status=Status.OOM, run_id="cand", message="CUDA out of memory"
    )
    cand.append(
        result(
            "linear",
            {"batch": 999, "width": 1, "seq": 1, "mode": "forward", "dtype": "float32"},
            {"achieved_gflops": 1.0},
        )
    )
    cmp = compare(base, cand)
    (one,) = cmp.one_sided
    assert one.case == victim.case and one.ok_side == "base"
    assert one.failed_status == "oom" and "out of memory" in (one.failed_message or "")
    assert len(cmp.pairs) == 35 and cmp.only_in_candidate == 1 and cmp.only_in_base == 0


def test_success_table_counts_per_kind_and_group() -> None:
    rs = [
        result("conv2d", {"i": 1}, {"achieved_gflops": 1}),
        result("conv2d", {"i": 2}, status=Status.OOM),
        result("conv2d", {"i": 3}, status=Status.OOM),
        result("rnn", {"i": 1}, status=Status.UNSUPPORTED),
    ]
    rows = {(r.group, r.kind): r for r in success_table({"gpu": rs, "cpu": rs[:1]})}
    conv = rows[("gpu", "conv2d")]
    assert conv.total == 3 and conv.ok == 1 and conv.counts["oom"] == 2
    assert rows[("gpu", "rnn")].counts == {"unsupported": 1}
    assert rows[("cpu", "conv2d")].success_rate == 1.0


def test_roofline_points_and_ceilings() -> None:
    used = References(
        basis=Basis(compute_dtype="float32"),
        measured_peak=PeakRef(value=1e12),
        measured_bandwidth=PeakRef(value=1e11),
        datasheet=DatasheetRef(name="X", source="s", flops=2e12, memory_bandwidth_gbs=200.0),
    )
    rs = [
        result(
            "gemm",
            {"m": 1, "dtype": "float32"},
            {"arithmetic_intensity": 2.0, "achieved_gflops": 150.0},
            references=used,
        ),
        result("peak-gemm", {"dtype": "bfloat16"}, {"peak_gflops": 3000.0}),
        result("gemm", {"m": 2, "dtype": "float32"}, status=Status.OOM),
    ]
    roof = roofline(rs)
    assert [(p.intensity, p.gflops, p.bound) for p in roof.points] == [(2.0, 150.0, "memory")]
    compute = {(c.source, c.dtype): c.value for c in roof.compute}
    assert compute == {
        ("measured", "float32"): 1000.0,
        ("datasheet", "float32"): 2000.0,
        ("measured", "bfloat16"): 3000.0,
    }
    bw = {c.source: c.value for c in roof.bandwidth}
    assert bw == {"measured": 100.0, "datasheet": 200.0}
    assert roof.ridge(roof.compute[0], roof.bandwidth[0]) > 0


def test_bandwidth_curves_sorted_per_direction_and_memory() -> None:
    rs = [
        result(
            "bandwidth", {"direction": "h2d", "host_memory": "pinned", "bytes": 2048}, {"gbs": 2.0}
        ),
        result(
            "bandwidth", {"direction": "h2d", "host_memory": "pinned", "bytes": 1024}, {"gbs": 1.0}
        ),
        result(
            "bandwidth",
            {"direction": "h2d", "host_memory": "pageable", "bytes": 1024},
            {"gbs": 0.5},
        ),
        result("bandwidth", {"direction": "d2d", "bytes": 1024}, {"gbs": 9.0}),
        result(
            "bandwidth",
            {"direction": "h2d", "host_memory": "pinned", "bytes": 4096},
            status=Status.UNSUPPORTED,
        ),
    ]
    series = {s.label: s.points for s in bandwidth_curves(rs)}
    assert series == {
        "h2d (pinned)": [(1024, 1.0), (2048, 2.0)],
        "h2d (pageable)": [(1024, 0.5)],
        "d2d": [(1024, 9.0)],
    }


def test_training_runs_read_the_trace() -> None:
    trace = [
        {"epoch": 1, "wall_s": 10.0, "train_s": 1.0, "metric": 50.0, "samples_per_s": 80.0},
        {"epoch": 2, "wall_s": 15.0, "train_s": 1.0, "metric": 80.0, "samples_per_s": 100.0},
        {"epoch": 3, "wall_s": 20.0, "train_s": 1.0, "metric": 91.0, "samples_per_s": 120.0},
    ]
    r = result(
        "train-x",
        {"model": "m"},
        {"time_to_threshold_s": 20.0},
        trace=trace,
        config={"threshold": 90.0},
    )
    (t,) = training_runs([r, result("gemm", {"m": 1}, {"achieved_gflops": 1.0})])
    assert t.epochs == [1, 2, 3] and t.metric == [50.0, 80.0, 91.0]
    assert t.threshold == 90.0 and t.time_to_threshold_s == 20.0
    assert t.first_epoch_samples_per_s == 80.0
    assert t.steady_samples_per_s == pytest.approx(110.0)


def test_power_rows_only_where_measured() -> None:
    rs = [
        result(
            "gemm",
            {"m": 1},
            {"achieved_gflops": 1.0, "power_avg_w": 300.0, "energy_per_iter_j": 3.0},
        ),
        result("gemm", {"m": 2}, {"achieved_gflops": 1.0}),
    ]
    (row,) = power_rows(rs)
    assert row.power_avg_w == 300.0 and row.energy_per_iter_j == 3.0
    assert row.energy_per_sample_j is None
    assert math.isfinite(row.power_avg_w)
