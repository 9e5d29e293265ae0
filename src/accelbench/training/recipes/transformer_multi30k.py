"""``transformer-multi30k``: a small Transformer on Multi30k English-German to a BLEU
threshold: the study's translation workload at a size a CPU or a single small accelerator can
train to quality.

Reproduces: translation of the Multi30k (Elliott et al. 2016) test2016 Flickr captions, 1,000
pairs, after training on the 29,000 training pairs; BLEU by sacrebleu on detokenised output
(greedy decoding per epoch), signature stored.

Recipe (:mod:`accelbench.training.recipes._translation`): the ``small`` Transformer (3+3
blocks, d_model 256, 4 heads, FFN 1024, dropout 0.1, pre-norm, shared embeddings), a joint
8,000-token BPE vocabulary trained on the training split only, batches of up to 2,048 tokens,
Adam (0.9, 0.98, eps 1e-9), peak learning rate 1e-3 with 300 warm-up steps and inverse-sqrt
decay, label smoothing 0.1. The study is silent on a Multi30k setting; these are the
common small-data choices (fairseq's IWSLT settings scaled down).

Threshold: see ``TranslationMulti30kParams.threshold`` and the README for what was measured.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accelbench.training.recipe import RECIPES, PositiveFloat
from accelbench.training.recipes._translation import TranslationParams, TranslationRecipe
from accelbench.workloads.base import Dim


class TranslationMulti30kParams(TranslationParams):
    threshold: float = Field(default=25.0, gt=0, le=100, description="BLEU on test2016")
    max_epochs: Dim = 20
    batch_size: Dim = Field(default=2048, description="tokens per batch")
    lr: PositiveFloat = 1e-3
    dataset: Literal["multi30k", "wmt16"] = "multi30k"
    preset: Literal["small", "base"] = "small"
    vocab_size: Dim = 8000
    warmup_steps: Dim = 300
    synthetic_size: Dim = 29000
    spm_sentences: Dim = 2_000_000


@RECIPES.register("transformer-multi30k")
class TransformerMulti30k(TranslationRecipe):
    kind = "transformer-multi30k"
    dataset = "multi30k"
    Params = TranslationMulti30kParams
    params: TranslationMulti30kParams
