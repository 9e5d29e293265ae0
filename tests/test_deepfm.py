"""DeepFM: the FM terms against a brute-force sum, lookups, sparse vs dense Adam, cost figures,
and learning a planted logistic signal to close to the true model's AUC."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from accelbench.data.criteo import (
    KAGGLE_RAW_CARDINALITIES,
    CriteoTask,
    SplitArrays,
    auc_logloss,
    planted_logistic,
)
from accelbench.flops import linear as linear_cost
from accelbench.models.deepfm import (
    DeepFM,
    DeepFMConfig,
    PairedOptimizer,
    deepfm_cost,
    make_optimizer,
    unsupported_reason,
)
from accelbench.training.task import EvalContext


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Small models on a shared 2-core host: two OpenMP threads competing with other processes
    # make a 20 ms step take 300 ms. One thread keeps these tests fast; results do not change.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CARDS = (3, 11, 5, 2, 9, 4, 6, 8, 3, 5, 7, 2, 4, 6, 8, 3, 5, 7, 9, 2, 4, 6, 3, 5, 7)


def _inputs(b: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(b, 13, generator=g) * 3
    cats = torch.stack([torch.randint(0, c, (b,), generator=g) for c in CARDS], dim=1)
    return dense, cats.to(torch.int32)


def test_forward_is_fm_plus_dnn_with_shared_embeddings() -> None:
    torch.manual_seed(0)
    model = DeepFM(DeepFMConfig(CARDS, embed_dim=4, hidden=(16, 8))).eval()
    with torch.no_grad():  # larger weights than the init, so every term matters
        for p in model.parameters():
            p.normal_(0, 0.3)
    dense, cats = _inputs()
    out = model(dense, cats)
    assert out.shape == (6,)
    offsets = np.concatenate([[0], np.cumsum(CARDS)[:-1]])
    for r in range(6):
        vecs, first = [], model.bias.item()
        for i in range(13):
            x = dense[r, i].item()
            vecs.append(x * model.dense_embed[i])
            first += x * model.dense_linear[i].item()
        for f, c in enumerate(cats[r].tolist()):
            row = offsets[f] + c
            vecs.append(model.embed.weight[row])
            first += model.linear.weight[row, 0].item()
        pairs = sum(torch.dot(a, b).item() for a, b in itertools.combinations(vecs, 2))
        deep = model.dnn(torch.cat(vecs)[None]).item()  # the DNN reads the same vectors
        assert out[r].item() == pytest.approx(first + pairs + deep, rel=1e-4, abs=1e-5)


def test_embedding_bag_lookup_gives_the_same_logits() -> None:
    torch.manual_seed(1)
    a = DeepFM(DeepFMConfig(CARDS, embed_dim=4, hidden=(8,))).eval()
    b = DeepFM(DeepFMConfig(CARDS, embed_dim=4, hidden=(8,), lookup="embedding_bag")).eval()
    b.load_state_dict(a.state_dict())
    dense, cats = _inputs()
    assert torch.allclose(a(dense, cats), b(dense, cats), atol=1e-6)


@pytest.mark.parametrize("lookup", ["embedding", "embedding_bag"])
def test_sparse_gradients_step_with_sparse_adam(lookup: str) -> None:
    torch.manual_seed(2)
    model = DeepFM(DeepFMConfig(CARDS, embed_dim=4, hidden=(8,), lookup=lookup, sparse=True))
    opt = make_optimizer(model, 1e-2)
    assert isinstance(opt, PairedOptimizer)
    assert [type(o).__name__ for o in opt.optimizers] == ["SparseAdam", "Adam"]
    before = model.embed.weight.detach().clone()
    dense, cats = _inputs()
    loss = nn.functional.binary_cross_entropy_with_logits(model(dense, cats), torch.ones(6))
    opt.zero_grad()
    loss.backward()
    assert model.embed.weight.grad.is_sparse and not model.dnn[0].weight.grad.is_sparse
    for g in opt.param_groups:  # a trainer's learning-rate schedule reaches both
        g["lr"] = 5e-3
    assert all(g["lr"] == 5e-3 for o in opt.optimizers for g in o.param_groups)
    opt.step()
    changed = (model.embed.weight.detach() != before).any(dim=1)
    offsets = np.concatenate([[0], np.cumsum(CARDS)[:-1]])
    touched = set((cats.long() + torch.from_numpy(offsets)).flatten().tolist())
    assert set(torch.nonzero(changed).flatten().tolist()) == touched  # only looked-up rows
    state = opt.state_dict()
    opt.load_state_dict(state)
    dense_opt = make_optimizer(DeepFM(DeepFMConfig(CARDS)), 1e-3)
    assert isinstance(dense_opt, torch.optim.Adam)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="cardinalities"):
        DeepFMConfig((3, 0))
    with pytest.raises(ValueError, match="dropout"):
        DeepFMConfig(CARDS, dropout=1.0)
    with pytest.raises(ValueError, match="lookup"):
        DeepFMConfig(CARDS, lookup="gather")  # type: ignore[arg-type]
    c = DeepFMConfig(KAGGLE_RAW_CARDINALITIES)
    assert (c.embed_dim, c.hidden, c.dropout, c.n_fields) == (10, (400, 400, 400), 0.5, 39)
    assert c.table_rows == 33_762_577


def test_cost_counts_the_dense_part_and_prices_lookups_in_bytes() -> None:
    cfg = DeepFMConfig(KAGGLE_RAW_CARDINALITIES)
    dense_adam = deepfm_cost(cfg, 10000)
    sparse = deepfm_cost(DeepFMConfig(KAGGLE_RAW_CARDINALITIES, sparse=True), 10000)
    # the MLP's matrix work alone, from the FLOPs library: 390 -> 400 -> 400 -> 400 -> 1
    mlp = sum(
        linear_cost(rows=1, in_features=i, out_features=o).forward.macs
        for i, o in ((390, 400), (400, 400), (400, 400), (400, 1))
    )
    assert dense_adam.dense_forward_flops >= 2 * mlp
    assert dense_adam.dense_forward_flops < 2 * mlp * 1.05  # the rest (FM, ReLU...) is small
    assert dense_adam.dense_train_flops == pytest.approx(3 * dense_adam.dense_forward_flops, 0.05)
    assert dense_adam.table_params == 33_762_577 * 11
    assert dense_adam.table_bytes == 4 * dense_adam.table_params
    # forward lookups: 26 int64 indices and 26 rows read and written, in both tables
    assert dense_adam.lookup_forward_bytes == 2 * (26 * 8) + 26 * 2 * (10 + 1) * 4
    # dense Adam walks the whole 1.5 GB table every step: far below any ridge point
    assert dense_adam.arithmetic_intensity < 5
    assert sparse.arithmetic_intensity > 5 * dense_adam.arithmetic_intensity
    with pytest.raises(ValueError, match="batch_size"):
        deepfm_cost(cfg, 0)


def test_deepfm_learns_a_planted_logistic_signal() -> None:
    """Trained on rows drawn from a known logistic model, DeepFM's validation AUC comes close
    to the AUC of the true logits (the best any model can do on that data)."""
    cards = (6, 6, 8, 8, 10, 10, *([4] * 20))
    rows, logit = planted_logistic(22000, cards, seed=0)
    cut = 16000
    train_rows = SplitArrays(rows.label[:cut], rows.dense[:, :cut], rows.cats[:, :cut])
    val_rows = SplitArrays(rows.label[cut:], rows.dense[:, cut:], rows.cats[:, cut:])
    true_auc, _ = auc_logloss(val_rows.label, logit[cut:])

    torch.manual_seed(0)
    model = DeepFM(DeepFMConfig(cards, embed_dim=8, hidden=(64, 64), dropout=0.0))
    opt = make_optimizer(model, 5e-3)
    task = CriteoTask(train_rows, val_rows, "cpu", 512, eval_batch_size=4096)
    assert (task.n_train, task.steps) == (15872, 31)
    assert task.quality.metric == "auc" and task.quality.chance == 0.5
    for epoch in range(3):
        model.train()
        for (dense, cats), y in task.train_batches(epoch):
            opt.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(model(dense, cats), y).backward()
            opt.step()
    ctx = EvalContext(model, model, contextlib.nullcontext, lambda x: x, torch.device("cpu"))
    q = task.evaluate(ctx)
    assert not model.training and q.secondary["eval_samples"] == 6000
    assert q.value > true_auc - 0.02, (q.value, true_auc)
    assert q.secondary["logloss"] < 0.6


@pytest.mark.parametrize("mode", ["fp32", "amp-bf16", "amp-fp16", "fp16"])
@pytest.mark.parametrize("sparse", [False, True])
def test_every_precision_mode_trains_or_says_why_not(mode: str, sparse: bool) -> None:
    from accelbench.training.precision import PrecisionPlan

    torch.manual_seed(0)
    model = DeepFM(DeepFMConfig(CARDS, embed_dim=4, hidden=(8,), sparse=sparse))
    plan = PrecisionPlan(mode=mode, device_type="cpu")
    params = plan.prepare(model)
    opt = make_optimizer(model, 1e-3, params=None if sparse else params)
    dense, cats = _inputs()
    with plan.autocast():
        logits = model(*plan.cast_inputs((dense, cats)))
    loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), torch.ones(6))
    why = unsupported_reason(mode, sparse)
    if why is None:
        assert plan.backward_and_step(loss, opt) is False
    else:
        assert "sparse" in why
        with pytest.raises((NotImplementedError, RuntimeError)):
            plan.backward_and_step(loss, opt)
