"""The Transformer recipes end to end through the runner: real Multi30k lines in the published
layout, BLEU as the task's metric with its signature, tokens/s, MFU facts; synthetic mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelbench.api import run_suite, validate_suite
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Status

FIXTURE = Path(__file__).parent / "fixtures" / "multi30k"


def multi30k_tree(root: Path) -> Path:
    """A Multi30k folder in its published file names from the 64 real pairs shipped with the
    tests: all 64 to train on, the first 16 to validate and test with."""
    root.mkdir()
    for lang in ("en", "de"):
        lines = (FIXTURE / f"train64.{lang}").read_text().splitlines()
        (root / f"train.{lang}").write_text("\n".join(lines) + "\n")
        for stem in ("val", "test_2016_flickr"):
            (root / f"{stem}.{lang}").write_text("\n".join(lines[:16]) + "\n")
    return root


def suite(**params: object) -> object:
    return validate_suite(
        {
            "name": "t",
            "workloads": [{"name": "tr", "kind": "transformer-multi30k", "params": params}],
        },
        "test",
    )


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_transformer_multi30k_trains_and_reports_bleu(tmp_path: Path) -> None:
    data = multi30k_tree(tmp_path / "multi30k")
    s = suite(
        vocab_size=300,
        batch_size=512,
        max_epochs=2,
        warmup_steps=4,
        threshold=99.0,
        max_len=64,
    )
    (r,) = run_suite(
        s, device=FakeDevice(), db=tmp_path / "r.db", data_dir=data, power=False, threads=1
    ).results
    assert r.status is Status.OK, r.message
    assert r.config["reached_threshold"] is False and "99 bleu not reached" in (r.message or "")
    last = r.trace[-1]
    assert last.metric_name == "bleu" and 0 <= last.metric <= 100
    assert str(last.secondary["bleu_signature"]).startswith("nrefs:1|case:mixed")
    assert last.secondary["eval_pairs"] == 16
    assert r.config["data"]["train_pairs"] == 64 and r.config["quality_metric"]["unit"] == "BLEU"
    assert last.tokens_per_s is not None and last.tokens_per_s > last.samples_per_s
    assert r.metric("steady_tokens_per_s") is not None
    assert r.metric("train_flops_per_sample") > 0 and r.metric("model_gflops") > 0


def test_wmt16_recipe_is_the_paper_base_model_and_schedule() -> None:
    from accelbench.training.recipes._translation import inverse_sqrt

    s = validate_suite(
        {"name": "w", "workloads": [{"name": "w", "kind": "transformer-wmt16"}]}, "test"
    )
    from accelbench.api import resolve

    (w,) = resolve(s).workloads
    p = w.workload.params
    assert (p.preset, p.vocab_size, p.batch_size, p.warmup_steps) == ("base", 32000, 25000, 4000)
    lr = inverse_sqrt(p.lr, p.warmup_steps)
    # Vaswani et al. eq. 3: d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)
    for step in (1, 1000, 4000, 20000):
        assert lr(step - 1) == pytest.approx(512**-0.5 * min(step**-0.5, step * 4000**-1.5))


def test_synthetic_mode_times_tokens_and_claims_no_bleu(tmp_path: Path) -> None:
    s = suite(data="synthetic", synthetic_size=48, vocab_size=200, batch_size=400, max_epochs=2)
    (r,) = run_suite(s, device=FakeDevice(), db=tmp_path / "r.db", power=False, threads=1).results
    assert r.status is Status.OK and "no quality was measured" in (r.message or "")
    assert all(e.metric is None for e in r.trace) and r.trace[-1].tokens_per_s > 0
