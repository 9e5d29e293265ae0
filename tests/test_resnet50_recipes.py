"""The ResNet-50 recipes as a user runs them: resnet50-imagenet on a small tree of real JPEGs in
ImageNet's layout, without ImageNet (a stored error saying how to get it), in synthetic mode
through ``accelbench run``; its schedule and optimiser; resnet50-cifar224 on the real CIFAR-10
JPEGs when they are present."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from accelbench.cli import main
from accelbench.devices.cpu import CpuDevice
from accelbench.results.store import Store
from accelbench.timing.settings import MeasureSettings
from accelbench.training.recipes.resnet50_imagenet import ResNet50ImageNet, warmup_cosine
from accelbench.workloads import WORKLOADS, RunContext
from tests.test_imagenet import WNIDS, shared_data, write_imagenet


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _run(kind: str, params: dict[str, Any], data_dir: Path | None = None) -> Any:
    wl = WORKLOADS.get(kind).from_dict(params)
    dev = CpuDevice()
    ctx = RunContext(dev, dev.info(), MeasureSettings(), data_dir=data_dir, offline=True)
    with dev.case_scope():
        return wl.run_case(wl.cases()[0], ctx)


def test_defaults_are_nvidias_single_node_recipe_to_mlperfs_threshold() -> None:
    p = ResNet50ImageNet.from_dict({}).params
    assert p.threshold == 75.9 and p.batch_size == 256 and p.lr == 0.256
    assert p.momentum == 0.875 and not p.nesterov and p.weight_decay == 1 / 32768
    assert p.label_smoothing == 0.1 and p.max_epochs == p.schedule_epochs == 90
    assert "DeepLearningExamples" in ResNet50ImageNet.summary["source"]
    assert "MLPerf" in ResNet50ImageNet.summary["threshold_source"]
    cifar = WORKLOADS.get("resnet50-cifar224").from_dict({}).params
    assert cifar.threshold == 90.0 and cifar.image_size == 224
    assert "not yet measured" in WORKLOADS.get("resnet50-cifar224").summary["source"]


def test_warmup_then_cosine_to_zero() -> None:
    lr = warmup_cosine(0.256, total=100, warmup=10)
    assert lr(0) == pytest.approx(0.0256) and lr(9) == pytest.approx(0.256)
    assert lr(10) == pytest.approx(0.256)
    assert lr(55) == pytest.approx(0.128)  # halfway through the cosine
    assert lr(99) == pytest.approx(0.256 * 0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert lr(100) == 0.0 and lr(500) == 0.0
    values = [lr(s) for s in range(10, 100)]
    assert values == sorted(values, reverse=True)
    assert warmup_cosine(1.0, total=10, warmup=0)(0) == 1.0


def test_no_weight_decay_on_batchnorm_or_biases(tmp_path: Path) -> None:
    wl = WORKLOADS.get("resnet50-imagenet").from_dict({})
    from accelbench.training.precision import PrecisionPlan
    from accelbench.training.recipe import RunSetup

    setup = RunSetup({}, PrecisionPlan("fp32", "cpu"), 0, torch.device("cpu"), None, tmp_path)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4, 2)
    )
    params = list(model.parameters())
    opt, _ = wl.build(setup).make_optimizer(params, 100)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 1 / 32768 and plain["weight_decay"] == 0.0
    norms = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert norms <= {id(q) for q in plain["params"]}
    assert id(model[3].bias) in {id(q) for q in plain["params"]}
    assert {id(model[0].weight), id(model[3].weight)} == {id(q) for q in decayed["params"]}
    assert opt.defaults["momentum"] == 0.875 and not opt.defaults["nesterov"]


def test_imagenet_recipe_trains_and_evaluates_on_real_jpegs(tmp_path: Path) -> None:
    """Two steps of ResNet-50 (64x64 crops, so it fits the default tier; a batch that loses
    an image to the corrupt file still has a 2x2 last feature map for BatchNorm) on a tree of real
    JPEGs with flat validation files labelled by the devkit; a corrupt training file is
    skipped, counted and named in the result. --data-dir points at the tree itself, in a folder
    whose name is none of the usual ones."""
    root = write_imagenet(tmp_path / "my-ilsvrc", "devkit")
    (root / "train" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG").write_bytes(b"not a jpeg")
    out = _run(
        "resnet50-imagenet",
        {
            "max_epochs": 1,
            "batch_size": 2,
            "train_subset": 4,  # two steps: n01440764's _0 (corrupt) and _1, n01443537's _1, _2
            "eval_batch_size": 6,
            "image_size": 64,
            "eval_resize": 73,
            "workers": 1,
        },
        root,
    )
    assert out.status.value == "ok", out.message
    assert out.config["reached_threshold"] is False
    [epoch] = out.trace
    assert epoch.metric_name == "top1" and 0 <= epoch.metric <= 100
    assert {"top5", "val_loss", "corrupt_skipped"} <= set(epoch.secondary)
    assert epoch.secondary["val_samples"] == 6
    assert out.metrics["corrupt_images_skipped"].value == 1
    assert out.metrics["data_wait_fraction"].value is not None
    assert out.metrics["train_flops_per_sample"].value > 0
    data = out.config["data"]
    assert data["layout"].endswith("flat, labels from devkit")
    assert data["loader"]["workers"] == 1 and data["classes"] == 3
    assert data["corrupt"]["skipped"] == 1 and "_0.JPEG" in data["corrupt"]["files"][0]["path"]
    assert out.config["quality_claim"] is True
    assert out.config["hyperparameters"]["source"].startswith("github.com/NVIDIA")


def _suite(tmp_path: Path, workloads: list[dict[str, Any]]) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "r50", "workloads": workloads}))
    return path


def test_accelbench_run_without_imagenet_stores_an_error_saying_how_to_get_it(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """What a user without ImageNet sees: the real case is a stored error naming `accelbench
    data` and where it looked, and the sweep goes on to the synthetic case, which measures
    throughput and says it is synthetic."""
    monkeypatch.setenv("ACCELBENCH_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no download folder of the host's
    monkeypatch.delenv("ACCELBENCH_DATA_DIR", raising=False)
    suite = _suite(
        tmp_path,
        [
            {"name": "real", "kind": "resnet50-imagenet", "params": {"max_epochs": 1}},
            {
                "name": "synthetic",
                "kind": "resnet50-imagenet",
                "params": {
                    "data": "synthetic",
                    "synthetic_size": 2,
                    "synthetic_classes": 10,
                    "batch_size": 2,
                    "image_size": 32,
                    "max_epochs": 1,
                },
            },
        ],
    )
    (tmp_path / "empty").mkdir()
    db = tmp_path / "r.db"
    args = ["run", str(suite), "--device", "cpu", "--db", str(db), "--data-dir"]
    code = main([*args, str(tmp_path / "empty"), "--offline", "--json", "--no-power"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    json.loads(captured.out)
    results = {r.workload: r for r in Store(db).query()}
    real, synthetic = results["real"], results["synthetic"]
    assert real.status.value == "error"
    assert "ImageNet" in real.message and "accelbench data" in real.message
    assert "image-net.org" in real.message and "\n" not in real.message
    assert synthetic.status.value == "ok", synthetic.message
    assert synthetic.config["quality_claim"] is False
    assert synthetic.config["data"]["source"] == "synthetic"
    assert "throughput only" in synthetic.config["data"]["note"]
    assert (synthetic.metric("first_epoch_samples_per_s") or 0) > 0
    assert synthetic.metric("time_to_threshold_s") is None


@pytest.mark.slow  # ResNet-50 at 224x224 on 2 cores, eight steps
def test_quick_resnet50_suite_runs_on_the_cpu(tmp_path: Path, monkeypatch, capsys) -> None:
    """The built-in suite as a user runs it: steady throughput and MFU against the GEMM peak
    it measured first."""
    monkeypatch.setenv("ACCELBENCH_LOCK_DIR", str(tmp_path / "locks"))
    db = tmp_path / "q.db"
    code = main(["run", "quick-resnet50", "--device", "cpu", "--db", str(db), "--json"])
    assert code == 0, capsys.readouterr().err
    results = [r for r in Store(db).query() if r.kind.startswith("resnet50")]
    assert sorted(r.kind for r in results) == ["resnet50-cifar224", "resnet50-imagenet"]
    for r in results:
        assert r.status.value == "ok", r.message
        assert r.metric("train_flops_per_sample") == pytest.approx(24.5e9, rel=0.01)
        assert (r.metric("steady_samples_per_s") or 0) > 0
        assert (r.metric("mfu_measured") or 0) > 0, r.metrics["mfu_measured"].unavailable


@pytest.mark.slow  # decodes the 60,000 CIFAR-10 JPEGs once, then ResNet-50 at 224 on 2 cores
def test_cifar224_recipe_on_the_real_cifar10_jpegs(tmp_path: Path) -> None:
    data = shared_data()
    if data is None:
        pytest.skip("real CIFAR-10 JPEGs (shared/data/cifar10-jpeg.tar.gz) not present")
    out = _run(
        "resnet50-cifar224",
        {
            "max_epochs": 1,
            "batch_size": 4,
            "train_subset": 8,
            "eval_subset": 8,
            "cache_dir": str(tmp_path / "cache"),
        },
        data,
    )
    assert out.status.value == "ok", out.message
    [epoch] = out.trace
    assert epoch.steps == 2 and epoch.secondary["val_samples"] == 8
    assert out.config["data"]["image_size"] == 224 and out.config["quality_claim"] is True
