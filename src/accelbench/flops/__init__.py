"""FLOPs and memory-traffic counting: analytic per operator, and per model from one pass.

Convention: one multiply-accumulate (MAC) = 2 FLOPs, and both are reported; other work counts
1 FLOP per elementary operation, with composite functions in one table
(:data:`ELEMENTWISE_FLOPS`). ``min_bytes`` is compulsory traffic: inputs and parameters read
once, outputs written once. :mod:`accelbench.flops.ops` states every rule, including backward.
"""

from __future__ import annotations

from accelbench.flops.ops import (
    ACTIVATIONS,
    CONVENTION,
    ELEMENTWISE_FLOPS,
    MODES,
    OPS,
    RNN_MODES,
    ZERO,
    Cost,
    OpCount,
    activation,
    adaptive_avg_pool2d,
    batch_norm,
    conv2d,
    dropout,
    embedding,
    gru,
    layer_norm,
    linear,
    log_softmax,
    lstm,
    matmul,
    multi_head_attention,
    pool2d,
    rnn,
    scaled_dot_product_attention,
    softmax,
)

__all__ = [
    "ACTIVATIONS",
    "CONVENTION",
    "ELEMENTWISE_FLOPS",
    "MODES",
    "OPS",
    "RNN_MODES",
    "ZERO",
    "Cost",
    "ModelCount",
    "ModelRow",
    "OpCount",
    "activation",
    "adaptive_avg_pool2d",
    "batch_norm",
    "conv2d",
    "count_model",
    "dropout",
    "embedding",
    "gru",
    "layer_norm",
    "linear",
    "log_softmax",
    "lstm",
    "matmul",
    "multi_head_attention",
    "pool2d",
    "rnn",
    "scaled_dot_product_attention",
    "softmax",
]


def __getattr__(name: str) -> object:
    # model.py imports torch (slow); load it only when count_model or its types are asked for,
    # so `accelbench flops linear ...` and the workloads' imports stay light.
    if name in ("count_model", "ModelCount", "ModelRow"):
        from accelbench.flops import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
