"""Stored results: list, show, export, import and delete them (``accelbench results``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelbench.errors import UserError
from accelbench.results import io
from accelbench.results.io import export_results
from accelbench.results.schema import Result
from accelbench.results.store import RunRow, Store


def open_store(db: Path, must_exist: bool = True, readonly: bool = False) -> Store:
    """The store at ``db``; a missing file is the user's to fix when it must exist.
    ``readonly`` for what only reads: nothing in the file changes, and a database that is
    not accelbench's is refused untouched."""
    if must_exist and not db.exists():
        raise UserError(f"--db {db}: no such database (run a suite first, or pass --db)")
    return Store(db, readonly=readonly)


def device_filter(device: str | None) -> str | None:
    """Accept what --device accepts for a run: `fake` or `cuda` mean index 0, as stored."""
    if device is None or not device.strip() or device == "cpu" or ":" in device:
        return device
    return f"{device}:0"


def filters(
    run_id: str | None = None,
    suite: str | None = None,
    device: str | None = None,
    status: str | None = None,
    workload: str | None = None,
) -> dict[str, Any]:
    """Store query filters from the options every ``results`` command shares."""
    return {
        "run": run_id,
        "suite": suite,
        "device": device_filter(device),
        "status": status,
        "workload": workload,
    }


def list_results(db: Path, limit: int | None = None, **flt: Any) -> list[Result]:
    with open_store(db, readonly=True) as st:
        return st.query(limit=limit, **filters(**flt))


def list_runs(db: Path) -> list[RunRow]:
    with open_store(db, readonly=True) as st:
        return st.runs()


def show(db: Path, result_id: str) -> Result:
    with open_store(db, readonly=True) as st:
        return st.get(result_id)


def export(db: Path, path: Path, fmt: str | None = None, **flt: Any) -> int:
    """Write the matching results to ``path`` (JSONL, CSV or Parquet; ``-`` is standard
    output); returns how many. Never over the database it reads."""
    with open_store(db, readonly=True) as st:
        rs = st.query(**filters(**flt))
    return export_results(rs, path, fmt, protect=[db])


def import_files(
    db: Path,
    paths: list[Path],
    fmt: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Merge results from other machines (:func:`accelbench.results.io.import_files`): every
    record validated, every file read before anything is written, all in one transaction,
    each file kept as the source of its results. Returns per file: added, already present,
    conflicts (ids stored with other content, kept as stored). Ctrl-C raises
    :class:`accelbench.results.io.ImportInterrupted`, saying what was committed."""
    return [s.as_dict() for s in io.import_files(paths, db, fmt, notice)]


def delete(
    db: Path,
    ids: list[str] | None,
    confirm: Callable[[int], bool],
    **flt: Any,
) -> int | None:
    """Delete results by id or filter after ``confirm(n)``; None when nothing matched or the
    user declined (0 matched is returned as 0)."""
    query = {**filters(**flt), "ids": ids or None}
    if not any(v for v in query.values()):
        raise UserError("refusing to delete every result: give result ids or a filter")
    with open_store(db) as st:
        n = st.count(**query)
        if n == 0:
            return 0
        if not confirm(n):
            return None
        return st.delete(**query)
