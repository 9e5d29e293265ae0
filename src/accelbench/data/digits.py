"""UCI handwritten digits as scikit-learn ships them: real data that needs no download.

scikit-learn bundles the test set of the UCI "optical recognition of handwritten digits" data
(Alpaydin and Kaynak, 1998; CC BY 4.0): 1,797 greyscale 8x8 images of the digits 0-9, each
pixel a count 0..16 of set pixels in a 4x4 block of the original 32x32 bitmap. So the main job
trains on real data on a fresh machine with no data directory and no network.

Split, fixed and the same on every machine: image ``i`` (in the bundled file's order) is for
validation when ``i % 5 == 4``, else for training. That gives 1,438 training and 359
validation images, every class in both at close to its share of the whole. No randomness, so no
seed or library version can move an image from one side to the other.

Images come back as ``[N, 1, 8, 8]`` uint8 (0..16) and labels as int64.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from accelbench.data.common import DataError

if TYPE_CHECKING:
    import torch

N_IMAGES = 1797  # scikit-learn's load_digits documentation: "Number of Instances: 1797"
VALIDATION_EVERY = 5
"""Image i is for validation when i % VALIDATION_EVERY == VALIDATION_EVERY - 1."""
MAX_VALUE = 16


def bundled_file() -> Path:
    """The data file inside the installed scikit-learn."""
    return Path(str(resources.files("sklearn.datasets") / "data" / "digits.csv.gz"))


def _raw() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        import sklearn
        from sklearn.datasets import load_digits
    except ImportError as exc:  # a dependency, so only a broken install gets here
        raise DataError(
            f"digits: scikit-learn is not importable ({exc}); reinstall accelbench"
        ) from None
    d = load_digits()
    return np.asarray(d.images), np.asarray(d.target), sklearn.__version__


def validation_mask(n: int) -> torch.Tensor:
    """True for the validation images of a set of ``n`` in bundled order."""
    import torch  # here: `accelbench data verify digits` needs no torch

    return torch.arange(n) % VALIDATION_EVERY == VALIDATION_EVERY - 1


def load_digits_data() -> tuple[dict[str, Any], dict[str, Any]]:
    """The digits as tensors with the fixed split, and where they came from."""
    import torch

    images, labels, version = _raw()
    problem = _problem(images, labels)
    if problem:
        raise DataError(
            f"digits: scikit-learn {version}'s bundled copy is not as expected: {problem}"
        )
    x = torch.from_numpy(images.astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    val = validation_mask(len(y))
    data = {
        "train_x": x[~val].contiguous(),
        "train_y": y[~val].contiguous(),
        "test_x": x[val].contiguous(),
        "test_y": y[val].contiguous(),
    }
    info = {
        "source": f"scikit-learn {version} bundled copy of the UCI digits",
        "path": str(bundled_file()),
        "layout": "digits",
        "split": f"validation = images with index % {VALIDATION_EVERY} == {VALIDATION_EVERY - 1}",
        "train_images": len(data["train_y"]),
        "test_images": len(data["test_y"]),
    }
    return data, info


def _problem(images: np.ndarray, labels: np.ndarray) -> str | None:
    if images.shape != (N_IMAGES, 8, 8):
        return f"images of shape {images.shape}, expected ({N_IMAGES}, 8, 8)"
    if labels.shape != (N_IMAGES,):
        return f"{labels.shape[0]} labels, expected {N_IMAGES}"
    if images.min() < 0 or images.max() > MAX_VALUE or not np.all(images == np.round(images)):
        return f"pixel values outside the integers 0..{MAX_VALUE}"
    if sorted(set(labels.tolist())) != list(range(10)):
        return "labels are not the ten digits 0..9"
    return None


def check_bundled() -> tuple[Path, list[tuple[str, str | None]]]:
    """``accelbench data verify digits``: load the bundled copy and check its shape, values and
    classes (its checksum would change with scikit-learn's packaging, its content must not).
    Returns the file and (what was checked, the problem or None) pairs."""
    path = bundled_file()
    if not path.is_file():
        return path, [("bundled data file", f"missing: {path}")]
    try:
        images, labels, _ = _raw()
    except Exception as exc:  # any failure to load is the finding
        return path, [("loads", f"{path}: {type(exc).__name__}: {exc}")]
    return path, [
        ("loads", None),
        (f"{N_IMAGES:,} 8x8 images, values 0..{MAX_VALUE}, classes 0..9", _problem(images, labels)),
    ]


def synthetic_digits(n_train: int, n_test: int, seed: int = 0) -> dict[str, Any]:
    """Random 8x8 images and labels of the digits' shapes: throughput only, never accuracy."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return {
        "train_x": torch.randint(
            0, MAX_VALUE + 1, (n_train, 1, 8, 8), dtype=torch.uint8, generator=g
        ),
        "train_y": torch.randint(0, 10, (n_train,), generator=g),
        "test_x": torch.randint(
            0, MAX_VALUE + 1, (n_test, 1, 8, 8), dtype=torch.uint8, generator=g
        ),
        "test_y": torch.randint(0, 10, (n_test,), generator=g),
    }
