"""BERT encoder with the SQuAD question-answering head, as MLPerf inference's BERT-Large.

BERT-Large: 24 layers, hidden 1024, 16 heads, feed-forward 4096, GELU, post-layer-norm,
vocabulary 30522, 512 positions; the head is one linear layer giving start/end logits per
token (MLPerf's ``BertForQuestionAnswering``). The sequence length is configurable (MLPerf
uses 384). Attention goes through ``F.scaled_dot_product_attention`` (the fused kernel every
modern implementation uses); inputs are full-length sequences, so there is no padding mask.
Random weights (std 0.02, as BERT initialises them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class BertConfig:
    layers: int = 24
    hidden: int = 1024
    heads: int = 16
    intermediate: int = 4096
    vocab_size: int = 30522
    max_positions: int = 512
    type_vocab_size: int = 2


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        if c.hidden % c.heads:
            raise ValueError(f"hidden ({c.hidden}) must be a multiple of heads ({c.heads})")
        self.heads = c.heads
        self.qkv = nn.Linear(c.hidden, 3 * c.hidden)
        self.attn_out = nn.Linear(c.hidden, c.hidden)
        self.ln1 = nn.LayerNorm(c.hidden, eps=1e-12)
        self.ffn_in = nn.Linear(c.hidden, c.intermediate)
        self.act = nn.GELU()
        self.ffn_out = nn.Linear(c.intermediate, c.hidden)
        self.ln2 = nn.LayerNorm(c.hidden, eps=1e-12)

    def forward(self, x: Tensor) -> Tensor:
        n, t, h = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, h)
        x = self.ln1(x + self.attn_out(a))
        return self.ln2(x + self.ffn_out(self.act(self.ffn_in(x))))


class BertForQuestionAnswering(nn.Module):
    def __init__(self, c: BertConfig | None = None) -> None:
        super().__init__()
        c = c or BertConfig()
        self.config = c
        self.word = nn.Embedding(c.vocab_size, c.hidden)
        self.position = nn.Embedding(c.max_positions, c.hidden)
        self.token_type = nn.Embedding(c.type_vocab_size, c.hidden)
        self.ln = nn.LayerNorm(c.hidden, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.layers))
        self.qa = nn.Linear(c.hidden, 2)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> tuple[Tensor, Tensor]:
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device)
        x = self.word(input_ids) + self.position(pos) + self.token_type(token_type_ids)
        x = self.ln(x)
        for layer in self.layers:
            x = layer(x)
        start, end = self.qa(x).unbind(-1)
        return start, end
