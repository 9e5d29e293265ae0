"""Integer and 8-bit float GEMM: int8 (torch._int_mm) and float8_e4m3fn / float8_e5m2
(torch._scaled_mm) as dtypes of gemm and peak-gemm, their OP convention, datasheet peaks, and
where each device kind has no kernel for them."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
import torch

from accelbench.analysis.summary import run_summary
from accelbench.api import run_suite, validate_suite
from accelbench.config import PeakSpec
from accelbench.devices import cpu as cpu_mod
from accelbench.devices.base import DTYPES
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.cuda import CudaDevice
from accelbench.devices.fake import FakeDevice
from accelbench.devices.specs import lookup_peak
from accelbench.names import LOW_PRECISIONS, PRECISIONS, rate_unit, work_unit
from accelbench.results.schema import Status
from accelbench.results.store import Store
from accelbench.timing.settings import MeasureSettings
from accelbench.workloads import WORKLOADS, RunContext
from accelbench.workloads.gemm import _gemm_callable, gemm_cost

LOW = ["float32", "int8", "float8_e4m3fn", "float8_e5m2"]
TINY = {"mode": "fixed", "warmup": 1, "iterations": 3}


def _ctx(dev: Any) -> RunContext:
    return RunContext(device=dev, info=dev.info(), measure=MeasureSettings(**TINY))


def _suite(workloads: list[dict[str, Any]]) -> Any:
    data = {"name": "lowprec", "seed": 0, "measure": dict(TINY), "workloads": workloads}
    return validate_suite(data, "test")


# -- the kernels compute what they say -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(17, 33, 45), (64, 32, 128), (1, 8, 8)])
def test_int8_gemm_on_the_cpu_equals_an_int64_reference(shape: tuple[int, int, int]) -> None:
    """torch._int_mm on the host (the fake device's tensors live there), against the exact
    product in int64: int8 x int8 accumulated in int32 is exact at these sizes."""
    m, n, k = shape
    torch.manual_seed(0)
    c = _gemm_callable(m, n, k, "int8", _ctx(FakeDevice(dtypes=LOW)))()
    torch.manual_seed(0)  # the same draws, in the callable's order: A, then B
    a = torch.randint(-128, 128, (m, k), dtype=torch.int8)
    b = torch.randint(-128, 128, (k, n), dtype=torch.int8)
    assert c.dtype == torch.int32
    assert torch.equal(c.long(), a.long() @ b.long())
    assert int(a.abs().max()) >= 100  # the full int8 range, not small values


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_fp8_gemm_multiplies_the_stated_formats(dtype: str) -> None:
    torch.manual_seed(0)
    out = _gemm_callable(32, 48, 64, dtype, _ctx(FakeDevice(dtypes=LOW)))()
    torch.manual_seed(0)
    a = torch.randn(32, 64).to(getattr(torch, dtype))
    b = torch.randn(48, 64).to(torch.float8_e4m3fn).t()  # B is e4m3 and column-major
    assert out.dtype == torch.bfloat16
    want = (a.float() @ b.float()).to(torch.bfloat16).float()
    torch.testing.assert_close(out.float(), want, rtol=1.6e-2, atol=1e-2)


def test_ops_convention_and_byte_counts() -> None:
    assert (work_unit("int8"), rate_unit("int8")) == ("OP", "GOP/s")
    assert (work_unit("float8_e5m2"), rate_unit("float16")) == ("FLOP", "GFLOP/s")
    i8 = gemm_cost(64, 32, 16, "int8")
    assert i8.flops == 2 * 64 * 32 * 16
    assert i8.min_bytes == (64 * 16 + 16 * 32) * 1 + 64 * 32 * 4  # int32 C
    f8 = gemm_cost(64, 32, 16, "float8_e4m3fn")
    assert f8.min_bytes == (64 * 16 + 16 * 32) * 1 + 64 * 32 * 2  # bfloat16 C
    assert gemm_cost(8, 8, 8, "float32").min_bytes == 3 * 64 * 4  # unchanged


def test_precisions_the_device_layer_maps() -> None:
    assert set(LOW_PRECISIONS) <= set(PRECISIONS) == set(DTYPES)
    assert DTYPES["int8"] == torch.int8 and DTYPES["float8_e5m2"] == torch.float8_e5m2


# -- gemm and peak-gemm ----------------------------------------------------------------------------
def test_int8_gemm_reports_ops_and_is_judged_against_int8_peaks(tmp_path: Path) -> None:
    """An int8 sweep on a device whose datasheet lists 40 TOPS: rates in GOP/s, utilisation of
    the datasheet's INT8 figure and of the int8 peak-gemm measured earlier in the same run."""
    sheet = PeakSpec(name="Int8 Accelerator", match=["^Int8 Accelerator"], tflops={"int8": 40})
    dev = FakeDevice(dtypes=LOW, durations=[1e-3], name="Int8 Accelerator", peaks_override=[sheet])
    suite = _suite(
        [
            {
                "name": "peak",
                "kind": "peak-gemm",
                "params": {"sizes": [64], "dtypes": ["int8"], "search": False, "warmup_s": 0},
            },
            {"name": "g", "kind": "gemm", "params": {"sizes": [32], "dtypes": ["int8"]}},
        ]
    )
    run_suite(suite, device=dev, db=tmp_path / "r.db", power=False)
    with Store(tmp_path / "r.db") as st:
        pk, g = st.query()
    assert pk.status is Status.OK and pk.metrics["peak_gflops"].unit == "GOP/s"
    assert g.status is Status.OK
    ops = 2 * 32**3
    assert g.metrics["flops"].unit == "OP" and g.metric("flops") == ops
    assert g.metrics["achieved_gflops"].unit == "GOP/s"
    assert g.metrics["arithmetic_intensity"].unit == "OP/B"
    assert g.metric("utilisation_datasheet") == pytest.approx(100 * ops / 1e-3 / 40e12)
    peak_ops = 2 * 64**3 / 1e-3
    assert g.metric("utilisation_measured") == pytest.approx(100 * (ops / 1e-3) / peak_ops)
    assert [row["unit"] for row in run_summary([pk, g])] == ["GOP/s", "GOP/s"]
    assert g.config["gemm"]["kernel"] == "torch._int_mm"
    assert "OPs" in g.config["gemm"]["ops_convention"]


def test_fp8_is_judged_against_the_datasheets_one_fp8_figure() -> None:
    spec = PeakSpec(name="x", match=["x"], tflops={"float8": 100.0, "int8": 200.0})
    assert spec.peak_flops("float8_e4m3fn") == spec.peak_flops("float8_e5m2") == 1e14
    assert spec.peak_flops("int8") == 2e14
    h100, _ = lookup_peak("NVIDIA H100 80GB HBM3")
    assert h100 is not None and h100.peak_flops("float8_e4m3fn") == pytest.approx(1978.9e12)
    l4, _ = lookup_peak("NVIDIA L4")
    l40s, _ = lookup_peak("NVIDIA L40S")
    assert l4 is not None and l4.name == "NVIDIA L4" and l4.peak_flops("int8") == 242.5e12
    assert l40s is not None and l40s.name == "NVIDIA L40S"


def test_low_precision_forward_backward_and_shape_rules_are_unsupported(tmp_path: Path) -> None:
    class RuledFake(FakeDevice):
        def matmul_shape_rule(self, dtype: str, m: int, n: int, k: int) -> str | None:
            return "needs k % 8 == 0" if dtype == "int8" and k % 8 else None

    wl = {
        "name": "g",
        "kind": "gemm",
        "params": {
            "shapes": [[32, 32, 12], [32, 32, 16]],
            "dtypes": ["int8"],
            "modes": ["forward", "forward+backward"],
        },
    }
    peak = {
        "name": "pk",
        "kind": "peak-gemm",
        "params": {"sizes": [12, 16], "dtypes": ["int8"], "search": False, "warmup_s": 0},
    }
    dev = RuledFake(dtypes=LOW, durations=[1e-3])
    run_suite(_suite([peak, wl]), device=dev, db=tmp_path / "r.db", power=False)
    with Store(tmp_path / "r.db") as st:
        rs = st.query()
    pk, *gemms = rs
    by = {(r.case["k"], r.case.get("mode", "forward")): r for r in gemms}
    assert by[(16, "forward")].status is Status.OK
    assert by[(12, "forward")].status is Status.UNSUPPORTED
    assert by[(12, "forward")].message == "needs k % 8 == 0"
    bwd = by[(16, "forward+backward")]
    assert bwd.status is Status.UNSUPPORTED and "forward only" in (bwd.message or "")
    # peak-gemm skips the size the rule forbids, says why, and keeps the one that ran
    assert pk.status is Status.OK and pk.config["best_size"] == 16
    assert pk.metrics["gflops_at_12"].value is None
    assert pk.metrics["gflops_at_12"].unavailable == "needs k % 8 == 0"


def test_gemm_params_accept_8_bit_formats_and_reject_others() -> None:
    from accelbench.errors import ConfigError

    _suite([{"name": "g", "kind": "gemm", "params": {"sizes": [8], "dtypes": LOW}}])
    with pytest.raises(ConfigError, match="dtypes"):
        _suite([{"name": "g", "kind": "gemm", "params": {"sizes": [8], "dtypes": ["int4"]}}])
    with pytest.raises(ConfigError, match="dtypes"):  # operator sweeps stay float-only
        _suite(
            [
                {
                    "name": "fc",
                    "kind": "linear",
                    "params": {
                        "batch": [2],
                        "in_features": [4],
                        "out_features": [4],
                        "dtypes": ["int8"],
                    },
                }
            ]
        )
    assert WORKLOADS.get("peak-gemm").from_dict({"dtypes": ["float8_e4m3fn"]}).cases()


# -- which devices have kernels --------------------------------------------------------------------
def test_cpu_int8_needs_avx512_vnni_and_fp8_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    dev = CpuDevice()
    base = dict(cpu_mod.cpu_details())

    def with_flags(*flags: str) -> None:
        monkeypatch.setattr(cpu_mod, "cpu_details", lambda: {**base, "flags": list(flags)})

    with_flags("avx2", "fma")
    ok, why = dev.dtype_support("int8")
    assert not ok and "AVX512-VNNI" in (why or "") and "scalar fallback" in (why or "")
    with_flags("avx2", "avx512f", "avx512_vnni")
    assert dev.dtype_support("int8") == (True, None)
    for fp8 in ("float8_e4m3fn", "float8_e5m2"):
        ok, why = dev.dtype_support(fp8)
        assert not ok and "_scaled_mm" in (why or "")
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert not dev.dtype_support("int8")[0]


class _Gpus:
    """The slice of torch.cuda that CudaDevice's dtype rules read, for GPUs we do not have."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int]) -> None:
        self.capability = capability
        self.arch = ""
        self.l2 = 50 * 2**20
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: self.capability)
        monkeypatch.setattr(
            torch.cuda,
            "get_device_properties",
            lambda i=0: types.SimpleNamespace(gcnArchName=self.arch, L2_cache_size=self.l2),
        )
        monkeypatch.setattr(torch.version, "hip", None)

    def rocm(self, monkeypatch: pytest.MonkeyPatch, arch: str) -> None:
        monkeypatch.setattr(torch.version, "hip", "6.2")
        self.arch = arch


@pytest.mark.parametrize(
    ("capability", "int8", "fp8"),
    [
        ((7, 0), False, False),
        ((7, 5), True, False),
        ((8, 0), True, False),
        ((8, 9), True, True),
        ((9, 0), True, True),
    ],
)
def test_cuda_int8_and_fp8_follow_the_tensor_cores(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], int8: bool, fp8: bool
) -> None:
    _Gpus(monkeypatch, capability)
    dev = CudaDevice(0)
    assert dev.dtype_support("int8")[0] is int8
    for fmt in ("float8_e4m3fn", "float8_e5m2"):
        ok, why = dev.dtype_support(fmt)
        assert ok is fp8
        if not ok:
            assert "8.9" in (why or "") and f"{capability[0]}.{capability[1]}" in (why or "")


def test_rocm_fp8_needs_the_ocp_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = _Gpus(monkeypatch, (9, 4))
    gpus.rocm(monkeypatch, "gfx942:sramecc+:xnack-")
    dev = CudaDevice(0)
    ok, why = dev.dtype_support("float8_e4m3fn")
    assert not ok and "fnuz" in (why or "")
    assert dev.dtype_support("int8") == (True, None)
    gpus.arch = "gfx950"
    assert dev.dtype_support("float8_e5m2") == (True, None)


def test_cuda_shape_rules_are_torchs() -> None:
    dev = CudaDevice(0)
    assert dev.matmul_shape_rule("int8", 32, 64, 64) is None
    assert "m > 16" in (dev.matmul_shape_rule("int8", 16, 64, 64) or "")
    assert "multiples of 8" in (dev.matmul_shape_rule("int8", 32, 64, 20) or "")
    assert dev.matmul_shape_rule("float8_e4m3fn", 16, 32, 48) is None
    assert "multiples of 16" in (dev.matmul_shape_rule("float8_e5m2", 16, 24, 48) or "")
    assert dev.matmul_shape_rule("float16", 3, 5, 7) is None


def test_devices_without_kernels_say_so() -> None:
    from accelbench.devices import DEVICES

    for kind in ("mps", "xpu", "npu"):
        ok, why = DEVICES.get(kind)(0).dtype_support("int8")
        assert not ok and kind in (why or "") and "torch._int_mm" in (why or "")
