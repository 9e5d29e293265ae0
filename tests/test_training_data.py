"""Dataset loaders on small files written here in each standard published layout."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from accelbench.data.cifar10 import load_cifar10
from accelbench.data.common import DataError, DataNotFound
from accelbench.data.imdb import PAD, UNK, load_imdb, tokenize


def _tar(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as t:
        t.add(src, arcname=src.name)
    return dest


def write_cifar_pickles(root: Path, per_batch: int = 6) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cifar-10-batches-py/ with data_batch_1..5 and test_batch, as the official release."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        with open(d / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels}, f)
        written[name] = (data, labels)
    return written


def write_cifar_jpegs(root: Path) -> Path:
    """cifar10-jpeg/{train,test}/<class>/NNNN.jpg with solid colours per class."""
    d = root / "cifar10-jpeg"
    colours = {"airplane": (250, 10, 10), "bird": (10, 250, 10), "cat": (10, 10, 250)}
    for split, n in (("train", 3), ("test", 2)):
        for cls, rgb in colours.items():
            (d / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), rgb).save(d / split / cls / f"{i:04d}.jpg", quality=90)
    return d


def test_cifar_pickle_batches_dir_and_targz(tmp_path: Path) -> None:
    written = write_cifar_pickles(tmp_path / "dir")
    data, info = load_cifar10(tmp_path / "dir", tmp_path / "cache")
    assert info["layout"] == "pickle" and not info["cache_hit"]
    assert data["train_x"].shape == (30, 3, 32, 32) and data["train_x"].dtype == torch.uint8
    first, labels = written["data_batch_1"]
    assert torch.equal(data["train_x"][:6].reshape(6, -1), torch.from_numpy(first))
    assert data["train_y"][:6].tolist() == labels
    assert data["test_y"].tolist() == written["test_batch"][1]
    # The same batches in the release's own archive form.
    (tmp_path / "tgz").mkdir()
    _tar(tmp_path / "dir" / "cifar-10-batches-py", tmp_path / "tgz" / "cifar-10-python.tar.gz")
    data2, info2 = load_cifar10(tmp_path / "tgz", tmp_path / "cache")
    assert torch.equal(data2["train_x"], data["train_x"]) and info2["layout"] == "pickle"
    # Subsets take the first k images.
    sub, _ = load_cifar10(tmp_path / "dir", tmp_path / "cache", train_subset=8, eval_subset=4)
    assert torch.equal(sub["train_x"], data["train_x"][:8]) and len(sub["test_y"]) == 4


def test_cifar_is_cached_and_a_changed_source_is_read_again(tmp_path: Path) -> None:
    write_cifar_pickles(tmp_path)
    _, a = load_cifar10(tmp_path, tmp_path / "cache")
    _, b = load_cifar10(tmp_path, tmp_path / "cache")
    assert (a["cache_hit"], b["cache_hit"]) == (False, True)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    st = batch.stat()
    os.utime(batch, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, c = load_cifar10(tmp_path, tmp_path / "cache")
    assert not c["cache_hit"]


@pytest.mark.parametrize("packed", [False, True])
def test_cifar_jpeg_class_folders(tmp_path: Path, packed: bool) -> None:
    d = write_cifar_jpegs(tmp_path / "src")
    root = tmp_path / "src"
    if packed:
        root = tmp_path / "tgz"
        root.mkdir()
        _tar(d, root / "cifar10-jpeg.tar.gz")
    data, info = load_cifar10(root, tmp_path / "cache")
    assert info["layout"] == "jpeg"
    assert data["classes"] == ["airplane", "bird", "cat"]  # sorted folder names
    assert data["train_x"].shape == (9, 3, 32, 32) and data["test_x"].shape == (6, 3, 32, 32)
    assert data["train_y"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # JPEG is lossy: the colour survives within a few levels.
    mean_rgb = data["train_x"][3].float().mean(dim=(1, 2))
    assert torch.allclose(mean_rgb, torch.tensor([10.0, 250.0, 10.0]), atol=8)
    sub, _ = load_cifar10(root, tmp_path / "cache", train_subset=3)
    assert sub["train_y"].tolist() == [0, 1, 2]  # ceil(3 / 3) per class


def test_cifar_missing_or_corrupt_files_are_named(tmp_path: Path) -> None:
    write_cifar_pickles(tmp_path)
    d = tmp_path / "cifar-10-batches-py"
    (d / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(tmp_path, tmp_path / "cache")
    (d / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"data_batch_3: not a CIFAR-10 pickle batch"):
        load_cifar10(tmp_path, tmp_path / "cache")
    broken = tmp_path / "b"
    broken.mkdir()
    (broken / "cifar10-jpeg.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match=r"cifar10-jpeg\.tar\.gz"):
        load_cifar10(broken, tmp_path / "cache")
    img = write_cifar_jpegs(tmp_path / "j")
    (img / "train" / "cat" / "0001.jpg").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"train/cat/0001\.jpg: not a readable image"):
        load_cifar10(tmp_path / "j", tmp_path / "cache")


def test_missing_dataset_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound) as e:
        load_cifar10(tmp_path, tmp_path / "cache")
    assert str(tmp_path / "cifar-10-batches-py") in str(e.value) and "--data-dir" in str(e.value)
    with pytest.raises(DataNotFound, match="--data-dir"):
        load_imdb(None, tmp_path / "cache")


REVIEWS = {
    ("train", "pos"): ["A great, great film!<br /><br />Loved it.", "Wonderful acting."],
    ("train", "neg"): ["Awful. Boring plot.", "a bad, bad movie"],
    ("test", "pos"): ["Great fun, zyzzyva everywhere"],
    ("test", "neg"): ["bad and boring"],
}


def write_imdb(root: Path) -> Path:
    d = root / "aclImdb"
    for (split, label), texts in REVIEWS.items():
        (d / split / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (d / split / label / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(t)
    (d / "imdb.vocab").write_text("the\n")
    return d


def test_tokenize_drops_tags_and_lowercases() -> None:
    assert tokenize("A great<br />film, isn't it?") == [
        "a",
        "great",
        "film",
        ",",
        "isn't",
        "it",
        "?",
    ]


@pytest.mark.parametrize("packed", [False, True])
def test_imdb_acl_layout_vocab_from_train_only(tmp_path: Path, packed: bool) -> None:
    d = write_imdb(tmp_path / "src")
    root = tmp_path / "src"
    if packed:
        root = tmp_path / "tgz"
        root.mkdir()
        _tar(d, root / "aclImdb.tar.gz")
    data, info = load_imdb(root, tmp_path / "cache", vocab_size=100, max_len=5)
    assert info["train_reviews"] == 4 and info["test_reviews"] == 2
    assert data["train_y"].tolist() == [0, 0, 1, 1]  # neg then pos, file-name order
    assert data["train_x"].shape == (4, 5)
    assert data["train_len"].max() <= 5  # truncated to max_len
    # "Great fun, zyzzyva everywhere": only 'great' and ',' occur in the train split; the
    # words seen only in the test split are unknown, never in the vocabulary.
    test_pos = data["test_x"][1].tolist()
    assert [t == UNK for t in test_pos] == [False, True, False, True, True]
    assert test_pos[0] in data["train_x"][2].tolist()  # same id as 'great' in training
    # "bad and boring": 'and' is not in the train split either -> UNK; padded after 3 tokens.
    assert data["test_x"][0].tolist()[1] == UNK and data["test_x"][0].tolist()[3:] == [PAD, PAD]


def test_imdb_missing_folder_and_corrupt_review_are_named(tmp_path: Path) -> None:
    d = write_imdb(tmp_path)
    for f in (d / "test" / "neg").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"test/neg"):
        load_imdb(tmp_path, tmp_path / "cache")
    (d / "test" / "neg" / "0_1.txt").write_bytes(b"\xff\xfe\xfa bad bytes")
    with pytest.raises(DataError, match=r"0_1\.txt: not UTF-8"):
        load_imdb(tmp_path, tmp_path / "cache")
