"""Inference throughput and latency per model, scenario, runtime and precision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelbench.results.schema import Result


@dataclass(frozen=True)
class InferenceRow:
    result: Result
    model: str
    scenario: str
    batch: int
    runtime: str
    precision: str
    options: dict[str, Any]

    @property
    def label(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        return self.short_label + (f" ({opts})" if opts else "")

    @property
    def short_label(self) -> str:
        """Model, scenario and batch: the options are in the table."""
        return f"{self.model} {self.scenario} b={self.batch}"


def inference_rows(results: list[Result]) -> list[InferenceRow]:
    """Every inference result, ok or not (a runtime that cannot run a model is a finding)."""
    rows = []
    for r in results:
        if r.kind != "inference":
            continue
        c = r.case
        rows.append(
            InferenceRow(
                result=r,
                model=str(c.get("model")),
                scenario=str(c.get("scenario")),
                batch=int(c.get("batch") or 1),
                runtime=str(c.get("runtime")),
                precision=str(c.get("quant") or c.get("dtype")),
                options=dict(c.get("options") or {}),
            )
        )
    return rows
