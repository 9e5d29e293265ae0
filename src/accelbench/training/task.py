"""What the trainer trains on: a task serves ready batches and owns its quality metric.

The study's workloads judge quality four ways (top-1 accuracy, BLEU, AUC, ...), so the trainer
never computes a metric itself: it asks the task to evaluate the model and gets a typed
:class:`Quality` back, with the metric's direction (higher or lower is better) and its trivial
level, which is what divergence is judged against.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

Batch = tuple[tuple[Any, ...], Any]
"""(model inputs, target): what ``train_batches`` yields, already on the device."""


@dataclass(frozen=True)
class QualitySpec:
    """How a task's quality is measured and judged."""

    metric: str
    """Short name: ``top1``, ``bleu``, ``auc``, ``logloss``, ..."""
    unit: str
    """``%``, ``BLEU``, ``AUC``, ..."""
    higher_is_better: bool
    chance: float
    """What a model that learned nothing scores (100/classes for top-1, 0.5 for AUC, 0 BLEU):
    staying within ``stuck_margin`` of it for ``stuck_epochs`` epochs means divergence."""
    stuck_margin: float
    """How close to ``chance`` counts as "at chance", in the metric's units."""

    def reached(self, value: float, threshold: float) -> bool:
        """Whether ``value`` crosses ``threshold`` in the metric's direction."""
        return value >= threshold if self.higher_is_better else value <= threshold

    def at_chance(self, value: float) -> bool:
        if not math.isfinite(value):
            return True
        if self.higher_is_better:
            return value <= self.chance + self.stuck_margin
        return value >= self.chance - self.stuck_margin

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is better than ``b``."""
        return a > b if self.higher_is_better else a < b


TOP1 = QualitySpec("top1", "%", higher_is_better=True, chance=0.0, stuck_margin=1.0)
"""Top-1 accuracy in %; set ``chance`` to 100/classes with :func:`top1`."""


def top1(classes: int) -> QualitySpec:
    return QualitySpec("top1", "%", True, chance=100.0 / classes, stuck_margin=1.0)


@dataclass(frozen=True)
class Quality:
    """One evaluation: the metric's value and anything else it measured."""

    spec: QualitySpec
    value: float
    secondary: dict[str, float | str] = field(default_factory=dict)


@dataclass
class EvalContext:
    """What an evaluation may use: the model (for decoding loops that call its parts), the
    forward the trainer trains with (compiled or not), the precision plan's autocast and input
    cast, and the device."""

    model: nn.Module
    forward: Callable[..., Any]
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    cast_inputs: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    device: torch.device


@runtime_checkable
class Task(Protocol):
    """A dataset held on (or streamed to) the device, served as ready batches, with its metric."""

    n_train: int
    """Training samples per epoch."""
    steps: int
    """Training steps per epoch."""
    quality: QualitySpec

    def train_batches(self, epoch: int) -> Iterator[Batch]: ...
    def evaluate(self, ctx: EvalContext) -> Quality: ...


def samples_in(task: Any, batch: Batch) -> int:
    """Samples in one training batch: the task's own count (sentence pairs, ...) or the
    target's length. Tasks that count tokens give ``tokens_per_epoch`` (host-side), which the
    trainer turns into tokens/s for each full epoch."""
    counter = getattr(task, "samples_in", None)
    if counter is not None:
        return int(counter(batch))
    return len(batch[1])


class ClassificationTask:
    """Top-1 accuracy over ``eval_batches()``: the evaluation every classifier shares.

    Subclasses set ``quality`` (``top1(classes)``) and implement ``train_batches`` and
    ``eval_batches``; the validation loss is reported beside the accuracy.
    """

    quality: QualitySpec

    def eval_batches(self) -> Iterator[Batch]:
        raise NotImplementedError

    def evaluate(self, ctx: EvalContext) -> Quality:
        correct = torch.zeros((), dtype=torch.int64, device=ctx.device)
        loss = torch.zeros((), dtype=torch.float64, device=ctx.device)
        total = 0
        with torch.no_grad(), ctx.autocast():
            for inputs, y in self.eval_batches():
                out = ctx.forward(*ctx.cast_inputs(inputs)).float()
                correct += (out.argmax(dim=1) == y).sum()
                loss += torch.nn.functional.cross_entropy(out, y, reduction="sum").double()
                total += len(y)
        n = max(total, 1)
        return Quality(
            self.quality,
            100.0 * correct.item() / n,
            {"val_loss": loss.item() / n, "val_samples": float(total)},
        )
