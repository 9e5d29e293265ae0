"""Datasheet peak compute and memory bandwidth, looked up by device name from a data table.

The table (``specs.yaml``) is data, not code: a user with a device we do not list, or a
different SKU, supplies a YAML file of the same shape and it takes precedence. CPUs are not
tabulated because their peak depends on clocks, core count and ISA; accelbench measures them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from accelbench.config import PeakSpec
from accelbench.errors import ConfigError
from accelbench.validation import format_validation_error, read_yaml


def parse_peaks(data: object, source: str) -> list[PeakSpec]:
    """Validate a list of peak entries; errors name the source, entry and field."""
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
