"""Versioned, immutable result records.

A record carries everything needed to explain its numbers later: the resolved config, the raw
samples, metrics with units (or the reason a metric is unavailable), and the environment it ran
in. ``SCHEMA_VERSION`` rises whenever a field changes meaning; :func:`upgrade_record` lifts
older records so stores and exports from other machines stay readable.

A record is validated the same way whether it was just measured or comes from an import:
numbers must be finite (JSON has no NaN or infinity, so one would be stored as ``null`` and
break every reader later), the free-form ``case`` and ``config`` may not nest deeper than
:data:`MAX_NESTING`, and
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

SCHEMA_VERSION = 7
MAX_NESTING = 32
"""Levels of lists and objects allowed inside ``case`` and ``config``: real records
use fewer than ten, and a deeper one (200,000 levels from a hostile file) would exhaust the
recursion of every JSON reader that meets it later."""


def _fine(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds only finite numbers within :data:`MAX_NESTING` levels (the
    fast check every record passes through; recursion is bounded by the nesting limit)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return True
    if depth >= MAX_NESTING:
        return False
    return all(_fine(v, depth + 1) for v in value)


def check_tree(value: Any, where: str) -> None:
    """Raise ``ValueError`` naming the path of the first non-finite number, or of nesting
    deeper than :data:`MAX_NESTING`, inside ``value`` (walked without recursion)."""
    if _fine(value):
        return
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


class FrameworkEnv(BaseModel):
    """The framework a result was measured through (its name is ``Result.framework``): the
    version, what it ran on, and its execution mode. The same device times very differently
    operator by operator (PyTorch eager, MindSpore PyNative) and as a compiled graph
    (``torch.compile``, MindSpore Graph), so a result says which it was."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str | None = Field(description="the framework's version; None: not installed")
    backend: str = Field(
        description="what the framework ran on, in its own words: 'cpu' or 'cuda' for PyTorch, "
        "'CPU', 'GPU' or 'Ascend' for MindSpore"
    )
    mode: str = Field(description="execution mode: eager, compile, pynative or graph")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="framework settings that change timings (kernel threads, jit level, ...)",
    )


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
    framework: FrameworkEnv | None = Field(
        default=None,
        description="the framework of this result (version, backend, mode); set on every "
        "result since schema 5 (older records: PyTorch, filled in by the upgrade)",
    )


class EpochRecord(BaseModel):
    """One epoch of a training run: the point on its validation curve and what it cost."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    epoch: int = Field(ge=1)
    wall_s: float = Field(description="time since before setup, at the end of this epoch")
    train_s: float = Field(description="this epoch's training time (no evaluation)")
    eval_s: float = Field(default=0.0, description="this epoch's evaluation time")
    train_loss: float | None = Field(
        default=None, description="mean training loss; None when it was not finite"
    )
    metric: float | None = Field(default=None, description="the validation metric's value")
    metric_name: str | None = Field(default=None, description="e.g. top1, bleu, auc")
    secondary: dict[str, float | str] = Field(
        default_factory=dict, description="other validation values: loss, logloss, chrF, ..."
    )
    steps: int = 0
    samples: int | None = Field(default=None, description="training samples this epoch")
    samples_per_s: float | None = Field(
        default=None, description="training samples/s; None when the epoch ended early"
    )
    tokens_per_s: float | None = None
    lr_end: float | None = None
    loss_scale: float | None = None
    skipped_steps: int | None = None
    energy_j: float | None = None
    avg_power_w: float | None = None
    data_wait_s: float | None = Field(
        default=None, description="time the training loop waited for its next batch"
    )


class Basis(BaseModel):
    """What a result's rate is judged against: the compute peak of one precision, and/or the
    memory bandwidth (for a metric that is a device-memory rate). Set by the workload, which
    knows what it measured; None fields mean "not comparable", with the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    compute_dtype: str | None = Field(
        default=None, description="precision whose peak FLOP/s the compute rate is judged by"
    )
    compute_metric: str = Field(
        default="achieved_gflops", description="the metric (GFLOP/s) judged by the compute peak"
    )
    utilisation: str = Field(
        default="utilisation",
        description="name stem of the derived utilisation metrics: 'utilisation' for kernels, "
        "'mfu' (model FLOPs utilisation) for training",
    )
    bandwidth_metric: str | None = Field(
        default=None, description="metric (GB/s of device memory) judged by the bandwidth roof"
    )
    not_comparable: str | None = Field(
        default=None, description="why the rate is not judged against a peak (e.g. int8 work)"
    )


class PeakRef(BaseModel):
    """A measured ceiling (a stored ``peak-gemm`` or ``peak-bandwidth`` result), with how much
    to trust it, copied at the time of comparison so a report needs nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    result_id: str | None = None
    value: float = Field(description="FLOP/s for compute, B/s for bandwidth")
    measured_at: str | None = None
    cv: float | None = None
    high_spread: bool | None = None
    converged: bool | None = None
    convention: str | None = Field(default=None, description="byte convention (bandwidth)")
    low: float | None = Field(
        default=None, description="lower end of the peak's 95% interval, same unit as value"
    )
    high: float | None = Field(
        default=None,
        description="upper end of the peak's 95% interval: a case above it proves the peak low",
    )
    host_busy: bool | None = Field(
        default=None, description="the peak was measured while the host was busy"
    )
    unreliable: str | None = Field(
        default=None,
        description="why this peak cannot be trusted as a ceiling (a case beat its upper "
        "bound); utilisation against it is then unavailable",
    )


class DatasheetRef(BaseModel):
    """The datasheet entry that matched the device (see ``devices/specs.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str
    source: str
    flops: float | None = Field(default=None, description="FLOP/s of the basis precision")
    memory_bandwidth_gbs: float | None = None


class IdleRef(BaseModel):
    """The stored idle-power result net energy was computed against."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    result_id: str | None = None
    watts: float


class References(BaseModel):
    """The raw facts a result's derived numbers (utilisation, roofline, net energy) come from:
    what it is judged against and the reference measurements it was compared with. Derived
    numbers themselves are computed by :mod:`accelbench.analysis.derived` from these, at run
    time and again by any report (against a peak measured later, if asked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: Basis = Field(default_factory=Basis)
    datasheet: DatasheetRef | None = None
    measured_peak: PeakRef | None = None
    measured_bandwidth: PeakRef | None = None
    idle_power: IdleRef | None = None
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="reference name -> why there is none"
    )


class RankEpoch(BaseModel):
    """One epoch of a training run as one rank saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epoch: int = Field(ge=1)
    train_s: float = Field(description="this rank's training time for the epoch")
    samples: int = Field(description="samples this rank trained on")
    data_wait_s: float | None = None


class RankRecord(BaseModel):
    """What one rank of a data-parallel run measured, gathered to the owner."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(ge=0)
    local_rank: int = Field(ge=0)
    node_rank: int = Field(ge=0, description="the --node-rank its launcher was given")
    host: str
    device: str = Field(description="the device spec this rank ran on, e.g. 'cuda:3'")
    device_name: str
    status: Status
    message: str | None = None
    wall_s: float = Field(description="this rank's time in the case")
    metrics: dict[str, Metric] = Field(
        default_factory=dict, description="this rank's own timings and throughput"
    )
    samples: list[float] = Field(default_factory=list, description="this rank's raw timings")
    summary: Summary | None = None
    epochs: list[RankEpoch] = Field(default_factory=list)
    environment: Environment


class Distributed(BaseModel):
    """How a data-parallel result was produced, and every rank's part in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    world_size: int = Field(ge=1)
    nnodes: int = Field(ge=1)
    nproc_per_node: int = Field(ge=1)
    backend: str = Field(description="collective library: nccl, hccl, xccl, gloo, ...")
    launcher: str = Field(description="'torchrun'")
    owner_rank: int = Field(ge=0, description="the rank that stored the result")
    collective_timeout_s: float
    scaling: str | None = Field(
        default=None, description="training: 'strong' (fixed global batch) or 'weak'"
    )
    ranks: list[RankRecord] = Field(default_factory=list, description="one record per rank")


class DeviceActivity(BaseModel):
    """What the device's management interface says about who else uses it and how fast it
    runs (NVML on NVIDIA GPUs), read by the device layer at the end of a case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    other_processes: list[str] | None = Field(
        default=None, description="other processes on the device: 'pid (MiB)'; None: unknown"
    )
    utilisation_pct: float | None = Field(
        default=None, description="device busy %, over the driver's last sample period"
    )
    sm_clock_mhz: float | None = None
    max_sm_clock_mhz: float | None = None
    throttle_reasons: list[str] = Field(
        default_factory=list, description="active clock throttle reasons, driver names"
    )
    slowdown: list[str] = Field(
        default_factory=list,
        description="the throttle reasons that slow a measurement down (thermal, hardware "
        "slowdown, power brake): these flag the case",
    )
    unavailable: str | None = Field(default=None, description="why nothing could be read")


class HostState(BaseModel):
    """The host around one case: did anything else compete for it while it was measured?

    CPU shares are averages over ``window_s`` (the case, widened to at least the minimum
    window by the time just before it, so a 10 ms case is not judged from two clock ticks).
    ``busy`` is set from the measured shares and the device's report; ``reasons`` give the
    numbers that set it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_s: float = Field(description="length of the sampled window")
    logical_cpus: int
    load_avg_1m: float | None = Field(
        default=None, description="1-minute load average at the end (includes this process)"
    )
    other_cpus: float | None = Field(
        default=None,
        description="CPUs' worth of time used by other processes over the window (1.0 = one "
        "logical CPU fully busy)",
    )
    own_cpus: float | None = Field(
        default=None, description="CPUs' worth of time this process (and its children) used"
    )
    steal_pct: float | None = Field(
        default=None, description="% of all CPU time the hypervisor gave to other guests"
    )
    device: DeviceActivity | None = None
    busy: bool = False
    reasons: list[str] = Field(default_factory=list)
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="reading -> why it could not be taken"
    )


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
    description: str = Field(
        default="",
        description="the case as its workload described it when measured, e.g. 'gemm "
        "64x64x64 float32'; empty in records from before descriptions were stored",
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="resolved settings: measurement protocol, peaks used"
    )
    device: str
    framework: str = Field(
        default="pytorch",
        description="the framework the case ran through: 'pytorch' or 'mindspore' (its "
        "version, backend and mode are in environment.framework)",
    )
    status: Status
    message: str | None = None
    metrics: dict[str, Metric] = Field(default_factory=dict)
    samples: list[float] = Field(default_factory=list, description="raw timings in seconds")
    summary: Summary | None = None
    trace: list[EpochRecord] = Field(
        default_factory=list,
        description="one record per epoch of a training run (its validation curve); empty "
        "for other kinds",
    )
    references: References = Field(
        default_factory=References,
        description="peaks and idle power the derived numbers were computed against",
    )
    host: HostState | None = Field(
        default=None,
        description="the host's state around the case (None in records from before it was "
        "recorded, and for cases that never ran)",
    )
    environment: Environment
    started_at: datetime
    finished_at: datetime
    distributed: Distributed | None = Field(
        default=None,
        description="data-parallel runs: the world it ran in and each rank's record; None for "
        "a single process",
    )

    @field_validator("case", "config")
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

    @property
    def host_busy(self) -> bool:
        """Whether the case was measured while something else competed for the host."""
        return self.host is not None and self.host.busy

    @property
    def noisy(self) -> bool:
        """Whether the timing's IQR exceeds 10% of its median (see ``timing.stats``)."""
        return self.summary is not None and self.summary.high_spread


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


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    # v3 moved the untyped ``config.peaks_used`` (and ``config.power.idle``) into the typed
    # ``references``: the facts derived numbers are computed from.
    config = dict(data.get("config") or {})
    used = config.pop("peaks_used", None) or {}
    case = data.get("case") or {}
    refs: dict[str, Any] = {}
    basis: dict[str, Any] = {}
    if "measured_peak" in used or ("datasheet_peak" in used and "flops" in used["datasheet_peak"]):
        basis["compute_dtype"] = case.get("dtype")
    if (ds := used.get("datasheet_peak")) and isinstance(ds, dict):
        refs["datasheet"] = {
            "name": ds.get("name", "?"),
            "source": ds.get("source", "?"),
            "flops": ds.get("flops"),
            "memory_bandwidth_gbs": ds.get("memory_bandwidth_gbs"),
        }
        if "flops" not in ds and ds.get("memory_bandwidth_gbs"):
            kind = data.get("kind")
            basis["bandwidth_metric"] = "peak_gbs" if kind == "peak-bandwidth" else "gbs_read_write"
    for key in ("measured_peak", "measured_bandwidth"):
        if (p := used.get(key)) and isinstance(p, dict):
            value = p.get("flops") if key == "measured_peak" else p.get("bytes_per_s")
            if value is not None:
                refs[key] = {
                    "result_id": p.get("result_id"),
                    "value": value,
                    "measured_at": p.get("measured_at"),
                    "cv": p.get("cv"),
                    "high_spread": p.get("high_spread"),
                    "converged": p.get("converged"),
                    "convention": p.get("convention"),
                }
    power = config.get("power")
    if isinstance(power, dict) and isinstance(power.get("idle"), dict):
        power = dict(power)
        idle = power.pop("idle")
        config["power"] = power
        if idle.get("watts") is not None:
            refs["idle_power"] = {"result_id": idle.get("result_id"), "watts": idle["watts"]}
    if basis:
        refs["basis"] = basis
    return {**data, "config": config, "references": refs, "schema_version": 3}


# v3 trace rows were free dicts; these are the names earlier trainers used for each field.
_V3_TRACE_ALIASES = {
    "metric": ("val_metric", "val_accuracy", "accuracy", "metric"),
    "wall_s": ("wall_s", "elapsed_s", "time_s", "wall_time_s"),
    "samples_per_s": ("samples_per_s", "train_samples_per_s", "throughput"),
    "train_loss": ("train_loss", "loss"),
}


def _finite_or_none(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    # v4 types the per-epoch trace (EpochRecord): the validation value is `metric` whatever
    # the metric, named by `metric_name` (every trainer before v4 measured top-1 accuracy).
    rows = []
    for row in data.get("trace") or []:
        if not isinstance(row, dict) or row.get("epoch") is None:
            continue
        rec: dict[str, Any] = {
            k: row[k] for k in EpochRecord.model_fields if k in row and k not in _V3_TRACE_ALIASES
        }
        for field_name, aliases in _V3_TRACE_ALIASES.items():
            value = next((row[a] for a in aliases if row.get(a) is not None), None)
            rec[field_name] = _finite_or_none(value)
        rec.setdefault("wall_s", 0.0)
        rec.setdefault("train_s", 0.0)
        if rec.get("metric") is not None:
            rec["metric_name"] = "top1"
        rows.append(rec)
    return {**data, "trace": rows, "schema_version": 4}


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    # v5 added ``distributed`` (the world and per-rank records of data-parallel runs); every
    # earlier record came from a single process.
    return {**data, "distributed": data.get("distributed"), "schema_version": 5}


def _v5_to_v6(data: dict[str, Any]) -> dict[str, Any]:
    # v6 records the host's state around each case (``host``); earlier records did not look,
    # so their host is unknown (None), never "idle".
    return {**data, "host": data.get("host"), "schema_version": 6}


def _add_framework(data: dict[str, Any]) -> dict[str, Any]:
    # The framework became a dimension of every result (``framework`` and
    # ``environment.framework``); every record before it was measured through PyTorch, eager
    # unless its case names another execution (training) or runtime (inference).
    # v7 (6 -> 7); the step bumps whatever version it is given by one.
    case = data.get("case") or {}
    env = dict(data.get("environment") or {})
    if env.get("framework") is None:
        env["framework"] = {
            "version": env.get("torch"),
            "backend": str(env.get("device_kind") or "unknown"),
            "mode": str(case.get("execution") or case.get("runtime") or "eager"),
        }
    version = int(data.get("schema_version", 1)) + 1
    return {**data, "framework": "pytorch", "environment": env, "schema_version": version}


# RECORD_UPGRADES[i] turns a version i+1 record into version i+2.
RECORD_UPGRADES: list[Any] = [
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
    _add_framework,
]


def result_json_schema() -> dict[str, Any]:
    return Result.model_json_schema()
