"""Criteo preprocessing: the real 200-row sample, the Kaggle text format on files written here,
kill-and-restart, named errors, the split and vocabulary rules, batches and AUC/logloss."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from accelbench.data.common import DataError, DataNotFound
from accelbench.data.criteo import (
    CAT_NAMES,
    COLUMNS,
    KAGGLE_RAW_CARDINALITIES,
    N_CAT,
    N_DENSE,
    CriteoBatches,
    CriteoFormatError,
    auc_logloss,
    evaluate_ctr,
    load_criteo,
    open_criteo,
    parse_block,
    planted_logistic,
    preprocess_criteo,
    sniff_format,
    split_assignment,
    split_sizes,
    synthetic_cardinalities,
    synthetic_criteo,
)

REPO = Path(__file__).resolve().parents[1]


def _shared_sample() -> Path | None:
    for d in (os.environ.get("ACCELBENCH_DATA_DIR"), REPO.parent / "shared" / "data"):
        if d and (Path(d) / "criteo_sample.txt").is_file():
            return Path(d) / "criteo_sample.txt"
    return None


# The first five rows of the real sample (DeepCTR's criteo_sample.txt, /work/shared/data), so
# the parsing checks run without the shared folder too: empty fields, a negative integer,
# integers written as floats, hex categories.
SAMPLE_HEAD = """\
label,I1,I2,I3,I4,I5,I6,I7,I8,I9,I10,I11,I12,I13,C1,C2,C3,C4,C5,C6,C7,C8,C9,C10,C11,C12,C13,C14,C15,C16,C17,C18,C19,C20,C21,C22,C23,C24,C25,C26
0,,3,260.0,,17668.0,,,33.0,,,,0.0,,05db9164,08d6d899,9143c832,f56b7dd5,25c83c98,7e0ccccf,df5c2d18,0b153874,a73ee510,8f48ce11,a7b606c4,ae1bb660,eae197fd,b28479f6,bfef54b3,bad5ee18,e5ba7672,87c6f83c,,,0429f84b,,3a171ecb,c0d61a5c,,
0,,-1,19.0,35.0,30251.0,247.0,1.0,35.0,160.0,,1.0,,35.0,68fd1e64,04e09220,95e13fd4,a1e6a194,25c83c98,fe6b92e5,f819e175,062b5529,a73ee510,ab9456b4,6153cf57,8882c6cd,769a1844,b28479f6,69f825dd,23056e4f,d4bb7bd8,6fc84bfb,,,5155d8a3,,be7c41b4,ded4aac9,,
0,0.0,0,2.0,12.0,2013.0,164.0,6.0,35.0,523.0,0.0,3.0,,18.0,05db9164,38a947a1,3f55fb72,5de245c7,30903e74,7e0ccccf,b72ec13d,1f89b562,a73ee510,acce978c,3547565f,a5b0521a,12880350,b28479f6,c12fc269,95a8919c,e5ba7672,675c9258,,,2e01979f,,bcdee96c,6d5d1302,,
0,,13,1.0,4.0,16836.0,200.0,5.0,4.0,29.0,,2.0,,4.0,05db9164,8084ee93,02cf9876,c18be181,25c83c98,,e14874c9,0b153874,7cc72ec2,2462946f,636405ac,8fe001f4,31b42deb,07d13a8f,422c8577,36103458,e5ba7672,52e44668,,,e587c466,,32c7478e,3b183c5c,,
"""


def _reference_rows(text: str) -> list[list[str]]:
    """An independent, plain-Python reading of CSV/TSV Criteo text (the tests' oracle)."""
    lines = [ln for ln in text.splitlines() if ln]
    sep = "\t" if "\t" in lines[0] else ","
    if lines[0].startswith("label"):
        lines = lines[1:]
    return [ln.split(sep) for ln in lines]


def _as_kaggle(rows: list[list[str]]) -> str:
    """The same rows as the Kaggle release writes them: tab-separated, no header, integers."""
    out = []
    for r in rows:
        ints = [str(int(float(v))) if v else "" for v in r[1:14]]
        out.append("\t".join([r[0], *ints, *r[14:]]))
    return "\n".join(out) + "\n"


def _expected_dense(v: str) -> float:
    x = float(v) if v else 0.0
    return float(np.float32(np.log1p(max(x, 0.0))))


def _check_block(rows: list[list[str]], parsed) -> None:
    assert parsed.rows == len(rows)
    assert parsed.label.tolist() == [int(r[0]) for r in rows]
    for j, r in enumerate(rows):
        for i in range(N_DENSE):
            assert parsed.dense[i, j] == pytest.approx(_expected_dense(r[1 + i]), rel=1e-6)
        for i in range(N_CAT):
            key = parsed.cats[i, j : j + 1].view("S8")[0]
            assert key == r[1 + N_DENSE + i].encode()  # 8 hex characters, or b"" when empty


def test_parse_vendored_rows_of_the_real_sample(tmp_path: Path) -> None:
    p = tmp_path / "criteo_sample.txt"
    p.write_text(SAMPLE_HEAD)
    fmt = sniff_format(p)
    assert (fmt.delimiter, fmt.header, fmt.gzip) == (",", True, False)
    rows = _reference_rows(SAMPLE_HEAD)
    body = SAMPLE_HEAD.split("\n", 1)[1].encode()
    parsed = parse_block(body, fmt, p, first_line=2)
    _check_block(rows, parsed)
    # the negative I2 of row 2 is clamped to 0; I3 = 260 -> log(261); empty C26 stays empty
    assert parsed.dense[1, 1] == 0.0
    assert parsed.dense[2, 0] == pytest.approx(np.log(261.0))
    assert parsed.cats[25, 0] == 0 and parsed.cats[0, 0].tobytes() == b"05db9164"
    crlf = parse_block(body.replace(b"\n", b"\r\n"), fmt, p, first_line=2)  # Windows copies
    assert np.array_equal(crlf.cats, parsed.cats) and np.array_equal(crlf.dense, parsed.dense)


@pytest.mark.skipif(_shared_sample() is None, reason="shared/data/criteo_sample.txt not here")
def test_parse_the_real_200_row_sample(tmp_path: Path) -> None:
    src = _shared_sample()
    assert src is not None
    text = src.read_text()
    rows = _reference_rows(text)
    assert len(rows) == 200 and all(len(r) == len(COLUMNS) for r in rows)
    fmt = sniff_format(src)
    parsed = parse_block(text.split("\n", 1)[1].encode(), fmt, src, 2, not text.endswith("\n"))
    _check_block(rows, parsed)
    assert int(parsed.label.sum()) == sum(r[0] == "1" for r in rows) > 0
    assert (parsed.cats == 0).any()  # empty categorical fields are in the real data

    # The whole pass on the real file, and the same rows in Kaggle's format, agree.
    kaggle = tmp_path / "train.txt"
    kaggle.write_text(_as_kaggle(rows))
    a = open_criteo(preprocess_criteo(src, tmp_path / "c1", min_count=2, progress=None))
    b = open_criteo(preprocess_criteo(kaggle, tmp_path / "c2", min_count=2, progress=None))
    assert a.manifest["rows"] == b.manifest["rows"] == 200
    assert a.vocab_sizes == b.vocab_sizes
    for s in ("train", "val", "test"):
        for name in ("label", "dense", "cats"):
            assert np.array_equal(getattr(a.splits[s], name), getattr(b.splits[s], name))


# -- files written here ---------------------------------------------------------------------------
def write_criteo(path: Path, n: int, seed: int = 0, *, hot: int = 30, gz: bool = False) -> str:
    """n rows in the Kaggle format: tab-separated, no header, some empty fields, a few negative
    integers; each categorical field draws from ``hot`` frequent values plus singletons."""
    rng = np.random.default_rng(seed)
    lines = []
    for r in range(n):
        label = str(int(rng.random() < 0.25))
        ints = [
            "" if rng.random() < 0.2 else str(int(rng.integers(-2, 500))) for _ in range(N_DENSE)
        ]
        cats = []
        for f in range(N_CAT):
            u = rng.random()
            if u < 0.1:
                cats.append("")
            elif u < 0.8:
                cats.append(f"{(f * 1000 + int(rng.integers(0, hot))) * 2654435761 % 2**32:08x}")
            else:
                cats.append(f"{(r * 7919 + f) * 40503 % 2**32:08x}")
        lines.append("\t".join([label, *ints, *cats]))
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return text


def _arrays(path: Path) -> dict[str, np.ndarray]:
    d = open_criteo(path)
    out = {f"{s}/{n}": np.asarray(getattr(d.splits[s], n)) for s in d.splits for n in
           ("label", "dense", "cats")}  # fmt: skip
    out.update({f"vocab/{k}": v for k, v in d.vocab().items()})
    return out


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_preprocess_split_vocabulary_and_transform_against_a_reference(tmp_path: Path) -> None:
    text = write_criteo(tmp_path / "train.txt", 600, seed=3)
    rows = _reference_rows(text)
    path = preprocess_criteo(tmp_path / "train.txt", tmp_path / "cache", min_count=4,
                             seed=7, progress=None)  # fmt: skip
    d = open_criteo(path)
    sizes = split_sizes(600)
    assert sizes == {"train": 480, "val": 60, "test": 60}
    assert {s: len(a) for s, a in d.splits.items()} == sizes == d.manifest["split_sizes"]
    which = split_assignment(600, 7)
    members = {s: [i for i in range(600) if which[i] == k] for k, s in enumerate(d.splits)}
    vocab = d.vocab()
    for f, name in enumerate(CAT_NAMES):
        # training counts only; >= min_count kept, most frequent first, ties by value
        counts = Counter(rows[i][14 + f] for i in members["train"])
        kept = sorted((v for v, c in counts.items() if c >= 4), key=lambda v: (-counts[v], v))
        assert [v.decode() for v in vocab[name]] == kept
        assert d.vocab_sizes[f] == len(kept) + 1
        code = {v: i + 1 for i, v in enumerate(kept)}
        for s, idx in members.items():
            want = [code.get(rows[i][14 + f], 0) for i in idx]
            assert d.splits[s].cats[f].tolist() == want
    for s, idx in members.items():
        assert d.splits[s].label.tolist() == [int(rows[i][0]) for i in idx]
        got = np.asarray(d.splits[s].dense)
        want = np.array([[_expected_dense(rows[i][1 + k]) for i in idx] for k in range(13)])
        assert np.allclose(got, want, rtol=1e-6)
    # a value frequent only outside the training split is out of vocabulary
    val_only = Counter(rows[i][14] for i in members["val"] + members["test"])
    train_counts = Counter(rows[i][14] for i in members["train"])
    for v in val_only:
        if train_counts[v] < 4:
            assert v.encode() not in set(vocab["C1"].tolist())
    # a second call is the cache; another seed is another split
    assert preprocess_criteo(tmp_path / "train.txt", tmp_path / "cache", min_count=4, seed=7,
                             progress=None) == path  # fmt: skip
    assert not np.array_equal(split_assignment(600, 7), split_assignment(600, 8))


def test_gzip_and_max_rows(tmp_path: Path) -> None:
    write_criteo(tmp_path / "train.txt.gz", 150, seed=1, gz=True)
    write_criteo(tmp_path / "plain.txt", 150, seed=1)
    assert sniff_format(tmp_path / "train.txt.gz").gzip
    a = preprocess_criteo(tmp_path / "train.txt.gz", tmp_path / "c", min_count=2, progress=None,
                          block_bytes=4096)  # fmt: skip
    b = preprocess_criteo(tmp_path / "plain.txt", tmp_path / "c", min_count=2, progress=None)
    _same(_arrays(a), _arrays(b))
    c = open_criteo(preprocess_criteo(tmp_path / "plain.txt", tmp_path / "c", max_rows=123,
                                      progress=None, block_bytes=1024))  # fmt: skip
    assert c.manifest["rows"] == 123


def test_load_criteo_finds_the_file_and_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match=r"train\.txt"):
        load_criteo(tmp_path, tmp_path / "cache")
    with pytest.raises(DataError, match="no such file"):
        preprocess_criteo(tmp_path / "nope.txt", tmp_path / "cache")
    write_criteo(tmp_path / "dac_sample.txt", 50)
    data, info = load_criteo(tmp_path, tmp_path / "cache", min_count=1, progress=None)
    assert info["rows"] == 50 and info["path"].endswith("dac_sample.txt")
    assert info["embedding_rows"] == sum(data.vocab_sizes)


# -- killed and restarted -------------------------------------------------------------------------
_CHILD = """
import sys
from accelbench.data.criteo import preprocess_criteo
preprocess_criteo(sys.argv[1], sys.argv[2], min_count=3, progress=None, block_bytes=4096)
"""


def test_killed_mid_parse_then_restarted_never_uses_a_half_cache(tmp_path: Path) -> None:
    src = tmp_path / "train.txt"
    write_criteo(src, 1500, seed=5)
    cache = tmp_path / "cache"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(src), str(cache)])
    try:
        deadline = time.monotonic() + 60
        ckpt = None
        while time.monotonic() < deadline and child.poll() is None:
            found = list(cache.glob("criteo-*.partial/parse.json"))
            if found:
                text = found[0].read_text()
                if '"rows": ' in text and '"rows": 0,' not in text and '"done": false' in text:
                    ckpt = found[0]
                    break
            time.sleep(0.002)
        assert ckpt is not None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    partial = ckpt.parent
    final = partial.with_name(partial.name.removesuffix(".partial"))
    assert not final.exists()  # nothing looks complete
    with pytest.raises(DataError, match="not a complete Criteo cache"):
        open_criteo(partial)

    msgs: list[str] = []
    resumed = preprocess_criteo(src, cache, min_count=3, progress=msgs.append, block_bytes=4096)
    assert resumed == final and not partial.exists()
    assert any("resuming the parse" in m for m in msgs)
    assert open_criteo(resumed).manifest["parse_resumed_at_row"] > 0
    clean = preprocess_criteo(src, tmp_path / "clean", min_count=3, progress=None)
    _same(_arrays(resumed), _arrays(clean))


def test_stopped_mid_encoding_then_restarted(tmp_path: Path) -> None:
    src = tmp_path / "train.txt"
    write_criteo(src, 400, seed=9)
    with pytest.raises(RuntimeError, match="stopped before"):
        preprocess_criteo(src, tmp_path / "c", min_count=2, progress=None, _stop_after_fields=17)
    partial = next((tmp_path / "c").glob("criteo-*.partial"))
    with pytest.raises(DataError):
        open_criteo(partial)
    msgs: list[str] = []
    done = preprocess_criteo(src, tmp_path / "c", min_count=2, progress=msgs.append)
    assert not any("parsed 400 rows (" in m for m in msgs)  # the parse was not redone
    assert "rows/s" in msgs[-1] and "400 rows preprocessed" in msgs[-1]  # progress and rate
    clean = preprocess_criteo(src, tmp_path / "clean", min_count=2, progress=None)
    _same(_arrays(done), _arrays(clean))


# -- errors ---------------------------------------------------------------------------------------
def _lines(n: int, seed: int = 0) -> list[str]:
    return write_criteo(Path(os.devnull), n, seed).splitlines()


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    good = _lines(20)
    p = tmp_path / "train.txt"

    p.write_text("\n".join(good) + "\n" + "\t".join(good[0].split("\t")[:23]))  # cut mid-line
    with pytest.raises(CriteoFormatError, match=rf"{p}: line 21 is truncated: 23 of 40 fields"):
        preprocess_criteo(p, tmp_path / "c", progress=None)

    bad = list(good)
    bad[6] = "\t".join(bad[6].split("\t")[:-1])
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(CriteoFormatError, match=r"line 7 has 39 fields, expected 40"):
        preprocess_criteo(p, tmp_path / "c", progress=None)

    bad = list(good)
    bad[3] = "\t".join(["1", "x1", *bad[3].split("\t")[2:]])
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(CriteoFormatError, match=r"line 4 field I1 'x1' is not a number"):
        preprocess_criteo(p, tmp_path / "c", progress=None)

    bad = list(good)
    f = bad[9].split("\t")
    f[0], f[20] = "1", "abc"
    bad[9] = "\t".join(f)
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(CriteoFormatError, match=r"line 10 field C7 'abc' is not an 8-digit"):
        preprocess_criteo(p, tmp_path / "c", progress=None)

    bad = list(good)
    bad[12] = "2" + bad[12][1:]
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(CriteoFormatError, match=r"line 13 label '2' is not 0 or 1"):
        preprocess_criteo(p, tmp_path / "c", progress=None)

    # line numbers count across blocks (small blocks: the bad line is deep in the file)
    many = _lines(300)
    many[250] = "\t".join(many[250].split("\t")[:30])
    p.write_text("\n".join(many) + "\n")
    with pytest.raises(CriteoFormatError, match=r"line 251 has 30 fields"):
        preprocess_criteo(p, tmp_path / "c", progress=None, block_bytes=1024)

    # a CSV with a header counts the header as line 1
    csv = tmp_path / "criteo_sample.txt"
    body = SAMPLE_HEAD.splitlines()
    body[3] = body[3].rsplit(",", 1)[0]
    csv.write_text("\n".join(body) + "\n")
    with pytest.raises(CriteoFormatError, match=r"line 4 has 39 fields"):
        preprocess_criteo(csv, tmp_path / "c", progress=None)

    gz = tmp_path / "train.txt.gz"
    gz.write_bytes(gzip.compress(("\n".join(_lines(2000)) + "\n").encode())[:-2000])
    with pytest.raises(DataError, match=r"train.txt.gz"):
        preprocess_criteo(gz, tmp_path / "c", progress=None)

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CriteoFormatError, match="line 1 is empty"):
        preprocess_criteo(empty, tmp_path / "c", progress=None)


def test_a_bad_file_is_one_clear_cli_line(tmp_path: Path) -> None:
    """DataError is a UserError: the CLI prints it as one line and exits 2 (no traceback)."""
    from accelbench.errors import UserError

    assert issubclass(CriteoFormatError, UserError)


# -- batches, synthetic data, AUC -----------------------------------------------------------------
def test_batches_cover_the_split_and_shuffle_by_seed() -> None:
    rows = synthetic_criteo(1000, KAGGLE_RAW_CARDINALITIES, seed=1)
    train = CriteoBatches(rows, "cpu", 128, shuffle=True, seed=3)
    assert train.steps == 7 and train.samples_per_epoch == 896
    (dense, cats), y = next(train.batches(1))
    assert dense.shape == (128, 13) and cats.shape == (128, 26) and cats.dtype == torch.int32
    again = CriteoBatches(rows, "cpu", 128, shuffle=True, seed=3)
    assert torch.equal(next(again.batches(1))[1], y)
    assert not torch.equal(next(again.batches(2))[0][1], cats)
    ev = CriteoBatches(rows, "cpu", 128, shuffle=False)
    assert ev.steps == 8
    seen = torch.cat([b[1] for b in ev])
    assert torch.equal(seen, torch.from_numpy(rows.label.astype(np.float32)))


def test_synthetic_rows_keep_every_field_inside_its_table() -> None:
    rows = synthetic_criteo(5000, KAGGLE_RAW_CARDINALITIES, seed=0)
    assert rows.cats.shape == (26, 5000) and rows.dense.shape == (13, 5000)
    for f, v in enumerate(KAGGLE_RAW_CARDINALITIES):
        assert rows.cats[f].min() >= 0 and rows.cats[f].max() < v
    big = int(np.argmax(KAGGLE_RAW_CARDINALITIES))
    assert len(np.unique(rows.cats[big])) > 1000  # the 10M-row table is really spread over
    assert np.array_equal(synthetic_criteo(100, KAGGLE_RAW_CARDINALITIES, seed=4).cats,
                          synthetic_criteo(100, KAGGLE_RAW_CARDINALITIES, seed=4).cats)  # fmt: skip
    with pytest.raises(ValueError, match="26 fields"):
        synthetic_criteo(10, [5] * 3)


def test_synthetic_table_sizes_come_from_dlrm_or_a_real_cache(tmp_path: Path) -> None:
    cards, what = synthetic_cardinalities("kaggle-raw")
    assert cards == KAGGLE_RAW_CARDINALITIES and sum(cards) == 33_762_577 and "dlrm" in what
    write_criteo(tmp_path / "train.txt", 200)
    cache = preprocess_criteo(tmp_path / "train.txt", tmp_path / "c", min_count=3, progress=None)
    cards, what = synthetic_cardinalities(cache)
    assert cards == open_criteo(cache).vocab_sizes and "min_count 3" in what
    with pytest.raises(DataError, match="kaggle-raw"):
        synthetic_cardinalities(tmp_path)


def test_auc_and_logloss_match_scikit_learn_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20000)
    z = rng.normal(size=20000) + 0.7 * y
    z[:500] = np.round(z[:500])  # ties
    auc, ll = auc_logloss(y, z)
    assert auc == pytest.approx(roc_auc_score(y, z), abs=1e-12)
    assert ll == pytest.approx(log_loss(y, 1 / (1 + np.exp(-z))), rel=1e-9)
    assert 0.6 < auc < 0.8
    # extreme logits: no clipping error
    auc2, ll2 = auc_logloss(np.array([0, 1]), np.array([-800.0, 800.0]))
    assert auc2 == 1.0 and ll2 == pytest.approx(0.0, abs=1e-12)
    nan_auc, _ = auc_logloss(np.zeros(5), np.arange(5.0))
    assert np.isnan(nan_auc)


def test_evaluate_ctr_uses_every_validation_row() -> None:
    rows = synthetic_criteo(1001, KAGGLE_RAW_CARDINALITIES, seed=2)
    batches = CriteoBatches(rows, "cpu", 100, shuffle=False)

    def forward(dense: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        return dense[:, 0] - 0.001 * cats[:, 0].float()

    q = evaluate_ctr(forward, batches)
    z = rows.dense[0] - 0.001 * rows.cats[0]
    assert q.value == pytest.approx(roc_auc_score(rows.label, z), abs=1e-9)
    assert q.secondary["eval_samples"] == 1001
    assert q.secondary["logloss"] == pytest.approx(log_loss(rows.label, 1 / (1 + np.exp(-z))))
    assert q.spec.metric == "auc" and q.spec.chance == 0.5 and q.spec.higher_is_better
    assert "scikit-learn" in str(q.secondary["auc_implementation"])


def test_planted_signal_is_learnable_in_principle() -> None:
    cards = [8] * 26
    rows, logit = planted_logistic(4000, cards, seed=0)
    true_auc, _ = auc_logloss(rows.label, logit)
    assert 0.7 < true_auc < 0.95
