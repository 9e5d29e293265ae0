"""What does power sampling cost the workload it measures?

Alternates R rounds of the same GEMM measured (a) with the device's power monitor sampling in
the background and (b) without, in this one process, and reports the throughput ratio
(with / without) per round: median, min and max, plus the sampler's own busy fraction.
A ratio of 1.00 means sampling is invisible; interleaving keeps machine drift out of it.
Where the device has no readable meter, ``--fake-meter`` samples a synthetic meter at the same
rate so the thread's cost (wake-ups, GIL) is still measured.

    .venv/bin/python benchmarks/power_sampler_overhead.py --device cuda --size 8192 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from accelbench.devices import make_device, torch_dtype
from accelbench.power.base import PowerMeter
from accelbench.power.session import PowerMonitor
from accelbench.timing.protocol import MeasureSettings, measure


class _SyntheticMeter(PowerMeter):
    name = "synthetic"
    mode = "power"
    domain = "synthetic"
    update_interval_s = 0.01

    def read_power_w(self) -> float:
        return 100.0 + (time.perf_counter() % 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--rate", type=float, default=10.0, help="samples per second")
    ap.add_argument("--fake-meter", action="store_true", help="sample a synthetic meter")
    args = ap.parse_args()

    dev = make_device(args.device)
    monitor = (
        PowerMonitor([_SyntheticMeter()], rate_hz=args.rate)
        if args.fake_meter
        else PowerMonitor.for_device(dev, args.rate)
    )
    if not monitor.meters:
        raise SystemExit(f"no power meter on {dev.spec}: {monitor.reason} (try --fake-meter)")
    dt = torch_dtype(args.dtype)
    n = args.size
    a = torch.randn(n, n, device=dev.torch_device, dtype=dt)
    b = torch.randn(n, n, device=dev.torch_device, dtype=dt)
    c = torch.empty(n, n, device=dev.torch_device, dtype=dt)
    settings = MeasureSettings(warmup=5, iterations=args.iterations)
    ratios, busy = [], []
    with dev.precision(args.dtype):
        for _ in range(args.rounds):
            on = measure(lambda: torch.matmul(a, b, out=c), dev, settings, power=monitor)
            off = measure(lambda: torch.matmul(a, b, out=c), dev, settings)
            ratios.append(off.summary.median / on.summary.median)
            if on.power is not None:
                busy.append(on.power.sampler_busy_fraction)
    monitor.close()
    print(
        json.dumps(
            {
                "device": dev.spec,
                "meters": [m.describe() for m in monitor.meters],
                "size": n,
                "dtype": args.dtype,
                "rate_hz": args.rate,
                "throughput_ratio_with_over_without": {
                    "median": statistics.median(ratios),
                    "min": min(ratios),
                    "max": max(ratios),
                    "rounds": len(ratios),
                },
                "sampler_busy_fraction_median": statistics.median(busy) if busy else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
