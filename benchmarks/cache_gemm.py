"""Warm against cold cache for one GEMM: how much does a warm last-level cache flatter it?

Alternates R rounds of accelbench's ``measure`` with ``cache: warm`` and ``cache: cold`` (the
last-level cache evicted before each timed iteration, outside the timed region) on the same
``torch.matmul(a, b, out=c)`` with the same inputs and threads, and reports per mode the
median of the rounds' median times, and the cold/warm ratio per round: median, min, max.
Interleaving keeps slow drift of the machine from biasing one mode.

    .venv/bin/python benchmarks/cache_gemm.py --size 256 --rounds 7 --threads 2

Measured 2026-11-30 on the project's shared 2-core AMD EPYC VM (32 MiB L3 read from sysfs, so
64 MiB flushed; torch 2.13.0+cpu), contended (load average 20-23 from other jobs). float32
256x256, 7 rounds of 100 iterations:

- ``--threads 1``: warm 0.46 ms (72.7 GFLOP/s), cold 0.69 ms (48.9 GFLOP/s); cold/warm per
  round median 1.47 (min 1.43, max 1.61).
- ``--threads 2``: unusable under that load. Round medians were either ~0.25 ms or 52-64 ms
  (an OpenMP team waiting for a descheduled thread), in both modes, so cold/warm ranged
  0.94-268. Re-run it on an idle machine before quoting a two-thread ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from accelbench.devices import make_device, torch_dtype
from accelbench.timing.protocol import MeasureSettings, measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iterations", type=int, default=100, help="timed iterations per round")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    dev = make_device(args.device)
    n, dt = args.size, torch_dtype(args.dtype)
    a = torch.randn(n, n, dtype=dt, device=dev.torch_device)
    b = torch.randn(n, n, dtype=dt, device=dev.torch_device)
    c = torch.empty(n, n, dtype=dt, device=dev.torch_device)

    def gemm() -> None:
        torch.matmul(a, b, out=c)

    medians: dict[str, list[float]] = {"warm": [], "cold": []}
    flush = None
    with dev.precision(args.dtype):
        for _ in range(args.rounds):
            for mode in ("warm", "cold"):
                m = measure(gemm, dev, MeasureSettings(iterations=args.iterations, cache=mode))
                medians[mode].append(m.summary.median)
                if mode == "cold":
                    flush = (m.flush_bytes, m.flush_source)
    ratios = [c / w for w, c in zip(medians["warm"], medians["cold"], strict=True)]
    flops = 2.0 * n**3
    out = {
        "device": dev.info().name,
        "size": n,
        "dtype": args.dtype,
        "threads": args.threads,
        "rounds": args.rounds,
        "iterations": args.iterations,
        "flush_bytes": flush[0] if flush else None,
        "flush_source": flush[1] if flush else None,
    }
    for mode, ts in medians.items():
        out[f"{mode}_median_s"] = statistics.median(ts)
        out[f"{mode}_gflops"] = flops / statistics.median(ts) / 1e9
        out[f"{mode}_round_medians_s"] = ts
    out["cold_over_warm"] = {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
