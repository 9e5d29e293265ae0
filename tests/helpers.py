"""Shared helpers for the store, io, config, CLI and resume tests (CPU only, fake device)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from accelbench.api import validate_suite
from accelbench.config import Suite

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
_SCRIPT = Path(sys.executable).parent / "accelbench"
# The console script a user runs; a plain interpreter call where it is not installed.
CLI = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [PYTHON, "-c", "from accelbench.cli import main; main()"]
)

# Tiny and fast: a measurement is 1 warm-up and 3 timed iterations.
TINY_MEASURE = {"mode": "fixed", "warmup": 1, "iterations": 3}


def suite_data(
    sizes: list[int] | None = None,
    dtypes: list[str] | None = None,
    *,
    name: str = "tiny",
    measure: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "seed": 0,
        "measure": dict(TINY_MEASURE if measure is None else measure),
        "workloads": [
            {
                "name": "gemm-square",
                "kind": "gemm",
                "params": {"sizes": sizes or [16, 32], "dtypes": dtypes or ["float32"]},
            }
        ],
    }


def tiny_suite(sizes: list[int] | None = None, dtypes: list[str] | None = None, **kw: Any) -> Suite:
    return validate_suite(suite_data(sizes, dtypes, **kw), "test suite")


def write_suite(path: Path, data: dict[str, Any] | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def db_count(path: Path, where: str = "") -> int:
    """Rows in the results table, read with a plain connection (works while others write)."""
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute(f"SELECT COUNT(*) FROM results {where}").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # the table does not exist yet
        return 0


def cli_subprocess(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess:
    """Run the installed CLI as a user would, in a fresh interpreter."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        **kw,
    )


def cli_popen(*args: str, **kw: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        **kw,
    )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("COLUMNS", "200")
    env["PYTHONUNBUFFERED"] = "1"
    return env
