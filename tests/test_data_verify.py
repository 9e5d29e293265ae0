"""Checking datasets on disk: the publisher's files by checksum, other packagings by content,
every missing or corrupt file named; the registry itself; the `accelbench data` commands."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from test_data_fetch import SHARED, blob, dataset, remote

from accelbench.cli import main
from accelbench.data import cifar10, imdb, registry
from accelbench.data.registry import Aligned, Count, Dataset, FileCheck, Form, Rows
from accelbench.data.verify import count_matches, verify_content, verify_dataset


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# -- checksum: the publisher's files --------------------------------------------------------------
def test_publishers_files_with_one_missing_and_one_corrupt_are_both_named(tmp_path: Path) -> None:
    files = {n: blob(2000 + i, i) for i, n in enumerate(("a.gz", "b.gz", "c.gz"))}
    ds = dataset("tri", *(remote(n, d) for n, d in files.items()), folder="tri")
    (tmp_path / "tri").mkdir()
    (tmp_path / "tri" / "a.gz").write_bytes(files["a.gz"])
    corrupt = bytearray(files["c.gz"])
    corrupt[7] ^= 1
    (tmp_path / "tri" / "c.gz").write_bytes(bytes(corrupt))
    v = verify_dataset(ds, tmp_path)
    assert v.method == "checksum" and not v.ok and v.path == tmp_path / "tri"
    problems = {c.what.split()[0]: c.detail for c in v.problems}
    assert set(problems) == {"b.gz", "c.gz"}
    assert problems["b.gz"] == f"missing: {tmp_path / 'tri' / 'b.gz'}"
    assert "corrupt" in problems["c.gz"] and hashlib.sha256(corrupt).hexdigest() in problems["c.gz"]
    assert "checksum" in v.describe() and "FAILED, 2 problem(s)" in v.describe()


def test_a_truncated_file_is_caught_by_its_size(tmp_path: Path) -> None:
    data = blob(5000)
    (tmp_path / "t.bin").write_bytes(data[:4000])
    v = verify_dataset(dataset("t", remote("t.bin", data)), tmp_path)
    (p,) = v.problems
    assert "4,000 bytes, expected 5,000" in p.detail


# -- content: other packagings -------------------------------------------------------------------
REVIEWS_FORM = Form(
    label="reviews",
    names=("revs", "revs.tar.gz"),
    counts=(
        Count("train/pos/*.txt", 3),
        Count("train/neg/*.txt", 3),
        Count("train/*", 2, "folders"),
    ),
    files=(FileCheck("vocab"), FileCheck("meta.bin", md5=hashlib.md5(b"meta").hexdigest())),
)


def reviews(n_pos: int = 3, meta: bytes = b"meta") -> dict[str, bytes]:
    files = {f"revs/train/pos/{i}_9.txt": b"good" for i in range(n_pos)}
    files |= {f"revs/train/neg/{i}_1.txt": b"bad" for i in range(3)}
    files |= {"revs/vocab": b"good\nbad\n", "revs/meta.bin": meta, "revs/train/pos/notes.md": b"x"}
    return files


@pytest.mark.parametrize("packed", [False, True])
def test_content_check_counts_files_per_split_and_checks_per_file_sums(
    tmp_path: Path, packed: bool
) -> None:
    ds = Dataset("revs", "reviews", "", "", "", "", "download", forms=(REVIEWS_FORM,))
    files = reviews()
    if packed:
        write_tar(tmp_path / "revs.tar.gz", files)
    else:
        for name, data in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
    v = verify_dataset(ds, tmp_path)
    assert v.ok, v.problems
    assert v.method == "content" and "by content" in v.describe()
    assert v.path == tmp_path / ("revs.tar.gz" if packed else "revs")


def test_content_check_names_a_missing_review_and_a_corrupt_file(tmp_path: Path) -> None:
    ds = Dataset("revs", "reviews", "", "", "", "", "download", forms=(REVIEWS_FORM,))
    files = reviews(n_pos=2, meta=b"corrupted")
    del files["revs/vocab"]
    write_tar(tmp_path / "revs.tar.gz", files)
    v = verify_dataset(ds, tmp_path)
    details = [c.detail for c in v.problems]
    assert len(details) == 3, details
    assert f"{tmp_path / 'revs.tar.gz'}:revs/train/pos/*.txt: found 2 files, expected 3" in details
    assert f"missing: {tmp_path / 'revs.tar.gz'}:revs/vocab" in details
    assert any("meta.bin: corrupt: md5" in d for d in details)


def test_rows_and_fields_of_delimited_text(tmp_path: Path) -> None:
    form = Form("csv", ("t.csv",), rows=(Rows("t.csv", 3, 3, ",", header=("y", "a", "b")),))
    (tmp_path / "t.csv").write_text("y,a,b\n1,2,3\n0,,\n1,5,6\n")
    assert all(c.ok for c in verify_content(form, tmp_path / "t.csv"))
    (tmp_path / "t.csv").write_text("y,a,b\n1,2,3\n0,1\n")
    (c,) = verify_content(form, tmp_path / "t.csv")
    assert not c.ok and "row 2 does not have 3 fields" in c.detail
    (tmp_path / "t.csv").write_text("label,a,b\n1,2,3\n")
    (c,) = verify_content(form, tmp_path / "t.csv")
    assert not c.ok and "header" in c.detail


def test_translation_pairs_must_be_line_aligned(tmp_path: Path) -> None:
    form = Form("pairs", ("p",), aligned=(Aligned("x.de", "x.en"),))
    (tmp_path / "p" / "training").mkdir(parents=True)
    (tmp_path / "p" / "training" / "x.de").write_text("a\nb\n")
    (tmp_path / "p" / "x.en").write_text("A\nB\n")
    assert all(c.ok for c in verify_content(form, tmp_path / "p"))
    (tmp_path / "p" / "x.en").write_text("A\n")
    (c,) = verify_content(form, tmp_path / "p")
    assert not c.ok and "2 lines" in c.detail and "1" in c.detail


def test_patterns_match_one_segment_per_star() -> None:
    names = ["train/a/1.jpg", "train/a/b/2.jpg", "train/b/3.JPG", "test/a/4.jpg"]
    assert count_matches(names, Count("train/*/*.jpg", 0)) == 1
    assert count_matches(names, Count("train/*", 0, "folders")) == 2
    assert count_matches(names, Count("*/a/*.jpg", 0)) == 2


def test_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    v = verify_dataset(registry.get("imdb"), tmp_path)
    assert v.method == "missing" and not v.ok
    assert tmp_path / "aclImdb_v1.tar.gz" in v.looked and "not found" in v.describe()


def test_bundled_digits_verify_by_loading() -> None:
    v = verify_dataset(registry.get("digits"), None)
    assert v.ok and v.method == "bundled" and v.path is not None and v.path.is_file()


# -- the registry --------------------------------------------------------------------------------
def test_registry_entries_are_complete() -> None:
    for ds in registry.DATASETS.values():
        assert ds.title and ds.homepage.startswith("https://") and ds.licence and ds.citation
        if ds.access == "download":
            assert ds.files and ds.forms, ds.name
            for f in ds.files:
                assert f.urls and (f.sha256 or f.md5) and f.source, (ds.name, f.name)
                assert all(u.startswith(("https://", "http://")) for u in f.urls)
        if ds.access == "manual":
            assert ds.how_to_get and "DIR" in ds.how_to_get and not any(f.urls for f in ds.files)
        for f in ds.files:
            if f.sha256:
                assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
            if f.md5:
                assert len(f.md5) == 32 and int(f.md5, 16) >= 0
        published = [form for form in ds.forms if form.published]
        assert all(ds.files for _ in published)


def test_loaders_look_where_the_registry_says() -> None:
    assert registry.get("cifar10").candidates == cifar10.CANDIDATES
    assert registry.get("imdb").candidates == imdb.CANDIDATES
    assert "aclImdb_v1.tar.gz" in imdb.CANDIDATES  # what `data fetch imdb` downloads
    assert "cifar-10-python.tar.gz" in cifar10.CANDIDATES


def test_workloads_that_name_a_dataset_exist() -> None:
    from accelbench.workloads import WORKLOADS

    kinds = set(WORKLOADS.names())
    for ds in registry.DATASETS.values():
        for user in ds.used_by:
            assert user in kinds or "(issue" in user, (ds.name, user)


# -- real files, where this machine has them ------------------------------------------------------
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/data here")


@needs_shared
def test_real_multi30k_and_criteo_sample_match_the_publishers_checksums() -> None:
    for name in ("multi30k", "criteo-sample"):
        v = verify_dataset(registry.get(name), SHARED)
        assert v.ok and v.method == "checksum", v.problems


@needs_shared
def test_real_multi30k_with_a_missing_and_a_corrupt_file(tmp_path: Path, capsys) -> None:
    shutil.copytree(SHARED / "multi30k", tmp_path / "multi30k")
    (tmp_path / "multi30k").chmod(0o755)  # the shared copy is read-only
    for p in (tmp_path / "multi30k").iterdir():
        p.chmod(0o644)
    (tmp_path / "multi30k" / "val.en.gz").unlink()
    with (tmp_path / "multi30k" / "train.de.gz").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00")
    code = main(["data", "verify", "multi30k", "--data-dir", str(tmp_path)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert f"FAIL val.en.gz (sha256): missing: {tmp_path / 'multi30k' / 'val.en.gz'}" in out
    assert "FAIL train.de.gz (sha256)" in out and "corrupt or not the publisher's file" in out
    assert "ok train.en.gz (sha256)" in out and "by checksum" in out


@pytest.mark.slow
@needs_shared
def test_real_repacks_verify_by_content() -> None:
    for name in ("imdb", "cifar10"):
        v = verify_dataset(registry.get(name), SHARED)
        assert v.ok and v.method == "content", (name, v.problems)


# -- the commands --------------------------------------------------------------------------------
def test_verify_cli_json_and_exit_codes(tmp_path: Path, capsys, monkeypatch) -> None:
    data = blob(3000)
    monkeypatch.setitem(registry.DATASETS, "tiny", dataset("tiny", remote("a.bin", data)))
    assert main(["data", "verify", "tiny", "--data-dir", str(tmp_path), "--json"]) == 1
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["method"] == "missing" and str(tmp_path / "a.bin") in rec["looked"]
    (tmp_path / "a.bin").write_bytes(data)
    assert main(["data", "verify", "tiny", "digits", "--data-dir", str(tmp_path), "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert [(r["dataset"], r["ok"], r["method"]) for r in recs] == [
        ("tiny", True, "checksum"),
        ("digits", True, "bundled"),
    ]


def test_path_and_list(tmp_path: Path, capsys) -> None:
    assert main(["data", "path", "imdb", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and str(tmp_path / "aclImdb") in err
    assert "accelbench data fetch imdb" in err
    (tmp_path / "aclImdb.tar.gz").write_bytes(b"")
    assert main(["data", "path", "imdb", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "aclImdb.tar.gz")
    assert main(["data", "path", "digits"]) == 0
    assert capsys.readouterr().out.strip().endswith("digits.csv.gz")
    assert main(["data", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(registry.DATASETS)
    assert rows["imdb"]["present"].startswith(str(tmp_path / "aclImdb.tar.gz"))
    assert rows["imagenet"]["access"] == "manual" and rows["digits"]["present"] == "bundled"
    assert rows["imdb"]["download_bytes"] == 84125825
    assert main(["data", "list"]) == 0
    assert "cifar10" in capsys.readouterr().out
