"""DeepFM (Guo et al., IJCAI 2017), the click-through-rate model of the study's sparse workload.

One embedding vector per feature value, **shared** by two parts that read the same input:

- the **FM part** (Rendle 2010): a bias, first-order weights ``w_i x_i`` and the pairwise
  interactions ``sum_{i<j} <v_i, v_j> x_i x_j``, computed in O(fields * dim) as
  ``0.5 * ((sum_i v_i x_i)^2 - sum_i (v_i x_i)^2)`` summed over the embedding dimension;
- the **deep part**: the concatenated field embeddings through a ReLU MLP (three layers of 400
  with dropout 0.5, the DeepFM paper's Criteo setting) to one logit.

``logit = FM + DNN``; the model returns logits (use ``BCEWithLogitsLoss``) of shape ``[batch]``.

Inputs are what :mod:`accelbench.data.criteo` serves: ``dense`` ``[batch, 13]`` float (already
log-transformed) and ``cats`` ``[batch, 26]`` integer per-field vocabulary indices (0 is each
field's out-of-vocabulary slot). A numeric field ``i`` is one feature of value ``x_i`` with its
own vector ``v_i`` (the FM convention for real-valued features), so the network sees
``13 + 26 = 39`` fields and the MLP input is ``39 * embed_dim`` wide.

Hyper-parameters and where they come from (Guo et al. 2017, section 3.1, which follows Qu et al.
2016, "Product-based neural networks", for Criteo): embedding dimension 10, hidden layers
400-400-400, ReLU, dropout 0.5 on the hidden layers, Adam; no L2 penalty is stated for Criteo,
so none is applied. Embeddings start from N(0, 1e-4^2) (DeepCTR's ``init_std=0.0001``); linear
layers keep PyTorch's default initialisation.

Lookups: ``lookup="embedding"`` uses ``nn.Embedding`` (an index gather); ``"embedding_bag"`` the
``nn.EmbeddingBag`` kernel with one index per bag (same result; some platforms run it faster).
All 26 categorical fields share **one** table with per-field row offsets, so a lookup is one
kernel call. ``sparse=True`` makes the tables produce sparse gradients (only the rows a batch
touched) for ``torch.optim.SparseAdam``; :func:`make_optimizer` pairs that with dense Adam for
the other parameters. Sparse gradients and loss scaling (fp16 modes) do not combine: the loss
scaler unscales dense gradient tensors only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

EMBED_DIM = 10  # Guo et al. 2017 / Qu et al. 2016, Criteo
HIDDEN = (400, 400, 400)
DROPOUT = 0.5
EMBED_INIT_STD = 1e-4  # DeepCTR's default init_std
N_DENSE = 13

Lookup = Literal["embedding", "embedding_bag"]


@dataclass(frozen=True)
class DeepFMConfig:
    """Everything that shapes the model, recorded with every result."""

    cardinalities: tuple[int, ...]
    """Rows per categorical field, including its out-of-vocabulary row."""
    n_dense: int = N_DENSE
    embed_dim: int = EMBED_DIM
    hidden: tuple[int, ...] = HIDDEN
    dropout: float = DROPOUT
    lookup: Lookup = "embedding"
    sparse: bool = False

    def __post_init__(self) -> None:
        if not self.cardinalities or any(int(c) < 1 for c in self.cardinalities):
            raise ValueError(
                f"cardinalities: expected one positive row count per field, got "
                f"{list(self.cardinalities)!r}"
            )
        if self.n_dense < 0:
            raise ValueError(f"n_dense: expected >= 0, got {self.n_dense}")
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim: expected >= 1, got {self.embed_dim}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden: expected positive layer widths, got {list(self.hidden)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {self.dropout}")
        if self.lookup not in ("embedding", "embedding_bag"):
            raise ValueError(f"lookup: expected embedding or embedding_bag, got {self.lookup!r}")

    @property
    def n_fields(self) -> int:
        return self.n_dense + len(self.cardinalities)

    @property
    def table_rows(self) -> int:
        return int(sum(self.cardinalities))


class _Table(nn.Module):
    """One table for all categorical fields; ``forward(idx [B, F]) -> [B, F, dim]``."""

    def __init__(self, rows: int, dim: int, lookup: Lookup, sparse: bool) -> None:
        super().__init__()
        self.lookup = lookup
        if lookup == "embedding":
            self.table: nn.Module = nn.Embedding(rows, dim, sparse=sparse)
        else:
            self.table = nn.EmbeddingBag(rows, dim, mode="sum", sparse=sparse)

    @property
    def weight(self) -> nn.Parameter:
        return self.table.weight  # type: ignore[return-value]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if self.lookup == "embedding":
            return self.table(idx)
        b, f = idx.shape
        offsets = torch.arange(0, b * f, dtype=idx.dtype, device=idx.device)
        return self.table(idx.reshape(-1), offsets).view(b, f, -1)


class DeepFM(nn.Module):
    """DeepFM over ``n_dense`` numeric and ``len(cardinalities)`` categorical fields."""

    def __init__(self, config: DeepFMConfig) -> None:
        super().__init__()
        self.config = c = config
        rows = c.table_rows
        offsets = torch.tensor([0, *list(c.cardinalities)[:-1]], dtype=torch.int64).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.embed = _Table(rows, c.embed_dim, c.lookup, c.sparse)  # v_i, shared by FM and DNN
        self.linear = _Table(rows, 1, c.lookup, c.sparse)  # w_i
        self.dense_embed = nn.Parameter(torch.empty(c.n_dense, c.embed_dim))
        self.dense_linear = nn.Parameter(torch.zeros(c.n_dense))
        self.bias = nn.Parameter(torch.zeros(1))
        layers: list[nn.Module] = []
        width = c.n_fields * c.embed_dim
        for h in c.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(c.dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.dnn = nn.Sequential(*layers)
        for t in (self.embed.weight, self.linear.weight, self.dense_embed):
            nn.init.normal_(t, std=EMBED_INIT_STD)

    def forward(self, dense: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        idx = cats.long() + self.offsets
        dense = dense.to(self.dense_embed.dtype)  # float32, or float16 under pure fp16
        # Field vectors [B, F, d]: numeric fields scaled by their value, then categorical ones.
        e = torch.cat([dense.unsqueeze(-1) * self.dense_embed, self.embed(idx)], dim=1)
        first = self.bias + self.linear(idx).sum(dim=(1, 2)) + dense @ self.dense_linear
        s = e.sum(dim=1)
        second = 0.5 * (s * s - (e * e).sum(dim=1)).sum(dim=1)
        deep = self.dnn(e.flatten(1)).squeeze(-1)
        return first + second + deep

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The two lookup tables (sparse gradients when ``config.sparse``)."""
        return [self.embed.weight, self.linear.weight]

    def dense_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]


SCALED_PRECISIONS = ("amp-fp16", "fp16")


def unsupported_reason(precision: str, sparse: bool) -> str | None:
    """Why a precision mode cannot train this model, or None. Loss scaling (the fp16 modes)
    checks and unscales gradients with a kernel that has no sparse-tensor version."""
    if sparse and precision in SCALED_PRECISIONS:
        return (
            f"{precision} needs loss scaling, whose gradient unscaling "
            "(_amp_foreach_non_finite_check_and_unscale_) has no kernel for the sparse "
            "embedding gradients of sparse=True; use dense Adam or fp32/amp-bf16"
        )
    return None


class PairedOptimizer:
    """SparseAdam for the lookup tables and Adam for everything else, driven as one optimiser.

    ``param_groups`` is the two children's groups (the same dicts), so a trainer that sets
    ``g["lr"]`` on every group schedules both; ``step``/``zero_grad``/``state_dict`` go to both.
    It has the part of ``torch.optim.Optimizer``'s interface a training loop uses.
    """

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for o, s in zip(self.optimizers, state_dict["optimizers"], strict=True):
            o.load_state_dict(s)

    def __repr__(self) -> str:
        return f"PairedOptimizer({', '.join(type(o).__name__ for o in self.optimizers)})"


def make_optimizer(
    model: DeepFM,
    lr: float,
    *,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    params: Iterable[nn.Parameter] | None = None,
) -> torch.optim.Optimizer | PairedOptimizer:
    """Adam, as the DeepFM paper; with ``config.sparse`` SparseAdam updates only the table rows
    a batch touched (and their moments) while dense Adam updates every row every step.

    ``params`` (default: the model's) lets a precision plan pass its own parameter list for the
    dense case; with sparse tables the model's own parameters are used.
    """
    if not model.config.sparse:
        return torch.optim.Adam(
            list(params) if params is not None else model.parameters(), lr=lr, betas=betas, eps=eps
        )
    return PairedOptimizer(
        [
            torch.optim.SparseAdam(model.sparse_parameters(), lr=lr, betas=betas, eps=eps),
            torch.optim.Adam(model.dense_parameters(), lr=lr, betas=betas, eps=eps),
        ]
    )


# -- cost: FLOPs of the dense part, bytes of the lookups, table memory ---------------------------
@dataclass(frozen=True)
class DeepFMCost:
    """Per-sample work and traffic of one training step, to place DeepFM on a roofline.

    ``dense_*_flops`` come from :func:`accelbench.flops.count_model` over the model with its
    lookups excluded (MLP, FM arithmetic, numeric-field scaling; 1 MAC = 2 FLOPs; backward by
    the library's rules). Lookup bytes follow :func:`accelbench.flops.embedding`'s compulsory
    traffic (int64 index, row read, row written) for the 26 categorical fields in both tables;
    the training figure adds the backward scatter of the looked-up rows and the optimiser:

    - ``sparse=True`` (SparseAdam): each looked-up row's value, two moments and gradient are
      read and the value and moments written: 7 row-sized transfers per lookup (an upper
      bound: rows repeated within a batch are coalesced);
    - dense Adam: the **whole** table is read and written every step (value, gradient and two
      moments read, value and moments written, the dense gradient zeroed and written): 9 table
      sizes per step, divided over the batch.

    Dense-part parameters (the MLP, about 0.5M) are read and updated once per step and also
    divided over the batch.
    """

    batch_size: int
    sparse: bool
    table_rows: int
    table_params: int
    table_bytes: int
    optimizer_state_bytes: int
    dense_params: int
    dense_forward_flops: float
    dense_train_flops: float
    dense_train_bytes: float
    lookup_forward_bytes: float
    lookup_train_bytes: float

    @property
    def train_flops(self) -> float:
        return self.dense_train_flops

    @property
    def train_bytes(self) -> float:
        return self.dense_train_bytes + self.lookup_train_bytes

    @property
    def arithmetic_intensity(self) -> float:
        """FLOP per byte of one training sample; compare with the device's ridge point
        (peak FLOP/s divided by memory bandwidth): below it, memory-bound."""
        return self.train_flops / self.train_bytes

    def as_dict(self) -> dict[str, float | int | bool]:
        d: dict[str, float | int | bool] = dict(self.__dict__)
        d.update(
            train_flops_per_sample=self.train_flops,
            train_bytes_per_sample=self.train_bytes,
            arithmetic_intensity=self.arithmetic_intensity,
        )
        return d


def deepfm_cost(config: DeepFMConfig, batch_size: int, *, elem_bytes: int = 4) -> DeepFMCost:
    """Analytic cost of DeepFM training per sample at ``batch_size`` (see :class:`DeepFMCost`)."""
    from accelbench.flops import count_model
    from accelbench.flops import embedding as embedding_cost

    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    # The dense part does not depend on the table sizes: count a model with one-row fields.
    small = DeepFM(
        DeepFMConfig(
            cardinalities=(1,) * len(config.cardinalities),
            n_dense=config.n_dense,
            embed_dim=config.embed_dim,
            hidden=config.hidden,
            dropout=config.dropout,
        )
    ).train()
    b = 8
    dense = torch.zeros(b, config.n_dense)
    cats = torch.zeros(b, len(config.cardinalities), dtype=torch.int64)
    counted = count_model(small, dense, cats, mode="forward+backward")
    rows = [r for r in counted.rows if r.op not in ("embedding", "aten.embedding")]
    fwd = sum(r.count.forward.flops for r in rows) / b
    bwd = sum(r.count.backward.flops for r in rows) / b
    act_bytes = sum(r.count.forward.min_bytes + r.count.backward.min_bytes for r in rows) / b
    # Parameter traffic appears in every counted row; per step it is read once, so take it out
    # of the per-sample activations and add one Adam update (param, grad, 2 moments read; param,
    # 2 moments written) divided over the batch.
    dense_params = sum(p.numel() for p in small.dense_parameters())
    param_bytes_in_rows = 3 * dense_params * elem_bytes / b  # fwd read, bwd read, grad write
    dense_bytes = max(act_bytes - param_bytes_in_rows, 0.0) + 7 * dense_params * elem_bytes / (
        batch_size
    )

    n_cat = len(config.cardinalities)
    rows_total = config.table_rows
    lookup_fwd = 0.0
    lookup_bwd = 0.0
    for dim in (config.embed_dim, 1):
        c = embedding_cost(num_indices=n_cat, num_embeddings=rows_total, embedding_dim=dim,
                           elem_bytes=elem_bytes)  # fmt: skip
        lookup_fwd += c.forward.min_bytes
        # backward without the whole-table gradient write (counted with the optimiser below)
        lookup_bwd += c.backward.min_bytes - elem_bytes * rows_total * dim
    table_params = rows_total * (config.embed_dim + 1)
    table_bytes = table_params * elem_bytes
    if config.sparse:
        optimizer = n_cat * (config.embed_dim + 1) * elem_bytes * 7.0
    else:
        optimizer = 9.0 * table_bytes / batch_size
    return DeepFMCost(
        batch_size=batch_size,
        sparse=config.sparse,
        table_rows=rows_total,
        table_params=table_params,
        table_bytes=table_bytes,
        optimizer_state_bytes=2 * table_bytes + 2 * dense_params * elem_bytes,
        dense_params=dense_params,
        dense_forward_flops=fwd,
        dense_train_flops=fwd + bwd,
        dense_train_bytes=dense_bytes,
        lookup_forward_bytes=lookup_fwd,
        lookup_train_bytes=lookup_fwd + lookup_bwd + optimizer,
    )
