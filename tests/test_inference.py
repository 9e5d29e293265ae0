"""Inference models, runtimes, scenarios and the cost comparison (issue 8)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import torch

from accelbench.analysis.cost import compare_cost
from accelbench.api import run_suite, validate_suite
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.environment import collect_environment
from accelbench.errors import ConfigError, Unsupported
from accelbench.inference.models import MODELS
from accelbench.inference.pricing import samples_per_dollar
from accelbench.inference.runtimes import RUNTIMES, ModelJob
from accelbench.results.schema import Metric, Result, Status
from accelbench.timing.protocol import MeasureSettings
from accelbench.workloads import WORKLOADS, RunContext
from accelbench.workloads.inference import _flops_per_sample

SMALL_BERT = {"seq_len": 16, "layers": 2, "hidden": 64, "heads": 2, "intermediate": 128}
SMALL: dict[str, tuple[dict[str, Any], int]] = {
    "resnet50": ({"image_size": 32}, 2),
    "vgg19": ({"image_size": 32}, 2),
    "ssd-resnet34": ({"image_size": 400}, 1),
    "bert-large": (SMALL_BERT, 2),
    "din": ({"history_len": 8}, 3),
}


def _outputs(y: Any) -> list[torch.Tensor]:
    return list(y) if isinstance(y, tuple) else [y]


def _build(name: str, options: dict[str, Any], batch: int, device: str = "cpu") -> Any:
    m = MODELS.get(name).from_dict(options)
    torch.manual_seed(0)
    with torch.device(device):
        module = m.build()
    return m, module, m.inputs(batch, torch.device(device), torch.float32)


@pytest.mark.parametrize(
    ("name", "options", "batch", "shapes"),
    [
        ("resnet50", {}, 2, [(2, 1000)]),
        ("vgg19", {}, 2, [(2, 1000)]),
        # MLPerf's ssd-large: 15130 default boxes at 1200x1200.
        ("ssd-resnet34", {}, 1, [(1, 4, 15130), (1, 81, 15130)]),
        ("bert-large", {}, 1, [(1, 384), (1, 384)]),
        ("din", {}, 4, [(4,)]),
    ],
)
def test_full_size_output_shapes_on_meta(
    name: str, options: dict[str, Any], batch: int, shapes: list[tuple[int, ...]]
) -> None:
    _, module, x = _build(name, options, batch, "meta")
    with torch.no_grad():
        y = _outputs(module(*x))
    assert [tuple(t.shape) for t in y] == shapes


@pytest.mark.parametrize(
    "name",
    [
        *(n for n in sorted(SMALL) if n not in ("vgg19", "ssd-resnet34")),
        # seconds each on 2 cores (VGG's 124 M classifier weights, SSD's 400x400 input)
        pytest.param("vgg19", marks=pytest.mark.slow),
        pytest.param("ssd-resnet34", marks=pytest.mark.slow),
    ],
)
def test_small_models_run_and_give_finite_outputs(name: str) -> None:
    options, batch = SMALL[name]
    m, module, x = _build(name, options, batch)
    with torch.no_grad():
        y = _outputs(module(*x))
    assert all(t.shape[0] == batch and torch.isfinite(t).all() for t in y)
    assert len(y) == len(m.output_names)


def test_parameter_counts_match_the_reference_models() -> None:
    for name, expected in (("resnet50", 25_557_032), ("vgg19", 143_667_240)):
        _, module, _ = _build(name, {}, 1, "meta")
        assert sum(p.numel() for p in module.parameters()) == expected


def test_flops_of_the_study_models() -> None:
    _, macs, _ = _flops_per_sample("resnet50", '{"image_size": 224, "num_classes": 1000}')
    assert macs / 1e9 == pytest.approx(4.1, abs=0.05)
    _, macs, _ = _flops_per_sample("vgg19", '{"image_size": 224, "num_classes": 1000}')
    assert macs / 1e9 == pytest.approx(19.6, abs=0.1)
    flops, _, _ = _flops_per_sample("ssd-resnet34", '{"image_size": 1200, "num_classes": 81}')
    assert flops / 1e9 == pytest.approx(433, rel=0.01)  # MLPerf quotes ~433 GOPs


def _job(name: str, dtype: str, quant: str | None, workdir: Path) -> tuple[ModelJob, list]:
    options, batch = SMALL[name]
    m, module, x = _build(name, options, batch)
    with torch.no_grad():
        ref = _outputs(module(*x))
    job = ModelJob(module, x, m.input_names, m.output_names, dtype, quant, CpuDevice(), workdir)
    return job, ref


def _rel_err(out: list[torch.Tensor], ref: list[torch.Tensor]) -> float:
    return max(
        float((a.float() - r).abs().max() / r.abs().max()) for a, r in zip(out, ref, strict=True)
    )


@pytest.mark.parametrize("name", ["resnet50", "bert-large", "din"])
def test_bfloat16_outputs_are_close_to_float32(name: str, tmp_path: Path) -> None:
    job, ref = _job(name, "bfloat16", None, tmp_path)
    out = RUNTIMES.get("eager")().prepare(job).outputs()
    assert all(t.dtype == torch.bfloat16 for t in out)
    assert 0 < _rel_err(out, ref) < 0.05  # close, and really computed in bfloat16


@pytest.mark.parametrize("name", ["resnet50", "bert-large", "din"])
def test_onnxruntime_matches_eager(name: str, tmp_path: Path) -> None:
    job, ref = _job(name, "float32", None, tmp_path)
    prepared = RUNTIMES.get("onnxruntime")().prepare(job)
    assert prepared.info["providers"] == ["CPUExecutionProvider"]
    assert _rel_err(prepared.outputs(), ref) < 1e-4


def test_int8_dynamic_quantisation_runs_in_eager_and_onnxruntime(tmp_path: Path) -> None:
    for runtime in ("eager", "onnxruntime"):
        job, ref = _job("bert-large", "float32", "int8-dynamic", tmp_path)
        prepared = RUNTIMES.get(runtime)().prepare(job)
        assert "quantized" in prepared.info
        assert _rel_err(prepared.outputs(), ref) < 0.1


@pytest.mark.slow
def test_torch_compile_matches_eager(tmp_path: Path) -> None:
    job, ref = _job("din", "float32", None, tmp_path)
    assert _rel_err(RUNTIMES.get("compile")().prepare(job).outputs(), ref) < 1e-4


def test_runtimes_refuse_what_they_cannot_run(tmp_path: Path) -> None:
    job, _ = _job("din", "float32", "int8-dynamic", tmp_path)
    with pytest.raises(Unsupported, match=r"torch\.compile"):
        RUNTIMES.get("compile")().prepare(job)
    job, _ = _job("din", "bfloat16", None, tmp_path)
    with pytest.raises(Unsupported, match="no kernel"):
        RUNTIMES.get("onnxruntime")().prepare(job)


def _suite(params: dict[str, Any], name: str = "infer-test") -> Any:
    return validate_suite(
        {
            "name": name,
            "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
            "workloads": [{"name": "din", "kind": "inference", "params": params}],
        },
        "test suite",
    )


def test_unsupported_pairs_become_stored_results(tmp_path: Path) -> None:
    suite = _suite(
        {
            "model": "din",
            "options": {"history_len": 4},
            "batch_size": 2,
            "runtimes": ["eager", "onnxruntime", "openvino"],
            "dtypes": ["float32", "bfloat16", "float16", "int8-dynamic"],
        }
    )
    dev = FakeDevice(dtypes=("float32", "bfloat16"))
    report = run_suite(suite, device=dev, db=tmp_path / "r.db", power=False)
    by = {(r.case["runtime"], r.case.get("quant") or r.case["dtype"]): r for r in report.results}
    assert len(by) == 12
    assert by[("eager", "float32")].status is Status.OK
    assert by[("onnxruntime", "float32")].status is Status.OK
    assert by[("eager", "float16")].status is Status.UNSUPPORTED
    assert "without float16" in (by[("eager", "float16")].message or "")
    assert by[("onnxruntime", "bfloat16")].status is Status.UNSUPPORTED
    assert by[("eager", "int8-dynamic")].status is Status.OK
    try:
        import openvino  # noqa: F401
    except ImportError:
        ov = by[("openvino", "float32")]
        assert ov.status is Status.UNSUPPORTED and "not installed" in (ov.message or "")
    ok = by[("eager", "float32")]
    assert "random weights" in ok.config["weights"]
    assert ok.metric("samples_per_s") == pytest.approx(2 / ok.summary.median)
    assert ok.metrics["samples_per_dollar"].unavailable
    assert ok.metric("flops") == pytest.approx(2 * ok.config["flop_count"]["flops_per_sample"])


def test_single_stream_and_server_store_per_query_latencies() -> None:
    wl = WORKLOADS.get("inference").from_dict(
        {
            "model": "din",
            "options": {"history_len": 4},
            "scenarios": ["single-stream", "server"],
            "dtypes": ["float32"],
            "server_qps": 2000,
            "server_queries": 20,
            "server_latency_bound_ms": 10_000,
            "price_per_hour": 0.5,
        }
    )
    dev = FakeDevice(durations=[1e-3])
    ctx = RunContext(device=dev, info=dev.info(), measure=MeasureSettings(warmup=1, iterations=7))
    single, server = wl.cases()
    assert single["batch"] == 1 and server["scenario"] == "server"
    out = wl.run_case(single, ctx)
    m = {k: v.value for k, v in out.metrics.items()}
    assert out.measurement.samples_s == [1e-3] * 7
    assert m["latency_p50"] == m["latency_p99"] == pytest.approx(1e-3)
    assert m["samples_per_dollar"] == pytest.approx(1000 * 3600 / 0.5)
    out = wl.run_case(server, ctx)
    assert len(out.measurement.samples_s) == 20 and out.measurement.mode == "server"
    assert out.metrics["latency_p99"].value >= out.metrics["latency_p50"].value > 0
    assert out.metrics["server_p99_within_bound"].value == 1.0


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet51'"):
        _suite({"model": "resnet51"})
    with pytest.raises(ConfigError, match=r"options\.seq_length"):
        _suite({"model": "bert-large", "options": {"seq_length": 128}})
    with pytest.raises(ConfigError, match="server_qps"):
        _suite({"model": "din", "scenarios": ["server"]})
    with pytest.raises(ConfigError, match="too small"):
        _suite({"model": "ssd-resnet34", "options": {"image_size": 300}})


# -- cost ---------------------------------------------------------------------------------------
def _result(case: dict[str, Any], sps: float | None, price: float | None, **kw: Any) -> Result:
    dev = FakeDevice()
    env = collect_environment(dev.info(), seed=0, threads=1)
    t = kw.pop("at", datetime(2026, 1, 1, tzinfo=timezone.utc))
    metrics = {} if sps is None else {"samples_per_s": Metric(value=sps, unit="samples/s")}
    config = {} if price is None else {"price_per_hour_usd": price}
    return Result(
        run_id="r",
        suite="s",
        workload="w",
        kind="inference",
        case=case,
        config=config,
        device="fake:0",
        status=kw.pop("status", Status.OK),
        message=kw.pop("message", None),
        metrics=metrics,
        environment=env,
        started_at=t,
        finished_at=t,
    )


RN50 = {"model": "resnet50", "scenario": "offline", "batch": 32, "runtime": "eager"}


def test_compare_cost_reproduces_the_study_ratios() -> None:
    """x86 at 100 samples/s for $1.00/h, Arm at 143 for $0.6976/h: 1.43x and 2.05x."""
    case = {**RN50, "dtype": "bfloat16"}
    rows = compare_cost([_result(case, 100.0, 1.0)], [_result(case, 143.0, 0.6976)])
    assert len(rows) == 1
    assert rows[0].perf_ratio == pytest.approx(1.43)
    assert rows[0].perf_per_price_ratio == pytest.approx(2.05, abs=0.001)
    # Prices given when comparing win over the stored ones.
    rows = compare_cost(
        [_result(case, 100.0, 1.0)],
        [_result(case, 143.0, 0.6976)],
        base_price_per_hour=2.0,
        candidate_price_per_hour=1.0,
    )
    assert rows[0].perf_per_price_ratio == pytest.approx(2.86)


def test_compare_cost_pairs_by_case_and_explains_gaps() -> None:
    f32, b16 = {**RN50, "dtype": "float32"}, {**RN50, "dtype": "bfloat16"}
    old = datetime(2025, 1, 1, tzinfo=timezone.utc)
    base = [
        _result(f32, 50.0, None, at=old),
        _result(f32, 80.0, None, at=old + timedelta(days=1)),  # the newer one counts
        _result(b16, None, None, status=Status.UNSUPPORTED, message="no bf16"),
        _result({**RN50, "dtype": "float16"}, 10.0, None),  # only on the base machine
    ]
    cand = [_result(f32, 120.0, 0.5), _result(b16, 300.0, 0.5)]
    rows = {r.case["dtype"]: r for r in compare_cost(base, cand)}
    assert set(rows) == {"float32", "bfloat16"}
    assert rows["float32"].perf_ratio == pytest.approx(1.5)
    assert rows["float32"].perf_per_price_ratio is None
    assert "no price for the base" in (rows["float32"].reason or "")
    assert rows["bfloat16"].perf_ratio is None
    assert "unsupported: no bf16" in (rows["bfloat16"].reason or "")


def test_samples_per_dollar() -> None:
    assert samples_per_dollar(10.0, 3.6).value == pytest.approx(10_000)
    assert "price_per_hour" in (samples_per_dollar(10.0, None).unavailable or "")
    with pytest.raises(ValueError, match="positive"):
        samples_per_dollar(1.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        compare_cost([], [], base_price_per_hour=-1.0)


def test_builtin_inference_suites_validate() -> None:
    from accelbench.api import load_suite

    full = load_suite("cpu-inference")
    models = {w.params["model"] for w in full.workloads}
    assert models == {"resnet50", "vgg19", "ssd-resnet34", "bert-large", "din", "transformer"}
    quick = load_suite("quick")
    assert any(w.kind == "inference" for w in quick.workloads)


def test_a_small_bert_is_not_labelled_bert_large() -> None:
    """The quick suite's 2-layer hidden-128 encoder is built by the bert-large entry; its
    label in results and the report names its real size."""
    from accelbench.analysis import inference_rows
    from accelbench.inference.models import MODELS
    from accelbench.workloads import WORKLOADS

    small = {"seq_len": 32, "layers": 2, "hidden": 128, "heads": 2, "intermediate": 512}
    text = MODELS.get("bert-large").from_dict(small).describe()
    assert "bert-large" not in text and "2-layer" in text and "hidden 128" in text
    assert MODELS.get("bert-large").from_dict({}).describe().startswith("bert-large")
    wl = WORKLOADS.get("inference").from_dict(
        {"model": "bert-large", "options": small, "batch_size": 2}
    )
    case = wl.cases()[0]
    r = _result(case, 100.0, None).model_copy(update={"description": wl.describe(case)})
    (row,) = inference_rows([r])
    assert (
        row.short_label.startswith("bert 2-layer hidden 128")
        and "bert-large" not in row.short_label
    )


def test_transformer_translation_runs_offline_and_single_stream_in_each_runtime(
    tmp_path: Path,
) -> None:
    """Issue 16's inference half: the Transformer's greedy translation of a batch runs beside
    BERT in both scenarios; each runtime either runs it or stores why it cannot."""
    suite = validate_suite(
        {
            "name": "t",
            "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
            "workloads": [
                {
                    "name": "transformer",
                    "kind": "inference",
                    "params": {
                        "model": "transformer",
                        "options": {
                            "preset": "small",
                            "vocab_size": 60,
                            "src_len": 6,
                            "new_tokens": 5,
                        },
                        "batch_size": 4,
                        "runtimes": ["eager", "onnxruntime"],
                        "dtypes": ["float32"],
                        "scenarios": ["offline", "single-stream"],
                    },
                }
            ],
        },
        "test suite",
    )
    report = run_suite(suite, device=CpuDevice(), db=tmp_path / "r.db", power=False)
    by = {(r.case["runtime"], r.case["scenario"]): r for r in report.results}
    assert set(by) == {
        (rt, sc) for rt in ("eager", "onnxruntime") for sc in ("offline", "single-stream")
    }
    for r in by.values():
        assert r.status in (Status.OK, Status.UNSUPPORTED), (r.case, r.message)
        assert r.status is Status.OK or r.message
    offline, single = by[("eager", "offline")], by[("eager", "single-stream")]
    assert offline.status is Status.OK and single.status is Status.OK
    assert offline.metric("samples_per_s") == pytest.approx(4 / offline.summary.median)
    assert len(single.samples) == 3 and single.metric("latency_p99") > 0
    assert offline.metric("flops") > 0


def test_transformer_onnxruntime_decodes_the_same_tokens_as_eager(tmp_path: Path) -> None:
    """The exported greedy loop (unrolled by the tracer, cache included) is the same
    computation: ONNX Runtime's speed is only comparable if its tokens are eager's."""
    opts = {"preset": "small", "vocab_size": 60, "src_len": 6, "new_tokens": 5}
    m, module, x = _build("transformer", opts, 4)
    with torch.no_grad():
        ref = module(*x)
    job = ModelJob(module, x, m.input_names, m.output_names, "float32", None, CpuDevice(), tmp_path)
    (out,) = RUNTIMES.get("onnxruntime")().prepare(job).outputs()
    assert out.shape == ref.shape == (4, 5)
    assert torch.equal(out.to(ref.dtype), ref)
