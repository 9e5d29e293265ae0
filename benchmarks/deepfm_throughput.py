"""DeepFM training throughput in synthetic mode: samples/s per step, fp32 vs bf16 autocast,
dense Adam vs sparse gradients (SparseAdam).

Synthetic rows keep Criteo's per-field table sizes (``--tables kaggle-raw``: the 26 Kaggle
cardinalities without a minimum count, 33.8M rows; or ``--tables CACHE_DIR``: the vocabulary
sizes of a cache preprocessed from the real file, i.e. after the minimum-count rule), so the
embedding tables and their optimiser state are as large as on real data. Each configuration
runs ``--warmup`` untimed steps, then ``--steps`` timed steps, synchronising the device around
each step; it prints samples/s (batch / median step time) with the IQR of the per-step rates
and the cost figures that place the workload on a roofline.

    .venv/bin/python benchmarks/deepfm_throughput.py --batch 10000 --steps 8

Batch 10,000 by default: the batch size of the open BARS-CTR Criteo benchmarks (Zhu et al.
2021); the recipe may choose another, pass it with ``--batch``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from accelbench.data.criteo import synthetic_cardinalities, synthetic_criteo
from accelbench.devices import default_device_spec, make_device
from accelbench.models.deepfm import DeepFM, DeepFMConfig, deepfm_cost, make_optimizer


def run(
    cards: tuple[int, ...],
    dev: Any,
    batch: int,
    precision: str,
    sparse: bool,
    warmup: int,
    steps: int,
    seed: int = 0,
) -> list[float]:
    device = dev.torch_device
    torch.manual_seed(seed)
    model = DeepFM(DeepFMConfig(cards, sparse=sparse)).to(device).train()
    opt = make_optimizer(model, 1e-3)
    rows = synthetic_criteo(batch * 4, cards, seed=seed)
    dense = torch.from_numpy(np.ascontiguousarray(rows.dense.T)).to(device)
    cats = torch.from_numpy(np.ascontiguousarray(rows.cats.T)).to(device)
    label = torch.from_numpy(rows.label.astype(np.float32)).to(device)
    if precision == "amp-bf16":
        autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16)  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    times = []
    for i in range(warmup + steps):
        sl = slice((i % 4) * batch, (i % 4 + 1) * batch)
        dev.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast():
            logits = model(dense[sl], cats[sl])
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), label[sl])
        loss.backward()
        opt.step()
        dev.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", default="kaggle-raw")
    ap.add_argument("--device", default=default_device_spec(), help="cpu, cuda, cuda:1, npu...")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--precisions", default="fp32,amp-bf16")
    ap.add_argument("--optimizers", default="dense,sparse")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cards, source = synthetic_cardinalities(args.tables)
    dev = make_device(args.device)
    device = dev.torch_device
    print(
        f"DeepFM, embed 10, 400-400-400, tables: {source} ({sum(cards):,} rows), "
        f"batch {args.batch}, {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores",
        flush=True,
    )
    for opt in args.optimizers.split(","):
        sparse = opt == "sparse"
        cost = deepfm_cost(DeepFMConfig(cards, sparse=sparse), args.batch)
        print(
            f"  {opt} Adam cost/sample: {cost.train_flops / 1e6:.2f} MFLOP, "
            f"{cost.train_bytes / 1e3:.1f} kB ({cost.lookup_train_bytes / 1e3:.1f} kB lookups "
            f"and optimiser), intensity {cost.arithmetic_intensity:.1f} FLOP/B; tables "
            f"{cost.table_bytes / 2**30:.2f} GiB + Adam state "
            f"{cost.optimizer_state_bytes / 2**30:.2f} GiB",
            flush=True,
        )
        for prec in args.precisions.split(","):
            times = run(cards, dev, args.batch, prec, sparse, args.warmup, args.steps)
            rates = [args.batch / t for t in times]
            q1, _, q3 = statistics.quantiles(rates, n=4)
            med = args.batch / statistics.median(times)
            print(
                f"  {opt:6s} {prec:8s}: {med:10,.0f} samples/s (median of {len(times)} steps; "
                f"IQR {q1:,.0f}-{q3:,.0f}; step {statistics.median(times) * 1e3:.0f} ms)",
                flush=True,
            )


if __name__ == "__main__":
    main()
