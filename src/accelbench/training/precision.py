"""Precision modes and loss scaling for training, device-agnostic.

Modes (the study's precision experiments):

* ``fp32`` — everything in float32.
* ``amp-fp16`` — ``torch.autocast(device_type, float16)`` around forward and loss; float32
  weights; loss scaling (dynamic by default, or a fixed scale).
* ``amp-bf16`` — autocast to bfloat16; bfloat16 has float32's range, so no loss scaling.
* ``fp16`` — "pure" half precision: the model's weights and activations in float16, with
  float32 master weights for the optimiser and loss scaling; BatchNorm either kept in float32
  (``batchnorm="fp32"``, inputs cast up and outputs cast down around it) or run in float16.

Loss scaling is implemented here rather than with ``torch.amp.GradScaler`` because the study
needs a *fixed* scale of any value (GradScaler cannot hold its scale: its backoff factor must be
below 1) and the count of overflowed, skipped steps and the scale over time, which GradScaler
does not expose. The dynamic policy is GradScaler's: start at 2**16, halve on overflow (and skip
the step), double after 2000 clean steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "amp-fp16", "amp-bf16", "fp16")
DTYPE_OF = {"fp32": "float32", "amp-fp16": "float16", "amp-bf16": "bfloat16", "fp16": "float16"}
SCALED = {"amp-fp16", "fp16"}


@dataclass
class LossScaler:
    """Multiplies the loss before backward and checks the gradients after, skipping steps
    whose gradients overflowed. ``scale=None`` means dynamic."""

    fixed: float | None = None
    init_scale: float = 2.0**16
    growth_interval: int = 2000
    scale: float = field(init=False)
    steps: int = 0
    skipped: int = 0
    history: list[tuple[int, float]] = field(default_factory=list)
    """(step, scale) at the start and at every change, so the curve is kept compactly."""
    _clean: int = 0

    def __post_init__(self) -> None:
        self.scale = float(self.fixed) if self.fixed is not None else self.init_scale
        self.history.append((0, self.scale))

    @property
    def dynamic(self) -> bool:
        return self.fixed is None

    def unscale_and_check(self, grads: list[torch.Tensor]) -> bool:
        """Divide ``grads`` by the scale in place; True when any is inf or NaN (the step must
        be skipped). One device sync per step: the price of knowing."""
        if not grads:
            return False
        found = torch.zeros((), device=grads[0].device)
        inv = torch.full((), 1.0 / self.scale, device=grads[0].device)
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for g in grads:
            by_dtype.setdefault(g.dtype, []).append(g)
        for group in by_dtype.values():
            torch._amp_foreach_non_finite_check_and_unscale_(group, found, inv)
        return bool(found.item())

    def update(self, overflow: bool) -> None:
        self.steps += 1
        if overflow:
            self.skipped += 1
        if not self.dynamic:
            return
        if overflow:
            self.scale = max(self.scale / 2.0, 1e-30)
            self._clean = 0
            self.history.append((self.steps, self.scale))
        else:
            self._clean += 1
            if self._clean >= self.growth_interval:
                self.scale *= 2.0
                self._clean = 0
                self.history.append((self.steps, self.scale))


class _FP32BatchNorm(nn.Module):
    """A float32 BatchNorm inside a float16 network: casts in and out around it."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.bn = bn.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.float()).to(x.dtype)


def _wrap_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, _FP32BatchNorm(child))
        else:
            _wrap_batchnorm(child)


@dataclass
class PrecisionPlan:
    """How one training run handles precision: the autocast region, the input dtype, the
    loss scaler and (pure fp16) the float32 master weights."""

    mode: str
    device_type: str
    loss_scale: float | None = None
    """None: dynamic (fp16 modes); a number: fixed. Ignored for fp32 and bf16."""
    batchnorm: str = "fp32"
    scaler: LossScaler | None = None
    master: list[nn.Parameter] | None = None
    model_params: list[nn.Parameter] | None = None

    def __post_init__(self) -> None:
        if self.mode not in PRECISIONS:
            raise ValueError(f"precision {self.mode!r}: expected one of {', '.join(PRECISIONS)}")
        if self.mode in SCALED:
            self.scaler = LossScaler(fixed=self.loss_scale)

    @property
    def input_dtype(self) -> torch.dtype:
        return torch.float16 if self.mode == "fp16" else torch.float32

    def cast_inputs(self, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
        """Floating-point inputs in the model's dtype (float16 under pure fp16)."""
        if self.mode != "fp16":
            return inputs
        return tuple(
            t.half() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in inputs
        )

    def prepare(self, model: nn.Module) -> list[nn.Parameter]:
        """Convert the model for this mode; return the parameters the optimiser updates."""
        if self.mode != "fp16":
            return list(model.parameters())
        model.half()
        if self.batchnorm == "fp32":
            _wrap_batchnorm(model)
        self.model_params = [p for p in model.parameters() if p.requires_grad]
        self.master = [nn.Parameter(p.detach().float().clone()) for p in self.model_params]
        return self.master

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.mode == "amp-fp16":
            with torch.autocast(device_type=self.device_type, dtype=torch.float16):
                yield
        elif self.mode == "amp-bf16":
            with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def backward_and_step(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, clip: float | None = None
    ) -> bool:
        """Backward, unscale, clip the gradient norm to ``clip`` (when given), step unless
        overflowed. Returns True when the step was skipped."""
        if self.scaler is None:
            loss.backward()
            if clip is not None:
                params = [p for g in optimizer.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            return False
        (loss.float() * self.scaler.scale).backward()
        if self.master is not None:
            assert self.model_params is not None
            for m, p in zip(self.master, self.model_params, strict=True):
                m.grad = None if p.grad is None else p.grad.float()
                p.grad = None
            params: Iterable[nn.Parameter] = self.master
        else:
            params = [p for g in optimizer.param_groups for p in g["params"]]
        grads = [p.grad for p in params if p.grad is not None]
        overflow = self.scaler.unscale_and_check(grads)
        if not overflow:
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(list(params), clip)
            optimizer.step()
            if self.master is not None:
                assert self.model_params is not None
                with torch.no_grad():
                    torch._foreach_copy_(self.model_params, self.master)  # type: ignore[arg-type]
        self.scaler.update(overflow)
        return overflow

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"precision": self.mode, "dtype": DTYPE_OF[self.mode]}
        if self.mode in SCALED:
            d["loss_scale"] = "dynamic" if self.loss_scale is None else self.loss_scale
        if self.mode == "fp16":
            d["batchnorm"] = self.batchnorm
        return d
