"""Data-parallel training for every task, without changing the tasks.

A task serves **global** batches, the same sequence on every rank (its order comes from the
seed and the epoch, not from the process). Each rank trains on its contiguous slice of every
global batch (:func:`split_batch`), so across the ranks every sample of an epoch is seen exactly
once, in the same global batches a single process would train on. Gradients are averaged by
DistributedDataParallel's all-reduce; each rank's loss is weighted by ``N x local / global``
samples (:func:`loss_weight`), so with unequal slices the averaged gradient is still exactly the
single-process gradient of the global batch's mean loss (with equal slices the weight is 1 and
is not applied at all).

What is sliced: every tensor (or list) in the inputs and the target whose first dimension has
the global batch's length; anything else (a scalar, a table shared by the batch) is passed
whole. A task whose batches need another rule can serve already-sliced batches itself by
accepting ``train_batches(epoch, shard=...)``. Preparing the global batch on every rank repeats
cheap index gathers and on-device augmentation; the model's forward and backward, where the
time goes, run on the slice only.

A loss that averages over something other than samples (a translation loss is a mean over
real target tokens, and slices hold different numbers of them) needs the weight in those units:
a task that says so with ``loss_units(batch)`` (a count, a device tensor being fine: no sync)
gets ``N x local units / global units`` instead, computed on the device every step.

A global batch smaller than the world leaves some ranks without a sample: they run one
stand-in sample with loss weight 0, which keeps them in step with the all-reduce and adds
nothing to the gradient.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from accelbench.parallel.world import Shard, World
from accelbench.training.task import Batch, Task


def batch_length(batch: Batch) -> int:
    """Samples in a global batch: the target's first dimension."""
    target = batch[1]
    if isinstance(target, torch.Tensor) and target.dim() >= 1:
        return int(target.shape[0])
    if isinstance(target, (list, tuple)):
        return len(target)
    raise TypeError(
        f"cannot split a batch whose target is {type(target).__name__}: data-parallel training "
        "needs a target with a batch dimension, or a task that serves sliced batches itself "
        "(train_batches(epoch, shard=...))"
    )


def _cut(x: Any, n: int, start: int, end: int) -> Any:
    if isinstance(x, torch.Tensor):
        return x[start:end] if x.dim() >= 1 and x.shape[0] == n else x
    if isinstance(x, tuple):
        return tuple(_cut(v, n, start, end) for v in x)
    if isinstance(x, list):
        return x[start:end] if len(x) == n else x
    if isinstance(x, dict):
        return {k: _cut(v, n, start, end) for k, v in x.items()}
    return x


def split_batch(batch: Batch, shard: Shard) -> tuple[Batch, int, int]:
    """This rank's slice of a global batch: (batch, its samples, the global batch's samples).

    A rank left without a sample gets the global batch's first sample as a stand-in and 0 as
    its count (its loss weight is then 0)."""
    n = batch_length(batch)
    start, end = shard.bounds(n)
    local = end - start
    if local == 0:
        start, end = 0, 1
    return _cut(batch, n, start, end), local, n


def loss_weight(local: int, total: int, world_size: int) -> float | None:
    """Factor on this rank's mean loss that makes DDP's gradient average equal the gradient of
    the global batch's mean loss; None when it is 1 (equal slices)."""
    if local * world_size == total:
        return None
    return local * world_size / total


def rank_weight(
    task: Task, whole: Batch, part: Batch, local: int, total: int, world_size: int
) -> float | torch.Tensor | None:
    """This rank's loss weight for its slice ``part`` of the global batch ``whole``: by the
    task's ``loss_units`` when it has them (a tensor), else by samples; None when it is 1."""
    if local == 0:
        return 0.0
    units = getattr(task, "loss_units", None)
    if units is None:
        return loss_weight(local, total, world_size)
    mine, everyone = units(part), units(whole)
    return world_size * torch.as_tensor(mine) / torch.clamp(torch.as_tensor(everyone), min=1)


def shards_itself(task: Task) -> bool:
    """Whether the task serves sliced batches (``train_batches(epoch, shard=...)``)."""
    try:
        return "shard" in inspect.signature(task.train_batches).parameters
    except (TypeError, ValueError):
        return False


def rank_batches(
    task: Task, epoch: int, world: World
) -> Iterator[tuple[Batch, int, int, float | torch.Tensor | None]]:
    """(batch, samples on this rank, samples in the global batch, loss weight) for each step
    of ``epoch``; the weight is None when it is 1 (see :func:`rank_weight`)."""
    if shards_itself(task):
        for batch in task.train_batches(epoch, shard=world.shard):  # type: ignore[call-arg]
            local = batch_length(batch)
            yield batch, local, local * world.size, None
        return
    for whole in task.train_batches(epoch):
        part, local, total = split_batch(whole, world.shard)
        yield part, local, total, rank_weight(task, whole, part, local, total, world.size)


def wrap(model: nn.Module, world: World) -> DistributedDataParallel:
    """DistributedDataParallel over the case's compute group. Parameters and buffers start as
    rank 0's copy (DDP broadcasts them on construction), so every rank trains the same model."""
    return DistributedDataParallel(model, process_group=world.compute)


def sync_buffers(model: nn.Module, world: World) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics), as DDP does before each
    training forward; after the last step each rank's statistics moved with its own slice, and
    an evaluation must judge one model."""
    for b in model.buffers():
        world.broadcast_tensor(b)


def reseed_per_rank(world: World) -> None:
    """Independent random streams per rank for dropout and other draws during training: rank 0
    keeps the single-process stream, rank r > 0 continues from seed + r (with one stream,
    every rank would drop the same units of different samples)."""
    if world.rank:
        torch.manual_seed(torch.initial_seed() + world.rank)
