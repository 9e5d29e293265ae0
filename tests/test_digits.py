"""The quick suite's training run: real data that ships with scikit-learn, a fixed split, and a
recipe that reaches its threshold on any machine without a data directory or a network."""

from __future__ import annotations

from pathlib import Path

import torch

from accelbench.api import run_suite
from accelbench.config import load_suite
from accelbench.data.digits import load_digits_data, synthetic_digits, validation_mask
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Status
from accelbench.workloads import WORKLOADS


def test_fixed_split_is_every_fifth_image_and_covers_every_class() -> None:
    data, info = load_digits_data()
    assert len(data["train_y"]) == 1438 and len(data["test_y"]) == 359
    assert info["train_images"] == 1438 and info["path"].endswith("digits.csv.gz")
    assert data["train_x"].shape == (1438, 1, 8, 8) and data["train_x"].dtype == torch.uint8
    assert int(data["train_x"].max()) <= 16
    for split in ("train_y", "test_y"):
        counts = torch.bincount(data[split], minlength=10)
        assert (counts > 0).all() and counts.max() - counts.min() < len(data[split]) // 10
    # The same images on every call: no randomness in the split.
    again, _ = load_digits_data()
    assert torch.equal(again["test_x"], data["test_x"])
    assert validation_mask(10).tolist() == [False] * 4 + [True] + [False] * 4 + [True]


def test_synthetic_digits_have_the_real_shapes() -> None:
    s = synthetic_digits(10, 4)
    assert s["train_x"].shape == (10, 1, 8, 8) and s["test_y"].shape == (4,)


def test_quick_train_is_the_digits_run_and_needs_no_data() -> None:
    quick = load_suite("quick")
    (train,) = [w for w in quick.workloads if w.name == "cnn-digits"]
    assert train.kind == "cnn-digits" and train.params["threshold"] == 97.0
    imdb = load_suite("quick-train-imdb")
    assert [w.kind for w in imdb.workloads] == ["lstm-imdb"]
    assert not any(w.kind == "lstm-imdb" for w in quick.workloads)


def test_digits_run_learns_from_real_data_with_no_data_dir(tmp_path: Path) -> None:
    """Two epochs on the real digits with the recipe's defaults: well above chance (10%)."""
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: d\nworkloads:\n  - {name: w, kind: cnn-digits, params: {max_epochs: 2}}\n"
    )
    n = torch.get_num_threads()
    try:  # one thread: a tiny model on a busy 2-core host is much slower with two
        rep = run_suite(
            load_suite(str(suite)),
            device=FakeDevice(),
            db=tmp_path / "r.db",
            power=False,
            threads=1,
        )
    finally:
        torch.set_num_threads(n)
    (r,) = rep.results
    assert r.status is Status.OK, r.message
    assert r.config["quality_claim"] is True and r.config["data"]["layout"] == "digits"
    assert r.config["data"]["fetched"] is False and r.config["data"]["bundled"] is True
    assert len(r.trace) == 2 and r.trace[-1].metric > 70.0
    assert r.config["hyperparameters"]["lr"] == 3e-3


def test_defaults_are_the_documented_recipe() -> None:
    wl = WORKLOADS.get("cnn-digits").from_dict({})
    p = wl.params
    assert (p.threshold, p.max_epochs, p.batch_size, p.lr) == (97.0, 20, 64, 3e-3)
    assert [c["precision"] for c in wl.cases()] == ["fp32"]
