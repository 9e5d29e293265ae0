"""The real MindSpore CPU build beside PyTorch: the same numbers, the same FLOPs, compile time
apart, its own errors recognised, and a tiny ResNet that learns real CIFAR-10.

Needs ``pip install "accelbench[mindspore]"`` (scripts/test.sh installs it); without it these
tests skip, except under CI=true, where a missing MindSpore fails (CI installs it).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from accelbench.api import run_suite, validate_suite
from accelbench.devices.cpu import CpuDevice
from accelbench.errors import Unsupported
from accelbench.results.schema import Result, Status
from accelbench.workloads import WORKLOADS

if importlib.util.find_spec("mindspore") is None:
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(
            'CI=true but MindSpore is not installed (pip install "accelbench[mindspore]")',
            pytrace=False,
        )
    pytest.skip(
        'MindSpore is not installed: pip install "accelbench[mindspore]"', allow_module_level=True
    )

import mindspore as ms

from accelbench.frameworks.mindspore import ops as ms_ops
from accelbench.frameworks.mindspore import training as ms_training
from accelbench.frameworks.mindspore.runtime import MindSporeDevice

# $ACCELBENCH_DATA_DIR, else shared/data beside the checkout (as CI lays it out), else where
# this project's machines keep it (a worktree is not beside it).
SHARED = next(
    (
        p
        for p in (
            Path(os.environ.get("ACCELBENCH_DATA_DIR") or "/nonexistent"),
            Path(__file__).parents[2] / "shared" / "data",
            Path("/work/shared/data"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/data"),
)
CIFAR = SHARED / "cifar10-jpeg.tar.gz"
TINY = {"mode": "fixed", "warmup": 1, "iterations": 3}
# Relative error allowed between the frameworks on the same inputs, per dtype: float32 and
# float64 differ by summation order only; float16 by its 11-bit mantissa.
RTOL = {"float64": 1e-10, "float32": 2e-5, "float16": 2e-2}


@pytest.fixture(scope="module")
def dev() -> MindSporeDevice:
    return MindSporeDevice(CpuDevice())


def _np(t: Any) -> np.ndarray:
    return t.asnumpy() if t.dtype in (ms.float32, ms.float64) else t.float().asnumpy()


def _close(got: Any, want: torch.Tensor, dtype: str) -> None:
    g = _np(got).astype(np.float64)
    w = want.detach().double().numpy()
    assert g.shape == w.shape
    err = np.abs(g - w).max() / max(np.abs(w).max(), 1e-12)
    assert err <= RTOL[dtype], f"relative error {err:.3g} above {RTOL[dtype]} for {dtype}"


# -- numbers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("mode", ["forward", "forward+backward"])
def test_gemm_agrees_with_pytorch_on_the_same_inputs(
    dev: MindSporeDevice, dtype: str, mode: str
) -> None:
    m, n, k = 48, 40, 56
    torch.manual_seed(3)
    prepared = ms_ops.gemm(dev, m, n, k, dtype, mode, graph=False)
    got = prepared.fn()
    torch.manual_seed(3)  # the same draws, in the same order
    a, b = torch.randn(m, k).double(), torch.randn(k, n).double()
    if mode == "forward":
        _close(got, a @ b, dtype)
        return
    g = torch.randn(m, n).double()
    for out, want in zip(got, (a @ b, g @ b.T, a.T @ g), strict=True):
        _close(out, want, dtype)


OPS = {
    "linear": {"batch": [6], "in_features": [10], "out_features": [7]},
    "conv2d": {
        "batch": [2],
        "input_size": [9],
        "in_channels": [4],
        "out_channels": [6],
        "kernel_size": [3],
        "stride": [2],
        "groups": [2],
    },
    "lstm": {"cell": ["lstm"], "batch": [3], "seq_len": [5], "hidden_size": [8], "input_size": [6]},
    "gru": {"cell": ["gru"], "batch": [3], "seq_len": [4], "hidden_size": [8], "num_layers": [2]},
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("graph", [False, True], ids=["pynative", "graph"])
def test_one_operator_of_each_kind_agrees_with_pytorch(
    dev: MindSporeDevice, name: str, graph: bool
) -> None:
    """Forward output and every gradient (input and parameters, for the same random upstream
    gradient) of the MindSpore layer equal PyTorch's for the same weights and input."""
    if graph and name == "gru":
        pytest.skip("one recurrent cell is enough in Graph mode (each compiles for seconds)")
    kind = "rnn" if name in ("lstm", "gru") else name
    wl = WORKLOADS.get(kind).from_dict({**OPS[name], "dtypes": ["float32"]})
    fwd, fb = (
        next(c for c in wl.cases() if c["mode"] == md) for md in ("forward", "forward+backward")
    )
    cpu = torch.device("cpu")

    torch.manual_seed(5)
    out = ms_ops.operator(dev, wl, fwd, graph).fn()
    torch.manual_seed(5)
    module, x = wl.build(fwd, cpu, torch.float32), wl.make_input(fwd, cpu, torch.float32)
    with torch.no_grad():
        _close(out, wl.first_output(module(x)), "float32")

    torch.manual_seed(7)
    prepared = ms_ops.operator(dev, wl, fb, graph)
    (dx,), dw = prepared.fn()
    torch.manual_seed(7)
    module, x = wl.build(fb, cpu, torch.float32), wl.make_input(fb, cpu, torch.float32)
    x.requires_grad_(True)
    y = wl.first_output(module(x))
    sens = torch.randn(y.shape)
    names = [n for n, _ in module.named_parameters()]
    want = torch.autograd.grad(y, [x, *module.parameters()], sens)
    _close(dx, want[0], "float32")
    # MindSpore orders an RNN's parameters by kind (all weights, then biases): match by name
    got = dict(zip(_trainable_names(wl, fb), dw, strict=True))
    assert set(got) == set(names)
    for n, w in zip(names, want[1:], strict=True):
        _close(got[n], w, "float32")
    assert prepared.params == sum(p.numel() for p in module.parameters())


def _trainable_names(wl: Any, case: dict[str, Any]) -> list[str]:
    """The parameter names of the MindSpore layer of ``case``, in its own order."""
    layer = ms_ops.BUILDERS[wl.kind](case, wl.params)
    return [p.name.rpartition(".")[2] for p in layer.trainable_params()]


def test_same_flops_compile_time_apart_and_framework_fields(tmp_path: Path) -> None:
    """One run of PyTorch eager, MindSpore PyNative and MindSpore Graph on the same cases."""
    suite = validate_suite(
        {
            "name": "frameworks-test",
            "seed": 0,
            "measure": TINY,
            "workloads": [
                {
                    "name": "gemm",
                    "kind": "gemm",
                    "params": {
                        "sizes": [64],
                        "dtypes": ["float32"],
                        "frameworks": ["pytorch", "mindspore"],
                        "executions": ["eager", "pynative", "graph"],
                    },
                },
                {
                    "name": "ops",
                    "kind": "conv2d",
                    "params": {
                        **OPS["conv2d"],
                        "dtypes": ["float32", "float64"],
                        "frameworks": ["pytorch", "mindspore"],
                    },
                },
                {
                    "name": "rnn",
                    "kind": "rnn",
                    "params": {
                        **OPS["lstm"],
                        "modes": ["forward"],
                        "dtypes": ["float32"],
                        "frameworks": ["pytorch", "mindspore"],
                    },
                },
            ],
        },
        "frameworks-test",
    )
    rep = run_suite(suite, device="cpu", db=tmp_path / "f.db", power=False)
    by: dict[tuple[str, str], Result] = {(r.description, r.framework): r for r in rep.results}
    ok = [r for r in rep.results if r.status is Status.OK]

    # the same FLOPs, bytes and parameters for the same case, whatever the framework
    counted = ("flops", "macs", "min_bytes", "forward_flops", "backward_flops", "params")
    ms_ok = [r for r in ok if r.framework == "mindspore"]
    assert len(ms_ok) >= 5
    for r in ms_ok:
        twin_case = {k: v for k, v in r.case.items() if k not in ("framework", "execution")}
        (twin,) = [t for t in ok if t.framework == "pytorch" and t.case == twin_case]
        for name in counted:
            assert r.metric(name) == twin.metric(name), (r.description, name)
        assert "param_mismatch" not in r.config.get("flop_count", {})
        fw = r.environment.framework
        assert fw is not None and fw.backend == "CPU" and fw.version == ms.__version__
        assert fw.settings["cpu_kernel_threads"] == r.environment.threads
        assert r.config["protocol"]["timer"] == "perf_counter+sync"

    # Graph mode compiles on its first call: timed apart, never in the samples
    graph = by[("gemm 64x64x64 float32 mindspore graph", "mindspore")]
    pynative = by[("gemm 64x64x64 float32 mindspore pynative", "mindspore")]
    assert graph.status is Status.OK and graph.environment.framework.mode == "graph"
    compile_s, first = graph.metric("compile_s"), graph.metric("first_run_s")
    assert compile_s is not None and first is not None and 0 < compile_s <= first
    assert max(graph.samples) < first
    assert graph.config["framework"]["jit"] == {"capture_mode": "ast", "jit_level": "O0"}
    assert pynative.metric("compile_s") is None and pynative.metric("first_run_s")

    # a dtype MindSpore's CPU kernels lack is unsupported with MindSpore's reason
    f64 = [r for r in rep.results if r.framework == "mindspore" and r.case["dtype"] == "float64"]
    assert f64 and all(r.status is Status.UNSUPPORTED for r in f64)
    assert all("MindSpore 2.10" in (r.message or "") for r in f64)
    torch64 = [r for r in ok if r.framework == "pytorch" and r.case["dtype"] == "float64"]
    assert torch64  # PyTorch has the kernel: the table of what runs where tells them apart


def test_mindspore_out_of_memory_is_recognised(dev: MindSporeDevice) -> None:
    with pytest.raises(MemoryError, match="MindSpore CPU: Allocate memory failed"), dev.errors():
        ms.ops.ones((1 << 40,), ms.float32)  # 4 TiB: refused by the allocator at once
        dev.synchronize()
    assert dev.is_oom(RuntimeError("Device(id:0) memory isn't enough and alloc failed"))
    with (
        pytest.raises(Unsupported, match=r"MindSpore .* on CPU: .*Unsupported data type"),
        dev.errors(),
    ):
        raise TypeError("Select CPU operator[MatMul] fail! Unsupported data type!")


# -- ResNet ---------------------------------------------------------------------------------------
def _pair(n: int = 1) -> tuple[Any, Any]:
    from accelbench.models.resnet_cifar import ResNetCifar

    torch.manual_seed(0)
    model = ResNetCifar(n=n)
    net = ms_training.ResNetCifar(n=n)
    ms_training.copy_weights(net, model)
    return model, net


def test_mindspore_resnet_is_the_pytorch_resnet() -> None:
    model, net = _pair()
    assert sum(p.size for p in net.get_parameters() if p.requires_grad) == sum(
        p.numel() for p in model.parameters()
    )
    torch.manual_seed(1)
    for p in model.parameters():  # leave the identity start, so every block's path counts
        p.data += 0.05 * torch.randn_like(p)
    ms_training.copy_weights(net, model)
    x = torch.randn(4, 3, 32, 32)
    y = torch.tensor([1, 5, 9, 0])
    for train in (False, True):
        model.train(train)
        net.set_train(train)
        out = model(x)
        got = net(ms.Tensor(x.numpy()))
        _close(got, out, "float32")
    loss = F.cross_entropy(out, y, label_smoothing=0.1)
    ms_loss = ms.ops.cross_entropy(got, ms.Tensor(y.numpy().astype(np.int32)), label_smoothing=0.1)
    assert abs(float(ms_loss.asnumpy()) - loss.item()) < 1e-5


def test_mindspore_cifar_batches_are_the_pytorch_batches() -> None:
    from accelbench.data.cifar10 import synthetic_cifar10
    from accelbench.training.recipes.resnet56_cifar10 import CifarTask

    data = synthetic_cifar10(64, 16, seed=0)
    host = CifarTask(data, torch.device("cpu"), batch_size=16, seed=4, dtype=torch.float32)
    ms_task = ms_training.MsCifarTask(host, graph=False)
    for ((tx,), ty), ((mx,), my) in zip(
        host.train_batches(2), ms_task.train_batches(2), strict=True
    ):
        assert np.array_equal(my.asnumpy(), ty.numpy())
        np.testing.assert_allclose(mx.asnumpy(), tx.float().numpy(), rtol=0, atol=1e-5)
    (tx,), _ = next(iter(host.eval_batches()))
    (mx,), _ = next(iter(ms_task.eval_batches()))
    np.testing.assert_allclose(mx.asnumpy(), tx.float().numpy(), rtol=0, atol=1e-5)


@pytest.mark.skipif(not CIFAR.is_file(), reason=f"no {CIFAR}")
def test_tiny_mindspore_resnet_reaches_a_low_threshold_on_real_cifar10(tmp_path: Path) -> None:
    """ResNet-8 in Graph mode on 500 real CIFAR-10 JPEGs: past 20% top-1 (chance: 10%) on 200
    test images within 6 epochs, through the recipe, the trainer and the store."""
    suite = validate_suite(
        {
            "name": "ms-cifar",
            "seed": 0,
            "workloads": [
                {
                    "name": "resnet8",
                    "kind": "resnet56-cifar10",
                    "params": {
                        "blocks": 1,
                        "train_subset": 500,
                        "eval_subset": 200,
                        "batch_size": 50,
                        "lr": 0.4,
                        "max_epochs": 6,
                        "schedule_epochs": 6,
                        "threshold": 20.0,
                        "frameworks": ["mindspore"],
                        "executions": ["graph"],
                        "cache_dir": str(tmp_path / "cache"),
                    },
                }
            ],
        },
        "ms-cifar",
    )
    (r,) = run_suite(suite, device="cpu", db=tmp_path / "r.db", data_dir=SHARED).results
    assert r.status is Status.OK, r.message
    assert r.framework == "mindspore" and r.config["execution"] == "graph"
    assert r.config["reached_threshold"] is True, [e.metric for e in r.trace]
    assert r.metric("time_to_threshold_s") and r.metric("best_accuracy") >= 20.0
    assert r.config["data"]["layout"] == "jpeg" and r.config["data"]["train_images"] == 500
    assert r.metric("first_step_overhead_s") > 0  # the compilation, reported apart
    assert all(e.samples_per_s for e in r.trace)
    assert r.metric("model_gflops") and r.references.basis.utilisation == "mfu"
