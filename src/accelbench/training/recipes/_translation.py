"""What the Transformer recipes share: their params, the inverse-square-root schedule, and how a
run is built from :mod:`accelbench.data.translation` and :mod:`accelbench.models.transformer`.

Not a recipe itself (the leading underscore keeps it out of the recipe registry): see
``transformer_multi30k.py`` and ``transformer_wmt16.py`` for what each reproduces.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from accelbench.data.translation import (
    TranslationTask,
    load_translation,
    synthetic_translation,
    tokenizer_of,
)
from accelbench.models.transformer import Transformer, transformer_config, translation_loss
from accelbench.training.recipe import (
    Build,
    PositiveFloat,
    Recipe,
    RunSetup,
    TrainParams,
    training_flops_per_sample,
)
from accelbench.workloads.base import Dim


class TranslationParams(TrainParams):
    threshold: float = Field(gt=0, le=100, description="BLEU (sacrebleu, detokenised)")
    batch_size: Dim = Field(
        description="tokens per batch: batches are built by token count (source or target, "
        "whichever is longer, padded), not by sentences, as the reference implementations do"
    )
    dataset: Literal["multi30k", "wmt16"]
    preset: Literal["small", "base"]
    vocab_size: Dim = Field(description="joint sentencepiece BPE vocabulary, train split only")
    warmup_steps: Dim = Field(description="steps of linear warm-up before the 1/sqrt decay")
    beta2: float = Field(default=0.98, gt=0, lt=1)
    eps: PositiveFloat = 1e-9
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    max_len: Dim = Field(default=256, description="pairs with a longer side are left out")
    eval_split: Literal["valid", "test"] = "test"
    beam: Dim = Field(default=1, le=16, description="1: greedy decoding; more: beam search")
    grad_clip: float | None = Field(default=None, gt=0)
    spm_sentences: Dim = Field(
        default=2_000_000, description="sentences sampled to train the tokeniser"
    )
    synthetic_max_len: Dim = Field(default=50, description="longest synthetic sentence")


def inverse_sqrt(peak: float, warmup: int) -> Any:
    """Vaswani et al. 2017, eq. 3 up to its constant: linear warm-up to ``peak`` over
    ``warmup`` steps, then ``peak * sqrt(warmup / step)``."""

    def lr_at(s: int) -> float:
        step = s + 1
        return peak * min(step / warmup, math.sqrt(warmup / step))

    return lr_at


class TranslationRecipe(Recipe):
    """A Transformer trained on a translation dataset to a BLEU threshold."""

    params: TranslationParams
    summary: ClassVar[dict[str, Any]] = {
        "model": "Transformer (Vaswani et al. 2017), pre-norm, shared embeddings and output "
        "projection, sinusoidal positions, attention through scaled_dot_product_attention",
        "optimizer": "Adam, beta1 0.9",
        "schedule": "inverse square root with linear warm-up, per step",
        "loss": "label-smoothed cross-entropy per target token",
        "metric": "sacrebleu BLEU on detokenised output (signature stored with every epoch)",
    }

    def build(self, setup: RunSetup) -> Build:
        p = self.params
        info: dict[str, Any] = {}
        vocab: list[int] = []

        def load_task() -> TranslationTask:
            if p.data == "synthetic":
                data = synthetic_translation(
                    p.synthetic_size, p.vocab_size, max_len=p.synthetic_max_len, seed=setup.seed
                )
                vocab.append(p.vocab_size)
                info.update(
                    source="synthetic",
                    pairs=p.synthetic_size,
                    lengths=f"uniform 5..{p.synthetic_max_len} tokens (not a corpus's)",
                )
            else:
                data, src = load_translation(
                    p.dataset,
                    setup.data_dir,
                    setup.cache_dir,
                    vocab_size=p.vocab_size,
                    spm_sentences=p.spm_sentences,
                    train_subset=p.train_subset,
                    eval_subset=p.eval_subset,
                )
                info.update(src)
                vocab.append(tokenizer_of(data).vocab_size)
            return TranslationTask(
                data,
                setup.device,
                max_tokens=p.batch_size,
                seed=setup.seed,
                max_len=p.max_len,
                pad_multiple=8 if setup.device.type != "cpu" else 1,
                eval_split=p.eval_split,
                beam=p.beam,
                synthetic=p.data == "synthetic",
            )

        def config() -> Any:
            return transformer_config(p.preset, vocab_size=vocab[-1], dropout=p.dropout)

        def make_optimizer(params: list[torch.nn.Parameter], steps_per_epoch: int) -> Any:
            opt = torch.optim.Adam(
                params, lr=p.lr, betas=(0.9, p.beta2), eps=p.eps, weight_decay=p.weight_decay
            )
            return opt, inverse_sqrt(p.lr, p.warmup_steps)

        def flops(task: Any, _: Any) -> float:
            # Per sentence pair at the mean training lengths (tokens with eos).
            n = max(task.n_train, 1)
            src = max(round(task.source_tokens_per_epoch / n), 1)
            tgt = max(round(task.tokens_per_epoch / n), 1)
            return training_flops_per_sample(
                lambda: Transformer(config()),
                torch.ones(1, src, dtype=torch.long),
                torch.ones(1, tgt, dtype=torch.long),
            )

        return Build(
            load_task=load_task,
            build_model=lambda: Transformer(config()),
            make_optimizer=make_optimizer,
            loss_fn=lambda logits, y: translation_loss(
                logits, y, label_smoothing=p.label_smoothing
            ),
            data_info=info,
            flops_per_sample=flops,
            grad_clip=p.grad_clip,
        )
