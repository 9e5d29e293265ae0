"""Datasheet peak compute and memory bandwidth, looked up by device name from a data table.

The table (``specs.yaml``) is data, not code: a user with a device we do not list, or a
different SKU, supplies a YAML file of the same shape and it takes precedence. CPUs are not
tabulated because their peak depends on clocks, core count and ISA; accelbench measures them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# The precisions a peak can be given for: the measured dtypes plus the integer and 8-bit float
# formats of datasheets. A typo such as `fp32` is rejected instead of silently never matching.
PeakPrecision = Literal["float64", "float32", "tfloat32", "float16", "bfloat16", "float8", "int8"]


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


def parse_peaks(data: object, source: str) -> list[PeakSpec]:
    """Validate a list of peak entries; errors name the source, entry and field."""
    from accelbench.config import format_validation_error
    from accelbench.errors import ConfigError

    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of peak entries, got {type(data).__name__}")
    out = []
    for i, item in enumerate(data):
        try:
            out.append(PeakSpec.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{source}: [{i}]")) from None
    return out


def load_peaks_file(path: Path) -> list[PeakSpec]:
    from accelbench.config import read_yaml

    return parse_peaks(read_yaml(path), str(path))


@lru_cache(maxsize=1)
def builtin_peaks() -> tuple[PeakSpec, ...]:
    text = resources.files("accelbench.devices").joinpath("specs.yaml").read_text()
    return tuple(parse_peaks(yaml.safe_load(text), "specs.yaml"))


def lookup_peak(
    device_name: str, overrides: list[PeakSpec] | None = None
) -> tuple[PeakSpec | None, str | None]:
    """First matching entry, user overrides first; otherwise None and the reason."""
    for spec in [*(overrides or []), *builtin_peaks()]:
        if spec.matches(device_name):
            return spec, None
    return None, f"no datasheet entry matches {device_name!r}; supply one with --peaks FILE.yaml"
