"""``resnet56-cifar10``: ResNet-56 on CIFAR-10 to 90.0% top-1, the study's CIFAR workload.

Reproduces: ResNet-56 with option-A shortcuts (He et al. 2016, section 4.2; 853,018
parameters) trained on the 50,000 CIFAR-10 training images, judged on the 10,000 test images.
The study's threshold is 90.0% top-1.

Recipe (the same on every platform; fixed seeds):

* SGD, Nesterov momentum 0.9, batch 512, weight decay 5e-4 (not on biases and BatchNorm),
  label smoothing 0.1.
* Peak learning rate 0.4 (0.1 x 512/128: the linear scaling rule of Goyal et al. 2017) on a
  one-cycle schedule (Smith & Topin 2017): linear warm-up over the first 15% of
  ``schedule_epochs`` (default 30), then linear decay to 0, per step.
* Augmentation on the device: random crop 32 from a 4-pixel zero padding, horizontal flip;
  the draws come from a CPU generator seeded per epoch, so every platform sees the same order.

Frameworks: PyTorch (``executions: [eager, compile]``) and MindSpore (``frameworks:
[pytorch, mindspore]``, ``executions: [pynative, graph]``) run this same recipe: the same
model and initial weights (built here from the seed and copied into MindSpore), the same
images in the same order with the same crops and flips, the same optimiser, schedule and loss
(:mod:`accelbench.frameworks.mindspore.training`).

Measured (2-core AMD EPYC VM, torch 2.13 CPU, real CIFAR-10 JPEGs, 2 of 30 epochs per
precision, n=1): fp32 steady 166.6 images/s, bf16 autocast 255.2 images/s; validation accuracy
38.2% / 36.0% after 2 epochs of warm-up. The 90% threshold has not yet been reached on
hardware that can train it in reasonable time.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from accelbench.data.cifar10 import MEAN, STD, load_cifar10, synthetic_cifar10
from accelbench.frameworks.base import check_frameworks, pair_executions
from accelbench.models.resnet_cifar import ResNetCifar
from accelbench.training.recipe import (
    RECIPES,
    Build,
    PositiveFloat,
    Recipe,
    RunSetup,
    TrainParams,
    training_flops_per_sample,
)
from accelbench.training.task import Batch, ClassificationTask, top1
from accelbench.workloads.base import Dim


class ResNetParams(TrainParams):
    threshold: float = Field(default=90.0, gt=0, le=100, description="top-1 accuracy (%)")
    max_epochs: Dim = 30
    batch_size: Dim = 512
    lr: PositiveFloat = 0.4
    weight_decay: float = Field(default=5e-4, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    warmup_fraction: float = Field(default=0.15, ge=0, lt=1)
    blocks: Dim = Field(
        default=9,
        le=200,
        description="basic blocks per stage (depth 6n+2): 9 is ResNet-56, the study's model; "
        "fewer for tests and small machines",
    )
    frameworks: list[str] = Field(
        default=["pytorch"], min_length=1, description="pytorch, mindspore (fp32 only)"
    )
    executions: list[str] | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        description="eager and compile (PyTorch), pynative and graph (MindSpore); each "
        "framework runs the ones it has; omitted: eager, pynative",
    )

    _check_frameworks = field_validator("frameworks")(check_frameworks)

    @model_validator(mode="after")
    def _check_executions(self) -> ResNetParams:
        pair_executions(self.frameworks, self.executions)
        return self


class CifarTask(ClassificationTask):
    """CIFAR-10 held on the device as uint8; normalisation, random crop (4-pixel zero padding)
    and horizontal flip are done on the device per batch."""

    quality = top1(10)

    def __init__(
        self,
        data: dict[str, Any],
        device: torch.device,
        batch_size: int,
        seed: int,
        dtype: torch.dtype,
    ) -> None:
        self.dev, self.bs, self.seed, self.dtype = device, batch_size, seed, dtype
        self.x = data["train_x"].to(device)
        self.y = data["train_y"].to(device)
        self.tx = data["test_x"].to(device)
        self.ty = data["test_y"].to(device)
        self.n_train = len(self.y)
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
        self.steps = max(self.n_train // batch_size, 1)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return (
            ((x.float() - self.mean) / self.std)
            .to(self.dtype)
            .contiguous(memory_format=torch.channels_last)
        )

    def train_batches(self, epoch: int) -> Any:
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        perm = torch.randperm(self.n_train, generator=g).to(self.dev)
        shifts = torch.randint(0, 9, (self.n_train, 2), generator=g).to(self.dev)
        flips = (torch.rand(self.n_train, generator=g) < 0.5).to(self.dev)
        ar = torch.arange(32, device=self.dev)
        bs = min(self.bs, self.n_train)
        for i in range(self.steps):
            idx = perm[i * bs : (i + 1) * bs]
            x = F.pad(self.x[idx].float(), (4, 4, 4, 4))
            sy, sx = shifts[i * bs : (i + 1) * bs, 0], shifts[i * bs : (i + 1) * bs, 1]
            cols = sx[:, None] + ar[None, :]
            cols = torch.where(flips[i * bs : (i + 1) * bs, None], cols.flip(1), cols)
            rows = sy[:, None] + ar[None, :]
            b = torch.arange(len(idx), device=self.dev)[:, None, None]
            x = x.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
            yield (self._norm(x),), self.y[idx]

    def eval_batches(self) -> Any:
        for i in range(0, len(self.ty), 1024):
            yield (self._norm(self.tx[i : i + 1024]),), self.ty[i : i + 1024]


def one_cycle(peak: float, total: int, warmup_fraction: float) -> Any:
    """Linear warm-up over ``warmup_fraction`` of ``total`` steps, then linear decay to 0."""
    warm = max(int(total * warmup_fraction), 1)

    def lr_at(s: int) -> float:
        if s < warm:
            return peak * (s + 1) / warm
        return peak * max(total - s, 0) / max(total - warm, 1)

    return lr_at


def sgd_without_decay_on_norms(
    params: list[torch.nn.Parameter],
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
) -> torch.optim.SGD:
    """SGD with weight decay on weights only (not biases or BatchNorm), as Goyal et al. do."""
    return torch.optim.SGD(
        [
            {"params": [q for q in params if q.ndim > 1], "weight_decay": weight_decay},
            {"params": [q for q in params if q.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=momentum,
        nesterov=nesterov,
    )


@RECIPES.register("resnet56-cifar10")
class ResNet56Cifar10(Recipe):
    kind = "resnet56-cifar10"
    Params = ResNetParams
    params: ResNetParams
    lr_scaling = "linear"  # SGD: linear rule with warm-up (Goyal et al. 2017)
    summary: ClassVar[dict[str, Any]] = {
        "model": "ResNet-56 (He et al. 2016), option-A shortcuts",
        "optimizer": "SGD",
        "schedule": "one-cycle: linear warm-up then linear decay to 0, per step",
        "augmentation": "random crop 32 from 4-pixel zero padding, horizontal flip (on device)",
    }
    dataset: ClassVar[str | None] = "cifar10"

    def framework_executions(self) -> list[tuple[str, str]]:
        return pair_executions(self.params.frameworks, self.params.executions)

    def model(self) -> ResNetCifar:
        """ResNet-(6n+2) with ``blocks`` = n; n = 9 is ResNet-56."""
        return ResNetCifar(n=self.params.blocks)

    def build(self, setup: RunSetup) -> Build:
        p = self.params
        info: dict[str, Any] = {}
        n_tr = p.train_subset or p.synthetic_size
        n_ev = p.eval_subset or 1000

        def load_task() -> CifarTask:
            if p.data == "synthetic":
                data = synthetic_cifar10(n_tr, n_ev, setup.seed)
                info.update(source="synthetic", train_images=n_tr, test_images=n_ev)
            else:
                data, src = load_cifar10(
                    setup.data_dir,
                    setup.cache_dir,
                    train_subset=p.train_subset,
                    eval_subset=p.eval_subset,
                )
                info.update(src)
            return CifarTask(data, setup.device, p.batch_size, setup.seed, setup.plan.input_dtype)

        def make_optimizer(params: list[torch.nn.Parameter], steps_per_epoch: int) -> Any:
            opt = sgd_without_decay_on_norms(params, p.lr, p.momentum, p.nesterov, p.weight_decay)
            total = steps_per_epoch * (p.schedule_epochs or p.max_epochs)
            return opt, one_cycle(p.lr, total, p.warmup_fraction)

        def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out.float(), y, label_smoothing=p.label_smoothing)

        return Build(
            load_task=load_task,
            build_model=lambda: self.model().to(memory_format=torch.channels_last),
            make_optimizer=make_optimizer,
            loss_fn=loss_fn,
            data_info=info,
            flops_per_sample=lambda task, model: training_flops_per_sample(
                self.model, torch.zeros(1, 3, 32, 32)
            ),
        )


__all__ = ["Batch", "CifarTask", "ResNet56Cifar10", "ResNetParams", "one_cycle"]
