"""Train to a validation threshold and time it the way the study does.

The clock starts before anything is built: time to threshold **includes** setup (data loading
and caching, model build, compilation), as a user waiting for a model experiences it. It is
reported twice: with the evaluation passes (what the user waits) and without them (what the
hardware spends training; evaluation frequency is a protocol choice, not a property of the
chip). Each epoch is one :class:`~accelbench.results.schema.EpochRecord` in the trace.
Throughput is reported for the first epoch apart from the steady mean of the later ones, and
the first epoch is broken down into setup, the first step (lazy initialisation, kernel
autotuning and, under ``torch.compile``, compilation) and the rest of its training work.

Quality is the task's: it evaluates the model and returns its metric (top-1, BLEU, AUC, ...)
with its direction and trivial level; the run stops when the metric first crosses the
threshold in its direction.

The device is synchronised only at phase boundaries (end of setup, first step, end of each
epoch's training and evaluation), never per step, except where loss scaling must read whether
the gradients overflowed. Training loss is accumulated on the device. The time the loop spends
waiting for its next batch is measured on the host, so a user can see when the input pipeline,
not the accelerator, is the bottleneck.

A run ends with status ``diverged`` when the training loss becomes non-finite, every step of an
epoch overflowed, or the validation metric stays at its trivial level for ``stuck_epochs``
epochs.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from accelbench.results.schema import EpochRecord, Metric, Status
from accelbench.training.precision import PrecisionPlan
from accelbench.training.task import EvalContext, Quality, Task, samples_in


@dataclass
class TrainSpec:
    """What to build, in the order the clock sees it."""

    load_task: Callable[[], Task]
    build_model: Callable[[], nn.Module]
    make_optimizer: Callable[
        [list[nn.Parameter], int], tuple[torch.optim.Optimizer, Callable[[int], float]]
    ]
    """(parameters, steps per epoch) -> (optimizer, learning rate at global step)."""
    loss_fn: Callable[[Any, Any], torch.Tensor]
    plan: PrecisionPlan
    max_epochs: int
    threshold: float | None
    """The validation metric's value to reach; None: no quality claim (synthetic data)."""
    compile_mode: str | None = None
    """None: eager; else the ``torch.compile`` mode ("default", "reduce-overhead", ...)."""
    stuck_epochs: int = 3
    evaluate: bool = True
    label: str = "train"
    flops_per_sample: Callable[[Task, nn.Module], float] | None = None
    """Training FLOPs (forward + backward) per sample, from the FLOPs library; gives the
    achieved model TFLOP/s and, against the peaks, model FLOPs utilisation."""
    grad_clip: float | None = None


@dataclass
class TrainOutcome:
    status: Status
    message: str | None
    metrics: dict[str, Metric]
    trace: list[EpochRecord]
    config: dict[str, Any] = field(default_factory=dict)


class _Power:
    """Per-epoch power windows on the run's PowerMonitor, or the reason there are none."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self.reason: str | None = None
        if monitor is None:
            self.reason = "power measurement was off for this run (--no-power)"
        elif not monitor.meters:
            self.reason = f"no power meter: {monitor.reason}"
        self.open = False

    def start(self) -> None:
        if self.reason is None:
            self.monitor.start()
            self.open = True

    def lap(self) -> tuple[float | None, float | None, str | None]:
        """Close the window (energy J, avg power W, why not) and open the next one."""
        if not self.open:
            return None, None, self.reason
        reading = self.monitor.stop()
        self.open = False
        self.start()
        return reading.energy_j, reading.avg_power_w, reading.unavailable

    def close(self) -> None:
        if self.open:
            self.monitor.stop()
            self.open = False


def _log(label: str, text: str) -> None:
    print(f"  [{label}] {text}", file=sys.stderr, flush=True)


def run_training(spec: TrainSpec, device: Any, power: Any = None) -> TrainOutcome:
    """Set up and train per ``spec`` on ``device`` (a BaseDevice); never raises for divergence.

    ``power`` is the run's :class:`~accelbench.power.session.PowerMonitor` (None: power
    measurement is off): each epoch is one power window.
    """
    windows = _Power(power)
    t0 = time.perf_counter()
    windows.start()
    try:
        return _Run(spec, device, t0, windows).run()
    finally:
        windows.close()


@dataclass
class _EpochWork:
    train_s: float
    loss: float
    steps: int
    skipped: int
    samples: int
    tokens: int | None
    data_wait_s: float


class _Run:
    """One training run: setup, then epochs of train, evaluate, check, until done."""

    def __init__(self, spec: TrainSpec, device: Any, t0: float, power: _Power) -> None:
        self.spec, self.device, self.t0, self.power = spec, device, t0, power
        self.sync = device.synchronize
        self.trace: list[EpochRecord] = []
        self.step = 0
        self.first_step_s: float | None = None
        self.eval_total = 0.0
        self.energy_total: float | None = 0.0
        self.energy_reason: str | None = None
        self.reached_at: dict[str, Any] | None = None
        self.stuck = 0
        self.best: Quality | None = None
        self.status, self.message = Status.OK, None

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        spec = self.spec
        self.task = spec.load_task()
        self.sync()
        t_data = time.perf_counter()
        self.model = spec.build_model().to(self.device.torch_device)
        self.params = spec.plan.prepare(self.model)
        self.optimizer, self.lr_at = spec.make_optimizer(self.params, self.task.steps)
        self.forward: Callable[..., Any] = self.model
        if spec.compile_mode is not None:
            mode = None if spec.compile_mode == "default" else spec.compile_mode
            self.forward = torch.compile(self.model, mode=mode)
        self.sync()
        t_model = time.perf_counter()
        self.setup_s = {"data_s": t_data - self.t0, "model_s": t_model - t_data}

    # -- one epoch -----------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> _EpochWork:
        spec, plan, dev = self.spec, self.spec.plan, self.device.torch_device
        self.model.train()
        te0 = time.perf_counter()
        loss_sum = torch.zeros((), device=dev)
        counted = skipped = steps = samples = 0
        wait = 0.0
        batches = iter(self.task.train_batches(epoch))
        while True:
            w0 = time.perf_counter()
            batch = next(batches, None)
            wait += time.perf_counter() - w0
            if batch is None:
                break
            inputs, y = batch
            lr = self.lr_at(self.step)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            self.optimizer.zero_grad(set_to_none=True)
            if plan.master is not None:
                for p in plan.model_params or []:
                    p.grad = None
            with plan.autocast():
                loss = spec.loss_fn(self.forward(*plan.cast_inputs(inputs)), y)
            overflow = plan.backward_and_step(loss, self.optimizer, clip=spec.grad_clip)
            if overflow:
                skipped += 1
            else:
                loss_sum += loss.detach().float()
                counted += 1
            samples += samples_in(self.task, batch)
            self.step += 1
            steps += 1
            if self.first_step_s is None:
                self.sync()
                self.first_step_s = time.perf_counter() - te0
            if steps % 100 == 0 and not torch.isfinite(loss_sum).item():
                break  # diverged: no point finishing the epoch
        self.sync()
        train_s = time.perf_counter() - te0
        mean_loss = loss_sum.item() / counted if counted else math.nan
        # Tokens come from the task's host-side count for a whole epoch (counting per batch
        # would read the device every step).
        tokens = getattr(self.task, "tokens_per_epoch", None)
        return _EpochWork(train_s, mean_loss, steps, skipped, samples, tokens, wait)

    def evaluate(self) -> tuple[Quality | None, float]:
        if not self.spec.evaluate:
            return None, 0.0
        self.model.eval()
        ev0 = time.perf_counter()
        plan = self.spec.plan
        quality = self.task.evaluate(
            EvalContext(
                model=self.model,
                forward=self.forward,
                autocast=plan.autocast,
                cast_inputs=plan.cast_inputs,
                device=self.device.torch_device,
            )
        )
        self.sync()
        return quality, time.perf_counter() - ev0

    def record(self, epoch: int, work: _EpochWork, quality: Quality | None, eval_s: float) -> None:
        self.eval_total += eval_s
        wall = time.perf_counter() - self.t0
        energy, avg_w, why = self.power.lap()
        if energy is None:
            self.energy_total, self.energy_reason = None, self.energy_reason or why
        elif self.energy_total is not None:
            self.energy_total += energy
        full = work.steps == self.task.steps
        scaler = self.spec.plan.scaler
        self.trace.append(
            EpochRecord(
                epoch=epoch,
                wall_s=wall,
                train_s=work.train_s,
                eval_s=eval_s,
                train_loss=work.loss if math.isfinite(work.loss) else None,
                metric=quality.value if quality is not None else None,
                metric_name=quality.spec.metric if quality is not None else None,
                secondary=quality.secondary if quality is not None else {},
                steps=work.steps,
                samples=work.samples,
                samples_per_s=work.samples / work.train_s if full and work.train_s > 0 else None,
                tokens_per_s=(
                    work.tokens / work.train_s
                    if full and work.tokens is not None and work.train_s > 0
                    else None
                ),
                lr_end=self.lr_at(max(self.step - 1, 0)),
                loss_scale=scaler.scale if scaler is not None else None,
                skipped_steps=work.skipped if scaler is not None else None,
                energy_j=energy,
                avg_power_w=avg_w,
                data_wait_s=work.data_wait_s,
            )
        )
        q = "n/a" if quality is None else _fmt(quality)
        _log(
            self.spec.label,
            f"epoch {epoch}: loss {work.loss:.4f} val {q} train {work.train_s:.1f}s "
            f"eval {eval_s:.1f}s wall {wall:.1f}s",
        )

    def check(self, epoch: int, work: _EpochWork, quality: Quality | None) -> bool:
        """Whether the run is over: diverged, or the threshold was reached."""
        spec, scaler = self.spec, self.spec.plan.scaler
        if work.skipped and work.skipped == work.steps:
            self.status = Status.DIVERGED
            self.message = f"every step of epoch {epoch} overflowed at loss scale {scaler.scale:g}"  # type: ignore[union-attr]
            return True
        if not math.isfinite(work.loss):
            self.status = Status.DIVERGED
            self.message = f"training loss became non-finite in epoch {epoch} ({work.loss})"
            return True
        if quality is None:
            return False
        q = quality.spec
        if self.best is None or q.better(quality.value, self.best.value):
            self.best = quality
        self.stuck = self.stuck + 1 if q.at_chance(quality.value) else 0
        if self.stuck >= spec.stuck_epochs:
            self.status = Status.DIVERGED
            self.message = (
                f"validation {q.metric} stuck at chance ({q.chance:g}{_unit(quality)}) for "
                f"{self.stuck} epochs"
            )
            return True
        if spec.threshold is not None and q.reached(quality.value, spec.threshold):
            self.reached_at = {
                "epoch": epoch,
                "wall_s": self.trace[-1].wall_s,
                "eval_total_s": self.eval_total,
                "energy_j": self.energy_total,
            }
            return True
        return False

    # -- the whole run -------------------------------------------------------------------------
    def run(self) -> TrainOutcome:
        self.setup()
        for epoch in range(1, self.spec.max_epochs + 1):
            work = self.train_epoch(epoch)
            quality, eval_s = self.evaluate() if math.isfinite(work.loss) else (None, 0.0)
            self.record(epoch, work, quality, eval_s)
            if self.check(epoch, work, quality):
                break
        return self.outcome()

    def outcome(self) -> TrainOutcome:
        spec = self.spec
        metrics = _metrics(self)
        quality_spec = self.task.quality
        config: dict[str, Any] = {
            "setup": self.setup_s,
            "threshold": spec.threshold,
            "quality_metric": {
                "name": quality_spec.metric,
                "unit": quality_spec.unit,
                "higher_is_better": quality_spec.higher_is_better,
                "chance": quality_spec.chance,
            },
            "reached_threshold": self.reached_at is not None,
            "epochs_run": len(self.trace),
            "steps_per_epoch": self.trace[0].steps if self.trace else None,
            "execution": "compile" if spec.compile_mode else "eager",
            "compile_mode": spec.compile_mode,
            **spec.plan.describe(),
        }
        if spec.plan.scaler is not None:
            config["loss_scale_history"] = [list(h) for h in spec.plan.scaler.history[:1000]]
        message = self.message
        if self.status is Status.OK and spec.threshold is not None and self.reached_at is None:
            best = "none" if self.best is None else f"{self.best.value:.4g}"
            message = (
                f"threshold {spec.threshold:g} {quality_spec.metric} not reached in "
                f"{len(self.trace)} epochs (best {best}); time and energy to threshold are "
                "unavailable"
            )
        if spec.threshold is None:
            message = "synthetic data: throughput only, no quality was measured"
        return TrainOutcome(self.status, message, metrics, self.trace, config)


def _fmt(q: Quality) -> str:
    return f"{q.value:.2f}%" if q.spec.unit == "%" else f"{q.value:.4g} {q.spec.unit}"


def _unit(q: Quality) -> str:
    return "%" if q.spec.unit == "%" else f" {q.spec.unit}"


def _metrics(run: _Run) -> dict[str, Metric]:
    spec, trace, task = run.spec, run.trace, run.task
    q = task.quality
    m: dict[str, Metric] = {}
    setup_s = run.setup_s["data_s"] + run.setup_s["model_s"]
    m["setup_s"] = Metric(value=setup_s, unit="s")
    m["data_setup_s"] = Metric(value=run.setup_s["data_s"], unit="s")
    m["model_setup_s"] = Metric(value=run.setup_s["model_s"], unit="s")
    if spec.threshold is None:
        why = "synthetic data: throughput only, no quality claim"
    elif run.status is not Status.OK:
        why = f"the run {run.status.value}"
    else:
        why = f"threshold {spec.threshold:g} {q.metric} not reached in {len(trace)} epochs"
    reached = run.reached_at
    power_why = run.energy_reason or run.power.reason or "no power reading"
    if reached is not None:
        m["time_to_threshold_s"] = Metric(value=reached["wall_s"], unit="s")
        m["time_to_threshold_no_eval_s"] = Metric(
            value=reached["wall_s"] - reached["eval_total_s"], unit="s"
        )
        m["epochs_to_threshold"] = Metric(value=reached["epoch"], unit="epochs")
        e = reached["energy_j"]
        m["energy_to_threshold_j"] = (
            Metric(value=e, unit="J") if e is not None else Metric.missing("J", power_why)
        )
    else:
        for k, u in (
            ("time_to_threshold_s", "s"),
            ("time_to_threshold_no_eval_s", "s"),
            ("epochs_to_threshold", "epochs"),
            ("energy_to_threshold_j", "J"),
        ):
            m[k] = Metric.missing(u, why)
    total_wall = trace[-1].wall_s if trace else 0.0
    m["total_wall_s"] = Metric(value=total_wall, unit="s")
    m["total_eval_s"] = Metric(value=run.eval_total, unit="s")
    m["epochs_run"] = Metric(value=len(trace), unit="epochs")
    if run.energy_total is not None and trace:
        m["energy_total_j"] = Metric(value=run.energy_total, unit="J")
        m["avg_power_w"] = Metric(value=run.energy_total / total_wall, unit="W")
    else:
        m["energy_total_j"] = Metric.missing("J", power_why)
        m["avg_power_w"] = Metric.missing("W", power_why)
    m.update(_throughput(run))
    values = [r.metric for r in trace if r.metric is not None]
    unit = q.unit
    if values:
        m["final_metric"] = Metric(value=values[-1], unit=unit)
        m["best_metric"] = Metric(value=run.best.value if run.best else values[-1], unit=unit)
        if q.metric == "top1":  # the names results had before any metric but accuracy
            m["final_accuracy"] = Metric(value=values[-1], unit="%")
            m["best_accuracy"] = m["best_metric"]
    else:
        why_q = (
            "synthetic data: no quality claim"
            if spec.threshold is None
            else "no evaluation completed"
        )
        m["final_metric"] = Metric.missing(unit, why_q)
        m["best_metric"] = Metric.missing(unit, why_q)
        if q.metric == "top1":
            m["final_accuracy"] = Metric.missing("%", why_q)
            m["best_accuracy"] = Metric.missing("%", why_q)
    if spec.plan.scaler is not None:
        m["skipped_steps"] = Metric(value=spec.plan.scaler.skipped, unit="steps")
        m["final_loss_scale"] = Metric(value=spec.plan.scaler.scale, unit="x")
    return m


def _throughput(run: _Run) -> dict[str, Metric]:
    """First epoch apart from the steady mean of the later ones; the data-wait fraction; the
    model's training FLOP rate for MFU."""
    trace, task, setup = run.trace, run.task, run.setup_s
    m: dict[str, Metric] = {}
    if run.first_step_s is not None and trace:
        first = trace[0]
        m["first_step_s"] = Metric(value=run.first_step_s, unit="s")
        rest = first.steps - 1
        if rest > 0:
            typical = (first.train_s - run.first_step_s) / rest
            m["first_step_overhead_s"] = Metric(
                value=max(run.first_step_s - typical, 0.0), unit="s"
            )
        else:
            m["first_step_overhead_s"] = Metric.missing(
                "s", "one step per epoch: nothing to compare the first step with"
            )
        m["first_epoch_train_s"] = Metric(value=first.train_s, unit="s")
        if first.samples_per_s is not None:
            m["first_epoch_samples_per_s"] = Metric(value=first.samples_per_s, unit="samples/s")
            setup_s = setup["data_s"] + setup["model_s"]
            m["first_epoch_incl_setup_samples_per_s"] = Metric(
                value=(first.samples or task.n_train) / (first.train_s + setup_s),
                unit="samples/s",
            )
        else:
            m["first_epoch_samples_per_s"] = Metric.missing(
                "samples/s", "the first epoch ended early"
            )
    steady = [r.samples_per_s for r in trace[1:] if r.samples_per_s is not None]
    if steady:
        mean = statistics.fmean(steady)
        m["steady_samples_per_s"] = Metric(value=mean, unit="samples/s")
        m["steady_samples_per_s_cv"] = (
            Metric(value=statistics.pstdev(steady) / mean, unit="ratio")
            if len(steady) > 1
            else Metric.missing("ratio", "one steady epoch: no spread to report")
        )
        first_sps = m.get("first_epoch_samples_per_s")
        if first_sps is not None and first_sps.value:
            m["first_over_steady_pct"] = Metric(value=100 * first_sps.value / mean, unit="%")
        tok = [r.tokens_per_s for r in trace[1:] if r.tokens_per_s is not None]
        if tok:
            m["steady_tokens_per_s"] = Metric(value=statistics.fmean(tok), unit="tokens/s")
    else:
        m["steady_samples_per_s"] = Metric.missing(
            "samples/s", "only one full epoch ran: the steady state starts at epoch 2"
        )
    waits = [(r.data_wait_s, r.train_s) for r in trace if r.data_wait_s is not None]
    if waits and sum(t for _, t in waits) > 0:
        m["data_wait_fraction"] = Metric(
            value=100 * sum(w for w, _ in waits) / sum(t for _, t in waits), unit="%"
        )
    m.update(_model_flops(run, steady))
    return m


def _model_flops(run: _Run, steady: list[float]) -> dict[str, Metric]:
    """Training FLOPs per sample (forward + backward, from the FLOPs library) and the model
    FLOP rate at the steady throughput (the first epoch's when there is no steady epoch)."""
    if run.spec.flops_per_sample is None:
        return {}
    try:
        per_sample = float(run.spec.flops_per_sample(run.task, run.model))
    except Exception as exc:  # counting must never cost a measured run
        why = f"FLOPs per sample could not be counted: {type(exc).__name__}: {exc}"
        return {"model_gflops": Metric.missing("GFLOP/s", why[:300])}
    m = {"train_flops_per_sample": Metric(value=per_sample, unit="FLOP")}
    sps = statistics.fmean(steady) if steady else None
    if sps is None and run.trace and run.trace[0].samples_per_s is not None:
        sps = run.trace[0].samples_per_s
    if sps is None:
        m["model_gflops"] = Metric.missing("GFLOP/s", "no full epoch: no throughput")
    else:
        m["model_gflops"] = Metric(value=per_sample * sps / 1e9, unit="GFLOP/s")
    return m
