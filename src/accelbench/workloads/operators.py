"""Single-operator sweeps: fully connected, 2-D convolution and RNN/LSTM/GRU.

Each kind expands a YAML grid (the cartesian product of its list-valued params) into cases and
times one operator per case, ``forward`` or ``forward+backward``, in every requested dtype. The
operator is a real ``torch.nn`` module in the case's dtype, fed random normal tensors made on
the device before timing (zeros or constants can take fast paths and distort timing and power).

- ``forward`` runs under ``torch.no_grad()``: the operator alone, as inference runs it.
- ``forward+backward`` runs the forward with autograd and then ``torch.autograd.grad`` for the
  parameters and, when ``input_grad`` is true (the default: an operator in the middle of a
  network), the input. Gradients are returned, not accumulated into ``.grad``, so no extra
  accumulation kernel is timed.

FLOPs, MACs and minimum bytes come from :mod:`accelbench.flops`, the same analytic counts that
``accelbench flops`` prints, so a sweep's numbers can be checked by hand.

Every kind runs through any framework that builds it (``frameworks``, ``executions``): PyTorch
eager or ``torch.compile`` (the module compiled; the first call, which compiles, is timed apart),
MindSpore PyNative or Graph (:mod:`accelbench.frameworks.mindspore`), on the same grid, with the
same FLOPs and metrics.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import ConfigDict, Field, Strict, model_validator
from torch import nn

from accelbench import flops as fl
from accelbench.devices.base import torch_dtype
from accelbench.frameworks import (
    FrameworkChoice,
    Prepared,
    framework_keys,
    framework_label,
    open_framework,
    run_prepared,
)
from accelbench.names import MODES, Mode, Precision
from accelbench.results.schema import Metric
from accelbench.workloads.base import (
    WORKLOADS,
    CaseOutput,
    Dim,
    RunContext,
    Workload,
    throughput_metrics,
)
from accelbench.workloads.memory import check_fits

NonNeg = Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


class OperatorParams(FrameworkChoice):
    """What every operator grid shares: modes, dtypes, whether the input gets a gradient, and
    the frameworks (and their execution modes) to run through."""

    model_config = ConfigDict(extra="forbid")

    modes: list[Mode] = Field(default=list(MODES), min_length=1)
    dtypes: list[Precision] = Field(
        default=["float32", "tfloat32", "bfloat16", "float16"],
        min_length=1,
        description="tfloat32 runs on NVIDIA GPUs and is stored as unsupported elsewhere",
    )
    input_grad: bool = Field(
        default=True,
        description="forward+backward also computes the input gradient (false: a first layer)",
    )


class OperatorWorkload(Workload):
    """Grid expansion and the timed forward / forward+backward loop shared by the operators.

    Subclasses say which params form the grid, build the module and its input for a case, and
    count the case's FLOPs. Cases are ordered dtype, then mode, then grid, so a sweep's progress
    reads naturally and similar shapes run back to back.
    """

    grid_fields: ClassVar[tuple[str, ...]]

    def grid(self) -> list[dict[str, Any]]:
        """The shape combinations (without mode and dtype), invalid combinations removed."""
        p = self.params
        axes = [_unique(getattr(p, f)) for f in self.grid_fields]
        combos = [dict(zip(self.grid_fields, c, strict=True)) for c in itertools.product(*axes)]
        return [c for c in combos if self.valid(c)]

    def valid(self, combo: dict[str, Any]) -> bool:
        return True

    def cases(self) -> list[dict[str, Any]]:
        p: OperatorParams = self.params  # type: ignore[assignment]
        frameworks = [framework_keys(fw, ex) for fw, ex in p.framework_executions()]
        return [
            {**combo, "mode": mode, "dtype": dt, **fk}
            for fk in frameworks
            for dt in _unique(p.dtypes)
            for mode in _unique(p.modes)
            for combo in self.grid()
        ]

    # -- per kind ------------------------------------------------------------------------------
    def build(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> nn.Module:
        raise NotImplementedError

    def make_input(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    def count(self, case: dict[str, Any], elem_bytes: int) -> fl.OpCount:
        raise NotImplementedError

    def samples(self, case: dict[str, Any]) -> int:
        return int(case["batch"])

    def extra_metrics(self, case: dict[str, Any], median_s: float) -> dict[str, Metric]:
        return {}

    @staticmethod
    def first_output(y: Any) -> torch.Tensor:
        return y[0] if isinstance(y, tuple) else y

    # -- shared run ----------------------------------------------------------------------------
    def _callable(
        self,
        module: nn.Module,
        x: torch.Tensor,
        mode: str,
        input_grad: bool,
        compiled: bool = False,
    ) -> Callable[[], Any]:
        run: Callable[..., Any] = torch.compile(module) if compiled else module
        if mode == "forward":
            # Inference mode for the module as well as autograd: RNNs pass ``training`` to the
            # fused kernel, which otherwise keeps workspace for a backward that never comes.
            module.eval()

            def forward() -> Any:
                with torch.no_grad():
                    return run(x)

            return forward
        params = [p for p in module.parameters() if p.requires_grad]
        if input_grad:
            x.requires_grad_(True)
        wrt = [x, *params] if input_grad else params
        # One untimed pass gives the output's shape for a random (not ones) upstream gradient.
        with torch.no_grad():
            grad_out = torch.randn_like(self.first_output(module(x)))

        def forward_backward() -> Any:
            y = self.first_output(run(x))
            return torch.autograd.grad(y, wrt, grad_out)

        return forward_backward

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        p: OperatorParams = self.params  # type: ignore[assignment]
        dtype, mode = case["dtype"], case["mode"]
        dev, dt = ctx.device.torch_device, torch_dtype(dtype)
        count = self.count(case, dt.itemsize)
        # Inputs, weights and outputs exist at once (the forward's minimum bytes); a backward
        # also holds the upstream gradient and the gradients it makes (its minimum bytes).
        need = count.forward.min_bytes
        if mode != "forward":
            need = max(need, count.backward.min_bytes)
        if (oom := check_fits(ctx, need, self.describe(case))) is not None:
            return oom
        fw, execution = open_framework(case, ctx)
        with ctx.device.precision(dtype), ctx.device.autotune(True), fw.errors():
            if fw.name == "pytorch":
                module = self.build(case, dev, dt)
                x = self.make_input(case, dev, dt)
                compiled = execution == "compile"
                fn = self._callable(module, x, mode, p.input_grad and mode != "forward", compiled)
                n_params = sum(t.numel() for t in module.parameters())
                prepared = Prepared(fn, ctx.device, compiled, n_params)
            else:
                prepared = fw.operator(self, case, execution, ctx)
            meas, first, mctx = run_prepared(prepared, ctx)
        cost = count.total(mode)
        metrics, basis = throughput_metrics(
            flops=cost.flops,
            macs=cost.macs,
            min_bytes=cost.min_bytes,
            m=meas,
            ctx=mctx,
            dtype=dtype,
            samples_per_iter=self.samples(case),
        )
        metrics.update(first)
        n_params = prepared.params or 0
        metrics["params"] = Metric(value=float(n_params), unit="parameters")
        metrics["forward_flops"] = Metric(value=count.forward.flops, unit="FLOP")
        if mode != "forward":
            metrics["backward_flops"] = Metric(value=count.backward.flops, unit="FLOP")
        metrics.update(self.extra_metrics(case, meas.summary.median))
        config: dict[str, Any] = {"flop_count": {"op": count.op}}
        if count.detail:
            config["flop_count"]["detail"] = count.detail
        if n_params != count.params:  # the analytic model and the framework disagree: say so
            config["flop_count"]["param_mismatch"] = {"analytic": count.params, fw.name: n_params}
        if prepared.info:
            config["framework"] = prepared.info
        return CaseOutput(
            metrics=metrics,
            measurement=meas,
            config=config,
            basis=basis,
            framework=fw.environment(execution),
        )


# -- fully connected -----------------------------------------------------------------------------
class LinearParams(OperatorParams):
    batch: list[Dim] = Field(min_length=1, description="rows of the input")
    in_features: list[Dim] = Field(min_length=1)
    out_features: list[Dim] = Field(min_length=1)
    bias: bool = True


@WORKLOADS.register("linear")
class Linear(OperatorWorkload):
    """Fully connected layer ``y = x W^T + b`` (``nn.Linear``) over batch x in x out."""

    kind = "linear"
    Params = LinearParams
    params: LinearParams
    grid_fields = ("batch", "in_features", "out_features")

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return (
            f"linear b={case['batch']} {case['in_features']}->{case['out_features']} "
            f"{case['mode']} {case['dtype']}{framework_label(case)}"
        )

    def build(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> nn.Module:
        return nn.Linear(
            case["in_features"], case["out_features"], bias=self.params.bias, device=dev, dtype=dt
        )

    def make_input(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> torch.Tensor:
        return torch.randn(case["batch"], case["in_features"], device=dev, dtype=dt)

    def count(self, case: dict[str, Any], elem_bytes: int) -> fl.OpCount:
        return fl.linear(
            rows=case["batch"],
            in_features=case["in_features"],
            out_features=case["out_features"],
            bias=self.params.bias,
            elem_bytes=elem_bytes,
            input_grad=self.params.input_grad,
        )


# -- 2-D convolution -----------------------------------------------------------------------------
Padding = NonNeg | Literal["same"]


class Conv2dParams(OperatorParams):
    batch: list[Dim] = Field(min_length=1)
    input_size: list[Dim] = Field(min_length=1, description="square input height = width")
    in_channels: list[Dim] = Field(min_length=1)
    out_channels: list[Dim] = Field(min_length=1)
    kernel_size: list[Dim] = Field(min_length=1, description="square filter")
    stride: list[Dim] = Field(default=[1], min_length=1)
    padding: list[Padding] = Field(
        default=["same"],
        min_length=1,
        description="'same' pads dilation*(k-1)/2 on each side (output = input / stride)",
    )
    dilation: list[Dim] = Field(default=[1], min_length=1)
    groups: list[Dim] = Field(default=[1], min_length=1)
    bias: bool = True
    channels_last: bool = Field(
        default=False, description="NHWC memory format (what GPU tensor cores prefer)"
    )

    @model_validator(mode="after")
    def _some_valid(self) -> Conv2dParams:
        ok = any(
            ci % g == 0 and co % g == 0
            for ci, co, g in itertools.product(self.in_channels, self.out_channels, self.groups)
        )
        if not ok:
            raise ValueError(
                "no combination of in_channels, out_channels and groups divides evenly"
            )
        if any(p == "same" and k % 2 == 0 for p in self.padding for k in self.kernel_size):
            raise ValueError("padding 'same' needs odd kernel sizes (symmetric padding)")
        # The grid is empty when no filter fits in any padded input: say why here, rather
        # than run a sweep of zero cases.
        spans = [
            (s + 2 * conv_padding({"padding": p, "dilation": d, "kernel_size": k}), d, k, s, p)
            for s, k, p, d in itertools.product(
                self.input_size, self.kernel_size, self.padding, self.dilation
            )
        ]
        if not any(padded >= d * (k - 1) + 1 for padded, d, k, _, _ in spans):
            padded, d, k, s, p = max(spans, key=lambda x: x[0] - x[1] * (x[2] - 1))
            raise ValueError(
                f"the grid is empty: no filter fits in its input (at best kernel {k} with "
                f"dilation {d} spans {d * (k - 1) + 1} pixels, but input {s}x{s} padded by "
                f"{p} is {padded} wide); use smaller kernels, larger inputs or more padding"
            )
        return self


def conv_padding(case: dict[str, Any]) -> int:
    """The padding of a case on each side ('same': dilation * (k - 1) / 2)."""
    pad = case["padding"]
    return case["dilation"] * (case["kernel_size"] - 1) // 2 if pad == "same" else int(pad)


@WORKLOADS.register("conv2d")
class Conv2d(OperatorWorkload):
    """2-D convolution (``nn.Conv2d``) over batch, input size, channels, filter, stride, padding,
    dilation and groups. Combinations whose channels are not divisible by ``groups`` or whose
    output would be empty are left out of the grid."""

    kind = "conv2d"
    Params = Conv2dParams
    params: Conv2dParams
    grid_fields = (
        "batch",
        "input_size",
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
    )

    def valid(self, c: dict[str, Any]) -> bool:
        if c["in_channels"] % c["groups"] or c["out_channels"] % c["groups"]:
            return False
        span = c["dilation"] * (c["kernel_size"] - 1) + 1
        return c["input_size"] + 2 * conv_padding(c) >= span

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        extra = "".join(
            f" {k}={case[k]}"
            for k, default in (("stride", 1), ("padding", "same"), ("dilation", 1), ("groups", 1))
            if case[k] != default
        )
        return (
            f"conv2d b={case['batch']} {case['in_channels']}x{case['input_size']}^2 -> "
            f"{case['out_channels']} k={case['kernel_size']}{extra} {case['mode']} {case['dtype']}"
            f"{framework_label(case)}"
        )

    def build(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> nn.Module:
        m = nn.Conv2d(
            case["in_channels"],
            case["out_channels"],
            case["kernel_size"],
            stride=case["stride"],
            padding=conv_padding(case),
            dilation=case["dilation"],
            groups=case["groups"],
            bias=self.params.bias,
            device=dev,
            dtype=dt,
        )
        return m.to(memory_format=torch.channels_last) if self.params.channels_last else m

    def make_input(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> torch.Tensor:
        s = case["input_size"]
        x = torch.randn(case["batch"], case["in_channels"], s, s, device=dev, dtype=dt)
        return x.contiguous(memory_format=torch.channels_last) if self.params.channels_last else x

    def count(self, case: dict[str, Any], elem_bytes: int) -> fl.OpCount:
        return fl.conv2d(
            batch=case["batch"],
            in_channels=case["in_channels"],
            out_channels=case["out_channels"],
            height=case["input_size"],
            width=case["input_size"],
            kernel_size=case["kernel_size"],
            stride=case["stride"],
            padding=conv_padding(case),
            dilation=case["dilation"],
            groups=case["groups"],
            bias=self.params.bias,
            elem_bytes=elem_bytes,
            input_grad=self.params.input_grad,
        )


# -- recurrent -----------------------------------------------------------------------------------
Cell = Literal["rnn_tanh", "rnn_relu", "lstm", "gru"]
_RNN_CLASSES: dict[str, tuple[type[nn.RNNBase], dict[str, Any]]] = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
}


class RnnParams(OperatorParams):
    cell: list[Cell] = Field(default=["lstm"], min_length=1)
    batch: list[Dim] = Field(min_length=1)
    seq_len: list[Dim] = Field(min_length=1)
    hidden_size: list[Dim] = Field(min_length=1)
    input_size: list[Dim] | None = Field(
        default=None, description="features per time step; omitted: equal to hidden_size"
    )
    num_layers: list[Dim] = Field(default=[1], min_length=1)
    bidirectional: list[bool] = Field(default=[False], min_length=1)
    batch_first: bool = False
    bias: bool = True


@WORKLOADS.register("rnn")
class Rnn(OperatorWorkload):
    """Vanilla RNN (tanh or ReLU), LSTM and GRU layers (``nn.RNN``/``nn.LSTM``/``nn.GRU``) over
    batch, sequence length, hidden size, input size, layers and direction. The whole sequence
    is one call, so the framework's fused kernel (cuDNN, oneDNN, CANN) is what gets timed."""

    kind = "rnn"
    Params = RnnParams
    params: RnnParams

    @property
    def grid_fields(self) -> tuple[str, ...]:  # type: ignore[override]
        base = ("cell", "batch", "seq_len", "hidden_size")
        extra = ("input_size",) if self.params.input_size is not None else ()
        return (*base, *extra, "num_layers", "bidirectional")

    def _input_size(self, case: dict[str, Any]) -> int:
        return int(case.get("input_size", case["hidden_size"]))

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        inp = f" in={case['input_size']}" if "input_size" in case else ""
        layers = f" layers={case['num_layers']}" if case["num_layers"] != 1 else ""
        bi = " bidirectional" if case["bidirectional"] else ""
        return (
            f"{case['cell']} b={case['batch']} seq={case['seq_len']} h={case['hidden_size']}"
            f"{inp}{layers}{bi} {case['mode']} {case['dtype']}{framework_label(case)}"
        )

    def build(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> nn.Module:
        cls, kw = _RNN_CLASSES[case["cell"]]
        return cls(
            self._input_size(case),
            case["hidden_size"],
            num_layers=case["num_layers"],
            bidirectional=case["bidirectional"],
            batch_first=self.params.batch_first,
            bias=self.params.bias,
            device=dev,
            dtype=dt,
            **kw,
        )

    def make_input(self, case: dict[str, Any], dev: torch.device, dt: torch.dtype) -> torch.Tensor:
        b, t = case["batch"], case["seq_len"]
        shape = (b, t) if self.params.batch_first else (t, b)
        return torch.randn(*shape, self._input_size(case), device=dev, dtype=dt)

    def count(self, case: dict[str, Any], elem_bytes: int) -> fl.OpCount:
        return fl.rnn(
            mode=case["cell"],
            seq_len=case["seq_len"],
            batch=case["batch"],
            input_size=self._input_size(case),
            hidden_size=case["hidden_size"],
            num_layers=case["num_layers"],
            bidirectional=case["bidirectional"],
            bias=self.params.bias,
            elem_bytes=elem_bytes,
            input_grad=self.params.input_grad,
        )

    def extra_metrics(self, case: dict[str, Any], median_s: float) -> dict[str, Metric]:
        tokens = case["batch"] * case["seq_len"]
        return {"tokens_per_s": Metric(value=tokens / median_s, unit="time steps/s")}
