"""Input pipeline and ResNet-50 training throughput on this machine, each with its spread.

1. decoded images/s of the image input pipeline (pillow decode, random-resized crop 224, flip,
   in DataLoader workers; :func:`accelbench.data.image_loader.measure_pipeline`) with 1 and 2
   workers, on the real CIFAR-10 JPEGs (32x32, upscaled by the crop) and on generated 500x375
   JPEGs (ImageNet-like, about 105 KB each): median images/s over ``--windows`` windows, IQR,
   min and max;
2. ResNet-50 v1.5 training throughput on synthetic data (random 224x224 images on the device,
   throughput only), fp32 and amp-bf16 (autocast), one timed training step per sample: images/s
   median and spread, and model FLOPs utilisation (MFU) against the datasheet peak when the
   device table has one, and against the peak GEMM rate measured here in the same run;
3. the same training step fed by the real pipeline (generated JPEGs, ``--feed-workers``) with
   the data-wait meter (:mod:`accelbench.data.wait`): the fraction of step time spent waiting
   for data.

Model FLOPs are accelbench's analytic count of one forward and backward pass per image
(:func:`accelbench.flops.count_model`, 24.49 GFLOP at 224x224; 1 multiply-accumulate = 2 FLOPs).

    .venv/bin/python benchmarks/input_pipeline.py --data-dir ../shared/data

Takes a few minutes on 2 cores. Numbers from a shared machine vary with its load: compare runs
only from the same, idle host.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from accelbench.data.common import resolve_cache_dir, resolve_data_dir
from accelbench.data.image_loader import (
    DeviceBatches,
    EpochSampler,
    ImageFileDataset,
    LoaderSettings,
    extracted,
    generate_jpegs,
    list_image_folder,
    make_loader,
    measure_pipeline,
    pin_choice,
)
from accelbench.data.imagenet import SyntheticImageTask
from accelbench.data.transforms import TransformSpec
from accelbench.data.wait import DataWait
from accelbench.devices import make_device, torch_dtype
from accelbench.flops import count_model
from accelbench.models.resnet50 import resnet50
from accelbench.timing.protocol import measure
from accelbench.timing.settings import MeasureSettings
from accelbench.timing.stats import summarize
from accelbench.training.precision import PrecisionPlan


def _spread(values: list[float]) -> dict[str, float]:
    s = summarize(values)
    return {
        "median": s.median,
        "iqr": s.iqr,
        "min": s.min,
        "max": s.max,
        "cv": s.cv,
        "n": s.n,
        "noisy": s.high_spread,
    }


def _line(label: str, d: dict[str, Any], unit: str) -> str:
    return (
        f"{label}: {d['median']:.4g} {unit} median (IQR {d['iqr']:.3g}, min {d['min']:.4g}, "
        f"max {d['max']:.4g}, n={d['n']}{', noisy' if d['noisy'] else ''})"
    )


def pipeline(args: argparse.Namespace, dev: Any) -> list[dict[str, Any]]:
    out = []
    spec = TransformSpec(train=True, draft=not args.no_draft)
    sources: list[tuple[str, Path, list[str], list[int]]] = []
    data_dir = resolve_data_dir(args.data_dir)
    tar = data_dir / "cifar10-jpeg.tar.gz" if data_dir else None
    if tar is not None and tar.is_file():
        top = extracted(tar, resolve_cache_dir(args.cache_dir))
        train = top / "cifar10-jpeg" / "train"
        paths, labels, _ = list_image_folder(train, per_class=args.cifar_images // 10)
        sources.append(("cifar10-jpeg 32x32", train, paths, labels))
    else:
        print(f"no cifar10-jpeg.tar.gz in {data_dir}: real CIFAR-10 skipped", file=sys.stderr)
    gen = Path(tempfile.mkdtemp(prefix="accelbench-bench-jpegs-"))
    paths, labels = generate_jpegs(gen, args.generated_images, width=500, height=375)
    kb = statistics.fmean((gen / p).stat().st_size for p in paths) / 1000
    sources.append((f"generated 500x375 ({kb:.0f} KB mean)", gen, paths, labels))
    pin, pin_why = pin_choice(dev)
    for name, root, paths, labels in sources:
        ds = ImageFileDataset(root, paths, labels, spec)
        for workers in args.workers:
            settings = LoaderSettings(
                workers=workers, batch_size=args.batch, pin_memory=pin, pin_reason=pin_why
            )
            m = measure_pipeline(
                ds,
                settings,
                windows=args.windows,
                batches_per_window=args.batches_per_window,
                warmup_batches=2,
                device=dev.torch_device,
                sync=dev.synchronize,
            )
            d = _spread(m.images_per_s)
            rec = {
                "what": "input pipeline, decoded images/s",
                "source": name,
                "workers": workers,
                "batch": args.batch,
                "transform": spec.describe(),
                "jpeg_draft": spec.draft,
                "images_per_s": d,
                "startup_s": m.startup_s,
                "images": len(paths),
            }
            print(_line(f"pipeline {name} workers={workers}", d, "images/s"), flush=True)
            out.append(rec)
    return out


def _peak_gemm(dev: Any, dtype: str, n: int) -> float:
    dt = torch_dtype(dtype)
    a = torch.randn(n, n, dtype=dt, device=dev.torch_device)
    b = torch.randn(n, n, dtype=dt, device=dev.torch_device)
    c = torch.empty(n, n, dtype=dt, device=dev.torch_device)
    m = measure(lambda: torch.matmul(a, b, out=c), dev, MeasureSettings(warmup=3, iterations=10))
    return 2.0 * n**3 / m.summary.median


def _cpu_bf16_note(dev: Any) -> str | None:
    """Why bf16 may be slow here: without oneDNN bf16 (AVX-512 BF16 or AMX), PyTorch runs bf16
    convolutions through its generic im2col + GEMM path on the CPU."""
    if dev.torch_device.type != "cpu":
        return None
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return None
    if native:
        return "oneDNN bf16 kernels available on this CPU"
    return (
        "no oneDNN bf16 on this CPU (needs AVX-512 BF16 or AMX): bf16 convolutions run "
        "PyTorch's generic slow_conv2d (im2col + GEMM) path"
    )


def _step_fn(model: torch.nn.Module, plan: PrecisionPlan, opt: torch.optim.Optimizer) -> Any:
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        with plan.autocast():
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.1)
        plan.backward_and_step(loss, opt)

    return step


def training(args: argparse.Namespace, dev: Any) -> list[dict[str, Any]]:
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = resnet50()
        flops_per_image = (
            count_model(meta, torch.empty(1, 3, 224, 224, device="meta"), mode="forward+backward")
            .total()
            .flops
        )
    info = dev.info()
    out = []
    for mode in args.precisions:
        dtype = {"fp32": "float32", "amp-bf16": "bfloat16"}[mode]
        peak_measured = _peak_gemm(dev, dtype, args.gemm_size)
        datasheet = info.peak.peak_flops(dtype) if info.peak else None
        torch.manual_seed(0)
        model = resnet50(zero_init_residual=True, channels_last=True).to(dev.torch_device).train()
        plan = PrecisionPlan(mode, dev.torch_device.type)
        params = plan.prepare(model)
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.875)
        task = SyntheticImageTask(
            dev.torch_device, n_train=args.train_batch * 2, batch_size=args.train_batch, pool=2
        )
        batches = list(task.train_batches(1))
        step = _step_fn(model, plan, opt)
        times = []
        for i in range(args.warmup_steps + args.steps):
            (x,), y = batches[i % len(batches)]
            dev.synchronize()
            t0 = time.perf_counter()
            step(x, y)
            dev.synchronize()
            dt = time.perf_counter() - t0
            kind = "warm-up" if i < args.warmup_steps else "timed"
            print(f"  {mode} step {i + 1} ({kind}): {dt:.2f} s", file=sys.stderr, flush=True)
            if i >= args.warmup_steps:
                times.append(dt)
        ips = [args.train_batch / t for t in times]
        d = _spread(ips)
        achieved = d["median"] * flops_per_image
        rec = {
            "what": "ResNet-50 v1.5 training step, synthetic 224x224 (throughput only)",
            "precision": mode,
            "batch": args.train_batch,
            "images_per_s": d,
            "model_flops_per_image": flops_per_image,
            "achieved_tflops": achieved / 1e12,
            "peak_gemm_measured_tflops": peak_measured / 1e12,
            "mfu_vs_measured_gemm_pct": 100 * achieved / peak_measured,
            "mfu_vs_datasheet_pct": 100 * achieved / datasheet if datasheet else None,
            "datasheet_unavailable": None
            if datasheet
            else (info.peak_unavailable_reason or f"no datasheet {dtype} figure"),
            "note": _cpu_bf16_note(dev) if mode == "amp-bf16" else None,
        }
        if achieved > peak_measured:
            # The model beat the "peak": this dtype's matmul is not the path its convolutions
            # take (e.g. a generic GEMM against oneDNN convolutions), so the GEMM rate is no
            # ceiling here and that MFU means nothing.
            rec["peak_gemm_exceeded"] = True
        ds_txt = (
            f"{rec['mfu_vs_datasheet_pct']:.1f}% of datasheet"
            if datasheet
            else f"datasheet MFU unavailable: {rec['datasheet_unavailable']}"
        )
        exceeded = " (exceeded: not a ceiling for this model)" if achieved > peak_measured else ""
        print(
            _line(f"train resnet50 {mode} b={args.train_batch}", d, "images/s")
            + f"; {achieved / 1e9:.1f} GFLOP/s = {rec['mfu_vs_measured_gemm_pct']:.1f}% of the "
            f"measured {dtype} GEMM peak ({peak_measured / 1e9:.2f} GFLOP/s, "
            f"{args.gemm_size}^3){exceeded}; "
            + ds_txt
            + (f"; {rec['note']}" if rec["note"] else ""),
            flush=True,
        )
        out.append(rec)
    return out


def fed(args: argparse.Namespace, dev: Any) -> dict[str, Any]:
    """Training steps fed by the real pipeline, with the data-wait meter."""
    gen = Path(tempfile.mkdtemp(prefix="accelbench-bench-feed-"))
    n = args.train_batch * (args.steps + 1)
    paths, labels = generate_jpegs(gen, n, width=500, height=375)
    pin, pin_why = pin_choice(dev)
    settings = LoaderSettings(
        workers=args.feed_workers, batch_size=args.train_batch, pin_memory=pin, pin_reason=pin_why
    )
    ds = ImageFileDataset(gen, paths, labels, TransformSpec(train=True))
    batches = DeviceBatches(
        make_loader(ds, EpochSampler(n, shuffle=True), settings, drop_last=True), dev.torch_device
    )
    torch.manual_seed(0)
    model = resnet50(zero_init_residual=True, channels_last=True).to(dev.torch_device).train()
    plan = PrecisionPlan("fp32", dev.torch_device.type)
    opt = torch.optim.SGD(plan.prepare(model), lr=0.01, momentum=0.875)
    step = _step_fn(model, plan, opt)
    wait = DataWait()
    t0 = time.perf_counter()
    for (x,), y in wait.wrap(batches):
        step(x, y)
    dev.synchronize()
    train_s = time.perf_counter() - t0
    s = wait.summary(train_s)
    steady = 100 * (s["data_wait_steady_fraction"] or 0)
    print(
        f"train resnet50 fp32 b={args.train_batch} fed by {args.feed_workers} worker(s): "
        f"{wait.steps} steps in {train_s:.1f} s, waited {s['data_wait_s']:.2f} s for data "
        f"({100 * s['data_wait_fraction']:.1f}% of step time; first wait "
        f"{s['data_wait_first_s']:.2f} s, steady {steady:.1f}%)",
        flush=True,
    )
    return {"what": "training fed by the pipeline", "train_s": train_s, **s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="holds cifar10-jpeg.tar.gz")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=64, help="pipeline batch size")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--batches-per-window", type=int, default=3)
    ap.add_argument("--cifar-images", type=int, default=2000)
    ap.add_argument("--generated-images", type=int, default=400)
    ap.add_argument("--no-draft", action="store_true", help="decode every JPEG pixel")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "amp-bf16"])
    ap.add_argument("--train-batch", type=int, default=16)
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--gemm-size", type=int, default=2048)
    ap.add_argument("--feed-workers", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], choices=["pipeline", "training", "fed"])
    ap.add_argument("--json", default=None, help="also write the report here")
    args = ap.parse_args()
    dev = make_device(args.device)
    report: dict[str, Any] = {
        "device": dev.info().name,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if "pipeline" not in args.skip:
        report["pipeline"] = pipeline(args, dev)
    if "training" not in args.skip:
        report["training"] = training(args, dev)
    if "fed" not in args.skip:
        report["fed"] = fed(args, dev)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
