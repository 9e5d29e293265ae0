"""Whole-model FLOP, MAC and traffic counts from one forward pass.

``count_model(model, *inputs)`` runs the model once, under ``torch.no_grad`` and with its state
(buffers such as batch-norm running statistics, and the CPU random-number generator) restored
afterwards, and records what ran:

- **Known modules** (``nn.Linear``, ``nn.Conv2d``, ``nn.BatchNorm1d/2d/3d``, ``nn.LayerNorm``,
  ``nn.Embedding``, ``nn.RNN``/``nn.LSTM``/``nn.GRU``, ``nn.MultiheadAttention``, max/average/
  adaptive-average 2-D pooling, the activations of :data:`~accelbench.flops.ops.ACTIVATIONS`,
  ``nn.Dropout``, ``nn.Softmax``/``nn.LogSoftmax``) are counted analytically by
  :mod:`accelbench.flops.ops` from the real input and output shapes, seen by forward hooks.
  Subclasses count as their base class.
- **Everything else** (functional calls in a custom ``forward``: ``torch.matmul``, ``F.relu``,
  residual adds, ``F.scaled_dot_product_attention``, and the insides of modules not listed) is
  counted per ATen operator by a ``TorchDispatchMode``, with the same conventions. It is paused
  inside a known module, so nothing is counted twice. This is why the module exists at all:
  ``torch.utils.flop_counter.FlopCounterMode`` counts only matrix products, and zero for the
  fused LSTM/GRU kernels (and for CPU flash attention).

Work that cannot be counted is never a silent zero: an unsupported configuration (LSTM
``proj_size``, packed sequences, attention ``add_bias_kv``/``add_zero_attn``, a recurrent ATen
kernel called outside its module) raises ``NotImplementedError`` naming the module or operator;
ATen operators without a rule are listed in ``ModelCount.uncounted`` and a warning names them.

**Gradients.** Weights are always assumed trainable (their gradients are counted). Whether an
operator's *inputs* need a gradient follows autograd's own rule, tracked through the pass: a
tensor needs one when it depends on a parameter, or on a model input when ``input_grad=True``.
So with ``input_grad=False`` (the default) the first layers, whose inputs are the model inputs or
derive from them alone, get no input-gradient work, and parameter-free operators on such tensors
no backward at all.

**Bytes.** Each row's ``min_bytes`` is that operator's compulsory traffic; the model total is
their sum, the traffic of an unfused execution, not the (smaller) compulsory traffic of the model
as one fused kernel. Views (reshape, transpose, slicing) cost nothing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from accelbench.flops import ops
from accelbench.flops.ops import ELEMENTWISE_FLOPS, MODES, ZERO, Cost, OpCount, _total


@dataclass(frozen=True)
class ModelRow:
    """One counted module call, or one ATen operator summed over its calls within a module."""

    path: str  # module path as in named_modules() ("" is the model itself)
    op: str  # "linear", "lstm", ... for known modules; "aten.mm", "aten.add", ... otherwise
    count: OpCount
    calls: int = 1


@dataclass(frozen=True)
class ModelCount:
    """Per-module rows and totals of one forward pass; ``total(mode)`` sums the rows."""

    rows: tuple[ModelRow, ...]
    params: int  # distinct parameters of the model
    mode: str = "forward"
    input_grad: bool = False
    uncounted: dict[str, int] = field(default_factory=dict)  # ATen op without a rule -> calls

    @property
    def forward(self) -> Cost:
        return _sum(r.count.forward for r in self.rows)

    @property
    def backward(self) -> Cost:
        return _sum(r.count.backward for r in self.rows)

    def total(self, mode: str | None = None) -> Cost:
        """``forward`` or ``forward+backward``; default: the mode it was counted for."""
        return _total(self.forward, self.backward, self.mode if mode is None else mode)

    def by_op(self, mode: str | None = None) -> dict[str, Cost]:
        """Totals per op name, largest FLOPs first."""
        acc: dict[str, Cost] = {}
        for r in self.rows:
            acc[r.op] = acc.get(r.op, ZERO) + r.count.total(self.mode if mode is None else mode)
        return dict(sorted(acc.items(), key=lambda kv: -kv[1].flops))


def _sum(costs: Any) -> Cost:
    total = ZERO
    for c in costs:
        total = total + c
    return total


def _merge(a: OpCount, b: OpCount) -> OpCount:
    return OpCount(
        op=a.op,
        params=a.params,
        forward=a.forward + b.forward,
        backward=a.backward + b.backward,
        input_grad=a.input_grad or b.input_grad,
    )


# -- known modules ------------------------------------------------------------------------------
# Order matters: ReLU6 is a Hardtanh subclass and must be found first.
_ACTIVATION_MODULES: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ReLU6, "relu6"),
    (nn.ReLU, "relu"),
    (nn.Hardtanh, "hardtanh"),
    (nn.LeakyReLU, "leaky_relu"),
    (nn.ELU, "elu"),
    (nn.SELU, "selu"),
    (nn.SiLU, "silu"),
    (nn.Sigmoid, "sigmoid"),
    (nn.Tanh, "tanh"),
    (nn.Hardsigmoid, "hardsigmoid"),
    (nn.Hardswish, "hardswish"),
    (nn.Softplus, "softplus"),
    (nn.Mish, "mish"),
)
_KNOWN: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv2d,
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.Embedding,
    nn.RNNBase,
    nn.MultiheadAttention,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.GELU,
    nn.Softmax,
    nn.LogSoftmax,
    *(cls for cls, _ in _ACTIVATION_MODULES),
)


def _is_known(m: nn.Module) -> bool:
    # nn.Dropout exactly: Dropout1d/2d/3d drop whole channels and are counted through ATen.
    return isinstance(m, _KNOWN) or type(m) is nn.Dropout


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str) -> Any:
    return args[i] if len(args) > i else kwargs.get(name)


def _unsupported(path: str, m: nn.Module, what: str) -> NotImplementedError:
    where = path or "the model"
    return NotImplementedError(
        f"{where} ({type(m).__name__}): {what} is not supported by accelbench.flops; "
        "its cost cannot be counted"
    )


def _seq_dims(x: torch.Tensor, batch_first: bool) -> tuple[int, int]:
    """(seq_len, batch) of an RNN/attention input; unbatched inputs are (seq, features)."""
    if x.dim() == 2:
        return x.shape[0], 1
    return (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])


def _check_supported(
    path: str, m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Refuse, before it runs, a call whose cost the analytic model does not cover."""
    if isinstance(m, nn.RNNBase):
        if isinstance(_arg(args, kwargs, 0, "input"), PackedSequence):
            raise _unsupported(path, m, "a PackedSequence input")
        if getattr(m, "proj_size", 0):
            raise _unsupported(path, m, f"proj_size={m.proj_size}")
    if isinstance(m, nn.MultiheadAttention):
        if m.bias_k is not None:
            raise _unsupported(path, m, "add_bias_kv=True")
        if m.add_zero_attn:
            raise _unsupported(path, m, "add_zero_attn=True")


def _module_count(
    path: str,
    m: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output: Any,
    input_grad: bool,
) -> OpCount:
    """The analytic count of one call of a known module, from its real shapes."""
    outs = _tensors(output)
    x = _arg(args, kwargs, 0, "input")
    x = x if isinstance(x, torch.Tensor) else None
    if x is None and not isinstance(m, nn.MultiheadAttention):
        raise _unsupported(path, m, "a call without a tensor as first argument")
    eb = next((t.element_size() for t in outs if t.is_floating_point()), None)
    eb = eb or (x.element_size() if x is not None else 4)
    common = {"elem_bytes": eb, "input_grad": input_grad}

    if isinstance(m, nn.Linear):
        return ops.linear(
            rows=x.numel() // m.in_features,
            in_features=m.in_features,
            out_features=m.out_features,
            bias=m.bias is not None,
            **common,
        )
    if isinstance(m, nn.Conv2d):
        n = x.shape[0] if x.dim() == 4 else 1
        return ops.conv2d(
            batch=n,
            in_channels=m.in_channels,
            out_channels=m.out_channels,
            height=x.shape[-2],
            width=x.shape[-1],
            kernel_size=m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            groups=m.groups,
            bias=m.bias is not None,
            **common,
        )
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return ops.batch_norm(
            batch=x.shape[0],
            channels=x.shape[1],
            spatial=math.prod(x.shape[2:]),
            # batch statistics whenever training, or when there are no running statistics
            training=m.training or m.running_mean is None,
            affine=m.affine,
            **common,
        )
    if isinstance(m, nn.LayerNorm):
        size = math.prod(m.normalized_shape)
        return ops.layer_norm(
            rows=x.numel() // size,
            normalized_size=size,
            affine=m.elementwise_affine,
            bias=getattr(m, "bias", None) is not None,
            **common,
        )
    if isinstance(m, nn.Embedding):
        return ops.embedding(
            num_indices=x.numel(),
            num_embeddings=m.num_embeddings,
            embedding_dim=m.embedding_dim,
            **common,
        )
    if isinstance(m, nn.RNNBase):
        seq, batch = _seq_dims(x, m.batch_first)
        return ops.rnn(
            mode=m.mode.lower(),
            seq_len=seq,
            batch=batch,
            input_size=m.input_size,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            bidirectional=m.bidirectional,
            bias=m.bias,
            **common,
        )
    if isinstance(m, nn.MultiheadAttention):
        q = _arg(args, kwargs, 0, "query")
        k = _arg(args, kwargs, 1, "key")
        q_len, batch = _seq_dims(q, m.batch_first)
        kv_len, _ = _seq_dims(k, m.batch_first)
        return ops.multi_head_attention(
            batch=batch,
            q_len=q_len,
            kv_len=kv_len,
            embed_dim=m.embed_dim,
            num_heads=m.num_heads,
            kdim=m.kdim,
            vdim=m.vdim,
            bias=m.in_proj_bias is not None,
            **common,
        )
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return ops.pool2d(
            kind="max" if isinstance(m, nn.MaxPool2d) else "avg",
            batch=x.shape[0] if x.dim() == 4 else 1,
            channels=x.shape[-3],
            height=x.shape[-2],
            width=x.shape[-1],
            kernel_size=m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=getattr(m, "dilation", 1),
            ceil_mode=m.ceil_mode,
            **common,
        )
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return ops.adaptive_avg_pool2d(
            batch=x.shape[0] if x.dim() == 4 else 1,
            channels=x.shape[-3],
            height=x.shape[-2],
            width=x.shape[-1],
            output_size=tuple(outs[0].shape[-2:]),  # resolves None entries of output_size
            **common,
        )
    if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
        dim = m.dim if m.dim is not None else (0 if x.dim() in (0, 1, 3) else 1)  # legacy rule
        cols = x.shape[dim] if x.dim() else 1
        return ops.softmax(
            rows=x.numel() // cols, cols=cols, log=isinstance(m, nn.LogSoftmax), **common
        )
    if type(m) is nn.Dropout:
        return ops.dropout(numel=x.numel(), p=m.p, training=m.training, **common)
    if isinstance(m, nn.GELU):
        name = "gelu_tanh" if m.approximate == "tanh" else "gelu"
        return ops.activation(name=name, numel=x.numel(), **common)
    for cls, name in _ACTIVATION_MODULES:
        if isinstance(m, cls):
            return ops.activation(name=name, numel=x.numel(), **common)
    raise AssertionError(f"unhandled known module {type(m).__name__}")  # pragma: no cover


# -- ATen operators -----------------------------------------------------------------------------
_EW = ELEMENTWISE_FLOPS


def _words(text: str) -> list[str]:
    return text.split()


# FLOPs per output element of elementwise ATen operators (in-place variants share the entry).
_ONE_STEP = """
    add sub rsub mul div neg abs reciprocal square sign floor ceil round trunc frac fmod
    remainder maximum minimum fmax fmin clamp_min clamp_max eq ne lt le gt ge logical_not
    logical_and logical_or logical_xor bitwise_not bitwise_and bitwise_or bitwise_xor where
    masked_fill threshold copysign isnan isinf nan_to_num heaviside signbit
"""
_SPECIAL = """
    exp exp2 expm1 log log2 log10 log1p sqrt rsqrt erf erfc erfinv sin cos tan asin acos atan
    atan2 sinh cosh asinh acosh atanh
"""
_ELEMENTWISE_ATEN: dict[str, int] = {
    **dict.fromkeys(_words(_ONE_STEP), 1),
    **dict.fromkeys(_words(_SPECIAL), _EW["exp"]),  # one special-function evaluation
    "clamp": 2,
    "addcmul": 2,
    "addcdiv": 2,
    "lerp": 2,
    "xlogy": 2,
    # activations with their own ATen kernel (relu6 runs as hardtanh, selu as a scaled elu,
    # gelu is chosen by its `approximate` argument)
    **{
        n: _EW[n]
        for n in _words(
            "relu hardtanh leaky_relu elu sigmoid tanh silu hardsigmoid hardswish softplus mish"
        )
    },
    "celu": _EW["elu"],
    "glu": _EW["sigmoid"] + _EW["mul"],  # per output: sigmoid(b) * a
    "bernoulli": _EW["compare"],  # dropout's mask: a uniform number compared with p
}
# Reductions: FLOPs from input size i and output size o.
_REDUCTIONS: dict[str, Callable[[int, int], int]] = {
    **dict.fromkeys(
        _words("sum nansum prod amax amin max min argmax argmin any all aminmax count_nonzero"),
        lambda i, o: i - o,  # n - 1 adds or compares per output
    ),
    "mean": lambda i, o: i,  # n - 1 adds + 1 divide per output
    "nanmean": lambda i, o: i,
    "cumsum": lambda i, o: i,
    "cumprod": lambda i, o: i,
    # mean (n), centre (n), square (n), sum (n - 1), divide (1): 4n per output
    "var": lambda i, o: 4 * i,
    "var_mean": lambda i, o: 4 * i,
    "std": lambda i, o: 4 * i + o,  # and a sqrt
    "std_mean": lambda i, o: 4 * i + o,
    "linalg_vector_norm": lambda i, o: 2 * i,  # square, sum, sqrt
    "norm": lambda i, o: 2 * i,
    # max (n - 1), subtract (n), exp (n), sum (n - 1), log, add back the max
    "logsumexp": lambda i, o: 4 * i - o,
}
# Data movement: no FLOPs, their inputs read and outputs written.
_MOVES = set(
    _words(
        """
    clone copy _to_copy cat stack index _unsafe_index index_select gather scatter index_put
    _index_put_impl constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d
    replication_pad1d replication_pad2d replication_pad3d repeat flip roll tril triu zeros
    zeros_like ones ones_like full full_like fill zero new_zeros new_ones new_full arange
    linspace masked_select slice_scatter select_scatter diagonal_scatter im2col col2im
    pixel_shuffle pixel_unshuffle channel_shuffle randn rand randint randperm randn_like
    rand_like normal uniform scalar_tensor tensor lift_fresh_copy upsample_nearest1d
    upsample_nearest2d upsample_nearest3d repeat_interleave
    """
    )
)
# Metadata and allocation only: no row at all (_unsafe_view is a view that does not declare
# its alias).
_FREE = set(
    _words(
        """
    empty empty_like empty_strided new_empty new_empty_strided detach lift_fresh
    _local_scalar_dense resize set is_same_size _assert_async _assert_tensor_metadata sym_size
    sym_stride sym_numel sym_storage_offset is_nonzero equal _has_compatible_shallow_copy_type
    record_stream _unsafe_view
    """
    )
)
_RNN_ATEN = set(
    _words(
        """
    lstm gru rnn_tanh rnn_relu mkldnn_rnn_layer _cudnn_rnn miopen_rnn _thnn_fused_lstm_cell
    _thnn_fused_gru_cell quantized_lstm quantized_gru
    """
    )
)
_SDPA = {
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
    "_flash_attention_forward",
    "_efficient_attention_forward",
}
_NORMS = {
    "native_layer_norm": "aten.layer_norm",
    "native_batch_norm": "aten.batch_norm",
    "_native_batch_norm_legit": "aten.batch_norm",
    "_native_batch_norm_legit_no_training": "aten.batch_norm",
    "_batch_norm_with_update": "aten.batch_norm",
    "_batch_norm_no_update": "aten.batch_norm",
    "native_group_norm": "aten.group_norm",
    "_fused_rms_norm": "aten.rms_norm",
}
# Matrix products: the two operands' argument names.
_MATMULS = {
    "mm": ("self", "mat2"),
    "bmm": ("self", "mat2"),
    "addmm": ("mat1", "mat2"),
    "baddbmm": ("batch1", "batch2"),
    "mv": ("self", "vec"),
    "addmv": ("mat", "vec"),
    "dot": ("self", "tensor"),
    "vdot": ("self", "other"),
}


def _bind(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Arguments by schema name, defaults filled in."""
    bound: dict[str, Any] = {}
    for i, a in enumerate(func._schema.arguments):
        if i < len(args) and not a.kwarg_only:
            bound[a.name] = args[i]
        elif a.name in kwargs:
            bound[a.name] = kwargs[a.name]
        elif a.has_default_value():
            bound[a.name] = a.default_value
        else:
            bound[a.name] = None
    return bound


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _windows(size: int, out: int) -> int:
    """Sum of adaptive-pooling window lengths along one dimension."""
    return sum(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def _pow_flops(a: dict[str, Any], overload: str) -> int:
    e = a.get("exponent")
    if overload != "Tensor_Scalar" or not isinstance(e, (int, float)):
        return _EW["exp"] + _EW["mul"] + _EW["log"]  # x^y = exp(y * log(x))
    if e in (0.5, -0.5, -1, 1):
        return 1  # sqrt, rsqrt, reciprocal, copy
    if float(e).is_integer() and 2 <= e <= 8:
        return int(e) - 1  # repeated multiplication
    return _EW["exp"] + _EW["mul"] + _EW["log"]


@dataclass
class _AtenWork:
    op: str
    fwd_macs: float = 0
    fwd_other: float = 0
    bwd_macs: float = 0  # for the operands that need a gradient; other work: backward ~= forward
    out_tensors: list[torch.Tensor] | None = None  # bytes: outputs to count (default: all)


def _aten_work(
    name: str, overload: str, a: dict[str, Any], outs: list[torch.Tensor], need: Callable[..., bool]
) -> _AtenWork | None:
    """FLOPs of one ATen call under the module's conventions; None when there is no rule."""
    out0 = outs[0] if outs else None
    if name in _MATMULS:
        first, second = _MATMULS[name]
        m1, m2 = a[first], a[second]
        # (m, k) @ (k, n), batched or not; vectors count as 1 x k and k x 1
        macs = math.prod(m1.shape) * (m2.shape[-1] if m2.dim() > 1 else 1)
        bias = out0.numel() if name in ("addmm", "baddbmm", "addmv") else 0
        return _AtenWork(f"aten.{name}", macs, bias, macs * (need(m1) + need(m2)))
    if name in ("convolution", "_convolution"):
        x, w, b = a["input"], a["weight"], a.get("bias")
        per = math.prod(w.shape[1:])
        # weight is (out, in/groups, *k), or (in, out/groups, *k) when transposed
        macs = (x.numel() if a["transposed"] else out0.numel()) * per
        bias = out0.numel() if b is not None else 0
        return _AtenWork(f"aten.{name}", macs, bias, macs * (need(x) + need(w)))
    if name in _SDPA:
        q, k, v = a["query"], a["key"], a["value"]
        if name in ("_flash_attention_forward", "_efficient_attention_forward"):
            b, lq, hq, d = q.shape  # (batch, length, heads, dim) layouts
            lk, dv = k.shape[1], v.shape[-1]
        else:
            b, hq, lq, d = q.shape
            lk, dv = k.shape[-2], v.shape[-1]
        qk, pv = b * hq * lq * lk * d, b * hq * lq * lk * dv
        # q scaled by 1/sqrt(d), an explicit mask added to every score, then softmax over each
        # row of scores (a causal mask is counted as computed, as FlopCounterMode does); the
        # same rule as ops.scaled_dot_product_attention
        masked = a.get("attn_mask") is not None
        other = b * hq * lq * d + b * hq * lq * (5 * lk - 2) + (b * hq * lq * lk if masked else 0)
        bwd = qk * (need(q) + need(k)) + pv * ((need(q) or need(k)) + need(v))
        return _AtenWork("aten.scaled_dot_product_attention", qk + pv, other, bwd, outs[:1])
    if name in ("_softmax", "_log_softmax", "_safe_softmax"):
        # _safe_softmax: SDPA's math path (and the meta device's) softmax, which gives zeros
        # instead of NaN for a fully masked row; that guard is bookkeeping, not counted
        x = a["self"]
        cols = x.shape[a["dim"]] if x.dim() else 1
        per_row = 4 * cols - 1 if name == "_log_softmax" else 5 * cols - 2
        op = "aten.softmax" if name == "_safe_softmax" else f"aten.{name.lstrip('_')}"
        return _AtenWork(op, 0, x.numel() // cols * per_row)
    if name in _NORMS:
        return _norm_work(name, overload, a, outs)
    if name in ("native_dropout",):
        x = a["input"]
        return _AtenWork("aten.dropout", 0, 3 * x.numel() if a["train"] is not False else 0)
    if "pool" in name:
        return _pool_work(name, a, outs)
    if name == "pow":
        return _AtenWork("aten.pow", 0, out0.numel() * _pow_flops(a, overload))
    if name == "gelu":
        per = _EW["gelu_tanh"] if a.get("approximate") == "tanh" else _EW["gelu"]
        return _AtenWork("aten.gelu", 0, out0.numel() * per)
    if name in ("add", "sub") and a.get("alpha", 1) != 1:
        return _AtenWork(f"aten.{name}", 0, 2 * out0.numel())
    if name == "elu" and (a.get("scale", 1) != 1 or a.get("input_scale", 1) != 1):
        return _AtenWork("aten.elu", 0, out0.numel() * _EW["selu"])
    if name in ("max", "min") and overload in ("other", "out"):
        return _AtenWork(f"aten.{name}", 0, out0.numel())
    if name in _ELEMENTWISE_ATEN:
        return _AtenWork(f"aten.{name}", 0, out0.numel() * _ELEMENTWISE_ATEN[name])
    if name in _REDUCTIONS:
        x = a["self"] if "self" in a else a.get("input")
        return _AtenWork(f"aten.{name}", 0, _REDUCTIONS[name](x.numel(), out0.numel()))
    if name in _MOVES:
        return _AtenWork(f"aten.{name}")
    return None


def _norm_work(name: str, overload: str, a: dict[str, Any], outs: list[torch.Tensor]) -> _AtenWork:
    x = a["input"]
    w, b = a.get("weight"), a.get("bias")
    affine = (w is not None) + (b is not None)
    if name == "native_layer_norm":
        size = math.prod(a["normalized_shape"])
        groups, stats = x.numel() // size, True
    elif name == "_fused_rms_norm":
        size = math.prod(a["normalized_shape"])
        rows = x.numel() // size
        # square (n), sum (n - 1), divide, add eps, rsqrt, scale (n): 3n + 2 per row
        work = rows * (3 * size + 2) + affine * x.numel()
        return _AtenWork(_NORMS[name], 0, work, 0, outs[:1])
    elif name == "native_group_norm":
        groups, size, stats = a["N"] * a["group"], x.numel() // (a["N"] * a["group"]), True
    else:
        training = {
            "_batch_norm_with_update": True,
            "_batch_norm_no_update": False,
            "_native_batch_norm_legit_no_training": False,
        }.get(name, a.get("training"))
        if a.get("running_mean", 0) is None:
            training = True
        groups, size, stats = x.shape[1], x.numel() // x.shape[1], bool(training)
    per_group = (5 * size if stats else 2 * size) + ops.INV_STD_FLOPS
    return _AtenWork(_NORMS[name], 0, groups * per_group + affine * x.numel(), 0, outs[:1])


def _pool_work(name: str, a: dict[str, Any], outs: list[torch.Tensor]) -> _AtenWork | None:
    x, out0 = a["self"], outs[0]
    nd = 3 if "3d" in name else 1 if "1d" in name else 2
    is_max = "max" in name
    if "adaptive" in name:
        in_sp, out_sp = x.shape[-nd:], out0.shape[-nd:]
        lead = out0.numel() // max(1, math.prod(out_sp))
        work = lead * math.prod(_windows(i, o) for i, o in zip(in_sp, out_sp, strict=True))
        return _AtenWork(f"aten.{name.lstrip('_')}", 0, work - (out0.numel() if is_max else 0))
    if not any(s in name for s in ("max_pool", "avg_pool")):
        return None
    k = list(a["kernel_size"])
    k = k * nd if len(k) == 1 else k
    window = math.prod(k)
    return _AtenWork(
        f"aten.{name.removesuffix('_with_indices')}", 0, out0.numel() * (window - is_max)
    )


# -- the pass -----------------------------------------------------------------------------------
class _Tracker:
    """State of one counting pass: rows, module path, and which tensors need a gradient."""

    def __init__(self, model: nn.Module) -> None:
        self.rows: list[ModelRow] = []
        self.functional: dict[tuple[str, str], int] = {}  # (path, op) -> index into rows
        self.uncounted: dict[str, int] = {}
        self.needs: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.path: list[str] = [""]
        self.inside_known = 0
        self.names = {id(m): name for name, m in model.named_modules(remove_duplicate=False)}

    def need(self, t: Any) -> bool:
        return isinstance(t, torch.Tensor) and t in self.needs

    def mark(self, tensors: list[torch.Tensor]) -> None:
        for t in tensors:
            if t.is_floating_point() or t.is_complex():
                self.needs[t] = True

    # module hooks
    def pre(self, m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        path = self.names.get(id(m), type(m).__name__)
        self.path.append(path)
        if _is_known(m):
            if not self.inside_known:
                _check_supported(path, m, args, kwargs)
            self.inside_known += 1

    def post(self, m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        path = self.path.pop()
        if not _is_known(m):
            return
        self.inside_known -= 1
        if self.inside_known or out is None:
            return  # inside another known module, which counts the whole call
        ins = _tensors((args, kwargs))
        input_grad = any(self.need(t) for t in ins)
        try:
            count = _module_count(path, m, args, kwargs, out, input_grad)
        except ValueError as exc:  # e.g. an empty batch: say which module
            raise ValueError(f"{path or 'the model'} ({type(m).__name__}): {exc}") from exc
        self.rows.append(ModelRow(path=path, op=count.op, count=count))
        if input_grad or any(True for _ in m.parameters()):
            self.mark(_tensors(out))

    # ATen operators
    def aten(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> None:
        if self.inside_known:
            return
        schema = func._schema
        name = schema.name.split("::", 1)[-1]
        base = name[:-1] if name.endswith("_") and not name.endswith("__") else name
        ins = _tensors((args, kwargs))
        outs = _tensors(out)
        if any(self.need(t) for t in ins):
            self.mark(outs)
        if base in _FREE or any(
            r.alias_info is not None and not r.alias_info.is_write for r in schema.returns
        ):
            return  # views and metadata: no work, no traffic
        if base in _RNN_ATEN:
            raise NotImplementedError(
                f"{self.path[-1] or 'the model'}: aten.{name} was called outside nn.RNN/"
                "nn.LSTM/nn.GRU; accelbench.flops counts recurrent kernels only through those "
                "modules (its cost cannot be counted here)"
            )
        a = _bind(func, args, kwargs)
        if base == "embedding":  # a gather, as nn.Embedding; no gradient if the table is frozen
            w, idx = a["weight"], a["indices"]
            count = ops.embedding(
                num_indices=idx.numel(),
                num_embeddings=w.shape[0],
                embedding_dim=w.shape[-1],
                elem_bytes=w.element_size(),
            )
            if not self.need(w):
                count = OpCount(count.op, 0, count.forward, ZERO, False)
            self._add(
                "aten.embedding", OpCount("aten.embedding", 0, count.forward, count.backward, False)
            )
            return
        work = _aten_work(base, func._overloadname, a, outs, self.need)
        if work is None:
            self.uncounted[f"aten.{name}"] = self.uncounted.get(f"aten.{name}", 0) + 1
            return
        self._add(work.op, self._count(work, ins, outs))

    def _add(self, op: str, count: OpCount) -> None:
        key = (self.path[-1], op)
        if key in self.functional:
            i = self.functional[key]
            row = self.rows[i]
            self.rows[i] = ModelRow(row.path, row.op, _merge(row.count, count), row.calls + 1)
        else:
            self.functional[key] = len(self.rows)
            self.rows.append(ModelRow(path=key[0], op=op, count=count))

    def _count(self, work: _AtenWork, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> OpCount:
        distinct_in = list({id(t): t for t in ins}.values())
        counted_out = outs if work.out_tensors is None else work.out_tensors
        in_bytes = sum(_nbytes(t) for t in distinct_in)
        out_bytes = sum(_nbytes(t) for t in counted_out)
        needing = [t for t in distinct_in if self.need(t)]
        flows = bool(needing)
        bwd_other = work.fwd_other if flows else 0
        bwd_bytes = (
            (_nbytes(counted_out[0]) if counted_out else 0)
            + in_bytes
            + sum(_nbytes(t) for t in needing)
            if flows
            else 0
        )
        return OpCount(
            op=work.op,
            params=0,
            forward=Cost(
                2.0 * work.fwd_macs + work.fwd_other, float(work.fwd_macs), in_bytes + out_bytes
            ),
            backward=Cost(2.0 * work.bwd_macs + bwd_other, float(work.bwd_macs), float(bwd_bytes)),
            input_grad=flows,
        )


class _CountingMode(TorchDispatchMode):
    def __init__(self, tracker: _Tracker) -> None:
        super().__init__()
        self.tracker = tracker

    def __torch_dispatch__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.tracker.aten(func, args, kwargs, out)
        return out


def _set_mha_fastpath(enabled: bool | None) -> bool | None:
    """Set the MHA fast-path flag (torch >= 2.2); returns the previous value."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or enabled is None:
        return None
    previous = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(enabled)
    return previous


def count_model(
    model: nn.Module,
    *inputs: Any,
    mode: str = "forward",
    input_grad: bool = False,
    **kwargs: Any,
) -> ModelCount:
    """Count one forward pass of ``model(*inputs, **kwargs)``: rows per module call, totals.

    ``mode`` is the default of ``ModelCount.total()``; ``input_grad=True`` treats the model
    inputs as needing gradients (so even the first layer computes its input gradient).
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if not isinstance(input_grad, bool):
        raise ValueError(f"input_grad: expected true or false, got {input_grad!r}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    tracker = _Tracker(model)
    params = list({id(p): p for p in model.parameters()}.values())
    tracker.mark(params)
    if input_grad:
        tracker.mark(_tensors((inputs, kwargs)))
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(tracker.pre, with_kwargs=True))
            handles.append(
                m.register_forward_hook(tracker.post, with_kwargs=True, always_call=True)
            )
        # The fused fast path of nn.TransformerEncoderLayer/MultiheadAttention is one opaque
        # kernel for a whole layer; the regular path runs the modules this counts.
        fastpath = _set_mha_fastpath(False)
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad(), _CountingMode(tracker):
                model(*inputs, **kwargs)
        finally:
            _set_mha_fastpath(fastpath)
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
    if tracker.uncounted:
        names = ", ".join(f"{k} x{v}" for k, v in sorted(tracker.uncounted.items()))
        warnings.warn(
            f"count_model: no FLOP rule for {names}; their work is not in the totals "
            "(see ModelCount.uncounted)",
            stacklevel=2,
        )
    return ModelCount(
        rows=tuple(tracker.rows),
        params=sum(p.numel() for p in params),
        mode=mode,
        input_grad=input_grad,
        uncounted=dict(tracker.uncounted),
    )
