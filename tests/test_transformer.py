"""The Transformer (issue 16): masks, incremental decoding, beam search, FLOPs against a hand
count and torch's FlopCounterMode, a tiny model overfitting 64 real Multi30k pairs to BLEU > 90,
and the inference model."""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from accelbench import flops as fl
from accelbench.data.translation import (
    SPLITS,
    Parallel,
    Tokenizer,
    TranslationBatches,
    encode_splits,
    read_lines,
    train_sentencepiece,
)
from accelbench.flops import count_model
from accelbench.inference.models import MODELS
from accelbench.models.transformer import (
    BOS,
    EOS,
    PAD,
    PRESETS,
    EncoderLayer,
    GreedyTranslator,
    Transformer,
    TransformerConfig,
    strip_special,
    transformer_config,
    translation_loss,
)
from accelbench.quality.bleu import corpus_bleu

FIXTURES = Path(__file__).parent / "fixtures" / "multi30k"


def tiny(**kw: object) -> TransformerConfig:
    base = {
        "vocab_size": 50,
        "d_model": 16,
        "heads": 2,
        "d_ff": 32,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "dropout": 0.0,
        "max_positions": 64,
    }
    return TransformerConfig(**{**base, **kw})  # type: ignore[arg-type]


def model(**kw: object) -> Transformer:
    torch.manual_seed(0)
    return Transformer(tiny(**kw)).eval()


def tokens(b: int, n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, 50, (b, n), generator=g)


# -- configuration ------------------------------------------------------------------------------
def test_presets_are_the_paper_base_and_a_small_one() -> None:
    b = PRESETS["base"]
    assert (b.encoder_layers, b.decoder_layers, b.d_model, b.heads, b.d_ff, b.dropout) == (
        6,
        6,
        512,
        8,
        2048,
        0.1,
    )
    m = Transformer(transformer_config("base", vocab_size=37000))
    # The paper's Table 3 gives 65M parameters for base with a 37k shared vocabulary.
    assert sum(p.numel() for p in m.parameters()) / 1e6 == pytest.approx(63.1, abs=0.1)
    assert m.project(torch.zeros(1, 512)).shape == (1, 37000)
    assert transformer_config("small").d_model == 256


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"heads": 3}, "heads: d_model"),
        ({"dropout": 1.0}, "dropout: expected a probability"),
        ({"norm": "sandwich"}, "norm: expected 'pre' or 'post'"),
        ({"eos_id": 99}, "eos_id: expected an id below vocab_size"),
        ({"encoder_layers": 0}, "encoder_layers: expected a positive integer"),
    ],
)
def test_config_errors_name_the_field(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny(**kw)


def test_transformer_config_rejects_unknown_presets_and_fields() -> None:
    with pytest.raises(ValueError, match="preset: expected one of base, small"):
        transformer_config("big")
    with pytest.raises(ValueError, match="d_modle: not a TransformerConfig field"):
        transformer_config("small", d_modle=3)


def test_embeddings_and_output_projection_are_one_matrix() -> None:
    m = model()
    out = m(tokens(2, 5), tokens(2, 4))
    assert out.shape == (2, 4, 50)
    h = torch.randn(3, 16)
    assert torch.equal(m.project(h), h @ m.embed.weight.T)
    names = [n for n, _ in m.named_parameters()]
    assert sum("embed" in n for n in names) == 1  # shared, not three copies
    assert torch.count_nonzero(m.embed.weight[PAD]) == 0


# -- masks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_a_decoder_position_never_sees_the_future(norm: str) -> None:
    m = model(norm=norm)
    src, tgt = tokens(2, 6), tokens(2, 7, seed=2)
    changed = tgt.clone()
    changed[:, 4] = (changed[:, 4] + 1 - 4) % 46 + 4  # another real token at position 4
    with torch.no_grad():
        a, b = m(src, tgt), m(src, changed)
    torch.testing.assert_close(a[:, :4], b[:, :4], rtol=0, atol=1e-6)
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-3  # the change is seen from position 4 on


def test_padding_is_invisible() -> None:
    m = model()
    src, tgt = tokens(2, 6), tokens(2, 5, seed=2)
    with torch.no_grad():
        ref = m(src, tgt)
        padded_src = torch.cat([src, torch.full((2, 3), PAD)], dim=1)
        padded_tgt = torch.cat([tgt, torch.full((2, 2), PAD)], dim=1)
        out = m(padded_src, padded_tgt)
    torch.testing.assert_close(out[:, :5], ref, rtol=1e-5, atol=1e-5)
    # and one sentence's padding does not change another sentence's output
    with torch.no_grad():
        one = m(src[:1], tgt[:1])
        both = torch.cat([src[:1], torch.full((1, 3), PAD)], dim=1), tgt[:1]
        torch.testing.assert_close(m(*both), one, rtol=1e-5, atol=1e-5)


def test_the_source_mask_marks_real_tokens() -> None:
    m = model()
    src = torch.tensor([[5, 6, EOS, PAD]])
    assert m.source_mask(src).tolist() == [[[[True, True, True, False]]]]


def test_translation_loss_ignores_padding() -> None:
    logits = torch.randn(2, 3, 10)
    target = torch.tensor([[4, 5, PAD], [6, PAD, PAD]])
    got = translation_loss(logits, target, label_smoothing=0.0)
    want = F.cross_entropy(logits[target != PAD], target[target != PAD])
    torch.testing.assert_close(got, want)


# -- decoding -----------------------------------------------------------------------------------
def test_cached_greedy_decoding_equals_recomputing_the_prefix() -> None:
    m = model()
    src = tokens(3, 7)
    src[1, 4:] = PAD
    a = m.greedy(src, 9, stop_at_eos=False)
    b = m.greedy(src, 9, stop_at_eos=False, use_cache=False)
    assert a.shape == (3, 9) and torch.equal(a, b)
    assert not ((a == PAD) | (a == BOS)).any()  # never emitted


def test_greedy_stops_at_eos_and_pads_after_it() -> None:
    m = model()
    with torch.no_grad():  # make eos the likeliest token: the final norm's bias points at it
        m.dec_norm.bias.fill_(10.0)
        m.embed.weight[EOS] = 1.0
    out = m.greedy(tokens(2, 5), 10)
    assert out.shape[1] < 10 and (out[:, 0] == EOS).all()
    assert strip_special(out[0].tolist(), m.config) == []
    assert strip_special([7, 8, EOS, 9], m.config) == [7, 8]


def test_beam_of_one_without_length_penalty_is_greedy() -> None:
    m = model()
    src = tokens(3, 6)
    greedy = [strip_special(r, m.config) for r in m.greedy(src, 8).tolist()]
    assert m.beam_search(src, beam=1, alpha=0.0, max_new_tokens=8) == greedy


def test_beam_search_scores_at_least_as_well_as_greedy() -> None:
    m = model()
    src = tokens(4, 6)

    def logprob(hyp: list[int], i: int) -> float:
        full = torch.tensor([[BOS, *hyp]])
        target = torch.tensor([*hyp, EOS])
        with torch.no_grad():
            logits = m(src[i : i + 1], full)[0].float()
        logits[:, PAD] = logits[:, BOS] = -math.inf
        return float(torch.log_softmax(logits, -1)[torch.arange(len(target)), target].sum())

    greedy = [strip_special(r, m.config) for r in m.greedy(src, 6, stop_at_eos=False).tolist()]
    beam = m.beam_search(src, beam=4, alpha=0.0, max_new_tokens=6)
    assert len(beam) == 4
    for i in range(4):
        if len(greedy[i]) < 6:  # greedy finished: beam (which saw it) is at least as likely
            assert logprob(beam[i], i) >= logprob(greedy[i], i) - 1e-4
    with pytest.raises(ValueError, match="beam: expected a positive integer"):
        m.beam_search(src, beam=0)


def test_too_long_a_sequence_is_refused_by_name() -> None:
    m = model()
    with pytest.raises(ValueError, match="longer than max_positions \\(64\\)"):
        m(tokens(1, 65), tokens(1, 2))


# -- FLOPs --------------------------------------------------------------------------------------
def test_one_encoder_block_against_a_hand_count() -> None:
    """FLOPs of one pre-norm encoder block, written out: b=2 sentences of n=5 tokens, d=16,
    h=2 heads of 8, d_ff=32, a key-padding mask; counted on the real (fused SDPA) CPU path."""
    torch.manual_seed(0)
    c = tiny()
    block = EncoderLayer(c).eval()
    b, n, d, h, ff = 2, 5, 16, 2, 32
    x = torch.randn(b, n, d)
    mask = torch.zeros(b, 1, 1, n)  # additive, as Transformer.encode makes it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may be left uncounted
        got = count_model(block, x, mask)
    rows = b * n
    macs = (
        rows * d * 3 * d  # Q, K, V projection
        + b * h * n * n * (d // h) * 2  # scores Q K^T and attention x V
        + rows * d * d  # output projection
        + rows * d * ff * 2  # feed-forward in and out
    )
    layer_norm = 2 * rows * (5 * d + 3 + 2 * d)  # two of them: statistics 5d+3, affine 2d
    biases = rows * (3 * d + d + ff + d)
    attention = (
        b * h * n * (d // h)  # scale q by 1/sqrt(d_head)
        + b * h * n * n  # add the mask to every score
        + b * h * n * (5 * n - 2)  # softmax rows
    )
    relu = rows * ff
    residuals = 2 * rows * d
    other = layer_norm + biases + attention + relu + residuals
    assert (
        got.forward.macs == macs == 2 * 5 * (48 * 16 + 16 * 16 + 2 * 16 * 32) + 2 * 2 * 5 * 5 * 16
    )
    assert got.forward.flops == 2 * macs + other
    # the per-op library says the same for the attention core
    core = fl.scaled_dot_product_attention(
        batch=b, heads=h, q_len=n, kv_len=n, head_dim=d // h, mask=True
    )
    sdpa = next(r for r in got.rows if r.op == "aten.scaled_dot_product_attention")
    assert sdpa.count.forward.flops == core.forward.flops
    assert sdpa.count.backward.flops == core.backward.flops


def test_sdpa_op_by_hand_and_against_flop_counter() -> None:
    c = fl.scaled_dot_product_attention(batch=2, heads=3, q_len=4, kv_len=5, head_dim=8)
    assert c.forward.macs == 2 * 3 * 4 * 5 * 8 * 2
    assert c.forward.flops == 2 * c.forward.macs + 2 * 3 * 4 * 8 + 2 * 3 * 4 * (5 * 5 - 2)
    assert c.backward.macs == 2 * c.forward.macs and c.params == 0
    masked = fl.scaled_dot_product_attention(
        batch=2, heads=3, q_len=4, kv_len=5, head_dim=8, mask=True
    )
    assert masked.forward.flops - c.forward.flops == 2 * 3 * 4 * 5
    assert fl.OPS["scaled_dot_product_attention"] is fl.scaled_dot_product_attention
    q, k, v = (torch.randn(2, 3, n, 8, requires_grad=True) for n in (4, 5, 5))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        F.scaled_dot_product_attention(q, k, v).sum().backward()
    assert 2 * c.total("forward+backward").macs == fc.get_total_flops()
    with pytest.raises(ValueError, match="head_dim: expected a positive integer"):
        fl.scaled_dot_product_attention(batch=1, heads=1, q_len=1, kv_len=1, head_dim=0)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_whole_model_macs_agree_with_flop_counter(norm: str) -> None:
    """Forward and forward+backward MACs of the whole model (attention included) equal
    FlopCounterMode's count of the math-backend run, which sees every matrix product."""
    m = model(norm=norm).train()
    src, tgt = tokens(2, 6), tokens(2, 5, seed=2)
    src[1, 4:] = PAD
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = count_model(m, src, tgt, mode="forward+backward")
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        out = m(src, tgt)
        fwd = fc.get_total_flops()
        out.sum().backward()
        both = fc.get_total_flops()
    assert 2 * c.forward.macs == fwd
    assert 2 * c.total().macs == both
    ops = c.by_op()
    assert "aten.scaled_dot_product_attention" in ops and "layer_norm" in ops
    assert not c.uncounted


# -- training: a tiny model learns 64 real pairs -----------------------------------------------
def _fixture_pairs() -> tuple[list[str], list[str]]:
    return read_lines(FIXTURES / "train64.en"), read_lines(FIXTURES / "train64.de")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Matrices of 64 x 64 are too small to split: a second thread only adds overhead (and
    on a busy host, waiting for a core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_a_tiny_transformer_overfits_64_real_multi30k_pairs_to_bleu_over_90() -> None:
    """Memorising 64 Multi30k pairs checks the whole path at once: tokeniser, batches, masks,
    loss, decoding, detokenisation, sacrebleu. 80 Adam steps, a few seconds on one core."""
    torch.manual_seed(0)
    en, de = _fixture_pairs()
    tok = Tokenizer(train_sentencepiece(en + de, 1000))
    data = encode_splits(Parallel({s: en for s in SPLITS}, {s: de for s in SPLITS}), tok)
    batches = TranslationBatches(data, "train", torch.device("cpu"), max_tokens=100_000)
    assert len(batches) == 1
    idx = batches.batches[0]
    (src, tgt_in), tgt_out = batches.make(idx)
    cfg = TransformerConfig(
        vocab_size=tok.vocab_size,
        d_model=64,
        heads=2,
        d_ff=128,
        encoder_layers=1,
        decoder_layers=1,
        dropout=0.0,
        max_positions=128,
    )
    m = Transformer(cfg)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3, betas=(0.9, 0.98))
    t0 = time.perf_counter()
    for _ in range(80):
        loss = translation_loss(m(src, tgt_in), tgt_out, label_smoothing=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    hyps = tok.decode([strip_special(r, cfg) for r in m.greedy(src).tolist()])
    bleu = corpus_bleu(hyps, [de[i] for i in idx.tolist()])
    assert bleu.score > 90, (bleu.score, hyps[:3], time.perf_counter() - t0)


@pytest.mark.usefixtures("one_thread")
def test_the_multi30k_benchmark_script_runs_and_records_each_epoch(tmp_path: Path) -> None:
    """benchmarks/transformer_multi30k.py is the recipe's evidence: run it end to end on the
    64 vended pairs laid out as Multi30k (two epochs, so a steady epoch exists), so that it
    keeps working as the library under it changes."""
    import importlib.util

    root = tmp_path / "data" / "multi30k"
    root.mkdir(parents=True)
    for name in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            (root / f"{name}.{lang}").write_text((FIXTURES / f"train64.{lang}").read_text())
    path = Path(__file__).parent.parent / "benchmarks" / "transformer_multi30k.py"
    spec = importlib.util.spec_from_file_location("transformer_multi30k_bench", path)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "out.json"
    argv = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    argv += ["--epochs", "2", "--precisions", "fp32", "--vocab-size", "1000", "--warmup", "4"]
    assert bench.main([*argv, "--max-tokens", "512", "--out", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["pairs"] == 64 and [e["epoch"] for e in run["epochs"]] == [1, 2]
    for e in run["epochs"]:
        assert e["pairs_per_s"] > 0 and e["target_tokens_per_s"] > 0
        assert 0 <= e["bleu"] <= 100 and math.isfinite(e["train_loss"])
    assert run["bleu_signature"].startswith("nrefs:1|case:mixed")
    assert run["steady_epochs"] == 1 and run["steady_pairs_per_s_mean"] > 0


# -- inference ----------------------------------------------------------------------------------
SMALL_OPTS = {"preset": "small", "vocab_size": 60, "src_len": 6, "new_tokens": 5}


def test_inference_model_decodes_a_fixed_number_of_tokens() -> None:
    entry = MODELS.get("transformer").from_dict(SMALL_OPTS)
    torch.manual_seed(0)
    module = entry.build()
    assert isinstance(module, GreedyTranslator) and not module.training
    (src,) = entry.inputs(3, torch.device("cpu"), torch.float32)
    assert src.shape == (3, 6) and (src[:, -1] == EOS).all() and src.dtype == torch.int64
    out = module(src)
    assert out.shape == (3, 5) and out.dtype == torch.int64
    assert entry.describe() == "transformer small src=6 new=5"
    base = MODELS.get("transformer").from_dict({"new_tokens": 3})
    with torch.device("meta"):
        full = base.build()
    (meta_src,) = base.inputs(2, torch.device("meta"), torch.float32)
    assert meta_src.shape == (2, 32) and full(meta_src).shape == (2, 3)


def test_inference_flops_come_from_the_library() -> None:
    """The per-sample count is one encoder pass plus ``new_tokens`` cached decoder steps, and
    grows with the number of decoded tokens by the cost of the extra steps."""
    from accelbench.workloads.inference import _flops_per_sample

    def count(new: int) -> tuple[float, float]:
        key = json.dumps({"new_tokens": new, "preset": "small", "src_len": 6, "vocab_size": 60})
        flops, macs, info = _flops_per_sample("transformer", key)
        assert "uncounted_aten_ops" not in info
        return flops, macs

    f5, m5 = count(5)
    f6, m6 = count(6)
    c = transformer_config("small", vocab_size=60)
    d, ff, layers = c.d_model, c.d_ff, c.decoder_layers
    # step 6 (keys 0..5): per layer self QKV + out, cross Q + out, FFN; the output projection
    step_macs = layers * (3 * d * d + d * d + d * d + d * d + 2 * d * ff) + d * 60
    step_macs += layers * (2 * 6 * d + 2 * 6 * d)  # self-attention over 6 keys, cross over 6
    assert m6 - m5 == step_macs
    assert f6 > f5 > 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"preset": "big"}, "preset"),
        ({"new_tokens": 2000}, "new_tokens"),
        ({"vocab_size": 3}, "vocab_size"),
        ({"src_len": 8, "beam": 4}, "beam"),
    ],
)
def test_inference_options_are_validated(options: dict, match: str) -> None:
    with pytest.raises(Exception, match=match):
        MODELS.get("transformer").from_dict(options)
