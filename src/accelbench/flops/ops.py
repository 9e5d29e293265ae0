"""Analytic FLOP, MAC and compulsory-traffic counts for single operators.

Frameworks count FLOPs badly (``torch.utils.flop_counter`` counts only matrix products and
reports zero for fused LSTM/GRU kernels), so accelbench counts them itself, from the shapes
alone, with one convention applied everywhere:

**FLOPs.** One multiply-accumulate (MAC) = 2 FLOPs; both numbers are reported (``Cost.macs``
counts only the MACs of matrix products and convolutions, ``Cost.flops`` is ``2 * macs`` plus
all other work). Other work counts 1 FLOP per elementary operation: add, subtract, multiply,
divide, compare or select (max, min, relu), and one evaluation of a special function (exp, log,
erf, sqrt). Composite functions (sigmoid, tanh, gelu, ...) cost the sum of their steps, all in
one table, :data:`ELEMENTWISE_FLOPS`, that every op here and :mod:`accelbench.flops.model` read.
A reduction of ``n`` values costs ``n - 1`` adds (or compares); a mean adds one divide.

**Bytes.** ``min_bytes`` is compulsory memory traffic: every input and parameter read once, every
output written once, at ``elem_bytes`` per element (embedding indices are int64, 8 bytes;
dropout's mask is 1 byte). Intermediates (an RNN's gates, attention scores, normalisation
statistics, the outputs of inner RNN layers) are not compulsory: a fused kernel keeps them on
chip, so they are not counted. It is a floor, not a prediction: real kernels move more.

**Backward.** Each op's ``backward`` is the cost of its gradients for the ``input_grad`` flag it
was built with (``input_grad=False``: the op consumes a network input that needs no gradient,
as a first layer does):

- MAC work: every operand that needs a gradient costs the forward MACs again. Weights always
  need one, so linear, convolution, RNN gate matmuls and attention projections cost forward
  (weight gradient) + forward (input gradient, only with ``input_grad``): about 2x forward.
  Matrix products between activations (``matmul``, attention scores and values) need both
  operand gradients; ``matmul(input_grad=False)`` has no backward at all. An RNN always pays
  its hidden-state gradients (the recurrence) and its upper layers' input gradients:
  ``input_grad=False`` drops only layer 0's input gradient (for attention, only the Q/K/V
  projections' input gradients).
- Other work (bias adds, activations, softmax, pooling, normalisation, dropout): backward ~=
  forward, i.e. the gradient costs the forward's non-MAC FLOPs again, counted once whenever any
  gradient flows through the op and zero when none does (a parameter-free op with
  ``input_grad=False``).
- Embedding: the backward is a scatter-add of ``num_indices * embedding_dim`` values into the
  weight gradient; indices never get a gradient, whatever ``input_grad`` says.
- Bytes: read the output gradient, the saved inputs and the parameters; write the input gradient
  (with ``input_grad``) and every parameter gradient. Zero when no gradient flows. Dropout
  reads its mask instead of its input; embedding reads the indices and writes the whole dense
  weight gradient.

Every function is keyword-only, validates its arguments and raises ``ValueError`` naming the
argument and what was expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accelbench.names import MODES

CONVENTION = (
    "1 MAC = 2 FLOPs (both reported); other work 1 FLOP per elementary op (add, multiply, "
    "compare, divide; exp/log/erf/sqrt 1 each; sigmoid 4, tanh 5, gelu 5); backward ~= 2x "
    "forward MACs (1x with input_grad=false) + forward non-MAC FLOPs; min bytes = inputs and "
    "parameters read once + outputs written once"
)


# Forward FLOPs per element of elementwise functions, and (by the backward ~= forward rule) of
# their gradients. Each elementary step counts 1: add, subtract, multiply, divide, compare or
# select, and one special-function evaluation (exp, log, erf, sqrt): GPUs issue those as one
# instruction on their special-function units while CPUs run a 10-20 instruction polynomial, so
# counting 1 keeps the figure hardware-neutral and every composite a sum of visible steps.
ELEMENTWISE_FLOPS: dict[str, int] = {
    # primitives
    "add": 1,
    "sub": 1,
    "mul": 1,
    "div": 1,
    "neg": 1,
    "abs": 1,
    "compare": 1,  # also max, min, where, masked select
    "exp": 1,
    "log": 1,
    "erf": 1,
    "sqrt": 1,
    "rsqrt": 1,
    "reciprocal": 1,
    # activations, as the sum of their steps
    "relu": 1,  # max(x, 0)
    "relu6": 2,  # min(max(x, 0), 6)
    "hardtanh": 2,  # min(max(x, lo), hi)
    "leaky_relu": 2,  # x > 0 ? x : a*x: compare, multiply
    "elu": 4,  # x > 0 ? x : a*(exp(x) - 1): compare, exp, subtract, multiply
    "selu": 5,  # scale * elu(x)
    "sigmoid": 4,  # 1 / (1 + exp(-x)): negate, exp, add, divide
    "tanh": 5,  # (exp(2x) - 1) / (exp(2x) + 1): multiply, exp, subtract, add, divide
    "silu": 5,  # x * sigmoid(x)
    "gelu": 5,  # 0.5 * x * (1 + erf(x / sqrt(2))): multiply, erf, add, multiply, multiply
    # 0.5*x*(1 + tanh(c*(x + 0.044715*x^3))): x^3 2, *0.044715 1, +x 1, *c 1, tanh 5, +1 1,
    # *x 1, *0.5 1
    "gelu_tanh": 13,
    "hardsigmoid": 4,  # min(max(x + 3, 0), 6) / 6: add, max, min, divide
    "hardswish": 5,  # x * hardsigmoid(x)
    "softplus": 3,  # log(1 + exp(x)): exp, add, log
    "mish": 9,  # x * tanh(softplus(x)): 3 + 5 + 1
}

ACTIVATIONS: tuple[str, ...] = (
    "relu",
    "relu6",
    "hardtanh",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "gelu_tanh",
    "silu",
    "sigmoid",
    "tanh",
    "hardsigmoid",
    "hardswish",
    "softplus",
    "mish",
)

# 1 / sqrt(var + eps): add, sqrt, reciprocal.
INV_STD_FLOPS = (
    ELEMENTWISE_FLOPS["add"] + ELEMENTWISE_FLOPS["sqrt"] + ELEMENTWISE_FLOPS["reciprocal"]
)
INDEX_BYTES = 8  # embedding indices are int64
MASK_BYTES = 1  # dropout's saved mask is bool

RNN_MODES: dict[str, int] = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}  # gates per cell


@dataclass(frozen=True)
class Cost:
    """Work and compulsory traffic of one pass: ``flops = 2 * macs + non-MAC FLOPs``."""

    flops: float  # MAC = 2 FLOPs, plus non-MAC FLOPs
    macs: float  # multiply-accumulates only
    min_bytes: float  # compulsory traffic

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            flops=self.flops + other.flops,
            macs=self.macs + other.macs,
            min_bytes=self.min_bytes + other.min_bytes,
        )

    @property
    def arithmetic_intensity(self) -> float | None:
        """FLOP per compulsory byte; None when nothing moves (a pass with no work)."""
        return self.flops / self.min_bytes if self.min_bytes else None


ZERO = Cost(flops=0.0, macs=0.0, min_bytes=0.0)


@dataclass(frozen=True)
class OpCount:
    """Forward and backward cost of one operator call, with its parameter count."""

    op: str  # "linear", "conv2d", "lstm", ...
    params: int  # parameter count (weights + biases)
    forward: Cost
    backward: Cost  # for the input_grad flag it was built with
    input_grad: bool
    detail: dict[str, float] = field(default_factory=dict)  # e.g. per-layer-per-step flops

    def total(self, mode: str) -> Cost:
        """``forward`` or ``forward+backward`` (summed); anything else is a ValueError."""
        return _total(self.forward, self.backward, mode)


def _total(forward: Cost, backward: Cost, mode: str) -> Cost:
    if mode == "forward":
        return forward
    if mode == "forward+backward":
        return forward + backward
    raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")


# -- argument checks ----------------------------------------------------------------------------
def _int(name: str, value: Any, minimum: int) -> int:
    # bool is an int to Python, but `bias=True` passed as a size is a mistake, not a 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def _pos(name: str, value: Any) -> int:
    return _int(name, value, 1)


def _nonneg(name: str, value: Any) -> int:
    return _int(name, value, 0)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    return value


def _elem_bytes(value: Any) -> float:
    # Sub-byte formats (int4, fp4) are 0.5 bytes, so a positive real is accepted.
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"elem_bytes: expected a positive number of bytes, got {value!r}")
    return value


def _pair(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair, as PyTorch's 2-D ops take them."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an integer or an (h, w) pair, got {value!r}")
        return _int(name, value[0], minimum), _int(name, value[1], minimum)
    v = _int(name, value, minimum)
    return v, v


def _choice(name: str, value: Any, choices: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def _make(
    op: str,
    *,
    params: int,
    fwd_macs: float,
    fwd_other: float,
    fwd_bytes: float,
    bwd_macs: float,
    bwd_other: float,
    bwd_bytes: float,
    input_grad: bool,
    detail: dict[str, float] | None = None,
) -> OpCount:
    return OpCount(
        op=op,
        params=int(params),
        forward=Cost(
            flops=float(2 * fwd_macs + fwd_other), macs=float(fwd_macs), min_bytes=float(fwd_bytes)
        ),
        backward=Cost(
            flops=float(2 * bwd_macs + bwd_other), macs=float(bwd_macs), min_bytes=float(bwd_bytes)
        ),
        input_grad=input_grad,
        detail={k: float(v) for k, v in (detail or {}).items()},
    )


def _bwd_bytes(
    eb: float, *, grad_out: int, saved: int, params: int, grad_in: int, input_grad: bool
) -> float:
    """Read grad_output, saved inputs and parameters; write grad_input and parameter grads."""
    return eb * (grad_out + saved + 2 * params + (grad_in if input_grad else 0))


def _elementwise_op(
    op: str, *, numel: int, flops: float, elem_bytes: float, input_grad: bool, **detail: float
) -> OpCount:
    """A parameter-free op reading and writing ``numel`` elements; backward only for the input."""
    return _make(
        op,
        params=0,
        fwd_macs=0,
        fwd_other=flops,
        fwd_bytes=elem_bytes * 2 * numel,
        bwd_macs=0,
        bwd_other=flops if input_grad else 0,
        bwd_bytes=(
            _bwd_bytes(
                elem_bytes, grad_out=numel, saved=numel, params=0, grad_in=numel, input_grad=True
            )
            if input_grad
            else 0
        ),
        input_grad=input_grad,
        detail=detail,
    )


# -- matrix products ----------------------------------------------------------------------------
def linear(
    *,
    rows: int,
    in_features: int,
    out_features: int,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """Fully connected layer y = x W^T + b; ``rows`` is the product of all leading dims."""
    r, i, o = (
        _pos("rows", rows),
        _pos("in_features", in_features),
        _pos("out_features", out_features),
    )
    bias, eb, input_grad = (
        _flag("bias", bias),
        _elem_bytes(elem_bytes),
        _flag("input_grad", input_grad),
    )
    params = i * o + (o if bias else 0)
    macs = r * i * o
    bias_adds = r * o if bias else 0  # forward: add b to each output; backward: sum dY over rows
    return _make(
        "linear",
        params=params,
        fwd_macs=macs,
        fwd_other=bias_adds,
        fwd_bytes=eb * (r * i + params + r * o),
        bwd_macs=macs + (macs if input_grad else 0),  # dW = dY^T x; dX = dY W
        bwd_other=bias_adds,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=r * o, saved=r * i, params=params, grad_in=r * i, input_grad=input_grad
        ),
        input_grad=input_grad,
    )


def matmul(
    *, m: int, n: int, k: int, batch: int = 1, elem_bytes: float = 4, input_grad: bool = True
) -> OpCount:
    """(batch, m, k) @ (batch, k, n): no parameters; ``input_grad`` covers both operands."""
    m, n, k, b = _pos("m", m), _pos("n", n), _pos("k", k), _pos("batch", batch)
    eb, input_grad = _elem_bytes(elem_bytes), _flag("input_grad", input_grad)
    macs = b * m * n * k
    a_el, b_el, c_el = b * m * k, b * k * n, b * m * n
    return _make(
        "matmul",
        params=0,
        fwd_macs=macs,
        fwd_other=0,
        fwd_bytes=eb * (a_el + b_el + c_el),
        bwd_macs=2 * macs if input_grad else 0,  # dA = dC B^T, dB = A^T dC
        bwd_other=0,
        bwd_bytes=eb * (c_el + a_el + b_el + a_el + b_el) if input_grad else 0,
        input_grad=input_grad,
    )


def _conv_out(size: int, kernel: int, stride: int, pad: int, dil: int) -> int:
    # PyTorch's formula (floor mode).
    return (size + 2 * pad - dil * (kernel - 1) - 1) // stride + 1


def conv2d(
    *,
    batch: int,
    in_channels: int,
    out_channels: int,
    height: int,
    width: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """2-D convolution as ``nn.Conv2d``; ``padding`` also takes "same" and "valid"."""
    n, ci, co = (
        _pos("batch", batch),
        _pos("in_channels", in_channels),
        _pos("out_channels", out_channels),
    )
    h, w = _pos("height", height), _pos("width", width)
    kh, kw = _pair("kernel_size", kernel_size, 1)
    sh, sw = _pair("stride", stride, 1)
    dh, dw = _pair("dilation", dilation, 1)
    g = _pos("groups", groups)
    bias, eb, input_grad = (
        _flag("bias", bias),
        _elem_bytes(elem_bytes),
        _flag("input_grad", input_grad),
    )
    if ci % g or co % g:
        raise ValueError(
            f"groups: in_channels ({ci}) and out_channels ({co}) must both be divisible by "
            f"groups ({g})"
        )
    if isinstance(padding, str):
        pad = _choice("padding", padding, ("same", "valid"))
        if pad == "same" and (sh, sw) != (1, 1):
            raise ValueError(
                f"padding: 'same' needs stride 1 (as in PyTorch), got stride {stride!r}"
            )
        if pad == "same":  # PyTorch pads d*(k-1) in total, the odd one on the far side
            ho, wo = h, w
        else:
            ho, wo = _conv_out(h, kh, sh, 0, dh), _conv_out(w, kw, sw, 0, dw)
    else:
        ph, pw = _pair("padding", padding, 0)
        ho, wo = _conv_out(h, kh, sh, ph, dh), _conv_out(w, kw, sw, pw, dw)
    if ho < 1 or wo < 1:
        raise ValueError(
            f"kernel_size: the output would be empty ({ho}x{wo}) for a {h}x{w} input with kernel "
            f"{(kh, kw)}, stride {(sh, sw)}, padding {padding!r} and dilation {(dh, dw)}"
        )
    params = co * (ci // g) * kh * kw + (co if bias else 0)
    out_el = n * co * ho * wo
    in_el = n * ci * h * w
    macs = out_el * (ci // g) * kh * kw
    bias_adds = out_el if bias else 0
    return _make(
        "conv2d",
        params=params,
        fwd_macs=macs,
        fwd_other=bias_adds,
        fwd_bytes=eb * (in_el + params + out_el),
        bwd_macs=macs + (macs if input_grad else 0),
        bwd_other=bias_adds,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=out_el, saved=in_el, params=params, grad_in=in_el, input_grad=input_grad
        ),
        input_grad=input_grad,
        detail={"out_height": ho, "out_width": wo},
    )


# -- pooling ------------------------------------------------------------------------------------
def _pool_out(size: int, kernel: int, stride: int, pad: int, dil: int, ceil_mode: bool) -> int:
    span = size + 2 * pad - dil * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad:  # PyTorch: the last window must start inside the input
        out -= 1
    return out


def pool2d(
    *,
    kind: str,
    batch: int,
    channels: int,
    height: int,
    width: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """2-D max or average pooling over full kh x kw windows.

    max: kh*kw - 1 compares per output; avg: kh*kw - 1 adds + 1 divide = kh*kw per output.
    Every window counts as full (padding included), as ``count_include_pad`` does by default.
    """
    kind = _choice("kind", kind, ("max", "avg"))
    n, c = _pos("batch", batch), _pos("channels", channels)
    h, w = _pos("height", height), _pos("width", width)
    kh, kw = _pair("kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    dh, dw = _pair("dilation", dilation, 1)
    ceil_mode = _flag("ceil_mode", ceil_mode)
    if kind == "avg" and (dh, dw) != (1, 1):
        raise ValueError(
            f"dilation: average pooling has no dilation (expected 1), got {dilation!r}"
        )
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"padding: expected at most half the kernel size {(kh, kw)} (as in PyTorch), "
            f"got {padding!r}"
        )
    ho = _pool_out(h, kh, sh, ph, dh, ceil_mode)
    wo = _pool_out(w, kw, sw, pw, dw, ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError(
            f"kernel_size: the output would be empty ({ho}x{wo}) for a {h}x{w} input with kernel "
            f"{(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)} and dilation {(dh, dw)}"
        )
    window = kh * kw
    per_output = window - 1 if kind == "max" else window
    out_el, in_el = n * c * ho * wo, n * c * h * w
    flops = out_el * per_output
    eb, input_grad = _elem_bytes(elem_bytes), _flag("input_grad", input_grad)
    return _make(
        f"{kind}_pool2d",
        params=0,
        fwd_macs=0,
        fwd_other=flops,
        fwd_bytes=eb * (in_el + out_el),
        bwd_macs=0,
        bwd_other=flops if input_grad else 0,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=out_el, saved=in_el, params=0, grad_in=in_el, input_grad=True
        )
        if input_grad
        else 0,
        input_grad=input_grad,
        detail={"out_height": ho, "out_width": wo},
    )


def adaptive_avg_pool2d(
    *,
    batch: int,
    channels: int,
    height: int,
    width: int,
    output_size: int | tuple[int, int],
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """``nn.AdaptiveAvgPool2d``: output cell i averages input rows floor(i*H/oh)..ceil((i+1)*H/oh).

    Each output costs its window's size (window - 1 adds + 1 divide), summed exactly.
    """
    n, c = _pos("batch", batch), _pos("channels", channels)
    h, w = _pos("height", height), _pos("width", width)
    oh, ow = _pair("output_size", output_size, 1)

    def windows(size: int, out: int) -> int:
        return sum(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))

    flops = n * c * windows(h, oh) * windows(w, ow)
    in_el, out_el = n * c * h * w, n * c * oh * ow
    eb, input_grad = _elem_bytes(elem_bytes), _flag("input_grad", input_grad)
    return _make(
        "adaptive_avg_pool2d",
        params=0,
        fwd_macs=0,
        fwd_other=flops,
        fwd_bytes=eb * (in_el + out_el),
        bwd_macs=0,
        bwd_other=flops if input_grad else 0,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=out_el, saved=in_el, params=0, grad_in=in_el, input_grad=True
        )
        if input_grad
        else 0,
        input_grad=input_grad,
    )


# -- normalisation ------------------------------------------------------------------------------
def _norm(
    op: str,
    *,
    groups: int,
    group_size: int,
    stats: bool,
    affine_per_element: int,
    params: int,
    stat_bytes: int,
    eb: float,
    input_grad: bool,
) -> OpCount:
    """Normalise ``groups`` sets of ``group_size`` values.

    With ``stats`` (batch norm in training, layer norm): mean (size - 1 adds + 1 divide), centre
    (size subtracts), variance (size squares, size - 1 adds, 1 divide), 1/sqrt(var + eps) (3),
    scale (size multiplies): 5*size + 3 per group. Without (batch norm in inference, running
    statistics): subtract, multiply per element + 3 per group. Affine: multiply and add (or
    multiply only without a bias) per element.
    """
    m = group_size
    per_group = (5 * m + INV_STD_FLOPS) if stats else (2 * m + INV_STD_FLOPS)
    numel = groups * m
    flops = groups * per_group + affine_per_element * numel
    flows = input_grad or params > 0
    return _make(
        op,
        params=params,
        fwd_macs=0,
        fwd_other=flops,
        fwd_bytes=eb * (2 * numel + params + stat_bytes),
        bwd_macs=0,
        bwd_other=flops if flows else 0,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=numel, saved=numel, params=params, grad_in=numel, input_grad=input_grad
        )
        if flows
        else 0,
        input_grad=input_grad,
    )


def batch_norm(
    *,
    batch: int,
    channels: int,
    spatial: int = 1,
    training: bool = True,
    affine: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """Batch norm over (batch, channels, spatial...); ``spatial`` is the product of H, W, ...

    Training normalises with the batch's mean and variance (5*M + 3 FLOPs per channel, M =
    batch*spatial); inference with the running statistics (2*M + 3, and reads them: 2 values per
    channel). Affine adds 2 FLOPs per element. The O(channels) update of the running statistics
    in training is not counted.
    """
    n, c, s = _pos("batch", batch), _pos("channels", channels), _pos("spatial", spatial)
    training, affine = _flag("training", training), _flag("affine", affine)
    return _norm(
        "batch_norm",
        groups=c,
        group_size=n * s,
        stats=training,
        affine_per_element=2 if affine else 0,
        params=2 * c if affine else 0,
        stat_bytes=0 if training else 2 * c,
        eb=_elem_bytes(elem_bytes),
        input_grad=_flag("input_grad", input_grad),
    )


def layer_norm(
    *,
    rows: int,
    normalized_size: int,
    affine: bool = True,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """Layer norm of ``rows`` vectors of ``normalized_size`` values (the product of
    ``normalized_shape``): 5*N + 3 FLOPs per row, plus the affine transform (``bias=False`` as
    ``nn.LayerNorm(bias=False)``: a multiply only)."""
    r, size = _pos("rows", rows), _pos("normalized_size", normalized_size)
    affine, bias = _flag("affine", affine), _flag("bias", bias)
    per_el = (2 if bias else 1) if affine else 0
    return _norm(
        "layer_norm",
        groups=r,
        group_size=size,
        stats=True,
        affine_per_element=per_el,
        params=per_el * size,
        stat_bytes=0,
        eb=_elem_bytes(elem_bytes),
        input_grad=_flag("input_grad", input_grad),
    )


# -- elementwise --------------------------------------------------------------------------------
def activation(*, name: str, numel: int, elem_bytes: float = 4, input_grad: bool = True) -> OpCount:
    """An elementwise activation: ``ELEMENTWISE_FLOPS[name]`` FLOPs per element."""
    name = _choice("name", name, ACTIVATIONS)
    return _elementwise_op(
        name,
        numel=(n := _pos("numel", numel)),
        flops=n * ELEMENTWISE_FLOPS[name],
        elem_bytes=_elem_bytes(elem_bytes),
        input_grad=_flag("input_grad", input_grad),
        flops_per_element=ELEMENTWISE_FLOPS[name],
    )


def softmax(
    *, rows: int, cols: int, log: bool = False, elem_bytes: float = 4, input_grad: bool = True
) -> OpCount:
    """Softmax over ``cols`` in each of ``rows`` rows, numerically stable as frameworks run it.

    softmax per row: max (cols - 1 compares), subtract (cols), exp (cols), sum (cols - 1 adds),
    divide (cols) = 5*cols - 2. log_softmax (``log=True``): max, subtract, exp, sum, one log,
    subtract = 4*cols - 1.
    """
    r, c = _pos("rows", rows), _pos("cols", cols)
    log = _flag("log", log)
    per_row = 4 * c - 1 if log else 5 * c - 2
    return _elementwise_op(
        "log_softmax" if log else "softmax",
        numel=r * c,
        flops=r * per_row,
        elem_bytes=_elem_bytes(elem_bytes),
        input_grad=_flag("input_grad", input_grad),
    )


def log_softmax(*, rows: int, cols: int, elem_bytes: float = 4, input_grad: bool = True) -> OpCount:
    """``softmax(log=True)``: 4*cols - 1 FLOPs per row."""
    return softmax(rows=rows, cols=cols, log=True, elem_bytes=elem_bytes, input_grad=input_grad)


def dropout(
    *,
    numel: int,
    p: float = 0.5,
    training: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """Dropout as PyTorch runs it in training: compare a uniform random number with p, scale the
    mask by 1/(1-p), multiply: 3 FLOPs per element (generating the random numbers is not
    counted); a 1-byte mask is kept for the backward. Not training: the identity, zero cost."""
    n = _pos("numel", numel)
    ok = isinstance(p, numbers.Real) and not isinstance(p, bool) and 0 <= p <= 1
    if not ok:
        raise ValueError(f"p: expected a probability between 0 and 1, got {p!r}")
    training = _flag("training", training)
    eb, input_grad = _elem_bytes(elem_bytes), _flag("input_grad", input_grad)
    if not training:
        return OpCount("dropout", params=0, forward=ZERO, backward=ZERO, input_grad=input_grad)
    flops = 3 * n
    return _make(
        "dropout",
        params=0,
        fwd_macs=0,
        fwd_other=flops,
        fwd_bytes=eb * 2 * n + MASK_BYTES * n,
        bwd_macs=0,
        bwd_other=flops if input_grad else 0,
        bwd_bytes=(eb * 2 * n + MASK_BYTES * n) if input_grad else 0,
        input_grad=input_grad,
    )


# -- embedding ----------------------------------------------------------------------------------
def embedding(
    *,
    num_indices: int,
    num_embeddings: int,
    embedding_dim: int,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """Table lookup (``nn.Embedding``): a gather, 0 FLOPs.

    Forward bytes: the int64 indices, the gathered rows, the output. Backward: a scatter-add of
    ``num_indices * embedding_dim`` values into the (dense) weight gradient, which is written
    whole. Indices never get a gradient, so ``input_grad`` is accepted and recorded as False.
    """
    n, v, d = (
        _pos("num_indices", num_indices),
        _pos("num_embeddings", num_embeddings),
        _pos("embedding_dim", embedding_dim),
    )
    eb = _elem_bytes(elem_bytes)
    _flag("input_grad", input_grad)
    params = v * d
    return _make(
        "embedding",
        params=params,
        fwd_macs=0,
        fwd_other=0,
        fwd_bytes=INDEX_BYTES * n + eb * 2 * n * d,
        bwd_macs=0,
        bwd_other=n * d,
        bwd_bytes=eb * n * d + INDEX_BYTES * n + eb * params,
        input_grad=False,
    )


# -- recurrent ----------------------------------------------------------------------------------
def _cell_elementwise(mode: str) -> int:
    """Gate math per hidden unit after the pre-activations are summed, as PyTorch's cells do."""
    e = ELEMENTWISE_FLOPS
    if mode == "rnn_tanh":  # h' = tanh(pre)
        return e["tanh"]
    if mode == "rnn_relu":  # h' = relu(pre)
        return e["relu"]
    if mode == "lstm":
        # i, f, o = sigmoid; g = tanh; c' = f*c + i*g (2 mul, 1 add); h' = o*tanh(c') (tanh, mul)
        return 3 * e["sigmoid"] + 2 * e["tanh"] + 3 + 1
    # gru: r, z = sigmoid; r*(W_hn h + b_hn) 1 mul; n = tanh(...);
    # h' = (1-z)*n + z*h: subtract, 2 multiplies, add
    return 2 * e["sigmoid"] + 1 + e["tanh"] + 4


def rnn(
    *,
    mode: str,
    seq_len: int,
    batch: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """``nn.RNN`` (``rnn_tanh``, ``rnn_relu``), ``nn.LSTM`` or ``nn.GRU``, exactly as PyTorch
    defines the cells (two bias vectors, b_ih and b_hh; GRU applies r to W_hn h + b_hn).

    Per layer, direction, time step and batch element, with G gates (1, 1, 4, 3) and I the
    layer's input size (``input_size`` for layer 0, ``hidden_size * directions`` above):
    G*H*(I + H) MACs; G*H adds of the input and hidden products; 2*G*H bias adds; and the gate
    math (rnn_tanh: tanh 5/unit; rnn_relu: 1; LSTM: 3 sigmoid + 2 tanh + c = f*c + i*g (3) +
    h = o*tanh(c) (1) = 26; GRU: 2 sigmoid + r*(.) (1) + tanh + h = (1-z)*n + z*h (4) = 18).

    Backward: the weight gradients (forward MACs) and the hidden/input gradients (forward MACs,
    less layer 0's input gradient without ``input_grad``: the recurrence and the upper layers
    always need theirs), plus the non-MAC work again. Bytes count the input, parameters, output
    and final states (h_n, and c_n for LSTM); zero initial states are not read.
    """
    mode = _choice("mode", mode, tuple(RNN_MODES))
    t, b = _pos("seq_len", seq_len), _pos("batch", batch)
    i0, h = _pos("input_size", input_size), _pos("hidden_size", hidden_size)
    layers = _pos("num_layers", num_layers)
    bidirectional, bias = _flag("bidirectional", bidirectional), _flag("bias", bias)
    eb, input_grad = _elem_bytes(elem_bytes), _flag("input_grad", input_grad)
    g = RNN_MODES[mode]
    dirs = 2 if bidirectional else 1
    elementwise = _cell_elementwise(mode)
    params = 0
    macs = adds = ew = 0
    detail: dict[str, float] = {"gates": g, "num_directions": dirs}
    step_total = 0
    for layer in range(layers):
        i = i0 if layer == 0 else h * dirs
        params += dirs * (g * h * (i + h) + (2 * g * h if bias else 0))
        step_macs = b * g * h * (i + h)  # one direction, one time step, whole batch
        step_adds = b * (g * h + (2 * g * h if bias else 0))
        step_ew = b * h * elementwise
        step_flops = 2 * step_macs + step_adds + step_ew
        detail[f"layer{layer}_step_flops"] = step_flops  # per direction
        step_total += dirs * step_flops
        macs += t * dirs * step_macs
        adds += t * dirs * step_adds
        ew += t * dirs * step_ew
    detail["step_flops"] = step_total  # all layers and directions, one time step
    detail["gate_matmul_flops"] = 2 * macs
    detail["gate_add_flops"] = adds
    detail["elementwise_flops"] = ew
    x_el = t * b * i0
    out_el = t * b * dirs * h
    state_el = layers * dirs * b * h * (2 if mode == "lstm" else 1)
    layer0_dx = t * dirs * b * g * h * i0
    return _make(
        mode,
        params=params,
        fwd_macs=macs,
        fwd_other=adds + ew,
        fwd_bytes=eb * (x_el + params + out_el + state_el),
        bwd_macs=2 * macs - (0 if input_grad else layer0_dx),
        bwd_other=adds + ew,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=out_el, saved=x_el, params=params, grad_in=x_el, input_grad=input_grad
        ),
        input_grad=input_grad,
        detail=detail,
    )


def lstm(
    *,
    seq_len: int,
    batch: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """``rnn(mode="lstm", ...)``: ``nn.LSTM``."""
    return rnn(mode="lstm", **locals())


def gru(
    *,
    seq_len: int,
    batch: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """``rnn(mode="gru", ...)``: ``nn.GRU``."""
    return rnn(mode="gru", **locals())


# -- attention ----------------------------------------------------------------------------------
def multi_head_attention(
    *,
    batch: int,
    q_len: int,
    kv_len: int,
    embed_dim: int,
    num_heads: int,
    kdim: int | None = None,
    vdim: int | None = None,
    bias: bool = True,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """``nn.MultiheadAttention``: Q/K/V projections, scores Q K^T, softmax, attention x V and the
    output projection. q is scaled by 1/sqrt(head_dim) (1 FLOP per element). Not counted:
    masks, attention dropout and the head-averaged weights returned with ``need_weights``.

    Backward: every projection's weight gradient; the score and value products' both operands
    (they come from projections); the Q/K/V inputs' gradients only with ``input_grad``.
    Bytes count query, key and value as three tensors even when they are one.
    """
    b, lq, lk = _pos("batch", batch), _pos("q_len", q_len), _pos("kv_len", kv_len)
    e, heads = _pos("embed_dim", embed_dim), _pos("num_heads", num_heads)
    kd = e if kdim is None else _pos("kdim", kdim)
    vd = e if vdim is None else _pos("vdim", vdim)
    bias, eb, input_grad = (
        _flag("bias", bias),
        _elem_bytes(elem_bytes),
        _flag("input_grad", input_grad),
    )
    if e % heads:
        raise ValueError(f"num_heads: embed_dim ({e}) must be divisible by num_heads ({heads})")
    head_dim = e // heads
    params = e * e + e * kd + e * vd + e * e + (4 * e if bias else 0)
    macs_in = b * lq * e * e + b * lk * kd * e + b * lk * vd * e
    macs_out = b * lq * e * e
    macs_attn = 2 * b * lq * lk * e  # scores (heads * lq * lk * head_dim) and attention x V
    bias_adds = (2 * b * lq * e + 2 * b * lk * e) if bias else 0
    scale = b * lq * e
    soft_rows = b * heads * lq
    soft = soft_rows * (5 * lk - 2)
    macs = macs_in + macs_out + macs_attn
    other = bias_adds + scale + soft
    in_el = b * lq * e + b * lk * kd + b * lk * vd
    out_el = b * lq * e
    return _make(
        "multi_head_attention",
        params=params,
        fwd_macs=macs,
        fwd_other=other,
        fwd_bytes=eb * (in_el + params + out_el),
        bwd_macs=2 * macs - (0 if input_grad else macs_in),
        bwd_other=other,
        bwd_bytes=_bwd_bytes(
            eb, grad_out=out_el, saved=in_el, params=params, grad_in=in_el, input_grad=input_grad
        ),
        input_grad=input_grad,
        detail={
            "head_dim": head_dim,
            "projection_flops": 2 * (macs_in + macs_out) + bias_adds,
            "attention_matmul_flops": 2 * macs_attn,
            "scale_flops": scale,
            "softmax_flops": soft,
        },
    )


def scaled_dot_product_attention(
    *,
    batch: int,
    heads: int,
    q_len: int,
    kv_len: int,
    head_dim: int,
    v_head_dim: int | None = None,
    mask: bool = False,
    causal: bool = False,
    elem_bytes: float = 4,
    input_grad: bool = True,
) -> OpCount:
    """``F.scaled_dot_product_attention``: softmax(Q K^T / sqrt(d) + M) V for (batch, heads,
    length, dim) Q, K and V; no parameters, no projections (those are separate linears).

    MACs: Q K^T (``heads * q_len * kv_len * head_dim`` per batch element) and attention x V
    (``... * v_head_dim``). Other work: scale Q (1 per element), add the mask to every score
    with ``mask`` (a key-padding or any explicit mask: 1 per score), softmax over each row
    (5*kv_len - 2). ``causal`` masking is counted as computed over the whole score matrix, as
    ``FlopCounterMode`` and the fused kernels' own FLOP counts do: a kernel that skips the
    masked half does less, and that shows as a higher achieved rate, not fewer FLOPs.

    Backward (``input_grad``: Q, K and V come from projections): both operands of both
    products, 2x the forward MACs, and the non-MAC work again; nothing without it. Bytes: Q, K,
    V and the output; with ``mask``, a (batch, kv_len) key-padding mask at ``elem_bytes``.
    """
    b, h = _pos("batch", batch), _pos("heads", heads)
    lq, lk, d = _pos("q_len", q_len), _pos("kv_len", kv_len), _pos("head_dim", head_dim)
    dv = d if v_head_dim is None else _pos("v_head_dim", v_head_dim)
    mask, causal = _flag("mask", mask), _flag("causal", causal)
    eb, input_grad = _elem_bytes(elem_bytes), _flag("input_grad", input_grad)
    scores = b * h * lq * lk
    macs = scores * d + scores * dv
    scale = b * h * lq * d
    mask_adds = scores if mask else 0
    soft = b * h * lq * (5 * lk - 2)
    other = scale + mask_adds + soft
    q_el, k_el, v_el, out_el = b * h * lq * d, b * h * lk * d, b * h * lk * dv, b * h * lq * dv
    mask_el = b * lk if mask else 0
    saved = q_el + k_el + v_el + mask_el
    return _make(
        "scaled_dot_product_attention",
        params=0,
        fwd_macs=macs,
        fwd_other=other,
        fwd_bytes=eb * (saved + out_el),
        bwd_macs=2 * macs if input_grad else 0,
        bwd_other=other if input_grad else 0,
        bwd_bytes=eb * (out_el + saved + q_el + k_el + v_el) if input_grad else 0,
        input_grad=input_grad,
        detail={
            "attention_matmul_flops": 2 * macs,
            "scale_flops": scale,
            "mask_flops": mask_adds,
            "softmax_flops": soft,
            "causal": float(causal),
        },
    )


OPS: dict[str, Callable[..., OpCount]] = {
    "linear": linear,
    "matmul": matmul,
    "conv2d": conv2d,
    "pool2d": pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d,
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "activation": activation,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "dropout": dropout,
    "embedding": embedding,
    "rnn": rnn,
    "lstm": lstm,
    "gru": gru,
    "multi_head_attention": multi_head_attention,
    "scaled_dot_product_attention": scaled_dot_product_attention,
}
