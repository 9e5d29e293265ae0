"""Check a dataset on disk against the registry, and say which kind of check was made.

* **checksum**: the publisher's files, each compared by size and then by SHA-256 (or the MD5
  where that is all the publisher gives) with the registry;
* **content**: another packaging (an extracted folder, a repack), checked by what it holds:
  the files expected per split and class, counted; files that must be there, with their
  checksums where the publisher gives per-file ones; rows and fields of delimited text; line
  counts of translation pairs;
* **bundled**: a set shipped inside a package (scikit-learn's digits), loaded and checked.

Every missing or corrupt file is named, not only the first. The form checked is the one the
loaders would read: the first of the registry's candidates found under the data directory,
then under the default download folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Literal, Protocol

from accelbench.data.common import DataError, FileTree, search_dirs
from accelbench.data.digits import check_bundled
from accelbench.data.registry import Count, Dataset, FileCheck, Form, RemoteFile, Rows

Method = Literal["checksum", "content", "bundled", "missing"]
CHUNK = 1 << 20


class ProgressSink(Protocol):
    """Where long byte-counting work (downloads, hashing) reports progress."""

    def start(self, label: str, total: int | None, completed: int = 0) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


class LineProgress:
    """Progress as a plain line every few seconds and at the end: for places where a live bar
    cannot be drawn (inside a run, whose progress bar owns the terminal; logs)."""

    def __init__(self, stream: IO[str] | None = None, every_s: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.label, self.total, self.done = "", None, 0
        self.t0 = self.last = 0.0
        self.start_done = 0

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        self.label, self.total, self.done = label, total, completed
        self.start_done = completed
        self.t0 = self.last = time.perf_counter()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            self._line(now)

    def finish(self) -> None:
        self._line(time.perf_counter())

    def _line(self, now: float) -> None:
        rate = (self.done - self.start_done) / max(now - self.t0, 1e-9)
        of = f" of {self.total / 1e6:,.1f} MB" if self.total else " MB"
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        print(
            f"  {self.label}: {self.done / 1e6:,.1f}{of}{pct} at {rate / 1e6:,.1f} MB/s",
            file=self.stream,
            flush=True,
        )


@dataclass
class Check:
    """One thing checked: what, whether it passed, and the finding."""

    what: str
    ok: bool
    detail: str = "ok"


@dataclass
class Verification:
    dataset: str
    method: Method
    form: str | None = None
    path: Path | None = None
    checks: list[Check] = field(default_factory=list)
    looked: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.method != "missing" and all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def describe(self) -> str:
        """One line: which kind of check on what, and the outcome."""
        if self.method == "missing":
            return (
                f"{self.dataset}: not found (looked for {', '.join(str(p) for p in self.looked)})"
            )
        kind = {
            "checksum": "by checksum (the publisher's files)",
            "content": "by content (not the publisher's packaging, so no publisher checksum "
            "applies to it)",
            "bundled": "by loading it (bundled in a package)",
        }[self.method]
        passed = sum(c.ok for c in self.checks)
        verdict = "ok" if self.ok else f"FAILED, {len(self.problems)} problem(s)"
        return (
            f"{self.dataset}: {self.form} at {self.path}, checked {kind}: "
            f"{passed}/{len(self.checks)} checks passed: {verdict}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "ok": self.ok,
            "method": self.method,
            "form": self.form,
            "path": str(self.path) if self.path else None,
            "checks": [c.__dict__ for c in self.checks],
            "looked": [str(p) for p in self.looked],
        }


# -- hashing -------------------------------------------------------------------------------------
def hash_file(
    path: Path, algos: Iterable[str], progress: ProgressSink | None = None, label: str = ""
) -> dict[str, str]:
    """Hex digests of ``path`` for each of ``algos`` in one read, with progress."""
    hs = {a: hashlib.new(a) for a in algos}
    sink = progress or NullProgress()
    sink.start(label or f"checking {path.name}", path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            for h in hs.values():
                h.update(chunk)
            sink.advance(len(chunk))
    sink.finish()
    return {a: h.hexdigest() for a, h in hs.items()}


def expected_digests(f: RemoteFile | FileCheck) -> dict[str, str]:
    """The checksums the registry has for a file: SHA-256 and/or MD5."""
    return {a: v.lower() for a, v in (("sha256", f.sha256), ("md5", f.md5)) if v}


def digest_mismatch(got: dict[str, str], want: dict[str, str]) -> str | None:
    """None when every expected digest matches, else what differs."""
    bad = [f"{a} {got[a]}, expected {want[a]}" for a in want if got.get(a) != want[a]]
    return "; ".join(bad) or None


def check_remote_file(
    f: RemoteFile, path: Path, progress: ProgressSink | None = None, label: str = ""
) -> Check:
    """A publisher's file on disk against its registry size and checksum."""
    what = f"{f.name} ({'sha256' if f.sha256 else 'md5'})"
    if not path.is_file():
        return Check(what, False, f"missing: {path}")
    size = path.stat().st_size
    if f.size is not None and size != f.size:
        return Check(
            what,
            False,
            f"{path}: {size:,} bytes, expected {f.size:,} (truncated or not the publisher's file)",
        )
    want = expected_digests(f)
    if not want:
        return Check(what, True, "present; the publisher gives no checksum for it")
    bad = digest_mismatch(hash_file(path, want, progress, label), want)
    if bad:
        return Check(
            what,
            False,
            f"{path}: corrupt or not the publisher's file: {bad} (checksum from {f.source})",
        )
    return Check(what, True)


# -- finding the form the loaders would read -----------------------------------------------------
def _published_present(ds: Dataset, p: Path) -> bool:
    names = {f.name for f in ds.files}
    if p.is_file():
        return p.name in names
    return p.is_dir() and any((p / n).exists() for n in names)


def locate_form(ds: Dataset, data_dir: Path | None) -> tuple[Form, Path] | None:
    """The first form of ``ds`` present, in the loaders' order, and where; None if none is."""
    for d in search_dirs(data_dir):
        for form in ds.forms:
            for n in form.names:
                p = d / n
                if form.published:
                    if _published_present(ds, p):
                        return form, p
                elif p.exists():
                    return form, p
    return None


def looked_paths(ds: Dataset, data_dir: Path | None) -> list[Path]:
    return [d / n for d in search_dirs(data_dir) for n in ds.candidates]


# -- content checks ------------------------------------------------------------------------------
def _segments_match(name: str, pattern: str) -> bool:
    a, b = name.split("/"), pattern.split("/")
    return len(a) == len(b) and all(fnmatchcase(x, y) for x, y in zip(a, b, strict=True))


def group_by_folder(names: list[str]) -> dict[str, list[str]]:
    """Base names per folder: a pattern's folder part is then matched once per folder, not
    once per file (1.3 M ImageNet files sit in 2,000 folders)."""
    by_dir: dict[str, list[str]] = {}
    for n in names:
        d, _, base = n.rpartition("/")
        by_dir.setdefault(d, []).append(base)
    return by_dir


def count_matches(names: list[str], c: Count, by_dir: dict[str, list[str]] | None = None) -> int:
    """Files (or distinct folders) among ``names`` matching ``c.pattern`` segment by segment;
    ``by_dir``: :func:`group_by_folder` of ``names``, when already made."""
    if c.what == "folders":
        k = c.pattern.count("/") + 1
        heads = {"/".join(n.split("/")[:k]) for n in names if n.count("/") >= k}
        return sum(_segments_match(h, c.pattern) for h in heads)
    by_dir = by_dir if by_dir is not None else group_by_folder(names)
    d_pat, _, b_pat = c.pattern.rpartition("/")
    total = 0
    for d, bases in by_dir.items():
        if (d == d_pat == "") or (d and d_pat and _segments_match(d, d_pat)):
            total += sum(fnmatchcase(b, b_pat) for b in bases)
    return total


def _strip_root(names: list[str], form: Form) -> tuple[list[str], str]:
    """Names relative to the form's root: as they are, or without a single top folder that
    every name shares (``aclImdb/`` inside ``aclImdb.tar.gz``), whichever fits the form's
    patterns better (judged on their first path segment)."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1 or any("/" not in n for n in names):
        return names, ""
    top = next(iter(tops)) + "/"
    stripped = [n[len(top) :] for n in names]
    firsts = [c.pattern.split("/", 1)[0] for c in form.counts] + [
        f.path.split("/", 1)[0] for f in form.files if not f.anywhere
    ]

    def score(ns: list[str]) -> int:
        heads = {n.split("/", 1)[0] for n in ns}
        return sum(any(fnmatchcase(h, f) for h in heads) for f in firsts)

    return (stripped, top) if score(stripped) >= score(names) else (names, "")


def _check_tree(form: Form, path: Path, progress: ProgressSink) -> list[Check]:
    checks: list[Check] = []
    try:
        tree = FileTree(path)
    except DataError as exc:
        return [Check(f"{path.name} readable", False, str(exc))]
    try:
        try:
            all_names = tree.names()
        except (OSError, EOFError) as exc:
            return [Check(f"{path.name} readable", False, f"{path}: corrupt archive ({exc})")]
        names, prefix = _strip_root(all_names, form)
        by_dir = group_by_folder(names)
        for c in form.counts:
            n = count_matches(names, c, by_dir)
            checks.append(
                Check(
                    f"{c.pattern}: {c.expected:,} {c.what}",
                    n == c.expected,
                    "ok"
                    if n == c.expected
                    else f"{tree.where(prefix + c.pattern)}: found "
                    f"{n:,} {c.what}, expected {c.expected:,}",
                )
            )
        present = set(names)
        for fc in form.files:
            if fc.anywhere:
                hits = [n for n in names if n.rsplit("/", 1)[-1] == fc.path]
                rel = hits[0] if hits else None
            else:
                rel = fc.path if fc.path in present else None
            want = expected_digests(fc)
            what = fc.path + (f" ({'sha256' if fc.sha256 else 'md5'})" if want else "")
            if rel is None:
                checks.append(Check(what, False, f"missing: {tree.where(prefix + fc.path)}"))
                continue
            if not want:
                checks.append(Check(what, True))
                continue
            progress.start(f"checking {fc.path}", None)
            raw = tree.read(prefix + rel)
            progress.advance(len(raw))
            progress.finish()
            got = {a: hashlib.new(a, raw).hexdigest() for a in want}
            bad = digest_mismatch(got, want)
            checks.append(
                Check(
                    what,
                    bad is None,
                    "ok" if bad is None else f"{tree.where(prefix + rel)}: corrupt: {bad}",
                )
            )
    finally:
        tree.close()
    return checks


def _check_rows(r: Rows, path: Path, progress: ProgressSink) -> Check:
    f = path / r.path if path.is_dir() else path
    what = (
        f"{r.path}: "
        + (f"{r.rows:,} rows of " if r.rows is not None else "rows of ")
        + (f"{r.fields} fields")
    )
    if not f.is_file():
        return Check(what, False, f"missing: {f}")
    sep = r.sep.encode()
    rows, bad_at = 0, None
    progress.start(f"checking {r.path}", f.stat().st_size)
    with f.open("rb") as fh:
        if r.header is not None:
            head = fh.readline()
            progress.advance(len(head))
            got = tuple(head.rstrip(b"\r\n").decode("utf-8", "replace").split(r.sep))
            if got != r.header:
                progress.finish()
                return Check(
                    what,
                    False,
                    f"{f}: header {','.join(got)[:80]!r}, expected {','.join(r.header)[:80]!r}",
                )
        for line in fh:
            progress.advance(len(line))
            rows += 1
            if bad_at is None and line.rstrip(b"\r\n").count(sep) != r.fields - 1:
                bad_at = rows
    progress.finish()
    if bad_at is not None:
        return Check(what, False, f"{f}: row {bad_at} does not have {r.fields} fields")
    if r.rows is not None and rows != r.rows:
        return Check(what, False, f"{f}: {rows:,} rows, expected {r.rows:,}")
    return Check(what, True, "ok" if r.rows is not None else f"ok ({rows:,} rows)")


def _count_lines(f: Path, progress: ProgressSink) -> int:
    n = 0
    progress.start(f"counting lines of {f.name}", f.stat().st_size)
    with f.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            n += chunk.count(b"\n")
            progress.advance(len(chunk))
    progress.finish()
    return n


def _find_anywhere(root: Path, name: str) -> Path | None:
    for dirpath, _dirs, files in os.walk(root):
        if name in files:
            return Path(dirpath) / name
    return None


def verify_content(form: Form, path: Path, progress: ProgressSink | None = None) -> list[Check]:
    """Every content check of ``form`` on ``path`` (a folder, an archive or a file)."""
    sink = progress or NullProgress()
    checks: list[Check] = []
    if form.counts or form.files:
        checks += _check_tree(form, path, sink)
    checks += [_check_rows(r, path, sink) for r in form.rows]
    for pair in form.aligned:
        what = f"{pair.left} and {pair.right}: as many lines"
        found = [
            _find_anywhere(path, n) if path.is_dir() else None for n in (pair.left, pair.right)
        ]
        missing = [n for n, p in zip((pair.left, pair.right), found, strict=True) if p is None]
        if missing:
            checks.append(Check(what, False, f"missing under {path}: {', '.join(missing)}"))
            continue
        a, b = (_count_lines(p, sink) for p in found if p is not None)
        checks.append(
            Check(what, a == b, "ok" if a == b else f"{found[0]}: {a:,} lines, {found[1]}: {b:,}")
        )
    return checks


# -- whole datasets ------------------------------------------------------------------------------
def verify_dataset(
    ds: Dataset, data_dir: Path | None, progress: ProgressSink | None = None
) -> Verification:
    """Check what the loaders would read for ``ds``, by checksum or by content."""
    if ds.access == "bundled":
        path, found = check_bundled()
        checks = [Check(what, problem is None, problem or "ok") for what, problem in found]
        return Verification(ds.name, "bundled", "bundled copy", path, checks)
    found = locate_form(ds, data_dir)
    if found is None:
        return Verification(ds.name, "missing", looked=looked_paths(ds, data_dir))
    form, path = found
    if form.published:
        root = path if path.is_dir() else path.parent
        files = ds.files if path.is_dir() else tuple(f for f in ds.files if f.name == path.name)
        checks = [
            check_remote_file(f, root / f.name, progress, f"checking {f.name}") for f in files
        ]
        return Verification(ds.name, "checksum", form.label, path, checks)
    return Verification(ds.name, "content", form.label, path, verify_content(form, path, progress))


__all__ = [
    "Check",
    "LineProgress",
    "NullProgress",
    "ProgressSink",
    "Verification",
    "check_remote_file",
    "count_matches",
    "hash_file",
    "locate_form",
    "verify_content",
    "verify_dataset",
]
