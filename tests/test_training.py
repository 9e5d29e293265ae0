"""The trainer, precision modes and the training workloads, on the CPU and the fake device."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from accelbench.analysis.derived import derived_metrics
from accelbench.analysis.training import repeat_groups, training_runs
from accelbench.api import run_suite
from accelbench.api.references import build_references
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Basis, PeakRef, Result, Status, upgrade_record
from accelbench.training.precision import LossScaler, PrecisionPlan
from accelbench.training.recipe import training_flops_per_sample
from accelbench.training.task import (
    ClassificationTask,
    EvalContext,
    Quality,
    QualitySpec,
    top1,
)
from accelbench.training.trainer import TrainSpec, run_training
from tests.helpers import CLI, cli_subprocess, db_count, tiny_suite, write_suite
from tests.test_training_data import write_imdb

del CLI, tiny_suite


class Blobs(ClassificationTask):
    """Two Gaussian blobs in 8-D: learnable to ~100% by a linear model in a few epochs."""

    quality = top1(2)

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
    assert out.trace[-1].metric >= 95.0
    assert all(r.metric < 95.0 for r in out.trace[:-1])  # stops at the first epoch
    assert m["epochs_to_threshold"] == len(out.trace) == m["epochs_run"]
    assert m["time_to_threshold_s"] == pytest.approx(out.trace[-1].wall_s)
    evals = sum(r.eval_s for r in out.trace)
    assert m["time_to_threshold_no_eval_s"] == pytest.approx(m["time_to_threshold_s"] - evals)
    assert m["time_to_threshold_s"] > m["setup_s"] + out.trace[0].train_s - 1e-9
    assert {"epoch", "wall_s", "train_s", "eval_s", "train_loss", "samples_per_s"} <= set(
        out.trace[0].model_dump(exclude_none=True)
    )
    assert m["first_epoch_samples_per_s"] == pytest.approx(256 / out.trace[0].train_s)
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
    assert out.metrics["skipped_steps"].value == out.trace[0].steps == 8
    assert out.metrics["final_loss_scale"].value == 1e10
    assert out.trace[0].skipped_steps == 8


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
    assert out.status is Status.OK and "no quality was measured" in (out.message or "")
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
    assert r.trace and r.trace[0].epoch == 1 and len(r.trace) == r.metric("epochs_run")
    assert r.config["hyperparameters"]["lr"] == 0.02 and r.config["data"]["layout"] == "aclImdb"
    assert r.config["quality_claim"] is True
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
    assert str(tmp_path / "nothing") in (r.message or "")
    assert "cifar10-jpeg.tar.gz" in (r.message or "")
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


# -- any quality metric ------------------------------------------------------------------------
class Regression(Blobs):
    """A lower-is-better metric: validation mean squared error of the positive-class logit
    margin against a target of +-4 (a stand-in for perplexity or log-loss)."""

    quality = QualitySpec("mse", "mse", higher_is_better=False, chance=16.0, stuck_margin=0.5)

    def evaluate(self, ctx: EvalContext) -> Quality:
        with torch.no_grad():
            out = ctx.forward(self.x).float()
        margin = out[:, 1] - out[:, 0]
        target = (self.y.float() * 2 - 1) * 4
        return Quality(self.quality, float(((margin - target) ** 2).mean()), {"n": len(self.y)})


class Auc(Blobs):
    """A higher-is-better metric on another scale: ROC AUC (chance 0.5)."""

    quality = QualitySpec("auc", "AUC", higher_is_better=True, chance=0.5, stuck_margin=0.01)

    def evaluate(self, ctx: EvalContext) -> Quality:
        with torch.no_grad():
            score = ctx.forward(self.x).float().softmax(1)[:, 1]
        pos, neg = score[self.y == 1], score[self.y == 0]
        auc = (pos[:, None] > neg[None, :]).float().mean().item()
        return Quality(self.quality, auc, {"pairs": float(len(pos) * len(neg))})


def test_a_lower_is_better_metric_stops_when_it_falls_below_the_threshold() -> None:
    s = spec(threshold=0.5, max_epochs=40, lr=0.01)
    s.load_task, s.loss_fn = Regression, _margin_loss
    out = run_training(s, FakeDevice())
    assert out.status is Status.OK and out.config["reached_threshold"] is True, out.message
    assert out.trace[-1].metric <= 0.5 < out.trace[0].metric
    assert all(r.metric > 0.5 for r in out.trace[:-1])  # the first crossing ends the run
    assert out.trace[-1].metric_name == "mse" and out.config["quality_metric"]["unit"] == "mse"
    assert out.metrics["best_metric"].value == out.trace[-1].metric
    assert "final_accuracy" not in out.metrics  # no accuracy invented for a non-accuracy metric


def _margin_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out[:, 1] - out[:, 0]) - (y.float() * 2 - 1) * 4).pow(2).mean()


def test_an_auc_task_reaches_its_threshold() -> None:
    s = spec(threshold=0.99)
    s.load_task = Auc
    out = run_training(s, FakeDevice())
    assert out.status is Status.OK and out.config["reached_threshold"] is True
    assert out.trace[-1].metric >= 0.99 and out.trace[-1].metric_name == "auc"
    assert out.trace[-1].secondary["pairs"] == 128 * 128
    assert out.metrics["time_to_threshold_s"].value == pytest.approx(out.trace[-1].wall_s)


def test_divergence_is_judged_against_the_metrics_own_trivial_level() -> None:
    """AUC at 0.5 is chance; the same model judged on accuracy would be at 50%, far from an
    AUC threshold's scale: the trainer must use the task's own trivial level."""

    class BiasOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bias.expand(len(x), 2)

    s = spec(model=BiasOnly(), stuck_epochs=2, threshold=0.8)
    s.load_task = Auc
    out = run_training(s, FakeDevice())
    assert out.status is Status.DIVERGED and "auc stuck at chance (0.5" in (out.message or "")
    assert [r.metric for r in out.trace] == [0.0, 0.0]  # constant scores: no pair ranked right


def test_mfu_against_a_hand_count_for_a_tiny_mlp() -> None:
    """Linear(8->16) and Linear(16->2) without biases: forward 2 x (8*16 + 16*2) = 320 FLOPs per
    sample; backward computes both weight gradients (320) and the second layer's input
    gradient (2 x 16*2 = 64), not the first layer's: 704 training FLOPs per sample."""

    def mlp() -> nn.Module:
        return nn.Sequential(nn.Linear(8, 16, bias=False), nn.Linear(16, 2, bias=False))

    s = spec(model=mlp(), threshold=None, max_epochs=3, evaluate=False)
    s.flops_per_sample = lambda task, model: training_flops_per_sample(mlp, torch.zeros(1, 8))
    out = run_training(s, FakeDevice())
    m = out.metrics
    assert m["train_flops_per_sample"].value == 704
    sps = m["steady_samples_per_s"].value
    assert m["model_gflops"].value == pytest.approx(704 * sps / 1e9)
    dev = FakeDevice()
    basis = Basis(compute_dtype="float32", compute_metric="model_gflops", utilisation="mfu")
    refs = build_references(basis, dev.info(), measured_peak=PeakRef(value=1e9))
    derived = derived_metrics(m, refs)
    assert derived["mfu_measured"].value == pytest.approx(100 * 704 * sps / 1e9)
    # the fake's datasheet: 10 TFLOPS float32
    assert derived["mfu_datasheet"].value == pytest.approx(100 * 704 * sps / 10e12)


# -- repeats ---------------------------------------------------------------------------------
def test_repeats_are_separate_runs_with_their_own_seeds_and_resume_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed during the second of three runs, a rerun measures the second and third only:
    nothing lost, nothing stored twice, each run with its seed."""
    import accelbench.api.runner as runner
    from accelbench.api import load_suite

    params = {**LSTM_TINY, "data": "synthetic", "synthetic_size": 64, "repeats": 3}
    suite = load_suite(str(_suite(tmp_path, params)))
    db = tmp_path / "r.db"
    real, calls = runner.run_case, []

    def interrupted_on_the_second(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(runner, "run_case", interrupted_on_the_second)
    first = run_suite(suite, device=FakeDevice(), db=db, power=False)
    assert first.interrupted and len(first.results) == 1
    monkeypatch.setattr(runner, "run_case", real)
    second = run_suite(suite, device=FakeDevice(), db=db, power=False)
    assert len(second.results) == 2 and second.skipped_already_stored == 1
    assert db_count(db) == 3
    runs = [*first.results, *second.results]
    assert sorted(r.config["seed"] for r in runs) == [0, 1, 2]
    assert [r.case.get("run") for r in runs] == [None, 1, 2]
    assert len({r.case_key for r in runs}) == 3


def test_repeat_groups_follow_mlperf() -> None:
    from tests.analysis_data import result

    times = [100.0, 90.0, 130.0, 95.0, 110.0]
    rs = [
        result(
            "lstm-imdb",
            {"precision": "fp32", **({"run": i} if i else {})},
            {"time_to_threshold_s": t},
            units={"time_to_threshold_s": "s"},
            workload="lstm",
        )
        for i, t in enumerate(times)
    ]
    rs.append(
        result(
            "lstm-imdb",
            {"precision": "fp32", "run": 5},
            {"steady_samples_per_s": 10.0},
            status=Status.DIVERGED,
            workload="lstm",
            trace=[{"epoch": 1, "wall_s": 9.0, "train_s": 8.0}],
        )
    )
    (g,) = repeat_groups(rs)
    assert g.runs == 6 and g.reached == 5 and g.missed == [rs[-1].result_id]
    assert g.mean_s == pytest.approx(105.0) and g.median_s == 100.0
    assert g.min_s == 90.0 and g.max_s == 130.0
    assert g.mlperf_mean_s == pytest.approx((95.0 + 100.0 + 110.0) / 3)


def test_a_version_2_training_record_still_loads_typed() -> None:
    from tests.analysis_data import result

    r = result("lstm-imdb", {"precision": "fp32"}, {"time_to_threshold_s": 5.0})
    data = r.model_dump(mode="json")
    data.pop("references")
    data.pop("description")
    data["schema_version"] = 2
    data["trace"] = [
        {
            "epoch": 1,
            "wall_s": 3.0,
            "train_s": 2.0,
            "eval_s": 0.5,
            "train_loss": 0.7,
            "val_accuracy": 77.68,
            "steps": 391,
            "samples_per_s": 200.3,
            "lr_end": 0.002,
        },
        {
            "epoch": 2,
            "wall_s": 6.0,
            "train_s": 2.0,
            "eval_s": 0.5,
            "train_loss": float("nan"),
            "val_accuracy": 84.08,
            "steps": 391,
            "samples_per_s": 194.8,
            "lr_end": 0.002,
            "energy_j": None,
        },
    ]
    up = Result.model_validate(upgrade_record(data))
    assert [e.metric for e in up.trace] == [77.68, 84.08]
    assert {e.metric_name for e in up.trace} == {"top1"}
    assert up.trace[1].train_loss is None  # a non-finite loss is not a number to keep
    (t,) = training_runs([up])
    assert t.metric == [77.68, 84.08] and t.samples_per_s == [200.3, 194.8]
