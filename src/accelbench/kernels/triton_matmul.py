"""A blocked matrix multiply in Triton whose tiling is the swept parameter of ``tile-gemm``.

One program computes one BLOCK_M x BLOCK_N tile of C = A @ B: it steps through K in BLOCK_K
slices, loading an A tile and a B tile per step (masked at the matrix edges, so any shape
works), accumulates in float32 with ``tl.dot`` and writes C once in its own dtype. Programs are
laid out in plain row-major order (no grouped ordering), so the analytic traffic of
:func:`accelbench.kernels.tiles.tile_traffic` is exactly the loads it issues. ``num_warps`` and
``num_stages`` (software pipelining of the K loop) are launch options.

The kernel uses only Triton builtins (``tl.full``, not ``tl.zeros``; integer division, not
``tl.cdiv``): the standard library's helpers are themselves JIT functions, fixed as compiled or
interpreted when Triton is first imported, so a kernel that called them could not switch to the
interpreter inside a process that imported Triton for compiling. With builtins only, the same
kernel is JIT-compiled for a GPU or handed to Triton's interpreter (host tensors, numpy) per
call, which is how tests run it without a GPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
import triton
import triton.language as tl

from accelbench.kernels.tiles import TileConfig

# tl.dot's input precision per dtype: strict IEEE float32 unless TF32 is what is measured
# (Triton's default on NVIDIA is TF32 for float32 inputs); half types ignore it.
INPUT_PRECISION = {"float32": "ieee", "tfloat32": "tf32", "float16": "ieee", "bfloat16": "ieee"}


def _matmul_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_cn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rm[:, None] * stride_am + rk[None, :] * stride_ak
    b_ptrs = b_ptr + rk[:, None] * stride_bk + rn[None, :] * stride_bn
    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & (rk[None, :] + k0 < K), other=0.0)
        b = tl.load(b_ptrs, mask=(rk[:, None] + k0 < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    c_ptrs = c_ptr + rm[:, None] * stride_cm + rn[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))


@contextlib.contextmanager
def _interpreter(on: bool) -> Iterator[None]:
    """Triton's interpreter switched on or off for a region, and restored after, whatever the
    environment says (a user's TRITON_INTERPRET=1 must not turn a GPU timing into a timing of
    the interpreter). Uses Triton's scoped knob where this Triton has one."""
    knobs = getattr(triton, "knobs", None)
    if knobs is not None:
        with knobs.runtime.scope():
            knobs.runtime.interpret = on
            yield
        return
    before = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = before


_KERNELS: dict[bool, Any] = {}


def kernel(interpret: bool) -> Any:
    """The JIT function, compiled or interpreted (made once per mode)."""
    if interpret not in _KERNELS:
        with _interpreter(interpret):
            _KERNELS[interpret] = triton.jit(_matmul_kernel)
    return _KERNELS[interpret]


def launcher(
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    cfg: TileConfig,
    *,
    dtype: str,
    interpret: bool,
) -> Callable[[], Any]:
    """A zero-argument call of the kernel computing ``c = a @ b`` with ``cfg``; each call
    launches it once and returns what Triton's launch returns (the compiled kernel, with
    its shared-memory and register use, when compiled)."""
    (m, k), (_, n) = a.shape, b.shape
    grid = (triton.cdiv(m, cfg.block_m), triton.cdiv(n, cfg.block_n))
    fn = kernel(interpret)
    launch = fn[grid]
    args = (
        a,
        b,
        c,
        m,
        n,
        k,
        a.stride(0),
        a.stride(1),
        b.stride(0),
        b.stride(1),
        c.stride(0),
        c.stride(1),
    )
    options = {
        "BLOCK_M": cfg.block_m,
        "BLOCK_N": cfg.block_n,
        "BLOCK_K": cfg.block_k,
        "INPUT_PRECISION": INPUT_PRECISION[dtype],
        "num_warps": cfg.num_warps,
        "num_stages": cfg.num_stages,
    }
    if interpret:

        def run() -> Any:
            with _interpreter(True):
                return launch(*args, **options)

        return run
    return lambda: launch(*args, **options)


def compiled_resources(compiled: Any) -> dict[str, int]:
    """Shared memory (bytes), registers per thread and spilled registers of a compiled kernel,
    as the compiler reports them; empty for the interpreter or a Triton that does not say."""
    out: dict[str, int] = {}
    shared = getattr(getattr(compiled, "metadata", None), "shared", None)
    if isinstance(shared, int):
        out["shared_memory_bytes"] = shared
    for name, key in (("n_regs", "registers_per_thread"), ("n_spills", "spilled_registers")):
        v = getattr(compiled, name, None)
        if isinstance(v, int):
            out[key] = v
    return out
