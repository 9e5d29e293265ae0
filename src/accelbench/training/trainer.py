"""Train to a validation threshold and time it the way the study does.

The clock starts before anything is built: time to threshold **includes** setup (data loading
and caching, model build, compilation), as a user waiting for a model experiences it. It is
reported twice: with the evaluation passes (what the user waits) and without them (what the
hardware spends training; evaluation frequency is a protocol choice, not a property of the
chip). Each epoch is one record in the trace. Throughput is reported for the first epoch apart
from the steady mean of the later ones, and the first epoch is broken down into setup, the
first step (lazy initialisation, kernel autotuning and, under ``torch.compile``, compilation)
and the rest of its training work.

The device is synchronised only at phase boundaries (end of setup, first step, end of each
epoch's training and evaluation), never per step, except where loss scaling must read whether
the gradients overflowed. Training loss is accumulated on the device.

A run ends with status ``diverged`` when the training loss becomes non-finite, every step of an
epoch overflowed, or the validation accuracy stays at chance for ``stuck_epochs`` epochs.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from accelbench.results.schema import Metric, Status
from accelbench.training.precision import PrecisionPlan

Batch = tuple[tuple[Any, ...], torch.Tensor]


class Task(Protocol):
    """A dataset held on the device, served as ready batches."""

    n_train: int
    steps: int
    """Training steps per epoch."""
    chance: float
    """Accuracy (%) of guessing: 100 / number of classes."""

    def train_batches(self, epoch: int) -> Iterator[Batch]: ...
    def eval_batches(self) -> Iterator[Batch]: ...


@dataclass
class TrainSpec:
    """What to build, in the order the clock sees it."""

    load_task: Callable[[], Task]
    build_model: Callable[[], nn.Module]
    make_optimizer: Callable[
        [list[nn.Parameter], int], tuple[torch.optim.Optimizer, Callable[[int], float]]
    ]
    """(parameters, steps per epoch) -> (optimizer, learning rate at global step)."""
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    plan: PrecisionPlan
    max_epochs: int
    threshold: float | None
    """Validation accuracy (%) to reach; None: no accuracy claim (synthetic data)."""
    compile_mode: str | None = None
    """None: eager; else the ``torch.compile`` mode ("default", "reduce-overhead", ...)."""
    stuck_epochs: int = 3
    stuck_margin: float = 1.0
    """Accuracy within this many points of chance counts as 'at chance'."""
    evaluate: bool = True
    label: str = "train"


@dataclass
class TrainOutcome:
    status: Status
    message: str | None
    metrics: dict[str, Metric]
    trace: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)


class _Power:
    """Per-epoch power windows on the device's PowerMonitor, or the reason there are none."""

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
        why = reading.unavailable
        return reading.energy_j, reading.avg_power_w, why

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
    sync = device.synchronize
    t0 = time.perf_counter()
    windows.start()
    try:
        return _run(spec, device, sync, t0, windows)
    finally:
        windows.close()


def _run(
    spec: TrainSpec, device: Any, sync: Callable[[], None], t0: float, power: _Power
) -> TrainOutcome:
    plan = spec.plan
    task = spec.load_task()
    sync()
    t_data = time.perf_counter()
    model = spec.build_model().to(device.torch_device)
    params = plan.prepare(model)
    optimizer, lr_at = spec.make_optimizer(params, task.steps)
    fwd: Callable[..., torch.Tensor] = model
    if spec.compile_mode is not None:
        fwd = torch.compile(
            model, mode=None if spec.compile_mode == "default" else spec.compile_mode
        )
    sync()
    t_model = time.perf_counter()
    setup = {"data_s": t_data - t0, "model_s": t_model - t_data}

    trace: list[dict[str, Any]] = []
    status, message = Status.OK, None
    step = 0
    first_step_s: float | None = None
    eval_total = 0.0
    energy_total: float | None = 0.0
    energy_reason: str | None = None
    reached_at: dict[str, float] | None = None
    stuck = 0
    best = -math.inf
    for epoch in range(1, spec.max_epochs + 1):
        model.train()
        te0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device.torch_device)
        counted, skipped, steps = 0, 0, 0
        for inputs, y in task.train_batches(epoch):
            lr = lr_at(step)
            for g in optimizer.param_groups:
                g["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            if plan.master is not None:
                for p in plan.model_params or []:
                    p.grad = None
            with plan.autocast():
                loss = spec.loss_fn(fwd(*plan.cast_inputs(inputs)), y)
            overflow = plan.backward_and_step(loss, optimizer)
            if overflow:
                skipped += 1
            else:
                loss_sum += loss.detach().float()
                counted += 1
            step += 1
            steps += 1
            if first_step_s is None:
                sync()
                first_step_s = time.perf_counter() - te0
            if steps % 100 == 0 and not torch.isfinite(loss_sum).item():
                break  # diverged: no point finishing the epoch
        sync()
        train_s = time.perf_counter() - te0
        train_loss = loss_sum.item() / counted if counted else math.nan

        acc: float | None = None
        eval_s = 0.0
        if spec.evaluate and math.isfinite(train_loss):
            model.eval()
            ev0 = time.perf_counter()
            correct = torch.zeros((), dtype=torch.int64, device=device.torch_device)
            total = 0
            with torch.no_grad(), plan.autocast():
                for inputs, y in task.eval_batches():
                    correct += (fwd(*plan.cast_inputs(inputs)).argmax(dim=1) == y).sum()
                    total += len(y)
            acc = 100.0 * correct.item() / max(total, 1)
            eval_s = time.perf_counter() - ev0
        eval_total += eval_s
        wall = time.perf_counter() - t0
        energy, avg_w, why = power.lap()
        if energy is None:
            energy_total, energy_reason = None, energy_reason or why
        elif energy_total is not None:
            energy_total += energy
        rec: dict[str, Any] = {
            "epoch": epoch,
            "wall_s": wall,
            "train_s": train_s,
            "eval_s": eval_s,
            # JSON has no NaN: a diverged loss is None here and named in the message.
            "train_loss": train_loss if math.isfinite(train_loss) else None,
            "val_accuracy": acc,
            "steps": steps,
            "samples_per_s": task.n_train / train_s if steps == task.steps else None,
            "lr_end": lr_at(max(step - 1, 0)),
        }
        if plan.scaler is not None:
            rec["loss_scale"] = plan.scaler.scale
            rec["skipped_steps"] = skipped
        rec["energy_j"] = energy
        rec["avg_power_w"] = avg_w
        trace.append(rec)
        acc_txt = f"{acc:.2f}%" if acc is not None else "n/a"
        _log(
            spec.label,
            f"epoch {epoch}: loss {train_loss:.4f} val {acc_txt} train {train_s:.1f}s "
            f"eval {eval_s:.1f}s wall {wall:.1f}s",
        )

        if skipped and skipped == steps:
            status = Status.DIVERGED
            message = f"every step of epoch {epoch} overflowed at loss scale {plan.scaler.scale:g}"  # type: ignore[union-attr]
            break
        if not math.isfinite(train_loss):
            status = Status.DIVERGED
            message = f"training loss became non-finite in epoch {epoch} ({train_loss})"
            break
        if acc is not None:
            best = max(best, acc)
            stuck = stuck + 1 if acc <= task.chance + spec.stuck_margin else 0
            if stuck >= spec.stuck_epochs:
                status = Status.DIVERGED
                message = (
                    f"validation accuracy stuck at chance ({task.chance:.1f}%) for {stuck} epochs"
                )
                break
            if spec.threshold is not None and acc >= spec.threshold:
                reached_at = {
                    "epoch": epoch,
                    "wall_s": wall,
                    "eval_total_s": eval_total,
                    "energy_j": energy_total,
                }  # type: ignore[dict-item]
                break

    metrics = _metrics(
        spec,
        task,
        setup,
        first_step_s,
        trace,
        reached_at,
        eval_total,
        energy_total,
        energy_reason,
        best,
        status,
        power.reason,
    )
    config = {
        "setup": setup,
        "threshold": spec.threshold,
        "reached_threshold": reached_at is not None,
        "epochs_run": len(trace),
        "steps_per_epoch": trace[0]["steps"] if trace else None,
        "execution": "compile" if spec.compile_mode else "eager",
        "compile_mode": spec.compile_mode,
        **plan.describe(),
    }
    if plan.scaler is not None:
        config["loss_scale_history"] = [list(h) for h in plan.scaler.history[:1000]]
    if status is Status.OK and spec.threshold is not None and reached_at is None:
        message = (
            f"threshold {spec.threshold}% not reached in {len(trace)} epochs "
            f"(best {best:.2f}%); time and energy to threshold are unavailable"
        )
    if spec.threshold is None:
        message = "synthetic data: throughput only, no accuracy was measured"
    return TrainOutcome(status, message, metrics, trace, config)


def _metrics(
    spec: TrainSpec,
    task: Task,
    setup: dict[str, float],
    first_step_s: float | None,
    trace: list[dict[str, Any]],
    reached: dict[str, float] | None,
    eval_total: float,
    energy_total: float | None,
    energy_reason: str | None,
    best: float,
    status: Status,
    power_reason: str | None,
) -> dict[str, Metric]:
    m: dict[str, Metric] = {}
    setup_s = setup["data_s"] + setup["model_s"]
    m["setup_s"] = Metric(value=setup_s, unit="s")
    m["data_setup_s"] = Metric(value=setup["data_s"], unit="s")
    m["model_setup_s"] = Metric(value=setup["model_s"], unit="s")
    if spec.threshold is None:
        why = "synthetic data: throughput only, no accuracy claim"
    elif status is not Status.OK:
        why = f"the run {status.value}"
    else:
        why = f"threshold {spec.threshold}% not reached in {len(trace)} epochs"
    if reached is not None:
        m["time_to_threshold_s"] = Metric(value=reached["wall_s"], unit="s")
        m["time_to_threshold_no_eval_s"] = Metric(
            value=reached["wall_s"] - reached["eval_total_s"], unit="s"
        )
        m["epochs_to_threshold"] = Metric(value=reached["epoch"], unit="epochs")
        e = reached["energy_j"]
        m["energy_to_threshold_j"] = (
            Metric(value=e, unit="J")
            if e is not None
            else Metric.missing("J", energy_reason or power_reason or "no power reading")
        )
    else:
        for k, u in (
            ("time_to_threshold_s", "s"),
            ("time_to_threshold_no_eval_s", "s"),
            ("epochs_to_threshold", "epochs"),
            ("energy_to_threshold_j", "J"),
        ):
            m[k] = Metric.missing(u, why)
    total_wall = trace[-1]["wall_s"] if trace else 0.0
    m["total_wall_s"] = Metric(value=total_wall, unit="s")
    m["total_eval_s"] = Metric(value=eval_total, unit="s")
    m["epochs_run"] = Metric(value=len(trace), unit="epochs")
    if energy_total is not None and trace:
        m["energy_total_j"] = Metric(value=energy_total, unit="J")
        m["avg_power_w"] = Metric(value=energy_total / total_wall, unit="W")
    else:
        reason = energy_reason or power_reason or "no power reading"
        m["energy_total_j"] = Metric.missing("J", reason)
        m["avg_power_w"] = Metric.missing("W", reason)
    if first_step_s is not None and trace:
        first = trace[0]
        m["first_step_s"] = Metric(value=first_step_s, unit="s")
        rest = first["steps"] - 1
        if rest > 0:
            typical = (first["train_s"] - first_step_s) / rest
            m["first_step_overhead_s"] = Metric(value=max(first_step_s - typical, 0.0), unit="s")
        else:
            m["first_step_overhead_s"] = Metric.missing(
                "s", "one step per epoch: nothing to compare the first step with"
            )
        m["first_epoch_train_s"] = Metric(value=first["train_s"], unit="s")
        if first["samples_per_s"] is not None:
            m["first_epoch_samples_per_s"] = Metric(value=first["samples_per_s"], unit="samples/s")
            m["first_epoch_incl_setup_samples_per_s"] = Metric(
                value=task.n_train / (first["train_s"] + setup_s), unit="samples/s"
            )
        else:
            m["first_epoch_samples_per_s"] = Metric.missing(
                "samples/s", "the first epoch ended early"
            )
    steady = [r["samples_per_s"] for r in trace[1:] if r["samples_per_s"] is not None]
    if steady:
        mean = statistics.fmean(steady)
        m["steady_samples_per_s"] = Metric(value=mean, unit="samples/s")
        m["steady_samples_per_s_cv"] = (
            Metric(value=statistics.pstdev(steady) / mean, unit="ratio")
            if len(steady) > 1
            else Metric.missing("ratio", "one steady epoch: no spread to report")
        )
        if "first_epoch_samples_per_s" in m and m["first_epoch_samples_per_s"].value:
            m["first_over_steady_pct"] = Metric(
                value=100 * m["first_epoch_samples_per_s"].value / mean, unit="%"
            )  # type: ignore[operator]
    else:
        m["steady_samples_per_s"] = Metric.missing(
            "samples/s", "only one full epoch ran: the steady state starts at epoch 2"
        )
    accs = [r["val_accuracy"] for r in trace if r["val_accuracy"] is not None]
    if accs:
        m["final_accuracy"] = Metric(value=accs[-1], unit="%")
        m["best_accuracy"] = Metric(value=best, unit="%")
    else:
        why_acc = (
            "synthetic data: no accuracy claim"
            if spec.threshold is None
            else "no evaluation completed"
        )
        m["final_accuracy"] = Metric.missing("%", why_acc)
        m["best_accuracy"] = Metric.missing("%", why_acc)
    if spec.plan.scaler is not None:
        m["skipped_steps"] = Metric(value=spec.plan.scaler.skipped, unit="steps")
        m["final_loss_scale"] = Metric(value=spec.plan.scaler.scale, unit="x")
    return m
