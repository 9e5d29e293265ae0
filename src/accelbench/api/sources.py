"""Which stored results a report or comparison is about: run groups read from a store.

A *run group* (:class:`accelbench.analysis.groups.RunGroup`) is one run's results (or, for a
whole database file, the newest result of every configuration in it) with the platform that
produced them. Resolution is the only part of reporting that touches the store; everything
after it is pure.
"""

from __future__ import annotations

from pathlib import Path

from accelbench.analysis.compare import newest_per_configuration
from accelbench.analysis.groups import RunGroup
from accelbench.analysis.platforms import platform_of
from accelbench.errors import StoreError
from accelbench.results.store import RunRow, Store


def _group(store: Store, row: RunRow, source: str) -> RunGroup:
    results = [r for r in store.query(run=row.run_id) if r.run_id == row.run_id]
    if not results:
        raise StoreError(f"run {row.run_id} in {source} has no readable results")
    g = RunGroup(
        key=row.run_id,
        suite=row.suite,
        platform=platform_of(results[0]),
        results=results,
        source=source,
        state=row.state,
        started_at=row.started_at,
    )
    if row.state != "imported" and (imported := store.imported_ids(row.run_id)):
        # Results imported under a run measured here: say so, they are not this machine's.
        g.notes.append(
            f"{len(imported)} result(s) of run {row.run_id} were imported from another "
            "file, not measured in this run here (accelbench results list --run shows them)"
        )
    return g


def find_run(store: Store, prefix: str, source: str) -> RunRow:
    """The one run whose id starts with ``prefix``; a clear error when none or several do."""
    matches = [r for r in store.runs() if r.run_id.startswith(prefix)]
    if not matches:
        known = ", ".join(r.run_id for r in store.runs()[-5:]) or "none"
        raise StoreError(f"no run {prefix!r} in {source} (latest runs: {known})")
    if len(matches) > 1:
        raise StoreError(
            f"run {prefix!r} is ambiguous in {source}: "
            + ", ".join(r.run_id for r in matches[:5])
            + "; give more of the id"
        )
    return matches[0]


def select_runs(store: Store, source: str, run_ids: list[str] | None = None) -> list[RunGroup]:
    """The runs to report: the given ones in order, or else the newest run of each suite on
    each platform (older repeats are named in a note rather than silently mixed in)."""
    if run_ids:
        # A run named twice (or by two prefixes) is reported once.
        rows = {find_run(store, rid, source).run_id: None for rid in run_ids}
        by_id = {r.run_id: r for r in store.runs()}
        return [_group(store, by_id[rid], source) for rid in rows]
    rows = [r for r in store.runs() if r.n_results]
    newest: dict[tuple[str, str, str, int], RunRow] = {}
    older: dict[tuple[str, str, str, int], list[str]] = {}
    for r in sorted(rows, key=lambda r: r.started_at):
        key = (r.suite, r.device, r.host, r.threads)
        if key in newest:
            older.setdefault(key, []).append(newest[key].run_id)
        newest[key] = r
    groups = []
    for key, row in newest.items():
        try:
            g = _group(store, row, source)
        except StoreError as exc:  # every result of it unreadable: the others still report
            store.warn(f"{exc}; left out of the report")
            continue
        if key in older:
            g.notes.append(
                f"{len(older[key])} older run(s) of {row.suite} on this platform left out "
                f"(pick them with --run): {', '.join(older[key][-3:])}"
            )
        groups.append(g)
    return groups


def resolve_side(spec: str, db: Path) -> RunGroup:
    """One side of `accelbench compare`: a database file (its newest result of every
    configuration), ``SUITE@DEVICE`` (that suite's newest run on that device in ``db``), or a
    run id (or unique prefix) in ``db``."""
    path = Path(spec)
    if path.suffix in {".db", ".sqlite", ".sqlite3"} or path.is_file():
        if not path.is_file():
            raise StoreError(f"{spec}: no such database file")
        with Store(path, readonly=True) as store:
            results = store.query()
        if not results:
            raise StoreError(f"{spec}: the database holds no results")
        newest = newest_per_configuration(results)
        platforms = {platform_of(r) for r in newest.values()}
        g = RunGroup(
            key=path.name,
            suite=", ".join(sorted({r.suite for r in newest.values()})),
            platform=platform_of(results[-1]),
            results=list(newest.values()),
            source=str(path),
        )
        if len(platforms) > 1:
            g.notes.append(
                f"{spec} mixes {len(platforms)} platforms; the newest result of each "
                "configuration is used"
            )
        return g
    if not db.is_file():
        raise StoreError(f"--db {db}: no such database file (needed to find {spec!r})")
    with Store(db, readonly=True) as store:
        if "@" in spec:
            suite, _, device = spec.partition("@")
            rows = [r for r in store.runs() if r.suite == suite and r.device == device]
            if not rows:
                raise StoreError(
                    f"{spec!r}: no run of suite {suite!r} on device {device!r} in {db}"
                )
            return _group(store, max(rows, key=lambda r: r.started_at), str(db))
        return _group(store, find_run(store, spec, str(db)), str(db))
