"""Transformer ``small`` on Multi30k en->de: BLEU per epoch, sentence pairs/s and tokens/s, for
each precision, from a plain training loop over the accelbench pieces (issue 16).

The evidence for the ``transformer-multi30k`` threshold and recipe knobs, before the trainer
(issue 15) runs the recipe itself. Per epoch it prints and records: training time, sentence
pairs/s, target tokens/s (fairseq's ``ntokens``: target pieces with eos) and source+target
tokens/s, the training loss, then BLEU (sacrebleu, greedy decoding, with its signature), chrF
and validation loss on the evaluation split. First epoch is reported apart from the steady
mean of the later ones (with their standard deviation).

Recipe (defaults): ``small`` (3+3 blocks, d_model 256, 4 heads, d_ff 1024, dropout 0.1,
pre-norm), joint sentencepiece BPE of 8,000 pieces from the training split, token-count
batches of 2,048 tokens, Adam (0.9, 0.98, eps 1e-9), inverse-square-root schedule with
``--warmup`` linear warm-up steps to ``--lr`` (Vaswani et al. 2017, section 5.3, with the peak
given directly), label smoothing 0.1, seed 0. Evaluation on test_2016_flickr (1,000 pairs).

    .venv/bin/python benchmarks/transformer_multi30k.py --data-dir ../shared/data \
        --epochs 6 --precisions fp32 amp-bf16 --out multi30k.json

Timings on a shared machine are contended: say so when quoting them.

Measured 2026-11-30 on the 2-core CI-type VM, torch 2.13.0 CPU, ``--threads 1``, **heavily
contended** (load average 9-15 from other jobs; each run got 10-35% of a core), so the absolute
rates are far below an idle machine's and only the ratios within one run mean anything:

- ``--train-subset 3000 --eval-subset 200 --epochs 3 --max-tokens 1024 --warmup 150
  --precisions fp32``: BLEU 0.26, 2.12, 3.44 (chrF 6.4, 19.5, 21.6) on 200 test pairs;
  first epoch 6.0 pairs/s (90 target tokens/s), steady 6.2 +- 2.1 pairs/s over 2 epochs.
- ``--train-subset 300 --eval-subset 20 --epochs 2 --precisions fp32 amp-bf16``: fp32 14.8
  then 16.1 pairs/s; amp-bf16 0.8 pairs/s (18-20x slower). A profile of one amp-bf16 step puts
  91% of it in ``aten::mm``: this CPU build's bfloat16 GEMMs of these shapes (1000x256 by
  256x8000 and their gradients) ran at 0.2-3.3 GFLOP/s against 13-32 for float32.
The full 29,000-pair curve behind the threshold was then measured on an idle host through the
recipe itself (``accelbench run``): it is in the header of
``accelbench/training/recipes/transformer_multi30k.py`` and in docs/suites.md. There amp-bf16
is stored ``unsupported`` on a CPU without native bfloat16; this script times it anyway. Idle,
``--train-subset 500 --eval-subset 20 --epochs 2 --precisions fp32 amp-bf16 --threads 2``:
fp32 98.1 then 94.7 pairs/s, amp-bf16 3.0 then 2.9 (33x slower; the contended runs above
read 18-20x).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from accelbench.data.common import resolve_cache_dir, resolve_data_dir
from accelbench.data.translation import TranslationTask, load_translation, tokenizer_of
from accelbench.models.transformer import Transformer, transformer_config, translation_loss
from accelbench.training.task import EvalContext


def inverse_sqrt(peak: float, warmup: int) -> Any:
    """lr(step) = peak * min(step / warmup, sqrt(warmup / step)), steps from 1."""

    def lr_at(step: int) -> float:
        s = step + 1
        return peak * min(s / warmup, math.sqrt(warmup / s))

    return lr_at


def autocast_for(precision: str) -> Any:
    if precision == "amp-bf16":
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext
    raise SystemExit(f"error: --precisions: {precision!r} is not fp32 or amp-bf16 on a CPU")


def run(args: argparse.Namespace, precision: str, data: dict[str, Any]) -> dict[str, Any]:
    dev = torch.device("cpu")
    task = TranslationTask(
        data,
        dev,
        max_tokens=args.max_tokens,
        seed=args.seed,
        eval_split=args.eval_split,
        max_len=args.max_len,
    )
    torch.manual_seed(args.seed)
    cfg = transformer_config(
        args.preset, vocab_size=tokenizer_of(data).vocab_size, dropout=args.dropout
    )
    model = Transformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    lr_at = inverse_sqrt(args.lr, args.warmup)
    ctx = autocast_for(precision)
    step, wall0 = 0, time.perf_counter()
    epochs: list[dict[str, Any]] = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, n = 0.0, 0
        for inputs, target in task.train_batches(epoch):
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            with ctx():
                loss = translation_loss(model(*inputs), target, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            n += 1
            step += 1
        train_s = time.perf_counter() - t0
        q = task.evaluate(
            EvalContext(
                model=model, forward=model, autocast=ctx, cast_inputs=lambda x: x, device=dev
            )
        )
        rec = {
            "epoch": epoch,
            "train_s": train_s,
            "pairs_per_s": task.n_train / train_s,
            "target_tokens_per_s": task.tokens_per_epoch / train_s,
            "tokens_per_s": (task.tokens_per_epoch + task.source_tokens_per_epoch) / train_s,
            "train_loss": loss_sum / max(n, 1),
            "bleu": q.value,
            "chrf": q.secondary["chrf"],
            "val_loss": q.secondary["val_loss"],
            "eval_s": q.secondary["eval_s"],
            "wall_s": time.perf_counter() - wall0,
            "lr_end": lr_at(step - 1),
        }
        epochs.append(rec)
        print(
            f"[{precision}] epoch {epoch}: loss {rec['train_loss']:.3f} BLEU {q.value:.2f} "
            f"chrF {rec['chrf']:.1f} val_loss {rec['val_loss']:.3f} | "
            f"{rec['pairs_per_s']:.1f} pairs/s {rec['target_tokens_per_s']:.0f} tgt tok/s "
            f"train {train_s:.0f}s eval {rec['eval_s']:.0f}s wall {rec['wall_s']:.0f}s",
            flush=True,
        )
    steady = [e["pairs_per_s"] for e in epochs[1:]]
    return {
        "precision": precision,
        "pairs": task.n_train,
        "steps_per_epoch": task.steps,
        "dropped_long_pairs": task.train.dropped,
        "bleu_signature": q.secondary["bleu_signature"],
        "epochs": epochs,
        "first_epoch_pairs_per_s": epochs[0]["pairs_per_s"],
        "steady_pairs_per_s_mean": statistics.fmean(steady) if steady else None,
        "steady_pairs_per_s_stdev": statistics.stdev(steady) if len(steady) > 1 else None,
        "steady_epochs": len(steady),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default=None, help="folder holding multi30k/")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--preset", default="small", choices=["small", "base"])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--precisions", nargs="+", default=["fp32", "amp-bf16"])
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--max-len", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--eval-subset", type=int, default=None)
    p.add_argument("--eval-split", default="test", choices=["valid", "test"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the records as JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = resolve_data_dir(args.data_dir)
    t0 = time.perf_counter()
    data, info = load_translation(
        "multi30k",
        data_dir,
        resolve_cache_dir(args.cache_dir),
        vocab_size=args.vocab_size,
        train_subset=args.train_subset,
        eval_subset=args.eval_subset,
    )
    print(
        f"data: {info['train_pairs']} train pairs, {info[args.eval_split + '_pairs']} "
        f"{args.eval_split} pairs, vocab {info['vocab_size_used']}, cache hit "
        f"{info['cache_hit']}, {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    out: dict[str, Any] = {
        "args": vars(args),
        "data": info,
        "host": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_avg_start": list(_loadavg()),
        },
        "runs": [],
    }
    for precision in args.precisions:
        out["runs"].append(run(args, precision, data))
        if args.out:
            Path(args.out).write_text(json.dumps(out, indent=1))
    out["host"]["load_avg_end"] = list(_loadavg())
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    for r in out["runs"]:
        sd = r["steady_pairs_per_s_stdev"]
        steady = r["steady_pairs_per_s_mean"]
        print(
            f"{r['precision']}: BLEU per epoch "
            + ", ".join(f"{e['bleu']:.1f}" for e in r["epochs"])
            + f"; first epoch {r['first_epoch_pairs_per_s']:.1f} pairs/s; steady "
            + ("n/a" if steady is None else f"{steady:.1f}")
            + ("" if sd is None else f" +- {sd:.1f}")
            + f" pairs/s over {r['steady_epochs']} epochs",
            flush=True,
        )
    return 0


def _loadavg() -> tuple[float, float, float]:
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (math.nan, math.nan, math.nan)


if __name__ == "__main__":
    sys.exit(main())
