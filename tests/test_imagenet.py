"""ImageNet in its published layouts, the image input pipeline and its measurement, on small
trees of real JPEGs written here."""

from __future__ import annotations

import contextlib
import math
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from accelbench.data.common import DataError, DataNotFound
from accelbench.data.image_loader import (
    CorruptLog,
    DeviceBatches,
    EpochSampler,
    ImageFileDataset,
    LoaderSettings,
    collate,
    generate_jpegs,
    measure_pipeline,
)
from accelbench.data.imagenet import (
    ImageNetTask,
    SyntheticImageTask,
    index_imagenet,
)
from accelbench.data.transforms import (
    TransformSpec,
    eval_box,
    load_image,
    random_resized_crop_box,
)

# The first three WordNet ids in sorted order (tench, goldfish, great white shark): labels 0..2.
WNIDS = ["n01440764", "n01443537", "n01484850"]
COLOURS = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
# The devkit numbers its synsets in its own order, not sorted by WNID; the labels must not
# follow it. A non-leaf synset is in meta.mat too.
DEVKIT_IDS = {1: WNIDS[2], 2: WNIDS[0], 3: WNIDS[1], 4: "n00001740"}
# Validation image number -> class index: interleaved, so file order is not class order.
VAL_CLASS = {1: 2, 2: 0, 3: 1, 4: 1, 5: 0, 6: 2}


def _jpeg(path: Path, cls: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> None:
    """A real JPEG whose dominant colour says its class (so a decoded batch shows whether the
    labels travel with their images)."""
    rng = np.random.default_rng(seed)
    arr = np.empty((size[1], size[0], 3), np.int16)
    arr[:] = COLOURS[cls]
    arr += rng.integers(-20, 21, arr.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def _meta_mat(path: Path) -> None:
    fields = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    arr = np.zeros((len(DEVKIT_IDS), 1), dtype=fields)
    for i, (ilsvrc_id, wnid) in enumerate(DEVKIT_IDS.items()):
        arr[i, 0] = (
            np.array([[ilsvrc_id]], np.uint16),
            np.array([wnid]),
            np.array([f"words {wnid}"]),
            np.array([[0 if ilsvrc_id <= 3 else 3]], np.uint8),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"synsets": arr})


def write_imagenet(root: Path, val: str, n_train: int = 3) -> Path:
    """``root/train/<wnid>/<wnid>_N.JPEG`` and the validation set in layout ``val``:
    "folders", "devkit" (flat + ILSVRC2012_devkit_t12/), "devkit-tar" (flat + the devkit as its
    .tar.gz), or "kaggle" (flat + LOC_val_solution.csv)."""
    for c, wnid in enumerate(WNIDS):
        for i in range(n_train):
            _jpeg(root / "train" / wnid / f"{wnid}_{i + 1}.JPEG", c, seed=10 * c + i)
    for num, c in VAL_CLASS.items():
        name = f"ILSVRC2012_val_{num:08d}.JPEG"
        where = root / "val" / WNIDS[c] / name if val == "folders" else root / "val" / name
        _jpeg(where, c, size=(80, 60), seed=100 + num)
    if val in ("devkit", "devkit-tar"):
        dk = root / "ILSVRC2012_devkit_t12"
        wnid_to_id = {w: i for i, w in DEVKIT_IDS.items()}
        gt = "".join(f"{wnid_to_id[WNIDS[VAL_CLASS[n]]]}\n" for n in sorted(VAL_CLASS))
        (dk / "data").mkdir(parents=True)
        (dk / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(gt)
        _meta_mat(dk / "data" / "meta.mat")
        if val == "devkit-tar":
            with tarfile.open(root / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as t:
                t.add(dk, arcname=dk.name)
            import shutil

            shutil.rmtree(dk)
    if val == "kaggle":
        rows = ["ImageId,PredictionString"]
        for n in sorted(VAL_CLASS):
            w = WNIDS[VAL_CLASS[n]]
            rows.append(f"ILSVRC2012_val_{n:08d},{w} 10 12 60 50 {w} 1 2 30 40 ")
        (root / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    return root


def _val_labels(root: Path, **kw: Any) -> dict[str, int]:
    idx = index_imagenet(root, **kw)
    return {Path(p).name: y for p, y in zip(idx.val_paths, idx.val_labels, strict=True)}


# -- layouts -------------------------------------------------------------------------------------
def test_every_validation_layout_gives_the_same_labels(tmp_path: Path) -> None:
    expected = {f"ILSVRC2012_val_{n:08d}.JPEG": c for n, c in VAL_CLASS.items()}
    seen = {}
    for layout in ("folders", "devkit", "devkit-tar", "kaggle"):
        root = write_imagenet(tmp_path / layout, layout)
        idx = index_imagenet(root)
        assert idx.classes == WNIDS
        assert idx.train_labels == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        seen[layout] = _val_labels(root)
        assert seen[layout] == expected, layout
    assert "devkit" in index_imagenet(tmp_path / "devkit").val_layout
    assert "Kaggle" in index_imagenet(tmp_path / "kaggle").val_layout


def test_devkit_and_kaggle_together_are_cross_checked(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "both", "devkit")
    kaggle = write_imagenet(tmp_path / "k", "kaggle")
    (root / "LOC_val_solution.csv").write_text((kaggle / "LOC_val_solution.csv").read_text())
    idx = index_imagenet(root)
    assert len(idx.label_sources) == 2
    text = (root / "LOC_val_solution.csv").read_text()
    (root / "LOC_val_solution.csv").write_text(
        text.replace(f"ILSVRC2012_val_00000002,{WNIDS[0]}", f"ILSVRC2012_val_00000002,{WNIDS[1]}")
    )
    with pytest.raises(DataError, match=r"ILSVRC2012_val_00000002\.JPEG: the devkit says"):
        index_imagenet(root)


def test_kaggle_directory_layout_is_found_from_its_top(tmp_path: Path) -> None:
    top = tmp_path / "imagenet-object-localization-challenge"
    write_imagenet(top / "ILSVRC" / "Data" / "CLS-LOC", "folders")
    (top / "ILSVRC" / "Data" / "CLS-LOC" / "val").rename(tmp_path / "val-folders")
    flat = write_imagenet(tmp_path / "flat", "kaggle")
    (flat / "val").rename(top / "ILSVRC" / "Data" / "CLS-LOC" / "val")
    (flat / "LOC_val_solution.csv").rename(top / "LOC_val_solution.csv")
    idx = index_imagenet(tmp_path)
    assert idx.root == top / "ILSVRC" / "Data" / "CLS-LOC"
    assert _val_labels(tmp_path) == {
        f"ILSVRC2012_val_{n:08d}.JPEG": c for n, c in VAL_CLASS.items()
    }


def test_a_class_missing_from_val_is_named(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "f", "folders")
    for f in (root / "val" / WNIDS[1]).iterdir():
        f.unlink()
    (root / "val" / WNIDS[1]).rmdir()
    with pytest.raises(DataError, match=rf"no validation images for class\(es\) {WNIDS[1]} "):
        index_imagenet(root)
    flat = write_imagenet(tmp_path / "k", "kaggle")
    for n, c in VAL_CLASS.items():
        if c == 2:
            (flat / "val" / f"ILSVRC2012_val_{n:08d}.JPEG").unlink()
    with pytest.raises(DataError, match=rf"/val: no validation images for class\(es\) {WNIDS[2]}"):
        index_imagenet(flat)


def test_layout_errors_name_the_file_or_folder(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match=r"image-net\.org"):
        index_imagenet(tmp_path / "none")
    with pytest.raises(DataNotFound, match="--data-dir"):
        index_imagenet(None)
    root = write_imagenet(tmp_path / "extra", "folders")
    _jpeg(root / "val" / "n09999999" / "ILSVRC2012_val_00000009.JPEG", 0)
    with pytest.raises(DataError, match=r"n09999999 have no folder in train/"):
        index_imagenet(root)
    flat = write_imagenet(tmp_path / "nolabels", "kaggle")
    (flat / "LOC_val_solution.csv").unlink()
    with pytest.raises(DataError, match=r"/val: flat validation images need their labels"):
        index_imagenet(flat)
    dk = write_imagenet(tmp_path / "badmeta", "devkit")
    (dk / "ILSVRC2012_devkit_t12" / "data" / "meta.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match=r"meta\.mat: not the devkit's meta\.mat"):
        index_imagenet(dk)
    odd = write_imagenet(tmp_path / "odd", "kaggle")
    _jpeg(odd / "val" / "holiday.JPEG", 0)
    with pytest.raises(DataError, match=r"val/holiday\.JPEG: a flat validation folder must"):
        index_imagenet(odd)
    empty = write_imagenet(tmp_path / "empty", "folders")
    for f in (empty / "train" / WNIDS[0]).iterdir():
        f.unlink()
    with pytest.raises(DataError, match=rf"train/{WNIDS[0]}: class folder holds no images"):
        index_imagenet(empty)


def test_subsets_take_the_first_files_of_each_class_in_every_layout(tmp_path: Path) -> None:
    a = index_imagenet(write_imagenet(tmp_path / "f", "folders"), train_subset=3, eval_subset=3)
    b = index_imagenet(write_imagenet(tmp_path / "k", "kaggle"), train_subset=3, eval_subset=3)
    assert a.train_paths == [f"train/{w}/{w}_1.JPEG" for w in WNIDS] == b.train_paths
    assert [Path(p).name for p in a.val_paths] == [Path(p).name for p in b.val_paths]
    assert a.val_labels == b.val_labels == [0, 1, 2]


# -- transforms ----------------------------------------------------------------------------------
def test_random_resized_crop_boxes_respect_scale_and_ratio() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        left, top, w, h = random_resized_crop_box(500, 375, rng)
        assert left >= 0 and left + w <= 500 and top >= 0 and top + h <= 375
        area = w * h / (500 * 375)
        assert 0.07 < area <= 1.0
        assert 3 / 4 - 0.02 < w / h < 4 / 3 + 0.02
    # An image too thin for any crop in range falls back to the centred, clamped crop.
    assert random_resized_crop_box(1000, 10, rng, scale=(0.99, 1.0)) == (493, 0, 13, 10)


def test_eval_box_is_resize_256_then_centre_224() -> None:
    # 500x375 -> 341x256 (longer side truncated), centre 224: left round(58.5)=58 (banker's),
    # top 16; back in source pixels divide by 256/375.
    left, top, right, bottom = eval_box(500, 375, 256, 224)
    s = 256 / 375
    assert left == pytest.approx(58 / (341 / 500)) and top == pytest.approx(16 / s)
    assert right - left == pytest.approx(224 / (341 / 500))
    assert bottom - top == pytest.approx(224 / s)


def test_decoded_crop_matches_resize_then_crop(tmp_path: Path) -> None:
    """One resize from the source box equals pillow's resize-256 then centre-crop-224."""
    p = tmp_path / "a.JPEG"
    generate_jpegs(tmp_path / "g", 1, width=500, height=375)
    src = next((tmp_path / "g").rglob("*.JPEG"))
    src.rename(p)
    ours = load_image(p, TransformSpec(train=False, draft=False), np.random.default_rng(0))
    with Image.open(p) as im:
        two_step = im.convert("RGB").resize((341, 256), Image.Resampling.BILINEAR)
        ref = np.asarray(two_step.crop((58, 16, 58 + 224, 16 + 224)))
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert ours.shape == (224, 224, 3) and diff.mean() < 1.0 and diff.max() <= 6
    drafted = load_image(p, TransformSpec(train=False, draft=True), np.random.default_rng(0))
    assert np.abs(drafted.astype(int) - ours.astype(int)).mean() < 3.0


def test_training_transform_is_a_function_of_the_seed(tmp_path: Path) -> None:
    paths, _ = generate_jpegs(tmp_path, 1, width=200, height=150)
    spec = TransformSpec(train=True, size=32)
    a = load_image(tmp_path / paths[0], spec, np.random.default_rng([0, 1, 7]))
    b = load_image(tmp_path / paths[0], spec, np.random.default_rng([0, 1, 7]))
    c = load_image(tmp_path / paths[0], spec, np.random.default_rng([0, 2, 7]))
    assert a.shape == (32, 32, 3) and np.array_equal(a, b) and not np.array_equal(a, c)


# -- the loader -----------------------------------------------------------------------------------
def _task(root: Path, workers: int = 0, **kw: Any) -> ImageNetTask:
    settings_kw = {k: kw.pop(k) for k in ("on_corrupt", "normalize", "batch_size") if k in kw}
    settings = LoaderSettings(workers=workers, **{"batch_size": 4, **settings_kw})
    return ImageNetTask(
        index_imagenet(root), torch.device("cpu"), settings, image_size=32, eval_resize=36, **kw
    )


def _colour_class(x: torch.Tensor) -> list[int]:
    """Class of each normalised NCHW image by its dominant channel."""
    return x.float().mean(dim=(2, 3)).argmax(dim=1).tolist()


def test_task_batches_are_normalised_channels_last_and_labelled(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "k", "kaggle")
    task = _task(root, workers=0)
    assert (task.steps, task.n_train) == (2, 8)
    assert task.quality.metric == "top1" and task.quality.chance == pytest.approx(100 / 3)
    batches = list(task.train_batches(1))
    assert len(batches) == 2
    for (x,), y in batches:
        assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
        assert x.is_contiguous(memory_format=torch.channels_last)
        assert _colour_class(x) == y.tolist()
    evals = list(task.eval_batches())
    assert sum(len(y) for _, y in evals) == 6
    for (x,), y in evals:
        assert _colour_class(x) == y.tolist()
    # Normalised with ImageNet statistics: a pure-red pixel's red channel is (220/255-0.485)/0.229.
    red = evals[0][0][0][evals[0][1] == 0]
    if len(red):
        assert red[:, 0].mean().item() == pytest.approx((220 / 255 - 0.485) / 0.229, abs=0.3)
    info = task.describe()
    assert info["loader"]["workers"] == 0 and info["jpeg_draft_decode"] is True
    assert info["corrupt"] == {"policy": "skip", "skipped": 0, "files": []}
    assert "random-resized crop 32x32" in info["train_transform"]


def test_augmentation_does_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "f", "folders")
    a = [(x.clone(), y.clone()) for (x,), y in _task(root, workers=0).train_batches(3)]
    t2 = _task(root, workers=2)
    b = [(x, y) for (x,), y in t2.train_batches(3)]
    assert len(a) == len(b) == 2
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
    other = [y for _, y in t2.train_batches(4)]
    assert [y.tolist() for _, y in a] != [y.tolist() for y in other]  # a new epoch reshuffles


def test_normalising_in_the_workers_gives_the_same_batches(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "f", "folders")
    dev = [x for (x,), _ in _task(root).eval_batches()]
    wrk = [x for (x,), _ in _task(root, normalize="worker").eval_batches()]
    for a, b in zip(dev, wrk, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_corrupt_jpeg_is_skipped_counted_and_named_or_an_error(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "f", "folders", n_train=4)
    good = (root / "train" / WNIDS[1] / f"{WNIDS[1]}_1.JPEG").read_bytes()
    bad = root / "train" / WNIDS[1] / f"{WNIDS[1]}_2.JPEG"
    bad.write_bytes(good[: len(good) // 3])  # truncated mid-scan
    (root / "train" / WNIDS[2] / f"{WNIDS[2]}_9.JPEG").write_bytes(b"this is not a JPEG")
    task = _task(root, workers=1)
    seen = sum(len(y) for _, y in task.train_batches(1))
    assert seen == task.n_train - 2 == 10
    c = task.describe()["corrupt"]
    assert c["skipped"] == 2 and c["policy"] == "skip"
    named = {Path(f["path"]).name: f["reason"] for f in c["files"]}
    assert set(named) == {bad.name, f"{WNIDS[2]}_9.JPEG"}
    assert "UnidentifiedImageError" in named[f"{WNIDS[2]}_9.JPEG"]
    strict = _task(root, workers=1, on_corrupt="error")
    with pytest.raises(DataError, match=r"_(2|9)\.JPEG: not a decodable image") as e:
        list(strict.train_batches(1))
    assert "\n" not in str(e.value)


def test_a_batch_of_only_corrupt_files_is_dropped() -> None:
    from accelbench.data.image_loader import Corrupt

    x, y, bad = collate([(None, 0, Corrupt("a.JPEG", "OSError: truncated"))])
    assert len(y) == 0 and len(bad) == 1
    log = CorruptLog("skip")

    class Loader:
        def __iter__(self) -> Any:
            yield x, y, bad
            yield torch.zeros(1, 4, 4, 3, dtype=torch.uint8), torch.tensor([1]), []

    db = DeviceBatches(Loader(), torch.device("cpu"), corrupt=log)  # type: ignore[arg-type]
    out = list(db)
    assert len(out) == 1 and db.images == 1 and log.count == 1


def _ctx(model: torch.nn.Module, forward: Any = None) -> Any:
    from accelbench.training.task import EvalContext

    return EvalContext(
        model=model,
        forward=forward or model,
        autocast=contextlib.nullcontext,
        cast_inputs=lambda inputs: inputs,
        device=torch.device("cpu"),
    )


def test_evaluate_reports_top1_top5_and_restores_train_mode(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "f", "folders")
    task = _task(root)

    class ColourNet(torch.nn.Module):
        """Predicts the dominant channel: right on every image of this tree."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert not self.training
            return x.mean(dim=(2, 3))

    model = ColourNet().train()
    q = task.evaluate(_ctx(model))
    assert (q.spec.metric, q.value, q.spec.unit, q.spec.higher_is_better) == (
        "top1",
        100.0,
        "%",
        True,
    )
    assert q.secondary["top5"] == 100.0 and q.secondary["val_samples"] == 6.0
    assert q.secondary["val_loss"] > 0
    assert model.training
    worst = task.evaluate(_ctx(model, lambda x: -x.mean(dim=(2, 3))))
    assert worst.value == 0.0 and worst.spec.chance == pytest.approx(100 / 3)


def test_synthetic_task_says_it_measures_throughput_only() -> None:
    t = SyntheticImageTask(torch.device("cpu"), n_train=10, batch_size=4, image_size=16, pool=2)
    batches = list(t.train_batches(1))
    assert t.steps == 2 and t.n_train == 8 and len(batches) == 2
    assert batches[0][0][0].shape == (4, 3, 16, 16) and batches[0][1].max() < 1000
    assert "no accuracy" in t.describe()["note"]
    assert t.quality.chance == pytest.approx(0.1)
    with pytest.raises(RuntimeError, match="throughput only"):
        t.evaluate(_ctx(torch.nn.Identity()))


# -- the pipeline measured on its own -----------------------------------------------------------
def test_measure_pipeline_counts_images_per_window(tmp_path: Path) -> None:
    paths, labels = generate_jpegs(tmp_path, 12, width=64, height=48, classes=3)
    ds = ImageFileDataset(tmp_path, paths, labels, TransformSpec(train=True, size=16))
    ticks = iter(float(i) for i in range(1000))
    m = measure_pipeline(
        ds,
        LoaderSettings(workers=0, batch_size=4),
        windows=3,
        batches_per_window=2,
        warmup_batches=1,
        clock=lambda: next(ticks),
    )
    # Fake clock: one tick per reading, so each window takes exactly 1 "second" for 8 images.
    assert m.images_per_s == [8.0, 8.0, 8.0] and m.window_images == [8, 8, 8]
    assert m.startup_s == 1.0 and not m.to_device
    real = measure_pipeline(
        ds, LoaderSettings(workers=1, batch_size=4), windows=2, batches_per_window=1,
        device=torch.device("cpu"), sync=lambda: None,
    )  # fmt: skip
    assert len(real.images_per_s) == 2 and all(r > 0 for r in real.images_per_s)
    assert real.to_device and real.window_images == [4, 4]


def test_epoch_sampler_cycles_and_reshuffles() -> None:
    s = EpochSampler(4, shuffle=True, seed=1, cycle=True)
    it = iter(s)
    first = [next(it) for _ in range(8)]
    assert [e for e, _ in first] == [1] * 4 + [2] * 4
    assert sorted(i for _, i in first[:4]) == [0, 1, 2, 3]
    assert [i for _, i in first[:4]] != [i for _, i in first[4:]]


def test_input_pipeline_workload_on_an_imagenet_tree(tmp_path: Path) -> None:
    from accelbench.devices.cpu import CpuDevice
    from accelbench.timing.settings import MeasureSettings
    from accelbench.workloads import WORKLOADS, RunContext

    root = write_imagenet(tmp_path / "data" / "imagenet", "devkit")
    wl = WORKLOADS.get("input-pipeline").from_dict(
        {
            "source": "imagenet",
            "split": "val",
            "workers": [0, 1],
            "batch_size": 2,
            "image_size": 24,
            "eval_resize": 28,
            "warmup_batches": 1,
            "batches_per_window": 1,
            "windows": 2,
        }
    )
    assert [c["workers"] for c in wl.cases()] == [0, 1]
    dev = CpuDevice()
    ctx = RunContext(dev, dev.info(), MeasureSettings(), data_dir=tmp_path / "data")
    out = wl.run_case(wl.cases()[1], ctx)
    m = {k: v.value for k, v in out.metrics.items()}
    assert m["images_per_s"] > 0 and m["images_timed"] == 4 and m["corrupt_skipped"] == 0
    assert out.config["data"]["path"] == str(root) and "devkit" in out.config["data"]["layout"]
    assert out.config["loader"]["workers"] == 1 and out.config["loader"]["pinned_memory"] is False
    assert "host CPU" in out.config["loader"]["pinned_memory_reason"]
    assert [w["images"] for w in out.config["windows"]] == [2, 2]
    missing = RunContext(dev, dev.info(), MeasureSettings(), data_dir=tmp_path / "nothing")
    with pytest.raises(DataNotFound, match=str(tmp_path / "nothing")):
        wl.run_case(wl.cases()[0], missing)


def shared_data() -> Path | None:
    """The real datasets folder: $ACCELBENCH_DATA_DIR, or ``shared/data`` beside the checkout
    (or beside the folder of worktrees); None when absent (a fresh clone)."""
    repo = Path(__file__).resolve().parents[1]
    env = os.environ.get("ACCELBENCH_DATA_DIR")
    for d in ([Path(env)] if env else []) + [repo.parent / "shared" / "data",
                                               repo.parent.parent / "shared" / "data"]:  # fmt: skip
        if (d / "cifar10-jpeg.tar.gz").is_file():
            return d
    return None


@pytest.mark.slow  # unpacks the 60,000 CIFAR-10 JPEGs once (about 20 s on 2 cores)
def test_input_pipeline_on_real_cifar10_jpegs(tmp_path: Path) -> None:
    data = shared_data()
    if data is None:
        pytest.skip("real CIFAR-10 JPEGs (shared/data/cifar10-jpeg.tar.gz) not present")
    from accelbench.devices.cpu import CpuDevice
    from accelbench.timing.settings import MeasureSettings
    from accelbench.workloads import WORKLOADS, RunContext

    wl = WORKLOADS.get("input-pipeline").from_dict(
        {
            "source": "cifar10-jpeg",
            "workers": [0],
            "batch_size": 8,
            "subset": 40,
            "warmup_batches": 1,
            "batches_per_window": 1,
            "windows": 2,
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    dev = CpuDevice()
    out = wl.run_case(wl.cases()[0], RunContext(dev, dev.info(), MeasureSettings(), data_dir=data))
    assert out.metrics["images_per_s"].value > 0
    assert out.config["data"]["images_available"] == 40


# -- plugged into the trainer --------------------------------------------------------------------
def _train_spec(load_task: Any, build_model: Any, classes: int, max_epochs: int = 2) -> Any:
    from accelbench.training.precision import PrecisionPlan
    from accelbench.training.trainer import TrainSpec

    torch.manual_seed(0)
    return TrainSpec(
        load_task=load_task,
        build_model=build_model,
        make_optimizer=lambda params, steps: (torch.optim.SGD(params, lr=0.05), lambda s: 0.05),
        loss_fn=lambda out, y: torch.nn.functional.cross_entropy(out.float(), y),
        plan=PrecisionPlan("fp32", "cpu"),
        max_epochs=max_epochs,
        threshold=100.0,
    )


def test_imagenet_task_runs_under_todays_trainer(tmp_path: Path) -> None:
    from accelbench.devices.fake import FakeDevice
    from accelbench.training.trainer import run_training

    root = write_imagenet(tmp_path / "f", "devkit-tar")

    def tiny() -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(4, 3),
        )  # fmt: skip

    out = run_training(_train_spec(lambda: _task(root, workers=1), tiny, 3), FakeDevice())
    assert [r.epoch for r in out.trace] == [1, 2] or out.config["reached_threshold"]
    assert all(r.metric is not None and r.metric_name == "top1" for r in out.trace)
    assert "top5" in out.trace[0].secondary
    assert out.trace[0].steps == 2 and (out.trace[0].samples_per_s or 0) > 0
    assert out.trace[0].data_wait_s is not None


@pytest.mark.slow  # ResNet-50 forward and backward on 2 cores
def test_resnet50_trains_a_step_on_imagenet_files(tmp_path: Path) -> None:
    from accelbench.devices.fake import FakeDevice
    from accelbench.models.resnet50 import resnet50
    from accelbench.training.trainer import run_training

    root = write_imagenet(tmp_path / "f", "folders")
    out = run_training(
        _train_spec(
            lambda: _task(root, workers=1, channels_last=True),
            lambda: resnet50(3, zero_init_residual=True, channels_last=True),
            3,
            max_epochs=1,
        ),
        FakeDevice(),
    )
    assert out.trace[0].steps == 2 and math.isfinite(out.trace[0].train_loss or math.nan)


def test_input_pipeline_results_are_stored_and_ranked_by_images_per_s(tmp_path: Path) -> None:
    from accelbench.analysis.metrics import primary_metric
    from accelbench.api import run_suite
    from accelbench.config import validate_suite
    from accelbench.devices.cpu import CpuDevice

    params = {
        "source": "generated",
        "generated_images": 8,
        "generated_width": 50,
        "generated_height": 40,
        "workers": [0, 1],
        "batch_size": 4,
        "image_size": 16,
        "warmup_batches": 1,
        "batches_per_window": 1,
        "windows": 2,
    }
    suite = validate_suite(
        {"name": "p", "workloads": [{"name": "p", "kind": "input-pipeline", "params": params}]},
        "test",
    )
    rep = run_suite(suite, device=CpuDevice(), db=tmp_path / "r.db", power=False)
    assert [r.status.value for r in rep.results] == ["ok", "ok"]
    r = rep.results[1]
    assert r.case["workers"] == 1 and r.metric("images_per_s") > 0
    assert "decode throughput only" in (r.message or "")
    assert r.config["data"]["mean_file_bytes"] > 0
    assert primary_metric("input-pipeline").name == "images_per_s"


def test_pinning_is_chosen_by_the_device_and_says_why_not() -> None:
    from accelbench.data.image_loader import pin_choice
    from accelbench.devices.fake import FakeDevice

    assert pin_choice(torch.device("cpu"))[0] is False
    assert "host CPU" in (pin_choice(FakeDevice())[1] or "")

    class Accelerator:
        """A device layer entry for an accelerator that cannot pin."""

        torch_device = torch.device("meta")

        def pinned_memory_support(self) -> tuple[bool, str | None]:
            return False, "this accelerator has no page-locked host memory"

    assert pin_choice(Accelerator()) == (False, "this accelerator has no page-locked host memory")
    if not torch.accelerator.is_available():
        ok, why = pin_choice(torch.device("cuda"))
        assert not ok and "torch.accelerator" in (why or "")
