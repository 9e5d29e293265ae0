"""accelbench.flops: every op against arithmetic written out here, agreement with torch's
FlopCounterMode where it counts at all, RNN cells against their gate formulas, whole-model
counting, and the `accelbench flops` command."""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from accelbench import flops as fl
from accelbench.cli import main
from accelbench.flops import ELEMENTWISE_FLOPS as EW
from accelbench.flops import Cost, OpCount, count_model


def fcm(fn, *, backward: bool = False) -> tuple[int, int]:
    """FlopCounterMode's forward and forward+backward totals of fn() (whose output is summed
    for the backward)."""
    with FlopCounterMode(display=False) as fc:
        out = fn()
        fwd = fc.get_total_flops()
        if backward:
            (out[0] if isinstance(out, tuple) else out).sum().backward()
    return fwd, fc.get_total_flops()


def close(a: float, b: float, rel: float = 0.01) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


# -- the data types -----------------------------------------------------------------------------
def test_total_sums_forward_and_backward_and_rejects_other_modes() -> None:
    c = OpCount("x", 3, Cost(10, 4, 100), Cost(20, 8, 200), True)
    assert c.total("forward") == Cost(10, 4, 100)
    assert c.total("forward+backward") == Cost(30, 12, 300)
    with pytest.raises(ValueError, match="mode: expected one of forward, forward\\+backward"):
        c.total("backward")
    assert Cost(10, 4, 5).arithmetic_intensity == 2
    assert fl.ZERO.arithmetic_intensity is None


# -- each op by hand ----------------------------------------------------------------------------
def test_linear_by_hand() -> None:
    c = fl.linear(rows=3, in_features=5, out_features=7)
    assert c.params == 5 * 7 + 7  # 42
    assert c.forward.macs == 3 * 5 * 7  # 105
    assert c.forward.flops == 2 * 105 + 3 * 7  # 231: MACs and the bias adds
    assert c.forward.min_bytes == 4 * (3 * 5 + 42 + 3 * 7)  # x, W and b, y: 312
    # backward: dW (105 MACs) + dX (105 MACs) + bias gradient (21 adds)
    assert c.backward == Cost(2 * 210 + 21, 210, 4 * (21 + 15 + 2 * 42 + 15))
    first = fl.linear(rows=3, in_features=5, out_features=7, input_grad=False)
    assert first.backward == Cost(2 * 105 + 21, 105, 4 * (21 + 15 + 2 * 42))  # no dX
    nb = fl.linear(rows=3, in_features=5, out_features=7, bias=False, elem_bytes=2)
    assert (nb.params, nb.forward.flops, nb.forward.min_bytes) == (35, 210, 2 * (15 + 35 + 21))


def test_matmul_by_hand() -> None:
    c = fl.matmul(m=2, n=3, k=4, batch=5)
    assert c.params == 0
    assert c.forward == Cost(2 * 120, 5 * 2 * 3 * 4, 4 * 5 * (2 * 4 + 4 * 3 + 2 * 3))
    # dA = dC B^T and dB = A^T dC: 2 x 120 MACs; read dC, A, B, write dA, dB
    assert c.backward == Cost(480, 240, 4 * 5 * (6 + 8 + 12 + 8 + 12))
    assert fl.matmul(m=2, n=3, k=4, input_grad=False).backward == fl.ZERO


def test_conv2d_by_hand() -> None:
    # 9x9 input, 3x3 kernel, stride 2, padding 1: Hout = (9 + 2 - 2 - 1) // 2 + 1 = 5
    c = fl.conv2d(
        batch=2, in_channels=4, out_channels=6, height=9, width=9, kernel_size=3, stride=2,
        padding=1, groups=2,
    )  # fmt: skip
    assert c.detail == {"out_height": 5, "out_width": 5}
    assert c.forward.macs == 2 * 6 * 5 * 5 * (4 // 2) * 3 * 3  # 5400
    assert c.forward.flops == 2 * 5400 + 2 * 6 * 5 * 5  # + 300 bias adds
    assert c.params == 6 * 2 * 3 * 3 + 6  # 114
    assert c.forward.min_bytes == 4 * (2 * 4 * 81 + 114 + 2 * 6 * 25)
    assert c.backward.macs == 2 * 5400
    # dilation 2, no padding: the kernel spans 5, so Hout = 9 - 5 + 1 = 5; rectangular kernel
    d = fl.conv2d(
        batch=1, in_channels=3, out_channels=2, height=9, width=8, kernel_size=(3, 1),
        dilation=2, bias=False,
    )  # fmt: skip
    assert d.detail == {"out_height": 5, "out_width": 8}
    assert d.forward.flops == 2 * (1 * 2 * 5 * 8 * 3 * 3 * 1)
    same = fl.conv2d(
        batch=1, in_channels=1, out_channels=1, height=7, width=7, kernel_size=4, padding="same"
    )
    assert same.detail == {"out_height": 7, "out_width": 7}


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"groups": 3}, "groups: in_channels \\(4\\) and out_channels \\(6\\)"),
        ({"kernel_size": 11}, "kernel_size: the output would be empty"),
        ({"stride": 0}, "stride: expected a positive integer, got 0"),
        ({"padding": -1}, "padding: expected an integer >= 0, got -1"),
        ({"padding": "full"}, "padding: expected one of same, valid"),
        ({"padding": "same", "stride": 2}, "padding: 'same' needs stride 1"),
        ({"kernel_size": (3, 3, 3)}, "kernel_size: expected an integer or an \\(h, w\\) pair"),
        ({"batch": True}, "batch: expected a positive integer, got True"),
        ({"batch": 2.0}, "batch: expected a positive integer, got 2.0"),
        ({"bias": "yes"}, "bias: expected true or false"),
        ({"elem_bytes": 0}, "elem_bytes: expected a positive number"),
    ],
)
def test_conv2d_rejects_bad_arguments(kw: dict, match: str) -> None:
    args = dict(batch=1, in_channels=4, out_channels=6, height=9, width=9, kernel_size=3)
    with pytest.raises(ValueError, match=match):
        fl.conv2d(**{**args, **kw})


def test_pooling_by_hand() -> None:
    # 6x6, 2x2 windows, stride 2: 3x3 outputs per channel, 1*2*9 = 18 outputs
    mx = fl.pool2d(kind="max", batch=1, channels=2, height=6, width=6, kernel_size=2)
    assert mx.forward.flops == 18 * (4 - 1)  # 3 compares per window
    assert mx.forward.min_bytes == 4 * (72 + 18)
    assert mx.backward.flops == mx.forward.flops  # backward ~= forward
    avg = fl.pool2d(kind="avg", batch=1, channels=2, height=6, width=6, kernel_size=2)
    assert avg.forward.flops == 18 * 4  # 3 adds + 1 divide
    assert (
        fl.pool2d(
            kind="avg", batch=1, channels=2, height=6, width=6, kernel_size=2, input_grad=False
        ).backward
        == fl.ZERO
    )
    with pytest.raises(ValueError, match="kind: expected one of max, avg"):
        fl.pool2d(kind="min", batch=1, channels=1, height=4, width=4, kernel_size=2)
    # adaptive 5 -> 3: windows [0,2), [1,4), [3,5): lengths 2 + 3 + 2 = 7 per dimension
    ad = fl.adaptive_avg_pool2d(batch=1, channels=2, height=5, width=5, output_size=3)
    assert ad.forward.flops == 2 * 7 * 7
    assert ad.forward.min_bytes == 4 * (50 + 18)


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "d", "ceil"),
    [(6, 2, None, 0, 1, False), (5, 2, 2, 0, 1, True), (7, 3, 2, 1, 1, True),
     (9, 3, 2, 1, 2, False), (8, 3, 3, 1, 1, True), (10, 4, 3, 2, 1, True)],
)  # fmt: skip
def test_pool_output_size_matches_torch(size, k, s, p, d, ceil) -> None:
    x = torch.zeros(1, 1, size, size)
    got = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil).shape[-1]
    c = fl.pool2d(
        kind="max", batch=1, channels=1, height=size, width=size, kernel_size=k, stride=s,
        padding=p, dilation=d, ceil_mode=ceil,
    )  # fmt: skip
    assert c.detail["out_height"] == got
    assert c.forward.flops == got * got * (k * k - 1)


def test_normalisation_by_hand() -> None:
    # training: per channel M = 4*5 = 20 values: 5*20 + 3 = 103, plus affine 2 per element
    bn = fl.batch_norm(batch=4, channels=3, spatial=5)
    assert bn.forward.flops == 3 * (5 * 20 + 3) + 2 * 60  # 429
    assert bn.params == 6
    assert bn.forward.min_bytes == 4 * (60 + 6 + 60)
    # inference: subtract and multiply per element, 3 per channel, running stats read
    inf = fl.batch_norm(batch=4, channels=3, spatial=5, training=False)
    assert inf.forward.flops == 3 * (2 * 20 + 3) + 2 * 60  # 249
    assert inf.forward.min_bytes == 4 * (60 + 6 + 6 + 60)
    plain = fl.batch_norm(batch=4, channels=3, spatial=5, affine=False, input_grad=False)
    assert plain.params == 0 and plain.backward == fl.ZERO  # nothing needs a gradient
    ln = fl.layer_norm(rows=4, normalized_size=10)
    assert ln.forward.flops == 4 * (5 * 10 + 3) + 2 * 40  # 292
    assert ln.params == 20 == sum(p.numel() for p in nn.LayerNorm(10).parameters())
    nb = fl.layer_norm(rows=4, normalized_size=10, bias=False)
    assert (nb.forward.flops, nb.params) == (4 * 53 + 40, 10)
    assert nb.params == sum(p.numel() for p in nn.LayerNorm(10, bias=False).parameters())
    assert fl.batch_norm(batch=2, channels=3).params == sum(
        p.numel() for p in nn.BatchNorm1d(3).parameters()
    )


def test_elementwise_by_hand() -> None:
    g = fl.activation(name="gelu", numel=10)
    assert g.forward == Cost(10 * 5, 0, 4 * 20)  # multiply, erf, add, multiply, multiply
    assert g.backward == Cost(50, 0, 4 * 30)  # read dY and x, write dX
    assert fl.activation(name="sigmoid", numel=10, input_grad=False).backward == fl.ZERO
    for name in ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh",
                 "hardswish"):  # fmt: skip
        assert fl.activation(name=name, numel=3).forward.flops == 3 * EW[name]
    assert EW["silu"] == EW["sigmoid"] + 1 and EW["mish"] == EW["softplus"] + EW["tanh"] + 1
    with pytest.raises(ValueError, match="name: expected one of relu"):
        fl.activation(name="swish2", numel=3)
    # softmax per row of 4: max 3, subtract 4, exp 4, sum 3, divide 4 = 18
    assert fl.softmax(rows=3, cols=4).forward.flops == 3 * 18
    # log_softmax: max 3, subtract 4, exp 4, sum 3, log 1, subtract 4 = 19? no: 4*4 - 1 = 15
    # (the log-sum-exp is subtracted once per element: max 3 + sub 4 + exp 4 + sum 3 + log 1)
    assert fl.softmax(rows=3, cols=4, log=True).forward.flops == 3 * (3 + 4 + 4 + 3 + 1)
    assert fl.log_softmax(rows=3, cols=4) == fl.softmax(rows=3, cols=4, log=True)
    d = fl.dropout(numel=10, p=0.1)
    assert d.forward == Cost(30, 0, 4 * 20 + 10)  # compare, scale, multiply; 1-byte mask
    assert fl.dropout(numel=10, training=False).total("forward+backward") == fl.ZERO
    with pytest.raises(ValueError, match="p: expected a probability"):
        fl.dropout(numel=10, p=1.5)


def test_embedding_by_hand() -> None:
    c = fl.embedding(num_indices=6, num_embeddings=10, embedding_dim=4)
    assert c.params == 40
    assert c.forward == Cost(0, 0, 8 * 6 + 4 * 2 * 6 * 4)  # int64 indices, gathered rows, out
    # scatter-add of 6*4 values; read dY and indices, write the dense 10x4 gradient
    assert c.backward == Cost(24, 0, 4 * 24 + 8 * 6 + 4 * 40)
    assert c.input_grad is False
    assert fl.embedding(num_indices=6, num_embeddings=10, embedding_dim=4, input_grad=False) == c


def test_attention_by_hand() -> None:
    b, lq, lk, e, h = 2, 3, 5, 8, 2
    c = fl.multi_head_attention(batch=b, q_len=lq, kv_len=lk, embed_dim=e, num_heads=h)
    proj = b * lq * e * e + 2 * b * lk * e * e + b * lq * e * e  # Q, K, V, output projections
    attn = 2 * b * lq * lk * e  # scores (h * lq * lk * e/h) and attention x V
    assert c.forward.macs == proj + attn
    softmax = b * h * lq * (5 * lk - 2)
    other = 2 * b * lq * e + 2 * b * lk * e + b * lq * e + softmax  # biases, q scaling, softmax
    assert c.forward.flops == 2 * (proj + attn) + other
    assert c.detail["softmax_flops"] == softmax
    # backward: all MACs twice, less the Q/K/V input gradients without input_grad
    first = fl.multi_head_attention(
        batch=b, q_len=lq, kv_len=lk, embed_dim=e, num_heads=h, input_grad=False
    )
    qkv = b * lq * e * e + 2 * b * lk * e * e
    assert c.backward.macs - first.backward.macs == qkv
    with pytest.raises(ValueError, match="num_heads: embed_dim \\(8\\) must be divisible"):
        fl.multi_head_attention(batch=1, q_len=1, kv_len=1, embed_dim=8, num_heads=3)


@pytest.mark.parametrize(("kdim", "vdim", "bias"), [(None, None, True), (6, 10, False)])
def test_attention_params_match_torch(kdim, vdim, bias) -> None:
    m = nn.MultiheadAttention(16, 4, kdim=kdim, vdim=vdim, bias=bias)
    c = fl.multi_head_attention(
        batch=1, q_len=1, kv_len=1, embed_dim=16, num_heads=4, kdim=kdim, vdim=vdim, bias=bias
    )
    assert c.params == sum(p.numel() for p in m.parameters())


def test_registry_has_every_cli_name() -> None:
    names = {"linear", "matmul", "conv2d", "pool2d", "adaptive_avg_pool2d", "batch_norm",
             "layer_norm", "activation", "softmax", "dropout", "embedding", "rnn", "lstm", "gru",
             "multi_head_attention"}  # fmt: skip
    assert names <= set(fl.OPS)
    assert fl.OPS["lstm"](seq_len=2, batch=1, input_size=3, hidden_size=4) == fl.rnn(
        mode="lstm", seq_len=2, batch=1, input_size=3, hidden_size=4
    )


# -- RNN cells against their gate formulas ------------------------------------------------------
def gate_step(mode: str, i: int, h: int, bias: bool) -> tuple[int, int]:
    """(MACs, other FLOPs) of one time step of one batch element, gate by gate as PyTorch's
    documentation writes the cells."""
    acts = {
        "rnn_tanh": ["tanh"],
        "rnn_relu": ["relu"],
        "lstm": ["sigmoid", "sigmoid", "tanh", "sigmoid"],  # i, f, g, o
        "gru": ["sigmoid", "sigmoid", "tanh"],  # r, z, n
    }[mode]
    macs = other = 0
    for act in acts:
        macs += h * i + h * h  # W_i* x and W_h* h
        other += h  # (W_i* x) + (W_h* h); for GRU's n: + r * (W_hn h + b_hn)
        other += 2 * h if bias else 0  # b_i* and b_h*
        other += h * EW[act]
    if mode == "lstm":
        other += 3 * h  # c' = f * c + i * g
        other += h * EW["tanh"] + h  # h' = o * tanh(c')
    if mode == "gru":
        other += h  # r * (W_hn h + b_hn)
        other += 4 * h  # h' = (1 - z) * n + z * h
    return macs, other


@pytest.mark.parametrize(
    ("mode", "layers", "bidirectional", "bias"),
    [(m, n, d, b) for m in fl.RNN_MODES for n, d, b in [(1, False, True), (3, True, False)]],
)
def test_rnn_matches_the_gate_formulas(mode, layers, bidirectional, bias) -> None:
    t, b, i, h = 5, 3, 6, 4
    dirs = 2 if bidirectional else 1
    c = fl.rnn(
        mode=mode, seq_len=t, batch=b, input_size=i, hidden_size=h, num_layers=layers,
        bidirectional=bidirectional, bias=bias,
    )  # fmt: skip
    macs = other = 0
    for layer in range(layers):
        m, o = gate_step(mode, i if layer == 0 else h * dirs, h, bias)
        macs += t * b * dirs * m
        other += t * b * dirs * o
        assert c.detail[f"layer{layer}_step_flops"] == b * (2 * m + o)
    assert c.forward.macs == macs
    assert c.forward.flops == 2 * macs + other
    assert (
        c.detail["gate_matmul_flops"] + c.detail["gate_add_flops"] + c.detail["elementwise_flops"]
        == c.forward.flops
    )
    # backward: weight grads + hidden/input grads; without input_grad, less layer 0's dX
    g = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[mode]
    first = fl.rnn(
        mode=mode, seq_len=t, batch=b, input_size=i, hidden_size=h, num_layers=layers,
        bidirectional=bidirectional, bias=bias, input_grad=False,
    )  # fmt: skip
    assert c.backward.macs == 2 * macs
    assert first.backward.macs == 2 * macs - t * b * dirs * g * h * i


@pytest.mark.parametrize("mode", list(fl.RNN_MODES))
@pytest.mark.parametrize(
    ("layers", "bidirectional", "bias"),
    list(itertools.product([1, 2], [False, True], [True, False])),
)
def test_rnn_params_equal_torch(mode, layers, bidirectional, bias) -> None:
    cls = {"lstm": nn.LSTM, "gru": nn.GRU}.get(mode, nn.RNN)
    kw = {"nonlinearity": mode[4:]} if cls is nn.RNN else {}
    m = cls(5, 7, num_layers=layers, bidirectional=bidirectional, bias=bias, **kw)
    c = fl.rnn(
        mode=mode, seq_len=1, batch=1, input_size=5, hidden_size=7, num_layers=layers,
        bidirectional=bidirectional, bias=bias,
    )  # fmt: skip
    assert c.params == sum(p.numel() for p in m.parameters())


class ManualRNN(nn.Module):
    """PyTorch's cell equations written with plain ops on an nn.RNN/LSTM/GRU's own weights."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn  # holds the weights; never called

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, mode = self.rnn, self.rnn.mode
        hs = r.hidden_size
        dirs = 2 if r.bidirectional else 1
        for layer in range(r.num_layers):
            outs = []
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih, w_hh = getattr(r, "weight_ih" + sfx), getattr(r, "weight_hh" + sfx)
                b_ih = getattr(r, "bias_ih" + sfx) if r.bias else None
                b_hh = getattr(r, "bias_hh" + sfx) if r.bias else None
                h = x.new_zeros(x.shape[1], hs)
                c = x.new_zeros(x.shape[1], hs)
                steps = range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0])
                seq = [None] * x.shape[0]
                for t in steps:
                    gi, gh = F.linear(x[t], w_ih, b_ih), F.linear(h, w_hh, b_hh)
                    if mode == "LSTM":
                        i, f, g, o = (gi + gh).chunk(4, 1)
                        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                        h = torch.sigmoid(o) * torch.tanh(c)
                    elif mode == "GRU":
                        ir, iz, i_n = gi.chunk(3, 1)
                        hr, hz, hn = gh.chunk(3, 1)
                        rr, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                        n = torch.tanh(i_n + rr * hn)
                        h = (1 - z) * n + z * h
                    else:
                        pre = gi + gh
                        h = torch.tanh(pre) if mode == "RNN_TANH" else torch.relu(pre)
                    seq[t] = h
                outs.append(torch.stack(seq))
            x = torch.cat(outs, -1)
        return x


@pytest.mark.parametrize("mode", list(fl.RNN_MODES))
@pytest.mark.parametrize(("layers", "bidirectional", "bias"), [(1, False, True), (2, True, False)])
def test_rnn_count_equals_counting_the_written_out_cells(mode, layers, bidirectional, bias):
    """The manual cells reproduce PyTorch's output, and counting their plain ops (through
    count_model's ATen path) gives the analytic forward count exactly."""
    cls = {"lstm": nn.LSTM, "gru": nn.GRU}.get(mode, nn.RNN)
    kw = {"nonlinearity": mode[4:]} if cls is nn.RNN else {}
    torch.manual_seed(0)
    r = cls(3, 4, num_layers=layers, bidirectional=bidirectional, bias=bias, **kw)
    x = torch.randn(5, 2, 3)
    manual = ManualRNN(r)
    with torch.no_grad():
        torch.testing.assert_close(manual(x), r(x)[0], rtol=1e-4, atol=1e-5)
    counted = count_model(manual, x)
    analytic = fl.rnn(
        mode=mode, seq_len=5, batch=2, input_size=3, hidden_size=4, num_layers=layers,
        bidirectional=bidirectional, bias=bias,
    )  # fmt: skip
    assert counted.forward.macs == analytic.forward.macs
    assert counted.forward.flops == analytic.forward.flops
    assert not counted.uncounted


def test_flop_counter_mode_misses_lstm_but_count_model_does_not() -> None:
    lstm = nn.LSTM(4, 8, num_layers=2)
    x = torch.randn(3, 2, 4)
    with torch.no_grad():
        fwd, _ = fcm(lambda: lstm(x))
    assert fwd == 0  # the fused kernel is invisible to FlopCounterMode
    c = count_model(lstm, x)
    analytic = fl.rnn(mode="lstm", seq_len=3, batch=2, input_size=4, hidden_size=8, num_layers=2)
    assert [r.op for r in c.rows] == ["lstm"]
    assert c.total() == analytic.forward
    # layer 0: 4 gates * 8 * (4 + 8) MACs, layer 1: 4 * 8 * (8 + 8), per step and batch element
    assert c.total().macs == 3 * 2 * (4 * 8 * 12 + 4 * 8 * 16) > 0


# -- agreement with FlopCounterMode where it counts ------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("input_grad", [True, False])
def test_linear_agrees_with_flop_counter(bias: bool, input_grad: bool) -> None:
    lin = nn.Linear(128, 32, bias=bias)
    x = torch.randn(2, 4, 128, requires_grad=input_grad)
    fwd, both = fcm(lambda: lin(x), backward=True)
    c = fl.linear(rows=8, in_features=128, out_features=32, bias=bias, input_grad=input_grad)
    assert 2 * c.forward.macs == fwd and 2 * c.total("forward+backward").macs == both
    assert close(c.forward.flops, fwd) and close(c.total("forward+backward").flops, both)


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "padding", "dilation", "groups", "bias"),
    [
        (16, 8, 3, 1, 1, 1, 1, True),
        (16, 8, 3, 2, 0, 1, 2, True),
        (16, 16, (3, 5), (2, 1), (1, 2), 2, 4, True),
        (8, 8, 3, 1, "same", 1, 8, False),  # depthwise
        (16, 32, 1, 1, 0, 1, 1, False),
    ],
)
@pytest.mark.parametrize("input_grad", [True, False])
def test_conv2d_agrees_with_flop_counter(cin, cout, k, stride, padding, dilation, groups, bias,
                                         input_grad) -> None:  # fmt: skip
    conv = nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias)
    x = torch.randn(2, cin, 11, 10, requires_grad=input_grad)
    fwd, both = fcm(lambda: conv(x), backward=True)
    c = fl.conv2d(
        batch=2, in_channels=cin, out_channels=cout, height=11, width=10, kernel_size=k,
        stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
        input_grad=input_grad,
    )  # fmt: skip
    assert (c.detail["out_height"], c.detail["out_width"]) == tuple(conv(x).shape[-2:])
    assert 2 * c.forward.macs == fwd
    assert close(c.forward.flops, fwd)
    if groups == 1:
        assert 2 * c.total("forward+backward").macs == both
        assert close(c.total("forward+backward").flops, both)
    else:
        # FlopCounterMode's weight-gradient formula ignores groups, so it counts that gradient
        # `groups` times over; the true weight gradient costs the forward MACs (as counted here).
        wgrad = c.forward.macs
        assert both - fwd == 2 * (input_grad * c.forward.macs + groups * wgrad)
        assert c.backward.macs == input_grad * c.forward.macs + wgrad


@pytest.mark.parametrize("batch", [1, 3])
def test_matmul_agrees_with_flop_counter(batch: int) -> None:
    a = torch.randn(batch, 5, 7, requires_grad=True)
    b = torch.randn(batch, 7, 6, requires_grad=True)
    fwd, both = fcm(lambda: torch.matmul(a, b) if batch > 1 else a[0] @ b[0], backward=True)
    c = fl.matmul(m=5, n=6, k=7, batch=batch)
    assert c.forward.flops == fwd and c.total("forward+backward").flops == both


@pytest.mark.parametrize("input_grad", [True, False])
def test_attention_agrees_with_flop_counter(input_grad: bool) -> None:
    e, heads = 256, 2
    mha = nn.MultiheadAttention(e, heads, batch_first=True)
    q = torch.randn(2, 8, e, requires_grad=input_grad)
    kv = torch.randn(2, 6, e, requires_grad=input_grad)
    # The math backend runs as bmm + softmax, which FlopCounterMode sees (it counts the fused
    # CPU flash kernel as zero).
    with sdpa_kernel(SDPBackend.MATH):
        fwd, both = fcm(lambda: mha(q, kv, kv, need_weights=False)[0], backward=True)
    c = fl.multi_head_attention(
        batch=2, q_len=8, kv_len=6, embed_dim=e, num_heads=heads, input_grad=input_grad
    )
    assert 2 * c.forward.macs == fwd and 2 * c.total("forward+backward").macs == both
    assert close(c.forward.flops, fwd) and close(c.total("forward+backward").flops, both)


class SDPA(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


def test_functional_sdpa_is_counted_where_flop_counter_sees_nothing() -> None:
    q, k, v = torch.randn(2, 3, 8, 16), torch.randn(2, 3, 6, 16), torch.randn(2, 3, 6, 16)
    with torch.no_grad():
        fused, _ = fcm(lambda: SDPA()(q, k, v))
        with sdpa_kernel(SDPBackend.MATH):
            math_path, _ = fcm(lambda: SDPA()(q, k, v))
    c = count_model(SDPA(), q, k, v)
    assert fused == 0  # the CPU flash kernel is not in FlopCounterMode's table
    assert 2 * c.total().macs == math_path == 2 * (2 * 3 * 8 * 6 * 16 * 2)
    # plus q scaling (one multiply per element of q) and the softmax rows (5*6 - 2 each)
    assert c.total().flops == math_path + 2 * 3 * 8 * 16 + 2 * 3 * 8 * (5 * 6 - 2)


# -- whole models -------------------------------------------------------------------------------
class Mixed(nn.Module):
    """Known modules and functional ops: a residual add, torch.matmul, F.relu."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 8)
        self.w = nn.Parameter(torch.randn(8, 8))
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.fc2(self.act(self.fc1(x)))  # residual
        return self.bn(F.relu(torch.matmul(y, self.w)))


def test_count_model_sums_modules_and_functional_ops_once() -> None:
    model = Mixed()
    x = torch.randn(4, 8)
    c = count_model(model, x, mode="forward+backward")
    got = {(r.path, r.op): r for r in c.rows}
    # Known modules once each; their insides (addmm, relu) are not counted again.
    assert list(got) == [
        ("fc1", "linear"),
        ("act", "relu"),
        ("fc2", "linear"),
        ("", "aten.add"),
        ("", "aten.mm"),
        ("", "aten.relu"),
        ("bn", "batch_norm"),
    ]
    expected = [
        fl.linear(rows=4, in_features=8, out_features=16, input_grad=False),  # consumes x
        fl.activation(name="relu", numel=4 * 16),
        fl.linear(rows=4, in_features=16, out_features=8),
        None,
        fl.matmul(m=4, n=8, k=8),  # y and w both need gradients
        fl.activation(name="relu", numel=32),
        fl.batch_norm(batch=4, channels=8),
    ]
    for row, exp in zip(c.rows, expected, strict=True):
        if exp is not None:
            assert row.count.forward.flops == exp.forward.flops, row
            assert row.count.forward.macs == exp.forward.macs, row
            assert row.count.backward.flops == exp.backward.flops, row
    add = got[("", "aten.add")].count
    assert add.forward == Cost(32, 0, 4 * 3 * 32)  # 32 adds; read two 4x8, write one
    total = sum(r.count.forward.flops for r in c.rows)
    assert c.total("forward").flops == total
    assert c.total().flops == total + sum(r.count.backward.flops for r in c.rows)
    assert c.forward.flops == (sum(e.forward.flops for e in expected if e is not None) + 32)
    assert c.params == sum(p.numel() for p in model.parameters())
    by_op = c.by_op("forward")
    assert by_op["linear"].flops == expected[0].forward.flops + expected[2].forward.flops
    assert by_op["aten.relu"].flops == 32
    # With input gradients, the first layer computes its input gradient too.
    c2 = count_model(model, x, input_grad=True)
    assert c2.rows[0].count.input_grad and not c.rows[0].count.input_grad
    assert c2.rows[0].count.backward.macs == 2 * c.rows[0].count.backward.macs


def test_count_model_agrees_with_flop_counter_on_macs_and_restores_state() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, groups=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(8, 5),
        nn.Softmax(dim=-1),
    ).train()
    x = torch.randn(2, 3, 10, 10)
    with torch.no_grad():
        fwd, _ = fcm(lambda: model(x))
    bn = model[1]
    before = (bn.running_mean.clone(), int(bn.num_batches_tracked))
    rng = torch.random.get_rng_state()
    c = count_model(model, x)
    assert 2 * c.total().macs == fwd
    assert [r.op for r in c.rows] == [
        "conv2d", "batch_norm", "relu", "max_pool2d", "conv2d", "adaptive_avg_pool2d",
        "dropout", "linear", "softmax",
    ]  # fmt: skip
    assert torch.equal(bn.running_mean, before[0]) and int(bn.num_batches_tracked) == before[1]
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_count_model_backward_follows_what_needs_a_gradient() -> None:
    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lin = nn.Linear(4, 4)

        def forward(self, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            pre = torch.tanh(x)  # model input only: no gradient flows here
            return self.lin(pre) + self.emb(idx)

    c = count_model(Head(), torch.tensor([[1, 2, 3]]), torch.randn(1, 3, 4))
    rows = {r.op: r.count for r in c.rows}
    assert rows["aten.tanh"].backward == fl.ZERO
    assert not rows["linear"].input_grad
    assert rows["embedding"].backward.flops == 3 * 4  # scatter-add
    assert rows["aten.add"].backward.flops == 12


def test_count_model_sees_through_a_transformer_layer() -> None:
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True).eval()
    x = torch.randn(2, 5, 16)
    c = count_model(layer, x)
    ops = [r.op for r in c.rows]
    assert ops.count("linear") == 2 and ops.count("layer_norm") == 2
    assert "multi_head_attention" in ops and "aten.relu" in ops and not c.uncounted
    mha = fl.multi_head_attention(batch=2, q_len=5, kv_len=5, embed_dim=16, num_heads=2)
    assert c.rows[0].count.forward == mha.forward
    assert c.params == sum(p.numel() for p in layer.parameters())


def test_count_model_refuses_what_it_cannot_count() -> None:
    with pytest.raises(NotImplementedError, match=r"^1 \(LSTM\): proj_size=2 is not supported"):
        count_model(nn.Sequential(nn.Identity(), nn.LSTM(4, 8, proj_size=2)), torch.randn(3, 4))
    seq = nn.ModuleDict({"rnn": nn.GRU(4, 8)})
    with pytest.raises(NotImplementedError, match="a PackedSequence input"):
        count_model(
            seq["rnn"],
            nn.utils.rnn.pack_padded_sequence(torch.randn(3, 2, 4), torch.tensor([3, 2])),
        )
    with pytest.raises(NotImplementedError, match="add_bias_kv=True"):
        x = torch.randn(3, 1, 8)
        count_model(nn.MultiheadAttention(8, 2, add_bias_kv=True), x, x, x)

    class RawLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.new_zeros(1, x.shape[1], 8)
            w = self.lstm._flat_weights
            return torch.lstm(x, (h, h), w, True, 1, 0.0, False, False, False)[0]

    with pytest.raises(NotImplementedError, match=re.escape("outside nn.RNN/nn.LSTM/nn.GRU")):
        count_model(RawLSTM(), torch.randn(3, 2, 4))


def test_count_model_names_operators_without_a_rule() -> None:
    class FFT(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(x).abs()

    with pytest.warns(UserWarning, match="no FLOP rule for aten._fft_r2c"):
        c = count_model(FFT(), torch.randn(4, 8))
    assert c.uncounted == {"aten._fft_r2c": 1}
    assert [r.op for r in c.rows] == ["aten.abs"]  # what has a rule is still counted


def test_count_model_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="mode: expected one of"):
        count_model(nn.ReLU(), torch.randn(2), mode="backward")
    with pytest.raises(ValueError, match=re.escape("model: expected a torch.nn.Module")):
        count_model(lambda x: x, torch.randn(2))  # type: ignore[arg-type]


# -- the command --------------------------------------------------------------------------------
def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_cli_table(capsys) -> None:
    code, out, err = cli(
        capsys, "flops", "linear", "rows=3", "in_features=5", "out_features=7",
        "--mode", "forward+backward",
    )  # fmt: skip
    assert code == 0, err
    flat = " ".join(out.split())
    assert "231" in flat and "441" in flat and "672" in flat  # forward, backward, total FLOPs
    assert "params: 42" in flat
    assert "1 MAC = 2 FLOPs" in flat


def test_cli_json(capsys) -> None:
    code, out, _ = cli(
        capsys, "flops", "conv2d", "batch=2", "in_channels=4", "out_channels=6", "height=9",
        "width=9", "kernel_size=3,3", "stride=2", "padding=1", "groups=2", "bias=true",
        "--dtype", "bfloat16", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    c = fl.conv2d(
        batch=2, in_channels=4, out_channels=6, height=9, width=9, kernel_size=3, stride=2,
        padding=1, groups=2, elem_bytes=2,
    )  # fmt: skip
    assert data["forward"]["flops"] == c.forward.flops
    assert data["forward"]["min_bytes"] == c.forward.min_bytes
    assert data["total"] == data["forward"]  # default mode: forward
    assert data["args"]["kernel_size"] == [3, 3] and data["args"]["elem_bytes"] == 2
    assert data["params"] == 114 and data["detail"]["out_height"] == 5
    assert math.isclose(data["forward"]["arithmetic_intensity"], c.forward.flops / (
        c.forward.min_bytes))  # fmt: skip
    assert "1 MAC = 2 FLOPs" in data["convention"]


def test_cli_string_and_mode_values(capsys) -> None:
    code, out, _ = cli(
        capsys, "flops", "activation", "name=gelu", "numel=10", "input_grad=false", "--json",
        "--mode", "forward+backward",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["total"]["flops"] == 50 and data["backward"]["flops"] == 0


def test_cli_list(capsys) -> None:
    code, out, _ = cli(capsys, "flops", "--list", "--json")
    assert code == 0
    ops = {o["op"]: o for o in json.loads(out)}
    assert set(fl.OPS) == set(ops)
    assert {"name": "rows", "required": True, "default": None} in ops["linear"]["arguments"]
    code, out, _ = cli(capsys, "flops", "list")
    assert code == 0 and "multi_head_attention" in out


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["flops", "convolution"], "unknown op 'convolution'; expected one of: linear"),
        (["flops", "linear", "rows=2", "in_features=3", "out_features=4", "colour=red"],
         "flops linear: unknown argument 'colour'; expected one of: rows"),
        (["flops", "linear", "rows=2"], "flops linear: missing arguments in_features, out_feat"),
        (["flops", "linear", "rows=x", "in_features=3", "out_features=4"],
         "flops linear: rows: expected a positive integer, got 'x'"),
        (["flops", "linear", "rows=2", "in_features=3", "out_features=4", "bias=maybe"],
         "flops linear: bias: expected true or false, got 'maybe'"),
        (["flops", "linear", "rows", "in_features=3"], "flops linear: expected KEY=VALUE"),
        (["flops", "linear", "rows=2", "rows=3"], "argument 'rows' given twice"),
        (["flops", "matmul", "m=1", "n=1", "k=1", "--mode", "backward"], "--mode: expected one"),
        (["flops", "matmul", "m=1", "n=1", "k=1", "--dtype", "float7"], "--dtype: expected one"),
        (["flops", "matmul", "m=1", "n=1", "k=1", "elem_bytes=2", "--dtype", "float16"],
         "give elem_bytes or --dtype, not both"),
        (["flops", "conv2d", "batch=1", "in_channels=3", "out_channels=4", "height=2",
          "width=2", "kernel_size=3"], "flops conv2d: kernel_size: the output would be empty"),
        (["flops"], "flops: give an OP"),
    ],
    ids=["unknown-op", "unknown-key", "missing-key", "bad-int", "bad-bool", "not-key-value",
         "repeated-key", "bad-mode", "bad-dtype", "dtype-and-elem-bytes", "empty-output",
         "no-op"],
)  # fmt: skip
def test_cli_mistakes_are_one_line(capsys, args: list[str], expect: str) -> None:
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert expect in one_error_line(err)
    assert out == ""


def test_ops_and_cli_do_not_import_torch() -> None:
    # count_model (and torch) load on first use: `accelbench flops` and the ops stay light.
    code = "import sys, accelbench.flops, accelbench.flops.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert fl.count_model is count_model
