"""``transformer-wmt16``: the Transformer base model on WMT16 English-German to BLEU 25.0, the
study's dense translation workload (the NPU was 1.67x the GPU, and needed dynamic loss scaling
to train in fp16 at all).

Reproduces: Vaswani et al. 2017's base model (6+6 blocks, d_model 512, 8 heads, FFN 2048,
dropout 0.1, shared embeddings and output projection) trained on WMT16 en-de (4.5M pairs:
Europarl v7, Common Crawl, News Commentary v11), judged by sacrebleu BLEU on newstest2014
(detokenised, 13a tokenisation; this is **not** the tokenised BLEU of the paper's 27.3, which
reads about 1 point higher), greedy decoding per epoch (``beam: 4`` for the paper's decoding).
The study's threshold is 25.0; MLPerf's reference used the same dataset and a 25.0 target
(its ``uncased`` tokenised BLEU).

Recipe (where the study is silent, the paper and MLPerf's reference): joint 32k BPE
vocabulary trained on the training split only, about 25,000 tokens per step, Adam (0.9, 0.98,
eps 1e-9), learning rate d_model^-0.5 x 4000^-0.5 = 7.0e-4 at the end of 4,000 warm-up
steps, then inverse-sqrt decay (the paper's eq. 3), label smoothing 0.1.

Measured: nothing yet; WMT16 needs an accelerator (about 1.3 GB of text, 100k+ steps).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accelbench.training.recipe import RECIPES, PositiveFloat
from accelbench.training.recipes._translation import TranslationParams, TranslationRecipe
from accelbench.workloads.base import Dim


class TranslationWmt16Params(TranslationParams):
    threshold: float = Field(default=25.0, gt=0, le=100, description="BLEU on newstest2014")
    max_epochs: Dim = 30
    batch_size: Dim = Field(default=25000, description="tokens per batch")
    lr: PositiveFloat = 512**-0.5 * 4000**-0.5
    dataset: Literal["multi30k", "wmt16"] = "wmt16"
    preset: Literal["small", "base"] = "base"
    vocab_size: Dim = 32000
    warmup_steps: Dim = 4000
    synthetic_size: Dim = 100000


@RECIPES.register("transformer-wmt16")
class TransformerWmt16(TranslationRecipe):
    kind = "transformer-wmt16"
    Params = TranslationWmt16Params
    params: TranslationWmt16Params
