"""A text classifier over a recurrent encoder, in plain PyTorch.

:class:`LSTMClassifier`: embedding -> (bi)LSTM over the packed sequence -> max-pooling of
the outputs over time -> dropout -> linear. Packing makes the padded tail invisible to the
recurrence, so results do not depend on how batches are padded.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class LSTMClassifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(
            embed_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        emb = self.drop(self.embed(x))
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        # Padding positions are filled with -inf so max-pooling sees only real time steps.
        out, _ = pad_packed_sequence(out, batch_first=True, padding_value=float("-inf"))
        return self.fc(self.drop(out.max(dim=1).values))
