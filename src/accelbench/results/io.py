"""Export results to JSONL, CSV and Parquet, and read them back for merging.

JSONL is the lossless interchange format. CSV and Parquet are flat tables for spreadsheets and
dataframes (one column per case parameter and metric, units in the metric column names), and
they also carry each full record in a ``record`` column so that importing them is lossless too.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from accelbench.errors import StoreError, UserError
from accelbench.results.schema import Result, upgrade_record

FORMATS = ("jsonl", "csv", "parquet")


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in (*FORMATS, "db"):
            raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "parquet"):
        return suffix
    if suffix in ("db", "sqlite", "sqlite3"):
        return "db"
    raise UserError(
        f"{path}: cannot tell the format from the extension; use .jsonl, .csv, .parquet or .db "
        "(or pass --format)"
    )


def flatten(r: Result) -> dict[str, Any]:
    """One flat row per result, for humans and dataframes."""
    env = r.environment
    row: dict[str, Any] = {
        "result_id": r.result_id,
        "run_id": r.run_id,
        "suite": r.suite,
        "workload": r.workload,
        "kind": r.kind,
        "device": r.device,
        "device_name": env.device_name,
        "host": env.host,
        "threads": env.threads,
        "status": r.status.value,
        "message": r.message,
        "started_at": r.started_at.isoformat(),
    }
    for k, v in r.case.items():
        row[f"case.{k}"] = (
            v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
        )
    for name, m in r.metrics.items():
        row[f"{name} [{m.unit}]"] = m.value
    if r.summary is not None:
        for k in ("n", "median", "mean", "iqr", "min", "max", "cv", "ci95_low", "ci95_high"):
            row[f"time.{k}" + ("" if k in ("n", "cv") else " [s]")] = getattr(r.summary, k)
        row["time.high_spread"] = r.summary.high_spread
    row["record"] = r.model_dump_json()
    return row


def _table(results: Iterable[Result]) -> tuple[list[str], list[dict[str, Any]]]:
    rows = [flatten(r) for r in results]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    cols = [c for c in columns if c != "record"] + ["record"]
    return cols, rows


def export_results(results: Iterable[Result], path: Path, fmt: str | None = None) -> int:
    """Write results to ``path``; returns how many were written.

    The file is written beside its destination and renamed into place, so a full disk or a
    kill mid-export never leaves a truncated export that looks complete.
    """
    fmt = detect_format(path, fmt)
    if fmt == "db":
        raise UserError(f"{path}: export writes .jsonl, .csv or .parquet; copy the .db to share it")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a file name such as results.{fmt}")
    if not path.parent.is_dir():
        raise UserError(f"{path}: folder {path.parent} does not exist")
    results = list(results)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write(results, tmp, fmt)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return len(results)


def _write(results: list[Result], path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for r in results:
                f.write(r.model_dump_json() + "\n")
        return
    cols, rows = _table(results)
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for c in cols:
        values = [row.get(c) for row in rows]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int, float} and float in kinds:
            values = [None if v is None else float(v) for v in values]
        elif len(kinds) > 1:  # mixed types in one column: keep them readable as text
            values = [None if v is None else str(v) for v in values]
        try:
            columns[c] = pa.array(values)
        except (pa.ArrowException, OverflowError):  # e.g. integers beyond 64 bits
            columns[c] = pa.array([None if v is None else str(v) for v in values])
    pq.write_table(pa.table(columns), path)


def _parse(text: object, where: str) -> Result:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: empty or missing record")
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(data).__name__}")
        return Result.model_validate(upgrade_record(data))
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "record"
        raise UserError(f"{where}: not an accelbench result ({loc}: {first['msg']})") from None
    except StoreError as exc:
        raise UserError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: not an accelbench result ({exc})") from None


def read_results(path: Path, fmt: str | None = None) -> Iterator[Result]:
    """Read results from a JSONL, CSV or Parquet export, or from another accelbench .db."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            try:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield _parse(line, f"{path}:{n}")
            except UnicodeDecodeError:
                raise UserError(f"{path}: not a text file (expected JSON lines)") from None
    elif fmt == "csv":
        csv.field_size_limit(2**31 - 1)
        with path.open(newline="", encoding="utf-8") as f:
            try:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "record" not in reader.fieldnames:
                    raise UserError(
                        f"{path}: expected an accelbench CSV export with a 'record' column"
                    )
                for n, row in enumerate(reader, 2):
                    yield _parse(row.get("record"), f"{path}:{n}")
            except (UnicodeDecodeError, csv.Error) as exc:
                raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
            if "record" not in names:
                raise UserError(
                    f"{path}: expected an accelbench Parquet export with a 'record' column"
                )
            table = pq.read_table(path, columns=["record"])
        except UserError:
            raise
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(f"{path}: not a readable Parquet file ({first})") from None
        for n, text in enumerate(table.column("record").to_pylist()):
            yield _parse(text, f"{path}: row {n}")
    else:
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            rows = con.execute("SELECT record FROM results").fetchall()
            con.close()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not an accelbench database ({exc})") from None
        for (text,) in rows:
            yield _parse(text, str(path))
