"""GEMM and the FC / convolution / RNN operators in MindSpore, built for the measurement protocol.

The same case gives the same work as the PyTorch workload:

* Weights and inputs are made by the PyTorch workload's own ``build`` / ``make_input`` on the
  host, in float32, from the run's seed, then copied into MindSpore and cast there; so on the
  CPU both frameworks multiply the very same numbers.
* ``forward`` runs the layer in inference mode (``set_train(False)``). ``forward+backward``
  runs ``GradOperation(get_all=input_grad, get_by_list=True, sens_param=True)``: the forward
  and the gradients of the parameters (and of the input, unless ``input_grad`` is false) for a
  random upstream gradient, returned rather than accumulated, as PyTorch's path does with
  ``torch.autograd.grad``. GEMM's backward is written out as the two products autograd runs
  (dA = dC B^T, dB = A^T dC) with MatMul's transpose flags, as in PyTorch.
* ``graph`` compiles the function with ``mindspore.jit`` (AST capture, jit level O0: MindSpore's
  defaults). Tensors are passed as arguments, never closed over, so the compiler cannot fold
  the work into constants.

FLOPs, bytes and the metrics are the workload's (the same library as PyTorch's).
"""

from __future__ import annotations

from typing import Any

import mindspore as ms
import torch
from mindspore import ParameterTuple, nn, ops

from accelbench.errors import Unsupported
from accelbench.frameworks.base import Prepared
from accelbench.frameworks.mindspore.runtime import DTYPES, MindSporeDevice, to_mindspore

JIT = {"capture_mode": "ast", "jit_level": "O0"}
"""How ``graph`` compiles: MindSpore 2.10's defaults, written out so results can say so."""

_HOST = torch.device("cpu")


def _compile(fn: Any, graph: bool) -> Any:
    return ms.jit(fn, **JIT) if graph else fn


def gemm(
    dev: MindSporeDevice, m: int, n: int, k: int, dtype: str, mode: str, graph: bool
) -> Prepared:
    """C = A B (and for forward+backward dA = dC B^T, dB = A^T dC) on random normal inputs."""
    # The same draws, in the same order, as the PyTorch GEMM's inputs.
    a = to_mindspore(torch.randn(m, k), dtype)
    b = to_mindspore(torch.randn(k, n), dtype)
    matmul = ops.MatMul()
    if mode == "forward":

        def forward(a: Any, b: Any) -> Any:
            return matmul(a, b)

        core = _compile(forward, graph)
        args: tuple[Any, ...] = (a, b)
    else:
        g = to_mindspore(torch.randn(m, n), dtype)
        matmul_bt = ops.MatMul(transpose_b=True)
        matmul_at = ops.MatMul(transpose_a=True)

        def forward_backward(a: Any, b: Any, g: Any) -> Any:
            return matmul(a, b), matmul_bt(g, b), matmul_at(a, g)

        core = _compile(forward_backward, graph)
        args = (a, b, g)
    info = {"api": "mindspore.ops.MatMul (transpose flags for the backward products)"}
    if graph:
        info["jit"] = dict(JIT)
    return Prepared(fn=lambda: core(*args), device=dev, compiled=graph, info=info)


# -- operators -----------------------------------------------------------------------------------
def _dense(case: dict[str, Any], p: Any) -> nn.Cell:
    return nn.Dense(case["in_features"], case["out_features"], has_bias=p.bias)


def _conv2d(case: dict[str, Any], p: Any) -> nn.Cell:
    if p.channels_last:
        raise Unsupported("accelbench runs MindSpore convolutions in NCHW only (no channels_last)")
    from accelbench.workloads.operators import conv_padding

    return nn.Conv2d(
        case["in_channels"],
        case["out_channels"],
        case["kernel_size"],
        stride=case["stride"],
        pad_mode="pad",
        padding=conv_padding(case),
        dilation=case["dilation"],
        group=case["groups"],
        has_bias=p.bias,
    )


def _rnn(case: dict[str, Any], p: Any) -> nn.Cell:
    kw = {
        "num_layers": case["num_layers"],
        "has_bias": p.bias,
        "batch_first": p.batch_first,
        "bidirectional": case["bidirectional"],
    }
    size = int(case.get("input_size", case["hidden_size"]))
    cell = case["cell"]
    if cell == "lstm":
        return nn.LSTM(size, case["hidden_size"], **kw)
    if cell == "gru":
        return nn.GRU(size, case["hidden_size"], **kw)
    nonlinearity = "tanh" if cell == "rnn_tanh" else "relu"
    return nn.RNN(size, case["hidden_size"], nonlinearity=nonlinearity, **kw)


BUILDERS = {"linear": _dense, "conv2d": _conv2d, "rnn": _rnn}
"""Workload kind -> the MindSpore layer of a case. Parameter names match PyTorch's (weight,
bias; weight_ih_l0, bias_hh_l1_reverse, ...), which is how weights are copied across."""


class FirstOutput(nn.Cell):
    """The layer's first output (an RNN's sequence output), what the gradient flows from."""

    def __init__(self, layer: nn.Cell) -> None:
        super().__init__()
        self.layer = layer

    def construct(self, x: Any) -> Any:
        y = self.layer(x)
        return y[0] if isinstance(y, tuple) else y


def from_torch(
    kind: str, case: dict[str, Any], params: Any, module: torch.nn.Module, dtype: str
) -> nn.Cell:
    """The MindSpore layer of a case, holding ``module``'s weights in ``dtype``."""
    builder = BUILDERS.get(kind)
    if builder is None:
        raise Unsupported(f"accelbench has no MindSpore version of the {kind} operator")
    layer = builder(case, params)
    state = module.state_dict()
    own = list(layer.get_parameters())
    if {q.name for q in own} != set(state):
        raise RuntimeError(
            f"MindSpore {kind} parameters {sorted(q.name for q in own)} do not match "
            f"PyTorch's {sorted(state)}"
        )
    for q in own:
        q.set_data(to_mindspore(state[q.name], "float32"))
        if dtype != "float32":
            q.set_dtype(DTYPES[dtype])
    return layer


def operator(dev: MindSporeDevice, workload: Any, case: dict[str, Any], graph: bool) -> Prepared:
    """One operator case of ``workload`` (linear, conv2d or rnn) in MindSpore."""
    dtype, mode = case["dtype"], case["mode"]
    p = workload.params
    input_grad = bool(p.input_grad) and mode != "forward"
    # The PyTorch workload's own weights and input, drawn in its order from the run's seed.
    module = workload.build(case, _HOST, torch.float32)
    x_host = workload.make_input(case, _HOST, torch.float32)
    net = FirstOutput(from_torch(workload.kind, case, p, module, dtype))
    x = to_mindspore(x_host, dtype)
    n_params = int(sum(q.size for q in net.get_parameters()))
    info: dict[str, Any] = {"api": f"mindspore.nn.{type(net.layer).__name__}"}
    if graph:
        info["jit"] = dict(JIT)
    if mode == "forward":
        net.set_train(False)

        def forward(x: Any) -> Any:
            return net(x)

        core = _compile(forward, graph)
        return Prepared(fn=lambda: core(x), device=dev, compiled=graph, params=n_params, info=info)
    net.set_train(True)
    weights = ParameterTuple(net.trainable_params())
    grad = ops.GradOperation(get_all=input_grad, get_by_list=True, sens_param=True)(net, weights)
    # One untimed forward gives the output's shape for the random (not ones) upstream gradient,
    # drawn after the input as in the PyTorch path.
    shape = tuple(net(x).shape)
    sens = to_mindspore(torch.randn(shape), dtype)

    def forward_backward(x: Any, sens: Any) -> Any:
        return grad(x, sens)

    core = _compile(forward_backward, graph)
    info["gradients"] = "input and parameters" if input_grad else "parameters"
    return Prepared(
        fn=lambda: core(x, sens), device=dev, compiled=graph, params=n_params, info=info
    )
