"""How to time one case: the measurement settings a suite gives, validated.

A leaf (pydantic only), so the suite config can hold settings without importing the protocol
that runs them, and through it the device layer and the power meters.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MeasureSettings(BaseModel):
    """How to time one case. ``fixed`` runs exactly ``iterations``; ``adaptive`` runs at least
    ``iterations`` (capped by ``max_iterations``) and keeps going until the 95% CI half-width is
    within ``target_rel_ci`` of the mean, ``time_budget_s`` of timed work is spent, or
    ``max_iterations`` is reached."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    warmup: int = Field(default=10, ge=0, le=1_000_000)
    iterations: int = Field(default=100, ge=1, le=10_000_000)
    mode: Literal["fixed", "adaptive"] = "fixed"
    target_rel_ci: float = Field(default=0.01, gt=0, lt=1)
    time_budget_s: float = Field(default=30.0, gt=0, le=86_400)
    max_iterations: int = Field(default=10_000, ge=1, le=10_000_000)
    cuda_graph: bool = Field(
        default=False, description="replay a captured CUDA graph to remove launch overhead"
    )

    @model_validator(mode="after")
    def _minimum_within_maximum(self) -> MeasureSettings:
        if self.mode == "adaptive" and self.max_iterations < self.iterations:
            raise ValueError(
                f"max_iterations ({self.max_iterations}) is below iterations "
                f"({self.iterations}), the adaptive minimum"
            )
        return self
