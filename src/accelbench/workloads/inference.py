"""Inference: five models x runtimes x precisions x MLPerf scenarios (SPEC section 7).

One workload runs one model (``model`` + its ``options``) over ``runtimes`` x ``dtypes`` x
``scenarios``. Scenarios, in the MLPerf sense:

- ``offline``: batches of ``batch_size`` back to back; samples/s = batch / median batch time.
- ``single-stream``: one query (batch 1) at a time; every query's latency is a stored sample,
  with p50/p90/p99 (MLPerf's single-stream metric is the p90).
- ``server``: ``server_queries`` queries of batch 1 arriving as a Poisson process at
  ``server_qps``, served first come first served by one worker; a query's latency runs from its
  arrival (so it includes queueing), and the p99 is the metric.

Timing goes through :func:`accelbench.timing.protocol.measure` for offline and single-stream;
the first call (compilation, ONNX Runtime's first run, oneDNN kernel selection) is timed apart
as ``first_run_s`` and preparation (export, quantisation, session) as ``prepare_s``. FLOPs come
from :func:`accelbench.flops.count_model` on the meta device (no real forward). Weights are
random (seeded): these are speed numbers, never accuracy, and every result says so. With an
hourly ``price_per_hour`` the results carry ``samples_per_dollar``; see
:func:`accelbench.analysis.cost.compare_cost` for the study's machine-vs-machine ratios.
"""

from __future__ import annotations

import functools
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from accelbench.inference.models import MODELS
from accelbench.inference.pricing import samples_per_dollar
from accelbench.inference.runtimes import INT8, RUNTIMES, ModelJob
from accelbench.results.schema import Basis, Metric
from accelbench.timing.protocol import Measurement, measure
from accelbench.timing.stats import summarize
from accelbench.workloads.base import WORKLOADS, CaseOutput, Dim, RunContext, Workload
from accelbench.workloads.base import throughput_metrics as _throughput

InferDtype = Literal["float32", "bfloat16", "float16", "int8-dynamic"]
Scenario = Literal["offline", "single-stream", "server"]
RuntimeName = Literal["eager", "compile", "onnxruntime", "openvino"]

WEIGHTS_NOTE = "random weights (seeded), not trained: speed only, no accuracy was measured"


class InferenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="resnet50, vgg19, ssd-resnet34, bert-large or din")
    options: dict[str, Any] = Field(
        default_factory=dict, description="the model's options, e.g. image_size, seq_len"
    )
    runtimes: list[RuntimeName] = Field(default=["eager"], min_length=1)
    dtypes: list[InferDtype] = Field(
        default=["float32", "bfloat16"],
        min_length=1,
        description="int8-dynamic: dynamic quantisation of the float32 model",
    )
    scenarios: list[Scenario] = Field(default=["offline"], min_length=1)
    batch_size: Dim | None = Field(default=None, description="offline batch; default per model")
    server_qps: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)
    server_queries: Dim = Field(default=200, le=1_000_000)
    server_latency_bound_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    price_per_hour: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="instance price, USD per hour"
    )

    @model_validator(mode="after")
    def _check(self) -> InferenceParams:
        if self.model not in MODELS:
            raise ValueError(
                f"model: unknown model {self.model!r}; expected one of {', '.join(MODELS.names())}"
            )
        try:
            MODELS.get(self.model).Options.model_validate(self.options)
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            raise ValueError(
                f"options{'.' + where if where else ''}: {e['msg']} (for model {self.model})"
            ) from None
        if "server" in self.scenarios and self.server_qps is None:
            raise ValueError("scenario 'server' needs server_qps (the Poisson arrival rate)")
        return self


@functools.lru_cache(maxsize=32)
def _flops_per_sample(model: str, options_key: str) -> tuple[float, float, dict[str, Any]]:
    """FLOPs and MACs of one sample, counted on the meta device (no weights, no compute)."""
    import json

    from accelbench.flops import count_model

    mdl = MODELS.get(model).from_dict(json.loads(options_key))
    with torch.device("meta"):
        module = mdl.build()
    inputs = mdl.inputs(1, torch.device("meta"), torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uncounted ops are recorded in the config instead
        c = count_model(module, *inputs)
    info: dict[str, Any] = {"counted_at": "batch 1 on the meta device, scaled by the batch"}
    if c.uncounted:
        info["uncounted_aten_ops"] = dict(c.uncounted)
    total = c.total("forward")
    return total.flops, total.macs, info


@WORKLOADS.register("inference")
class Inference(Workload):
    kind = "inference"
    Params = InferenceParams
    params: InferenceParams

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        mdl = MODELS.get(p.model).from_dict(p.options)
        options = mdl.options.model_dump()
        out = []
        for scenario in dict.fromkeys(p.scenarios):
            batch = (p.batch_size or mdl.default_batch) if scenario == "offline" else 1
            for dt in dict.fromkeys(p.dtypes):
                for rt in dict.fromkeys(p.runtimes):
                    case: dict[str, Any] = {
                        "model": p.model,
                        "options": options,
                        "scenario": scenario,
                        "batch": batch,
                        "runtime": rt,
                        "dtype": "float32" if dt == INT8 else dt,
                    }
                    if dt == INT8:
                        case["quant"] = INT8
                    out.append(case)
        return out

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        mdl = MODELS.get(case["model"]).from_dict(case["options"])
        prec = case.get("quant") or case["dtype"]
        return f"{mdl.describe()} {case['scenario']} b={case['batch']} {case['runtime']} {prec}"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        p = self.params
        mdl = MODELS.get(case["model"]).from_dict(case["options"])
        runtime = RUNTIMES.get(case["runtime"])()
        dtype, quant, batch = case["dtype"], case.get("quant"), case["batch"]
        dev = ctx.device
        module = mdl.build()
        inputs = mdl.inputs(batch, dev.torch_device, torch.float32)
        with tempfile.TemporaryDirectory(prefix="accelbench-infer-") as workdir:
            job = ModelJob(
                module, inputs, mdl.input_names, mdl.output_names, dtype, quant, dev, Path(workdir)
            )
            with dev.precision(dtype):
                prepared = runtime.prepare(job)
                dev.synchronize()
                t0 = time.perf_counter()
                prepared.run()
                dev.synchronize()
                first_run_s = time.perf_counter() - t0
                if case["scenario"] == "server":
                    meas = _serve(prepared.run, ctx, p)
                else:
                    meas = measure(prepared.run, dev, ctx.measure, power=ctx.power)
        return self._output(case, mdl, runtime, prepared, meas, first_run_s, module, ctx)

    def _output(
        self,
        case: dict[str, Any],
        mdl: Any,
        runtime: Any,
        prepared: Any,
        meas: Measurement,
        first_run_s: float,
        module: torch.nn.Module,
        ctx: RunContext,
    ) -> CaseOutput:
        p = self.params
        batch, dtype, quant = case["batch"], case["dtype"], case.get("quant")
        flops1, macs1, flop_info = _flops_per_sample(case["model"], _key(case["options"]))
        config: dict[str, Any] = {
            "model": mdl.describe(),
            "weights": WEIGHTS_NOTE,
            "runtime": {**prepared.info, "versions": runtime.versions()},
            "flop_count": {**flop_info, "flops_per_sample": flops1, "macs_per_sample": macs1},
        }
        if case["model"] == "ssd-resnet34":
            config["post_processing"] = (
                "excluded: box decoding and NMS are not timed (raw head outputs only)"
            )
        samples = np.asarray(meas.samples_s)
        metrics: dict[str, Metric] = {}
        basis: Basis | None = None
        if case["scenario"] == "server":
            wall = meas.wall_s
            metrics["server_target_qps"] = Metric(value=float(p.server_qps or 0), unit="queries/s")
            metrics["server_achieved_qps"] = Metric(value=len(samples) / wall, unit="queries/s")
            if p.server_latency_bound_ms is not None:
                p99 = float(np.percentile(samples, 99))
                metrics["server_p99_within_bound"] = Metric(
                    value=float(p99 * 1e3 <= p.server_latency_bound_ms), unit="bool"
                )
        else:
            metrics, basis = _throughput(
                flops=flops1 * batch,
                macs=macs1 * batch,
                min_bytes=None,
                m=meas,
                ctx=ctx,
                dtype=dtype,
                samples_per_iter=batch,
            )
            if quant:
                basis = Basis(
                    not_comparable="int8 work compared with a float peak would mean nothing"
                )
            sps = metrics["samples_per_s"].value
            metrics["samples_per_dollar"] = samples_per_dollar(sps, p.price_per_hour)
        if case["scenario"] != "offline":
            for q in (50, 90, 99):
                metrics[f"latency_p{q}"] = Metric(value=float(np.percentile(samples, q)), unit="s")
            metrics["queries"] = Metric(value=float(len(samples)), unit="queries")
            if len(samples) < 100:
                config["latency_note"] = (
                    f"{len(samples)} queries: p99 is interpolated between the slowest few"
                )
        metrics["prepare_s"] = Metric(value=prepared.prepare_s, unit="s")
        metrics["first_run_s"] = Metric(value=first_run_s, unit="s")
        metrics["params"] = Metric(
            value=float(sum(t.numel() for t in module.parameters())), unit="parameters"
        )
        if p.price_per_hour is not None:
            config["price_per_hour_usd"] = p.price_per_hour
        return CaseOutput(metrics=metrics, measurement=meas, config=config, basis=basis)


def _key(options: dict[str, Any]) -> str:
    import json

    return json.dumps(options, sort_keys=True)


def _serve(run: Any, ctx: RunContext, p: InferenceParams) -> Measurement:
    """MLPerf's server scenario, one worker: Poisson arrivals, FIFO, latency from arrival."""
    dev = ctx.device
    for _ in range(ctx.measure.warmup):
        run()
    dev.synchronize()
    rng = np.random.default_rng(0)
    qps = float(p.server_qps or 1.0)
    arrivals = np.cumsum(rng.exponential(1.0 / qps, p.server_queries))
    latencies: list[float] = []
    start = time.perf_counter()
    for a in arrivals:
        wait = a - (time.perf_counter() - start)
        if wait > 0:
            time.sleep(wait)
        run()
        dev.synchronize()
        latencies.append(time.perf_counter() - start - a)
    wall = time.perf_counter() - start
    late = sum(1 for x in latencies if x > 1.0 / qps)
    return Measurement(
        samples_s=latencies,
        summary=summarize(latencies),
        warmup=ctx.measure.warmup,
        mode="server",
        timer="perf_counter",
        graph=False,
        wall_s=wall,
        stop_reason=(
            f"{p.server_queries} Poisson queries at {qps:g}/s; {late} took longer than the "
            f"mean inter-arrival time ({1 / qps:.3g} s)"
        ),
    )
