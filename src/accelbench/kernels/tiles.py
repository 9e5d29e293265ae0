"""Tile configurations of a blocked matrix multiply and their analytic cost.

The study's tile-size experiment (a hand-written half-precision matmul, A[16,256] x B[256,1024]
on the Ascend NPU) found that tiles too small multiply data movement and tiles beyond k > 64,
n > 256 gain nothing. For the blocked kernel of :mod:`accelbench.kernels.triton_matmul` - one
program per BLOCK_M x BLOCK_N tile of C, stepping through K in BLOCK_K slices - the movement is
exact arithmetic: every program reads its whole A row-panel and B column-panel from global
memory, so A is read once per column of tiles and B once per row of tiles. These formulas are
the "bytes moved" of each configuration; they count the loads the kernel issues (masked-off
elements past the matrix edge are not loaded) and ignore what a cache may serve, which is
the point: they say what the tiling asks of the memory system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TileConfig:
    """One point of the sweep: block sizes, warps per program, software-pipeline stages."""

    block_m: int
    block_n: int
    block_k: int
    num_warps: int = 4
    num_stages: int = 3

    def describe(self) -> str:
        return f"{self.block_m}x{self.block_n}x{self.block_k} w{self.num_warps} s{self.num_stages}"


@dataclass(frozen=True)
class TileTraffic:
    """What one configuration asks of memory and compute for an (m x k) @ (k x n) product."""

    programs: int
    """Tiles of C, one program each: ceil(m / BLOCK_M) x ceil(n / BLOCK_N)."""
    k_steps: int
    """BLOCK_K slices each program steps through: ceil(k / BLOCK_K)."""
    bytes_read: float
    """A read once per column of tiles, B once per row of tiles."""
    bytes_written: float
    """C written once."""
    tile_loads: int
    """Tile loads issued (one A and one B tile per program and step): small tiles mean many
    small transfers, whatever the byte count."""
    padded_fraction: float
    """Share of the multiply-accumulates the tiles compute that fall past the matrix edges
    (masked zeros): tiles larger than the problem waste compute, not bandwidth."""

    @property
    def bytes_moved(self) -> float:
        return self.bytes_read + self.bytes_written


def tile_traffic(
    m: int, n: int, k: int, cfg: TileConfig, in_bytes: int, out_bytes: int
) -> TileTraffic:
    """Analytic global-memory traffic and padding of ``cfg`` for (m x k) @ (k x n)."""
    tiles_m, tiles_n = math.ceil(m / cfg.block_m), math.ceil(n / cfg.block_n)
    k_steps = math.ceil(k / cfg.block_k)
    padded_macs = (tiles_m * cfg.block_m) * (tiles_n * cfg.block_n) * (k_steps * cfg.block_k)
    return TileTraffic(
        programs=tiles_m * tiles_n,
        k_steps=k_steps,
        bytes_read=float(in_bytes * (m * k * tiles_n + k * n * tiles_m)),
        bytes_written=float(out_bytes * m * n),
        tile_loads=2 * tiles_m * tiles_n * k_steps,
        padded_fraction=1.0 - (m * n * k) / padded_macs,
    )


# Verification against torch.matmul in float32 from the same (rounded) inputs: elementwise
# |C - ref| <= atol + rtol * |ref|, atol scaled by sqrt(k), the typical size of a sum of k
# products of unit normals. rtol covers rounding C to the output dtype (float16 2^-11,
# bfloat16 2^-8, TF32 inputs 2^-11 per product) with room for another accumulation order;
# a kernel that drops or repeats a K slice is off by whole products and fails.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float32": (1e-4, 1e-4),
    "tfloat32": (1e-2, 1e-2),
    "float16": (2e-3, 2e-3),
    "bfloat16": (1.6e-2, 1.6e-2),
}


def misfit_reason(exc: BaseException) -> str | None:
    """The compiler's words when ``exc`` says a configuration does not fit the device (shared
    memory, registers, threads per block), or None for any other failure.

    Recognised by class name and message, so this module needs no Triton import: Triton's
    ``OutOfResources`` ("out of resource: shared memory, Required: ..., Hardware limit: ..."),
    ``ptxas`` failing on shared data or registers, and the driver refusing a launch that asks
    for too many resources.
    """
    name = type(exc).__name__
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [name]

    def line_with(*words: str) -> str | None:
        return next((x[:300] for x in lines if any(w in x.lower() for w in words)), None)

    if name == "OutOfResources":
        return lines[0][:300]
    if name == "PTXASError":
        return line_with("too much shared data", "register")
    return line_with("out of resource", "too many resources requested for launch")
