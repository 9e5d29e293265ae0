"""CIFAR-10 at 224x224 made on the device, checked against pillow on the real CIFAR-10 JPEGs."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from accelbench.data.cifar10 import CLASSES, MEAN, STD, load_cifar10, synthetic_cifar10
from accelbench.data.cifar224 import Cifar224Task, upscale, upscale_batches
from accelbench.data.topk import evaluate_topk
from accelbench.training.recipes.resnet56_cifar10 import CifarTask
from accelbench.training.task import top1
from tests.test_imagenet import _ctx, shared_data

PER_CLASS = 2


@pytest.fixture(scope="module")
def real_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first two train and test JPEGs of each class from the real CIFAR-10 archive, in its
    own layout (one streaming pass over the archive, no full unpack)."""
    data = shared_data()
    if data is None:
        pytest.skip("real CIFAR-10 JPEGs (shared/data/cifar10-jpeg.tar.gz) not present")
    root = tmp_path_factory.mktemp("cifar") / "cifar10-jpeg"
    need = {(s, c): PER_CLASS for s in ("train", "test") for c in CLASSES}
    with tarfile.open(data / "cifar10-jpeg.tar.gz", "r|gz") as t:
        for m in t:
            parts = m.name.split("/")
            key = (parts[1], parts[2]) if m.isfile() and len(parts) == 4 else None
            if key not in need or need[key] == 0:
                continue
            f = t.extractfile(m)
            assert f is not None
            dest = root / parts[1] / parts[2] / parts[3]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.read())
            need[key] -= 1
            if not any(need.values()):
                break
    assert not any(need.values())
    return root


def _pillow_224(path: Path) -> torch.Tensor:
    """Independent reference: pillow's bilinear resize of the JPEG, normalised, NCHW."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).float()
    return (x - torch.tensor(MEAN).view(3, 1, 1) * 255) / (torch.tensor(STD).view(3, 1, 1) * 255)


def test_real_cifar10_jpegs_upscaled_on_the_device_match_pillow(
    real_cifar: Path, tmp_path: Path
) -> None:
    data, info = load_cifar10(real_cifar, tmp_path / "cache")
    assert info["layout"] == "jpeg" and info["test_images"] == 10 * PER_CLASS
    base = CifarTask(data, torch.device("cpu"), batch_size=10, seed=0, dtype=torch.float32)
    task = Cifar224Task(base, eval_batch_size=8)
    batches = list(task.eval_batches())
    assert [len(y) for _, y in batches] == [8, 8, 4]  # one base batch of 20, split for memory
    x = torch.cat([b[0][0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert x.shape == (20, 3, 224, 224) and x.is_contiguous(memory_format=torch.channels_last)
    # The loader's order: classes sorted, files sorted within a class.
    files = [sorted((real_cifar / "test" / c).iterdir())[:PER_CLASS] for c in CLASSES]
    ref = torch.stack([_pillow_224(f) for fs in files for f in fs])
    assert y.tolist() == [i for i in range(10) for _ in range(PER_CLASS)]
    raw = (x - ref).abs() * (torch.tensor(STD).view(1, 3, 1, 1) * 255)  # in 0..255 units
    assert raw.max() <= 1.0 and raw.mean() < 0.5  # pillow rounds to 8 bits; nothing else differs
    # align_corners=True (a common slip) would be far off:
    wrong = torch.nn.functional.interpolate(
        base._norm(base.tx[:8]), size=(224, 224), mode="bilinear", align_corners=True
    )
    assert ((wrong - ref[:8]).abs() * (torch.tensor(STD).view(1, 3, 1, 1) * 255)).max() > 5


def test_training_batches_are_the_32px_augmentation_upscaled(
    real_cifar: Path, tmp_path: Path
) -> None:
    data, _ = load_cifar10(real_cifar, tmp_path / "cache")
    base = CifarTask(data, torch.device("cpu"), batch_size=8, seed=3, dtype=torch.bfloat16)
    task = Cifar224Task(base)
    assert (task.steps, task.n_train, task.quality) == (base.steps, base.n_train, base.quality)
    assert task.quality.chance == 10.0
    ours = list(task.train_batches(2))
    theirs = list(base.train_batches(2))
    assert len(ours) == len(theirs) == 2
    for ((x,), y), ((x32,), y32) in zip(ours, theirs, strict=True):
        assert x.shape == (8, 3, 224, 224) and x.dtype == torch.bfloat16
        assert x.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(y, y32) and torch.equal(x, upscale(x32))
    # Augmented: not the plain upscale of the same images.
    plain = upscale(base._norm(base.x[: len(ours[0][1])]))
    assert not torch.equal(ours[0][0][0].float(), plain.float())


def test_synthetic_mode_upscales_random_images() -> None:
    data = synthetic_cifar10(16, 8, seed=1)
    base = CifarTask(data, torch.device("cpu"), batch_size=8, seed=0, dtype=torch.float32)
    task = Cifar224Task(base, size=64)
    (x,), y = next(iter(task.train_batches(1)))
    assert x.shape == (8, 3, 64, 64) and torch.isfinite(x).all() and y.shape == (8,)


def test_upscale_keeps_extra_inputs_and_splits_big_batches() -> None:
    x = torch.randn(5, 3, 4, 4)
    lengths = torch.arange(5)
    out = list(upscale_batches([((x, lengths), torch.arange(5))], size=8, max_batch=2))
    assert [len(y) for _, y in out] == [2, 2, 1]
    assert [b[0][1].tolist() for b in out] == [[0, 1], [2, 3], [4]]
    assert out[0][0][0].shape == (2, 3, 8, 8) and not out[0][0][0].is_contiguous(
        memory_format=torch.channels_last
    )


def test_top1_top5_and_evaluate_in_eval_mode() -> None:
    # 10 classes; image i's true class ranks i-th in its logits, so top-1 holds image 0 and
    # top-5 images 0..4.
    y = torch.arange(10)
    logits = torch.zeros(10, 10)
    for i in range(10):
        order = [c for c in range(10) if c != i]
        order.insert(i, i)
        logits[i, order] = torch.arange(10, 0, -1, dtype=torch.float32)
    spec = top1(10)
    model = torch.nn.Identity()
    q = evaluate_topk(_ctx(model), [((logits,), y)], spec)
    assert q.value == pytest.approx(10.0) and q.secondary["top5"] == pytest.approx(50.0)
    assert q.secondary["val_samples"] == 10.0 and q.spec is spec
    ce = torch.nn.functional.cross_entropy(logits, y).item()
    assert q.secondary["val_loss"] == pytest.approx(ce)
    with pytest.raises(ValueError, match="no evaluation images"):
        evaluate_topk(_ctx(model), [], spec)

    data = synthetic_cifar10(8, 20, seed=2)
    base = CifarTask(data, torch.device("cpu"), batch_size=4, seed=0, dtype=torch.float32)
    task = Cifar224Task(base, size=32)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).train()

    def always_class_0(x: torch.Tensor) -> torch.Tensor:
        assert not net.training
        return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()

    q = task.evaluate(_ctx(net, always_class_0))
    assert q.value == pytest.approx(100.0 * (data["test_y"] == 0).float().mean().item())
    assert net.training
