"""Hardware tier for issue 21: the Triton tile kernel compiled for a real GPU, int8/FP8 GEMM on
tensor cores, and cold-cache timing against a real L2 (`pytest -m hw` on a CUDA machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from accelbench.api import run_suite, validate_suite
from accelbench.devices import default_device_spec, make_device
from accelbench.results.schema import Status
from accelbench.results.store import Store
from accelbench.timing.protocol import MeasureSettings, measure

pytestmark = pytest.mark.hw

SPEC = default_device_spec()
needs_cuda = pytest.mark.skipif(not SPEC.startswith("cuda"), reason="no CUDA/ROCm GPU present")


def _run(workloads: list[dict], tmp_path: Path, **measure_kw: object) -> list:
    suite = validate_suite(
        {
            "name": "hw-depth",
            "measure": {"mode": "fixed", "warmup": 3, "iterations": 20, **measure_kw},
            "workloads": workloads,
        },
        "hw test",
    )
    run_suite(suite, device=SPEC, db=tmp_path / "hw.db", power=False)
    with Store(tmp_path / "hw.db") as st:
        return st.query()


@needs_cuda
def test_tile_kernel_compiles_verifies_and_reports_misfits(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    params = {
        "shapes": [[16, 1024, 256], [1000, 1000, 1000]],
        "dtypes": ["float16"],
        "block_m": [16, 64],
        "block_n": [64, 256],
        "block_k": [32],
    }
    # 128 x 128 x 256 float32 tiles in 4 stages want ~1 MB of shared memory: no GPU has it
    # (the accumulator still fits the registers, so the compiler gets as far as the check).
    huge = {
        "shapes": [[512, 512, 512]],
        "dtypes": ["float32"],
        "block_m": [128],
        "block_n": [128],
        "block_k": [256],
        "num_stages": [4],
        "reference": False,
    }
    results = _run(
        [
            {"name": "tiles", "kind": "tile-gemm", "params": params},
            {"name": "huge", "kind": "tile-gemm", "params": huge},
        ],
        tmp_path,
        cuda_graph=True,
    )
    *ok, misfit = results
    assert all(r.status is Status.OK for r in ok), [(r.description, r.message) for r in ok]
    triton_ok = [r for r in ok if r.case["impl"] == "triton"]
    assert all(r.config["backend"] == "compiled" for r in triton_ok)
    assert all(r.metric("shared_memory_bytes") for r in triton_ok)
    assert misfit.status is Status.UNSUPPORTED and "out of resource" in (misfit.message or "")


@needs_cuda
def test_int8_and_fp8_gemm_on_tensor_cores(tmp_path: Path) -> None:
    dev = make_device(SPEC)
    dtypes = [d for d in ("int8", "float8_e4m3fn", "float8_e5m2") if dev.dtype_support(d)[0]]
    if not dtypes:
        pytest.skip("this GPU has no int8 or FP8 GEMM kernel")
    results = _run(
        [{"name": "g", "kind": "gemm", "params": {"sizes": [1024, 4096], "dtypes": dtypes}}],
        tmp_path,
    )
    bad = [(r.description, r.message) for r in results if r.status is not Status.OK]
    assert not bad
    if "int8" in dtypes:
        a = torch.randint(-128, 128, (64, 128), dtype=torch.int8, device=dev.torch_device)
        b = torch.randint(-128, 128, (128, 32), dtype=torch.int8, device=dev.torch_device)
        got = torch._int_mm(a, b).cpu().long()
        assert torch.equal(got, a.cpu().long() @ b.cpu().long())


@needs_cuda
def test_cold_cache_flushes_the_l2_outside_the_samples() -> None:
    dev = make_device(SPEC)
    size, _ = dev.last_level_cache()
    assert size and size > 1 << 20
    a = torch.randn(256, 256, device=dev.torch_device)
    c = torch.empty_like(a)

    def gemm() -> None:
        torch.matmul(a, a, out=c)

    warm = measure(gemm, dev, MeasureSettings(warmup=10, iterations=100))
    cold = measure(gemm, dev, MeasureSettings(warmup=10, iterations=100, cache="cold"))
    assert cold.flush_bytes == 2 * size
    # Writing twice the L2 takes far longer than a 256^3 GEMM: had a flush been inside the
    # timed region, the cold median would be several times the warm one.
    flush, timer = dev.cache_flush(), dev.new_timer()
    flush()
    dev.synchronize()
    timer.start()
    flush()
    timer.stop()
    dev.synchronize()
    flush_s = timer.seconds()
    assert cold.summary.median < warm.summary.median + 0.5 * flush_s
