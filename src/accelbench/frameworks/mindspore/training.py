"""ResNet-56 on CIFAR-10 in MindSpore: the ``resnet56-cifar10`` recipe, framework for framework.

Everything the recipe fixes is the same as in PyTorch, so a time-to-threshold ratio measures the
framework and not the recipe:

* **Model**: ResNet-(6n+2) with option-A shortcuts (He et al. 2016, section 4.2), the layers of
  :mod:`accelbench.models.resnet_cifar` one for one. Its initial weights are the PyTorch
  model's, built from the run's seed by the recipe and copied in, so both start from the same
  point. BatchNorm keeps PyTorch's running-average rate (MindSpore's ``momentum=0.9`` is
  PyTorch's ``momentum=0.1``) and epsilon 1e-5.
* **Data**: the same decoded CIFAR-10 (the recipe's loader and cache), the same per-epoch
  order, crops and flips (drawn from the same seeded generator as the PyTorch task), applied on
  the device with MindSpore operators; the tests check the batches are identical.
* **Optimiser and schedule**: ``mindspore.nn.SGD`` (its update equals ``torch.optim.SGD``'s:
  weight decay added to the gradient, momentum buffer starting at the first gradient, Nesterov)
  with weight decay on weights only, and the recipe's one-cycle learning rate as a per-step
  list (MindSpore's dynamic learning rate). Loss: cross entropy with the recipe's label
  smoothing; evaluation: top-1 and the plain cross entropy on the test split.
* **Timing**: the trainer's own epoch loop (first epoch apart from the steady mean, the first
  step apart, evaluation apart, divergence, power per epoch), with the device synchronised
  through MindSpore's runtime at the same points. ``graph`` compiles the training step (forward,
  backward and optimiser), the augmentation and the evaluation step with ``mindspore.jit``;
  compilation lands in the first step, reported as ``first_step_overhead_s``.

Precision: fp32 only. Mixed precision in MindSpore (``mindspore.amp``) is not wired here, so
other precisions are ``unsupported`` rather than silently run in fp32.

One MindSpore limitation is worked around: in PyNative mode on the CPU, the gradient of a
stepped slice (``x[:, :, ::2, ::2]``) fails with "StridedSliceGrad ... input memory out of
bounds" (MindSpore 2.10); ``ops.strided_slice`` computes the same subsampling and its gradient
works in both modes.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import mindspore as ms
import numpy as np
import torch
from mindspore import nn, ops

from accelbench.data.cifar10 import MEAN, STD
from accelbench.errors import Unsupported
from accelbench.frameworks.base import case_framework
from accelbench.training.task import Quality, top1
from accelbench.training.trainer import TrainOutcome, TrainSpec, _EpochWork, _Power, _Run

JIT = {"capture_mode": "ast", "jit_level": "O0"}


# -- model ---------------------------------------------------------------------------------------
def _conv3x3(c_in: int, c_out: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, pad_mode="pad", padding=1, has_bias=False)


def _bn(c: int) -> nn.BatchNorm2d:
    # MindSpore's momentum weighs the running value: 0.9 here is PyTorch's momentum=0.1.
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.9)


class BasicBlock(nn.Cell):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = _bn(c_out)
        self.conv2 = _conv3x3(c_out, c_out, 1)
        self.bn2 = _bn(c_out)
        self.stride, self.pad = stride, c_out - c_in

    def shortcut(self, x: Any) -> Any:
        """Option A: subsample by the stride, zero-pad the new channels (half each side)."""
        if self.stride != 1:
            x = ops.strided_slice(x, (0, 0, 0, 0), x.shape, (1, 1, self.stride, self.stride))
        if self.pad:
            x = ops.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def construct(self, x: Any) -> Any:
        out = ops.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return ops.relu(out + self.shortcut(x))


class ResNetCifar(nn.Cell):
    """The MindSpore twin of :class:`accelbench.models.resnet_cifar.ResNetCifar` (same layers,
    same names up to MindSpore's BatchNorm parameter names)."""

    def __init__(
        self, n: int = 9, num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 64)
    ) -> None:
        super().__init__()
        self.conv = _conv3x3(3, widths[0], 1)
        self.bn = _bn(widths[0])
        blocks = []
        c_in = widths[0]
        for i, w in enumerate(widths):
            for j in range(n):
                blocks.append(BasicBlock(c_in, w, 2 if (i > 0 and j == 0) else 1))
                c_in = w
        self.blocks = nn.SequentialCell(blocks)
        self.fc = nn.Dense(c_in, num_classes)

    def construct(self, x: Any) -> Any:
        x = ops.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        return self.fc(x.mean(axis=(2, 3)))


_BN_NAMES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def copy_weights(net: nn.Cell, model: torch.nn.Module) -> None:
    """Load a PyTorch ResNetCifar's parameters and BatchNorm statistics into ``net``."""
    ms_params = {p.name: p for p in net.get_parameters()}
    bn_prefixes = {
        name for name, mod in model.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)
    }
    loaded = set()
    for key, value in model.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        target = f"{prefix}.{_BN_NAMES[leaf]}" if prefix in bn_prefixes else key
        if target not in ms_params:
            raise RuntimeError(f"PyTorch parameter {key} has no MindSpore twin {target}")
        arr = value.detach().to("cpu", torch.float32).contiguous().numpy()
        ms_params[target].set_data(ms.Tensor(arr))
        loaded.add(target)
    missing = sorted(set(ms_params) - loaded)
    if missing:
        raise RuntimeError(f"MindSpore parameters not loaded from PyTorch: {missing[:5]}")


# -- data ----------------------------------------------------------------------------------------
class MsCifarTask:
    """The PyTorch recipe's CIFAR task (same decoded images, same per-epoch draws), served as
    MindSpore tensors augmented on the device."""

    quality = top1(10)

    def __init__(self, host_task: Any, graph: bool) -> None:
        self.seed, self.bs, self.steps = host_task.seed, host_task.bs, host_task.steps
        self.n_train = host_task.n_train
        self.x = ms.Tensor(host_task.x.cpu().numpy())  # uint8, [N, 3, 32, 32]
        self.y = ms.Tensor(host_task.y.cpu().numpy().astype(np.int32))
        self.tx = ms.Tensor(host_task.tx.cpu().numpy())
        self.ty = ms.Tensor(host_task.ty.cpu().numpy().astype(np.int32))
        self.mean = ms.Tensor(np.array(MEAN, np.float32).reshape(1, 3, 1, 1) * 255)
        self.std = ms.Tensor(np.array(STD, np.float32).reshape(1, 3, 1, 1) * 255)
        self.ar = ms.Tensor(np.arange(32, dtype=np.int32))
        self._augment = ms.jit(self.augment, **JIT) if graph else self.augment
        self._normalise = ms.jit(self.normalise, **JIT) if graph else self.normalise

    def normalise(self, x: Any) -> Any:
        return (x.astype(ms.float32) - self.mean) / self.std

    def augment(self, x: Any, idx: Any, shifts: Any, flips: Any) -> Any:
        """Random 32x32 crop of the 4-pixel zero-padded image, then a horizontal flip: the
        PyTorch task's indexing, as two gathers."""
        xb = ops.pad(ops.gather(x, idx, 0).astype(ms.float32), (4, 4, 4, 4))
        b = xb.shape[0]
        rows = shifts[:, 0:1] + self.ar[None, :]
        cols = shifts[:, 1:2] + self.ar[None, :]
        cols = ops.where(flips[:, None], ops.flip(cols, (1,)), cols)
        xb = ops.gather_elements(xb, 2, rows[:, None, :, None].broadcast_to((b, 3, 32, 40)))
        xb = ops.gather_elements(xb, 3, cols[:, None, None, :].broadcast_to((b, 3, 32, 32)))
        return self.normalise(xb)

    def draws(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The PyTorch task's draws for ``epoch``: order, crop offsets, flips."""
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        perm = torch.randperm(self.n_train, generator=g)
        shifts = torch.randint(0, 9, (self.n_train, 2), generator=g)
        flips = torch.rand(self.n_train, generator=g) < 0.5
        return (
            perm.numpy().astype(np.int32),
            shifts.numpy().astype(np.int32),
            flips.numpy(),
        )

    def train_batches(self, epoch: int) -> Any:
        perm, shifts, flips = self.draws(epoch)
        bs = min(self.bs, self.n_train)
        for i in range(self.steps):
            sl = slice(i * bs, (i + 1) * bs)
            idx = ms.Tensor(perm[sl])
            x = self._augment(self.x, idx, ms.Tensor(shifts[sl]), ms.Tensor(flips[sl]))
            yield (x,), ops.gather(self.y, idx, 0)

    def eval_batches(self) -> Any:
        n = self.ty.shape[0]
        for i in range(0, n, 1024):
            yield (self._normalise(self.tx[i : i + 1024]),), self.ty[i : i + 1024]

    def samples_in(self, batch: Any) -> int:
        return int(batch[1].shape[0])


# -- the run -------------------------------------------------------------------------------------
class MsRun(_Run):
    """The trainer's run (epochs, records, threshold, divergence, metrics) with MindSpore's
    setup, training step and evaluation."""

    def __init__(
        self, spec: TrainSpec, device: Any, t0: float, power: _Power, ms_build: Any
    ) -> None:
        super().__init__(spec, device, t0, power)
        self.ms_build = ms_build

    def setup(self) -> None:
        spec, b = self.spec, self.ms_build
        self.task = spec.load_task()
        self.sync()
        t_data = time.perf_counter()
        self.model = b.model()
        self.train_step, self.eval_step, self.lr_at = b.steps(self.model, self.task.steps)
        self.sync()
        t_model = time.perf_counter()
        self.setup_s = {"data_s": t_data - self.t0, "model_s": t_model - t_data}

    def train_epoch(self, epoch: int) -> _EpochWork:
        self.model.set_train(True)
        te0 = time.perf_counter()
        loss_sum = ms.Tensor(0.0, ms.float32)
        steps = samples = 0
        wait = 0.0
        batches = iter(self.task.train_batches(epoch))
        while True:
            w0 = time.perf_counter()
            batch = next(batches, None)
            wait += time.perf_counter() - w0
            if batch is None:
                break
            (x,), y = batch
            loss_sum = loss_sum + self.train_step(x, y)
            samples += self.task.samples_in(batch)
            self.step += 1
            steps += 1
            if self.first_step_s is None:
                self.sync()
                self.first_step_s = time.perf_counter() - te0
            if steps % 100 == 0 and not bool(ops.isfinite(loss_sum).asnumpy()):
                break  # diverged: no point finishing the epoch
        self.sync()
        train_s = time.perf_counter() - te0
        mean_loss = float(loss_sum.asnumpy()) / steps if steps else math.nan
        return _EpochWork(train_s, mean_loss, steps, 0, samples, None, wait)

    def evaluate(self) -> tuple[Quality | None, float]:
        if not self.spec.evaluate:
            return None, 0.0
        self.model.set_train(False)
        ev0 = time.perf_counter()
        correct = ms.Tensor(0, ms.int32)
        loss = ms.Tensor(0.0, ms.float32)
        total = 0
        for (x,), y in self.task.eval_batches():
            c, s = self.eval_step(x, y)
            correct, loss = correct + c, loss + s
            total += int(y.shape[0])
        n = max(total, 1)
        quality = Quality(
            self.task.quality,
            100.0 * float(correct.asnumpy()) / n,
            {"val_loss": float(loss.asnumpy()) / n, "val_samples": float(total)},
        )
        self.sync()
        return quality, time.perf_counter() - ev0

    def outcome(self) -> TrainOutcome:
        out = super().outcome()
        out.config["execution"] = self.ms_build.execution
        out.config["compile_mode"] = dict(JIT) if self.ms_build.graph else None
        return out


class ResNetBuild:
    """How MindSpore builds the recipe's model, optimiser and steps for one run."""

    def __init__(self, recipe: Any, torch_model: Any, execution: str, total_steps: Any) -> None:
        self.p, self.torch_model = recipe.params, torch_model
        self.execution, self.graph = execution, execution == "graph"
        self.total_steps = total_steps

    def model(self) -> ResNetCifar:
        net = ResNetCifar(n=self.p.blocks)
        copy_weights(net, self.torch_model())
        return net

    def steps(self, net: ResNetCifar, steps_per_epoch: int) -> tuple[Any, Any, Any]:
        """(train step, eval step, learning rate at step) for ``net``."""
        from accelbench.training.recipes.resnet56_cifar10 import one_cycle

        p = self.p
        schedule = steps_per_epoch * (p.schedule_epochs or p.max_epochs)
        lr_at = one_cycle(p.lr, schedule, p.warmup_fraction)
        lrs = [lr_at(s) for s in range(self.total_steps(steps_per_epoch))]
        params = net.trainable_params()
        opt = nn.SGD(
            [
                {"params": [q for q in params if q.ndim > 1], "weight_decay": p.weight_decay},
                {"params": [q for q in params if q.ndim <= 1], "weight_decay": 0.0},
            ],
            learning_rate=lrs,
            momentum=p.momentum,
            nesterov=p.nesterov,
        )
        smoothing = float(p.label_smoothing)

        def loss_of(x: Any, y: Any) -> Any:
            return ops.cross_entropy(net(x), y, label_smoothing=smoothing)

        grad_fn = ms.value_and_grad(loss_of, None, opt.parameters)

        def train_step(x: Any, y: Any) -> Any:
            loss, grads = grad_fn(x, y)
            opt(grads)
            return loss

        def eval_step(x: Any, y: Any) -> Any:
            out = net(x)
            correct = (out.argmax(axis=1).astype(ms.int32) == y).astype(ms.int32).sum()
            return correct, ops.cross_entropy(out, y, reduction="sum")

        if self.graph:
            return ms.jit(train_step, **JIT), ms.jit(eval_step, **JIT), lr_at
        return train_step, eval_step, lr_at


def train(fw: Any, recipe: Any, case: dict[str, Any], ctx: Any) -> Any:
    """One MindSpore training case of ``recipe`` (only ``resnet56-cifar10``), as a result."""
    if recipe.kind != "resnet56-cifar10":
        raise Unsupported(f"accelbench has no MindSpore training path for {recipe.kind}")
    if case["precision"] != "fp32":
        raise Unsupported(
            f"MindSpore training runs fp32 only here; {case['precision']} (mindspore.amp) is "
            "not wired"
        )
    _, execution = case_framework(case)
    # The PyTorch recipe's data (fetched if missing), loader, model and FLOPs, on the host.
    setup, b = recipe.prepare(case, ctx, on_host=True)
    spec = recipe.train_spec(setup, b)
    graph = execution == "graph"
    p = recipe.params

    def total_steps(steps_per_epoch: int) -> int:
        return steps_per_epoch * max(p.schedule_epochs or p.max_epochs, p.max_epochs)

    ms_build = ResNetBuild(recipe, b.build_model, execution, total_steps)
    spec = replace(spec, load_task=lambda: MsCifarTask(b.load_task(), graph), compile_mode=None)
    windows = _Power(ctx.power)
    with fw.errors():
        t0 = time.perf_counter()
        windows.start()
        try:
            outcome = MsRun(spec, fw.adapter, t0, windows, ms_build).run()
        finally:
            windows.close()
    out = recipe.case_output(setup, b, outcome)
    out.framework = fw.environment(execution)
    out.config["framework"] = {
        "api": "mindspore.nn.SGD, mindspore.value_and_grad, mindspore.ops.cross_entropy",
        "initial_weights": "the PyTorch recipe's model from the run's seed, copied in",
        **({"jit": dict(JIT)} if graph else {}),
    }
    return out
