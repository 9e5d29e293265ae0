"""CIFAR-10 at 224x224 for ResNet-50 (``resnet50-cifar224``), made on the device.

The study trained ResNet-50 on CIFAR-10 upscaled to 224x224. Decoding 60,000 JPEGs and
resizing them on the host every epoch would measure the host; instead the 32x32 images stay
cached on the device as uint8 (:func:`accelbench.data.cifar10.load_cifar10`, 184 MB), the CIFAR
task augments and normalises each 32x32 batch there (random crop from 4-pixel zero padding,
horizontal flip: the CIFAR recipe's augmentation), and :func:`upscale` resizes the batch to
224x224 with bilinear interpolation (``align_corners=False``: pixel centres map to pixel
centres, as pillow's ``resize``), still on the device. Normalising before or after the resize
gives the same image, since bilinear weights sum to 1.

So the 224x224 augmentation is the 32x32 one scaled up (a 4-pixel shift is 28 pixels at 224),
and evaluation is the plain upscale of the test image. No host work per step: the input
pipeline cannot be the bottleneck, which the data-wait fraction of a run confirms.

Synthetic mode is the CIFAR task's (``synthetic_cifar10``: random 32x32 images) upscaled the
same way: throughput only.

The recipe that trains on it, with its knobs:
:mod:`accelbench.training.recipes.resnet50_cifar224`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from accelbench.data.topk import evaluate_topk
from accelbench.training.task import EvalContext, Quality

Batch = tuple[tuple[Any, ...], torch.Tensor]
SIZE = 224


def upscale(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """``[B, C, h, w]`` -> ``[B, C, size, size]`` by bilinear interpolation, on ``x``'s device.

    Interpolates in float32 (reduced-precision inputs are converted and converted back, so the
    result does not depend on the device's half-precision resize kernel) and keeps ``x``'s
    dtype and memory format (channels_last in, channels_last out).
    """
    fmt = (
        torch.channels_last
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format
    )
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
    return y.to(x.dtype).contiguous(memory_format=fmt)


def upscale_batches(
    batches: Iterable[Batch], size: int = SIZE, max_batch: int | None = None
) -> Iterator[Batch]:
    """Each ``((x, *rest), y)`` with ``x`` upscaled to ``size``; batches larger than
    ``max_batch`` are split (evaluation batches of 1,024 CIFAR images are 616 MB at 224 in
    float32, and ResNet-50's activations on top of that)."""
    for inputs, y in batches:
        x, rest = inputs[0], tuple(inputs[1:])
        step = max_batch or len(y)
        for i in range(0, len(y), step):
            yield (
                (upscale(x[i : i + step], size), *(r[i : i + step] for r in rest)),
                y[i : i + step],
            )


class Cifar224Task:
    """A 32x32 CIFAR task (``n_train``, ``steps``, ``quality``, ``train_batches(epoch)``,
    ``eval_batches()``: the ResNet-56 recipe's ``CifarTask``) served at 224x224, as the
    training core's ``Task``.

    Steps, samples per epoch and the quality spec are the base task's; only the image size
    changes. Evaluation adds top-5 to top-1.
    """

    def __init__(self, base: Any, size: int = SIZE, eval_batch_size: int | None = 256) -> None:
        self.base, self.size, self.eval_batch_size = base, size, eval_batch_size
        self.n_train = base.n_train
        self.steps = base.steps
        self.quality = base.quality

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        return upscale_batches(self.base.train_batches(epoch), self.size)

    def eval_batches(self) -> Iterator[Batch]:
        return upscale_batches(self.base.eval_batches(), self.size, self.eval_batch_size)

    def evaluate(self, ctx: EvalContext) -> Quality:
        """Top-1 (value), top-5 and validation loss on the CIFAR-10 test set at ``size``."""
        return evaluate_topk(ctx, self.eval_batches(), self.quality)

    def describe(self) -> dict[str, Any]:
        return {
            "image_size": self.size,
            "resize": "bilinear (align_corners=False) on the device, from the cached 32x32",
            "train_transform": "random crop 32 (4-pixel zero padding), horizontal flip, then "
            f"upscale to {self.size}",
            "eval_transform": f"upscale to {self.size}",
        }
