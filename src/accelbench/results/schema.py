"""Versioned, immutable result records.

A record carries everything needed to explain its numbers later: the resolved config, the raw
samples, metrics with units (or the reason a metric is unavailable), and the environment it ran
in. ``SCHEMA_VERSION`` rises whenever a field changes meaning; :func:`upgrade_record` lifts
older records so stores and exports from other machines stay readable.

A record is validated the same way whether it was just measured or comes from an import:
numbers must be finite (JSON has no NaN or infinity, so one would be stored as ``null`` and
break every reader later), free-form fields may not nest deeper than :data:`MAX_NESTING`, and
the ids must be the ones its content gives (an import cannot pose as another record).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from accelbench.timing.stats import Summary

SCHEMA_VERSION = 2
MAX_NESTING = 32
"""Levels of lists and objects allowed inside ``case``, ``config`` and ``trace``: real records
use fewer than ten, and a deeper one (200,000 levels from a hostile file) would exhaust the
recursion of every JSON reader that meets it later."""


def check_tree(value: Any, where: str) -> None:
    """Raise ``ValueError`` naming the path of the first non-finite number, or of nesting
    deeper than :data:`MAX_NESTING`, inside ``value`` (walked without recursion)."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        v, path, depth = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ValueError(f"{path}: {v} is not a finite number")
        elif isinstance(v, (dict, list, tuple)):
            if depth >= MAX_NESTING:
                raise ValueError(f"{path}: nested deeper than {MAX_NESTING} levels")
            items = v.items() if isinstance(v, dict) else enumerate(v)
            stack.extend((x, f"{path}.{k}", depth + 1) for k, x in items)


class Status(str, Enum):
    OK = "ok"
    OOM = "oom"
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    DIVERGED = "diverged"
    SKIPPED = "skipped"


class Metric(BaseModel):
    """A measured value with its unit, or ``None`` with the reason it could not be measured."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    value: float | None
    unit: str
    unavailable: str | None = Field(default=None, description="why there is no value")

    @model_validator(mode="after")
    def _value_or_reason(self) -> Metric:
        if self.value is None and not self.unavailable:
            raise ValueError("a metric without a value must say why it is unavailable")
        return self

    @classmethod
    def missing(cls, unit: str, reason: str) -> Metric:
        return cls(value=None, unit=unit, unavailable=reason)


class Environment(BaseModel):
    """Where and with what a result was produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    os: str
    cpu_model: str
    cpu_arch: str
    cpu_cores_physical: int | None
    cpu_cores_logical: int | None
    memory_total_bytes: int | None
    python: str
    torch: str
    packages: dict[str, str] = Field(
        default_factory=dict, description="versions of plug-ins and libraries that affect results"
    )
    accelerator_runtime: dict[str, str] = Field(
        default_factory=dict, description="CUDA/HIP/CANN/cuDNN versions from the device"
    )
    driver_version: str | None = None
    device_kind: str
    device_spec: str
    device_name: str
    accelbench_version: str
    git_revision: str | None = None
    git_dirty: bool | None = None
    seed: int
    threads: int
    env_vars: dict[str, str] = Field(default_factory=dict)


class Result(BaseModel):
    """One benchmark case's outcome. Immutable once created."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_version: int = SCHEMA_VERSION
    result_id: str = ""
    run_id: str
    suite: str
    workload: str = Field(description="the workload entry's name in the suite")
    kind: str = Field(description="the workload kind, e.g. 'gemm'")
    case: dict[str, Any] = Field(description="the parameters that identify this case")
    case_key: str = ""
    config: dict[str, Any] = Field(
        default_factory=dict, description="resolved settings: measurement protocol, peaks used"
    )
    device: str
    status: Status
    message: str | None = None
    metrics: dict[str, Metric] = Field(default_factory=dict)
    samples: list[float] = Field(default_factory=list, description="raw timings in seconds")
    summary: Summary | None = None
    trace: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "ordered records of a long case, one per step it reports (one per epoch for "
            "training: wall time, loss, validation metric, throughput, power); empty otherwise"
        ),
    )
    environment: Environment
    started_at: datetime
    finished_at: datetime

    @field_validator("case", "config", "trace")
    @classmethod
    def _finite_and_shallow(cls, value: Any, info: ValidationInfo) -> Any:
        check_tree(value, str(info.field_name))
        return value

    @model_validator(mode="after")
    def _derive_ids(self) -> Result:
        # Ids are a pure function of content fixed at creation, so the same record keeps the
        # same id on every machine it is exported to, and an import can skip what it has.
        # A record that carries ids its content does not give is refused: it would pose as
        # another result (or pair with the wrong case in a comparison).
        key = case_key(self.case)
        if self.case_key and self.case_key != key:
            raise ValueError(f"case_key {self.case_key!r} does not match the case ({key!r})")
        object.__setattr__(self, "case_key", key)
        ident = "|".join(
            [
                self.run_id,
                self.suite,
                self.workload,
                key,
                self.device,
                self.environment.host,
                self.started_at.isoformat(),
            ]
        )
        rid = hashlib.sha256(ident.encode()).hexdigest()[:32]
        if self.result_id and self.result_id != rid:
            raise ValueError(
                f"result_id {self.result_id!r} does not match the record's content (its id "
                f"would be {rid}): the record was altered or is not what it claims to be"
            )
        object.__setattr__(self, "result_id", rid)
        return self

    def metric(self, name: str) -> float | None:
        m = self.metrics.get(name)
        return None if m is None else m.value


def case_key(case: dict[str, Any]) -> str:
    """Canonical text of a case's parameters: equal cases give equal keys on any machine."""
    return json.dumps(case, sort_keys=True, separators=(",", ":"), default=str)


def upgrade_record(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a serialised record of any known schema version up to ``SCHEMA_VERSION``."""
    version = int(data.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        from accelbench.errors import StoreError

        raise StoreError(
            f"record {data.get('result_id', '?')} has schema version {version}, newer than this "
            f"accelbench ({SCHEMA_VERSION}); upgrade accelbench to read it"
        )
    for step in RECORD_UPGRADES[version - 1 :]:
        data = step(data)
    return data


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v2 added ``trace`` (per-epoch curves of training cases); v1 records had none.
    return {**data, "trace": data.get("trace", []), "schema_version": 2}


# RECORD_UPGRADES[i] turns a version i+1 record into version i+2.
RECORD_UPGRADES: list[Any] = [_v1_to_v2]


def result_json_schema() -> dict[str, Any]:
    return Result.model_json_schema()
