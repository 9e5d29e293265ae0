"""Warm- and cold-cache measurements of the same case, told apart and paired.

A result timed with ``cache: cold`` (the last-level cache evicted before every timed
iteration) measures something else than the same case timed warm: small operators whose
inputs fit in a 50 MB GPU L2 run faster warm. The cache mode is a measurement condition, not
part of the case, so everything that picks "the newest result of a configuration" keys on it
too, and the report pairs the two modes of one case side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accelbench.results.schema import Result, Status


def cache_mode(result: Result) -> str:
    """'warm' or 'cold': what the result's protocol did (records from before the option were
    all warm)."""
    protocol = result.config.get("protocol") or {}
    measure = result.config.get("measure") or {}
    return str(protocol.get("cache") or measure.get("cache") or "warm")


@dataclass(frozen=True)
class CachePair:
    """One case measured both ways: median times, rates and cold/warm time ratio."""

    kind: str
    description: str
    warm: Result
    cold: Result

    @property
    def slowdown(self) -> float | None:
        """Cold median time over warm median time (>1: the warm cache flattered the case)."""
        w, c = self.warm.summary, self.cold.summary
        if w is None or c is None or not w.median:
            return None
        return c.median / w.median


def warm_cold_pairs(results: Iterable[Result]) -> list[CachePair]:
    """Every ok case that has a warm and a cold result in ``results`` (the newest of each),
    in the order the warm results come."""
    newest: dict[tuple[str, str, str], Result] = {}
    for r in sorted(results, key=lambda r: r.started_at):
        if r.status is Status.OK and r.summary is not None:
            newest[(r.kind, r.case_key, cache_mode(r))] = r
    pairs = []
    for (kind, key, mode), warm in newest.items():
        cold = newest.get((kind, key, "cold"))
        if mode == "warm" and cold is not None:
            pairs.append(CachePair(kind, warm.description or key, warm, cold))
    return pairs
