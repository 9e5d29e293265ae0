"""DIN, the Deep Interest Network (Zhou et al., KDD 2018; Alibaba's click-through-rate model).

As the paper and its reference code (Amazon Electronics setting):

- **Embeddings**: an item id and a category id per item, 18 dimensions each, concatenated (36).
- **Local activation unit**: for each behaviour ``e_j`` of the user's history and the candidate
  item ``v``, an MLP (80, 40, 1; sigmoid hidden units as in the reference code) over
  ``[e_j, v, e_j - v, e_j * v]`` gives a weight; weights are *not* softmax-normalised (the
  paper keeps their sum as a measure of interest intensity); padded history positions get
  weight 0. The user's interest is the weighted sum of the history.
- **MLP**: ``[interest, v, interest * v]`` through 200 and 80 units with the paper's Dice
  activation, then one logit and a sigmoid (click probability).

Vocabulary sizes follow the Amazon Electronics data (63001 items, 801 categories); the history
length is configurable. Random weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class DinConfig:
    num_items: int = 63001
    num_categories: int = 801
    embedding_dim: int = 18
    history_len: int = 100
    attention_units: tuple[int, ...] = (80, 40)
    mlp_units: tuple[int, ...] = (200, 80)


class Dice(nn.Module):
    """DIN's data-adaptive activation: ``p * x + (1 - p) * alpha * x``, ``p = sigmoid(BN(x))``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(features, affine=False, eps=1e-9)
        self.alpha = nn.Parameter(torch.zeros(features))

    def forward(self, x: Tensor) -> Tensor:
        p = torch.sigmoid(self.bn(x))
        return p * x + (1 - p) * self.alpha * x


class LocalActivationUnit(nn.Module):
    def __init__(self, dim: int, units: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 4 * dim
        for u in units:
            layers += [nn.Linear(cin, u), nn.Sigmoid()]
            cin = u
        layers.append(nn.Linear(cin, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, history: Tensor, candidate: Tensor, mask: Tensor) -> Tensor:
        """history N x T x D, candidate N x D, mask N x T (1 = real behaviour) -> N x D."""
        v = candidate.unsqueeze(1).expand_as(history)
        w = self.mlp(torch.cat([history, v, history - v, history * v], dim=-1)).squeeze(-1)
        w = w * mask
        return torch.bmm(w.unsqueeze(1), history).squeeze(1)


class DIN(nn.Module):
    def __init__(self, c: DinConfig | None = None) -> None:
        super().__init__()
        c = c or DinConfig()
        self.config = c
        self.item = nn.Embedding(c.num_items, c.embedding_dim)
        self.category = nn.Embedding(c.num_categories, c.embedding_dim)
        dim = 2 * c.embedding_dim
        self.attention = LocalActivationUnit(dim, c.attention_units)
        layers: list[nn.Module] = [nn.BatchNorm1d(3 * dim)]
        cin = 3 * dim
        for u in c.mlp_units:
            layers += [nn.Linear(cin, u), Dice(u)]
            cin = u
        layers.append(nn.Linear(cin, 1))
        self.mlp = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.1)

    def forward(
        self,
        hist_items: Tensor,
        hist_categories: Tensor,
        hist_mask: Tensor,
        item: Tensor,
        category: Tensor,
    ) -> Tensor:
        history = torch.cat([self.item(hist_items), self.category(hist_categories)], dim=-1)
        candidate = torch.cat([self.item(item), self.category(category)], dim=-1)
        interest = self.attention(history, candidate, hist_mask.to(history.dtype))
        x = torch.cat([interest, candidate, interest * candidate], dim=-1)
        return torch.sigmoid(self.mlp(x)).squeeze(-1)
