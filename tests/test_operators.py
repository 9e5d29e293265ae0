"""Operator sweeps: grid expansion, real forward/backward runs, failures as results, suites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import write_suite

from accelbench import flops as fl
from accelbench.analysis.derived import derived_metrics, roofline_facts
from accelbench.api import load_suite, run_suite, validate_suite
from accelbench.api.references import build_references
from accelbench.config import measure_for
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.errors import ConfigError
from accelbench.results.schema import PeakRef, Status
from accelbench.results.store import Store
from accelbench.timing.protocol import MeasureSettings
from accelbench.workloads import WORKLOADS, RunContext

TINY = {"mode": "fixed", "warmup": 1, "iterations": 3}


def _suite(workloads: list[dict[str, Any]], name: str = "ops-test") -> Any:
    return validate_suite(
        {"name": name, "seed": 0, "measure": dict(TINY), "workloads": workloads}, "test"
    )


def _ctx(dev: Any, **kw: Any) -> RunContext:
    return RunContext(device=dev, info=dev.info(), measure=MeasureSettings(**TINY), **kw)


# -- grids ---------------------------------------------------------------------------------------
def _workload(suite: str, name: str) -> Any:
    s = load_suite(suite)
    spec = next(w for w in s.workloads if w.name == name)
    return WORKLOADS.get(spec.kind).from_dict(spec.params)


def test_paper_convolution_grid_is_exactly_the_papers_243() -> None:
    wl = _workload("paper-ops", "paper-conv")
    grid = wl.grid()
    assert len(grid) == 243 == 3 * 3 * 3 * 3 * 3
    assert {c["batch"] for c in grid} == {128, 256, 512}
    assert {c["input_size"] for c in grid} == {112, 224, 336}
    assert {c["in_channels"] for c in grid} == {32, 64, 128}
    assert {c["out_channels"] for c in grid} == {64, 128, 256}
    assert {c["kernel_size"] for c in grid} == {1, 3, 5}
    # every combination runs in each mode and dtype: cases = grid x modes x dtypes
    assert len(wl.cases()) == 243 * 2 * 2


def test_paper_fc_and_rnn_grids_have_the_papers_counts() -> None:
    assert len(_workload("paper-ops", "paper-fc").grid()) == 192
    assert len(_workload("paper-ops", "paper-rnn").grid()) == 144


def test_every_paper_grid_size_is_a_multiple_of_8() -> None:
    for name in ("paper-conv", "paper-fc", "paper-rnn"):
        for combo in _workload("paper-ops", name).grid():
            for key in ("batch", "in_channels", "out_channels", "in_features", "out_features"):
                if key in combo:
                    assert combo[key] % 8 == 0, (name, key, combo[key])


def test_conv_grid_drops_combinations_groups_cannot_split() -> None:
    wl = WORKLOADS.get("conv2d").from_dict(
        {
            "batch": [2],
            "input_size": [8],
            "in_channels": [4, 6],
            "out_channels": [8],
            "kernel_size": [3],
            "groups": [1, 4],
            "dtypes": ["float32"],
            "modes": ["forward"],
        }
    )
    combos = {(c["in_channels"], c["groups"]) for c in wl.grid()}
    assert combos == {(4, 1), (6, 1), (4, 4)}  # 6 channels cannot split into 4 groups


def test_conv_grid_drops_combinations_with_an_empty_output() -> None:
    wl = WORKLOADS.get("conv2d").from_dict(
        {
            "batch": [1],
            "input_size": [4],
            "in_channels": [2],
            "out_channels": [2],
            "kernel_size": [3, 7],
            "padding": [0],
            "dtypes": ["float32"],
        }
    )
    assert {c["kernel_size"] for c in wl.grid()} == {3}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"in_channels": [3], "out_channels": [8], "groups": [2]}, "divides evenly"),
        ({"kernel_size": [2]}, "odd kernel"),
        ({"batch": [0]}, "batch"),
        ({"modes": ["backward"]}, "modes"),
        ({"dtypes": ["int8"]}, "dtypes"),
    ],
)
def test_bad_conv_params_are_config_errors(params: dict[str, Any], field: str) -> None:
    base = {"batch": [1], "input_size": [8], "in_channels": [4], "out_channels": [4]}
    base["kernel_size"] = [3]
    with pytest.raises(ConfigError, match=field):
        _suite([{"name": "c", "kind": "conv2d", "params": {**base, **params}}])


# -- real runs on the CPU ------------------------------------------------------------------------
SMALL = {
    "linear": {"batch": [4], "in_features": [8], "out_features": [16]},
    "conv2d": {
        "batch": [2],
        "input_size": [8],
        "in_channels": [4],
        "out_channels": [8],
        "kernel_size": [3],
        "stride": [2],
        "groups": [2],
    },
    "rnn": {
        "cell": ["rnn_tanh", "rnn_relu", "lstm", "gru"],
        "batch": [3],
        "seq_len": [5],
        "hidden_size": [8],
        "input_size": [6],
        "num_layers": [2],
        "bidirectional": [True],
    },
}


@pytest.mark.parametrize("kind", sorted(SMALL))
@pytest.mark.parametrize("mode", ["forward", "forward+backward"])
def test_operator_runs_and_reports_the_analytic_counts(kind: str, mode: str) -> None:
    wl = WORKLOADS.get(kind).from_dict({**SMALL[kind], "modes": [mode], "dtypes": ["float32"]})
    dev = CpuDevice()
    for case in wl.cases():
        with dev.case_scope():
            out = wl.run_case(case, _ctx(dev))
        assert out.status is Status.OK
        count = wl.count(case, 4)
        m = out.metrics
        assert m["flops"].value == pytest.approx(count.total(mode).flops)
        assert m["macs"].value == pytest.approx(count.total(mode).macs)
        assert m["min_bytes"].value == pytest.approx(count.total(mode).min_bytes)
        assert m["params"].value == count.params  # the analytic model agrees with torch
        assert "param_mismatch" not in out.config["flop_count"]
        assert m["samples_per_s"].value == pytest.approx(case["batch"] / m["time_median"].value)
        assert ("backward_flops" in m) is (mode != "forward")
        assert m["achieved_gflops"].value > 0


def test_forward_backward_without_input_grad_counts_less() -> None:
    base = {**SMALL["linear"], "modes": ["forward+backward"], "dtypes": ["float32"]}
    with_grad = WORKLOADS.get("linear").from_dict(base)
    first_layer = WORKLOADS.get("linear").from_dict({**base, "input_grad": False})
    case = with_grad.cases()[0]
    assert (
        first_layer.count(case, 4).total("forward+backward").flops
        < with_grad.count(case, 4).total("forward+backward").flops
    )


@pytest.mark.parametrize("kind", sorted(SMALL))
@pytest.mark.parametrize("input_grad", [True, False])
def test_backward_computes_exactly_the_gradients_it_counts(kind: str, input_grad: bool) -> None:
    """The timed callable returns d(input) (only with input_grad) and d(every parameter),
    equal to what autograd gives for the same module, input and upstream gradient."""
    wl = WORKLOADS.get(kind).from_dict({**SMALL[kind], "dtypes": ["float32"]})
    case = next(c for c in wl.cases() if c["mode"] == "forward+backward")
    dev = torch.device("cpu")
    torch.manual_seed(0)
    module = wl.build(case, dev, torch.float32)
    x = wl.make_input(case, dev, torch.float32)
    torch.manual_seed(1)
    grads = wl._callable(module, x, "forward+backward", input_grad)()
    params = list(module.parameters())
    assert len(grads) == len(params) + int(input_grad)
    assert all(p.grad is None for p in params)  # returned, not accumulated

    torch.manual_seed(1)  # the same upstream gradient as the callable drew
    ref_x = x.detach().clone().requires_grad_(input_grad)
    with torch.no_grad():
        grad_out = torch.randn_like(wl.first_output(module(ref_x)))
    y = wl.first_output(module(ref_x))
    expected = torch.autograd.grad(y, [ref_x, *params] if input_grad else params, grad_out)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)


def test_forward_mode_runs_without_autograd_in_eval_mode() -> None:
    wl = WORKLOADS.get("rnn").from_dict({**SMALL["rnn"], "cell": ["lstm"], "modes": ["forward"]})
    case = wl.cases()[0]
    module = wl.build(case, torch.device("cpu"), torch.float32)
    x = wl.make_input(case, torch.device("cpu"), torch.float32)
    out = wl._callable(module, x, "forward", False)()
    assert not module.training
    assert not wl.first_output(out).requires_grad


def test_rnn_batch_first_shapes_the_input() -> None:
    wl = WORKLOADS.get("rnn").from_dict({**SMALL["rnn"], "cell": ["lstm"], "batch_first": True})
    case = wl.cases()[0]
    x = wl.make_input(case, torch.device("cpu"), torch.float32)
    assert x.shape == (3, 5, 6)


def test_rnn_counts_tokens_per_second() -> None:
    wl = WORKLOADS.get("rnn").from_dict(
        {**SMALL["rnn"], "cell": ["gru"], "modes": ["forward"], "dtypes": ["float32"]}
    )
    dev = FakeDevice(durations=[1e-3])
    with dev.case_scope():
        out = wl.run_case(wl.cases()[0], _ctx(dev))
    assert out.metrics["tokens_per_s"].value == pytest.approx(3 * 5 / 1e-3)


# -- roofline ------------------------------------------------------------------------------------
def test_roofline_uses_measured_compute_and_bandwidth() -> None:
    """1 ms per iteration on the fake: every roofline number is known exactly."""
    wl = WORKLOADS.get("linear").from_dict(
        {"batch": [64], "in_features": [64], "out_features": [64], "modes": ["forward"]}
    )
    case = {**wl.cases()[0], "dtype": "float32"}
    dev = FakeDevice(durations=[1e-3])
    ctx = _ctx(dev)
    with dev.case_scope():
        out = wl.run_case(case, ctx)
    assert out.basis is not None
    refs = build_references(
        out.basis,
        ctx.info,
        measured_peak=PeakRef(result_id="peak-id", value=1e12),
        measured_bandwidth=PeakRef(result_id="bw-id", value=1e9),
    )
    out.metrics.update(derived_metrics(out.metrics, refs))
    count = fl.linear(rows=64, in_features=64, out_features=64)
    intensity = count.forward.flops / count.forward.min_bytes
    attainable = min(1e12, intensity * 1e9)
    m = out.metrics
    assert m["arithmetic_intensity"].value == pytest.approx(intensity)
    assert m["roofline_attainable_gflops"].value == pytest.approx(attainable / 1e9)
    achieved = count.forward.flops / 1e-3
    assert m["roofline_efficiency"].value == pytest.approx(100 * achieved / attainable)
    facts = roofline_facts(intensity, achieved, refs)
    assert facts is not None
    assert facts.bound == "memory"  # ~10 FLOP/B against a ridge of 1000 FLOP/B
    assert refs.measured_bandwidth is not None and refs.measured_bandwidth.result_id == "bw-id"


def test_roofline_without_measured_bandwidth_is_unavailable_with_the_reason() -> None:
    wl = WORKLOADS.get("linear").from_dict({**SMALL["linear"], "modes": ["forward"]})
    dev = FakeDevice(durations=[1e-3])
    ctx = _ctx(dev)
    with dev.case_scope():
        out = wl.run_case({**wl.cases()[0], "dtype": "float32"}, ctx)
    assert out.basis is not None
    refs = build_references(out.basis, ctx.info, measured_peak=PeakRef(value=1e12))
    metric = derived_metrics(out.metrics, refs)["roofline_efficiency"]
    assert metric.value is None and "bandwidth" in (metric.unavailable or "")


# -- failures are results, and the sweep goes on -------------------------------------------------
def test_out_of_memory_is_a_result_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """The fake has 64 KiB: the small FC fits, the large one cannot; both are stored."""
    suite = _suite(
        [
            {
                "name": "fc",
                "kind": "linear",
                "params": {
                    "batch": [4],
                    "in_features": [8, 512],
                    "out_features": [8],
                    "modes": ["forward"],
                    "dtypes": ["float32"],
                },
            },
            {
                "name": "after",
                "kind": "gemm",
                "params": {"sizes": [8], "dtypes": ["float32"]},
            },
        ]
    )
    dev = FakeDevice(memory_bytes=4 * 1024, durations=[1e-3])
    report = run_suite(suite, device=dev, db=tmp_path / "r.db")
    by_case = {(r.workload, r.case.get("in_features")): r for r in report.results}
    assert by_case[("fc", 8)].status is Status.OK
    big = by_case[("fc", 512)]
    assert big.status is Status.OOM and "out of memory" in (big.message or "")
    assert by_case[("after", None)].status is Status.OK  # the sweep went on
    with Store(tmp_path / "r.db") as st:
        assert st.count() == 3


def test_dtype_the_device_lacks_is_unsupported_not_a_crash(tmp_path: Path) -> None:
    suite = _suite(
        [
            {
                "name": "fc",
                "kind": "linear",
                "params": {
                    **SMALL["linear"],
                    "modes": ["forward"],
                    "dtypes": ["float32", "float16"],
                },
            }
        ]
    )
    dev = FakeDevice(dtypes=["float32"], durations=[1e-3])
    report = run_suite(suite, device=dev, db=tmp_path / "r.db")
    status = {r.case["dtype"]: r for r in report.results}
    assert status["float32"].status is Status.OK
    assert status["float16"].status is Status.UNSUPPORTED
    assert "float16" in (status["float16"].message or "")


def test_missing_kernel_for_a_dtype_is_unsupported(tmp_path: Path) -> None:
    """A backend that has no kernel for a dtype ("not implemented for 'Half'") is a platform
    limit, recorded as unsupported with torch's message, not as an error."""

    def fail() -> BaseException | None:
        return NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Half'")

    suite = _suite([{"name": "fc", "kind": "linear", "params": {**SMALL["linear"]}}])
    dev = FakeDevice(dtypes=["float32"], fail_when=fail)
    report = run_suite(suite, device=dev, db=tmp_path / "r.db")
    ok_dtype = [r for r in report.results if r.case["dtype"] == "float32"]
    assert ok_dtype and all(r.status is Status.UNSUPPORTED for r in ok_dtype)
    assert "not implemented for 'Half'" in (ok_dtype[0].message or "")


def test_other_errors_are_errors_with_a_traceback(tmp_path: Path) -> None:
    def fail() -> BaseException | None:
        return RuntimeError("device lost")

    suite = _suite([{"name": "fc", "kind": "linear", "params": {**SMALL["linear"]}}])
    report = run_suite(suite, device=FakeDevice(fail_when=fail), db=tmp_path / "r.db")
    r = report.results[0]
    assert r.status is Status.ERROR and r.message == "RuntimeError: device lost"
    assert "device lost" in r.config["traceback"]


# -- suites and includes ---------------------------------------------------------------------------
def test_quick_includes_quick_ops_with_its_measurement_settings() -> None:
    quick, ops = load_suite("quick"), load_suite("quick-ops")
    names = [w.name for w in quick.workloads]
    assert names[-len(ops.workloads) :] == [w.name for w in ops.workloads]
    included = next(w for w in quick.workloads if w.name == "ops-fc")
    assert included.measure["time_budget_s"] == ops.measure.time_budget_s
    assert included.measure["target_rel_ci"] == ops.measure.target_rel_ci


def test_include_cycle_and_unknown_include_are_clear_errors(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    gemm = [{"name": "g", "kind": "gemm", "params": {"sizes": [8]}}]
    write_suite(a, {"name": "a", "include": [str(b)], "workloads": gemm})
    write_suite(b, {"name": "b", "include": [str(a)], "workloads": gemm})
    with pytest.raises(ConfigError, match="includes itself"):
        load_suite(str(a))
    write_suite(a, {"name": "a", "include": ["no-such-suite"], "workloads": gemm})
    with pytest.raises(ConfigError, match="include 'no-such-suite'"):
        load_suite(str(a))


def test_included_workload_names_must_not_clash(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    ops_fc = {"name": "ops-fc", "kind": "gemm", "params": {"sizes": [8]}}
    write_suite(a, {"name": "a", "include": ["quick-ops"], "workloads": [ops_fc]})
    with pytest.raises(ConfigError, match="used twice"):
        load_suite(str(a))


def test_included_workloads_keep_their_own_measure_and_resolve_relative_paths(
    tmp_path: Path,
) -> None:
    """The child has no ``measure``: its workloads get the defaults, not the parent's."""
    sub = tmp_path / "sub"
    sub.mkdir()
    gemm = [{"name": "child-gemm", "kind": "gemm", "params": {"sizes": [8]}}]
    write_suite(sub / "child.yaml", {"name": "child", "workloads": gemm})
    write_suite(
        sub / "parent.yaml",
        {
            "name": "parent",
            "measure": {"mode": "fixed", "iterations": 7, "cuda_graph": True},
            "include": ["child.yaml"],  # relative to parent.yaml, not to the working directory
        },
    )
    suite = load_suite(str(sub / "parent.yaml"))
    (w,) = suite.workloads  # an include alone is enough workloads
    resolved = measure_for(suite, w)
    assert resolved == MeasureSettings()  # the child's settings: all defaults
    assert resolved.cuda_graph is False and resolved.iterations == 100


def test_gemm_forward_backward_times_three_products_and_counts_them() -> None:
    wl = WORKLOADS.get("gemm").from_dict(
        {"shapes": [[8, 16, 4]], "dtypes": ["float32"], "modes": ["forward", "forward+backward"]}
    )
    fwd, fwd_bwd = wl.cases()
    assert "mode" not in fwd  # forward cases keep the identity they had before modes existed
    assert fwd_bwd["mode"] == "forward+backward"
    dev = FakeDevice(durations=[1e-3])
    outs = []
    for case in (fwd, fwd_bwd):
        with dev.case_scope():
            outs.append(wl.run_case(case, _ctx(dev)))
    assert outs[0].metrics["flops"].value == 2 * 8 * 16 * 4
    assert outs[1].metrics["flops"].value == 3 * 2 * 8 * 16 * 4  # C = AB, dA, dB


def test_gemm_backward_products_equal_autograd() -> None:
    from accelbench.workloads.gemm import _gemm_callable

    torch.manual_seed(0)
    c, da, db = _gemm_callable(8, 16, 4, "float32", _ctx(CpuDevice()), "forward+backward")()
    torch.manual_seed(0)  # the same draws, in the callable's order: A, B, then dC
    a = torch.randn(8, 4).requires_grad_()
    b = torch.randn(4, 16).requires_grad_()
    g = torch.randn(8, 16)
    y = a @ b
    want_da, want_db = torch.autograd.grad(y, [a, b], g)
    torch.testing.assert_close(c, y.detach())
    torch.testing.assert_close(da, want_da)
    torch.testing.assert_close(db, want_db)
