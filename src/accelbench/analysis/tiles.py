"""The tile-size study: per shape and dtype, the best Triton tiling against torch.matmul.

Reads ``tile-gemm`` results only. For each (shape, dtype) it counts the configurations that
ran, did not fit the device and failed, picks the fastest one (median-time rate) and the one
that moves the fewest bytes, and divides the best rate by the library's (``torch.matmul``,
timed beside it on the same shape). A ratio above 1 means a hand-picked tile beat the library
on that shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from accelbench.results.schema import Result, Status

KIND = "tile-gemm"


@dataclass
class TileStudy:
    m: int
    n: int
    k: int
    dtype: str
    configs: list[Result] = field(default_factory=list)
    """Every Triton configuration's result, whatever its status."""
    reference: Result | None = None
    """torch.matmul on the same shape and dtype, when it ran ok."""

    @property
    def ok(self) -> list[Result]:
        return [r for r in self.configs if r.status is Status.OK and _rate(r) is not None]

    def count(self, status: Status) -> int:
        return sum(r.status is status for r in self.configs)

    @property
    def best(self) -> Result | None:
        return max(self.ok, key=lambda r: _rate(r) or 0.0, default=None)

    @property
    def fewest_bytes(self) -> Result | None:
        with_bytes = [r for r in self.ok if r.metric("tile_bytes_moved") is not None]
        return min(with_bytes, key=lambda r: r.metric("tile_bytes_moved") or 0.0, default=None)

    @property
    def best_over_reference(self) -> float | None:
        best = self.best
        b = None if best is None else _rate(best)
        ref = None if self.reference is None else _rate(self.reference)
        return b / ref if b and ref else None

    @property
    def label(self) -> str:
        return f"{self.m}x{self.n}x{self.k} {self.dtype}"


def _rate(r: Result) -> float | None:
    """Achieved TFLOP/s (median time)."""
    g = r.metric("achieved_gflops")
    return None if g is None else g / 1e3


def tflops(r: Result | None) -> float | None:
    return None if r is None else _rate(r)


def tile_studies(results: Iterable[Result]) -> list[TileStudy]:
    """One study per (shape, dtype) among ``tile-gemm`` results, in the order they came."""
    studies: dict[tuple[int, int, int, str], TileStudy] = {}
    for r in results:
        if r.kind != KIND:
            continue
        c = r.case
        key = (c["m"], c["n"], c["k"], c["dtype"])
        st = studies.setdefault(key, TileStudy(*key))
        if c.get("impl") == "torch":
            if r.status is Status.OK:
                st.reference = r
        else:
            st.configs.append(r)
    return list(studies.values())


def tile_of(r: Result) -> str:
    """``BLOCK_MxBLOCK_NxBLOCK_K wW sS`` of a Triton configuration's result."""
    c = r.case
    return (
        f"{c.get('block_m')}x{c.get('block_n')}x{c.get('block_k')} "
        f"w{c.get('num_warps')} s{c.get('num_stages')}"
    )
