"""Hardware tier: runs only where a real accelerator is present (`pytest -m hw`)."""

from __future__ import annotations

import pytest

from accelbench.devices import default_device_spec, make_device
from accelbench.timing.protocol import MeasureSettings, measure

pytestmark = pytest.mark.hw

SPEC = default_device_spec()
needs_accel = pytest.mark.skipif(SPEC == "cpu", reason="no accelerator present")


@needs_accel
def test_device_info_and_event_timing_agree_with_wall_clock() -> None:
    import torch

    dev = make_device(SPEC)
    info = dev.info()
    assert info.memory_total_bytes and info.memory_total_bytes > 0
    assert info.timer == "device-events"
    a = torch.randn(4096, 4096, device=dev.torch_device)
    m = measure(lambda: a @ a, dev, MeasureSettings(warmup=5, iterations=20))
    # Back-to-back device events cover the GPU's busy time; host wall time covers the same
    # work plus launch gaps, so it can only be larger, and not by much for a large GEMM.
    assert sum(m.samples_s) <= m.wall_s * 1.01
    assert sum(m.samples_s) >= 0.8 * m.wall_s


@needs_accel
def test_cuda_graph_timing() -> None:
    import torch

    if not SPEC.startswith("cuda"):
        pytest.skip("CUDA graphs only on CUDA")
    dev = make_device(SPEC)
    a = torch.randn(64, 64, device=dev.torch_device)
    c = torch.empty_like(a)
    m = measure(
        lambda: torch.matmul(a, a, out=c),
        dev,
        MeasureSettings(warmup=3, iterations=50, cuda_graph=True),
    )
    assert m.graph and m.summary.n == 50
    torch.testing.assert_close(c, a @ a)
