"""Data-parallel scaling: one training or operator case at world sizes 1, 2, 4, ... N.

Each world size is its own torchrun launch (``python -m torch.distributed.run
--nproc-per-node n ... -m accelbench run --dist-worker``) of a one-workload suite holding the
inner case, on this node's devices of the run's kind; the inner run's result (with every
rank's record) becomes this case's result: its metrics, its training curve, and its world.

Per world size n the result holds ``throughput`` (the world's: a training run's steady
samples/s, else its first epoch's; a timed operator's samples/s summed over the ranks; a
collective's bus bandwidth) and, for training, time to threshold. Speed-up
``throughput(n) / throughput(1)`` and efficiency ``throughput(n) / (n x throughput(1))`` are
derived from the stored results by :mod:`accelbench.analysis.scaling` (so a resumed sweep whose
world size 1 was stored earlier still gets them).

A world size this node cannot hold is ``unsupported`` with the reason: more ranks than visible
accelerators, or on the CPU more ranks x threads than physical cores (the ranks would time-share
cores and measure contention, not scaling). A launch that fails (a rank died, the rendezvous or
the whole launch timed out) is an ``error`` with torchrun's own lines.

The outer run holds the lock of its own device; the inner launches do not take device locks.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import psutil
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from accelbench.errors import Unsupported
from accelbench.parallel.launch import Launch, WorkerSpec, run_torchrun, torchrun_argv, worker_env
from accelbench.parallel.settings import DEFAULT_COLLECTIVE_TIMEOUT_S
from accelbench.results.schema import Metric, Result, Status
from accelbench.workloads.base import WORKLOADS, CaseOutput, Dim, RunContext, Workload

PositiveFloat = Annotated[float, Field(gt=0)]


class InnerWorkload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="the workload kind to scale, e.g. lstm-imdb or gemm")
    params: dict[str, Any] = Field(default_factory=dict)


class ScalingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    workload: InnerWorkload
    world_sizes: list[Dim] = Field(
        default=[1, 2, 4, 8],
        min_length=1,
        description="world sizes to run, each one torchrun launch; sizes this node cannot hold "
        "are stored as unsupported",
    )
    threads_per_rank: Dim | None = Field(
        default=None, description="CPU intra-op threads of each rank (default 1 on a CPU)"
    )
    collective_timeout_s: PositiveFloat = DEFAULT_COLLECTIVE_TIMEOUT_S
    launch_timeout_s: PositiveFloat = Field(
        default=86400.0, description="bound on one whole launch (rendezvous to last result)"
    )

    @model_validator(mode="after")
    def _inner_is_valid(self) -> ScalingParams:
        kind = self.workload.kind
        if kind == "scaling":
            raise ValueError("workload.kind: a scaling case cannot scale another scaling case")
        if kind not in WORKLOADS:
            raise ValueError(
                f"workload.kind: unknown workload kind {kind!r}; expected one of "
                f"{', '.join(k for k in WORKLOADS.names() if k != 'scaling')}"
            )
        try:
            WORKLOADS.get(kind).Params.model_validate(self.workload.params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ValueError(f"workload.params.{where}: {first['msg']}") from None
        return self

    def inner(self) -> Workload:
        return WORKLOADS.get(self.workload.kind).from_dict(self.workload.params)


def world_throughput(inner: Result) -> tuple[Metric, str]:
    """The world's throughput in an inner result, and which metric it came from."""
    for name in (
        "steady_samples_per_s",
        "first_epoch_samples_per_s",
        "world_samples_per_s",
        "world_achieved_gflops",
        "busbw_gbs",
        "samples_per_s",
        "achieved_gflops",
    ):
        m = inner.metrics.get(name)
        if m is not None and m.value is not None:
            return m, name
    return Metric.missing("samples/s", "the inner run measured no throughput"), ""


def capacity_problem(device: Any, n: int, threads: int | None) -> str | None:
    """Why this node cannot run ``n`` ranks of ``device``'s kind, or None."""
    if device.torch_device.type == "cpu":
        cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
        need = n * (threads or 1)
        if need > cores:
            return (
                f"{n} ranks x {threads or 1} thread{'s' if (threads or 1) > 1 else ''} need "
                f"{need} cores; this host has {cores} "
                "physical cores, so the ranks would time-share them and measure contention, not "
                "scaling"
            )
        return None
    probe = type(device).probe()
    if probe.count < n:
        env = type(device).visible_devices_env
        return (
            f"{n} ranks need {n} {device.kind} devices on this node; {probe.count} are visible"
            + (f" ({env})" if env else "")
        )
    return None


@WORKLOADS.register("scaling")
class Scaling(Workload):
    """One inner case at several world sizes, each a torchrun launch."""

    kind = "scaling"
    Params = ScalingParams
    params: ScalingParams
    timed = False  # the inner runs time themselves

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        sizes = sorted(dict.fromkeys(p.world_sizes))
        return [
            {"kind": p.workload.kind, "case": case, "world_size": n}
            for case in p.inner().cases()
            for n in sizes
        ]

    @classmethod
    def inner_text(cls, case: dict[str, Any]) -> str:
        inner = case["case"]
        try:
            return WORKLOADS.get(case["kind"]).describe(inner)
        except Exception:  # a kind this installation lacks: the case's own words
            return " ".join(f"{k}={v}" for k, v in inner.items())

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return f"{cls.inner_text(case)} x{case['world_size']}"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        p, n = self.params, int(case["world_size"])
        threads = p.threads_per_rank
        if threads is None and ctx.device.torch_device.type == "cpu":
            threads = 1
        problem = capacity_problem(ctx.device, n, threads)
        if problem is not None:
            raise Unsupported(problem)
        inner_desc = self.inner_text(case)
        with tempfile.TemporaryDirectory(prefix="accelbench-scaling-") as tmp:
            d = Path(tmp)
            suite = {
                "name": f"scaling-{case['kind']}",
                "seed": torch.initial_seed() % 2**63,  # the outer suite's (the runner set it)
                "measure": ctx.measure.model_dump(mode="json"),
                "workloads": [
                    {"name": case["kind"], "kind": case["kind"], "params": p.workload.params}
                ],
            }
            spec = WorkerSpec(
                suite=suite,
                device=ctx.device.kind,
                db=str(d / "inner.db"),
                threads=threads,
                resume=False,
                power=ctx.power is not None,
                data_dir=str(ctx.data_dir) if ctx.data_dir else None,
                offline=ctx.offline,
                collective_timeout_s=p.collective_timeout_s,
                lock=False,
                only_case=case["case"],
                results_out=str(d / "results.jsonl"),
                status_out=str(d / "status.json"),
                progress=False,
            )
            (d / "worker.json").write_text(spec.model_dump_json())
            launch = Launch(nproc_per_node=n, collective_timeout_s=p.collective_timeout_s)
            argv = torchrun_argv(
                launch, ["run", suite["name"], "--dist-worker", str(d / "worker.json")]
            )
            outcome = run_torchrun(
                argv,
                worker_env(launch, threads),
                timeout_s=p.launch_timeout_s,
                log=d / "torchrun.log",
                echo=lambda line: f"  [x{n}] {line.strip()}" if "] epoch " in line else None,
            )
            results_file = d / "results.jsonl"
            lines = results_file.read_text().splitlines() if results_file.exists() else []
            inner = [Result.model_validate_json(line) for line in lines if line]
            status = (
                json.loads((d / "status.json").read_text()) if (d / "status.json").exists() else {}
            )
        launch_info = {
            "argv": argv,
            "returncode": outcome.returncode,
            "timed_out": outcome.timed_out,
            "wall_s": outcome.wall_s,
            "threads_per_rank": threads,
        }
        config: dict[str, Any] = {"inner_description": inner_desc, "launch": launch_info}
        if not inner:
            why = (
                f"the launch ran past launch_timeout_s {p.launch_timeout_s:g} s and was stopped"
                if outcome.timed_out
                else f"torchrun exited with status {outcome.returncode} before a result was stored"
            )
            detail = status.get("error") or outcome.summary
            config["torchrun_log_tail"] = outcome.tail[-20:]
            return CaseOutput(
                metrics={},
                status=Status.ERROR,
                message=f"world size {n}: {why}: {detail}"[:1000],
                config=config,
            )
        r = inner[0]
        throughput, source = world_throughput(r)
        metrics = dict(r.metrics)
        metrics["throughput"] = throughput
        metrics["world_size"] = Metric(value=float(n), unit="ranks")
        metrics["launch_wall_s"] = Metric(value=outcome.wall_s, unit="s")
        config.update(
            throughput_metric=source,
            inner={
                "kind": r.kind,
                "case": r.case,
                "status": r.status.value,
                "config": r.config,
            },
        )
        return CaseOutput(
            metrics=metrics,
            config=config,
            status=r.status,
            message=r.message,
            trace=r.trace,  # type: ignore[arg-type]
            distributed=r.distributed,
        )


__all__ = ["Scaling", "ScalingParams", "capacity_problem", "world_throughput"]
