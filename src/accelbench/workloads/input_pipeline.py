"""``input-pipeline``: decoded images per second of the image input pipeline, model out of the loop.

The study's hosts (Kunpeng 920, Xeon) fed the same accelerators at different rates; whether a
training run is limited by its host shows in this number set against the accelerator's training
throughput (and, during training, in the fraction of step time spent waiting for data,
:mod:`accelbench.data.wait`). One case per DataLoader worker count: the same files, transform
and batch size through :func:`accelbench.data.image_loader.measure_pipeline`, which times
``windows`` back-to-back windows of ``batches_per_window`` batches after ``warmup_batches``
(worker start-up, reported as ``startup_s``). Each window is one images/s sample (all kept in
``config.windows``); the median is the headline, with the spread of the windows.

Sources:

* ``imagenet``: the real ImageNet files (:mod:`accelbench.data.imagenet`), ``split`` train
  (random-resized crop and flip) or val (resize 256, centre crop);
* ``cifar10-jpeg``: the 32x32 CIFAR-10 JPEGs (``cifar10-jpeg/`` or its .tar.gz, unpacked once
  into the cache), through the same 224x224 transform;
* ``generated``: ImageNet-like JPEGs (``generated_width`` x ``generated_height``, default
  500x375, about 105 KB each) written to a temporary folder and removed afterwards: a stand-in
  when ImageNet is absent, measuring decode throughput only, which the result says.

With ``to_device`` (default) each batch is also copied to the device (through pinned memory
where it can pin) and normalised there, as in training.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from accelbench.data.common import DataError, find_source, resolve_cache_dir, resolve_data_dir
from accelbench.data.image_loader import (
    ImageFileDataset,
    LoaderSettings,
    extracted,
    generate_jpegs,
    list_image_folder,
    measure_pipeline,
    pin_choice,
)
from accelbench.data.imagenet import index_imagenet
from accelbench.data.transforms import TransformSpec
from accelbench.results.schema import Metric
from accelbench.timing.stats import summarize
from accelbench.workloads.base import WORKLOADS, CaseOutput, Dim, RunContext, Workload

Workers = Annotated[int, Strict(), Field(ge=0, le=1024)]


class InputPipelineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["imagenet", "cifar10-jpeg", "generated"] = Field(
        default="imagenet",
        description="imagenet or cifar10-jpeg from --data-dir, or generated ImageNet-like JPEGs",
    )
    split: Literal["train", "val"] = Field(
        default="train", description="train: random-resized crop + flip; val: resize + centre crop"
    )
    workers: list[Workers] = Field(
        default=[1, 2, 4, 8], min_length=1, description="DataLoader worker processes, one case each"
    )
    batch_size: Dim = 256
    image_size: Dim = 224
    eval_resize: Dim = Field(default=256, description="val split: shorter side before the crop")
    draft: bool = Field(default=True, description="JPEG reduced-scale decoding (pillow draft)")
    normalize: Literal["device", "worker"] = "device"
    prefetch: Dim = Field(default=2, description="batches each worker keeps ready")
    warmup_batches: Annotated[int, Strict(), Field(ge=0, le=100_000)] = 2
    batches_per_window: Dim = 5
    windows: Dim = 5
    subset: Dim | None = Field(
        default=None, description="read only this many files (the first of each class)"
    )
    on_corrupt: Literal["skip", "error"] = "skip"
    to_device: bool = Field(default=True, description="copy and normalise each batch on the device")
    generated_images: Dim = 512
    generated_width: Dim = 500
    generated_height: Dim = 375
    generated_quality: Annotated[int, Strict(), Field(ge=1, le=100)] = 90
    seed: int = 0
    cache_dir: str | None = Field(
        default=None, description="where an archive is unpacked; default ~/.cache/accelbench"
    )


@WORKLOADS.register("input-pipeline")
class InputPipeline(Workload):
    kind = "input-pipeline"
    Params = InputPipelineParams
    timed: ClassVar[bool] = False  # host-side windows timed by measure_pipeline's own clock
    params: InputPipelineParams

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        return [
            {
                "source": p.source,
                "split": p.split,
                "workers": w,
                "batch_size": p.batch_size,
                "image_size": p.image_size,
            }
            for w in dict.fromkeys(p.workers)
        ]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return (
            f"input pipeline {case['source']} {case['split']} {case['image_size']}px "
            f"b={case['batch_size']} workers={case['workers']}"
        )

    def _files(self, ctx: RunContext, tmp: Path) -> tuple[Path, list[str], list[int], dict]:
        """Root, relative paths, labels and a description of where they came from."""
        p = self.params
        data_dir = resolve_data_dir(getattr(ctx, "data_dir", None))
        if p.source == "imagenet":
            idx = index_imagenet(
                data_dir,
                train_subset=p.subset if p.split == "train" else 1,
                eval_subset=p.subset if p.split == "val" else 1,
            )
            info = {**idx.describe(), "source": "imagenet"}
            if p.split == "train":
                return idx.root, idx.train_paths, idx.train_labels, info
            return idx.root, idx.val_paths, idx.val_labels, info
        if p.source == "cifar10-jpeg":
            src = find_source(
                data_dir, ["cifar10-jpeg", "cifar10-jpeg.tar.gz"], "CIFAR-10 JPEG", name="cifar10"
            )
            top = extracted(src, resolve_cache_dir(p.cache_dir)) if src.is_file() else src
            base = top / "cifar10-jpeg" if (top / "cifar10-jpeg").is_dir() else top
            split_dir = base / ("train" if p.split == "train" else "test")
            if not split_dir.is_dir():
                raise DataError(f"{split_dir}: missing (expected cifar10-jpeg/{{train,test}}/)")
            paths, labels, _ = list_image_folder(
                split_dir, None if p.subset is None else -(-p.subset // 10)
            )
            if p.subset is not None:
                paths, labels = paths[: p.subset], labels[: p.subset]
            return split_dir, paths, labels, {"source": "cifar10-jpeg", "path": str(src)}
        paths, labels = generate_jpegs(
            tmp,
            p.generated_images,
            width=p.generated_width,
            height=p.generated_height,
            quality=p.generated_quality,
            seed=p.seed,
        )
        sizes = [(tmp / f).stat().st_size for f in paths]
        return (
            tmp,
            paths,
            labels,
            {
                "source": "generated",
                "note": "generated JPEGs (smooth random colour fields with noise): decode "
                "throughput only, not a dataset",
                "width": p.generated_width,
                "height": p.generated_height,
                "jpeg_quality": p.generated_quality,
                "mean_file_bytes": sum(sizes) / len(sizes),
            },
        )

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        p = self.params
        tmp = Path(tempfile.mkdtemp(prefix="accelbench-jpegs-"))
        try:
            root, paths, labels, info = self._files(ctx, tmp)
            spec = TransformSpec(
                train=p.split == "train", size=p.image_size, resize=p.eval_resize, draft=p.draft
            )
            info["images_available"] = len(paths)
            needed = p.batch_size * (p.warmup_batches + p.windows * p.batches_per_window)
            info["images_read"] = needed
            if len(paths) < p.batch_size:
                raise DataError(
                    f"{root}: {len(paths)} images, fewer than one batch of {p.batch_size}"
                )
            pin, pin_why = pin_choice(ctx.device) if p.to_device else (False, "to_device is off")
            settings = LoaderSettings(
                workers=case["workers"],
                batch_size=p.batch_size,
                prefetch=p.prefetch,
                pin_memory=pin,
                pin_reason=pin_why,
                normalize=p.normalize,
                on_corrupt=p.on_corrupt,
            )
            ds = ImageFileDataset(root, paths, labels, spec, seed=p.seed, normalize=p.normalize)
            m = measure_pipeline(
                ds,
                settings,
                windows=p.windows,
                batches_per_window=p.batches_per_window,
                warmup_batches=p.warmup_batches,
                device=ctx.device.torch_device if p.to_device else None,
                sync=ctx.device.synchronize if p.to_device else None,
                seed=p.seed,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        s = summarize(m.images_per_s)
        workers = case["workers"]
        metrics = {
            "images_per_s": Metric(value=s.median, unit="images/s"),
            "images_per_s_mean": Metric(value=s.mean, unit="images/s"),
            "images_per_s_min": Metric(value=s.min, unit="images/s"),
            "images_per_s_max": Metric(value=s.max, unit="images/s"),
            "images_per_s_iqr": Metric(value=s.iqr, unit="images/s"),
            "images_per_s_cv": (
                Metric(value=s.cv, unit="ratio")
                if s.n > 1
                else Metric.missing("ratio", "one window: no spread to report")
            ),
            "images_per_s_per_worker": (
                Metric(value=s.median / workers, unit="images/s")
                if workers
                else Metric.missing("images/s", "workers=0: decoding ran in the main process")
            ),
            "startup_s": Metric(value=m.startup_s, unit="s"),
            "images_timed": Metric(value=float(sum(m.window_images)), unit="images"),
            "corrupt_skipped": Metric(value=float(m.corrupt["skipped"]), unit="files"),
        }
        config = {
            "data": info,
            "loader": settings.describe(),
            "transform": spec.describe(),
            "jpeg_draft_decode": p.draft,
            "to_device": m.to_device,
            "warmup_batches": m.warmup_batches,
            "batches_per_window": m.batches_per_window,
            "windows": [
                {"seconds": t, "images": n, "images_per_s": r}
                for t, n, r in zip(m.window_s, m.window_images, m.images_per_s, strict=True)
            ],
            "high_spread": s.high_spread,
            "corrupt": m.corrupt,
            "what": "decoded, transformed images per second with no model in the loop",
        }
        msg = info.get("note") if info.get("source") == "generated" else None
        return CaseOutput(metrics=metrics, config=config, message=msg)
