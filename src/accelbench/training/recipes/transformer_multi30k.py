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

Threshold: **BLEU 30.0**, set from what this recipe reached (seed 0, fp32, the full 29,000
training pairs, all 1,000 test pairs decoded greedily after every epoch; 2-core AMD EPYC VM,
torch 2.13.0 CPU, 2 threads, host idle: other processes used 0.02 CPUs over the run):

    epoch  1     2     3     4     5     6     7     8     9     10    11    12
    BLEU   8.48  22.06 27.41 29.35 31.93 32.78 32.96 32.17 33.92 33.68 33.88 33.80

It levels off at about 33-34 from epoch 9; 30.0 is about 90% of that, as MLPerf sets its
targets a little below what the reference reaches, so that seeds and platforms whose curves
differ by a point still arrive. Seed 0 first passes it at epoch 5, 1,495 s after the start
(setup and evaluation included); the defaults as shipped with ``seed: 1`` stopped there too:
BLEU 8.17, 22.54, 27.89, 28.89, 30.66, time to threshold 1,508.8 s. Throughput (seed 0):
104.3 sentence pairs/s in epoch 1, 103.2 steady over epochs 2-12 (CV 1.2%), 1,628 target
tokens/s, 74 GFLOP/s of model FLOPs.
Reproduce the curve with ``accelbench run benchmarks/transformer-multi30k-curve.yaml --device
cpu --threads 2`` (its unreachable threshold keeps all 12 epochs).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accelbench.training.recipe import RECIPES, PositiveFloat
from accelbench.training.recipes._translation import TranslationParams, TranslationRecipe
from accelbench.workloads.base import Dim


class TranslationMulti30kParams(TranslationParams):
    threshold: float = Field(
        default=30.0, gt=0, le=100, description="BLEU on test2016 (measured: see above)"
    )
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
