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
    def model_label(self) -> str:
        """The model as measured, with its real size: the description its workload stored
        ("bert 2-layer hidden 128 ... seq=32"), not the registry key ("bert-large") it was
        built from. Records without a description fall back to the key and the options."""
        d = self.result.description
        tail = f" {self.scenario} b={self.batch} {self.runtime} {self.precision}"
        if d and d.endswith(tail) and len(d) > len(tail):
            return d[: -len(tail)]
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.model} ({opts})" if opts else self.model

    @property
    def short_label(self) -> str:
        """Model as measured, scenario and batch."""
        return f"{self.model_label} {self.scenario} b={self.batch}"


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
