"""Layering rules from DESIGN.md that are cheap to check mechanically."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "accelbench"
PLATFORM_API = re.compile(r"\btorch\.(cuda|mps|xpu|npu)\b|\bimport torch_npu\b|\btorch_npu\.")


def test_only_the_device_layer_touches_platform_apis() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "devices":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if PLATFORM_API.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not offenders, "platform APIs outside devices/:\n" + "\n".join(offenders)


def test_builtin_suites_and_peak_table_ship_in_the_package() -> None:
    assert (SRC / "suites" / "quick.yaml").is_file()
    assert (SRC / "devices" / "specs.yaml").is_file()


def test_analyses_are_pure() -> None:
    """Data flows config -> workload -> results -> store -> analysis -> report: analyses read
    result records only, never the store, a device, torch or the report above them."""
    banned = re.compile(
        r"^\s*(from|import)\s+(torch\b|accelbench\.(results\.store|devices|api|cli|report|workloads))"
    )
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in (SRC / "analysis").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if banned.search(line)
    ]
    assert not offenders, "impure imports in analysis/:\n" + "\n".join(offenders)
