"""The trainer, precision modes and the training workloads, on the CPU and the fake device."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from accelbench.api import run_suite
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Status
from accelbench.training.precision import LossScaler, PrecisionPlan
from accelbench.training.trainer import TrainSpec, run_training
from tests.helpers import CLI, cli_subprocess, db_count, tiny_suite, write_suite
from tests.test_training_data import write_imdb

del CLI, tiny_suite


class Blobs:
    """Two Gaussian blobs in 8-D: learnable to ~100% by a linear model in a few epochs."""

    chance = 50.0

    def __init__(self, n: int = 256, batch: int = 32, seed: int = 0, flip: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % 2
        x = torch.randn(n, 8, generator=g) + (y[:, None] * 2 - 1) * 1.5
        self.x, self.y, self.bs, self.n_train = x, y, batch, n
        self.steps = n // batch

    def train_batches(self, epoch: int) -> Any:
        perm = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(epoch))
        for i in range(self.steps):
            idx = perm[i * self.bs : (i + 1) * self.bs]
            yield (self.x[idx],), self.y[idx]

    def eval_batches(self) -> Any:
        yield (self.x,), self.y


def spec(
    lr: float = 0.1,
    threshold: float | None = 95.0,
    max_epochs: int = 10,
    precision: str = "fp32",
    loss_scale: float | None = None,
    model: nn.Module | None = None,
    **kw: Any,
) -> TrainSpec:
    torch.manual_seed(0)
    return TrainSpec(
        load_task=Blobs,
        build_model=lambda: model or nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
        make_optimizer=lambda params, steps: (torch.optim.SGD(params, lr=lr), lambda s: lr),
        loss_fn=lambda out, y: nn.functional.cross_entropy(out.float(), y),
        plan=PrecisionPlan(precision, "cpu", loss_scale=loss_scale),
        max_epochs=max_epochs,
        threshold=threshold,
        **kw,
    )


def test_tiny_model_reaches_threshold_and_reports_the_curve() -> None:
    out = run_training(spec(), FakeDevice())
    m = {k: v.value for k, v in out.metrics.items()}
    assert out.status is Status.OK and out.config["reached_threshold"] is True
    assert out.trace[-1]["val_accuracy"] >= 95.0
    assert all(r["val_accuracy"] < 95.0 for r in out.trace[:-1])  # stops at the first epoch
    assert m["epochs_to_threshold"] == len(out.trace) == m["epochs_run"]
    assert m["time_to_threshold_s"] == pytest.approx(out.trace[-1]["wall_s"])
    evals = sum(r["eval_s"] for r in out.trace)
    assert m["time_to_threshold_no_eval_s"] == pytest.approx(m["time_to_threshold_s"] - evals)
    assert m["time_to_threshold_s"] > m["setup_s"] + out.trace[0]["train_s"] - 1e-9
    assert {"epoch", "wall_s", "train_s", "eval_s", "train_loss", "samples_per_s"} <= set(
        out.trace[0]
    )
    assert m["first_epoch_samples_per_s"] == pytest.approx(256 / out.trace[0]["train_s"])
    # No power meter on a bare fake: energy is unavailable with the reason, never invented.
    assert out.metrics["energy_to_threshold_j"].unavailable


def test_threshold_not_reached_is_ok_but_says_so() -> None:
    out = run_training(spec(threshold=100.0, max_epochs=2, lr=1e-3), FakeDevice())
    assert out.status is Status.OK and out.config["reached_threshold"] is False
    assert "not reached in 2 epochs" in (out.message or "")
    assert out.metrics["time_to_threshold_s"].value is None
    assert "not reached" in (out.metrics["time_to_threshold_s"].unavailable or "")
    assert out.metrics["steady_samples_per_s"].value is not None  # epoch 2 is the steady state


def test_huge_learning_rate_diverges() -> None:
    out = run_training(spec(lr=1e6), FakeDevice())
    assert out.status is Status.DIVERGED
    assert "non-finite" in (out.message or "")
    assert out.metrics["time_to_threshold_s"].value is None


def test_accuracy_stuck_at_chance_diverges() -> None:
    class BiasOnly(nn.Module):
        """Ignores its input: one class for every sample, so 50% on balanced data."""

        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bias.expand(len(x), 2)

    out = run_training(spec(model=BiasOnly(), stuck_epochs=2), FakeDevice())
    assert out.status is Status.DIVERGED and "stuck at chance" in (out.message or "")
    assert len(out.trace) == 2


def test_loss_scaler_counts_overflows_and_keeps_a_fixed_scale() -> None:
    fixed = LossScaler(fixed=8.0)
    grads = [torch.tensor([8.0, 16.0]), torch.tensor([float("inf")])]
    assert fixed.unscale_and_check(grads) is True
    fixed.update(True)
    assert fixed.unscale_and_check([torch.tensor([8.0])]) is False
    fixed.update(False)
    assert (fixed.skipped, fixed.steps, fixed.scale) == (1, 2, 8.0)
    dyn = LossScaler(growth_interval=2)
    dyn.update(True)
    dyn.update(False)
    dyn.update(False)
    assert dyn.scale == 2.0**16  # halved on overflow, doubled after 2 clean steps
    assert dyn.history == [(0, 2.0**16), (1, 2.0**15), (3, 2.0**16)]
    g = torch.tensor([4.0])
    LossScaler(fixed=4.0).unscale_and_check([g])
    assert g.item() == 1.0  # unscaled in place


def test_pure_fp16_with_a_scale_that_must_overflow_skips_every_step() -> None:
    """float16 tops out at 65504: with a fixed scale of 1e10 every gradient that reaches a
    float16 tensor is inf, so every step is skipped and the run is reported diverged."""
    out = run_training(spec(precision="fp16", loss_scale=1e10, max_epochs=3), FakeDevice())
    assert out.status is Status.DIVERGED and "overflowed" in (out.message or "")
    assert out.metrics["skipped_steps"].value == out.trace[0]["steps"] == 8
    assert out.metrics["final_loss_scale"].value == 1e10
    assert out.trace[0]["skipped_steps"] == 8


def test_pure_fp16_dynamic_scale_backs_off_then_learns() -> None:
    out = run_training(spec(precision="fp16", loss_scale=None, lr=0.2), FakeDevice())
    assert out.status is Status.OK, out.message
    hist = out.config["loss_scale_history"]
    assert hist[0] == [0, 65536.0]
    assert out.metrics["skipped_steps"].value == len(hist) - 1  # one halving per overflow
    assert out.config["batchnorm"] == "fp32"


def test_amp_bf16_reaches_threshold() -> None:
    out = run_training(spec(precision="amp-bf16"), FakeDevice())
    assert out.status is Status.OK and out.config["reached_threshold"]
    assert "skipped_steps" not in out.metrics  # bfloat16 needs no loss scaling


def test_synthetic_mode_makes_no_accuracy_claim() -> None:
    out = run_training(spec(threshold=None, max_epochs=2, evaluate=False), FakeDevice())
    assert out.status is Status.OK and "no accuracy" in (out.message or "")
    assert out.metrics["final_accuracy"].value is None
    assert "synthetic" in (out.metrics["time_to_threshold_s"].unavailable or "")


# -- workloads through the API --------------------------------------------------------------
LSTM_TINY = {
    "max_epochs": 8,
    "batch_size": 4,
    "lr": 0.02,
    "vocab_size": 50,
    "max_len": 12,
    "embed_dim": 8,
    "hidden": 8,
    "dropout": 0.0,
    "threshold": 100.0,
}


def _suite(tmp_path: Path, params: dict[str, Any], kind: str = "lstm-imdb") -> Path:
    return write_suite(
        tmp_path / "s.yaml",
        {
            "name": "train-test",
            "seed": 0,
            "workloads": [{"name": "w", "kind": kind, "params": params}],
        },
    )


def _many_reviews(root: Path) -> None:
    d = write_imdb(root)
    words = {
        "pos": ["great", "wonderful", "loved", "fun"],
        "neg": ["awful", "boring", "bad", "dull"],
    }
    for split in ("train", "test"):
        for label, ws in words.items():
            for i in range(12):
                text = f"the film was {ws[i % 4]} and {ws[(i + 1) % 4]} ."
                (d / split / label / f"{100 + i}_5.txt").write_text(text)


def test_lstm_imdb_learns_real_format_data_and_does_not_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCELBENCH_CACHE_DIR", str(tmp_path / "cache"))
    _many_reviews(tmp_path / "data")
    from accelbench.api import load_suite

    suite = load_suite(str(_suite(tmp_path, LSTM_TINY)))
    db = tmp_path / "r.db"
    rep = run_suite(suite, device=FakeDevice(), db=db, data_dir=tmp_path / "data", power=False)
    (r,) = rep.results
    assert r.status is Status.OK, r.message
    assert r.config["reached_threshold"] is True and r.metric("final_accuracy") == 100.0
    assert r.trace and r.trace[0]["epoch"] == 1 and len(r.trace) == r.metric("epochs_run")
    assert r.config["hyperparameters"]["lr"] == 0.02 and r.config["data"]["layout"] == "aclImdb"
    assert r.config["accuracy_claim"] is True
    # A repeated run finds it stored and adds nothing.
    rep2 = run_suite(suite, device=FakeDevice(), db=db, data_dir=tmp_path / "data", power=False)
    assert rep2.results == [] and rep2.skipped_already_stored == 1
    assert db_count(db) == 1
    # The report reads the real trainer's trace: curve, threshold and time to threshold.
    from accelbench.analysis import training_runs
    from accelbench.api.sources import select_runs
    from accelbench.report.document import build_report
    from accelbench.results.store import Store

    (t,) = training_runs([r])
    assert t.metric[-1] == 100.0 and t.threshold == r.config["params"]["threshold"]
    assert t.time_to_threshold_s == r.metric("time_to_threshold_s") and t.wall_s[-1] > 0
    with Store(db) as st:
        doc = build_report(select_runs(st, str(db)))
    assert "training" in [sec.id for sec in doc.sections]


def test_missing_data_is_a_stored_error_naming_the_path(tmp_path: Path) -> None:
    from accelbench.api import load_suite

    suite = load_suite(str(_suite(tmp_path, {"max_epochs": 1}, kind="resnet56-cifar10")))
    rep = run_suite(suite, device=FakeDevice(), db=tmp_path / "r.db", data_dir=tmp_path / "nothing")
    (r,) = rep.results
    assert r.status is Status.ERROR
    assert str(tmp_path / "nothing" / "cifar10-jpeg.tar.gz") in (r.message or "")
    assert "--data-dir" in (r.message or "")


def test_cases_expand_precision_loss_scale_and_batchnorm() -> None:
    from accelbench.workloads import WORKLOADS

    wl = WORKLOADS.get("resnet56-cifar10").from_dict(
        {
            "precisions": ["fp32", "amp-fp16", "fp16"],
            "loss_scales": ["dynamic", 128.0],
            "batchnorm": ["fp32", "fp16"],
        }
    )
    cases = wl.cases()
    assert len(cases) == 1 + 2 + 4
    assert {
        "precision": "fp16",
        "dtype": "float16",
        "execution": "eager",
        "loss_scale": 128.0,
        "batchnorm": "fp16",
    } in cases


def test_cli_bad_param_names_the_field(tmp_path: Path) -> None:
    path = _suite(tmp_path, {"max_epochs": 0, "threshold": 83.5})
    res = cli_subprocess("run", str(path), "--device", "fake", "--db", str(tmp_path / "x.db"))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "max_epochs" in res.stderr
    path = _suite(tmp_path, {"precisions": ["fp8"]})
    res = cli_subprocess("run", str(path), "--device", "fake", "--db", str(tmp_path / "x.db"))
    assert res.returncode != 0 and "precisions" in res.stderr


def test_resnet56_has_the_papers_size() -> None:
    from accelbench.models.resnet_cifar import resnet56

    # He et al. 2016, Table 6: ResNet-56 has 0.85 M parameters; with option-A (parameter-free)
    # shortcuts the exact count is 853,018.
    n_params = sum(p.numel() for p in resnet56().parameters())
    assert n_params == 853018
    out = resnet56()(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10) and math.isfinite(out.sum().item())
