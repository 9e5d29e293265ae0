"""From image files to ready batches on the device: DataLoader workers, pinned memory,
prefetch, corrupt-file accounting, and a measurement of the pipeline on its own.

How a batch is made (every knob is recorded by :meth:`LoaderSettings.describe`):

1. :class:`EpochSampler` shuffles the file indices per epoch from ``seed`` and hands each
   worker ``(epoch, index)`` pairs;
2. in ``workers`` DataLoader processes (0: in the training process itself),
   :class:`ImageFileDataset` decodes one file and applies its transform
   (:mod:`accelbench.data.transforms`) with a random generator seeded by (seed, epoch, index), so
   augmentation does not depend on the worker count; each worker keeps ``prefetch`` batches
   ready;
3. :func:`collate` stacks the images into one ``[B, H, W, 3]`` uint8 tensor, which the
   DataLoader copies into page-locked (pinned) memory when the target is an accelerator that
   can pin, so the copy to the device is asynchronous;
4. :class:`DeviceBatches` copies it to the device and normalises it there: uint8 crosses the bus
   and the worker-to-trainer shared memory at a quarter of float32's bytes, which is what
   NVIDIA's ResNet-50 loader does too. ``normalize="worker"`` does the normalisation in the
   workers instead (float32 batches), for hosts where the device is the bottleneck. Permuted
   to NCHW, an NHWC batch is already ``channels_last``.

**Corrupt files.** A file that cannot be decoded never kills a worker: the worker returns a
:class:`Corrupt` record (path and the decoder's reason). With ``on_corrupt="skip"`` (default)
the image is left out of its batch, counted, and named in the run's data info (the first
:data:`MAX_NAMED`); with ``on_corrupt="error"`` the first one stops the run with a
:class:`~accelbench.data.common.DataError` naming the file. A correct ImageNet download has
none (pillow reads its few CMYK and PNG-in-JPEG files); a partial copy or a bad disk does.

File paths are kept in one numpy byte-string array rather than a list of Python strings: with
1.28 M files, forked workers touching Python object refcounts would copy the list into every
worker (PyTorch issue #13246).
"""

from __future__ import annotations

import math
import os
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from accelbench.data.common import DataError, source_fingerprint
from accelbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD, TransformSpec, load_image

MAX_NAMED = 20
"""How many corrupt files a result names; the count covers them all."""
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


@dataclass(frozen=True)
class Corrupt:
    """A file the decoder rejected, and why."""

    path: str
    reason: str


class ImageFileDataset(Dataset):
    """``paths[i]`` (relative to ``root``) decoded and transformed, with label ``labels[i]``.

    Items are keyed by ``(epoch, index)`` (see :class:`EpochSampler`) and come back as
    ``(image or None, label, Corrupt or None)``.
    """

    def __init__(
        self,
        root: Path,
        paths: Sequence[str] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        spec: TransformSpec,
        seed: int = 0,
        normalize: Literal["device", "worker"] = "device",
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.root = Path(root)
        self.paths = np.asarray([str(p).encode() for p in paths] if len(paths) else [], dtype="S")
        self.labels = np.asarray(labels, dtype=np.int64)
        self.spec, self.seed, self.normalize = spec, seed, normalize
        self._mean = np.asarray(mean, dtype=np.float32) * 255
        self._std = np.asarray(std, dtype=np.float32) * 255

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> Path:
        return self.root / self.paths[i].decode()

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray | None, int, Corrupt | None]:
        epoch, i = key
        label = int(self.labels[i])
        path = self.path(i)
        rng = np.random.default_rng([self.seed, epoch, i])
        try:
            arr = load_image(path, self.spec, rng)
        except Exception as exc:  # any decoder failure is this file's problem, named
            return None, label, Corrupt(str(path), f"{type(exc).__name__}: {exc}")
        if self.normalize == "worker":
            return (arr.astype(np.float32) - self._mean) / self._std, label, None
        return arr, label, None


class EpochSampler(Sampler):
    """``(epoch, index)`` for every index, shuffled per epoch from ``seed`` (same order on
    every platform); ``cycle=True`` runs on through later epochs without end, for measuring a
    pipeline in its steady state."""

    def __init__(self, n: int, *, shuffle: bool, seed: int = 0, cycle: bool = False) -> None:
        self.n, self.shuffle, self.seed, self.cycle = n, shuffle, seed, cycle
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        while True:
            for i in self.order(epoch):
                yield epoch, i
            if not self.cycle:
                return
            epoch += 1

    def __len__(self) -> int:
        return self.n


def collate(
    items: list[tuple[np.ndarray | None, int, Corrupt | None]],
) -> tuple[torch.Tensor, torch.Tensor, list[Corrupt]]:
    """Stack the decoded images ([B, H, W, 3]) and labels; pass the corrupt records along."""
    good = [(a, y) for a, y, c in items if c is None and a is not None]
    bad = [c for _, _, c in items if c is not None]
    if good:
        x = torch.from_numpy(np.stack([a for a, _ in good]))
        y = torch.tensor([lbl for _, lbl in good], dtype=torch.int64)
    else:
        x = torch.empty(0, dtype=torch.uint8)
        y = torch.empty(0, dtype=torch.int64)
    return x, y, bad


@dataclass
class LoaderSettings:
    """How the DataLoader runs; stored with every result that used it."""

    workers: int
    batch_size: int
    prefetch: int = 2
    """Batches each worker keeps ready (DataLoader's ``prefetch_factor``)."""
    pin_memory: bool = False
    pin_reason: str | None = None
    """Why memory is not pinned, when it is not."""
    persistent: bool = True
    normalize: Literal["device", "worker"] = "device"
    on_corrupt: Literal["skip", "error"] = "skip"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workers": self.workers,
            "batch_size": self.batch_size,
            "prefetch_per_worker": self.prefetch if self.workers else None,
            "pinned_memory": self.pin_memory,
            "persistent_workers": self.persistent and self.workers > 0,
            "normalize_on": self.normalize,
            "on_corrupt": self.on_corrupt,
            "host_cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
        }
        if not self.pin_memory:
            out["pinned_memory_reason"] = self.pin_reason
        return out


def pin_choice(device: Any) -> tuple[bool, str | None]:
    """Whether batches for ``device`` go through pinned host memory, and why not.

    ``device`` is a BaseDevice (its device layer says whether it can pin) or a plain
    ``torch.device`` (then: whether ``torch.accelerator`` is that device, which is what
    DataLoader pins for). The host CPU needs no pinning (there is no copy). The fake test
    device stands in for an accelerator but its tensors live on the CPU, where DataLoader has
    nothing to pin for.
    """
    tdev = getattr(device, "torch_device", device)
    if tdev.type == "cpu":
        return False, "the batches stay in host memory (the device is the host CPU): no copy"
    support = getattr(device, "pinned_memory_support", None)
    if support is not None:
        return support()
    acc = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    if acc is None or acc.type != tdev.type:
        return False, f"DataLoader pins only for torch.accelerator ({acc}), not {tdev.type}"
    return True, None


def make_loader(
    dataset: ImageFileDataset,
    sampler: EpochSampler,
    settings: LoaderSettings,
    *,
    drop_last: bool,
) -> DataLoader:
    """A DataLoader over ``dataset`` in ``settings.workers`` processes (0: in this process)."""
    kw: dict[str, Any] = {}
    if settings.workers > 0:
        kw.update(prefetch_factor=settings.prefetch, persistent_workers=settings.persistent)
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        sampler=sampler,
        num_workers=settings.workers,
        collate_fn=collate,
        pin_memory=settings.pin_memory,
        drop_last=drop_last,
        **kw,
    )


class CorruptLog:
    """Corrupt files seen so far: counted, the first :data:`MAX_NAMED` named; or the first one
    raised as a :class:`DataError` when the policy is ``error``."""

    def __init__(self, policy: Literal["skip", "error"]) -> None:
        self.policy = policy
        self.count = 0
        self.named: list[dict[str, str]] = []

    def add(self, records: list[Corrupt]) -> None:
        for c in records:
            if self.policy == "error":
                raise DataError(
                    f"{c.path}: not a decodable image ({c.reason}); remove or replace the file, "
                    "or run with on_corrupt: skip to leave it out and count it"
                )
            self.count += 1
            if len(self.named) < MAX_NAMED:
                self.named.append({"path": c.path, "reason": c.reason})

    def describe(self) -> dict[str, Any]:
        return {"policy": self.policy, "skipped": self.count, "files": list(self.named)}


class DeviceBatches:
    """Batches of a DataLoader made by :func:`collate`, moved to ``device`` and normalised
    there (``normalize="device"``) into ``dtype`` and ``memory_format``: ``((x,), y)``.

    Batches whose every image was corrupt are dropped (and counted in ``corrupt``).
    """

    def __init__(
        self,
        loader: DataLoader,
        device: torch.device,
        *,
        dtype: torch.dtype = torch.float32,
        memory_format: torch.memory_format = torch.channels_last,
        normalize: Literal["device", "worker"] = "device",
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        corrupt: CorruptLog | None = None,
    ) -> None:
        self.loader, self.device, self.dtype = loader, device, dtype
        self.memory_format, self.normalize = memory_format, normalize
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255
        self.corrupt = corrupt or CorruptLog("skip")
        self.images = 0
        """Images delivered so far (corrupt ones excluded)."""

    def to_device(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        nb = x.is_pinned()
        x = x.to(self.device, non_blocking=nb).permute(0, 3, 1, 2)
        y = y.to(self.device, non_blocking=nb)
        if self.normalize == "device":
            x = (x.float() - self.mean) / self.std
        return (x.to(self.dtype).contiguous(memory_format=self.memory_format),), y

    def __iter__(self) -> Iterator[Batch]:
        for x, y, bad in self.loader:
            if bad:
                self.corrupt.add(bad)
            if len(y) == 0:
                continue
            self.images += len(y)
            yield self.to_device(x, y)


# -- the pipeline measured on its own ------------------------------------------------------------
@dataclass
class PipelineMeasurement:
    """Decoded images per second in ``windows`` back-to-back windows of the steady state."""

    settings: LoaderSettings
    images_per_s: list[float]
    window_s: list[float]
    window_images: list[int]
    startup_s: float
    """From asking for the first batch to receiving it: worker start-up plus the first decode."""
    warmup_batches: int
    batches_per_window: int
    to_device: bool
    corrupt: dict[str, Any] = field(default_factory=dict)


def measure_pipeline(
    dataset: ImageFileDataset,
    settings: LoaderSettings,
    *,
    windows: int = 5,
    batches_per_window: int = 5,
    warmup_batches: int = 2,
    device: torch.device | None = None,
    sync: Callable[[], None] | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> PipelineMeasurement:
    """Run the input pipeline with no model: decoded images/s, one sample per window.

    The sampler cycles through epochs without end, so every window is steady state (no epoch
    restart inside it); the first ``warmup_batches`` (worker start-up, page cache, allocator)
    are not timed. With ``device`` set, each batch is also copied to it and normalised there,
    as in training, and ``sync`` (the device's synchronise) closes each window.
    """
    if windows < 1 or batches_per_window < 1 or warmup_batches < 0:
        raise ValueError("windows and batches_per_window must be >= 1, warmup_batches >= 0")
    if len(dataset) == 0:
        raise DataError(f"{dataset.root}: no images to measure the input pipeline on")
    sampler = EpochSampler(len(dataset), shuffle=True, seed=seed, cycle=True)
    loader = make_loader(dataset, sampler, settings, drop_last=True)
    corrupt = CorruptLog(settings.on_corrupt)
    mover = (
        DeviceBatches(loader, device, normalize=settings.normalize, corrupt=corrupt)
        if device is not None
        else None
    )
    it = iter(loader)
    try:
        t0 = clock()
        first = next(it)
        startup = clock() - t0
        corrupt.add(first[2])
        for _ in range(max(warmup_batches - 1, 0)):
            corrupt.add(next(it)[2])
        rates, times, counts = [], [], []
        for _ in range(windows):
            n = 0
            t0 = clock()
            for _ in range(batches_per_window):
                x, y, bad = next(it)
                corrupt.add(bad)
                n += len(y)
                if mover is not None and len(y):
                    mover.to_device(x, y)
            if sync is not None:
                sync()
            dt = clock() - t0
            rates.append(n / dt if dt > 0 else math.inf)
            times.append(dt)
            counts.append(n)
    finally:
        del it  # shuts the workers down
    return PipelineMeasurement(
        settings=settings,
        images_per_s=rates,
        window_s=times,
        window_images=counts,
        startup_s=startup,
        warmup_batches=warmup_batches,
        batches_per_window=batches_per_window,
        to_device=device is not None,
        corrupt=corrupt.describe(),
    )


# -- image trees on disk ---------------------------------------------------------------------------
def list_image_folder(
    root: Path, per_class: int | None = None
) -> tuple[list[str], list[int], list[str]]:
    """A class-per-folder tree (``root/<class>/<image>``): relative paths, labels (classes in
    sorted name order) and the class names; the first ``per_class`` files of each class in
    file-name order when given."""
    classes = sorted(d.name for d in os.scandir(root) if d.is_dir())
    if not classes:
        raise DataError(f"{root}: no class folders (expected {root}/<class>/<image files>)")
    paths: list[str] = []
    labels: list[int] = []
    for label, c in enumerate(classes):
        files = sorted(
            e.name
            for e in os.scandir(root / c)
            if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES)
        )
        for f in files[:per_class]:
            paths.append(f"{c}/{f}")
            labels.append(label)
    return paths, labels, classes


def extracted(archive: Path, cache_dir: Path) -> Path:
    """A .tar(.gz) unpacked once under ``cache_dir`` (keyed by the archive's size and mtime),
    for loaders that read files one by one; the archive itself is never written."""
    dest = cache_dir / f"{archive.name.split('.')[0]}-{source_fingerprint(archive)}"
    done = dest / ".complete"
    if done.exists():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:*") as t:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: refuse unsafe members
                t.extractall(tmp, filter="data")
            else:  # pragma: no cover - older 3.10
                t.extractall(tmp)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: cannot unpack ({exc})") from None
    (tmp / ".complete").touch()
    try:
        tmp.rename(dest)
    except OSError:  # another process finished first: use its copy
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def generate_jpegs(
    root: Path,
    n: int,
    *,
    width: int = 500,
    height: int = 375,
    classes: int = 10,
    quality: int = 90,
    seed: int = 0,
) -> tuple[list[str], list[int]]:
    """``n`` ImageNet-like JPEGs under ``root/<class>/``: smooth random colour fields with fine
    noise, which at 500x375 and quality 90 compress to about 105 KB, near ImageNet's average
    (the 138 GB training tar over 1,281,167 images: about 110 KB). Pure noise would be several
    times larger and slower to decode, a flat colour far smaller and faster. For measuring the
    pipeline only: the labels carry no signal."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for i in range(n):
        c = i % classes
        d = root / f"class{c:03d}"
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        base = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        arr = np.asarray(base, dtype=np.int16) + rng.integers(-40, 41, (height, width, 3))
        name = f"class{c:03d}/img{i:06d}.JPEG"
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(root / name, quality=quality)
        paths.append(name)
        labels.append(c)
    return paths, labels
