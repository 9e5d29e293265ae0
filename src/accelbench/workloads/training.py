"""Training to accuracy: ``resnet56-cifar10`` (top-1 90.0%) and ``lstm-imdb`` (83.5%).

Each case is one training run (precision x execution mode x loss scale x BatchNorm precision)
timed from before setup until the validation accuracy first reaches ``threshold``; see
:mod:`accelbench.training.trainer` for what is measured. The whole per-epoch curve goes to
``Result.trace`` and every hyper-parameter to ``config``.

A run that ends at ``max_epochs`` without reaching the threshold is status ``ok`` (the
measurement itself succeeded) with ``config.reached_threshold = false``, a message saying so,
and time/energy to threshold unavailable with that reason: the numbers it has (throughput,
accuracy curve) are real, and the missing headline metric is never silently absent.

Recipes (the same hyper-parameters on every platform; fixed seeds):

* ``resnet56-cifar10`` — ResNet-56, option-A shortcuts (He et al. 2016). SGD, Nesterov momentum
  0.9, batch 512, weight decay 5e-4, label smoothing 0.1, peak lr 0.4 (0.1 x 512/128, the
  linear scaling rule of Goyal et al. 2017) on a one-cycle schedule (Smith & Topin 2017,
  "super-convergence"): linear warm-up over the first 15% of ``schedule_epochs`` (default 30),
  linear decay to 0. Augmentation: random crop with 4-pixel zero padding and horizontal flip, on
  the device. Accuracy not yet measured (no accelerator was available when written).
* ``lstm-imdb`` — vocabulary of 20,000 words from the training split, reviews truncated to 256
  tokens, embedding 64, one bidirectional LSTM layer of 64 units over the packed sequence, max
  pooling over time, dropout 0.3, linear. Adam lr 2e-3, batch 64, length-bucketed batches,
  constant learning rate. Measured: 84.08% on the real IMDB test set after 2 epochs (CPU fp32).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from accelbench.data.cifar10 import MEAN, STD, load_cifar10, synthetic_cifar10
from accelbench.data.common import resolve_cache_dir, resolve_data_dir
from accelbench.data.imdb import load_imdb, synthetic_imdb
from accelbench.models.lstm import LSTMClassifier
from accelbench.models.resnet_cifar import resnet56
from accelbench.results.schema import Status
from accelbench.training.precision import DTYPE_OF, SCALED, PrecisionPlan
from accelbench.training.trainer import TrainSpec, run_training
from accelbench.workloads.base import WORKLOADS, CaseOutput, Dim, RunContext, Workload

PositiveFloat = Annotated[float, Field(gt=0)]
PrecisionMode = Literal["fp32", "amp-fp16", "amp-bf16", "fp16"]


class TrainParams(BaseModel):
    """Shared knobs of a training-to-accuracy workload; each kind sets its recipe's defaults."""

    model_config = ConfigDict(extra="forbid")

    data: Literal["real", "synthetic"] = Field(
        default="real",
        description="real: read the dataset from --data-dir; synthetic: random data of the "
        "same shapes, throughput only, no accuracy claim",
    )
    threshold: float = Field(gt=0, le=100, description="validation accuracy (%) to reach")
    max_epochs: Dim
    schedule_epochs: Dim | None = Field(
        default=None, description="length of the learning-rate schedule; default max_epochs"
    )
    batch_size: Dim
    lr: PositiveFloat
    weight_decay: float = Field(default=0.0, ge=0)
    train_subset: Dim | None = Field(
        default=None, description="use only this many training samples"
    )
    eval_subset: Dim | None = Field(
        default=None, description="use only this many validation samples"
    )
    synthetic_size: Dim = Field(default=10000, description="training samples in synthetic mode")
    precisions: list[PrecisionMode] = Field(default=["fp32"], min_length=1)
    loss_scales: list[Literal["dynamic"] | PositiveFloat] = Field(
        default=["dynamic"],
        min_length=1,
        description="for amp-fp16 and fp16: dynamic or a fixed scale",
    )
    batchnorm: list[Literal["fp32", "fp16"]] = Field(
        default=["fp32"], min_length=1, description="BatchNorm precision under pure fp16"
    )
    executions: list[Literal["eager", "compile"]] = Field(default=["eager"], min_length=1)
    compile_mode: Literal[
        "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = "default"
    stuck_epochs: Dim = Field(
        default=3, description="epochs at chance accuracy that mean divergence"
    )
    seed: int = 0
    cache_dir: str | None = Field(
        default=None, description="decoded-data cache; default ~/.cache/accelbench"
    )


class _TrainingWorkload(Workload):
    timed: ClassVar[bool] = False  # timed by the trainer's own clock, per epoch
    params: TrainParams

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        out: list[dict[str, Any]] = []
        for prec in dict.fromkeys(p.precisions):
            for ex in dict.fromkeys(p.executions):
                base = {"precision": prec, "dtype": DTYPE_OF[prec], "execution": ex}
                scales = list(dict.fromkeys(p.loss_scales)) if prec in SCALED else [None]
                bns = list(dict.fromkeys(p.batchnorm)) if prec == "fp16" else [None]
                for ls in scales:
                    for bn in bns:
                        case = dict(base)
                        if ls is not None:
                            case["loss_scale"] = ls
                        if bn is not None:
                            case["batchnorm"] = bn
                        out.append(case)
        return out

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        extra = "".join(f" {k}={case[k]}" for k in ("loss_scale", "batchnorm") if k in case)
        return f"{cls.kind} {case['precision']} {case['execution']}{extra}"

    def _plan(self, case: dict[str, Any], ctx: RunContext) -> PrecisionPlan:
        ls = case.get("loss_scale", "dynamic")
        return PrecisionPlan(
            mode=case["precision"],
            device_type=ctx.device.torch_device.type,
            loss_scale=None if ls == "dynamic" else float(ls),
            batchnorm=case.get("batchnorm", "fp32"),
        )

    def _dirs(self, ctx: RunContext) -> tuple[Path | None, Path]:
        return resolve_data_dir(getattr(ctx, "data_dir", None)), resolve_cache_dir(
            self.params.cache_dir
        )

    def _train(
        self,
        case: dict[str, Any],
        ctx: RunContext,
        plan: PrecisionPlan,
        data_info: dict[str, Any],
        *,
        load_task: Any,
        build_model: Any,
        make_optimizer: Any,
        loss_fn: Any,
    ) -> CaseOutput:
        """The settings every recipe shares (seed, threshold, compile, divergence, synthetic
        mode) in one place; a recipe gives only its data, model, optimiser and loss."""
        p: Any = self.params
        torch.manual_seed(p.seed)
        spec = TrainSpec(
            load_task=load_task,
            build_model=build_model,
            make_optimizer=make_optimizer,
            loss_fn=loss_fn,
            plan=plan,
            max_epochs=p.max_epochs,
            threshold=None if p.data == "synthetic" else p.threshold,
            compile_mode=p.compile_mode if case["execution"] == "compile" else None,
            stuck_epochs=p.stuck_epochs,
            evaluate=p.data != "synthetic",
            label=self.describe(case),
        )
        return self._finish(spec, ctx, data_info, case)

    def _finish(
        self, spec: TrainSpec, ctx: RunContext, data_info: dict[str, Any], case: dict[str, Any]
    ) -> CaseOutput:
        with ctx.device.precision("float32"):
            outcome = run_training(spec, ctx.device, ctx.power)
        p = self.params
        config = {
            **outcome.config,
            "hyperparameters": {**self.recipe(), **p.model_dump(mode="json"), "case": case},
            "data": data_info,
            "subset": {"train": p.train_subset, "eval": p.eval_subset},
            "accuracy_claim": p.data == "real",
        }
        return CaseOutput(
            metrics=outcome.metrics,
            config=config,
            status=outcome.status,
            message=outcome.message,
            trace=outcome.trace,
        )

    def recipe(self) -> dict[str, Any]:
        return {}


# -- CIFAR-10 / ResNet-56 -------------------------------------------------------------------------
class CifarTask:
    """CIFAR-10 held on the device as uint8; normalisation, random crop (4-pixel zero padding)
    and horizontal flip are done on the device per batch. The shuffling and augmentation draws
    come from a CPU generator seeded per epoch, so every platform sees the same sequence."""

    chance = 10.0

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
            yield (self._norm_padded(x),), self.y[idx]

    def _norm_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self._norm(x)

    def eval_batches(self) -> Any:
        for i in range(0, len(self.ty), 1024):
            yield (self._norm(self.tx[i : i + 1024]),), self.ty[i : i + 1024]


class ResNetParams(TrainParams):
    threshold: float = Field(default=90.0, gt=0, le=100)
    max_epochs: Dim = 30
    batch_size: Dim = 512
    lr: PositiveFloat = 0.4
    weight_decay: float = Field(default=5e-4, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    warmup_fraction: float = Field(default=0.15, ge=0, lt=1)


@WORKLOADS.register("resnet56-cifar10")
class ResNet56Cifar10(_TrainingWorkload):
    kind = "resnet56-cifar10"
    Params = ResNetParams
    params: ResNetParams

    def recipe(self) -> dict[str, Any]:
        return {
            "model": "ResNet-56 (He et al. 2016), option-A shortcuts",
            "optimizer": "SGD",
            "schedule": "one-cycle: linear warm-up then linear decay to 0, per step",
            "augmentation": "random crop 32 from 4-pixel zero padding, horizontal flip (on device)",
        }

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        p = self.params
        plan = self._plan(case, ctx)
        data_dir, cache_dir = self._dirs(ctx)
        dev = ctx.device.torch_device
        info: dict[str, Any] = {}
        n_tr = p.train_subset or p.synthetic_size
        n_ev = p.eval_subset or 1000

        def load_task() -> CifarTask:
            if p.data == "synthetic":
                data = synthetic_cifar10(n_tr, n_ev, p.seed)
                info.update(source="synthetic", train_images=n_tr, test_images=n_ev)
            else:
                data, src = load_cifar10(
                    data_dir, cache_dir, train_subset=p.train_subset, eval_subset=p.eval_subset
                )
                info.update(src)
            return CifarTask(data, dev, p.batch_size, p.seed, plan.input_dtype)

        def make_optimizer(params: list[torch.nn.Parameter], steps_per_epoch: int) -> Any:
            decay = [q for q in params if q.ndim > 1]
            no_decay = [q for q in params if q.ndim <= 1]
            opt = torch.optim.SGD(
                [
                    {"params": decay, "weight_decay": p.weight_decay},
                    {"params": no_decay, "weight_decay": 0.0},
                ],
                lr=p.lr,
                momentum=p.momentum,
                nesterov=p.nesterov,
            )
            total = steps_per_epoch * (p.schedule_epochs or p.max_epochs)
            warm = max(int(total * p.warmup_fraction), 1)

            def lr_at(s: int) -> float:
                if s < warm:
                    return p.lr * (s + 1) / warm
                return p.lr * max(total - s, 0) / max(total - warm, 1)

            return opt, lr_at

        return self._train(
            case,
            ctx,
            plan,
            info,
            load_task=load_task,
            build_model=lambda: resnet56().to(memory_format=torch.channels_last),
            make_optimizer=make_optimizer,
            loss_fn=lambda out, y: F.cross_entropy(
                out.float(), y, label_smoothing=p.label_smoothing
            ),
        )


# -- IMDB / LSTM ----------------------------------------------------------------------------------
class ImdbTask:
    """Token ids on the device, lengths on the host (packing needs them there, and keeping
    them there avoids a device sync per batch). Batches are bucketed by length: each epoch
    shuffles, sorts within windows of 50 batches, and shuffles the batch order, so padding is
    small while every epoch still sees a new order."""

    chance = 50.0

    def __init__(
        self, data: dict[str, Any], device: torch.device, batch_size: int, seed: int
    ) -> None:
        self.dev, self.bs, self.seed = device, batch_size, seed
        self.x = data["train_x"].long().to(device)
        self.len = data["train_len"].cpu()
        self.y = data["train_y"].to(device)
        self.tx = data["test_x"].long().to(device)
        self.tlen = data["test_len"].cpu()
        self.ty = data["test_y"].to(device)
        self.n_train = len(self.y)
        self.steps = math.ceil(self.n_train / batch_size)

    def train_batches(self, epoch: int) -> Any:
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        perm = torch.randperm(self.n_train, generator=g)
        window = self.bs * 50
        batches = []
        for w in range(0, self.n_train, window):
            chunk = perm[w : w + window]
            chunk = chunk[torch.argsort(self.len[chunk], descending=True, stable=True)]
            batches.extend(chunk[i : i + self.bs] for i in range(0, len(chunk), self.bs))
        for j in torch.randperm(len(batches), generator=g).tolist():
            idx = batches[j]
            lens = self.len[idx]
            d_idx = idx.to(self.dev)
            yield (self.x[d_idx, : int(lens.max())], lens), self.y[d_idx]

    def eval_batches(self) -> Any:
        order = torch.argsort(self.tlen, descending=True, stable=True)
        for i in range(0, len(order), 256):
            idx = order[i : i + 256]
            lens = self.tlen[idx]
            d_idx = idx.to(self.dev)
            yield (self.tx[d_idx, : int(lens.max())], lens), self.ty[d_idx]


class LstmParams(TrainParams):
    threshold: float = Field(default=83.5, gt=0, le=100)
    max_epochs: Dim = 6
    batch_size: Dim = 64
    lr: PositiveFloat = 2e-3
    vocab_size: Dim = 20000
    max_len: Dim = 256
    embed_dim: Dim = 64
    hidden: Dim = 64
    bidirectional: bool = True
    dropout: float = Field(default=0.3, ge=0, lt=1)
    grad_clip: float | None = Field(default=None, gt=0)


@WORKLOADS.register("lstm-imdb")
class LstmImdb(_TrainingWorkload):
    kind = "lstm-imdb"
    Params = LstmParams
    params: LstmParams

    def recipe(self) -> dict[str, Any]:
        return {
            "model": "embedding -> bidirectional LSTM (packed) -> max-pool over time -> linear",
            "optimizer": "Adam",
            "schedule": "constant",
            "tokenizer": "lower-case words and punctuation, <br /> removed; vocab from train split",
        }

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        p = self.params
        plan = self._plan(case, ctx)
        data_dir, cache_dir = self._dirs(ctx)
        dev = ctx.device.torch_device
        info: dict[str, Any] = {}
        n_tr = p.train_subset or p.synthetic_size

        def load_task() -> ImdbTask:
            if p.data == "synthetic":
                data = synthetic_imdb(n_tr, p.eval_subset or 1000, p.vocab_size, p.max_len, p.seed)
                info.update(source="synthetic", train_reviews=n_tr)
            else:
                data, src = load_imdb(
                    data_dir,
                    cache_dir,
                    vocab_size=p.vocab_size,
                    max_len=p.max_len,
                    train_subset=p.train_subset,
                    eval_subset=p.eval_subset,
                )
                info.update(src)
            return ImdbTask(data, dev, p.batch_size, p.seed)

        def make_optimizer(params: list[torch.nn.Parameter], steps_per_epoch: int) -> Any:
            opt = torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay)
            return opt, lambda s: p.lr

        return self._train(
            case,
            ctx,
            plan,
            info,
            load_task=load_task,
            build_model=lambda: LSTMClassifier(
                p.vocab_size, p.embed_dim, p.hidden, 1, p.bidirectional, p.dropout
            ),
            make_optimizer=make_optimizer,
            loss_fn=lambda out, y: F.cross_entropy(out.float(), y),
        )


__all__ = ["LstmImdb", "ResNet56Cifar10", "Status"]
