"""The Transformer of Vaswani et al. 2017 ("Attention Is All You Need"), in plain PyTorch.

What it reproduces (section numbers are the paper's):

- **base** (Table 3): N = 6 encoder and 6 decoder blocks, d_model 512, 8 heads, d_ff 2048,
  ReLU feed-forward, residual dropout 0.1 on every sub-layer output and on the embedding sums
  (section 5.4), no attention dropout (the paper describes none; ``attention_dropout`` adds it).
- One joint source/target vocabulary (byte-pair encoding shared by both languages, section 5.1):
  the source embedding, the target embedding and the pre-softmax projection are **one** weight
  matrix, and the embeddings are multiplied by sqrt(d_model) (section 3.4).
- Fixed sinusoidal positions (section 3.5), added after the scaling.
- **small**: the same architecture, 3+3 blocks of width 256 (4 heads, d_ff 1024) and an
  8,000-token vocabulary, for Multi30k-sized data on a CPU.

**Pre-norm.** Each block normalises its input before attention and before the feed-forward
(``x + Sublayer(LayerNorm(x))``), with a final LayerNorm on the encoder and decoder outputs.
The paper's figure is post-norm (``LayerNorm(x + Sublayer(x))``), but the authors' own
tensor2tensor (whose ``transformer_base`` normalises first) and the MLPerf training reference
(fairseq with ``--encoder-normalize-before --decoder-normalize-before``) both use pre-norm:
its gradients are well scaled at initialisation, so it trains without a delicate warm-up
(Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture"). A benchmark runs
one recipe on every platform and in fp16, where a run that diverges because of the
normalisation order would measure nothing. ``norm="post"`` builds the paper's variant.

**Attention** goes through :func:`torch.nn.functional.scaled_dot_product_attention`, so each
platform's fused kernel is used: the decoder's self-attention in training is ``is_causal``
(right-padded targets need nothing more: no real position sees a later one), the encoder's
self-attention and the cross-attention take a key-padding mask of shape (batch, 1, 1, source
length), additive (0 for a real key, -inf for padding) and in the activations' dtype: torch
would turn a boolean mask into that itself, and the ONNX exporter keeps a float32 one float32,
which breaks a bfloat16 graph.

**Decoding** (section 6.1): greedy, and beam search with beam 4 and the length penalty of
Wu et al. 2016, ``((5 + |Y|) / 6) ** alpha`` with alpha 0.6, up to input length + 50 tokens.
Both decode incrementally: each layer caches its self-attention keys and values and the
cross-attention keys and values of the source, so a step costs one token, not the prefix.
Token ids 0-3 are pad, unknown, begin- and end-of-sentence, as the tokeniser in
:mod:`accelbench.data.translation` assigns them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PAD, UNK, BOS, EOS = 0, 1, 2, 3


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int = 32000
    d_model: int = 512
    heads: int = 8
    d_ff: int = 2048
    encoder_layers: int = 6
    decoder_layers: int = 6
    dropout: float = 0.1
    attention_dropout: float = 0.0
    norm: str = "pre"  # "pre" (default, see the header) or "post" (the paper's figure)
    max_positions: int = 1024  # rows of the sinusoid table: longest source or decoded output
    pad_id: int = PAD
    bos_id: int = BOS
    eos_id: int = EOS

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "heads", "d_ff", "max_positions"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        for name in ("encoder_layers", "decoder_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if self.d_model % self.heads:
            raise ValueError(
                f"heads: d_model ({self.d_model}) must be divisible by heads ({self.heads})"
            )
        for name in ("dropout", "attention_dropout"):
            v = getattr(self, name)
            if not 0 <= v < 1:
                raise ValueError(f"{name}: expected a probability in [0, 1), got {v!r}")
        if self.norm not in ("pre", "post"):
            raise ValueError(f"norm: expected 'pre' or 'post', got {self.norm!r}")
        ids = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        for name, v in ids.items():
            if not 0 <= v < self.vocab_size:
                raise ValueError(f"{name}: expected an id below vocab_size, got {v!r}")


PRESETS: dict[str, TransformerConfig] = {
    "base": TransformerConfig(),
    "small": TransformerConfig(
        vocab_size=8000, d_model=256, heads=4, d_ff=1024, encoder_layers=3, decoder_layers=3
    ),
}


def transformer_config(preset: str = "base", **overrides: Any) -> TransformerConfig:
    """A preset (``base`` or ``small``) with fields replaced, e.g. ``vocab_size=8000``."""
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    unknown = set(overrides) - set(TransformerConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: not a TransformerConfig field")
    return replace(PRESETS[preset], **overrides)


def sinusoids(length: int, d_model: int) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...) (section 3.5)."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    inv = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv)[:, : d_model // 2]
    return pe.float()


Cache = dict[str, Tensor]


class SelfAttention(nn.Module):
    """Multi-head self-attention, Q/K/V from one fused projection."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: Cache | None = None,
    ) -> Tensor:
        q, k, v = (_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        if cache is not None:  # incremental decoding: append this step's keys and values
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self._p()
        )
        return self.out(_merge(y))

    def _p(self) -> float:
        return self.dropout if self.training else 0.0


class CrossAttention(nn.Module):
    """Decoder-to-encoder attention; the source keys and values are computed once per
    decoding and cached."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self, x: Tensor, memory: Tensor, mask: Tensor | None, cache: Cache | None = None
    ) -> Tensor:
        q = _heads(self.q(x), self.heads)
        if cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = (_heads(t, self.heads) for t in self.kv(memory).chunk(2, dim=-1))
            if cache is not None:
                cache["k"], cache["v"] = k, v
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(_merge(y))


def _heads(x: Tensor, heads: int) -> Tensor:
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)


def _merge(y: Tensor) -> Tensor:
    b, h, n, dk = y.shape
    return y.transpose(1, 2).reshape(b, n, h * dk)


class FeedForward(nn.Sequential):
    """FFN(x) = max(0, x W1 + b1) W2 + b2 (section 3.3)."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))


class EncoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.pre = c.norm == "pre"
        self.attn = SelfAttention(c.d_model, c.heads, c.attention_dropout)
        self.ff = FeedForward(c.d_model, c.d_ff)
        self.norm1, self.norm2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        if self.pre:
            x = x + self.drop(self.attn(self.norm1(x), mask))
            return x + self.drop(self.ff(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attn(x, mask)))
        return self.norm2(x + self.drop(self.ff(x)))


class DecoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.pre = c.norm == "pre"
        self.self_attn = SelfAttention(c.d_model, c.heads, c.attention_dropout)
        self.cross_attn = CrossAttention(c.d_model, c.heads, c.attention_dropout)
        self.ff = FeedForward(c.d_model, c.d_ff)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.drop = nn.Dropout(c.dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        src_mask: Tensor | None,
        cache: dict[str, Cache] | None = None,
    ) -> Tensor:
        # With a cache, x is the newest token only and the cached keys are all earlier ones:
        # nothing to mask. Without one, x is the whole (right-padded) prefix: causal.
        causal = cache is None
        sc, cc = (cache["self"], cache["cross"]) if cache is not None else (None, None)
        if self.pre:
            x = x + self.drop(self.self_attn(self.norm1(x), causal=causal, cache=sc))
            x = x + self.drop(self.cross_attn(self.norm2(x), memory, src_mask, cc))
            return x + self.drop(self.ff(self.norm3(x)))
        x = self.norm1(x + self.drop(self.self_attn(x, causal=causal, cache=sc)))
        x = self.norm2(x + self.drop(self.cross_attn(x, memory, src_mask, cc)))
        return self.norm3(x + self.drop(self.ff(x)))


class Transformer(nn.Module):
    """Encoder-decoder Transformer; ``forward(src, tgt_in)`` gives logits (batch, T, vocab).

    ``src`` is (batch, S) token ids right-padded with ``pad_id``; ``tgt_in`` is the target
    shifted right (``bos`` first), (batch, T). The loss compares the logits with the target
    followed by ``eos``: see :func:`translation_loss`.
    """

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        c = config or TransformerConfig()
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_id)
        self.register_buffer("pe", sinusoids(c.max_positions, c.d_model), persistent=False)
        self.scale = math.sqrt(c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(c) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(c) for _ in range(c.decoder_layers))
        pre = c.norm == "pre"
        self.enc_norm = nn.LayerNorm(c.d_model) if pre else nn.Identity()
        self.dec_norm = nn.LayerNorm(c.d_model) if pre else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections with zero biases (tensor2tensor, fairseq); embeddings
        N(0, d_model^-0.5), so that after the sqrt(d_model) scaling they have unit variance."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.embed.weight, std=self.config.d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[self.config.pad_id].zero_()

    # -- building blocks, also used by decoding ---------------------------------------------
    def _embed(self, tokens: Tensor, offset: int = 0) -> Tensor:
        n = tokens.shape[1]
        if offset + n > self.config.max_positions:
            raise ValueError(
                f"sequence of {offset + n} tokens is longer than max_positions "
                f"({self.config.max_positions})"
            )
        x = self.embed(tokens) * self.scale + self.pe[offset : offset + n].to(self.embed.weight)
        return self.drop(x)

    def source_mask(self, src: Tensor) -> Tensor:
        """(batch, 1, 1, S) boolean: True where the source token is real (not padding)."""
        return (src != self.config.pad_id)[:, None, None, :]

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output (batch, S, d_model) and the additive source key-padding mask."""
        x = self._embed(src)
        pad = (src == self.config.pad_id)[:, None, None, :]
        mask = torch.zeros(pad.shape, dtype=x.dtype, device=x.device).masked_fill(pad, -math.inf)
        for layer in self.encoder:
            x = layer(x, mask)
        return self.enc_norm(x), mask

    def decode(
        self,
        tgt_in: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        cache: list[dict[str, Cache]] | None = None,
        offset: int = 0,
    ) -> Tensor:
        """Logits for ``tgt_in`` (batch, T). With ``cache`` (from :meth:`new_cache`),
        ``tgt_in`` holds the next token(s) after ``offset`` already decoded ones."""
        x = self._embed(tgt_in, offset)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory, src_mask, None if cache is None else cache[i])
        return self.project(self.dec_norm(x))

    def project(self, h: Tensor) -> Tensor:
        """The pre-softmax projection: the shared embedding matrix, transposed (section 3.4)."""
        return F.linear(h, self.embed.weight)

    def new_cache(self) -> list[dict[str, Cache]]:
        return [{"self": {}, "cross": {}} for _ in self.decoder]

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        memory, mask = self.encode(src)
        return self.decode(tgt_in, memory, mask)

    # -- decoding ---------------------------------------------------------------------------
    def _limit(self, src: Tensor, max_new_tokens: int | None) -> int:
        limit = src.shape[1] + 50 if max_new_tokens is None else max_new_tokens
        return max(1, min(limit, self.config.max_positions))

    def _step_logits(self, logits: Tensor) -> Tensor:
        """Next-token scores with padding and begin-of-sentence ruled out."""
        logits = logits.float()
        logits[:, self.config.pad_id] = -math.inf
        logits[:, self.config.bos_id] = -math.inf
        return logits

    @torch.no_grad()
    def greedy(
        self,
        src: Tensor,
        max_new_tokens: int | None = None,
        *,
        stop_at_eos: bool = True,
        use_cache: bool = True,
    ) -> Tensor:
        """Greedy decoding: (batch, T) token ids, ``eos`` included, ``pad`` after it.

        Up to ``max_new_tokens`` tokens (default: source length + 50). ``stop_at_eos=False``
        always decodes exactly that many (a fixed amount of work, for timing; no host sync).
        ``use_cache=False`` re-runs the decoder on the whole prefix at each step (slower; the
        reference the cached path is tested against).
        """
        c = self.config
        memory, mask = self.encode(src)
        b = src.shape[0]
        limit = self._limit(src, max_new_tokens)
        cache = self.new_cache() if use_cache else None
        prefix = torch.full((b, 1), c.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(b, dtype=torch.bool, device=src.device)
        out: list[Tensor] = []
        for t in range(limit):
            step_in = prefix[:, -1:] if use_cache else prefix
            logits = self.decode(step_in, memory, mask, cache, offset=t if use_cache else 0)
            nxt = self._step_logits(logits[:, -1]).argmax(-1)
            nxt = nxt.masked_fill(done, c.pad_id)
            out.append(nxt)
            done = done | (nxt == c.eos_id)
            prefix = torch.cat([prefix, nxt[:, None]], dim=1)
            if stop_at_eos and bool(done.all()):
                break
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def beam_search(
        self,
        src: Tensor,
        beam: int = 4,
        alpha: float = 0.6,
        max_new_tokens: int | None = None,
    ) -> list[list[int]]:
        """Beam search (section 6.1: beam 4, alpha 0.6): the best hypothesis per sentence,
        as token ids without ``eos``.

        Hypotheses are ranked by log-probability / ``((5 + length) / 6) ** alpha`` (Wu et al.
        2016; length counts ``eos``). Each step keeps the ``beam`` best live continuations out
        of the top 2 x ``beam``; a continuation ending in ``eos`` becomes a finished
        hypothesis. A sentence stops when no live beam can still beat its best finished one:
        log-probabilities only fall, so a live beam's best possible score is its current one
        under the largest length penalty.
        """
        if beam < 1:
            raise ValueError(f"beam: expected a positive integer, got {beam!r}")
        c = self.config
        b, k = src.shape[0], beam
        memory, mask = self.encode(src)
        memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
        limit = self._limit(src, max_new_tokens)

        def lp(length: int) -> float:
            return ((5 + length) / 6) ** alpha

        cache = self.new_cache()
        tokens = torch.full((b * k, 1), c.bos_id, dtype=torch.long, device=src.device)
        scores = torch.full((b, k), -math.inf)
        scores[:, 0] = 0.0  # all beams start identical: expand the first only
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
        active = [True] * b
        for t in range(limit):
            logits = self.decode(tokens[:, -1:], memory, mask, cache, offset=t)[:, -1]
            logp = torch.log_softmax(self._step_logits(logits), dim=-1).cpu()
            vocab = logp.shape[-1]
            cand = (scores[:, :, None] + logp.view(b, k, vocab)).view(b, k * vocab)
            top, idx = cand.topk(min(2 * k, k * vocab), dim=1)
            new_scores = torch.full((b, k), -math.inf)
            parents = torch.arange(b * k).view(b, k).clone()
            new_tok = torch.full((b, k), c.pad_id, dtype=torch.long)
            last = t == limit - 1
            for i in range(b):
                if not active[i]:
                    continue
                j = 0
                for r in range(top.shape[1]):
                    s = float(top[i, r])
                    if s == -math.inf:
                        break
                    parent, tok = divmod(int(idx[i, r]), vocab)
                    if tok == c.eos_id:
                        if r < k:
                            hyp = tokens[i * k + parent, 1:].tolist()
                            finished[i].append((s / lp(t + 1), hyp))
                        continue
                    if j < k:
                        new_scores[i, j], parents[i, j], new_tok[i, j] = s, i * k + parent, tok
                        j += 1
                best_done = max((f[0] for f in finished[i]), default=-math.inf)
                best_live = float(new_scores[i, 0])
                if last:
                    for jj in range(j):
                        hyp = [*tokens[int(parents[i, jj]), 1:].tolist(), int(new_tok[i, jj])]
                        finished[i].append((float(new_scores[i, jj]) / lp(t + 1), hyp))
                    active[i] = False
                elif j == 0 or best_live / lp(limit) <= best_done:
                    active[i] = False
            if not any(active):
                break
            flat = parents.view(-1).to(src.device)
            for layer in cache:
                for key in ("k", "v"):
                    layer["self"][key] = layer["self"][key].index_select(0, flat)
            tokens = torch.cat(
                [tokens.index_select(0, flat), new_tok.view(-1, 1).to(src.device)], 1
            )
            scores = new_scores
        return [max(f, key=lambda h: h[0])[1] if f else [] for f in finished]


class GreedyTranslator(nn.Module):
    """``forward(src)`` = greedy decoding of exactly ``new_tokens`` tokens per sentence: the
    inference workload's model (a fixed amount of work per call, no early stop on ``eos``)."""

    def __init__(self, model: Transformer, new_tokens: int) -> None:
        super().__init__()
        self.model, self.new_tokens = model, new_tokens

    def forward(self, src: Tensor) -> Tensor:
        return self.model.greedy(src, self.new_tokens, stop_at_eos=False)


def translation_loss(
    logits: Tensor, target: Tensor, pad_id: int = PAD, label_smoothing: float = 0.1
) -> Tensor:
    """Label-smoothed cross-entropy (section 5.4: epsilon 0.1) per real target token, in
    float32 whatever the autocast dtype; padding positions count for nothing."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        target.reshape(-1),
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )


def strip_special(ids: list[int], config: TransformerConfig) -> list[int]:
    """Token ids up to (not including) the first ``eos``, without padding."""
    out = []
    for t in ids:
        if t == config.eos_id:
            break
        if t != config.pad_id:
            out.append(t)
    return out
