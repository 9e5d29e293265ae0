"""Every registered device kind, power meter and workload kind honours its contract.

New entries are picked up from the registries automatically: a device, meter or workload that
registers itself is tested here without editing this file.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from accelbench.analysis.derived import derived_metrics
from accelbench.api.references import build_references
from accelbench.devices import DEVICES, Device, device_help
from accelbench.devices.fake import FakeDevice
from accelbench.names import PRECISIONS
from accelbench.power.base import METERS, MeterUnavailable, PowerMeter
from accelbench.power.session import PowerMonitor
from accelbench.results.schema import PeakRef, Result, Status
from accelbench.timing.settings import MeasureSettings
from accelbench.workloads import WORKLOADS, RunContext


class ConstantMeter(PowerMeter):
    """A 50 W energy counter on the host clock, with a window short enough for tests."""

    name = "test"
    mode = "energy"
    domain = "test board"
    update_interval_s = 0.002

    def read_energy_j(self) -> float:
        return 50.0 * time.perf_counter()


# The smallest valid params for each kind: a new kind must add an entry (the test below fails
# until it does, so no workload escapes the contract).
SMALL_PARAMS: dict[str, dict[str, Any]] = {
    "gemm": {"sizes": [8, 16], "dtypes": ["float32", "bfloat16"]},
    "linear": {"batch": [2], "in_features": [4], "out_features": [3], "dtypes": ["float32"]},
    "conv2d": {
        "batch": [1],
        "input_size": [6],
        "in_channels": [2],
        "out_channels": [3],
        "kernel_size": [3],
        "dtypes": ["float32"],
    },
    "rnn": {"batch": [2], "seq_len": [3], "hidden_size": [4], "dtypes": ["float32"]},
    "idle-power": {"seconds": 0.05, "settle_s": 0},
    "peak-gemm": {"sizes": [16, 32], "dtypes": ["float32"]},
    "bandwidth": {"directions": ["h2d", "d2h", "d2d", "triad"], "sizes": ["4KiB", 8192]},
    "peak-bandwidth": {"sizes": ["4KiB", 16384], "methods": ["d2d", "triad"]},
    "inference": {"model": "din", "options": {"history_len": 4}, "batch_size": 2},
    "resnet56-cifar10": {
        "data": "synthetic",
        "synthetic_size": 8,
        "eval_subset": 4,
        "batch_size": 4,
        "max_epochs": 1,
    },
    "deepfm-criteo": {
        "data": "synthetic",
        "synthetic_size": 16,
        "synthetic_tables": [3] * 26,
        "batch_size": 8,
        "max_epochs": 1,
        "embed_dim": 2,
    },
    "transformer-multi30k": {
        "data": "synthetic",
        "synthetic_size": 8,
        "vocab_size": 64,
        "batch_size": 120,
        "max_epochs": 1,
    },
    "transformer-wmt16": {
        "data": "synthetic",
        "synthetic_size": 4,
        "vocab_size": 64,
        "batch_size": 120,
        "synthetic_max_len": 10,
        "max_epochs": 1,
    },
    "cnn-digits": {"max_epochs": 1, "train_subset": 64, "eval_subset": 32, "batch_size": 32},
    "lstm-imdb": {
        "data": "synthetic",
        "synthetic_size": 8,
        "eval_subset": 4,
        "batch_size": 4,
        "max_epochs": 1,
        "vocab_size": 50,
        "max_len": 8,
        "embed_dim": 4,
        "hidden": 4,
    },
}


def test_every_kind_has_small_params() -> None:
    assert sorted(SMALL_PARAMS) == WORKLOADS.names()


@pytest.mark.parametrize("kind", WORKLOADS.names())
def test_workload_contract(kind: str) -> None:
    cls = WORKLOADS.get(kind)
    wl = cls.from_dict(SMALL_PARAMS[kind])
    cases = wl.cases()
    assert cases, "a workload must expand to at least one case"
    for case in cases:
        assert isinstance(cls.describe(case), str) and cls.describe(case)
        assert all(isinstance(k, str) for k in case)
    dev = FakeDevice(durations=[1e-3])
    ctx = RunContext(
        device=dev,
        info=dev.info(),
        measure=MeasureSettings(warmup=1, iterations=3),
        power=PowerMonitor([ConstantMeter()], rate_hz=50),
    )
    with dev.case_scope():
        out = wl.run_case(cases[0], ctx)
    assert out.status is Status.OK
    if cls.timed:
        assert out.measurement is not None and out.measurement.samples_s == [1e-3] * 3
        power = out.measurement.power
        assert power is not None and power.unavailable is None  # every timed kind is metered
        assert power.iterations is not None and power.iterations >= 3
    for name, metric in out.metrics.items():
        assert metric.value is not None or metric.unavailable, name
        assert metric.unit, name


def test_gemm_metrics_follow_from_the_samples() -> None:
    """With a scripted 1 ms per iteration, every derived metric is known exactly."""
    wl = WORKLOADS.get("gemm").from_dict({"sizes": [64], "dtypes": ["float32"]})
    dev = FakeDevice(durations=[1e-3])
    ctx = RunContext(device=dev, info=dev.info(), measure=MeasureSettings(warmup=0, iterations=4))
    with dev.case_scope():
        out = wl.run_case({"m": 64, "n": 64, "k": 64, "dtype": "float32"}, ctx)
    assert out.basis is not None
    refs = build_references(
        out.basis, ctx.info, measured_peak=PeakRef(result_id="peak-id", value=2 * 64**3 / 1e-3 * 2)
    )
    m = {k: v.value for k, v in {**out.metrics, **derived_metrics(out.metrics, refs)}.items()}
    flops = 2 * 64**3
    assert m["flops"] == flops and m["macs"] == 64**3
    assert m["achieved_gflops"] == pytest.approx(flops / 1e-3 / 1e9)
    assert m["min_bytes"] == 3 * 64 * 64 * 4
    assert m["arithmetic_intensity"] == pytest.approx(flops / (3 * 64 * 64 * 4))
    # Fake datasheet peak: 10 TFLOPS float32.
    assert m["utilisation_datasheet"] == pytest.approx(100 * flops / 1e-3 / 10e12)
    assert m["utilisation_measured"] == pytest.approx(50.0)
    assert m["peak_memory"] is not None and m["peak_memory"] >= 3 * 64 * 64 * 4
    assert refs.measured_peak is not None and refs.measured_peak.result_id == "peak-id"


def test_result_ids_are_stable_content_hashes() -> None:
    from datetime import datetime, timezone

    from accelbench.environment import collect_environment

    dev = FakeDevice()
    env = collect_environment(dev.info(), seed=0, threads=1)
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    kw = dict(
        run_id="r",
        suite="s",
        workload="w",
        kind="gemm",
        case={"m": 1},
        device="fake:0",
        status=Status.OK,
        environment=env,
        started_at=t,
        finished_at=t,
    )
    a, b = Result(**kw), Result(**kw)
    assert a.result_id == b.result_id and len(a.result_id) == 32
    assert Result(**{**kw, "case": {"m": 2}}).result_id != a.result_id


# -- every registered device kind ------------------------------------------------------------------
@pytest.mark.parametrize("kind", DEVICES.names())
def test_device_contract(kind: str) -> None:
    """Each kind says how it is selected and probes without raising, present or not; the kinds
    present here (cpu, fake) honour the whole device protocol."""
    cls = DEVICES.get(kind)
    assert cls.kind == kind
    assert (cls.spec_help or kind).split("[")[0] == kind
    assert (cls.spec_help or kind) in device_help()
    probe = cls.probe()
    assert probe.kind == kind
    assert probe.available or probe.reason, "an absent device must say why"
    if not probe.available and kind != "fake":
        return
    dev = cls(index=0)
    assert isinstance(dev, Device)
    info = dev.info()
    assert info.spec == dev.spec and info.timer in ("device-events", "perf_counter")
    assert set(info.supported_dtypes) | set(info.unsupported_dtypes) == set(PRECISIONS)
    for dtype, why in info.unsupported_dtypes.items():
        assert why, f"{kind} gives no reason for lacking {dtype}"
    timer = dev.new_timer()
    timer.start()
    timer.stop()
    dev.synchronize()
    assert timer.seconds() >= 0
    assert dev.is_oom(MemoryError())
    assert not dev.is_oom(ValueError("a shape mistake"))


# -- every registered power meter ------------------------------------------------------------------
@pytest.mark.parametrize("name", METERS.names())
@pytest.mark.parametrize("device", ["cpu", "fake"])
def test_meter_contract(name: str, device: str) -> None:
    """A meter factory returns meters for a device it applies to, [] for one it does not, or
    raises MeterUnavailable with the reason; nothing else escapes it, and every meter it
    returns describes itself and reads in its declared mode."""
    factory = METERS.get(name)
    dev = DEVICES.get(device)(index=0)
    try:
        meters = factory(dev)
    except MeterUnavailable as exc:
        assert str(exc), f"{name} is unavailable without a reason"
        return
    for m in meters:
        try:
            d = m.describe()
            assert d["meter"] == m.name and d["mode"] in ("energy", "power") and d["domain"]
            assert m.min_window_s > 0
            value = m.read_energy_j() if m.mode == "energy" else m.read_power_w()
            assert value >= 0
        finally:
            m.close()
