"""The deepfm-criteo recipe end to end: real-format data to an AUC threshold through the
runner, unsupported combinations as results, synthetic mode on a real cache's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelbench.api import run_suite, validate_suite
from accelbench.data.criteo import N_CAT, N_DENSE
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Status


def write_signal(path: Path, n: int, seed: int = 0) -> None:
    """Kaggle-format rows whose click depends on the first categorical field and the first
    integer: a DeepFM learns it to a high AUC in an epoch or two."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        c1 = int(rng.integers(0, 20))
        i1 = int(rng.integers(0, 50))
        p = 1 / (1 + np.exp(-(2.5 * (c1 < 8) - 1.2 + 0.02 * (i1 - 25))))
        label = int(rng.random() < p)
        ints = [str(i1)] + [str(int(rng.integers(0, 9))) for _ in range(N_DENSE - 1)]
        cats = [f"{c1:08x}"] + [f"{int(rng.integers(0, 5)) + 16 * f:08x}" for f in range(1, N_CAT)]
        lines.append("\t".join([str(label), *ints, *cats]))
    path.write_text("\n".join(lines) + "\n")


def suite(**params: object) -> object:
    return validate_suite(
        {
            "name": "deepfm-test",
            "workloads": [{"name": "deepfm", "kind": "deepfm-criteo", "params": params}],
        },
        "test",
    )


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_deepfm_reaches_an_auc_threshold_on_real_format_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_signal(data / "train.txt", 6000)
    s = suite(
        threshold=0.75,
        max_epochs=4,
        batch_size=256,
        lr=3e-3,
        embed_dim=4,
        min_count=2,
        precisions=["fp32"],
        optimizers=["dense", "sparse"],
    )
    rep = run_suite(
        s, device=FakeDevice(), db=tmp_path / "r.db", data_dir=data, power=False, threads=1
    )
    assert [r.case["optimizer"] for r in rep.results] == ["dense", "sparse"]
    for r in rep.results:
        assert r.status is Status.OK, r.message
        assert r.config["reached_threshold"] is True
        assert r.trace[-1].metric_name == "auc" and r.trace[-1].metric >= 0.75
        assert 0 < r.trace[-1].secondary["logloss"] < 0.7
        assert r.trace[-1].secondary["eval_samples"] == 600  # the whole 1/10 validation split
        assert r.config["quality_metric"]["chance"] == 0.5
        assert r.config["data"]["split_sizes"]["train"] == 4800
        # the roofline's facts: dense FLOPs, bytes the lookups and optimiser move, their ratio
        m = r.metrics
        assert m["arithmetic_intensity"].value == pytest.approx(
            m["train_flops_per_sample"].value / m["train_bytes_per_sample"].value
        )
        assert m["model_gflops"].value > 0 and m["mfu_datasheet"].value is not None
    dense, sparse = rep.results
    # dense Adam walks the whole (here tiny) table every step; SparseAdam only looked-up rows
    assert dense.metric("optimizer_state_bytes") == sparse.metric("optimizer_state_bytes")
    assert dense.metric("train_bytes_per_sample") != sparse.metric("train_bytes_per_sample")


def test_sparse_gradients_under_loss_scaling_are_unsupported_with_the_reason(
    tmp_path: Path,
) -> None:
    s = suite(
        data="synthetic",
        synthetic_size=64,
        batch_size=32,
        max_epochs=1,
        embed_dim=2,
        precisions=["amp-fp16"],
        optimizers=["sparse"],
    )
    (r,) = run_suite(s, device=FakeDevice(), db=tmp_path / "r.db", power=False, threads=1).results
    assert r.status is Status.UNSUPPORTED and "sparse" in (r.message or "")


def test_synthetic_mode_uses_a_real_caches_table_sizes(tmp_path: Path) -> None:
    from accelbench.data.criteo import preprocess_criteo

    write_signal(tmp_path / "train.txt", 2000)
    cache = preprocess_criteo(tmp_path / "train.txt", tmp_path / "c", min_count=2, progress=None)
    s = suite(
        data="synthetic",
        synthetic_size=512,
        synthetic_tables=str(cache),
        batch_size=128,
        max_epochs=2,
        embed_dim=4,
    )
    (r,) = run_suite(s, device=FakeDevice(), db=tmp_path / "r.db", power=False, threads=1).results
    assert r.status is Status.OK, r.message
    assert "synthetic" in (r.message or "") and r.metrics["time_to_threshold_s"].value is None
    assert "min_count 2" in r.config["data"]["tables"]
    assert r.metric("steady_samples_per_s") > 0


def test_table_sizes_must_be_one_per_field() -> None:
    from accelbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"synthetic_tables: .*expected 26 row counts"):
        suite(data="synthetic", synthetic_tables=[3, 4])
