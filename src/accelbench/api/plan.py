"""The one resolve step: a validated suite becomes a typed plan of workloads and cases.

:mod:`accelbench.config` checks a suite's structure and stays a leaf; here each workload's
``params`` are validated against its kind in the registry, its measurement settings are
resolved, and its cases are expanded. The plan's description (kinds, resolved params with
their defaults, settings, case counts) is saved with the run, so a result can always be
traced back to exactly what was asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from accelbench import config
from accelbench.config import Suite, measure_for
from accelbench.errors import ConfigError
from accelbench.timing.settings import MeasureSettings
from accelbench.validation import format_validation_error, read_yaml
from accelbench.workloads import WORKLOADS, Workload


@dataclass(frozen=True)
class PlannedWorkload:
    """One workload entry of a suite, resolved: its typed workload, settings and cases."""

    name: str
    kind: str
    workload: Workload
    measure: MeasureSettings
    cases: list[dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    suite: Suite
    workloads: list[PlannedWorkload]

    def items(self) -> Iterator[tuple[str, Workload, dict[str, Any], MeasureSettings]]:
        """(workload name, workload, case, settings) of every case, in run order."""
        for w in self.workloads:
            for case in w.cases:
                yield w.name, w.workload, case, w.measure

    @property
    def n_cases(self) -> int:
        return sum(len(w.cases) for w in self.workloads)

    def describe(self) -> dict[str, Any]:
        """What is saved with the run: the suite as given and every workload as resolved."""
        return {
            "suite": self.suite.model_dump(mode="json"),
            "resolved": [
                {
                    "name": w.name,
                    "kind": w.kind,
                    "params": w.workload.params.model_dump(mode="json"),
                    "measure": w.measure.model_dump(mode="json"),
                    "cases": len(w.cases),
                }
                for w in self.workloads
            ],
        }


def resolve(suite: Suite, source: str | None = None) -> Plan:
    """Validate every workload's params against its kind and expand its cases.

    Errors name ``source`` (the suite file or label) and the field, as config errors do.
    """
    where = source or f"suite {suite.name}"
    planned: list[PlannedWorkload] = []
    for i, w in enumerate(suite.workloads):
        if w.kind not in WORKLOADS:
            raise ConfigError(
                f"{where}: workloads[{i}].kind: unknown workload kind {w.kind!r}; expected one "
                f"of {', '.join(WORKLOADS.names())}"
            )
        cls = WORKLOADS.get(w.kind)
        try:
            wl = cls(cls.Params.model_validate(w.params))
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, f"{where}: workloads[{i}].params")
            ) from None
        planned.append(PlannedWorkload(w.name, w.kind, wl, measure_for(suite, w), wl.cases()))
    return Plan(suite, planned)


def validate_suite(data: Any, source: str, path: Path | None = None) -> Suite:
    """A suite from data whose structure *and* workload params are valid."""
    suite = config.validate_suite(data, source, path)
    resolve(suite, source)
    return suite


def load_suite(ref: str) -> Suite:
    """A built-in suite by name, or a suite file by path, with every workload's params checked."""
    path, label = config.suite_file(ref)
    return validate_suite(read_yaml(path), label, path)
