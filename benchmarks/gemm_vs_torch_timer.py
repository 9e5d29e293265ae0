"""Does accelbench's protocol agree with an independent timer on the same GEMM?

For each dtype, alternates R rounds of (a) accelbench's ``measure`` and (b)
``torch.utils.benchmark.Timer`` on the same ``torch.matmul(a, b, out=c)`` with the same inputs
and thread count, in this one process, and reports the ratio of achieved GFLOP/s
(accelbench / Timer) per round: its median, min and max. Interleaving the rounds keeps slow
drift of the machine (thermal, neighbours) from biasing one side.

    .venv/bin/python benchmarks/gemm_vs_torch_timer.py --size 2048 --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from torch.utils import benchmark as tub

from accelbench.devices import make_device, torch_dtype
from accelbench.timing.protocol import MeasureSettings, measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--iterations", type=int, default=20, help="timed iterations per round, each side"
    )
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    dev = make_device(args.device)
    n = args.size
    flops = 2.0 * n**3
    report = []
    for dtype in args.dtypes:
        ok, why = dev.dtype_support(dtype)
        if not ok:
            report.append({"dtype": dtype, "status": "unsupported", "reason": why})
            continue
        dt = torch_dtype(dtype)
        a = torch.randn(n, n, dtype=dt, device=dev.torch_device)
        b = torch.randn(n, n, dtype=dt, device=dev.torch_device)
        c = torch.empty(n, n, dtype=dt, device=dev.torch_device)
        settings = MeasureSettings(warmup=10, iterations=args.iterations)
        timer = tub.Timer(
            stmt="torch.matmul(a, b, out=c)",
            globals={"torch": torch, "a": a, "b": b, "c": c},
            num_threads=args.threads,
        )
        ours, theirs, ratios, mean_ratios = [], [], [], []

        def gemm(a: torch.Tensor = a, b: torch.Tensor = b, c: torch.Tensor = c) -> None:
            torch.matmul(a, b, out=c)

        with dev.precision(dtype):
            for _ in range(args.rounds):
                m = measure(gemm, dev, settings)
                g_ours = flops / m.summary.median / 1e9
                timer.timeit(10)  # same warm-up as ours
                # Same amount of timed work as ours; Timer splits it into blocks and reports
                # the median block (it synchronises CUDA itself).
                t = timer.blocked_autorange(min_run_time=m.wall_s)
                g_theirs = flops / t.median / 1e9
                ours.append(g_ours)
                theirs.append(g_theirs)
                ratios.append(g_ours / g_theirs)
                # Same comparison on means, which is what each Timer block is.
                mean_ratios.append(t.mean / m.summary.mean)
        report.append(
            {
                "dtype": dtype,
                "size": n,
                "threads": args.threads,
                "rounds": args.rounds,
                "accelbench_gflops_median": statistics.median(ours),
                "timer_gflops_median": statistics.median(theirs),
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "ratio_of_means_median": statistics.median(mean_ratios),
                "block_size": t.number_per_run,
            }
        )
        r = report[-1]
        print(
            f"{dtype} {n}^3 threads={args.threads}: accelbench {r['accelbench_gflops_median']:.1f} "
            f"GFLOP/s, torch Timer {r['timer_gflops_median']:.1f} GFLOP/s, ratio "
            f"{r['ratio_median']:.4f} (min {r['ratio_min']:.4f}, max {r['ratio_max']:.4f}, "
            f"{args.rounds} rounds); ratio of means {r['ratio_of_means_median']:.4f}"
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
