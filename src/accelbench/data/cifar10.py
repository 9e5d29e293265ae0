"""CIFAR-10 from its two standard layouts, decoded once into uint8 tensors and cached.

* the python pickle batches of the official release: ``cifar-10-batches-py/`` holding
  ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` (or ``cifar-10-python.tar.gz``);
* the class-per-folder JPEG layout (ImageNet's "ImageFolder"): ``<root>/train/<class>/*.jpg``
  and ``<root>/test/<class>/*.jpg``, as a directory or a .tar.gz (``cifar10-jpeg.tar.gz``).
  Classes are numbered in sorted name order, which for CIFAR-10's names is the official order.

Images come back as ``[N, 3, 32, 32]`` uint8 (4x smaller than float, so the whole set sits on
the accelerator) and labels as int64. A subset takes the first ``k`` images in the source
order (pickles) or the first ``ceil(k / 10)`` of each class in file-name order (JPEG), so it
is the same on every machine and only the subset is decoded.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from accelbench.data.common import (
    DataError,
    FileTree,
    cached,
    find_source,
    source_fingerprint,
)
from accelbench.data.registry import DATASETS

# Where the loader looks under a data directory, in order: the registry's forms of CIFAR-10.
CANDIDATES = DATASETS["cifar10"].candidates
PICKLE_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
PICKLE_TEST = "test_batch"
CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
# Per-channel mean and std of the CIFAR-10 training set (0-1 scale), used for normalisation.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
FORMAT_VERSION = 1


def _layout(tree: FileTree) -> tuple[str, str]:
    """('pickle', prefix) or ('jpeg', prefix): what the tree holds, where."""
    names = tree.names()
    for n in names:
        if n.rsplit("/", 1)[-1] == PICKLE_TEST:
            return "pickle", n[: -len(PICKLE_TEST)]
    for n in names:
        parts = n.split("/")
        if (
            len(parts) >= 3
            and parts[-3] in ("train", "test")
            and n.lower().endswith((".jpg", ".jpeg", ".png"))
        ):
            return "jpeg", "/".join(parts[:-3]) + ("/" if len(parts) > 3 else "")
    raise DataError(
        f"{tree.path}: neither CIFAR-10 layout found (expected {PICKLE_TEST} and "
        "data_batch_1..5 pickles, or train/<class>/*.jpg and test/<class>/*.jpg)"
    )


def _read_pickle(tree: FileTree, name: str) -> tuple[np.ndarray, np.ndarray]:
    raw = tree.read(name)
    try:
        d = pickle.loads(raw, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
        data = data.reshape(-1, 3, 32, 32)
    except Exception as exc:
        raise DataError(
            f"{tree.where(name)}: not a CIFAR-10 pickle batch (expected a dict with b'data' "
            f"[N, 3072] uint8 and b'labels'; {type(exc).__name__}: {exc})"
        ) from None
    if len(labels) != len(data) or (len(labels) and not 0 <= labels.min() <= labels.max() <= 9):
        raise DataError(f"{tree.where(name)}: labels do not match the images or are not 0..9")
    return data, labels


def _load_pickles(
    tree: FileTree, prefix: str, train_subset: int | None, eval_subset: int | None
) -> dict[str, Any]:
    present = set(tree.names())
    for n in [*PICKLE_TRAIN, PICKLE_TEST]:
        if prefix + n not in present:
            raise DataError(f"{tree.where(prefix + n)}: missing CIFAR-10 batch file")
    xs, ys, have = [], [], 0
    for n in PICKLE_TRAIN:
        if train_subset is not None and have >= train_subset:
            break
        x, y = _read_pickle(tree, prefix + n)
        xs.append(x)
        ys.append(y)
        have += len(y)
    tx, ty = _read_pickle(tree, prefix + PICKLE_TEST)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if train_subset is not None:
        x, y = x[:train_subset], y[:train_subset]
    if eval_subset is not None:
        tx, ty = tx[:eval_subset], ty[:eval_subset]
    return _pack(x, y, tx, ty)


def _decode_jpeg(tree: FileTree, name: str, raw: bytes) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise DataError(f"{tree.where(name)}: not a readable image ({exc})") from None
    if arr.shape != (32, 32, 3):
        raise DataError(
            f"{tree.where(name)}: image is {arr.shape[1]}x{arr.shape[0]}, expected 32x32"
        )
    return arr.transpose(2, 0, 1)


def _load_jpeg(
    tree: FileTree, prefix: str, train_subset: int | None, eval_subset: int | None
) -> dict[str, Any]:
    by_split: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for n in tree.names():
        if not n.startswith(prefix) or not n.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        parts = n[len(prefix) :].split("/")
        if len(parts) == 3 and parts[0] in by_split:
            by_split[parts[0]].setdefault(parts[1], []).append(n)
    classes = sorted(by_split["train"])
    if not classes or sorted(by_split["test"]) != classes:
        raise DataError(
            f"{tree.path}: train/ and test/ must hold the same class folders "
            f"(train: {classes}, test: {sorted(by_split['test'])})"
        )
    label_of = {c: i for i, c in enumerate(classes)}
    chosen: dict[str, list[str]] = {}
    for split, limit in (("train", train_subset), ("test", eval_subset)):
        per = None if limit is None else math.ceil(limit / len(classes))
        names = []
        for c in classes:
            names.extend(sorted(by_split[split][c])[:per])
        chosen[split] = names[:limit] if limit is not None else names
    wanted = set(chosen["train"]) | set(chosen["test"])
    decoded = {name: _decode_jpeg(tree, name, raw) for name, raw in tree.iter_read(wanted)}
    if len(decoded) != len(wanted):
        missing = sorted(wanted - set(decoded))[:3]
        raise DataError(f"{tree.path}: could not read {', '.join(missing)}")

    def stack(split: str) -> tuple[np.ndarray, np.ndarray]:
        names = chosen[split]
        x = np.stack([decoded[n] for n in names]) if names else np.zeros((0, 3, 32, 32), np.uint8)
        y = np.array([label_of[n[len(prefix) :].split("/")[1]] for n in names], dtype=np.int64)
        return x, y

    out = _pack(*stack("train"), *stack("test"))
    out["classes"] = classes
    return out


def _pack(x: np.ndarray, y: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> dict[str, Any]:
    return {
        "train_x": torch.from_numpy(np.ascontiguousarray(x)),
        "train_y": torch.from_numpy(y),
        "test_x": torch.from_numpy(np.ascontiguousarray(tx)),
        "test_y": torch.from_numpy(ty),
        "classes": list(CLASSES),
    }


def load_cifar10(
    data_dir: Path | None,
    cache_dir: Path,
    *,
    train_subset: int | None = None,
    eval_subset: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """CIFAR-10 tensors and a description of where they came from (path, layout, cache hit)."""
    src = find_source(data_dir, CANDIDATES, "CIFAR-10", name="cifar10")
    if src.is_dir() and src.name == "cifar-10-batches-py":
        missing = [n for n in [*PICKLE_TRAIN, PICKLE_TEST] if not (src / n).is_file()]
        if missing:
            raise DataError(f"{src / missing[0]}: missing CIFAR-10 batch file")
    key = {
        "source": source_fingerprint(src),
        "train_subset": train_subset,
        "eval_subset": eval_subset,
        "v": FORMAT_VERSION,
    }
    info: dict[str, Any] = {"path": str(src)}

    def build() -> dict[str, Any]:
        tree = FileTree(src)
        try:
            layout, prefix = _layout(tree)
            info["layout"] = layout
            if layout == "pickle":
                return _load_pickles(tree, prefix, train_subset, eval_subset)
            return _load_jpeg(tree, prefix, train_subset, eval_subset)
        finally:
            tree.close()

    data, hit = cached(cache_dir, "cifar10", key, build)
    info["cache_hit"] = hit
    info.setdefault("layout", "jpeg" if "jpeg" in src.name else "pickle")
    info["train_images"] = len(data["train_y"])
    info["test_images"] = len(data["test_y"])
    return data, info


def synthetic_cifar10(n_train: int, n_test: int, seed: int = 0) -> dict[str, Any]:
    """Random images and labels of CIFAR-10's shapes: for throughput only, never accuracy."""
    g = torch.Generator().manual_seed(seed)
    return {
        "train_x": torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8, generator=g),
        "train_y": torch.randint(0, 10, (n_train,), generator=g),
        "test_x": torch.randint(0, 256, (n_test, 3, 32, 32), dtype=torch.uint8, generator=g),
        "test_y": torch.randint(0, 10, (n_test,), generator=g),
        "classes": list(CLASSES),
    }
