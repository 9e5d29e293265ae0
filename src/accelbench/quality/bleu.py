"""BLEU (and chrF) with sacrebleu, and the per-epoch translation evaluation.

BLEU is computed by sacrebleu (Post 2018, "A Call for Clarity in Reporting BLEU Scores") on
**detokenised** text: the model's output decoded back to plain text by its sentencepiece model,
against the original reference lines, with sacrebleu's own tokenisation (``13a``, the WMT
standard), mixed case, one reference. Its signature (``nrefs:1|case:mixed|eff:no|tok:13a|
smooth:exp|version:...``) says exactly that and goes with every score: two BLEU numbers are
comparable only when their signatures are equal.

:func:`evaluate_translation` is what a trainer calls after an epoch: teacher-forced loss on the
evaluation split (cross-entropy per target token, no label smoothing), then greedy decoding
(or beam search) of every source, then BLEU and chrF. It returns a :class:`Quality`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from accelbench.training.task import Quality, QualitySpec

# BLEU of unrelated output is ~0 (a few function words match by chance): "at chance" is 0.
BLEU_SPEC = QualitySpec("bleu", "BLEU", higher_is_better=True, chance=0.0, stuck_margin=1.0)


@dataclass(frozen=True)
class BleuResult:
    score: float
    signature: str
    brevity_penalty: float
    sys_len: int
    ref_len: int
    precisions: tuple[float, ...]


def corpus_bleu(hypotheses: list[str], references: list[str]) -> BleuResult:
    """sacrebleu corpus BLEU of detokenised ``hypotheses`` against one reference each."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses: {len(hypotheses)} sentences for {len(references)} references"
        )
    bleu = BLEU()
    s = bleu.corpus_score(hypotheses, [references])
    return BleuResult(
        score=float(s.score),
        signature=str(bleu.get_signature()),
        brevity_penalty=float(s.bp),
        sys_len=int(s.sys_len),
        ref_len=int(s.ref_len),
        precisions=tuple(float(p) for p in s.precisions),
    )


def corpus_chrf(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """sacrebleu chrF (Popovic 2015) and its signature."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    return float(chrf.corpus_score(hypotheses, [references]).score), str(chrf.get_signature())


def evaluate_translation(
    model: Any,
    batches: Any,
    references: list[str],
    tokenizer: Any,
    *,
    forward: Callable[..., torch.Tensor] | None = None,
    autocast_ctx_factory: Callable[[], Any] = contextlib.nullcontext,
    beam: int = 1,
    alpha: float = 0.6,
    max_new_tokens: int | None = None,
) -> Quality:
    """BLEU of ``model`` (a :class:`~accelbench.models.transformer.Transformer`) on the pairs
    of ``batches`` (:class:`~accelbench.data.translation.TranslationBatches` of the evaluation
    split), whose i-th pair has reference ``references[i]``.

    ``forward`` (e.g. the compiled model) computes the teacher-forced loss; decoding always
    runs ``model`` itself (greedy for ``beam`` 1, else beam search with length penalty
    ``alpha``), both inside ``autocast_ctx_factory()`` (the run's precision). The model is
    left in the train/eval mode it came in.
    """
    from accelbench.models.transformer import strip_special

    cfg = model.config
    fwd = forward or model
    was_training = model.training
    model.eval()
    hyps: list[list[int] | None] = [None] * len(references)
    loss_sum = None
    tokens = 0
    t0 = time.perf_counter()
    decode_s = 0.0
    try:
        with torch.no_grad(), autocast_ctx_factory():
            for idx, ((src, tgt_in), tgt_out) in batches.in_order():
                logits = fwd(src, tgt_in)
                loss = F.cross_entropy(
                    logits.float().flatten(0, 1),
                    tgt_out.flatten(),
                    ignore_index=cfg.pad_id,
                    reduction="sum",
                )
                loss_sum = loss if loss_sum is None else loss_sum + loss
                tokens += int((batches.tgt.len[idx] + 1).sum())
                d0 = time.perf_counter()
                if beam > 1:
                    out = model.beam_search(src, beam, alpha, max_new_tokens)
                else:
                    out = model.greedy(src, max_new_tokens).cpu().tolist()
                decode_s += time.perf_counter() - d0
                for i, ids in zip(idx.tolist(), out, strict=True):
                    hyps[i] = strip_special(ids, cfg)
    finally:
        model.train(was_training)
    missing = sum(h is None for h in hyps)
    if missing:
        raise ValueError(f"references: {missing} of {len(references)} have no source in batches")
    texts = tokenizer.decode(hyps)
    bleu = corpus_bleu(texts, references)
    chrf, chrf_sig = corpus_chrf(texts, references)
    val_loss = float(loss_sum) / tokens if loss_sum is not None and tokens else math.nan
    decoding = "greedy" if beam <= 1 else f"beam {beam}, length penalty alpha {alpha:g}"
    if bleu.ref_len:
        ratio: dict[str, float | str] = {"bleu_sys_ref_ratio": bleu.sys_len / bleu.ref_len}
    else:
        ratio = {}
    secondary: dict[str, float | str] = {
        "bleu_signature": bleu.signature,
        "bleu_brevity_penalty": bleu.brevity_penalty,
        "chrf": chrf,
        "chrf_signature": chrf_sig,
        **ratio,
        "decoding": decoding,
        "eval_pairs": float(len(references)),
        "decode_s": decode_s,
        "eval_s": time.perf_counter() - t0,
    }
    if math.isfinite(val_loss):  # a non-finite loss is not a number to store
        secondary["val_loss"] = val_loss
        if val_loss < 50:
            secondary["val_ppl"] = math.exp(val_loss)
    return Quality(BLEU_SPEC, bleu.score, secondary)
