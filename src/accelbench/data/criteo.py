"""Criteo display-advertising data (Kaggle challenge 2014) for DeepFM, preprocessed once.

**Format.** ``train.txt`` of the Kaggle release (45,840,617 rows, about 11 GB) and its
``dac_sample.txt``: one ad impression a line, tab-separated, no header: the click label (0/1),
13 integer features I1-I13 (mostly counts), 26 categorical features C1-C26 hashed onto 32 bits
and written as 8 hexadecimal digits; any field may be empty (missing). Gzipped copies are read
as they are (detected by their magic bytes). The 200-row sample that DeepCTR's examples use
(``criteo_sample.txt``) is the same data comma-separated with a ``label,I1,...,C26`` header and
integers written as ``260.0``; the delimiter and header are detected from the first line.

**Preprocessing** (one pass over the text, then one over the binary columns):

1. *Parse* the text in blocks of whole lines with pyarrow's multi-threaded CSV parser (no
   Python loop per line, never the whole file in memory). The blocks are cut at newlines here
   rather than by ``pyarrow.csv.open_csv`` so that every error names its line number and the
   pass can resume from a checkpoint (byte offset, rows, line) after it is killed. A reader
   thread reads (and decompresses) ahead, pyarrow parses block k+1 while a worker converts
   and writes block k.
   Integer features become ``log(1 + max(x, 0))`` as float32: negative values (I2 has some,
   e.g. -1 in the sample's second row) and missing values become 0 first, as
   facebookresearch/dlrm does for Criteo
   (``data_utils.py`` sets ``X_int < 0`` to 0, ``dlrm_data_pytorch.py`` takes ``log(x + 1)``).
   Categorical values are kept as their 8 raw bytes (one uint64, no hex decoding); an empty
   field is its own value (the 0 key) and gets a vocabulary slot like any other.
2. *Split* the rows 8:1:1 at random, fixed by ``seed``: ``numpy.random.default_rng(seed)
   .permutation(N)``; its first ``floor(0.8 N)`` rows are training, the next
   ``(N - n_train) // 2`` validation, the rest test; within a split rows keep their file order.
   For the Kaggle file that is 36,672,493 / 4,584,062 / 4,584,062 rows, the sizes of the open
   CTR benchmarks' Criteo_x4 split (AutoInt, Song et al. 2019; BARS, Zhu et al. 2021), though
   not their exact rows (they shuffled with their own generator).
3. *Vocabulary* per field from the **training split only**: values seen at least ``min_count``
   times (default 10, Criteo_x4_001's ``min_categr_count``) get indices ``1..V-1`` by
   descending training count (ties by value); everything else, including values that appear
   only in validation or test, is index 0, the field's out-of-vocabulary slot. Each field is
   counted by sorting its training values (numpy) and encoded by a hash lookup of every row
   in the kept set (``pyarrow.compute.index_in``), two fields at a time on two threads, so
   memory is bounded by a few copies of one field's column (8 bytes a row), never a Python
   dict of tens of millions of values.

**Cache.** ``<cache>/criteo-<key>/`` holds ``{train,val,test}/{label,dense,cats}.npy`` (uint8
``[n]``, float32 ``[13, n]``, int32 ``[26, n]``, column-major so a field is contiguous; open
them as memory maps), ``vocab.npz`` (each field's kept values as their 8 original characters,
in index order) and ``manifest.json`` (sizes, counts, transform, timings). The key hashes the
source's path, size and mtime with every setting, so a changed file is preprocessed again.
Work happens in ``criteo-<key>.partial/`` and becomes the cache by one atomic rename after
every file is written and synced: a killed pass never leaves a cache that looks complete.
A restart resumes the parse from its last checkpoint (columns are truncated back to it) and
the encoding from the last finished field; a lock file keeps two processes off one cache.
Checkpoints are written after the data they describe reached the operating system, which a
killed process cannot lose; after a power cut, delete the ``.partial`` folder to be safe.
Disk: the cache takes 157 bytes a row (7.2 GB for the Kaggle file); while it is built the
``.partial`` folder peaks at 418 bytes a row (the raw columns, 261 bytes a row, are deleted at
the end): about 19 GB for the Kaggle file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import math
import os
import queue
import shutil
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from accelbench.data.common import DataError, find_source
from accelbench.training.task import EvalContext, Quality, QualitySpec

try:  # POSIX advisory lock; elsewhere one process at a time is the user's business
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

N_DENSE = 13
N_CAT = 26
DENSE_NAMES = tuple(f"I{i}" for i in range(1, N_DENSE + 1))
CAT_NAMES = tuple(f"C{i}" for i in range(1, N_CAT + 1))
COLUMNS = ("label", *DENSE_NAMES, *CAT_NAMES)
SPLITS = ("train", "val", "test")
MIN_COUNT = 10  # Criteo_x4_001 (BARS) / AutoInt's rare-feature threshold
KAGGLE_ROWS = 45_840_617
KAGGLE_POSITIVE_RATE = 0.2562  # 11,745,438 clicks in 45,840,617 rows
CANDIDATES = [
    "train.txt",
    "train.txt.gz",
    "dac_sample.txt",
    "dac_sample.txt.gz",
    "criteo_sample.txt",
]
FORMAT_VERSION = 1
TRANSFORM = "log(1 + max(x, 0)), missing -> 0 (facebookresearch/dlrm)"
BLOCK_BYTES = 32 << 20
ENV_BLOCK_BYTES = "ACCELBENCH_CRITEO_BLOCK_BYTES"

# Distinct values per categorical field in the whole Kaggle train.txt, with no minimum count
# (empty counted as a value): facebookresearch/dlrm's Criteo Kaggle embedding sizes
# (`ln_emb`, printed by dlrm_s_pytorch.py and repeated in torchrec/DeepCTR examples); 33,762,577
# rows in all. Synthetic mode uses these unless given a preprocessed cache's own vocabulary
# sizes (see synthetic_cardinalities).
KAGGLE_RAW_CARDINALITIES: tuple[int, ...] = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip


class CriteoFormatError(DataError):
    """A Criteo text file that is not in the format; names the file and line."""


# -- reading the text -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceFormat:
    """How a Criteo text file is laid out; detected from its first bytes."""

    gzip: bool
    delimiter: str
    header: bool

    def describe(self) -> str:
        sep = "tab" if self.delimiter == "\t" else repr(self.delimiter)
        return f"{'gzip ' if self.gzip else ''}{sep}-separated{', header' if self.header else ''}"


def _open_text(path: Path, is_gzip: bool) -> BinaryIO:
    raw = open(path, "rb")  # noqa: SIM115 (returned; closed by the caller)
    return gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw  # type: ignore[return-value]


def sniff_format(path: Path) -> SourceFormat:
    """Gzip or not (magic bytes), delimiter and header (from the first line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a Criteo train.txt or dac_sample.txt)")
    with open(path, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    try:
        with _open_text(path, is_gzip) as f:
            first = f.readline(1 << 16)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not first.strip():
        raise CriteoFormatError(f"{path}: line 1 is empty (expected a Criteo row or a header)")
    delimiter = "\t" if b"\t" in first else ","
    head = first.rstrip(b"\r\n").split(delimiter.encode())
    header = head[0].strip().lower() == b"label"
    if header and [h.decode(errors="replace").strip() for h in head] != list(COLUMNS):
        raise CriteoFormatError(
            f"{path}: line 1 is a header of {len(head)} columns but not "
            f"label,I1..I13,C1..C26 (got {first[:120]!r})"
        )
    return SourceFormat(gzip=is_gzip, delimiter=delimiter, header=header)


@dataclass
class _Block:
    data: memoryview
    first_line: int  # 1-based line number of the block's first row
    end_offset: int  # offset in the (uncompressed) text just after the block
    lines: int
    at_eof: bool
    eof_without_newline: bool
    progress: float  # fraction of the file (compressed bytes for gzip) read so far


def _iter_blocks(
    path: Path, fmt: SourceFormat, block_bytes: int, start_offset: int, start_line: int
) -> Iterator[_Block]:
    """Blocks of whole lines from ``start_offset`` (0: the top, header skipped)."""
    size = max(path.stat().st_size, 1)
    with _open_text(path, fmt.gzip) as f:
        raw = f.fileobj if fmt.gzip else f  # type: ignore[attr-defined]
        offset, line = 0, 1
        if start_offset == 0 and fmt.header:
            offset = len(f.readline())
            line = 2
        elif start_offset:
            if fmt.gzip:  # no seeking in a gzip stream: decompress up to the checkpoint
                left = start_offset
                while left:
                    got = f.read(min(left, 16 << 20))
                    if not got:
                        raise CriteoFormatError(f"{path}: shorter than its checkpoint")
                    left -= len(got)
            else:
                f.seek(start_offset)
            offset, line = start_offset, start_line
        rest = b""
        while True:
            # One fresh buffer per block (the parser and the writer still hold the previous
            # ones); the unfinished last line moves to the front of the next buffer.
            buf = bytearray(len(rest) + block_bytes)
            buf[: len(rest)] = rest
            got = f.readinto(memoryview(buf)[len(rest) :])
            end = len(rest) + got
            if got == 0:
                if not end:
                    return
                data = memoryview(buf)[:end]
                last = buf[end - 1 : end] != b"\n"
                lines = buf.count(b"\n", 0, end) + last
                yield _Block(data, line, offset + end, lines, True, last, 1.0)
                return
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut == 0:  # one line longer than a block: keep reading
                rest = bytes(buf[:end])
                continue
            rest = bytes(buf[cut:end])
            offset += cut
            lines = buf.count(b"\n", 0, cut)
            progress = min(raw.tell() / size, 1.0)
            yield _Block(memoryview(buf)[:cut], line, offset, lines, False, False, progress)
            line += lines


def _prefetch(it: Iterator[_Block], depth: int = 2) -> Iterator[_Block]:
    """Read (and decompress) the next blocks on a thread while this one is parsed."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def run() -> None:
        try:
            for b in it:
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:
            q.put(exc)

    t = threading.Thread(target=run, name="criteo-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


@dataclass
class ParsedBlock:
    """One block's rows as arrays: label uint8 [n], dense float32 [13, n] (transformed),
    cats uint64 [26, n] (each value's 8 raw bytes; 0 = empty)."""

    label: np.ndarray
    dense: np.ndarray
    cats: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.label)


def _arrow_options(fmt: SourceFormat, dense_type: str) -> tuple[Any, Any, Any]:
    """Reader settings. Integers are parsed as int32 when they can be (the Kaggle file: about
    a third faster than float parsing) and as float64 otherwise (the CSV sample writes
    ``260.0``; a value beyond int32 falls back to this too)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types: dict[str, Any] = {"label": pa.int8()}
    types.update({n: getattr(pa, dense_type)() for n in DENSE_NAMES})
    types.update({n: pa.binary() for n in CAT_NAMES})
    read = pacsv.ReadOptions(column_names=list(COLUMNS), use_threads=True, block_size=4 << 20)
    parse = pacsv.ParseOptions(
        delimiter=fmt.delimiter, quote_char=False, double_quote=False, ignore_empty_lines=False
    )
    convert = pacsv.ConvertOptions(
        column_types=types, null_values=[""], strings_can_be_null=False, check_utf8=False
    )
    return read, parse, convert


def transform_dense(x: np.ndarray) -> np.ndarray:
    """``log(1 + max(x, 0))`` as float32; NaN (missing) -> 0."""
    x = np.asarray(x, dtype=np.float64)
    x = np.where(np.isnan(x), 0.0, np.maximum(x, 0.0))
    return np.log1p(x).astype(np.float32)


def parse_block(data: bytes | memoryview, fmt: SourceFormat, path: Path, first_line: int = 1,
                eof_without_newline: bool = False) -> ParsedBlock:  # fmt: skip
    """Parse whole lines of Criteo text; any bad line is a :class:`CriteoFormatError` naming
    ``path`` and its line number (``first_line`` is the number of the block's first line)."""
    table = _read_table(data, fmt, path, first_line, eof_without_newline)
    return _convert_table(table, data, fmt, path, first_line, eof_without_newline)


def _read_table(
    data: bytes | memoryview,
    fmt: SourceFormat,
    path: Path,
    first_line: int,
    eof_without_newline: bool,
) -> Any:
    """pyarrow's multi-threaded parse of one block into a Table."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buf = pa.py_buffer(data)
    table = None
    for dense_type in ("int32", "float64") if fmt.delimiter == "\t" else ("float64",):
        read, parse, convert = _arrow_options(fmt, dense_type)
        try:
            table = pacsv.read_csv(
                buf, read_options=read, parse_options=parse, convert_options=convert
            )
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            failure = str(exc)
            if "conversion error to int32" not in failure:
                break
    if table is None:
        raise _diagnose(data, fmt, path, first_line, eof_without_newline, failure)
    return table


def _convert_table(
    table: Any,
    data: bytes | memoryview,
    fmt: SourceFormat,
    path: Path,
    first_line: int,
    eof_without_newline: bool,
) -> ParsedBlock:
    """Check labels and categories, transform the integers, take the categories' raw bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    label_col = table.column(0)
    label = label_col.combine_chunks().to_numpy(zero_copy_only=False)
    bad = None
    if label_col.null_count:
        bad = int(np.flatnonzero(pc.is_null(label_col).to_numpy(zero_copy_only=False))[0])
    elif n and (label.min() < 0 or label.max() > 1):
        bad = int(np.flatnonzero((label < 0) | (label > 1))[0])
    if bad is not None:
        raise _diagnose(data, fmt, path, first_line, eof_without_newline, "bad label", bad)
    dense = np.empty((N_DENSE, n), dtype=np.float32)
    cats = np.zeros((N_CAT, n), dtype=np.uint64)
    start = 0
    # Chunk by chunk (the parser's own blocks), so nothing is concatenated first.
    for chunk in table.to_batches():
        m = chunk.num_rows
        for i in range(N_DENSE):
            col = chunk.column(1 + i)
            x = pc.fill_null(col, pa.scalar(0, col.type)).to_numpy()
            np.log1p(np.maximum(x, 0, dtype=np.float32), out=dense[i, start : start + m])
        for i in range(N_CAT):
            arr = chunk.column(1 + N_DENSE + i)
            offsets = np.frombuffer(
                arr.buffers()[1], dtype=np.int32, count=m + 1, offset=arr.offset * 4
            )
            lengths = np.diff(offsets)
            full = lengths == 8
            if not (full | (lengths == 0)).all():
                row = start + int(np.flatnonzero(~(full | (lengths == 0)))[0])
                raise _diagnose(
                    data, fmt, path, first_line, eof_without_newline, "bad category", row
                )
            k = int(np.count_nonzero(full))
            if k == m:
                cats[i, start : start + m] = np.frombuffer(
                    arr.buffers()[2], dtype="<u8", count=k, offset=int(offsets[0])
                )
            elif k:
                cats[i, start : start + m][full] = np.frombuffer(
                    arr.buffers()[2], dtype="<u8", count=k, offset=int(offsets[0])
                )
        start += m
    return ParsedBlock(label=label.astype(np.uint8), dense=dense, cats=cats)


def _line_problem(fields: list[bytes]) -> str | None:
    """What is wrong with one split line, or None."""
    if len(fields) != len(COLUMNS):
        return (
            f"has {len(fields)} fields, expected {len(COLUMNS)} (label, 13 integer, 26 categorical)"
        )
    if fields[0].strip() not in (b"0", b"1"):
        return f"label {fields[0][:40].decode(errors='replace')!r} is not 0 or 1"
    for name, v in zip(DENSE_NAMES, fields[1 : 1 + N_DENSE], strict=True):
        if v:
            try:
                float(v)
            except ValueError:
                return f"field {name} {v[:40].decode(errors='replace')!r} is not a number"
    for name, v in zip(CAT_NAMES, fields[1 + N_DENSE :], strict=True):
        if len(v) not in (0, 8):
            return (
                f"field {name} {v[:40].decode(errors='replace')!r} is not an 8-digit hashed "
                "category (or empty)"
            )
    return None


def _diagnose(
    data: bytes | memoryview,
    fmt: SourceFormat,
    path: Path,
    first_line: int,
    eof_without_newline: bool,
    arrow_message: str,
    row: int | None = None,
) -> CriteoFormatError:
    """Find the first bad line of a block that failed to parse (error path only, so a plain
    loop over its lines is fine) and say what is wrong with it."""
    lines = bytes(data).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    last = len(lines) - 1
    sep = fmt.delimiter.encode()
    candidates = [row] if row is not None else range(len(lines))
    for i in candidates:
        fields = lines[i].rstrip(b"\r").split(sep)
        problem = _line_problem(fields)
        if problem is None:
            continue
        where = f"{path}: line {first_line + i}"
        if i == last and eof_without_newline and len(fields) < len(COLUMNS):
            return CriteoFormatError(
                f"{where} is truncated: {len(fields)} of {len(COLUMNS)} fields and no newline at "
                "the end of the file (an interrupted download or copy?)"
            )
        return CriteoFormatError(f"{where} {problem}")
    return CriteoFormatError(
        f"{path}: lines {first_line}-{first_line + last}: cannot parse ({arrow_message})"
    )


# -- preprocessing --------------------------------------------------------------------------------
def split_sizes(n: int) -> dict[str, int]:
    """8:1:1: ``floor(0.8 n)`` training rows, the rest halved (validation gets the smaller)."""
    n_train = (8 * n) // 10
    n_val = (n - n_train) // 2
    return {"train": n_train, "val": n_val, "test": n - n_train - n_val}


def split_assignment(n: int, seed: int) -> np.ndarray:
    """uint8 ``[n]``: 0 train, 1 validation, 2 test, from ``default_rng(seed).permutation``."""
    sizes = split_sizes(n)
    perm = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=np.uint8)
    out[perm[: sizes["train"]]] = 0
    out[perm[sizes["train"] : sizes["train"] + sizes["val"]]] = 1
    out[perm[sizes["train"] + sizes["val"] :]] = 2
    return out


def cache_key(source: Path, *, min_count: int, seed: int, max_rows: int | None) -> dict[str, Any]:
    st = source.stat()
    return {
        "source": str(source.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "min_count": min_count,
        "seed": seed,
        "max_rows": max_rows,
        "transform": TRANSFORM,
        "split": "8:1:1 permutation",
        "v": FORMAT_VERSION,
    }


def cache_path(cache_root: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_root) / f"criteo-{digest}"


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class _Progress:
    """Throttled progress lines (rows, percent, rows/s) to stderr or a callback."""

    def __init__(self, sink: Callable[[str], None] | None, every_s: float = 2.0) -> None:
        self.sink = sink
        self.every_s = every_s
        self.last = 0.0

    def __call__(self, text: str, force: bool = False) -> None:
        if self.sink is None:
            return
        now = time.perf_counter()
        if force or now - self.last >= self.every_s:
            self.last = now
            self.sink(text)


def _stderr(text: str) -> None:
    print(f"  [criteo] {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(lock_path: Path, progress: _Progress) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as f:
        if fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                progress(f"waiting for another process preprocessing into {lock_path.parent}", True)
                fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


_RAW_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("label", np.uint8),
    *((n, np.float32) for n in DENSE_NAMES),
    *((n, np.uint64) for n in CAT_NAMES),
)


def _parse_stage(
    source: Path,
    fmt: SourceFormat,
    work: Path,
    max_rows: int | None,
    block_bytes: int,
    progress: _Progress,
) -> dict[str, Any]:
    """Stage 1: text -> one raw binary file per column, checkpointed after every block."""
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    ckpt_path = work / "parse.json"
    ckpt = _read_json(ckpt_path) or {"rows": 0, "offset": 0, "line": 1, "done": False}
    if ckpt.get("done"):
        return ckpt
    rows = int(ckpt["rows"])
    for name, dt in _RAW_COLUMNS:  # drop anything written after the last checkpoint
        p = raw / f"{name}.bin"
        want = rows * np.dtype(dt).itemsize
        have = p.stat().st_size if p.exists() else 0
        if have < want:  # a checkpoint without its data: start the parse again
            ckpt, rows = {"rows": 0, "offset": 0, "line": 1, "done": False}, 0
            break
    for name, _ in _RAW_COLUMNS:
        p = raw / f"{name}.bin"
        with open(p, "ab") as f:
            f.truncate(rows * np.dtype(dict(_RAW_COLUMNS)[name]).itemsize)
    resumed_at = rows
    if rows:
        progress(f"resuming the parse of {source} at line {ckpt['line']} ({rows:,} rows)", True)
    files = {name: open(raw / f"{name}.bin", "ab") for name, _ in _RAW_COLUMNS}  # noqa: SIM115
    t0 = time.perf_counter()
    start_rows = rows
    line = int(ckpt["line"])

    def write(parsed: ParsedBlock, state: dict[str, Any], fraction: float) -> None:
        files["label"].write(parsed.label.data)
        for i, name in enumerate(DENSE_NAMES):
            files[name].write(parsed.dense[i].data)
        for i, name in enumerate(CAT_NAMES):
            files[name].write(parsed.cats[i].data)
        for f in files.values():
            f.flush()
        _write_json(ckpt_path, state)  # only after the block's data is in the files
        rate = (state["rows"] - start_rows) / max(time.perf_counter() - t0, 1e-9)
        progress(f"parsed {state['rows']:,} rows ({100 * fraction:.0f}%), {rate:,.0f} rows/s")

    def convert_and_write(table: Any, blk: _Block, data: memoryview, state: dict[str, Any]) -> None:
        parsed = _convert_table(table, data, fmt, source, blk.first_line, blk.eof_without_newline)
        write(parsed, state, blk.progress)

    # pyarrow parses block k+1 (its own threads) while a worker converts and writes block k.
    worker = ThreadPoolExecutor(max_workers=1)
    pending = None
    try:
        blocks = _prefetch(
            _iter_blocks(source, fmt, block_bytes, int(ckpt["offset"]), int(ckpt["line"]))
        )
        for blk in blocks:
            data, end_offset = blk.data, blk.end_offset
            lines_here = blk.lines
            if max_rows is not None and rows + lines_here > max_rows:
                keep = max_rows - rows
                newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
                cut = int(newlines[keep - 1]) + 1 if keep <= len(newlines) else len(data)
                data = data[:cut]
                end_offset = end_offset - len(blk.data) + cut
                lines_here = keep
            try:
                table = _read_table(data, fmt, source, blk.first_line, blk.eof_without_newline)
            except CriteoFormatError:
                if pending is not None:
                    pending.result()  # an earlier block's error comes first
                raise
            if table.num_rows != lines_here:  # a blank line or a stray carriage return
                _convert_table(table, data, fmt, source, blk.first_line, blk.eof_without_newline)
                raise CriteoFormatError(
                    f"{source}: lines {blk.first_line}-{blk.first_line + lines_here - 1}: "
                    f"{table.num_rows} rows parsed from {lines_here} lines"
                )
            rows += table.num_rows
            line = blk.first_line + table.num_rows
            state = {"rows": rows, "offset": end_offset, "line": line, "done": False}
            if pending is not None:
                pending.result()
            pending = worker.submit(convert_and_write, table, blk, data, state)
            if max_rows is not None and rows >= max_rows:
                break
        if pending is not None:
            pending.result()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{source}: the compressed stream is damaged or cut short after line {line} ({exc})"
        ) from None
    except OSError as exc:
        raise DataError(f"{source}: preprocessing stopped after line {line}: {exc}") from None
    finally:
        worker.shutdown(wait=True, cancel_futures=True)
        for f in files.values():
            f.close()
    if rows == 0:
        raise CriteoFormatError(f"{source}: no data rows")
    for name, _ in _RAW_COLUMNS:
        with open(raw / f"{name}.bin", "rb+") as f:
            os.fsync(f.fileno())
    ckpt = {
        "rows": rows,
        "line": line,
        "done": True,
        "parse_s": time.perf_counter() - t0,
        "resumed_at_row": resumed_at,
    }
    _write_json(ckpt_path, ckpt)
    return ckpt


def _open_outputs(work: Path, sizes: dict[str, int], create: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        d = work / split
        d.mkdir(exist_ok=True)
        n = sizes[split]
        shapes = {"label": ((n,), np.uint8), "dense": ((N_DENSE, n), np.float32),
                  "cats": ((N_CAT, n), np.int32)}  # fmt: skip
        out[split] = {}
        for name, (shape, dt) in shapes.items():
            p = d / f"{name}.npy"
            if create or not p.exists():
                out[split][name] = np.lib.format.open_memmap(p, mode="w+", dtype=dt, shape=shape)
            else:
                out[split][name] = np.load(p, mmap_mode="r+")
    return out


def encode_field(
    keys: np.ndarray, train_rows: np.ndarray, min_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Vocabulary of one categorical field from the training rows and every row's index.

    Returns (codes int32 [n], kept keys uint64 in index order, their training counts, rows
    of the training split that fell out of vocabulary). Index 0 is out-of-vocabulary.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    # Count by sorting the training values (numpy's vectorised sort beats a hash table once a
    # field has millions of distinct values: the table no longer fits in cache).
    train = keys[train_rows]
    train.sort()
    if len(train):
        starts = np.flatnonzero(np.concatenate([[True], train[1:] != train[:-1]]))
        counts = np.diff(np.append(starts, len(train)))
        values = train[starts]
    else:
        counts, values = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    keep = counts >= min_count
    values, counts = values[keep], counts[keep]
    # most frequent first; ties in the order of the original characters (the byte-swapped key
    # compares as the 8 characters do)
    order = np.lexsort((values.byteswap(), -counts))
    values, counts = values[order], counts[order]
    # Every row's index: a hash lookup in the (small) kept set, position + 1; absent -> 0.
    pos = pc.index_in(pa.array(keys, type=pa.uint64()), value_set=pa.array(values))
    codes = (pc.fill_null(pos, -1).to_numpy() + 1).astype(np.int32, copy=False)
    oov_train = int(len(train) - counts.sum())
    return codes, values, counts, oov_train


def _encode_stage(
    work: Path,
    rows: int,
    seed: int,
    min_count: int,
    workers: int,
    progress: _Progress,
    stop_after_fields: int | None = None,
) -> dict[str, Any]:
    """Stage 2: split, vocabulary and indices, one column at a time, checkpointed per column."""
    raw = work / "raw"
    ckpt_path = work / "encode.json"
    ckpt = _read_json(ckpt_path)
    sizes = split_sizes(rows)
    fresh = not ckpt or ckpt.get("rows") != rows
    if fresh:
        ckpt = {"rows": rows, "done": {}, "sizes": sizes}
        for stale in ("vocab",):
            shutil.rmtree(work / stale, ignore_errors=True)
    (work / "vocab").mkdir(exist_ok=True)
    out = _open_outputs(work, sizes, create=fresh)
    _write_json(ckpt_path, ckpt)
    which = split_assignment(rows, seed)
    members = {s: np.flatnonzero(which == i) for i, s in enumerate(SPLITS)}
    del which
    lock = threading.Lock()
    t0 = time.perf_counter()
    todo = [name for name, _ in _RAW_COLUMNS if name not in ckpt["done"]]
    if stop_after_fields is not None:  # tests: stop as a crash would, with work left
        todo = todo[:stop_after_fields]

    def one(name: str) -> None:
        dt = dict(_RAW_COLUMNS)[name]
        col = np.fromfile(raw / f"{name}.bin", dtype=dt, count=rows)
        info: dict[str, Any] = {}
        if name == "label":
            for s in SPLITS:
                out[s]["label"][:] = col[members[s]]
                info[f"positives_{s}"] = int(out[s]["label"].sum(dtype=np.int64))
        elif name in DENSE_NAMES:
            i = DENSE_NAMES.index(name)
            for s in SPLITS:
                out[s]["dense"][i] = col[members[s]]
        else:
            i = CAT_NAMES.index(name)
            codes, kept, _counts, oov = encode_field(col, members["train"], min_count)
            del col
            for s in SPLITS:
                out[s]["cats"][i] = codes[members[s]]
            np.save(work / "vocab" / f"{name}.npy", kept.view("S8"))
            info = {"vocab_size": len(kept) + 1, "oov_train_rows": oov}
        # No msync per column: pages written through a shared mapping outlive a killed
        # process, and the files are synced once before the cache is published.
        with lock:
            ckpt["done"][name] = info
            _write_json(ckpt_path, ckpt)
            n_done = len(ckpt["done"])
        total = len(_RAW_COLUMNS)
        progress(f"encoded {name} ({n_done}/{total} columns)", n_done == total)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for f in [pool.submit(one, name) for name in todo]:
            f.result()
    for split in out.values():
        for arr in split.values():
            arr.flush()
    ckpt["encode_s"] = ckpt.get("encode_s", 0.0) + time.perf_counter() - t0
    _write_json(ckpt_path, ckpt)
    return ckpt


def preprocess_criteo(
    source: str | Path,
    cache_root: str | Path,
    *,
    min_count: int = MIN_COUNT,
    seed: int = 0,
    max_rows: int | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = _stderr,
    block_bytes: int | None = None,
    _stop_after_fields: int | None = None,
) -> Path:
    """Preprocess ``source`` once into ``cache_root`` and return the cache directory; a cache
    that is already complete is returned as it is. See the module docstring for what it does."""
    source = Path(source)
    if not source.is_file():
        raise DataError(f"{source}: no such file (expected a Criteo train.txt or dac_sample.txt)")
    if min_count < 1:
        raise ValueError(f"min_count: expected >= 1, got {min_count}")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows: expected >= 1, got {max_rows}")
    fmt = sniff_format(source)
    key = cache_key(source, min_count=min_count, seed=seed, max_rows=max_rows)
    final = cache_path(Path(cache_root), key)
    if _complete(final):
        return final
    prog = _Progress(progress)
    block_bytes = block_bytes or int(os.environ.get(ENV_BLOCK_BYTES, BLOCK_BYTES))
    workers = workers or min(2, os.cpu_count() or 1)
    work = final.with_name(final.name + ".partial")
    with _locked(final.with_name(final.name + ".lock"), prog):
        if _complete(final):  # another process finished it while we waited
            return final
        work.mkdir(parents=True, exist_ok=True)
        if (_read_json(work / "key.json") or {}) != key:
            shutil.rmtree(work)
            work.mkdir(parents=True)
            _write_json(work / "key.json", key)
        t0 = time.perf_counter()
        parsed = _parse_stage(source, fmt, work, max_rows, block_bytes, prog)
        rows = int(parsed["rows"])
        prog(f"parsed {rows:,} rows; building vocabularies and splits", True)
        enc = _encode_stage(work, rows, seed, min_count, workers, prog, _stop_after_fields)
        if len(enc["done"]) < len(_RAW_COLUMNS):
            raise RuntimeError("preprocessing stopped before every column was encoded")
        vocab = {n: np.load(work / "vocab" / f"{n}.npy") for n in CAT_NAMES}
        np.savez(work / "vocab.npz", **vocab)
        shutil.rmtree(work / "raw")
        shutil.rmtree(work / "vocab")
        for split in SPLITS:
            for name in ("label", "dense", "cats"):
                with open(work / split / f"{name}.npy", "rb+") as f:
                    os.fsync(f.fileno())
        done = enc["done"]
        manifest = {
            "format_version": FORMAT_VERSION,
            "key": key,
            "source_format": fmt.describe(),
            "rows": rows,
            "split_sizes": enc["sizes"],
            "split_rule": "numpy.random.default_rng(seed).permutation(rows); first floor(0.8 "
            "rows) train, next (rows - n_train) // 2 validation, rest test; file order kept",
            "positives": {s: done["label"][f"positives_{s}"] for s in SPLITS},
            "dense_transform": TRANSFORM,
            "min_count": min_count,
            "vocab_sizes": [done[n]["vocab_size"] for n in CAT_NAMES],
            "oov_train_rows": [done[n]["oov_train_rows"] for n in CAT_NAMES],
            "parse_s": parsed.get("parse_s"),
            "encode_s": enc.get("encode_s"),
            "parse_resumed_at_row": parsed.get("resumed_at_row"),
        }
        wall = time.perf_counter() - t0
        manifest["wall_s_this_run"] = wall
        _write_json(work / "manifest.json", manifest)
        for f in (work / "parse.json", work / "encode.json", work / "key.json"):
            f.unlink(missing_ok=True)
        if final.exists():  # an incomplete leftover under the final name (never ours)
            shutil.rmtree(final)
        os.replace(work, final)
        prog(
            f"{rows:,} rows preprocessed in {wall:.1f} s ({rows / max(wall, 1e-9):,.0f} rows/s) "
            f"-> {final}",
            True,
        )
    return final


def _complete(path: Path) -> bool:
    m = _read_json(path / "manifest.json")
    return bool(m) and m.get("format_version") == FORMAT_VERSION


# -- the cache ------------------------------------------------------------------------------------
@dataclass
class SplitArrays:
    """One split: label uint8 [n], dense float32 [13, n], cats int32 [26, n] (numpy arrays or
    read-only memory maps)."""

    label: np.ndarray
    dense: np.ndarray
    cats: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def head(self, n: int) -> SplitArrays:
        return SplitArrays(self.label[:n], self.dense[:, :n], self.cats[:, :n])


@dataclass
class CriteoData:
    splits: dict[str, SplitArrays]
    vocab_sizes: tuple[int, ...]
    """Rows per categorical field's table, out-of-vocabulary slot included."""
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def vocab(self) -> dict[str, np.ndarray]:
        """Each field's kept values as their original 8 characters (``bytes``), index order
        from 1 (index 0, out-of-vocabulary, has no value)."""
        if self.path is None:
            return {}
        with np.load(self.path / "vocab.npz") as z:
            return {n: z[n] for n in CAT_NAMES}


def open_criteo(path: str | Path) -> CriteoData:
    """A complete cache directory as memory maps; anything else is a :class:`DataError`."""
    path = Path(path)
    manifest = _read_json(path / "manifest.json")
    if not manifest or manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: not a complete Criteo cache (no manifest.json of format "
            f"{FORMAT_VERSION}); preprocess the source again"
        )
    splits = {}
    for s in SPLITS:
        try:
            splits[s] = SplitArrays(
                *(np.load(path / s / f"{n}.npy", mmap_mode="r") for n in ("label", "dense", "cats"))
            )
        except (OSError, ValueError) as exc:
            raise DataError(f"{path / s}: unreadable cache file ({exc})") from None
        if len(splits[s]) != manifest["split_sizes"][s]:
            raise DataError(f"{path / s}: {len(splits[s])} rows, manifest says "
                            f"{manifest['split_sizes'][s]}")  # fmt: skip
    return CriteoData(splits, tuple(manifest["vocab_sizes"]), manifest, path)


def load_criteo(
    data_dir: Path | None,
    cache_dir: Path,
    *,
    min_count: int = MIN_COUNT,
    seed: int = 0,
    max_rows: int | None = None,
    progress: Callable[[str], None] | None = _stderr,
) -> tuple[CriteoData, dict[str, Any]]:
    """Find the Criteo file under ``data_dir``, preprocess it once, return it and provenance."""
    src = find_source(data_dir, CANDIDATES, "Criteo (train.txt or dac_sample.txt)")
    t0 = time.perf_counter()
    path = preprocess_criteo(
        src, cache_dir, min_count=min_count, seed=seed, max_rows=max_rows, progress=progress
    )
    data = open_criteo(path)
    m = data.manifest
    info = {
        "path": str(src),
        "format": m["source_format"],
        "cache": str(path),
        "prepare_s": time.perf_counter() - t0,
        "rows": m["rows"],
        "split_sizes": m["split_sizes"],
        "split_rule": m["split_rule"],
        "seed": seed,
        "min_count": min_count,
        "max_rows": max_rows,
        "dense_transform": m["dense_transform"],
        "vocab_sizes": m["vocab_sizes"],
        "embedding_rows": int(sum(m["vocab_sizes"])),
    }
    return data, info


# -- synthetic data -------------------------------------------------------------------------------
def synthetic_criteo(
    n: int,
    cardinalities: tuple[int, ...] | list[int],
    *,
    seed: int = 0,
    positive_rate: float = KAGGLE_POSITIVE_RATE,
) -> SplitArrays:
    """Random rows of Criteo's shapes for throughput only (labels carry no signal).

    Category indices are log-uniform over each field's table (``floor(V ** u)`` for uniform
    ``u``): a few rows are hot and most are cold, as in the real data, rather than a uniform
    spread that would make every lookup a cache miss. Dense values follow log(1 + count) of
    counts that are missing (0) a fifth of the time.
    """
    if len(cardinalities) != N_CAT:
        raise ValueError(f"cardinalities: expected {N_CAT} fields, got {len(cardinalities)}")
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < positive_rate).astype(np.uint8)
    counts = np.floor(np.exp(rng.normal(1.5, 2.0, size=(N_DENSE, n))))
    counts[rng.random((N_DENSE, n)) < 0.2] = 0
    dense = transform_dense(counts)
    cats = np.empty((N_CAT, n), dtype=np.int32)
    for i, v in enumerate(cardinalities):
        u = rng.random(n)
        cats[i] = np.minimum(np.floor(np.exp(u * math.log(v))), v) - 1
    return SplitArrays(label, dense, cats)


def synthetic_cardinalities(tables: str | Path = "kaggle-raw") -> tuple[tuple[int, ...], str]:
    """Table sizes for synthetic mode and where they come from.

    ``"kaggle-raw"``: :data:`KAGGLE_RAW_CARDINALITIES`, every distinct value of the Kaggle file
    with no minimum count (33.8M rows: the largest tables Criteo can need). A path to a cache
    made by :func:`preprocess_criteo`: that cache's vocabulary sizes, i.e. the real tables
    after the minimum-count rule. No per-field table after a minimum count has been found in
    a published source to cite, so none is built in.
    """
    if str(tables) == "kaggle-raw":
        return (
            KAGGLE_RAW_CARDINALITIES,
            "Criteo Kaggle, every distinct value (facebookresearch/dlrm)",
        )
    manifest = _read_json(Path(tables) / "manifest.json")
    if not manifest or manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{tables}: expected 'kaggle-raw' or a complete Criteo cache folder (with "
            "manifest.json) for the synthetic table sizes"
        )
    what = f"vocabulary of {tables} (min_count {manifest['min_count']}, {manifest['rows']:,} rows)"
    return tuple(int(v) for v in manifest["vocab_sizes"]), what


def planted_logistic(
    n: int,
    cardinalities: tuple[int, ...] | list[int],
    *,
    seed: int = 0,
    scale: float = 1.0,
) -> tuple[SplitArrays, np.ndarray]:
    """Rows whose labels follow a known logistic model, and that model's logits.

    ``logit = b + sum_f w_f[c_f] + sum_i u_i x_i + sum_{f<g in pairs} a_fg * z_f[c_f] * z_g[c_g]``
    with random weights: first-order and a few pairwise interaction terms, so a model of
    DeepFM's family can represent it. The AUC of the true logits is the ceiling a trained
    model should approach.
    """
    rows = synthetic_criteo(n, cardinalities, seed=seed)
    rng = np.random.default_rng(seed + 1)
    logit = np.full(n, -1.0)
    for i, v in enumerate(cardinalities):
        w = rng.normal(0.0, 0.5 * scale, size=v)
        logit += w[rows.cats[i]]
    logit += rng.normal(0.0, 0.3 * scale, size=N_DENSE) @ rows.dense
    for f, g in ((0, 1), (2, 3), (4, 5)):
        zf = rng.normal(0.0, 1.0, size=cardinalities[f])[rows.cats[f]]
        zg = rng.normal(0.0, 1.0, size=cardinalities[g])[rows.cats[g]]
        logit += 0.5 * scale * zf * zg
    p = 1.0 / (1.0 + np.exp(-logit))
    rows.label = (rng.random(n) < p).astype(np.uint8)
    return rows, logit


# -- batches on the device ------------------------------------------------------------------------
Batch = tuple[tuple[Any, ...], Any]


AUC = QualitySpec("auc", "AUC", higher_is_better=True, chance=0.5, stuck_margin=0.005)
"""ROC AUC: 0.5 is a model that ranks clicks no better than chance; within 0.005 of it for the
recipe's stuck epochs means the run diverged."""


class CriteoBatches:
    """One split held on the device and served as ``((dense [B, 13], cats [B, 26]), label [B])``.

    The whole split is copied once (row-major, categorical indices kept as int32 to halve the
    footprint; the model widens them), so a step does no host work beyond one permutation.
    Shuffling draws from a CPU generator seeded with ``(seed, epoch)``: every platform sees
    the same batches in the same order.
    """

    def __init__(
        self,
        split: SplitArrays,
        device: Any,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool | None = None,
        seed: int = 0,
    ) -> None:
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        if len(split) == 0:
            raise DataError("an empty Criteo split cannot be served as batches")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = shuffle if drop_last is None else drop_last
        self.seed = seed
        self.n = len(split)
        self.dense = torch.from_numpy(np.ascontiguousarray(np.asarray(split.dense).T)).to(device)
        self.cats = torch.from_numpy(np.ascontiguousarray(np.asarray(split.cats).T)).to(device)
        self.label = torch.from_numpy(np.asarray(split.label).astype(np.float32)).to(device)
        full, rest = divmod(self.n, batch_size)
        self.steps = full if (self.drop_last and full) else full + bool(rest)

    @property
    def samples_per_epoch(self) -> int:
        return min(self.n, self.steps * self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        import torch

        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.n, generator=g).to(self.device)
        else:
            order = None
        b = self.batch_size
        for i in range(self.steps):
            if order is None:
                sl = slice(i * b, min((i + 1) * b, self.n))
                yield (self.dense[sl], self.cats[sl]), self.label[sl]
            else:
                idx = order[i * b : (i + 1) * b]
                yield (self.dense[idx], self.cats[idx]), self.label[idx]

    def __iter__(self) -> Iterator[Batch]:
        return self.batches(0)


class CriteoTask:
    """Criteo (real or synthetic rows) as the training core's ``Task``: ``n_train`` samples and
    ``steps`` per epoch, ``train_batches(epoch)`` already on the device, ``quality`` (AUC) and
    ``evaluate(ctx)`` returning AUC with logloss beside it, over the whole validation split.

    Training batches drop the last partial batch (every step has the recipe's batch size);
    evaluation batches keep every row.
    """

    quality = AUC

    def __init__(
        self,
        train: SplitArrays,
        val: SplitArrays | None,
        device: Any,
        batch_size: int,
        *,
        eval_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.train = CriteoBatches(train, device, batch_size, shuffle=True, seed=seed)
        self.val = (
            CriteoBatches(val, device, eval_batch_size or batch_size, shuffle=False)
            if val is not None
            else None
        )
        self.n_train = self.train.samples_per_epoch
        self.steps = self.train.steps

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        return self.train.batches(epoch)

    def samples_in(self, batch: Batch) -> int:
        return len(batch[1])

    def evaluate(self, ctx: EvalContext) -> Quality:
        if self.val is None:
            raise DataError("this Criteo task has no validation split (synthetic mode)")
        ctx.model.eval()
        return evaluate_ctr(ctx.forward, self.val.batches(), ctx.autocast)


# -- quality: AUC and logloss ---------------------------------------------------------------------
def logloss_from_logits(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary cross-entropy, computed from logits as ``log(1 + e^z) - y z`` so no
    probability is ever clipped (a saturated sigmoid would make the clipped value wrong)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def auc_logloss(labels: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
    """(ROC AUC, logloss) of logits against 0/1 labels.

    AUC is scikit-learn's ``roc_auc_score``: exact (every distinct score is a threshold, ties
    count half), on the host, on every sample given. torchmetrics would keep the scores on the
    device but its exact mode sorts the same way and its binned mode is an approximation; one
    device-to-host copy of the validation logits (18 MB for Criteo's 4.6M rows) is cheaper
    than a second metric implementation to trust. NaN when only one class is present.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels)
    z = np.asarray(logits, dtype=np.float64)
    if len(y) != len(z):
        raise ValueError(f"labels and logits differ in length ({len(y)} vs {len(z)})")
    if len(y) == 0:
        raise ValueError("no samples to evaluate")
    auc = float(roc_auc_score(y, z)) if 0 < int(y.sum()) < len(y) else math.nan
    return auc, logloss_from_logits(y, z)


def evaluate_ctr(
    forward: Callable[..., Any],
    batches: Any,
    autocast_ctx_factory: Callable[[], Any] = contextlib.nullcontext,
) -> Quality:
    """AUC (value) and logloss, positive rate and sample count (secondary) of ``forward``'s
    logits over every batch of ``batches`` (an iterable of ``(inputs, label)``): the full
    split, never a sample. The caller puts the model in eval mode."""
    import sklearn
    import torch

    logits, labels = [], []
    with torch.no_grad(), autocast_ctx_factory():
        for inputs, y in batches:
            logits.append(forward(*inputs).float())
            labels.append(y)
    z = torch.cat(logits).double().cpu().numpy()
    y = torch.cat(labels).cpu().numpy()
    t0 = time.perf_counter()
    auc, ll = auc_logloss(y, z)
    secondary: dict[str, float | str] = {
        "logloss": ll,
        "eval_samples": float(len(y)),
        "positive_rate": float(y.mean()),
        "metric_s": time.perf_counter() - t0,
        "auc_implementation": f"scikit-learn {sklearn.__version__} roc_auc_score (exact)",
    }
    if math.isnan(auc):
        secondary["auc_undefined"] = "only one class among the evaluated labels"
    return Quality(AUC, auc, secondary)
