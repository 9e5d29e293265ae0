"""Translation data (issue 16): Multi30k and WMT16 layouts, named errors, the sentencepiece
tokeniser and its cache, token-count batches, synthetic mode, and BLEU with sacrebleu.

The Multi30k lines in tests/fixtures/multi30k are the first 64 training pairs of Multi30k
task 1 (Elliott et al. 2016, github.com/multi30k/dataset), see the README there.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from accelbench.data.common import DataError, DataNotFound
from accelbench.data.translation import (
    SPLITS,
    Parallel,
    Tokenizer,
    TranslationBatches,
    TranslationTask,
    encode_splits,
    find_translation_data,
    load_translation,
    plan_batches,
    read_lines,
    read_parallel,
    read_sgm,
    read_wmt16,
    synthetic_translation,
    tokenizer_of,
    train_sentencepiece,
)
from accelbench.models.transformer import BOS, EOS, PAD, Transformer, TransformerConfig
from accelbench.quality.bleu import BLEU_SPEC, corpus_bleu, corpus_chrf
from accelbench.training.task import EvalContext, Quality

FIXTURES = Path(__file__).parent / "fixtures" / "multi30k"
# The real data: $ACCELBENCH_DATA_DIR, else shared/data beside the checkout (as CI lays it out).
SHARED = Path(os.environ.get("ACCELBENCH_DATA_DIR") or Path(__file__).parents[2] / "shared/data")
REAL_MULTI30K = SHARED / "multi30k"
needs_real = pytest.mark.skipif(not REAL_MULTI30K.is_dir(), reason="no Multi30k in shared/data")


def fixture_pairs() -> tuple[list[str], list[str]]:
    return read_lines(FIXTURES / "train64.en"), read_lines(FIXTURES / "train64.de")


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{line}\n" for line in lines).encode()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(text))
    else:
        path.write_bytes(text)
    return path


def multi30k_dir(root: Path, n_train: int = 48) -> Path:
    """Multi30k's published file names, gzipped, from the 64 fixture pairs."""
    en, de = fixture_pairs()
    d = root / "multi30k"
    splits = {"train": slice(0, n_train), "val": slice(48, 56), "test_2016_flickr": slice(56, 64)}
    for stem, sl in splits.items():
        write(d / f"{stem}.en", en[sl], gz=True)
        write(d / f"{stem}.de", de[sl], gz=True)
    return d


def sgm(path: Path, lines: list[str], lang: str) -> Path:
    body = "\n".join(
        f'<seg id="{i + 1}">{line.replace("&", "&amp;").replace("<", "&lt;")}</seg>'
        for i, line in enumerate(lines)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<srcset setid="x" srclang="any">\n<doc sysid="ref" docid="d1" genre="news" '
        f'origlang="{lang}">\n<p>\n{body}\n</p>\n</doc>\n</srcset>\n',
        encoding="utf-8",
    )
    return path


# -- reading ------------------------------------------------------------------------------------
def test_plain_and_gzipped_lines_read_the_same(tmp_path: Path) -> None:
    lines = ["Ein Hund läuft.", "  two  spaces kept inside  ", ""]
    assert read_lines(write(tmp_path / "a.de", lines)) == [
        "Ein Hund läuft.",
        "two  spaces kept inside",
        "",
    ]
    assert read_lines(write(tmp_path / "b.de", lines, gz=True)) == read_lines(tmp_path / "a.de")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match=r"nope\.en: no such file"):
        read_lines(tmp_path / "nope.en")
    d = multi30k_dir(tmp_path)
    (d / "val.de.gz").unlink()
    with pytest.raises(DataNotFound, match=r"val\.de: no such file \(nor \.gz\)"):
        load_translation("multi30k", tmp_path, tmp_path / "cache", vocab_size=200)


def test_mismatched_line_counts_name_both_files(tmp_path: Path) -> None:
    a = write(tmp_path / "train.en", ["one", "two", "three"])
    b = write(tmp_path / "train.de", ["eins", "zwei"])
    with pytest.raises(DataError, match=r"train\.en has 3 sentences but .*train\.de has 2"):
        read_parallel(a, b)


def test_not_utf8_and_corrupt_gzip_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.en"
    bad.write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError, match=r"x\.en: not UTF-8 text"):
        read_lines(bad)
    gz = tmp_path / "y.en.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"y\.en\.gz: cannot read"):
        read_lines(gz)


def test_sgml_segments_are_unescaped(tmp_path: Path) -> None:
    p = sgm(tmp_path / "t.sgm", ["Tom & Jerry <3", "Zwei"], "en")
    assert read_sgm(p) == ["Tom & Jerry <3", "Zwei"]
    (tmp_path / "empty.sgm").write_text("<srcset></srcset>\n")
    with pytest.raises(DataError, match=r"empty\.sgm: no <seg> elements"):
        read_sgm(tmp_path / "empty.sgm")


def test_wmt16_official_corpora_and_sgml_test_sets(tmp_path: Path) -> None:
    en, de = fixture_pairs()
    root = tmp_path / "wmt16_en_de"
    write(root / "training-parallel-europarl-v7/training/europarl-v7.de-en.en", en[:10])
    write(root / "training-parallel-europarl-v7/training/europarl-v7.de-en.de", de[:10])
    nc = root / "training-parallel-nc-v11/news-commentary-v11.de-en"
    write(nc.with_name(nc.name + ".en"), en[10:30], gz=True)
    write(nc.with_name(nc.name + ".de"), de[10:30], gz=True)
    sgm(root / "dev/newstest2013-src.en.sgm", en[30:35], "en")  # a name that does not match
    write(root / "dev/newstest2013.en", en[30:35])
    write(root / "dev/newstest2013.de", de[30:35])
    sgm(root / "dev/newstest2014-deen-src.en.sgm", en[35:40], "en")
    sgm(root / "dev/newstest2014-deen-ref.de.sgm", de[35:40], "de")
    sgm(root / "dev/newstest2014-deen-ref.en.sgm", ["wrong side"] * 5, "en")
    assert find_translation_data("wmt16", tmp_path) == root
    p = read_wmt16(root)
    assert p.src["train"] == en[:30] and p.tgt["train"] == de[:30]  # europarl, then nc
    assert p.src["valid"] == en[30:35] and p.tgt["test"] == de[35:40]
    assert p.src["test"] == en[35:40]  # the src side, not ref.en
    assert p.files["test"][0].endswith("newstest2014-deen-src.en.sgm")
    # the GNMT/MLPerf script's layout wins when present
    write(root / "train.en", en[:3])
    write(root / "train.de", de[:3])
    assert read_wmt16(root).src["train"] == en[:3]


def test_wmt16_errors_say_what_was_expected(tmp_path: Path) -> None:
    root = tmp_path / "wmt16"
    root.mkdir()
    with pytest.raises(DataNotFound, match=r"WMT16 training data not found .*europarl-v7"):
        read_wmt16(root)
    write(root / "train.en", ["a"])
    write(root / "train.de", ["b"])
    with pytest.raises(DataNotFound, match=r"newstest2013 \(en\) not found .*\.sgm"):
        read_wmt16(root)
    with pytest.raises(DataNotFound, match=r"WMT16 en-de not found: looked for"):
        find_translation_data("wmt16", tmp_path / "elsewhere")
    with pytest.raises(DataNotFound, match="no data directory given"):
        find_translation_data("multi30k", None)
    with pytest.raises(DataError, match="dataset: expected one of multi30k, wmt16"):
        find_translation_data("iwslt", tmp_path)


# -- tokeniser ----------------------------------------------------------------------------------
def test_tokeniser_round_trip_on_real_multi30k_lines() -> None:
    """Decoding the pieces gives back each line (up to sentencepiece's whitespace collapsing)."""
    en, de = fixture_pairs()
    tok = Tokenizer(train_sentencepiece(en + de, 500))
    assert 100 < tok.vocab_size <= 500
    ids = tok.encode(en + de)
    assert all(all(i >= 4 for i in seq) for seq in ids)  # no special ids inside a sentence
    assert tok.decode(ids) == [" ".join(s.split()) for s in en + de]
    # pieces, not characters: a sentence is much shorter in tokens than in characters
    assert sum(map(len, ids)) < 0.5 * sum(map(len, en + de))


@needs_real
def test_tokeniser_round_trip_on_the_real_multi30k_files(tmp_path: Path) -> None:
    data, info = load_translation(
        "multi30k", REAL_MULTI30K.parent, tmp_path, vocab_size=2000, train_subset=3000
    )
    assert info["train_pairs"] == 3000 and info["valid_pairs"] == 1014
    assert info["test_pairs"] == 1000 and info["vocab_size_used"] == 2000
    tok = tokenizer_of(data)
    refs = data["test_ref"]
    lens = data["test_tgt_len"]
    flat = data["test_tgt"].tolist()
    starts = [0, *torch.cumsum(lens, 0).tolist()]
    decoded = tok.decode([flat[a:b] for a, b in itertools.pairwise(starts)])
    same = sum(d == " ".join(r.split()) for d, r in zip(decoded, refs, strict=True))
    assert same >= 0.99 * len(refs)  # a rare character unseen in training decodes as unknown


def test_the_tokeniser_is_trained_on_the_training_split_only_and_cached(tmp_path: Path) -> None:
    multi30k_dir(tmp_path)
    cache = tmp_path / "cache"
    data, info = load_translation("multi30k", tmp_path, cache, vocab_size=300)
    assert not info["cache_hit"] and info["train_pairs"] == 48
    assert info["valid_pairs"] == 8 and info["test_pairs"] == 8
    again, info2 = load_translation("multi30k", tmp_path, cache, vocab_size=300)
    assert info2["cache_hit"] and torch.equal(again["train_src"], data["train_src"])
    # the model's pieces come from training text: a word only in the test split is split up
    en, de = fixture_pairs()
    test_only = {w for s in de[56:] for w in s.split()} - {
        w for s in en[:48] + de[:48] for w in s.split()
    }
    pieces = {tokenizer_of(data).sp.id_to_piece(i) for i in range(tokenizer_of(data).vocab_size)}
    assert test_only and not {"▁" + w for w in test_only if len(w) > 4} & pieces
    # another vocabulary size is another cache entry
    _, info3 = load_translation("multi30k", tmp_path, cache, vocab_size=250)
    assert not info3["cache_hit"]
    # a changed source is decoded again
    write(tmp_path / "multi30k/train.en", en[:48], gz=True)
    os.utime(tmp_path / "multi30k/train.en.gz", ns=(1, 1))
    _, info4 = load_translation("multi30k", tmp_path, cache, vocab_size=300)
    assert not info4["cache_hit"]


def test_a_too_small_corpus_gets_fewer_pieces_not_an_error(tmp_path: Path) -> None:
    tok = Tokenizer(train_sentencepiece(["ein hund", "zwei hunde"], 8000))
    assert tok.vocab_size < 100
    with pytest.raises(DataError, match="no training sentences"):
        train_sentencepiece(["", ""], 100)


# -- batches ------------------------------------------------------------------------------------
def _data(n: int = 64) -> tuple[dict, Tokenizer]:
    en, de = fixture_pairs()
    tok = Tokenizer(train_sentencepiece(en + de, 500))
    par = Parallel({s: en[:n] for s in SPLITS}, {s: de[:n] for s in SPLITS})
    return encode_splits(par, tok), tok


def test_batches_hold_at_most_max_tokens_and_every_pair_once() -> None:
    data, _ = _data()
    b = TranslationBatches(data, "train", torch.device("cpu"), max_tokens=200, seed=3)
    seen: list[int] = []
    for (src, tgt_in), tgt_out in b.epoch(1):
        assert src.numel() <= 200 and tgt_in.numel() <= 200
        assert tgt_in.shape == tgt_out.shape and src.shape[0] == tgt_in.shape[0]
    for idx in b.batches:
        seen += idx.tolist()
        width = max(int(b.src.len[idx].max()), int(b.tgt.len[idx].max()) + 1)
        assert len(idx) * width <= 200
    assert sorted(seen) == list(range(64)) and len(b) > 3
    assert b.target_tokens == int((data["train_tgt_len"] + 1).sum())
    assert b.padded_tokens >= max(b.target_tokens, b.source_tokens)


def test_batch_contents_are_source_eos_and_shifted_target() -> None:
    data, tok = _data(8)
    b = TranslationBatches(data, "train", torch.device("cpu"), max_tokens=10_000)
    idx = b.batches[0]
    (src, tgt_in), tgt_out = b.make(idx)
    for row, i in enumerate(idx.tolist()):
        n_src, n_tgt = int(b.src.len[i]), int(b.tgt.len[i])
        assert src[row, n_src - 1] == EOS and (src[row, n_src:] == PAD).all()
        assert tgt_in[row, 0] == BOS and tgt_out[row, n_tgt] == EOS
        assert torch.equal(tgt_in[row, 1 : n_tgt + 1], tgt_out[row, :n_tgt])
        assert (tgt_out[row, n_tgt + 1 :] == PAD).all() and (tgt_in[row, n_tgt + 1 :] == PAD).all()
        assert tok.decode([tgt_out[row, :n_tgt].tolist()])[0] == " ".join(
            fixture_pairs()[1][i].split()
        )


def test_batching_is_deterministic_by_seed_and_shuffled_per_epoch() -> None:
    data, _ = _data()

    def order(seed: int, epoch: int) -> list[list[int]]:
        b = TranslationBatches(data, "train", torch.device("cpu"), max_tokens=200, seed=seed)
        return [s.tolist() for (s, _), _ in b.epoch(epoch)]

    assert order(0, 1) == order(0, 1)
    assert order(0, 1) != order(0, 2)  # a new order every epoch
    assert sorted(map(str, order(0, 1))) == sorted(map(str, order(0, 2)))  # the same batches
    assert order(0, 1) != order(1, 1)


def test_length_bucketing_keeps_padding_small() -> None:
    rng = random.Random(0)
    src = torch.tensor([rng.randint(3, 60) for _ in range(2000)])
    tgt = src + torch.tensor([rng.randint(-2, 2) for _ in range(2000)]).clamp(min=1)
    batches = plan_batches(src, tgt, 1024, seed=0, pad_multiple=8)
    padded = sum(len(b) * -(-int(torch.maximum(src[b], tgt[b]).max()) // 8) * 8 for b in batches)
    real = int(torch.maximum(src, tgt).sum())
    assert padded < 1.2 * real  # batches of similar lengths
    assert all(
        len(b) * -(-int(torch.maximum(src[b], tgt[b]).max()) // 8) * 8 <= 1024 for b in batches
    )


def test_long_pairs_are_dropped_and_counted() -> None:
    data, _ = _data()
    b = TranslationBatches(data, "train", torch.device("cpu"), max_tokens=500, max_len=12)
    assert b.dropped > 0 and b.n_pairs + b.dropped == 64
    with pytest.raises(DataError, match="no training pair fits max_len=2 tokens"):
        TranslationTask(data, torch.device("cpu"), max_tokens=500, max_len=2)


def test_task_counts_and_protocol() -> None:
    data, _ = _data()
    task = TranslationTask(data, torch.device("cpu"), max_tokens=300, seed=0)
    assert task.n_train == 64 and task.steps == len(list(task.train_batches(1)))
    assert task.quality == BLEU_SPEC and task.quality.higher_is_better
    batches = list(task.train_batches(2))
    assert sum(task.samples_in(b) for b in batches) == 64
    assert sum(task.tokens_in(b) for b in batches) == task.tokens_per_epoch
    with pytest.raises(ValueError, match="eval_split: expected 'valid' or 'test'"):
        TranslationTask(data, torch.device("cpu"), max_tokens=300, eval_split="train")


def test_synthetic_data_has_the_same_layout_and_claims_no_bleu() -> None:
    data = synthetic_translation(100, 300, min_len=4, max_len=9, seed=0)
    assert len(data["train_src_len"]) == 100 and int(data["train_src"].max()) < 300
    assert int(data["train_src_len"].min()) >= 4 and int(data["train_src_len"].max()) <= 9
    assert synthetic_translation(100, 300, seed=0)["train_tgt"].equal(
        synthetic_translation(100, 300, seed=0)["train_tgt"]
    )
    task = TranslationTask(data, torch.device("cpu"), max_tokens=200, synthetic=True)
    (src, _), _ = next(iter(task.train_batches(1)))
    ends = (src != PAD).sum(1) - 1
    assert (src[torch.arange(len(src)), ends] == EOS).all()
    with pytest.raises(DataError, match="synthetic data: there are no references"):
        task.evaluate(
            _ctx(Transformer(TransformerConfig(vocab_size=300, d_model=8, heads=2, d_ff=8)))
        )
    with pytest.raises(ValueError, match="vocab_size: expected more than the 4 special tokens"):
        synthetic_translation(1, 4)


# -- BLEU ---------------------------------------------------------------------------------------
def test_bleu_of_a_perfect_and_a_shuffled_hypothesis() -> None:
    _, de = fixture_pairs()
    perfect = corpus_bleu(de, de)
    assert perfect.score == pytest.approx(100.0)
    assert perfect.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    shuffled = de[1:] + de[:1]  # every hypothesis is another caption
    low = corpus_bleu(shuffled, de)
    assert 0 < low.score < 10
    assert corpus_chrf(de, de)[0] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="hypotheses: 2 sentences for 3 references"):
        corpus_bleu(de[:2], de[:3])


def test_evaluation_returns_bleu_with_secondary_values() -> None:
    data, _ = _data(16)
    task = TranslationTask(
        data, torch.device("cpu"), max_tokens=400, eval_split="valid", max_new_tokens=4
    )
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=500, d_model=16, heads=2, d_ff=32, encoder_layers=1,
                            decoder_layers=1, max_positions=128)  # fmt: skip
    m = Transformer(cfg).train()
    calls = []

    def autocast() -> object:
        calls.append(1)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    q = task.evaluate(_ctx(m, autocast))
    assert isinstance(q, Quality) and q.spec.metric == "bleu" and q.spec.unit == "BLEU"
    assert 0 <= q.value < 5 and calls and m.training  # untrained; mode restored
    s = q.secondary
    assert str(s["bleu_signature"]).startswith("nrefs:1|case:mixed")
    assert s["decoding"] == "greedy" and s["eval_pairs"] == 16
    assert float(s["val_loss"]) > 5 and float(s["chrf"]) >= 0
    beam = TranslationTask(
        data, torch.device("cpu"), max_tokens=400, eval_split="valid", beam=2, max_new_tokens=4
    )
    assert beam.evaluate(_ctx(m)).secondary["decoding"] == "beam 2, length penalty alpha 0.6"


def _ctx(model: Any, autocast: Any = contextlib.nullcontext) -> EvalContext:
    """What the trainer hands an evaluation: the model, the forward it trains with, the
    precision's autocast."""
    return EvalContext(model, model, autocast, lambda x: x, torch.device("cpu"))
