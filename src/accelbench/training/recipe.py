"""What every training-to-quality recipe shares: its params, its cases, and how a case runs.

A recipe (one module in :mod:`accelbench.training.recipes`) subclasses :class:`Recipe`, gives its
typed params with the recipe's defaults, and builds its data, model, optimiser and loss in
:meth:`Recipe.build`; everything else (precision plans, seeds, repeats, synthetic mode, the
trainer, the model FLOPs for MFU, the result's config) is here, once.

Each case is one training run: precision x framework and execution mode x loss scale x
BatchNorm precision x repeat. PyTorch runs here; a recipe another framework can run (MindSpore
for ResNet-56) hands those cases to the framework (``frameworks/``), which reuses this module's
setup and result and the trainer's epoch loop.

Repeats follow MLPerf: ``repeats: N`` runs seeds ``seed .. seed+N-1``, each its own stored
result (so resume works per run); :func:`accelbench.analysis.training.repeat_groups`
summarises them.

A run that ends at ``max_epochs`` without reaching the threshold is status ``ok`` (the
measurement itself succeeded) with ``config.reached_threshold = false``, a message saying so,
and time/energy to threshold unavailable with that reason.

Data-parallel runs (one rank of a torchrun job, ``ctx.world``) train under
DistributedDataParallel with one of two scalings, a param (``scaling``):

* ``strong`` (the default): the global batch is the recipe's ``batch_size``, split over the
  ranks; every hyper-parameter is the single-process recipe's, so time to threshold is
  comparable across world sizes.
* ``weak``: each rank keeps ``batch_size``, so the global batch grows N-fold, and the recipe's
  :attr:`Recipe.lr_scaling` rule says how the learning rate follows it (``linear``: Goyal et
  al. 2017, for SGD; ``sqrt``: Malladi et al. 2022, for Adam). Warm-up keeps its length in
  epochs, so it spans N times fewer steps (Goyal et al. keep 5 epochs whatever the batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from accelbench.data.common import resolve_cache_dir, resolve_data_dir
from accelbench.data.fetch import ensure_dataset
from accelbench.frameworks import DEFAULT as DEFAULT_FRAMEWORK
from accelbench.frameworks import framework_keys, open_framework
from accelbench.registry import Registry
from accelbench.results.schema import Basis, Metric
from accelbench.training.precision import DTYPE_OF, SCALED, PrecisionPlan
from accelbench.training.task import Task
from accelbench.training.trainer import TrainSpec, run_training
from accelbench.workloads.base import CaseOutput, Dim, RunContext, Workload

PositiveFloat = Annotated[float, Field(gt=0)]
PrecisionMode = Literal["fp32", "amp-fp16", "amp-bf16", "fp16"]


class TrainParams(BaseModel):
    """Shared knobs of a training-to-quality recipe; each recipe sets its own defaults."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    data: Literal["real", "synthetic"] = Field(
        default="real",
        description="real: read the dataset from --data-dir; synthetic: random data of the "
        "same shapes, throughput only, no quality claim",
    )
    threshold: float = Field(gt=0, description="the validation metric's value to reach")
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
        default=3, description="epochs at the metric's trivial level that mean divergence"
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    repeats: Dim = Field(
        default=1,
        le=1000,
        description="independent runs with seeds seed .. seed+repeats-1, each a result "
        "(MLPerf-style: the summary gives mean, median, spread and the mean without the "
        "fastest and slowest)",
    )
    cache_dir: str | None = Field(
        default=None, description="decoded-data cache; default ~/.cache/accelbench"
    )
    scaling: Literal["strong", "weak"] = Field(
        default="strong",
        description="data-parallel runs: strong keeps the global batch (batch_size split over "
        "the ranks), weak keeps batch_size per rank and scales the learning rate by the "
        "recipe's rule",
    )


@dataclass
class Build:
    """What a recipe builds for one run; the clock starts before ``load_task``."""

    load_task: Callable[[], Task]
    build_model: Callable[[], nn.Module]
    make_optimizer: Callable[[list[nn.Parameter], int], tuple[Any, Callable[[int], float]]]
    loss_fn: Callable[[Any, Any], torch.Tensor]
    data_info: dict[str, Any]
    """Filled by ``load_task``: where the data came from, how much of it."""
    flops_per_sample: Callable[[Task, nn.Module], float] | None = None
    grad_clip: float | None = None
    extra_metrics: Callable[[], dict[str, Metric]] | None = None
    """Recipe-specific facts known once the run is built (bytes per sample, table sizes)."""


@dataclass(frozen=True)
class RunSetup:
    """One case, resolved: its precision plan, seed, and where data lives."""

    case: dict[str, Any]
    plan: PrecisionPlan
    seed: int
    device: torch.device
    data_dir: Path | None
    cache_dir: Path


class Recipe(Workload):
    """A training-to-quality workload kind. Subclasses set ``kind``, ``Params`` and
    ``summary`` (what it reproduces), and implement :meth:`build`."""

    timed: ClassVar[bool] = False  # timed by the trainer's own clock, per epoch
    params: TrainParams
    summary: ClassVar[dict[str, Any]] = {}
    """The recipe's fixed choices (model, optimiser, schedule, augmentation, source), stored
    with every result beside the params."""
    batch_unit: ClassVar[Literal["samples", "tokens"]] = "samples"
    """What ``batch_size`` counts: samples, or tokens of a token-count batch (whose rows are
    what the ranks split)."""
    lr_scaling: ClassVar[Literal["linear", "sqrt", "none"]] = "linear"
    """How the learning rate follows a k-fold global batch under weak scaling: x k (SGD, Goyal
    et al. 2017), x sqrt(k) (Adam, Malladi et al. 2022), or unchanged."""
    dataset: ClassVar[str | None] = None
    """Its registry dataset (:mod:`accelbench.data.registry`): fetched on first use, before
    the clock starts, when missing and the run is not offline."""

    def framework_executions(self) -> list[tuple[str, str]]:
        """(framework, execution) pairs to run; a recipe that runs in another framework than
        PyTorch overrides this (from its params' ``frameworks``)."""
        return [(DEFAULT_FRAMEWORK, ex) for ex in dict.fromkeys(self.params.executions)]

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        out: list[dict[str, Any]] = []
        for prec in dict.fromkeys(p.precisions):
            for fw, ex in self.framework_executions():
                base = {
                    "precision": prec,
                    "dtype": DTYPE_OF[prec],
                    **framework_keys(fw, ex, always_execution=True),
                }
                scales = list(dict.fromkeys(p.loss_scales)) if prec in SCALED else [None]
                bns = list(dict.fromkeys(p.batchnorm)) if prec == "fp16" else [None]
                for ls in scales:
                    for bn in bns:
                        case = dict(base)
                        if ls is not None:
                            case["loss_scale"] = ls
                        if bn is not None:
                            case["batchnorm"] = bn
                        if p.scaling == "weak":  # strong is the default identity
                            case["scaling"] = "weak"
                        # Run 0 keeps the identity cases had before repeats existed, so a
                        # store measured then resumes; later runs add their index.
                        out.extend([case] + [{**case, "run": i} for i in range(1, p.repeats)])
        return out

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        extra = "".join(
            f" {k}={case[k]}" for k in ("loss_scale", "batchnorm", "scaling") if k in case
        )
        run = f" run {case['run']}" if "run" in case else ""
        fw = f"{case['framework']} " if "framework" in case else ""
        return f"{cls.kind} {case['precision']} {fw}{case['execution']}{extra}{run}"

    def build(self, setup: RunSetup) -> Build:  # pragma: no cover - abstract
        raise NotImplementedError

    def for_world(self, world_size: int) -> tuple[Recipe, dict[str, Any]]:
        """This recipe as it runs on ``world_size`` ranks, and what that changed.

        Strong scaling changes nothing (the global batch is split; it must hold at least one
        sample per rank). Weak scaling multiplies the batch by the world size and the learning
        rate by :attr:`lr_scaling`'s factor; a warm-up given in steps (``warmup_steps``) is
        divided by the world size, so it keeps its length in epochs (a warm-up given as a
        fraction of the run keeps it by itself)."""
        from accelbench.errors import UserError

        p = self.params
        if p.scaling == "strong" or world_size == 1:
            if self.batch_unit == "samples" and p.batch_size < world_size:
                raise UserError(
                    f"batch_size {p.batch_size} cannot be split over {world_size} ranks under "
                    "strong scaling; use a global batch of at least one sample per rank"
                )
            per_rank = p.batch_size / world_size
            return self, {
                "scaling": p.scaling,
                "batch_unit": self.batch_unit,
                "global_batch": p.batch_size,
                # a token batch's rows are split, so a rank's tokens are only about global / N
                "per_rank_batch": (per_rank if per_rank % 1 else int(per_rank))
                if self.batch_unit == "samples"
                else None,
                "lr": p.lr,
                "lr_rule": "unchanged: the global batch is the recipe's",
            }
        factor = {"linear": world_size, "sqrt": world_size**0.5, "none": 1}[self.lr_scaling]
        update: dict[str, Any] = {"batch_size": p.batch_size * world_size, "lr": p.lr * factor}
        warmup = getattr(p, "warmup_steps", None)
        if isinstance(warmup, int):
            update["warmup_steps"] = max(1, round(warmup / world_size))
        scaled = p.model_copy(update=update)
        extra = {"warmup_steps": update["warmup_steps"]} if "warmup_steps" in update else {}
        return type(self)(scaled), {
            "scaling": "weak",
            "batch_unit": self.batch_unit,
            "global_batch": scaled.batch_size,
            "per_rank_batch": p.batch_size,
            "lr": scaled.lr,
            "lr_rule": f"{self.lr_scaling}: lr x {factor:g} for a {world_size}x global batch",
            "warmup_rule": "warm-up keeps its length in epochs (fewer, larger steps)",
            **extra,
        }

    def run_setup(self, case: dict[str, Any], ctx: RunContext, on_host: bool = False) -> RunSetup:
        """The case resolved: its precision plan, seed and data locations. ``on_host``: the
        PyTorch side only prepares data and weights for another framework, on the host."""
        p = self.params
        ls = case.get("loss_scale", "dynamic")
        device = torch.device("cpu") if on_host else ctx.device.torch_device
        plan = PrecisionPlan(
            mode=case["precision"],
            device_type=device.type,
            loss_scale=None if ls == "dynamic" else float(ls),
            batchnorm=case.get("batchnorm", "fp32"),
        )
        return RunSetup(
            case=case,
            plan=plan,
            seed=p.seed + int(case.get("run", 0)),
            device=device,
            data_dir=resolve_data_dir(ctx.data_dir),
            cache_dir=resolve_cache_dir(p.cache_dir),
        )

    def prepare(
        self, case: dict[str, Any], ctx: RunContext, on_host: bool = False
    ) -> tuple[RunSetup, Build]:
        """The case's setup and the recipe's build (data, model, optimiser) for the world it
        runs in (see :meth:`for_world`), its dataset fetched first when missing: before the
        trainer's clock, so time to threshold never includes a download. Every framework's
        training path starts here."""
        setup = self.run_setup(case, ctx, on_host=on_host)
        fetched: dict[str, Any] = {}
        if self.dataset is not None and self.params.data == "real":
            offline = True if ctx.offline else None  # None: $ACCELBENCH_OFFLINE decides
            fetched = ensure_dataset(self.dataset, ctx.data_dir, offline=offline)
        recipe, _ = self.for_world(ctx.world.size if ctx.world is not None else 1)
        torch.manual_seed(setup.seed)
        b = recipe.build(setup)
        b.data_info.update(fetched)
        return setup, b

    def train_spec(self, setup: RunSetup, b: Build, world: Any = None) -> TrainSpec:
        """What the trainer runs for this case, from the recipe's build."""
        p, case = self.params, setup.case
        return TrainSpec(
            load_task=b.load_task,
            build_model=b.build_model,
            make_optimizer=b.make_optimizer,
            loss_fn=b.loss_fn,
            plan=setup.plan,
            max_epochs=p.max_epochs,
            threshold=None if p.data == "synthetic" else p.threshold,
            compile_mode=p.compile_mode if case["execution"] == "compile" else None,
            stuck_epochs=p.stuck_epochs,
            evaluate=p.data != "synthetic",
            label=self.describe(case),
            flops_per_sample=b.flops_per_sample,
            grad_clip=b.grad_clip,
            world=world,
        )

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        fw, _ = open_framework(case, ctx)
        if fw.name != DEFAULT_FRAMEWORK:
            return fw.train(self, case, ctx)  # the framework's own trainer; see frameworks/
        setup, b = self.prepare(case, ctx)
        spec = self.train_spec(setup, b, world=ctx.world)
        with ctx.device.precision("float32"):
            outcome = run_training(spec, ctx.device, ctx.power)
        out = self.case_output(setup, b, outcome)
        if ctx.world is not None:
            _, dp = self.for_world(ctx.world.size)
            out.config["data_parallel"] = {**out.config.get("data_parallel", {}), **dp}
        return out

    def case_output(self, setup: RunSetup, b: Build, outcome: Any) -> CaseOutput:
        """The result of one run: its metrics, curve, every hyper-parameter, and the basis of
        model FLOPs utilisation."""
        p, case = self.params, setup.case
        if b.extra_metrics is not None:
            outcome.metrics.update(b.extra_metrics())
        config = {
            **outcome.config,
            "seed": setup.seed,
            "hyperparameters": {**self.summary, **p.model_dump(mode="json"), "case": case},
            "data": b.data_info,
            "subset": {"train": p.train_subset, "eval": p.eval_subset},
            "quality_claim": p.data == "real",
        }
        basis = None
        if "model_gflops" in outcome.metrics:
            basis = Basis(
                compute_dtype=DTYPE_OF[case["precision"]],
                compute_metric="model_gflops",
                utilisation="mfu",
            )
        return CaseOutput(
            metrics=outcome.metrics,
            config=config,
            status=outcome.status,
            message=outcome.message,
            trace=outcome.trace,
            basis=basis,
        )


RECIPES: Registry[type[Recipe]] = Registry("training recipe", package="accelbench.training.recipes")
"""Every recipe by its workload kind; :mod:`accelbench.workloads.training` registers them as
workload kinds."""


def training_flops_per_sample(
    build_model: Callable[[], nn.Module], *inputs: Any, **kwargs: Any
) -> float:
    """Forward + backward FLOPs of one sample, counted by :func:`accelbench.flops.count_model`
    on a fresh CPU copy of the model (batch 1 inputs). Training computes weight gradients
    only, so the first layer's input gradient is not counted."""
    import warnings

    from accelbench.flops import count_model

    model = build_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uncounted ops are a known, reported limitation
        return float(count_model(model, *inputs, mode="forward+backward", **kwargs).total().flops)
