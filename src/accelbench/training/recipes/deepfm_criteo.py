"""``deepfm-criteo``: DeepFM on Criteo display advertising to ROC AUC 0.8075, the study's
sparse workload (the NPU reached 73% of the GPU's speed to threshold, 63% of its steady
throughput).

Reproduces: click-through-rate prediction on the Criteo Kaggle display-advertising training
file (45,840,617 rows: label, 13 integer and 26 hashed categorical fields), split 8:1:1 at
random with a fixed seed (the split the open CTR benchmarks use), judged by the exact ROC AUC
over the **whole** validation split after every epoch, logloss beside it. Threshold: 0.8075.

Data (:mod:`accelbench.data.criteo`): integers as ``log(1 + max(x, 0))``; categorical values
seen fewer than ``min_count`` (10) times in the training split map to their field's
out-of-vocabulary row; one streaming preprocessing pass into memory-mapped arrays, cached.

Model (:mod:`accelbench.models.deepfm`): Guo et al. 2017 as the paper sets it for Criteo
(section 3.1, after Qu et al. 2016): embedding dimension 10 shared by the FM and the DNN, DNN
400-400-400 with ReLU and dropout 0.5, no L2 penalty; Adam. The paper gives no batch size or
learning rate: batch 10,000 and learning rate 1e-3 are those of the open CTR benchmark BARS
(FuxiCTR's DeepFM_criteo_x4_001 experiment, which reached validation AUC 0.8136 in 11 epochs
with a wider model). ``optimizers`` chooses dense Adam (every table row updated every step) or
SparseAdam on the tables (only looked-up rows), a case dimension; sparse gradients and loss
scaling (the fp16 modes) do not combine and are stored ``unsupported``.

Synthetic mode keeps the embedding tables' real sizes: a real cache's vocabulary when
``synthetic_tables`` names one (the tables after the minimum count), else Criteo's raw
cardinalities without a minimum count (facebookresearch/dlrm; 33.8M rows, the largest tables
Criteo can need). No published per-field table sizes after the minimum count were found to
build in.

Every result carries the FLOPs per sample of the dense part (FLOPs library), the bytes the
lookups and the optimiser move per sample, and their ratio, so the roofline places the run.

Measured (2-core VM shared with other work, torch 2.13 CPU, synthetic mode at the raw
cardinalities, batch 10,000): dense Adam 306 samples/s (fp32), SparseAdam 1,588 samples/s
(fp32); the AUC threshold has not been run (the 11 GB file is not on this machine).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from accelbench.data.criteo import (
    MIN_COUNT,
    N_CAT,
    CriteoTask,
    load_criteo,
    synthetic_cardinalities,
    synthetic_criteo,
)
from accelbench.errors import Unsupported
from accelbench.models.deepfm import (
    EMBED_DIM,
    DeepFM,
    DeepFMConfig,
    deepfm_cost,
    make_optimizer,
    unsupported_reason,
)
from accelbench.results.schema import Metric
from accelbench.training.recipe import RECIPES, Build, PositiveFloat, Recipe, RunSetup, TrainParams
from accelbench.workloads.base import Dim


class DeepFMParams(TrainParams):
    threshold: float = Field(default=0.8075, gt=0.5, le=1, description="validation ROC AUC")
    max_epochs: Dim = 15
    batch_size: Dim = 10000
    lr: PositiveFloat = 1e-3
    embed_dim: Dim = EMBED_DIM
    min_count: Dim = Field(default=MIN_COUNT, description="rarer values map to the OOV row")
    optimizers: list[Literal["dense", "sparse"]] = Field(
        default=["dense"],
        min_length=1,
        description="dense: Adam on every parameter; sparse: SparseAdam on the tables",
    )
    lookup: Literal["embedding", "embedding_bag"] = "embedding"
    max_rows: Dim | None = Field(default=None, description="read only the file's first rows")
    synthetic_tables: str | list[Annotated[int, Field(ge=1)]] = Field(
        default="kaggle-raw",
        description="synthetic table sizes: 'kaggle-raw', a Criteo cache folder, or 26 row counts",
    )
    eval_batch_size: Dim = 65536
    stuck_epochs: Dim = 2

    @field_validator("synthetic_tables")
    @classmethod
    def _one_size_per_field(cls, v: str | list[int]) -> str | list[int]:
        if isinstance(v, list) and len(v) != N_CAT:
            raise ValueError(
                f"expected {N_CAT} row counts (one per categorical field), got {len(v)}"
            )
        return v


class _Holder:
    model: DeepFM | None = None


@RECIPES.register("deepfm-criteo")
class DeepFMCriteo(Recipe):
    kind = "deepfm-criteo"
    Params = DeepFMParams
    params: DeepFMParams
    summary: ClassVar[dict[str, Any]] = {
        "model": "DeepFM (Guo et al. 2017): shared embeddings, FM first and second order, "
        "DNN 400-400-400 ReLU dropout 0.5",
        "optimizer": "Adam (dense) or SparseAdam on the tables + Adam",
        "schedule": "constant learning rate",
        "metric": "exact ROC AUC (scikit-learn) over the whole validation split, logloss beside",
        "batch_and_lr_source": "BARS / FuxiCTR DeepFM_criteo_x4_001",
    }

    def cases(self) -> list[dict[str, Any]]:
        return [
            {**case, "optimizer": opt}
            for case in super().cases()
            for opt in dict.fromkeys(self.params.optimizers)
        ]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return f"{super().describe(case)} {case.get('optimizer', 'dense')} Adam"

    def build(self, setup: RunSetup) -> Build:
        p = self.params
        sparse = setup.case.get("optimizer") == "sparse"
        why = unsupported_reason(setup.case["precision"], sparse)
        if why is not None:
            raise Unsupported(why)
        info: dict[str, Any] = {}
        cards: list[tuple[int, ...]] = []
        holder = _Holder()

        def load_task() -> CriteoTask:
            if p.data == "synthetic":
                if isinstance(p.synthetic_tables, list):
                    sizes, what = tuple(p.synthetic_tables), "given in the params"
                else:
                    sizes, what = synthetic_cardinalities(p.synthetic_tables)
                rows = synthetic_criteo(p.synthetic_size, sizes, seed=setup.seed)
                info.update(source="synthetic", rows=p.synthetic_size, tables=what)
                cards.append(sizes)
                return CriteoTask(rows, None, setup.device, p.batch_size, seed=setup.seed)
            data, src = load_criteo(
                setup.data_dir,
                setup.cache_dir,
                min_count=p.min_count,
                seed=p.seed,  # the split is the data's, not the run's: fixed across repeats
                max_rows=p.max_rows,
            )
            info.update(src)
            cards.append(tuple(data.vocab_sizes))
            train, val = data.splits["train"], data.splits["val"]
            if p.train_subset:
                train = train.head(p.train_subset)
            if p.eval_subset:
                val = val.head(p.eval_subset)
            return CriteoTask(
                train,
                val,
                setup.device,
                p.batch_size,
                eval_batch_size=p.eval_batch_size,
                seed=setup.seed,
            )

        def build_model() -> DeepFM:
            holder.model = DeepFM(
                DeepFMConfig(cards[-1], embed_dim=p.embed_dim, lookup=p.lookup, sparse=sparse)
            )
            return holder.model

        def optimizer(params: list[torch.nn.Parameter], steps: int) -> Any:
            assert holder.model is not None
            opt = make_optimizer(holder.model, p.lr, params=None if sparse else params)
            return opt, lambda step: p.lr

        def flops(task: Any, model: Any) -> float:
            return deepfm_cost(model.config, p.batch_size).train_flops

        def cost_metrics() -> dict[str, Metric]:
            if holder.model is None:
                return {}
            c = deepfm_cost(holder.model.config, p.batch_size)
            return {
                "train_bytes_per_sample": Metric(value=c.train_bytes, unit="B"),
                "arithmetic_intensity": Metric(value=c.arithmetic_intensity, unit="FLOP/B"),
                "table_rows": Metric(value=float(c.table_rows), unit="rows"),
                "table_bytes": Metric(value=float(c.table_bytes), unit="B"),
                "optimizer_state_bytes": Metric(value=float(c.optimizer_state_bytes), unit="B"),
            }

        return Build(
            load_task=load_task,
            build_model=build_model,
            make_optimizer=optimizer,
            loss_fn=lambda logits, y: F.binary_cross_entropy_with_logits(logits.float(), y),
            data_info=info,
            flops_per_sample=flops,
            extra_metrics=cost_metrics,
        )
