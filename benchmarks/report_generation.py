"""How long does `accelbench report` take for a store of N results, and how big is the file?

Builds a store of real result records through the real pipeline (fake device, tiny linear
sweeps, so the records carry every field a sweep stores: peaks used, roofline config, power
fields) as two runs at different thread counts (so the report has a comparison section), then
writes the HTML report R times and prints the median, min and max time and the file size.

    .venv/bin/python benchmarks/report_generation.py --results 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from accelbench.api import run_suite, validate_suite
from accelbench.api.sources import select_runs
from accelbench.devices.fake import FakeDevice
from accelbench.report import write_report
from accelbench.results.store import Store


def _suite(per_run: int) -> dict:
    # batch x in x out x dtype x mode: choose the grid size closest to per_run
    batches = [1, 2, 4, 8, 16, 32, 64, 128]
    widths = [8, 16, 32, 64, 128]
    n_b = max(1, min(len(batches), round(per_run / (len(widths) ** 2 * 4))))
    return {
        "name": "report-bench",
        "seed": 0,
        "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
        "workloads": [
            {
                "name": "fc",
                "kind": "linear",
                "params": {
                    "batch": batches[:n_b],
                    "in_features": widths,
                    "out_features": widths,
                    "dtypes": ["float32", "bfloat16"],
                    "modes": ["forward", "forward+backward"],
                },
            }
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=1000, help="total results in the store")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        suite = validate_suite(_suite(args.results // 2), "report-bench")
        t0 = time.perf_counter()
        for threads in (1, 2):
            run_suite(suite, device=FakeDevice(), db=db, threads=threads, resume=False)
        build_s = time.perf_counter() - t0
        times, sizes = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            with Store(db) as st:
                groups = select_runs(st, str(db))  # reading the store is part of the cost
            w = write_report(groups, Path(tmp) / "report.html")
            times.append(time.perf_counter() - t)
            sizes.append(w.bytes)
        n = sum(len(g.results) for g in groups)
        print(
            json.dumps(
                {
                    "results": n,
                    "runs": len(groups),
                    "rounds": args.rounds,
                    "report_s_median": statistics.median(times),
                    "report_s_min": min(times),
                    "report_s_max": max(times),
                    "html_bytes": sizes[-1],
                    "store_build_s": build_s,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
