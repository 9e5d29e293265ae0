"""IMDB movie reviews (Maas et al., ACL 2011) from the official ``aclImdb`` layout.

``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``, as a directory or ``aclImdb.tar.gz``.
Text is lower-cased, ``<br />`` tags dropped and split into words and punctuation; the
vocabulary is the ``vocab_size`` most frequent words of the **training split only** (ties in
alphabetical order), so nothing about the test set leaks into the model. Index 0 is padding,
1 an unknown word. Each review is truncated to its first ``max_len`` tokens.

A subset takes the first ``ceil(k / 2)`` reviews of each class in file-name order, so it is
the same everywhere; its vocabulary then comes from the training subset.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from accelbench.data.common import (
    DataError,
    FileTree,
    cached,
    find_source,
    source_fingerprint,
)
from accelbench.data.registry import DATASETS

# Where the loader looks under a data directory, in order: the registry's forms of IMDB.
CANDIDATES = DATASETS["imdb"].candidates
LABELS = {"neg": 0, "pos": 1}
PAD, UNK = 0, 1
_TAG = re.compile(r"<[^>]+>")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?.,;:()\"-]")
FORMAT_VERSION = 1


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, HTML tags removed."""
    return _TOKEN.findall(_TAG.sub(" ", text.lower()))


def build_vocab(token_lists: list[list[str]], size: int) -> dict[str, int]:
    """The ``size - 2`` most frequent tokens (ties alphabetical) -> ids from 2."""
    counts = Counter(t for toks in token_lists for t in toks)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(size - 2, 0)]
    return {tok: i + 2 for i, (tok, _) in enumerate(ranked)}


def encode(
    token_lists: list[list[str]], vocab: dict[str, int], max_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, max_len] int32 ids (0-padded) and [N] lengths (at least 1: an empty review is one
    unknown token, so every sequence has something to read)."""
    ids = torch.zeros(len(token_lists), max_len, dtype=torch.int32)
    lengths = torch.ones(len(token_lists), dtype=torch.int64)
    for i, toks in enumerate(token_lists):
        row = [vocab.get(t, UNK) for t in toks[:max_len]] or [UNK]
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.int32)
        lengths[i] = len(row)
    return ids, lengths


def _select(tree: FileTree, split: str, limit: int | None) -> list[tuple[str, int]]:
    names = tree.names()
    prefix = None
    for n in names:
        parts = n.split("/")
        if len(parts) >= 3 and parts[-3] == split and parts[-2] in LABELS and n.endswith(".txt"):
            prefix = "/".join(parts[:-3])
            prefix = prefix + "/" if prefix else ""
            break
    if prefix is None:
        raise DataError(
            f"{tree.path}: no aclImdb {split}/pos/*.txt or {split}/neg/*.txt reviews found "
            "(expected the official aclImdb layout)"
        )
    per = None if limit is None else math.ceil(limit / 2)
    chosen: list[tuple[str, int]] = []
    for label_name, label in LABELS.items():
        d = f"{prefix}{split}/{label_name}/"
        files = sorted(
            n for n in names if n.startswith(d) and n.endswith(".txt") and "/" not in n[len(d) :]
        )
        if not files:
            raise DataError(f"{tree.where(d)}: no reviews (*.txt) in this folder")
        chosen.extend((n, label) for n in files[:per])
    return chosen[:limit] if limit is not None else chosen


def _read_reviews(tree: FileTree, chosen: list[tuple[str, int]]) -> list[list[str]]:
    raw = dict(tree.iter_read({n for n, _ in chosen}))
    out = []
    for n, _ in chosen:
        if n not in raw:
            raise DataError(f"{tree.where(n)}: could not read")
        try:
            text = raw[n].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{tree.where(n)}: not UTF-8 text ({exc})") from None
        out.append(tokenize(text))
    return out


def load_imdb(
    data_dir: Path | None,
    cache_dir: Path,
    *,
    vocab_size: int = 20000,
    max_len: int = 256,
    train_subset: int | None = None,
    eval_subset: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Encoded IMDB tensors (train_x, train_len, train_y, test_...) and where they came from."""
    src = find_source(data_dir, CANDIDATES, "IMDB (aclImdb)", name="imdb")
    key = {
        "source": source_fingerprint(src),
        "vocab_size": vocab_size,
        "max_len": max_len,
        "train_subset": train_subset,
        "eval_subset": eval_subset,
        "v": FORMAT_VERSION,
    }

    def build() -> dict[str, Any]:
        tree = FileTree(src)
        try:
            train = _select(tree, "train", train_subset)
            test = _select(tree, "test", eval_subset)
            # One pass over the archive for both splits.
            toks = _read_reviews(tree, train + test)
        finally:
            tree.close()
        train_toks, test_toks = toks[: len(train)], toks[len(train) :]
        vocab = build_vocab(train_toks, vocab_size)  # training split only
        tx, tl = encode(train_toks, vocab, max_len)
        vx, vl = encode(test_toks, vocab, max_len)
        return {
            "train_x": tx,
            "train_len": tl,
            "train_y": torch.tensor([y for _, y in train]),
            "test_x": vx,
            "test_len": vl,
            "test_y": torch.tensor([y for _, y in test]),
            "vocab_used": len(vocab) + 2,
        }

    data, hit = cached(cache_dir, "imdb", key, build)
    info = {
        "path": str(src),
        "layout": "aclImdb",
        "cache_hit": hit,
        "train_reviews": len(data["train_y"]),
        "test_reviews": len(data["test_y"]),
        "vocab_size_used": int(data["vocab_used"]),
    }
    return data, info


def synthetic_imdb(
    n_train: int, n_test: int, vocab_size: int, max_len: int, seed: int = 0
) -> dict[str, Any]:
    """Random token sequences of IMDB-like lengths: throughput only, never accuracy."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lengths = torch.randint(max(1, max_len // 4), max_len + 1, (n,), generator=g)
        x = torch.randint(2, max(vocab_size, 3), (n, max_len), generator=g, dtype=torch.int64)
        x = x.masked_fill(torch.arange(max_len)[None, :] >= lengths[:, None], PAD).to(torch.int32)
        return x, lengths, torch.randint(0, 2, (n,), generator=g)

    tx, tl, ty = split(n_train)
    vx, vl, vy = split(n_test)
    return {
        "train_x": tx,
        "train_len": tl,
        "train_y": ty,
        "test_x": vx,
        "test_len": vl,
        "test_y": vy,
        "vocab_used": vocab_size,
    }
