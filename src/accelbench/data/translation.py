"""Parallel text for translation: Multi30k and WMT16 English-German, tokenised with a joint
sentencepiece vocabulary and served as token-count batches on the device.

**Layouts read** (directories; a file may be plain text or gzipped, ``NAME`` or ``NAME.gz``):

- Multi30k task 1 (Elliott et al. 2016), as github.com/multi30k/dataset publishes it:
  ``train.{en,de}``, ``val.{en,de}``, ``test_2016_flickr.{en,de}``, one sentence a line,
  line-aligned across the two languages; in ``multi30k/`` under the data directory.
- WMT16 en-de, in ``wmt16_en_de/`` (or ``wmt16-en-de/``, ``wmt16/``): training data either as
  the official parallel corpora anywhere below it (``europarl-v7.de-en.{de,en}``,
  ``commoncrawl.de-en.{de,en}``, ``news-commentary-v11.de-en.{de,en}``, as the WMT16 tarballs
  unpack) or as ``train.{en,de}`` (the layout of the GNMT/MLPerf ``wmt16_en_de.sh`` script);
  test sets as the official SGML (``newstestYYYY-{deen,ende}-{src,ref}.LANG.sgm``, from the
  dev/test tarballs) or plain ``newstestYYYY.LANG``. Validation is newstest2013 and the test
  set newstest2014 (the paper's and MLPerf's), both overridable.

**Tokenisation** is sentencepiece (Kudo & Richardson 2018), BPE by default as the paper's
shared byte-pair vocabulary, trained on the source and target sides of the **training split
only** (a deterministic, evenly strided sample of at most ``spm_sentences`` lines for WMT16's
4.5M pairs). Chosen over Hugging Face tokenizers because it works on raw text with no
pre-tokeniser, so decoding is exact detokenisation (whitespace is a symbol) and BLEU is
computed on plain text as sacrebleu expects, with no Moses detokeniser in between; because its
model is one self-contained file kept in the cache; and because it is one small wheel with no
dependencies. Its default normalisation (NFKC, runs of spaces collapsed) applies; references
for BLEU are the original lines. Ids 0-3 are pad, unknown, begin and end of sentence.

The trained model and the encoded splits are cached together (:func:`accelbench.data.common.
cached`), keyed by the source files' sizes and times and every tokeniser setting.

**Batches** follow fairseq's ``batch_by_size``: pairs ordered by (source, target) length with a
seeded random tie-break, cut into runs whose padded size ``sentences x max(source, target
length)`` stays within ``max_tokens``. The batches are fixed once (so ``steps`` is the same
every epoch) and their order is shuffled per epoch from the seed: the same sequence on every
platform. Token ids live on the device as one flat tensor; a batch is gathered and padded
there. Sources end with ``eos``; the decoder reads ``bos`` + target and predicts target +
``eos``. Training pairs longer than ``max_len`` tokens are dropped (and counted).
"""

from __future__ import annotations

import gzip
import html
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from accelbench.data.common import DataError, DataNotFound, cached, find_source
from accelbench.models.transformer import BOS, EOS, PAD, UNK

FORMAT_VERSION = 1
DATASETS = ("multi30k", "wmt16")
SPLITS = ("train", "valid", "test")
MULTI30K_DIRS = ["multi30k", "multi30k-dataset", "Multi30k"]
MULTI30K_FILES = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
WMT16_DIRS = ["wmt16_en_de", "wmt16-en-de", "wmt16"]
# The WMT16 news task's en-de parallel training corpora (statmt.org/wmt16/translation-task.html),
# in the order the GNMT/MLPerf preparation script concatenates them.
WMT16_CORPORA = ("europarl-v7.de-en", "commoncrawl.de-en", "news-commentary-v11.de-en")
WMT16_EVAL = {"valid": "newstest2013", "test": "newstest2014"}
_SEG = re.compile(r"<seg[^>]*>(.*?)</seg>", re.IGNORECASE | re.DOTALL)


# -- reading ----------------------------------------------------------------------------------
def _existing(path: Path) -> Path | None:
    """``path`` or ``path.gz``, whichever exists."""
    for p in (path, path.with_name(path.name + ".gz")):
        if p.is_file():
            return p
    return None


def read_lines(path: Path) -> list[str]:
    """One sentence a line from a plain or gzipped UTF-8 file, surrounding whitespace removed."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise DataNotFound(f"{path}: no such file") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    return [line.strip() for line in lines]


def read_sgm(path: Path) -> list[str]:
    """The ``<seg>`` texts of a WMT SGML test file, XML entities unescaped, in file order."""
    text = "\n".join(read_lines(path))
    segs = [html.unescape(s).strip() for s in _SEG.findall(text)]
    if not segs:
        raise DataError(f"{path}: no <seg> elements (expected WMT SGML)")
    return segs


def _read_any(path: Path) -> list[str]:
    return read_sgm(path) if ".sgm" in path.name else read_lines(path)


def read_parallel(src_path: Path, tgt_path: Path) -> tuple[list[str], list[str]]:
    """Two line-aligned files; a different number of sentences is an error naming both."""
    src, tgt = _read_any(src_path), _read_any(tgt_path)
    if len(src) != len(tgt):
        raise DataError(
            f"{src_path} has {len(src)} sentences but {tgt_path} has {len(tgt)}: the two "
            "languages must be line-aligned"
        )
    return src, tgt


@dataclass
class Parallel:
    """The three splits of a corpus as raw sentence pairs, and the files they came from."""

    src: dict[str, list[str]]
    tgt: dict[str, list[str]]
    files: dict[str, list[str]] = field(default_factory=dict)


def _pair_files(folder: Path, stem: str, src_lang: str, tgt_lang: str) -> tuple[Path, Path]:
    paths = []
    for lang in (src_lang, tgt_lang):
        p = _existing(folder / f"{stem}.{lang}")
        if p is None:
            raise DataNotFound(f"{folder / f'{stem}.{lang}'}: no such file (nor .gz)")
        paths.append(p)
    return paths[0], paths[1]


def read_multi30k(root: Path, src_lang: str = "en", tgt_lang: str = "de") -> Parallel:
    """Multi30k task 1 from its published file names under ``root``."""
    out = Parallel({}, {})
    for split, stem in MULTI30K_FILES.items():
        s, t = _pair_files(root, stem, src_lang, tgt_lang)
        out.src[split], out.tgt[split] = read_parallel(s, t)
        out.files[split] = [str(s), str(t)]
    return out


def _find_wmt_eval(root: Path, name: str, lang: str, role: str) -> Path:
    """newstestYYYY as official SGML (preferring the ``role`` side, src or ref) or plain."""
    sgm = sorted(root.rglob(f"{name}-*-{role}.{lang}.sgm")) + sorted(
        root.rglob(f"{name}-*-*.{lang}.sgm")
    )
    if sgm:
        return sgm[0]
    for p in sorted(root.rglob(f"{name}.{lang}")) + sorted(root.rglob(f"{name}.{lang}.gz")):
        return p
    raise DataNotFound(
        f"{name} ({lang}) not found under {root}: expected {name}-*-{role}.{lang}.sgm (the WMT "
        f"dev/test tarballs) or a plain {name}.{lang}"
    )


def read_wmt16(
    root: Path,
    src_lang: str = "en",
    tgt_lang: str = "de",
    valid_set: str = WMT16_EVAL["valid"],
    test_set: str = WMT16_EVAL["test"],
) -> Parallel:
    """WMT16 en-de from the official corpora or the GNMT/MLPerf script's ``train.*`` files."""
    out = Parallel({}, {})
    flat = _existing(root / f"train.{src_lang}")
    if flat is not None:
        s, t = _pair_files(root, "train", src_lang, tgt_lang)
        out.src["train"], out.tgt["train"] = read_parallel(s, t)
        out.files["train"] = [str(s), str(t)]
    else:
        out.src["train"], out.tgt["train"], out.files["train"] = [], [], []
        for corpus in WMT16_CORPORA:
            hits = sorted(root.rglob(f"{corpus}.{src_lang}")) + sorted(
                root.rglob(f"{corpus}.{src_lang}.gz")
            )
            if not hits:
                continue
            s, t = _pair_files(hits[0].parent, corpus, src_lang, tgt_lang)
            a, b = read_parallel(s, t)
            out.src["train"] += a
            out.tgt["train"] += b
            out.files["train"] += [str(s), str(t)]
        if not out.files["train"]:
            names = ", ".join(f"{c}.{src_lang}" for c in WMT16_CORPORA)
            raise DataNotFound(
                f"WMT16 training data not found under {root}: expected train.{src_lang}/"
                f"train.{tgt_lang} or the official corpora ({names}, and their .{tgt_lang} "
                "sides), plain or .gz"
            )
    for split, name in (("valid", valid_set), ("test", test_set)):
        s = _find_wmt_eval(root, name, src_lang, "src")
        t = _find_wmt_eval(root, name, tgt_lang, "ref")
        out.src[split], out.tgt[split] = read_parallel(s, t)
        out.files[split] = [str(s), str(t)]
    return out


def find_translation_data(dataset: str, data_dir: Path | None) -> Path:
    """The folder of ``dataset`` under ``data_dir`` (or ``data_dir`` itself when it is one)."""
    if dataset not in DATASETS:
        raise DataError(f"dataset: expected one of {', '.join(DATASETS)}, got {dataset!r}")
    if dataset == "multi30k":
        if data_dir is not None and _existing(data_dir / "train.en") is not None:
            return data_dir
        return find_source(data_dir, MULTI30K_DIRS, "Multi30k")
    return find_source(data_dir, WMT16_DIRS, "WMT16 en-de")


# -- tokeniser --------------------------------------------------------------------------------
def _strided(lines: list[str], limit: int | None) -> list[str]:
    """At most ``limit`` lines, evenly strided: deterministic, and spread over every corpus."""
    if limit is None or len(lines) <= limit:
        return lines
    step = len(lines) / limit
    return [lines[int(i * step)] for i in range(limit)]


def train_sentencepiece(
    sentences: list[str],
    vocab_size: int,
    model_type: str = "bpe",
    *,
    max_sentences: int | None = None,
    character_coverage: float = 1.0,
) -> bytes:
    """A sentencepiece model (serialised) trained on ``sentences``; ids 0-3 pad/unk/bos/eos.

    The vocabulary is a soft limit: a corpus too small for ``vocab_size`` pieces gets fewer
    (see :attr:`Tokenizer.vocab_size`). Single-threaded so the result is the same everywhere.
    """
    import sentencepiece as spm

    if model_type not in ("bpe", "unigram"):
        raise ValueError(f"model_type: expected 'bpe' or 'unigram', got {model_type!r}")
    sample = [s for s in _strided(sentences, max_sentences) if s]
    if not sample:
        raise DataError("tokeniser: no training sentences")
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sample),
            model_writer=buf,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            pad_id=PAD,
            unk_id=UNK,
            bos_id=BOS,
            eos_id=EOS,
            hard_vocab_limit=False,
            num_threads=1,
            minloglevel=2,
            input_sentence_size=0,
            shuffle_input_sentence=False,
        )
    except RuntimeError as exc:
        raise DataError(f"tokeniser: sentencepiece training failed ({exc})") from None
    return buf.getvalue()


class Tokenizer:
    """A trained sentencepiece model: text <-> ids (no bos/eos added)."""

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self.model = model
        self.sp = spm.SentencePieceProcessor(model_proto=model)

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts)

    def decode(self, ids: list[list[int]]) -> list[str]:
        return self.sp.decode(ids)


# -- encoding and caching ---------------------------------------------------------------------
def _flat(seqs: list[list[int]], suffix: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) + len(suffix) for s in seqs], dtype=torch.int64)
    ids = torch.tensor([t for s in seqs for t in (*s, *suffix)], dtype=torch.int32)
    return ids, lengths


def encode_splits(parallel: Parallel, tok: Tokenizer) -> dict[str, Any]:
    """Flat int32 ids and int64 lengths per split: sources end with ``eos``; targets are the
    bare pieces (the batch adds ``bos`` / ``eos``). Evaluation splits keep their reference
    text for BLEU; ``spm_model`` is the tokeniser, so the data is self-contained."""
    out: dict[str, Any] = {
        "spm_model": torch.frombuffer(bytearray(tok.model), dtype=torch.uint8).clone()
    }
    for split in SPLITS:
        out[f"{split}_src"], out[f"{split}_src_len"] = _flat(tok.encode(parallel.src[split]), [EOS])
        out[f"{split}_tgt"], out[f"{split}_tgt_len"] = _flat(tok.encode(parallel.tgt[split]), [])
        if split != "train":
            out[f"{split}_ref"] = list(parallel.tgt[split])
            out[f"{split}_src_text"] = list(parallel.src[split])
    return out


def _subset(parallel: Parallel, split: str, n: int | None) -> None:
    if n is not None:
        parallel.src[split] = parallel.src[split][:n]
        parallel.tgt[split] = parallel.tgt[split][:n]


def load_translation(
    dataset: str,
    data_dir: Path | None,
    cache_dir: Path,
    *,
    src_lang: str = "en",
    tgt_lang: str = "de",
    vocab_size: int = 8000,
    model_type: str = "bpe",
    spm_sentences: int | None = 2_000_000,
    train_subset: int | None = None,
    eval_subset: int | None = None,
    reader: Callable[[Path], Parallel] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Encoded splits, the tokeniser model and where they came from (cached; see header).

    ``train_subset`` / ``eval_subset`` keep the first N pairs of the training / evaluation
    splits (the tokeniser is then trained on the training subset only).
    """
    root = find_translation_data(dataset, data_dir)
    fingerprint = _fingerprint(root)
    key = {
        "dataset": dataset,
        "source": fingerprint,
        "langs": [src_lang, tgt_lang],
        "vocab_size": vocab_size,
        "model_type": model_type,
        "spm_sentences": spm_sentences,
        "train_subset": train_subset,
        "eval_subset": eval_subset,
        "v": FORMAT_VERSION,
    }
    files: dict[str, list[str]] = {}

    def build() -> dict[str, Any]:
        if reader is not None:
            parallel = reader(root)
        elif dataset == "multi30k":
            parallel = read_multi30k(root, src_lang, tgt_lang)
        else:
            parallel = read_wmt16(root, src_lang, tgt_lang)
        files.update(parallel.files)
        _subset(parallel, "train", train_subset)
        _subset(parallel, "valid", eval_subset)
        _subset(parallel, "test", eval_subset)
        model = train_sentencepiece(
            parallel.src["train"] + parallel.tgt["train"],
            vocab_size,
            model_type,
            max_sentences=spm_sentences,
        )
        data = encode_splits(parallel, Tokenizer(model))
        data["files"] = {k: list(v) for k, v in parallel.files.items()}
        return data

    data, hit = cached(cache_dir, f"translation-{dataset}", key, build)
    info = {
        "dataset": dataset,
        "path": str(root),
        "files": data["files"],
        "cache_hit": hit,
        "direction": f"{src_lang}->{tgt_lang}",
        "tokenizer": f"sentencepiece {model_type}, joint, trained on the training split",
        "vocab_size_requested": vocab_size,
        "vocab_size_used": tokenizer_of(data).vocab_size,
        **{f"{s}_pairs": len(data[f"{s}_src_len"]) for s in SPLITS},
    }
    return data, info


def tokenizer_of(data: dict[str, Any]) -> Tokenizer:
    """The tokeniser stored with :func:`load_translation`'s data."""
    return Tokenizer(data["spm_model"].numpy().tobytes())


def _fingerprint(root: Path) -> str:
    from accelbench.data.common import source_fingerprint

    return source_fingerprint(root)


def synthetic_translation(
    n_train: int,
    vocab_size: int,
    *,
    n_eval: int = 0,
    min_len: int = 5,
    max_len: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """Random token sequences in the layout of :func:`load_translation`: throughput only.

    Source and target lengths are drawn uniformly in [min_len, max_len] (not a real corpus's
    distribution, which is said with every result); ids avoid the four special tokens.
    """
    if vocab_size <= 4:
        raise ValueError(f"vocab_size: expected more than the 4 special tokens, got {vocab_size}")
    g = torch.Generator().manual_seed(seed)
    out: dict[str, Any] = {}
    for split, n in (("train", n_train), ("valid", n_eval), ("test", n_eval)):
        for side, extra in (("src", 1), ("tgt", 0)):
            lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)
            ids = torch.randint(4, vocab_size, (int(lengths.sum()),), generator=g)
            if extra:  # sources end with eos, as the real ones do
                ends = torch.cumsum(lengths, 0) - 1
                ids[ends] = EOS
            out[f"{split}_{side}"], out[f"{split}_{side}_len"] = ids.to(torch.int32), lengths
    return out


# -- batching ---------------------------------------------------------------------------------
def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def plan_batches(
    src_len: torch.Tensor,
    tgt_len: torch.Tensor,
    max_tokens: int,
    seed: int,
    pad_multiple: int = 1,
) -> list[torch.Tensor]:
    """Index tensors of token-count batches (fairseq's ``batch_by_size``, see header).

    ``src_len`` / ``tgt_len`` are the padded-sequence lengths each pair needs (source with
    ``eos``, target + 1). A batch's size is ``sentences x max(longest source, longest
    target)``, lengths rounded up to ``pad_multiple``; a single pair over ``max_tokens`` is a
    batch of its own.
    """
    n = len(src_len)
    if n == 0:
        return []
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    order = order[torch.argsort(tgt_len[order], stable=True)]
    order = order[torch.argsort(src_len[order], stable=True)]
    longest = torch.maximum(src_len, tgt_len)[order].tolist()
    batches: list[torch.Tensor] = []
    start, widest = 0, 0
    for i, length in enumerate(longest):
        w = max(widest, _round_up(length, pad_multiple))
        if i > start and w * (i - start + 1) > max_tokens:
            batches.append(order[start:i])
            start, w = i, _round_up(length, pad_multiple)
        widest = w
    batches.append(order[start:])
    return batches


class _Side:
    """One side (source or target) of a split: flat ids on the device, lengths on the host."""

    def __init__(self, ids: torch.Tensor, lengths: torch.Tensor, device: torch.device) -> None:
        self.len = lengths.to(torch.int64).cpu()
        self.ids = ids.to(device=device, dtype=torch.int64)
        starts = torch.cumsum(self.len, 0) - self.len
        self.start = starts.to(device)
        self.dev_len = self.len.to(device)

    def gather(
        self, idx: torch.Tensor, width: int, shift: int = 0, fill: int = PAD
    ) -> torch.Tensor:
        """(len(idx), width) padded ids of pairs ``idx`` (a device tensor), placed from column
        ``shift`` on (the column before is left for ``bos``)."""
        cols = torch.arange(width, device=self.ids.device)[None, :] - shift
        lens = self.dev_len[idx][:, None]
        valid = (cols >= 0) & (cols < lens)
        pos = (self.start[idx][:, None] + cols.clamp(min=0)).clamp(max=max(len(self.ids) - 1, 0))
        return torch.where(valid, self.ids[pos], torch.full_like(pos, fill))


Batch = tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]


class TranslationBatches:
    """Token-count batches of one split on the device: ``((src, tgt_in), tgt_out)``."""

    def __init__(
        self,
        data: dict[str, Any],
        split: str,
        device: torch.device,
        *,
        max_tokens: int,
        seed: int = 0,
        max_len: int | None = None,
        pad_multiple: int = 1,
    ) -> None:
        self.dev, self.seed, self.pad_multiple = device, seed, pad_multiple
        src = _Side(data[f"{split}_src"], data[f"{split}_src_len"], device)
        tgt = _Side(data[f"{split}_tgt"], data[f"{split}_tgt_len"], device)
        self.src, self.tgt = src, tgt
        need_src, need_tgt = src.len, tgt.len + 1  # eos already in sources; bos/eos on targets
        keep = torch.ones(len(need_src), dtype=torch.bool)
        if max_len is not None:
            keep = (need_src <= max_len) & (need_tgt <= max_len)
        self.dropped = int((~keep).sum())
        kept = torch.nonzero(keep).flatten()
        plan = plan_batches(need_src[kept], need_tgt[kept], max_tokens, seed, pad_multiple)
        self.batches = [kept[b] for b in plan]
        self.n_pairs = len(kept)
        self.target_tokens = int(need_tgt[kept].sum())  # target tokens incl. eos (fairseq's)
        self.source_tokens = int(need_src[kept].sum())
        self.padded_tokens = sum(
            len(b) * _round_up(int(max(need_src[b].max(), need_tgt[b].max())), pad_multiple)
            for b in self.batches
        )

    def __len__(self) -> int:
        return len(self.batches)

    def make(self, idx: torch.Tensor) -> Batch:
        """The batch of pairs ``idx`` (host indices): padded source, bos + target, target + eos."""
        m = self.pad_multiple
        ws = _round_up(int(self.src.len[idx].max()), m)
        wt = _round_up(int(self.tgt.len[idx].max()) + 1, m)
        d_idx = idx.to(self.dev)
        src = self.src.gather(d_idx, ws)
        tgt_in = self.tgt.gather(d_idx, wt, shift=1)
        tgt_in[:, 0] = BOS
        tgt_out = self.tgt.gather(d_idx, wt)
        ends = self.tgt.dev_len[d_idx]
        tgt_out.scatter_(1, ends[:, None], EOS)
        return (src, tgt_in), tgt_out

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """Every batch once, in an order drawn from (seed, epoch)."""
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        for j in torch.randperm(len(self.batches), generator=g).tolist():
            yield self.make(self.batches[j])

    def in_order(self) -> Iterator[tuple[torch.Tensor, Batch]]:
        """Every batch in plan order, with the pairs' indices (for evaluation)."""
        for b in self.batches:
            yield b, self.make(b)


# -- the task ---------------------------------------------------------------------------------
class TranslationTask:
    """Training batches and BLEU evaluation of one translation dataset (issue 15's Task).

    ``n_train`` pairs in ``steps`` token-count batches per epoch; ``tokens_per_epoch`` target
    tokens (with ``eos``; fairseq's ``ntokens``) and ``source_tokens_per_epoch``, so a trainer
    gets tokens/s as it gets pairs/s, from host-side counts with no device sync.
    ``evaluate`` returns BLEU on ``eval_split`` (greedy, or beam search with ``beam`` > 1) with
    the validation loss and chrF as secondary values; see
    :func:`accelbench.quality.bleu.evaluate_translation`.
    """

    def __init__(
        self,
        data: dict[str, Any],
        device: torch.device,
        *,
        max_tokens: int,
        seed: int = 0,
        max_len: int | None = 256,
        pad_multiple: int = 1,
        eval_split: str = "test",
        eval_max_tokens: int | None = None,
        beam: int = 1,
        alpha: float = 0.6,
        max_new_tokens: int | None = None,
        synthetic: bool = False,
    ) -> None:
        from accelbench.quality.bleu import BLEU_SPEC

        if eval_split not in ("valid", "test"):
            raise ValueError(f"eval_split: expected 'valid' or 'test', got {eval_split!r}")
        self.quality = BLEU_SPEC
        self.synthetic = synthetic
        self.train = TranslationBatches(
            data,
            "train",
            device,
            max_tokens=max_tokens,
            seed=seed,
            max_len=max_len,
            pad_multiple=pad_multiple,
        )
        if self.train.n_pairs == 0:
            raise DataError(
                f"translation: no training pair fits max_len={max_len} tokens"
                if self.train.dropped
                else "translation: the training split is empty"
            )
        self.n_train = self.train.n_pairs
        self.steps = len(self.train)
        self.tokens_per_epoch = self.train.target_tokens
        self.source_tokens_per_epoch = self.train.source_tokens
        self.eval_split, self.beam, self.alpha = eval_split, beam, alpha
        self.max_new_tokens = max_new_tokens  # None: source length + 50, as the paper
        self.data = data
        self._eval: TranslationBatches | None = None
        self._eval_tokens = eval_max_tokens or max_tokens
        self.device = device

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        return self.train.epoch(epoch)

    def samples_in(self, batch: Batch) -> int:
        return int(batch[1].shape[0])

    def tokens_in(self, batch: Batch) -> int:
        """Real target tokens of one batch (a device sync: prefer ``tokens_per_epoch``)."""
        return int((batch[1] != PAD).sum())

    def eval_batches(self) -> TranslationBatches:
        if self._eval is None:
            self._eval = TranslationBatches(
                self.data, self.eval_split, self.device, max_tokens=self._eval_tokens, seed=0
            )
        return self._eval

    def evaluate(self, ctx: Any) -> Any:
        """BLEU of the model on the evaluation split, with secondary values (a ``Quality``);
        ``ctx`` is the trainer's :class:`~accelbench.training.task.EvalContext`."""
        from accelbench.quality.bleu import evaluate_translation

        if self.synthetic:
            raise DataError("synthetic data: there are no references, so no BLEU to measure")
        return evaluate_translation(
            ctx.model,
            self.eval_batches(),
            self.data[f"{self.eval_split}_ref"],
            tokenizer_of(self.data),
            forward=ctx.forward,
            autocast_ctx_factory=ctx.autocast,
            beam=self.beam,
            alpha=self.alpha,
            max_new_tokens=self.max_new_tokens,
        )
