"""ImageNet 2012 (ILSVRC2012 classification) in its published layouts, served as ready batches.

ImageNet is behind a login: register at https://image-net.org/download-images.php and download
``ILSVRC2012_img_train.tar`` (138 GB; a tar of one tar per class), ``ILSVRC2012_img_val.tar``
(6.3 GB) and ``ILSVRC2012_devkit_t12.tar.gz``; or Kaggle's "ImageNet Object Localization
Challenge" (``imagenet-object-localization-challenge.zip``). Nothing here downloads it. Point
``--data-dir`` at the folder that holds it (or at its root). Layouts read:

* **training**: ``train/<wnid>/*.JPEG``, one folder per WordNet id (``n01440764`` ...), which is
  what unpacking the per-class tars gives, and Kaggle's ``ILSVRC/Data/CLS-LOC/train`` already is;
* **validation**, any of:

  - ``val/<wnid>/*.JPEG`` folders (the layout most tools, and NVIDIA's recipe, expect);
  - flat ``val/ILSVRC2012_val_00000001.JPEG`` .. ``_00050000.JPEG`` with the devkit's
    ``data/ILSVRC2012_validation_ground_truth.txt`` (line *i*: the ILSVRC2012_ID of image *i*)
    and ``data/meta.mat`` (ILSVRC2012_ID -> WNID), from ``ILSVRC2012_devkit_t12/`` or the
    ``.tar.gz`` beside the data or its root;
  - flat files with Kaggle's ``LOC_val_solution.csv`` (``ImageId,PredictionString``; the
    string starts with the image's WNID).

Labels are the position of the WNID among the sorted training class folders (0 = n01440764 for
the full set), so every layout gives every image the same label: the devkit's own ILSVRC2012_ID
order is different and is only used to find the WNID. When both the devkit and Kaggle's file are
present they are checked against each other. Every training class must have validation images
and every validation class a training folder; otherwise the error names the classes.

A subset takes the first ``ceil(k / classes)`` files of each class in file-name order, so it is
the same everywhere. Decoding, augmentation and batching: :mod:`accelbench.data.image_loader`
and :mod:`accelbench.data.transforms`.

The recipe that trains on it, with its knobs and their sources:
:mod:`accelbench.training.recipes.resnet50_imagenet`.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from accelbench.data.common import (
    DataError,
    DataNotFound,
    FileTree,
    resolve_data_dir,
    search_dirs,
)
from accelbench.data.image_loader import (
    IMAGE_SUFFIXES,
    CorruptLog,
    DeviceBatches,
    EpochSampler,
    ImageFileDataset,
    LoaderSettings,
    make_loader,
)
from accelbench.data.topk import evaluate_topk
from accelbench.data.transforms import CROP_SIZE, EVAL_RESIZE, TransformSpec
from accelbench.training.task import EvalContext, Quality, top1

CANDIDATES = [
    "imagenet",
    "ILSVRC2012",
    "imagenet-1k",
    "ILSVRC/Data/CLS-LOC",
    "imagenet/ILSVRC/Data/CLS-LOC",
    "imagenet-object-localization-challenge/ILSVRC/Data/CLS-LOC",
]
DEVKIT = "ILSVRC2012_devkit_t12"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
META = "data/meta.mat"
KAGGLE_VAL = "LOC_val_solution.csv"
VAL_NAME = re.compile(r"^ILSVRC2012_val_(\d{8})\.jpe?g$", re.IGNORECASE)
READS = (
    "unpack train/<wnid>/*.JPEG (a tar per class) and val/ (as <wnid>/ folders, or flat with "
    "the devkit or Kaggle's LOC_val_solution.csv)"
)
ValLayout = Literal["auto", "folders", "devkit", "kaggle"]

TRAIN_IMAGES_FULL = 1_281_167
VAL_IMAGES_FULL = 50_000


# -- finding and indexing the files --------------------------------------------------------------
def _has_train(p: Path) -> bool:
    return (p / "train").is_dir()


def find_imagenet(data_dir: Path | None) -> Path:
    """The folder holding ``train/`` (and ``val/``): the data directory itself or one of
    :data:`CANDIDATES` in the folders datasets are looked for in (the data directory, then the
    download folder); else :class:`DataNotFound` saying how to get the data and where it looked.

    The message leads with what to do (a stored result keeps its first 500 characters) and
    ends with the paths looked at."""
    given = resolve_data_dir(data_dir)
    dirs = search_dirs(data_dir)
    looked = ([given] if given is not None else []) + [d / c for d in dirs for c in CANDIDATES]
    for p in looked:
        if _has_train(p):
            return p
    where = (f"{given} itself, and " if given is not None else "no --data-dir given; ") + (
        f"{{{','.join(CANDIDATES[:3])},...}} under {' and '.join(str(d) for d in dirs)}"
    )
    raise DataNotFound(
        f"ImageNet not found: it needs a login, see `accelbench data list` "
        f"(https://image-net.org/download-images.php); {READS}; pass --data-dir DIR and check "
        f"it with `accelbench data verify imagenet`. Looked for train/ in {where}"
    )


def _image_files(d: Path) -> list[str]:
    return sorted(
        e.name
        for e in os.scandir(d)
        if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES) and not e.name.startswith(".")
    )


def _class_dirs(d: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(d) if e.is_dir() and not e.name.startswith("."))


def _per_class(limit: int | None, classes: int) -> int | None:
    return None if limit is None else math.ceil(limit / classes)


def _names(items: list[str], limit: int = 5) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


@dataclass
class ImageNetIndex:
    """Every file of the split(s) in use with its label, and how they were found."""

    root: Path
    classes: list[str]
    train_paths: list[str]
    train_labels: list[int]
    val_paths: list[str]
    val_labels: list[int]
    val_layout: str
    label_sources: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.root),
            "layout": f"train/<wnid>/, val: {self.val_layout}",
            "val_labels_from": self.label_sources,
            "classes": self.num_classes,
            "train_images": len(self.train_paths),
            "val_images": len(self.val_paths),
            "full_dataset": len(self.train_paths) == TRAIN_IMAGES_FULL
            and len(self.val_paths) == VAL_IMAGES_FULL,
        }


def _index_train(root: Path, subset: int | None) -> tuple[list[str], list[str], list[int]]:
    train = root / "train"
    classes = _class_dirs(train)
    if not classes:
        raise DataError(f"{train}: no class folders (expected train/<wnid>/*.JPEG)")
    per = _per_class(subset, len(classes))
    paths: list[str] = []
    labels: list[int] = []
    for label, c in enumerate(classes):
        files = _image_files(train / c)
        if not files:
            raise DataError(f"{train / c}: class folder holds no images (*.JPEG)")
        paths.extend(f"train/{c}/{f}" for f in files[:per])
        labels.extend([label] * len(files[:per]))
    if subset is not None:
        paths, labels = paths[:subset], labels[:subset]
    return classes, paths, labels


def _check_classes(val_dir: Path, classes: list[str], val_classes: set[str]) -> None:
    missing = [c for c in classes if c not in val_classes]
    if missing:
        raise DataError(
            f"{val_dir}: no validation images for class(es) {_names(missing)} "
            f"({len(missing)} of the {len(classes)} training classes); every class in train/ "
            "needs its validation images"
        )
    extra = sorted(val_classes - set(classes))
    if extra:
        raise DataError(
            f"{val_dir}: validation class(es) {_names(extra)} have no folder in train/ "
            "(are train/ and val/ from the same release?)"
        )


def _search_dirs(root: Path, data_dir: Path | None) -> list[Path]:
    dirs = [root, *list(root.parents)[:3]]
    if data_dir is not None and data_dir not in dirs:
        dirs.append(data_dir)
    return dirs


def _read_devkit(dirs: list[Path]) -> tuple[dict[int, int], str] | None:
    """(validation image number -> WNID, where it was read) from the first devkit found, as a
    folder or its .tar.gz; None when there is none."""
    for d in dirs:
        for candidate in (d / DEVKIT, d / f"{DEVKIT}.tar.gz"):
            if not candidate.exists():
                continue
            tree = FileTree(candidate)
            try:
                prefix = "" if candidate.is_dir() else f"{DEVKIT}/"
                names = set(tree.names())
                gt_name, meta_name = prefix + GROUND_TRUTH, prefix + META
                for n in (gt_name, meta_name):
                    if n not in names:
                        raise DataError(f"{tree.where(n)}: missing from the ImageNet devkit")
                gt = _parse_ground_truth(tree.where(gt_name), tree.read(gt_name))
                id_to_wnid = _parse_meta(tree.where(meta_name), tree.read(meta_name))
            finally:
                tree.close()
            by_image: dict[int, Any] = {}
            for i, ilsvrc_id in enumerate(gt, 1):
                if ilsvrc_id not in id_to_wnid:
                    raise DataError(
                        f"{candidate}: ground truth line {i} names ILSVRC2012_ID {ilsvrc_id}, "
                        "which meta.mat does not define"
                    )
                by_image[i] = id_to_wnid[ilsvrc_id]
            return by_image, str(candidate)
    return None


def _parse_ground_truth(where: str, raw: bytes) -> list[int]:
    try:
        return [int(line) for line in raw.decode("ascii").split()]
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"{where}: expected one ILSVRC2012_ID (an integer) per line ({exc})"
        ) from None


def _parse_meta(where: str, raw: bytes) -> dict[int, str]:
    from scipy.io import loadmat

    try:
        synsets = loadmat(io.BytesIO(raw), squeeze_me=True)["synsets"]
        ids = np.atleast_1d(synsets["ILSVRC2012_ID"])
        wnids = np.atleast_1d(synsets["WNID"])
        return {int(i): str(w) for i, w in zip(ids, wnids, strict=True)}
    except Exception as exc:
        raise DataError(
            f"{where}: not the devkit's meta.mat (expected a 'synsets' struct array with "
            f"ILSVRC2012_ID and WNID fields; {type(exc).__name__}: {exc})"
        ) from None


def _read_kaggle(dirs: list[Path]) -> tuple[dict[int, str], str] | None:
    for d in dirs:
        p = d / KAGGLE_VAL
        if not p.is_file():
            continue
        out: dict[int, str] = {}
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{p}: cannot read ({exc})") from None
        if not lines or not lines[0].startswith("ImageId,PredictionString"):
            raise DataError(f"{p}: expected the header 'ImageId,PredictionString'")
        for n, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            image_id, _, pred = line.partition(",")
            m = VAL_NAME.match(image_id + ".JPEG")
            tokens = pred.split()
            if m is None or not tokens:
                raise DataError(
                    f"{p}: line {n}: expected 'ILSVRC2012_val_NNNNNNNN,<wnid> <box> ...', "
                    f"got {line[:80]!r}"
                )
            out[int(m.group(1))] = tokens[0]
        return out, str(p)
    return None


def _index_val_flat(
    root: Path,
    data_dir: Path | None,
    classes: list[str],
    files: list[str],
    layout: ValLayout,
    subset: int | None,
) -> tuple[list[str], list[int], str, list[str]]:
    val = root / "val"
    numbers = []
    for f in files:
        m = VAL_NAME.match(f)
        if m is None:
            raise DataError(
                f"{val / f}: a flat validation folder must hold ILSVRC2012_val_NNNNNNNN.JPEG "
                "files (or use val/<wnid>/ folders)"
            )
        numbers.append(int(m.group(1)))
    dirs = _search_dirs(root, data_dir)
    devkit = _read_devkit(dirs) if layout in ("auto", "devkit") else None
    kaggle = _read_kaggle(dirs) if layout in ("auto", "kaggle") else None
    if devkit is None and kaggle is None:
        wanted = {
            "auto": f"the devkit ({DEVKIT}/ or {DEVKIT}.tar.gz) or Kaggle's {KAGGLE_VAL}",
            "devkit": f"the devkit ({DEVKIT}/ or {DEVKIT}.tar.gz)",
            "kaggle": f"Kaggle's {KAGGLE_VAL}",
        }[layout]
        raise DataError(
            f"{val}: flat validation images need their labels from {wanted}, in "
            f"{_names([str(d) for d in dirs], 8)}; none found"
        )
    sources = [found[1] for found in (devkit, kaggle) if found is not None]
    wnid_of: dict[int, str] = {}
    for num, f in zip(numbers, files, strict=True):
        w_dev = devkit[0].get(num) if devkit else None
        w_kag = kaggle[0].get(num) if kaggle else None
        if devkit is not None and w_dev is None:
            raise DataError(f"{val / f}: image number {num} is beyond the devkit ground truth")
        if kaggle is not None and w_kag is None:
            raise DataError(f"{val / f}: no row for this image in {kaggle[1]}")
        if devkit is not None and kaggle is not None and w_dev != w_kag:
            raise DataError(
                f"{val / f}: the devkit says {w_dev}, {KAGGLE_VAL} says {w_kag}; the label "
                "files disagree (different releases?)"
            )
        wnid_of[num] = w_dev or w_kag  # type: ignore[assignment]
    label_of = {c: i for i, c in enumerate(classes)}
    by_class: dict[str, list[str]] = {}
    for num, f in zip(numbers, files, strict=True):
        by_class.setdefault(wnid_of[num], []).append(f)
    _check_classes(val, classes, set(by_class))
    per = _per_class(subset, len(classes))
    paths: list[str] = []
    labels: list[int] = []
    # Class by class, like the folder layout, so a subset is the same images in both.
    for c in classes:
        chosen = sorted(by_class[c])[:per]
        paths.extend(f"val/{f}" for f in chosen)
        labels.extend([label_of[c]] * len(chosen))
    layout_name = "flat, labels from " + ("devkit" if devkit else "Kaggle LOC_val_solution.csv")
    return paths, labels, layout_name, sources


def index_imagenet(
    data_dir: Path | None,
    *,
    train_subset: int | None = None,
    eval_subset: int | None = None,
    val_layout: ValLayout = "auto",
) -> ImageNetIndex:
    """Find ImageNet under ``data_dir`` and list its training and validation files with labels.

    Raises :class:`DataNotFound` when there is no ImageNet, :class:`DataError` naming the file
    or class for a layout problem (missing or extra class, unlabelled image, label files that
    disagree).
    """
    root = find_imagenet(data_dir)
    classes, train_paths, train_labels = _index_train(root, train_subset)
    val = root / "val"
    if not val.is_dir():
        raise DataError(
            f"{val}: missing (expected val/<wnid>/*.JPEG folders or the flat "
            "ILSVRC2012_val_*.JPEG files with the devkit or LOC_val_solution.csv)"
        )
    val_classes = _class_dirs(val)
    flat = _image_files(val)
    sources: list[str] = []
    if val_classes and val_layout in ("auto", "folders"):
        _check_classes(val, classes, set(val_classes))
        per = _per_class(eval_subset, len(classes))
        val_paths: list[str] = []
        val_labels: list[int] = []
        for label, c in enumerate(classes):
            files = _image_files(val / c)[:per]
            if not files:
                raise DataError(f"{val / c}: class folder holds no images (*.JPEG)")
            val_paths.extend(f"val/{c}/{f}" for f in files)
            val_labels.extend([label] * len(files))
        layout_name = "val/<wnid>/ folders"
        sources = ["folder names"]
    elif flat and val_layout != "folders":
        val_paths, val_labels, layout_name, sources = _index_val_flat(
            root, data_dir, classes, flat, val_layout, eval_subset
        )
    else:
        expected = {
            "folders": "val/<wnid>/ folders",
            "auto": "val/<wnid>/ folders or flat ILSVRC2012_val_*.JPEG files",
        }.get(val_layout, "flat ILSVRC2012_val_*.JPEG files")
        raise DataError(f"{val}: no validation images (expected {expected})")
    if eval_subset is not None:
        val_paths, val_labels = val_paths[:eval_subset], val_labels[:eval_subset]
    return ImageNetIndex(
        root, classes, train_paths, train_labels, val_paths, val_labels, layout_name, sources
    )


# -- the task: ready batches for the trainer -------------------------------------------------------
class ImageNetTask:
    """ImageNet as the trainer consumes it (the training core's ``Task``): shuffled, augmented
    training batches and evaluation batches on the device, and top-1 (with top-5) as quality.

    Decoding runs in ``settings.workers`` persistent DataLoader workers per split. One epoch is
    ``steps = len(train) // batch_size`` full batches (the remainder is dropped, as with a
    sharded sampler), so ``n_train`` is ``steps * batch_size``.
    """

    synthetic = False

    def __init__(
        self,
        index: ImageNetIndex,
        device: torch.device,
        settings: LoaderSettings,
        *,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = True,
        seed: int = 0,
        draft: bool = True,
        eval_batch_size: int | None = None,
        image_size: int = CROP_SIZE,
        eval_resize: int = EVAL_RESIZE,
    ) -> None:
        self.index, self.device, self.settings = index, device, settings
        self.num_classes = index.num_classes
        self.quality = top1(self.num_classes)
        self.dataset_train = len(index.train_paths)
        if self.dataset_train < settings.batch_size:
            raise DataError(
                f"{index.root / 'train'}: {self.dataset_train} training images, fewer than one "
                f"batch of {settings.batch_size}"
            )
        self.steps = self.dataset_train // settings.batch_size
        self.n_train = self.steps * settings.batch_size
        self.train_spec = TransformSpec(train=True, size=image_size, draft=draft)
        self.eval_spec = TransformSpec(
            train=False, size=image_size, resize=eval_resize, draft=draft
        )
        self.corrupt = CorruptLog(settings.on_corrupt)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        common: dict[str, Any] = {"seed": seed, "normalize": settings.normalize}
        train_ds = ImageFileDataset(
            index.root, index.train_paths, index.train_labels, self.train_spec, **common
        )
        val_ds = ImageFileDataset(
            index.root, index.val_paths, index.val_labels, self.eval_spec, **common
        )
        self._train_sampler = EpochSampler(len(train_ds), shuffle=True, seed=seed)
        eval_settings = dataclasses.replace(
            settings, batch_size=eval_batch_size or settings.batch_size
        )
        self._train = DeviceBatches(
            make_loader(train_ds, self._train_sampler, settings, drop_last=True),
            device,
            dtype=dtype,
            memory_format=fmt,
            normalize=settings.normalize,
            corrupt=self.corrupt,
        )
        self._eval = DeviceBatches(
            make_loader(
                val_ds, EpochSampler(len(val_ds), shuffle=False), eval_settings, drop_last=False
            ),
            device,
            dtype=dtype,
            memory_format=fmt,
            normalize=settings.normalize,
            corrupt=self.corrupt,
        )

    def train_batches(self, epoch: int) -> Any:
        self._train_sampler.set_epoch(epoch)
        return iter(self._train)

    def eval_batches(self) -> Any:
        return iter(self._eval)

    def evaluate(self, ctx: EvalContext) -> Quality:
        """Top-1 (value), top-5 and validation loss on the validation files, model in eval
        mode; the count of corrupt files skipped so far joins the secondary values."""
        q = evaluate_topk(ctx, self.eval_batches(), self.quality)
        if self.corrupt.count:
            q.secondary["corrupt_skipped"] = float(self.corrupt.count)
        return q

    def describe(self) -> dict[str, Any]:
        """What the result's config stores about the data: layout, counts, loader, transforms
        and corrupt files."""
        return {
            **self.index.describe(),
            "source": "real",
            "images_per_epoch": self.n_train,
            "loader": self.settings.describe(),
            "train_transform": self.train_spec.describe(),
            "eval_transform": self.eval_spec.describe(),
            "jpeg_draft_decode": self.train_spec.draft,
            "corrupt": self.corrupt.describe(),
        }


class SyntheticImageTask:
    """Random images of the real shape, generated on the device once and cycled: for
    throughput only (no decoding, no accuracy). ``describe()`` says so, and ``evaluate`` refuses.
    """

    synthetic = True
    NOTE = "synthetic data: random images, throughput only, no accuracy was measured"

    def __init__(
        self,
        device: torch.device,
        *,
        n_train: int,
        batch_size: int,
        num_classes: int = 1000,
        image_size: int = CROP_SIZE,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = True,
        seed: int = 0,
        pool: int = 4,
    ) -> None:
        if n_train < batch_size:
            raise ValueError(f"n_train ({n_train}) is smaller than one batch ({batch_size})")
        self.num_classes, self.image_size = num_classes, image_size
        self.quality = top1(num_classes)
        self.steps = n_train // batch_size
        self.n_train = self.steps * batch_size
        self.batch_size = batch_size
        g = torch.Generator().manual_seed(seed)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self._pool: list[tuple[torch.Tensor, torch.Tensor]] = []
        for _ in range(max(1, min(pool, self.steps))):
            x = torch.randn(batch_size, 3, image_size, image_size, generator=g)
            y = torch.randint(0, num_classes, (batch_size,), generator=g)
            x = x.to(device=device, dtype=dtype).contiguous(memory_format=fmt)
            self._pool.append((x, y.to(device)))

    def train_batches(self, epoch: int) -> Any:
        for i in range(self.steps):
            x, y = self._pool[i % len(self._pool)]
            yield (x,), y

    def eval_batches(self) -> Any:
        x, y = self._pool[0]
        yield (x,), y

    def evaluate(self, ctx: EvalContext) -> Quality:
        raise RuntimeError(self.NOTE)

    def describe(self) -> dict[str, Any]:
        return {
            "source": "synthetic",
            "note": self.NOTE,
            "images_per_epoch": self.n_train,
            "image_size": self.image_size,
            "classes": self.num_classes,
            "distinct_batches": len(self._pool),
        }
