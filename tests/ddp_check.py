"""Run under torchrun by tests/test_distributed.py: train a tiny model data-parallel with the real
trainer and save what every rank did, so the test can compare it with one process.

Usage: python -m torch.distributed.run --nproc-per-node N --standalone tests/ddp_check.py OUT

The task is deterministic (no dropout, no BatchNorm): a data-parallel run must then end with
the same parameters as a single process trained on the same global batches. Its batches carry
each sample's id, which the model records while training, so the test can check that every
sample was seen exactly once per epoch across the ranks. 37 samples in batches of 9 give
slices of 5 and 4 and a last batch of one sample (a zero-weight stand-in on rank 1).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
from torch import nn

from accelbench.devices.cpu import CpuDevice
from accelbench.training.precision import PrecisionPlan
from accelbench.training.task import ClassificationTask, top1
from accelbench.training.trainer import TrainSpec, run_training

N, BATCH, EPOCHS = 37, 9, 2


class IdTask(ClassificationTask):
    quality = top1(2)

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(N, 4, generator=g)
        self.y = (self.x[:, 0] + 0.5 * self.x[:, 1] > 0).long()
        self.ids = torch.arange(N)
        self.n_train, self.steps = N, math.ceil(N / BATCH)

    def train_batches(self, epoch: int) -> Any:
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(epoch))
        for i in range(0, N, BATCH):
            idx = perm[i : i + BATCH]
            yield (self.x[idx], self.ids[idx]), self.y[idx]

    def eval_batches(self) -> Any:
        for i in range(0, N, 7):
            yield (self.x[i : i + 7], self.ids[i : i + 7]), self.y[i : i + 7]


class Recorder(nn.Module):
    """A small MLP that notes the ids of the samples it trains on, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        self.seen: list[list[int]] = []

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen[-1].extend(ids.tolist())
        return self.net(x)


def train(world: Any = None) -> tuple[dict[str, torch.Tensor], list[Any], Recorder]:
    """Two epochs of SGD; returns the final parameters, the trace and the model."""
    model = Recorder()
    task = IdTask()

    def load() -> IdTask:
        return task

    def optimizer(params: list[nn.Parameter], steps: int) -> Any:
        return torch.optim.SGD(params, lr=0.5, momentum=0.9), lambda s: 0.5

    class Epochs:
        """Opens the next epoch's id list before its first batch."""

        def __init__(self) -> None:
            self.inner = task.train_batches

        def __call__(self, epoch: int) -> Any:
            model.seen.append([])
            return self.inner(epoch)

    task.train_batches = Epochs()  # type: ignore[method-assign]
    spec = TrainSpec(
        load_task=load,
        build_model=lambda: model,
        make_optimizer=optimizer,
        loss_fn=lambda out, y: nn.functional.cross_entropy(out, y),
        plan=PrecisionPlan(mode="fp32", device_type="cpu"),
        max_epochs=EPOCHS,
        threshold=None,
        evaluate=True,
        world=world,
    )
    outcome = run_training(spec, CpuDevice())
    assert outcome.status.value == "ok", outcome.message
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, outcome.trace, model


def main(out: str) -> None:
    from accelbench.parallel.world import join_world

    torch.set_num_threads(1)
    world = join_world("gloo", 60)
    try:
        with world.case_group():
            params, trace, model = train(world)
        everyone = world.gather(
            {
                "rank": world.rank,
                "seen": model.seen,
                "params": params,
                "trace": [r.model_dump() for r in trace],
            }
        )
        if world.is_owner:
            torch.save(everyone, out)
    finally:
        world.leave()


if __name__ == "__main__":
    main(sys.argv[1])
