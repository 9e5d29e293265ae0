"""Validated configs, loaded from YAML: suites and datasheet peak entries.

A suite names its workloads and the measurement protocol; each workload kind validates its own
``params`` in the resolve step (:func:`accelbench.api.resolve`). Unknown keys and bad values are
rejected with the file, the field path and the reason, e.g. ``quick.yaml:
workloads[0].params.sizes[2]: Input should be a valid integer``.

This module is a leaf of the package: it imports only the error types, the strict YAML loader
and the measurement settings, never the device layer, the workloads or the store.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

from accelbench.errors import ConfigError
from accelbench.names import PeakPrecision
from accelbench.timing.settings import MeasureSettings
from accelbench.validation import format_validation_error, read_yaml

# The precisions a peak can be given for: the measured dtypes plus the integer and 8-bit float
# formats of datasheets. A typo such as `fp32` is rejected instead of silently never matching.


class PeakSpec(BaseModel):
    """One table entry: peak compute per precision and memory bandwidth."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    match: list[str] = Field(min_length=1)
    tflops: dict[PeakPrecision, float] = Field(
        default_factory=dict, description="TFLOPS (TOPS for int8) per precision"
    )
    memory_bandwidth_gbs: float | None = Field(default=None, gt=0)
    memory_gb: float | None = Field(default=None, gt=0)
    source: str = "user supplied"

    @field_validator("match")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"{p!r} is not a valid regular expression: {exc}") from None
        return v

    @field_validator("tflops")
    @classmethod
    def _peaks_positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not x > 0}
        if bad:
            raise ValueError(f"peak figures must be positive, got {bad}")
        return v

    def peak_flops(self, dtype: str) -> float | None:
        """Peak in FLOP/s for a precision, or None when the table has no figure for it."""
        v = self.tflops.get(dtype)
        return None if v is None else v * 1e12

    def matches(self, device_name: str) -> bool:
        return any(re.search(p, device_name, re.IGNORECASE) for p in self.match)


class WorkloadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    measure: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the suite's measurement settings"
    )


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: StrictInt = Field(default=0, ge=0, le=2**63 - 1)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    peaks: list[PeakSpec] = Field(default_factory=list)
    workloads: list[WorkloadSpec] = Field(min_length=1)

    @field_validator("workloads")
    @classmethod
    def _unique_names(cls, v: list[WorkloadSpec]) -> list[WorkloadSpec]:
        seen: dict[str, int] = {}
        for i, w in enumerate(v):
            first = seen.setdefault(w.name, i)
            if first != i:
                raise ValueError(
                    f"workload name {w.name!r} is used twice "
                    f"(workloads[{first}] and workloads[{i}])"
                )
        return v


def measure_for(suite: Suite, spec: WorkloadSpec) -> MeasureSettings:
    return MeasureSettings.model_validate({**suite.measure.model_dump(), **spec.measure})


def _expand_includes(
    data: dict[str, Any], source: str, chain: tuple[str, ...], base_dir: Path | None
) -> dict[str, Any]:
    """Replace ``include: [suite, ...]`` by the included suites' workloads, appended in order.

    Each included workload keeps exactly the measurement settings it has in the suite it came
    from (the defaults, that suite's ``measure``, then its own overrides), so ``quick`` times
    the ``quick-ops`` cases as ``quick-ops`` does and the parent's ``measure`` never leaks in.
    Included ``peaks:`` entries are kept; the seed is the including suite's. An include names a
    built-in suite or a YAML file, relative to the including file; includes may nest, and a
    cycle is an error.
    """
    if "include" not in data:
        return data
    includes = data["include"]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{source}: include: expected a list of suite names or YAML files")
    merged = {k: v for k, v in data.items() if k != "include"}
    own = data.get("workloads", [])
    workloads = list(own) if isinstance(own, list) else own
    peaks = list(data.get("peaks") or []) if isinstance(data.get("peaks", []), list) else None
    for ref in includes:
        path, label = suite_file(ref, f"{source}: include", base_dir)
        key = str(path.resolve())
        if key in chain:
            raise ConfigError(f"{source}: include: {ref!r} includes itself")
        raw = read_yaml(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{label}: expected a mapping with 'name' and 'workloads'")
        child = _expand_includes(raw, label, (*chain, key), path.parent)
        if not isinstance(child.get("workloads"), list):
            raise ConfigError(f"{label}: workloads: expected a list")
        try:
            child_measure = MeasureSettings.model_validate(child.get("measure") or {})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{label}: measure")) from None
        for w in child["workloads"]:
            if isinstance(w, dict):
                w = {**w, "measure": {**child_measure.model_dump(), **(w.get("measure") or {})}}
            if isinstance(workloads, list):
                workloads.append(w)
        if peaks is not None and isinstance(child.get("peaks"), list):
            peaks.extend(child["peaks"])
    merged["workloads"] = workloads
    if peaks:
        merged["peaks"] = peaks
    return merged


def validate_suite(data: Any, source: str, path: Path | None = None) -> Suite:
    """Validate a suite's structure: names, measurement settings, includes, peaks.

    Each workload's ``params`` are checked against its kind by the one resolve step,
    :func:`accelbench.api.resolve`, which knows the workload registry; this module stays a leaf
    that imports nothing above it. ``path`` is the file the data came from, if any: includes
    resolve relative to it.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'name' and 'workloads' at the top")
    chain = (str(path.resolve()),) if path is not None else ()
    data = _expand_includes(data, source, chain, path.parent if path is not None else None)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{source}:")) from None
    for i, w in enumerate(suite.workloads):
        try:
            measure_for(suite, w)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, f"{source}: workloads[{i}].measure")
            ) from None
    return suite


def builtin_suites() -> dict[str, Path]:
    """Name -> file of every suite shipped inside the package."""
    folder = resources.files("accelbench") / "suites"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def suite_file(ref: str, what: str = "suite", base_dir: Path | None = None) -> tuple[Path, str]:
    """The file behind a suite reference and the label its errors use."""
    builtins = builtin_suites()
    if ref in builtins:
        return builtins[ref], f"{ref} (built-in)"
    path = Path(ref)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return path, str(path)
    raise ConfigError(
        f"{what} {ref!r}: neither a built-in suite ({', '.join(sorted(builtins))}) nor a YAML file"
    )


def load_suite(ref: str) -> Suite:
    """Load a built-in suite by name, or a suite file by path (structure only; see
    :func:`accelbench.api.load_suite` for a suite whose params are checked too)."""
    path, label = suite_file(ref)
    return validate_suite(read_yaml(path), label, path)
