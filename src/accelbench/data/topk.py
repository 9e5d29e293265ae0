"""Top-k accuracy of a classifier over a stream of batches, as the quality of an image task.

:class:`ClassificationQuality` has the fields of the training core's ``Quality`` (metric, value,
unit, higher_is_better, chance, secondary), so a task can hand it over as is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

Batch = tuple[tuple[Any, ...], torch.Tensor]


@dataclass(frozen=True)
class ClassificationQuality:
    """Top-1 accuracy (%) with top-5 and the number of images evaluated as secondary values."""

    value: float
    chance: float
    secondary: dict[str, float | str] = field(default_factory=dict)
    metric: str = "top1"
    unit: str = "%"
    higher_is_better: bool = True


def evaluate_topk(
    forward: Callable[..., torch.Tensor],
    batches: Iterable[Batch],
    *,
    chance: float,
    autocast_ctx_factory: Callable[[], Any] = contextlib.nullcontext,
    ks: tuple[int, ...] = (1, 5),
) -> ClassificationQuality:
    """Top-k accuracies (%) of ``forward`` over ``batches``; top-1 is the value.

    Counts accumulate on the device (one synchronisation at the end). ``k`` larger than the
    number of classes is capped to it.
    """
    ks = tuple(sorted({1, *ks}))
    correct: dict[int, torch.Tensor] = {}
    total = 0
    with torch.no_grad(), autocast_ctx_factory():
        for inputs, y in batches:
            out = forward(*inputs)
            kmax = min(max(ks), out.shape[1])
            top = out.topk(kmax, dim=1).indices
            hit = top == y[:, None]
            for k in ks:
                c = hit[:, : min(k, kmax)].any(dim=1).sum()
                correct[k] = correct[k] + c if k in correct else c
            total += len(y)
    if total == 0:
        raise ValueError("no evaluation images: the validation set is empty")
    acc = {k: 100.0 * float(correct[k].item()) / total for k in ks}
    secondary: dict[str, float | str] = {f"top{k}": acc[k] for k in ks if k != 1}
    secondary["eval_images"] = float(total)
    return ClassificationQuality(value=acc[1], chance=chance, secondary=secondary)
