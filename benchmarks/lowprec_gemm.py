"""int8 GEMM throughput against float32 and bfloat16 on one device, square sizes.

For each size and dtype, times the kernel accelbench's ``gemm`` workload uses (``torch._int_mm``
for int8, ``torch.matmul`` for the floats) with accelbench's measurement protocol, and prints
the median rate (GOP/s for int8, GFLOP/s for floats) with its spread, beside whether
accelbench's device layer calls the dtype supported here and why not. A dtype the device
layer rejects (a CPU without AVX512-VNNI for int8, or without AVX512-BF16 for bfloat16) is
still timed here, labelled ``fallback``, to show what torch would run: the ``gemm`` workload
stores it as unsupported, so no suite result ever carries such a number.

    .venv/bin/python benchmarks/lowprec_gemm.py --sizes 1024 2048 --threads 2

Measured 2026-11-30 on the project's shared 2-core AMD EPYC VM (AVX2, no AVX512-VNNI or
AVX512-BF16; torch 2.13.0+cpu), heavily contended (load average 10-23 from other jobs), so
the float32 rates are far below the core's and only the order of magnitude is the finding.
Median rate (min-max, n):

    threads size  int8 GOP/s (fallback)  float32 GFLOP/s (native)  bfloat16 GFLOP/s (fallback)
    2       1024  0.23 (0.22-0.24, 3)    11.0 (7.4-12.8, 20)       0.23 (0.23-0.23, 3)
    2       2048  0.17 (0.17-0.17, 3)    13.0 (11.7-14.7, 20)      0.07 (0.07-0.08, 3)
    1       1024  0.24 (0.23-0.24, 3)    19.6 (14.3-26.5, 20)      0.20 (0.19-0.20, 3)
    1       2048  -                      15.3 (11.8-19.0, 20)      -

Without VNNI, ``torch._int_mm`` is ATen's scalar loop, 50-80x slower than float32 here, which is
why the device layer calls int8 unsupported on such a CPU rather than store that loop's rate.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from accelbench.devices import make_device
from accelbench.names import rate_unit
from accelbench.timing.protocol import MeasureSettings, measure
from accelbench.timing.stats import summarize
from accelbench.workloads import RunContext
from accelbench.workloads.gemm import _gemm_callable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--dtypes", nargs="+", default=["int8", "float32", "bfloat16"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--iterations", type=int, default=20, help="timed iterations, native kernels")
    ap.add_argument(
        "--fallback-iterations",
        type=int,
        default=3,
        help="timed iterations where the device layer says the kernel is a fallback (slow)",
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    dev = make_device(args.device)
    info = dev.info()
    rows = []
    for n in args.sizes:
        for dtype in args.dtypes:
            ok, why = dev.dtype_support(dtype)
            iters = args.iterations if ok else args.fallback_iterations
            settings = MeasureSettings(warmup=1 if not ok else 5, iterations=iters)
            ctx = RunContext(device=dev, info=info, measure=settings)
            with dev.precision(dtype):
                fn = _gemm_callable(n, n, n, dtype, ctx)
                m = measure(fn, dev, settings)
            rates = [2.0 * n**3 / t / 1e9 for t in m.samples_s]
            s = summarize(m.samples_s)
            rows.append(
                {
                    "size": n,
                    "dtype": dtype,
                    "kernel": "native" if ok else "fallback",
                    "accelbench": "supported" if ok else f"unsupported: {why}",
                    "unit": rate_unit(dtype),
                    "median_rate": 2.0 * n**3 / s.median / 1e9,
                    "min_rate": min(rates),
                    "max_rate": max(rates),
                    "cv": s.cv,
                    "n": s.n,
                    "median_s": s.median,
                }
            )
            print(
                f"{n:5d} {dtype:9s} {rows[-1]['kernel']:8s} "
                f"{rows[-1]['median_rate']:10.2f} {rows[-1]['unit']:7s} "
                f"(min {min(rates):.2f}, max {max(rates):.2f}, CV {s.cv:.1%}, n={s.n})",
                flush=True,
            )
    native = {(r["size"], r["dtype"]): r["median_rate"] for r in rows}
    for n in args.sizes:
        base = native.get((n, "float32"))
        for r in (r for r in rows if r["size"] == n and base):
            r["vs_float32"] = r["median_rate"] / base
    print(
        json.dumps(
            {
                "device": info.name,
                "threads": args.threads,
                "torch": torch.__version__,
                "rows": rows,
                "median_cv": statistics.median(r["cv"] for r in rows),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
