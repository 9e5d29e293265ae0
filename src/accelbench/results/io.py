"""Export results to JSONL, CSV and Parquet, and read them back for merging.

JSONL is the lossless interchange format. CSV and Parquet are flat tables for spreadsheets and
dataframes (one column per case parameter and metric, units in the metric column names), and
they also carry each full record in a ``record`` column so that importing them is lossless too.

Imports are data, not trust: every record is validated exactly as a freshly measured one
(finite numbers, ids that match the content), and none may exceed :data:`MAX_RECORD_BYTES`, so
a hostile or broken file is one error naming its file, line and field. CSV text cells that a
spreadsheet would run as a formula are neutralised; JSONL and Parquet stay lossless.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from accelbench import fileio
from accelbench.errors import StoreError, UserError
from accelbench.results.schema import Result, upgrade_record
from accelbench.results.store import MergeSummary, validation_summary

FORMATS = ("jsonl", "csv", "parquet")
MAX_RECORD_BYTES = 16 * 2**20
"""The largest record an import accepts. The largest real ones (a training run's per-epoch
trace and loss-scale history, an adaptive measurement's samples) are well under 1 MiB; a
300 MB record would take over a gigabyte of memory to validate and store."""
# Characters that make a spreadsheet treat a text cell as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in (*FORMATS, "db"):
            raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
        return fmt
    if fileio.is_stream(path) or fileio.is_special(path):
        return "jsonl"  # a pipe or device has no extension: the interchange format
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


def export_results(
    results: Iterable[Result],
    path: Path,
    fmt: str | None = None,
    *,
    protect: Iterable[Path] = (),
) -> int:
    """Write results to ``path`` (``-``: standard output); returns how many were written.

    Written through :mod:`accelbench.fileio`: to a temporary file beside the destination and
    renamed into place, so a full disk or a kill mid-export never leaves a truncated export
    that looks complete; devices and pipes are written directly; ``protect`` (the databases
    the command reads) and any SQLite file are never overwritten.
    """
    fmt = detect_format(path, fmt)
    if fmt == "db":
        raise UserError(f"{path}: export writes .jsonl, .csv or .parquet; copy the .db to share it")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a file name such as results.{fmt}")
    if not fileio.is_stream(path) and not path.resolve().parent.is_dir():
        raise UserError(f"{path}: folder {path.parent} does not exist")
    results = list(results)
    with fileio.open_output(path, option="export", protect=protect) as f:
        _write(results, f, fmt)
    return len(results)


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate (``=cmd|...``, ``@SUM(...)``) with a leading
    apostrophe, which spreadsheets show as text; numbers and other cells unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _write(results: list[Result], f: IO[bytes], fmt: str) -> None:
    if fmt == "jsonl":
        for r in results:
            f.write(r.model_dump_json().encode("utf-8") + b"\n")
        return
    cols, rows = _table(results)
    if fmt == "csv":
        with fileio.text_writer(f, newline="") as text:
            w = csv.DictWriter(text, fieldnames=[csv_safe(c) for c in cols])
            w.writeheader()
            # The record column is JSON (it starts with '{'), kept exact for a lossless import.
            w.writerows({csv_safe(k): csv_safe(v) for k, v in row.items()} for row in rows)
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
    pq.write_table(pa.table(columns), f)


def _too_large(where: str, size: int) -> UserError:
    return UserError(
        f"{where}: record larger than {MAX_RECORD_BYTES // 2**20} MiB ({size:,} bytes or more);"
        " accelbench records are far smaller, so this is not an accelbench export"
    )


def _parse(text: object, where: str) -> Result:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: empty or missing record")
    if len(text) > MAX_RECORD_BYTES:
        raise _too_large(where, len(text))
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(data).__name__}")
        return Result.model_validate(upgrade_record(data))
    except RecursionError:
        raise UserError(f"{where}: not an accelbench result (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        raise UserError(f"{where}: not an accelbench result ({validation_summary(exc)})") from None
    except StoreError as exc:
        raise UserError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: not an accelbench result ({exc})") from None


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, never reading more than the size cap
    into memory for one line."""
    with path.open("rb") as f:
        n = 0
        while True:
            raw = f.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                return
            n += 1
            if len(raw) > MAX_RECORD_BYTES:
                raise _too_large(f"{path}:{n}", len(raw))
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(
                    f"{path}:{n}: not a text file (expected UTF-8 JSON lines)"
                ) from None
            if line.strip():
                yield n, line


def read_results(path: Path, fmt: str | None = None) -> Iterator[Result]:
    """Read results from a JSONL, CSV or Parquet export, or from another accelbench .db."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        for n, line in _jsonl_lines(path):
            yield _parse(line, f"{path}:{n}")
    elif fmt == "csv":
        csv.field_size_limit(MAX_RECORD_BYTES)
        with path.open(newline="", encoding="utf-8") as f:
            try:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "record" not in reader.fieldnames:
                    raise UserError(
                        f"{path}: expected an accelbench CSV export with a 'record' column"
                    )
                for n, row in enumerate(reader, 2):
                    yield _parse(row.get("record"), f"{path}:{n}")
            except UnicodeDecodeError:
                raise UserError(f"{path}: not a readable CSV file (not UTF-8 text)") from None
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise _too_large(f"{path}:{reader.line_num}", MAX_RECORD_BYTES) from None
                raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    elif fmt == "parquet":
        yield from _read_parquet(path)
    else:
        yield from _read_db(path)


def _read_parquet(path: Path) -> Iterator[Result]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        if "record" not in pf.schema_arrow.names:
            raise UserError(f"{path}: expected an accelbench Parquet export with a 'record' column")
        batches = pf.iter_batches(columns=["record"], batch_size=256)
    except UserError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: not a readable Parquet file ({first})") from None
    n = 0
    while True:
        try:
            batch = next(batches, None)
            if batch is None:
                return
            column = batch.column(0)
            lengths = pc.binary_length(column.cast("binary")) if len(column) else None
            longest = pc.max(lengths).as_py() if lengths is not None else None
            texts = column.to_pylist()
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(f"{path}: not a readable Parquet file ({first})") from None
        if longest is not None and longest > MAX_RECORD_BYTES:
            raise _too_large(f"{path}: row {n + texts.index(max(texts, key=len))}", longest)
        for text in texts:
            yield _parse(text, f"{path}: row {n}")
            n += 1


def _read_db(path: Path) -> Iterator[Result]:
    """Records of another accelbench database, opened read-only, row by row."""
    try:
        uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise UserError(f"{path}: not an accelbench database ({exc})") from None
    try:
        cur = con.execute(
            "SELECT result_id, length(CAST(record AS BLOB)),"
            " CASE WHEN length(CAST(record AS BLOB)) <= ? THEN record END FROM results",
            (MAX_RECORD_BYTES,),
        )
        for rid, size, text in cur:
            where = f"{path}: result {rid}"
            if size is not None and size > MAX_RECORD_BYTES:
                raise _too_large(where, size)
            yield _parse(text, where)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: not an accelbench database ({exc})") from None
    finally:
        con.close()


class ImportInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``results import``; the message says what the store holds now."""


def import_files(
    paths: list[Path],
    db: Path,
    fmt: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> list[MergeSummary]:
    """Read and validate every file, then merge them all into ``db`` in one transaction.

    Each file is recorded as the source of the results it added (and when). ``notice``
    receives one line per file that holds results whose id is stored with other content
    (kept as stored). An interrupt raises :class:`ImportInterrupted` saying whether anything
    was committed (all or nothing, so either every file or none).
    """
    from accelbench.results.store import Store

    say = notice or (lambda _m: None)
    before: int | None = None
    st: Store | None = None
    try:
        # Parse every file completely before writing anything, so a bad file adds nothing.
        batches = [(str(p.resolve()), list(read_results(p, fmt))) for p in paths]
        st = Store(db)
        before = st.count()
        summaries = st.merge(batches)
    except KeyboardInterrupt:
        if st is None or before is None:
            raise ImportInterrupted(
                "interrupted while reading the files: nothing was imported"
            ) from None
        added = st.count() - before
        raise ImportInterrupted(
            "interrupted: nothing was imported (the import is all or nothing; run it again)"
            if added <= 0
            else f"interrupted after the import was committed: {added} results added"
        ) from None
    finally:
        if st is not None:
            st.close()
    for s in summaries:
        if s.conflicts:
            shown = ", ".join(s.conflicts[:5]) + (", ..." if len(s.conflicts) > 5 else "")
            say(
                f"warning: {s.source}: {len(s.conflicts)} results carry the id of a stored "
                f"result but other content; the stored ones are kept: {shown}"
            )
    return summaries
