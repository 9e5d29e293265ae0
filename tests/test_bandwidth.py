"""Bandwidth workloads: size parsing, case expansion, exact rates from scripted timings, the
CPU's unsupported host transfers, real copies on the CPU, and the measured peak."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from accelbench.analysis.derived import derived_metrics
from accelbench.api import run_suite, validate_suite
from accelbench.api.references import build_references
from accelbench.devices.base import BaseDevice
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.cuda import CudaDevice
from accelbench.devices.fake import FakeDevice
from accelbench.errors import ConfigError, Unsupported
from accelbench.results.schema import Status
from accelbench.results.store import Store
from accelbench.timing.settings import MeasureSettings
from accelbench.workloads import WORKLOADS, CaseOutput, RunContext
from accelbench.workloads.bandwidth import (
    Bandwidth,
    BandwidthParams,
    GiB,
    Kernel,
    KiB,
    MiB,
    PeakBandwidth,
    format_bytes,
    make_kernel,
    parse_size,
    verify,
)

TINY = MeasureSettings(warmup=1, iterations=3)


def ctx_for(device: BaseDevice, measure: MeasureSettings = TINY) -> RunContext:
    return RunContext(device=device, info=device.info(), measure=measure)


def run(wl: Bandwidth | PeakBandwidth, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
    """Run one case and add its derived numbers (datasheet utilisation), as the runner does."""
    with ctx.device.case_scope():
        out = wl.run_case(case, ctx)
    if out.basis is not None:
        refs = build_references(out.basis, ctx.info)
        out.metrics.update(derived_metrics(out.metrics, refs, out.config.get("power")))
        out.config["references"] = refs
    return out


def values(out: CaseOutput) -> dict[str, float | None]:
    return {k: v.value for k, v in out.metrics.items()}


# -- sizes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (4096, 4096),
        ("4KiB", 4 * KiB),
        ("4 KiB", 4 * KiB),
        ("1MiB", MiB),
        ("256MiB", 256 * MiB),
        ("1GiB", GiB),
        ("512B", 512),
        (" 16KiB ", 16 * KiB),
    ],
)
def test_size_parsing_accepts_bytes_and_binary_units(given: object, expected: int) -> None:
    assert parse_size(given) == expected
    assert BandwidthParams.model_validate({"sizes": [given]}).sizes == [expected]


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("4KB", "binary unit"),  # decimal units are ambiguous, not guessed
        ("1 MB", "binary unit"),
        ("4k", "binary unit"),
        ("1.5MiB", "binary unit"),
        ("4096", "binary unit"),  # a bare number in quotes is a YAML mistake
        ("2TiB", "binary unit"),
        ("-4KiB", "binary unit"),
        (True, "positive integer of bytes"),
        (4096.0, "positive integer of bytes"),
        (None, "positive integer of bytes"),
        (0, "must be positive"),
        (-4096, "must be positive"),
        ("0KiB", "must be positive"),
        (4098, "not a multiple of 4 B"),
        ("4098B", "not a multiple of 4 B"),
        (2 << 40, "1 TiB"),
    ],
)
def test_size_parsing_rejects_everything_else_naming_the_value(given: object, needle: str) -> None:
    with pytest.raises(ValidationError) as ei:
        BandwidthParams.model_validate({"sizes": [4096, given]})
    err = ei.value.errors()[0]
    assert err["loc"] == ("sizes", 1)
    assert needle in err["msg"]
    assert f"invalid size {given!r}" in err["msg"]


def test_bad_size_in_a_suite_names_file_field_and_value() -> None:
    data = {
        "name": "bw",
        "workloads": [{"name": "bw", "kind": "bandwidth", "params": {"sizes": ["4KiB", "1MB"]}}],
    }
    with pytest.raises(ConfigError) as ei:
        validate_suite(data, "my.yaml")
    msg = str(ei.value)
    assert "my.yaml" in msg and "sizes[1]" in msg and "'1MB'" in msg and "\n" not in msg


def test_default_sizes_are_4kib_to_1gib_in_x4_steps() -> None:
    sizes = BandwidthParams().sizes
    kib = [4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB]
    assert sizes == [*kib, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB, GiB]
    assert WORKLOADS.get("peak-bandwidth").from_dict({}).params.sizes == [256 * MiB, GiB]


def test_format_bytes() -> None:
    assert [format_bytes(b) for b in (4 * KiB, 3 * MiB, GiB, 1000, 6 * KiB + 4)] == [
        "4 KiB",
        "3 MiB",
        "1 GiB",
        "1000 B",
        "6148 B",
    ]


# -- cases ---------------------------------------------------------------------------------------
def test_default_cases_multiply_host_memory_only_for_host_transfers() -> None:
    cases = Bandwidth.from_dict({}).cases()
    # h2d and d2h: 2 host memory kinds x 10 sizes each; d2d and triad: 10 sizes each.
    assert len(cases) == 2 * 2 * 10 + 2 * 10
    assert cases[0] == {"direction": "h2d", "host_memory": "pinned", "bytes": 4 * KiB}
    assert {"direction": "triad", "bytes": GiB} in cases
    assert all("host_memory" not in c for c in cases if c["direction"] in ("d2d", "triad"))
    json.dumps(cases)  # the resume identity: plain JSON


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"directions": ["h2d"], "host_memory": ["pinned"], "sizes": [4096]}, 1),
        ({"directions": ["h2d", "d2h"], "sizes": [4096, "8KiB"]}, 8),
        ({"directions": ["d2d", "triad"], "sizes": [4096, "8KiB"]}, 4),
        ({"directions": ["d2d", "triad"], "host_memory": ["pageable"], "sizes": [4096]}, 2),
        ({"directions": ["d2d", "d2d"], "sizes": [4096, "4KiB", "4 KiB"]}, 1),  # duplicates once
        ({"sizes": [4096]}, 6),
    ],
)
def test_case_counts(params: dict[str, Any], count: int) -> None:
    assert len(Bandwidth.from_dict(params).cases()) == count


@pytest.mark.parametrize(
    "params",
    [
        {"directions": []},
        {"directions": ["h2h"]},
        {"host_memory": ["locked"]},
        {"sizes": []},
        {"size": [4096]},
    ],
)
def test_bad_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Bandwidth.from_dict(params)


def test_describe() -> None:
    assert Bandwidth.describe({"direction": "h2d", "host_memory": "pinned", "bytes": 4096}) == (
        "h2d pinned 4 KiB"
    )
    assert Bandwidth.describe({"direction": "triad", "bytes": GiB}) == "triad 1 GiB"
    case = PeakBandwidth.from_dict({}).cases()[0]
    assert case == {"sizes": [256 * MiB, GiB], "methods": ["d2d", "triad"]}
    assert PeakBandwidth.describe(case) == "peak bandwidth (d2d/triad at 256 MiB/1 GiB)"


# -- exact rates from scripted timings -----------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "moved", "read_write"),
    [
        ({"direction": "h2d", "host_memory": "pinned", "bytes": 64 * KiB}, 64 * KiB, None),
        ({"direction": "h2d", "host_memory": "pageable", "bytes": 64 * KiB}, 64 * KiB, None),
        ({"direction": "d2h", "host_memory": "pinned", "bytes": 16 * KiB}, 16 * KiB, None),
        ({"direction": "d2d", "bytes": 64 * KiB}, 64 * KiB, 2 * 64 * KiB),
        ({"direction": "triad", "bytes": 64 * KiB}, 3 * 64 * KiB, 3 * 64 * KiB),
    ],
)
def test_rates_follow_exactly_from_the_samples(
    case: dict[str, Any], moved: int, read_write: int | None
) -> None:
    """Every timed sample is 1 ms, so every rate is known exactly."""
    dev = FakeDevice(durations=[1e-3])
    out = run(Bandwidth.from_dict({}), case, ctx_for(dev))
    assert out.status is Status.OK
    assert out.measurement is not None and out.measurement.samples_s == [1e-3] * 3
    m = values(out)
    assert m["bytes"] == case["bytes"] and m["bytes_moved"] == moved
    assert m["time_median"] == m["time_min"] == 1e-3
    assert m["gbs"] == pytest.approx(moved / 1e-3 / 1e9)
    assert m["best_gbs"] == pytest.approx(moved / 1e-3 / 1e9)
    assert out.metrics["gbs"].unit == "GB/s" and out.metrics["bytes"].unit == "B"
    conv = out.config["byte_convention"]
    assert "1e9" in conv
    if read_write is None:  # host transfers: no device-memory read+write rate
        assert "gbs_read_write" not in m and "utilisation_datasheet" not in m
    else:
        assert m["gbs_read_write"] == pytest.approx(read_write / 1e-3 / 1e9)
        # Fake datasheet: 1000 GB/s of memory bandwidth.
        assert m["utilisation_datasheet"] == pytest.approx(100 * read_write / 1e-3 / 1000e9)
        assert out.config["references"].datasheet.memory_bandwidth_gbs == 1000.0
        assert ("2 x bytes" if case["direction"] == "d2d" else "3 x bytes") in conv
    # The fake allocator saw every buffer of the case (host buffers included).
    n_buffers = 3 if case["direction"] == "triad" else 2
    assert m["peak_memory"] is not None and m["peak_memory"] >= n_buffers * case["bytes"]


def test_best_gbs_uses_the_fastest_sample() -> None:
    dev = FakeDevice(durations=[2e-3, 1e-3, 4e-3])
    out = run(Bandwidth.from_dict({}), {"direction": "d2d", "bytes": 8 * KiB}, ctx_for(dev, TINY))
    m = values(out)
    assert m["time_median"] == 2e-3 and m["time_min"] == 1e-3
    assert m["gbs"] == pytest.approx(8 * KiB / 2e-3 / 1e9)
    assert m["best_gbs"] == pytest.approx(8 * KiB / 1e-3 / 1e9)


# -- what a device cannot do ---------------------------------------------------------------------
def bandwidth_suite(params: dict[str, Any], kind: str = "bandwidth") -> Any:
    data = {
        "name": "bw-test",
        "seed": 0,
        "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
        "workloads": [{"name": "bw", "kind": kind, "params": params}],
    }
    return validate_suite(data, "test suite")


def test_cpu_host_transfers_are_stored_as_unsupported(tmp_path: Path) -> None:
    db = tmp_path / "bw.db"
    suite = bandwidth_suite({"sizes": ["16KiB"]})
    report = run_suite(suite, device="cpu", db=db)
    by_case = {Bandwidth.describe(r.case): r for r in report.results}
    assert len(by_case) == 6
    for name in ("h2d pinned", "h2d pageable", "d2h pinned", "d2h pageable"):
        r = by_case[f"{name} 16 KiB"]
        assert r.status is Status.UNSUPPORTED
        assert r.message and "the CPU is the host" in r.message
        assert "d2d (main-memory copy) and triad stand in" in r.message
    for name in ("d2d", "triad"):
        r = by_case[f"{name} 16 KiB"]
        assert r.status is Status.OK, r.message
        assert r.metric("gbs") > 0 and r.metric("gbs_read_write") > 0
        assert r.config["byte_convention"]
        # The CPU has no datasheet entry and no resettable peak memory: both say why.
        assert r.metrics["utilisation_datasheet"].unavailable
        assert r.metrics["peak_memory"].unavailable
    with Store(db) as st:
        stored = {Bandwidth.describe(r.case): r.status for r in st.query()}
    assert stored == {k: r.status for k, r in by_case.items()}
    # Unsupported is a final answer: a second run measures nothing again.
    again = run_suite(suite, device="cpu", db=db)
    assert again.results == [] and again.skipped_already_stored == 6


def test_a_device_that_cannot_pin_gives_unsupported_pinned_cases(tmp_path: Path) -> None:
    dev = FakeDevice(can_pin=False, durations=[1e-3])
    suite = bandwidth_suite({"directions": ["h2d", "d2h"], "sizes": [4096]})
    report = run_suite(suite, device=dev, db=tmp_path / "bw.db")
    status = {Bandwidth.describe(r.case): (r.status, r.message) for r in report.results}
    assert status["h2d pinned 4 KiB"] == (
        Status.UNSUPPORTED,
        "the fake device was configured without pinned host memory",
    )
    assert status["d2h pinned 4 KiB"][0] is Status.UNSUPPORTED
    assert status["h2d pageable 4 KiB"][0] is Status.OK
    assert status["d2h pageable 4 KiB"][0] is Status.OK


def test_host_copies_cannot_be_graph_captured() -> None:
    dev = FakeDevice(durations=[1e-3])
    ctx = ctx_for(dev, MeasureSettings(warmup=1, iterations=3, cuda_graph=True))
    wl = Bandwidth.from_dict({})
    with pytest.raises(Unsupported, match="cuda_graph: false"):
        run(wl, {"direction": "h2d", "host_memory": "pageable", "bytes": 4096}, ctx)
    assert run(wl, {"direction": "d2d", "bytes": 4096}, ctx).status is Status.OK


# -- the device layer's pinned memory ------------------------------------------------------------
def test_pinned_memory_on_devices_without_it() -> None:
    ok, why = CpuDevice().pinned_memory_support()
    assert not ok and why and "pinned" in why
    with pytest.raises(Unsupported):
        CpuDevice().pinned_memory(4096)
    with pytest.raises(Unsupported, match="configured without pinned"):
        FakeDevice(can_pin=False).pinned_memory(4096)


def test_fake_pinned_memory_is_a_host_buffer_of_the_asked_size() -> None:
    dev = FakeDevice()
    assert dev.pinned_memory_support() == (True, None)
    buf = dev.pinned_memory(16 * KiB)
    assert buf.dtype == torch.float32 and buf.numel() == 4 * KiB and buf.device.type == "cpu"
    assert dev.pinned_memory(16, torch.float16).numel() == 8
    with pytest.raises(ValueError, match="multiple"):
        dev.pinned_memory(4098)


def test_accelerator_asks_torch_whether_it_can_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    real_empty = torch.empty

    def no_allocator(*args: Any, pin_memory: bool = False, **kw: Any) -> torch.Tensor:
        if pin_memory:
            raise RuntimeError("pin_memory=True requires a CUDA or other accelerator backend\nmore")
        return real_empty(*args, **kw)

    monkeypatch.setattr(torch, "empty", no_allocator)
    ok, why = CudaDevice(index=0).pinned_memory_support()
    assert not ok
    assert why == (
        "torch cannot pin host memory for cuda: pin_memory=True requires a CUDA or other "
        "accelerator backend"
    )

    def unpinned(*args: Any, pin_memory: bool = False, **kw: Any) -> torch.Tensor:
        return real_empty(*args, **kw)  # a plug-in that quietly ignores pin_memory

    monkeypatch.setattr(torch, "empty", unpinned)
    dev = CudaDevice(index=0)
    ok, why = dev.pinned_memory_support()
    assert not ok and why and "unpinned" in why
    with pytest.raises(Unsupported):
        dev.pinned_memory(4096)


# -- the data is really moved --------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["d2d", "triad"])
def test_cpu_operations_really_move_the_data(direction: str) -> None:
    k = make_kernel(direction, 64 * KiB, CpuDevice())
    buf = k.buffers
    if direction == "d2d":
        assert not torch.equal(buf["dst"], buf["src"])  # both random before the copy
        k.fn()
        assert torch.equal(buf["dst"], buf["src"])
    else:
        k.fn()
        torch.testing.assert_close(buf["a"], buf["b"] + 3.0 * buf["c"])
    assert all(t.numel() == 16 * KiB and t.std() > 0.5 for t in buf.values())  # random normal
    verify(k)


@pytest.mark.parametrize(("direction", "host"), [("h2d", "pinned"), ("d2h", "pageable")])
def test_fake_host_transfers_really_copy(direction: str, host: str) -> None:
    k = make_kernel(direction, 16 * KiB, FakeDevice(), host)
    k.fn()
    assert torch.equal(k.buffers["dst"], k.buffers["src"])


def test_verify_catches_an_operation_that_did_nothing() -> None:
    k = make_kernel("d2d", 64 * KiB, CpuDevice())
    noop = Kernel(fn=lambda: None, buffers=k.buffers, bytes_moved=1, bytes_read_write=2)
    noop.fn()
    with pytest.raises(RuntimeError, match="meaningless"):
        verify(noop)
    t = make_kernel("triad", 64 * KiB, CpuDevice())
    t.fn()
    t.buffers["a"][-1] += 1.0  # only the tail is wrong
    with pytest.raises(RuntimeError):
        verify(t)


@pytest.mark.parametrize("direction", ["d2d", "triad"])
def test_cpu_rates_are_sane(direction: str) -> None:
    out = run(
        Bandwidth.from_dict({}), {"direction": direction, "bytes": 64 * KiB}, ctx_for(CpuDevice())
    )
    m = values(out)
    assert out.status is Status.OK
    assert m["time_median"] is not None and 0 < m["time_min"] <= m["time_median"] < 1.0
    # Positive and below 10 TB/s: any CPU copy is somewhere in between.
    assert 0 < m["gbs"] <= m["best_gbs"] < 1e4


# -- peak-bandwidth ------------------------------------------------------------------------------
def test_peak_bandwidth_picks_the_best_read_write_rate() -> None:
    # Two timed samples per measurement, measured in order: d2d 4 KiB, d2d 16 KiB, triad 4 KiB,
    # triad 16 KiB. d2d at 4 KiB is fastest: 2 x 4096 B / 10 us = 0.8192 GB/s.
    durations = [1e-5] * 2 + [1e-3] * 2 + [1e-3] * 2 + [1e-4] * 2
    dev = FakeDevice(durations=durations)
    wl = PeakBandwidth.from_dict({"sizes": ["4KiB", "16KiB"], "methods": ["d2d", "triad"]})
    out = run(wl, wl.cases()[0], ctx_for(dev, MeasureSettings(warmup=0, iterations=2)))
    m = values(out)
    assert m["gbs_d2d_at_4096"] == pytest.approx(2 * 4096 / 1e-5 / 1e9)
    assert m["gbs_d2d_at_16384"] == pytest.approx(2 * 16384 / 1e-3 / 1e9)
    assert m["gbs_triad_at_4096"] == pytest.approx(3 * 4096 / 1e-3 / 1e9)
    assert m["gbs_triad_at_16384"] == pytest.approx(3 * 16384 / 1e-4 / 1e9)
    assert m["peak_gbs"] == pytest.approx(0.8192)
    assert m["peak_gbs"] == max(v for k, v in m.items() if k.startswith("gbs_"))
    assert out.config["best_method"] == "d2d" and out.config["best_bytes"] == 4096
    assert "read + write" in out.config["byte_convention"]
    assert out.measurement is not None and out.measurement.samples_s == [1e-5, 1e-5]
    assert m["utilisation_datasheet"] == pytest.approx(100 * 0.8192 / 1000)


def test_peak_bandwidth_follows_the_method_order_and_can_pick_the_triad() -> None:
    # One sample each, in order: triad 4 KiB, triad 16 KiB, d2d 4 KiB, d2d 16 KiB.
    dev = FakeDevice(durations=[1e-3, 1e-4, 1e-3, 1e-3])
    wl = PeakBandwidth.from_dict({"sizes": [4096, 16384], "methods": ["triad", "d2d"]})
    assert wl.cases()[0]["methods"] == ["triad", "d2d"]
    out = run(wl, wl.cases()[0], ctx_for(dev, MeasureSettings(warmup=0, iterations=1)))
    assert out.config["best_method"] == "triad" and out.config["best_bytes"] == 16384
    assert out.metrics["peak_gbs"].value == pytest.approx(3 * 16384 / 1e-4 / 1e9)
    assert out.metrics["gbs_d2d_at_4096"].value == pytest.approx(2 * 4096 / 1e-3 / 1e9)


def test_peak_bandwidth_on_the_cpu_is_stored(tmp_path: Path) -> None:
    suite = bandwidth_suite({"sizes": ["64KiB"], "methods": ["d2d", "triad"]}, "peak-bandwidth")
    report = run_suite(suite, device="cpu", db=tmp_path / "bw.db")
    (r,) = report.results
    assert r.status is Status.OK, r.message
    assert r.metric("peak_gbs") == max(r.metric("gbs_d2d_at_65536"), r.metric("gbs_triad_at_65536"))
    assert r.config["best_method"] in ("d2d", "triad") and r.config["best_bytes"] == 65536
