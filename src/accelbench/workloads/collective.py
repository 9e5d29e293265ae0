"""Collective bandwidth: all-reduce, all-gather, reduce-scatter and broadcast over the ranks of a
data-parallel run, from 8 B to 1 GiB, with the conventions of NVIDIA's nccl-tests.

Run it under torchrun (``accelbench run SUITE --nproc-per-node N``) to measure the device's
collective library (NCCL, HCCL, XCCL, gloo) across N devices; without torchrun it runs on a
one-rank group, where no byte crosses a link (bus bandwidth 0 by the formulas below).

**Sizes** follow nccl-tests (``doc/PERFORMANCE.md`` in github.com/NVIDIA/nccl-tests): ``bytes``
is S, the data the operation is about: the buffer of all-reduce and broadcast, the *gathered*
output of all-gather (each rank contributes S/n), the *scattered* input of reduce-scatter (each
rank receives S/n). Sizes that do not split into whole elements per rank are rounded down to
the nearest that do, and the bytes actually moved are reported.

**Bandwidths** (GB = 1e9 B), with t the time of one operation:

* algorithm bandwidth ``algbw = S / t``;
* bus bandwidth ``busbw = algbw x f(n)``, the rate each link must sustain, comparable with the
  hardware's link speed whatever the rank count: all-reduce ``f = 2(n-1)/n``; all-gather and
  reduce-scatter ``f = (n-1)/n``; broadcast ``f = 1``.

**Timing**: the protocol's warm-up, then a fixed count of iterations on every rank (an adaptive
stop decided per rank would leave ranks waiting on each other), each timed on its rank;
iteration i of the operation takes the slowest rank's time, since a collective is done when
its last rank is. The timed buffers hold zeros, so repeated reductions never overflow; after
timing, one operation on known values is checked on every rank (all-reduce of rank+1 gives
n(n+1)/2, ...), and a wrong answer fails the case on all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field

from accelbench.errors import Unsupported
from accelbench.parallel.world import World, local_world
from accelbench.results.schema import Metric
from accelbench.timing.protocol import measure
from accelbench.timing.settings import MeasureSettings
from accelbench.timing.stats import summarize
from accelbench.workloads.bandwidth import Size, format_bytes
from accelbench.workloads.base import WORKLOADS, CaseOutput, RunContext, Workload

Op = Literal["all_reduce", "all_gather", "reduce_scatter", "broadcast"]
OPS: tuple[str, ...] = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULT_SIZES = [8 * 8**i for i in range(10)]
"""8 B, 64 B, 512 B, 4 KiB, 32 KiB, 256 KiB, 2 MiB, 16 MiB, 128 MiB, 1 GiB."""

FORMULAS = {
    "all_reduce": "busbw = algbw x 2(n-1)/n",
    "all_gather": "busbw = algbw x (n-1)/n; S is the gathered output (n x each rank's part)",
    "reduce_scatter": "busbw = algbw x (n-1)/n; S is the input (n x each rank's result)",
    "broadcast": "busbw = algbw",
}
CONVENTION = (
    "nccl-tests (doc/PERFORMANCE.md): algbw = S / t with S the operation's data size and t the "
    "slowest rank's time per operation (median over iterations); GB = 1e9 B"
)


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' factor from algorithm to bus bandwidth for ``op`` over ``n`` ranks."""
    if op == "all_reduce":
        return 2 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    if op == "broadcast":
        return 1.0
    raise ValueError(f"unknown collective {op!r}")


def elements(op: str, nbytes: int, itemsize: int, n: int) -> int:
    """Elements of S actually used: whole elements, and for the split operations a whole
    number of them per rank. 0 when S is smaller than that."""
    count = nbytes // itemsize
    if op in ("all_gather", "reduce_scatter"):
        count = count // n * n
    return count


class CollectiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ops: list[Op] = Field(default=list(OPS), min_length=1)
    sizes: list[Size] = Field(
        default=DEFAULT_SIZES,
        min_length=1,
        description="S per operation (nccl-tests' size): an integer or '8B', '1MiB', '1GiB'",
    )
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"


def _all_gather(out: torch.Tensor, inp: torch.Tensor, group: Any) -> None:
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    fn(out, inp, group=group)


def _reduce_scatter(out: torch.Tensor, inp: torch.Tensor, group: Any) -> None:
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    fn(out, inp, group=group)


def _kernel(
    op: str, count: int, dtype: torch.dtype, device: torch.device, world: World
) -> tuple[Callable[[], None], Callable[[], bool]]:
    """(the timed operation on zero buffers, a check on known values -> ok)."""
    n, rank, group = world.size, world.rank, world.compute
    # Broadcast from the compute group's first rank: a global rank of that group.
    src = dist.get_global_rank(group, 0) if n > 1 else world.rank
    expected_sum = n * (n + 1) / 2
    if op == "all_reduce":
        buf = torch.zeros(count, dtype=dtype, device=device)

        def check() -> bool:
            buf.fill_(rank + 1)
            dist.all_reduce(buf, group=group)
            return bool((buf == expected_sum).all().item())

        return lambda: dist.all_reduce(buf, group=group), check
    if op == "broadcast":
        buf = torch.zeros(count, dtype=dtype, device=device)

        def check() -> bool:
            buf.fill_(7 if rank == src else 0)
            dist.broadcast(buf, src=src, group=group)
            return bool((buf == 7).all().item())

        return lambda: dist.broadcast(buf, src=src, group=group), check
    part = count // n
    if op == "all_gather":
        out = torch.zeros(count, dtype=dtype, device=device)
        inp = torch.zeros(part, dtype=dtype, device=device)

        def check() -> bool:
            inp.fill_(rank)
            _all_gather(out, inp, group)
            want = torch.arange(n, device=device, dtype=dtype).repeat_interleave(part)
            return bool((out == want).all().item())

        return lambda: _all_gather(out, inp, group), check
    out = torch.zeros(part, dtype=dtype, device=device)
    inp = torch.zeros(count, dtype=dtype, device=device)

    def check() -> bool:
        inp.fill_(rank + 1)
        _reduce_scatter(out, inp, group)
        return bool((out == expected_sum).all().item())

    return lambda: _reduce_scatter(out, inp, group), check


@WORKLOADS.register("collective")
class Collective(Workload):
    """Time, algorithm and bus bandwidth of the collectives data-parallel training relies on."""

    kind = "collective"
    Params = CollectiveParams
    params: CollectiveParams

    def cases(self) -> list[dict[str, Any]]:
        return [
            {"op": op, "bytes": b, "dtype": self.params.dtype}
            for op in dict.fromkeys(self.params.ops)
            for b in dict.fromkeys(self.params.sizes)
        ]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return f"{case['op']} {format_bytes(case['bytes'])} {case['dtype']}"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        if ctx.world is not None:
            return self._run(case, ctx, ctx.world, power=None)
        with local_world(ctx.device.dist_backend()) as world, world.case_group():
            return self._run(case, ctx, world, power=ctx.power)

    def _run(self, case: dict[str, Any], ctx: RunContext, world: World, power: Any) -> CaseOutput:
        op, nbytes, n = case["op"], int(case["bytes"]), world.size
        dtype = _DTYPES[case["dtype"]]
        count = elements(op, nbytes, dtype.itemsize, n)
        if count == 0:
            raise Unsupported(
                f"{format_bytes(nbytes)} of {case['dtype']} over {n} ranks is less than one "
                "element per rank"
            )
        actual = count * dtype.itemsize
        fn, check = _kernel(op, count, dtype, ctx.device.torch_device, world)
        s = ctx.measure
        fixed = MeasureSettings(mode="fixed", warmup=s.warmup, iterations=s.iterations)
        m = measure(fn, ctx.device, fixed, power=power)
        ok = check()
        # One exchange decides for every rank: the samples, and whether any got a wrong answer.
        peers = world.all_gather((m.samples_s, ok))
        if not all(p[1] for p in peers):
            bad = [r for r, p in enumerate(peers) if not p[1]]
            raise RuntimeError(
                f"{op} produced wrong values on rank(s) {bad}: its bandwidth would be meaningless"
            )
        per_iter = [max(samples) for samples in zip(*(p[0] for p in peers), strict=True)]
        summary = summarize(per_iter)
        factor = bus_factor(op, n)
        algbw = actual / summary.median / 1e9
        metrics = {
            "bytes": Metric(value=float(actual), unit="B"),
            "time_median": Metric(value=summary.median, unit="s"),
            "time_min": Metric(value=summary.min, unit="s"),
            "algbw_gbs": Metric(value=algbw, unit="GB/s"),
            "busbw_gbs": Metric(value=algbw * factor, unit="GB/s"),
            "best_busbw_gbs": Metric(value=actual / summary.min / 1e9 * factor, unit="GB/s"),
            "world_size": Metric(value=float(n), unit="ranks"),
        }
        config = {
            "convention": CONVENTION,
            "formula": FORMULAS[op],
            "bus_factor": factor,
            "requested_bytes": nbytes,
            "elements": count,
            "backend": world.backend,
            "per_rank_median_s": [summarize(p[0]).median for p in peers],
            "timing": "fixed iteration count on every rank; per iteration the slowest rank",
        }
        if n == 1:
            config["note"] = "one rank: no byte crosses a link, so bus bandwidth is 0"
        if power is None and ctx.power is not None:
            config["power_note"] = (
                "not measured across ranks: topping the power window up with extra iterations "
                "on the owner alone would desynchronise the ranks"
            )
        meas = m.model_copy(update={"samples_s": per_iter, "summary": summary})
        return CaseOutput(metrics=metrics, measurement=meas, config=config)


__all__ = ["OPS", "Collective", "CollectiveParams", "bus_factor", "elements"]
