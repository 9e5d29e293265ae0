"""Data-parallel pieces that need no second process: batch slicing and loss weights, the
launch command, the nccl-tests formulas, the per-rank record schema, the merge of rank records,
the scaling analysis and report sections, and the CLI's option checks."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

import pytest
import torch
from torch import nn

from accelbench.analysis.collective import collective_curves
from accelbench.analysis.groups import RunGroup
from accelbench.analysis.platforms import platform_of
from accelbench.analysis.scaling import scaling_series
from accelbench.api.distributed import check_device_for_launch, merge, rank_record
from accelbench.cli import main
from accelbench.devices import DEVICES
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.environment import collect_environment
from accelbench.errors import DeviceError, Unsupported, UserError
from accelbench.parallel.launch import Launch, check_launch, torchrun_argv, worker_env
from accelbench.parallel.world import Shard, World, torchrun_env
from accelbench.report.sections.collective import _collective
from accelbench.report.sections.scaling import _scaling
from accelbench.results.schema import (
    SCHEMA_VERSION,
    Metric,
    RankEpoch,
    Result,
    Status,
    upgrade_record,
)
from accelbench.timing.settings import MeasureSettings
from accelbench.training.ddp import loss_weight, rank_weight, split_batch
from accelbench.training.recipes.cnn_digits import CnnDigits
from accelbench.training.recipes.deepfm_criteo import DeepFMCriteo
from accelbench.training.recipes.lstm_imdb import LstmImdb
from accelbench.training.recipes.resnet56_cifar10 import ResNet56Cifar10
from accelbench.training.recipes.transformer_multi30k import TransformerMulti30k
from accelbench.workloads import WORKLOADS, RunContext
from accelbench.workloads.collective import bus_factor, elements
from tests.helpers import write_suite

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


# -- slicing global batches ------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "count"), [(10, 2), (9, 2), (7, 3), (1, 2), (0, 3), (64, 8)])
def test_shards_cover_every_sample_once(n: int, count: int) -> None:
    bounds = [Shard(i, count).bounds(n) for i in range(count)]
    covered = [j for a, b in bounds for j in range(a, b)]
    assert covered == list(range(n))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_split_batch_slices_what_has_the_batch_dimension() -> None:
    x, lens, y = torch.arange(20).view(5, 4), torch.tensor([4, 3, 3, 2, 1]), torch.arange(5)
    table = torch.ones(3, 3)  # not per sample: passed whole
    batch = ((x, lens, table, ["a", "b", "c", "d", "e"], 7), y)
    (inputs, target), local, total = split_batch(batch, Shard(1, 2))
    assert (local, total) == (2, 5)
    assert inputs[0].tolist() == x[3:].tolist() and inputs[1].tolist() == [2, 1]
    assert inputs[2] is table and inputs[3] == ["d", "e"] and inputs[4] == 7
    assert target.tolist() == [3, 4]


def test_a_rank_without_a_sample_gets_a_zero_weight_stand_in() -> None:
    batch = ((torch.tensor([[1.0, 2.0]]),), torch.tensor([1]))
    (_, y), local, total = split_batch(batch, Shard(1, 2))
    assert local == 0 and total == 1 and len(y) == 1  # the stand-in keeps the rank in step
    assert loss_weight(local, total, 2) == 0.0


def test_weighted_slices_give_the_single_process_gradient() -> None:
    """DDP averages the ranks' gradients; with each rank's mean loss weighted by
    N x local / global, the average is the global batch's mean-loss gradient even when the
    slices differ in size (here 5 and 4 of 9) or a rank has none (1 over 2 ranks)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    for n in (9, 8, 1):
        x, y = torch.randn(n, 3), torch.randint(0, 2, (n,))
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        want = [p.grad.clone() for p in model.parameters()]
        ranks = []
        for r in range(2):
            ((xs,), ys), local, total = split_batch(((x,), y), Shard(r, 2))
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(xs), ys)
            w = loss_weight(local, total, 2)
            (loss if w is None else loss * w).backward()
            ranks.append([p.grad.clone() for p in model.parameters()])
        for i, g in enumerate(want):
            averaged = (ranks[0][i] + ranks[1][i]) / 2  # DDP's all-reduce mean
            assert torch.allclose(averaged, g, atol=1e-6), n


# -- the launcher ----------------------------------------------------------------------------------
def test_torchrun_command_single_node_is_standalone() -> None:
    argv = torchrun_argv(Launch(nproc_per_node=2), ["run", "quick"], python="py")
    assert argv[:3] == ["py", "-m", "torch.distributed.run"]
    assert argv[argv.index("--nproc-per-node") + 1] == "2" and "--standalone" in argv
    assert argv[-4:] == ["-m", "accelbench", "run", "quick"]
    assert argv[argv.index("--max-restarts") + 1] == "0"


def test_torchrun_command_multi_node_uses_c10d() -> None:
    launch = Launch(nproc_per_node=4, nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.1:29400")
    argv = torchrun_argv(launch, ["run", "s"])
    assert "--standalone" not in argv
    assert argv[argv.index("--rdzv-backend") + 1] == "c10d"
    assert argv[argv.index("--rdzv-endpoint") + 1] == "10.0.0.1:29400"
    assert argv[argv.index("--nnodes") + 1] == "2" and argv[argv.index("--node-rank") + 1] == "1"
    assert worker_env(launch, 3, {})["ACCELBENCH_NODE_RANK"] == "1"
    assert worker_env(launch, 3, {})["OMP_NUM_THREADS"] == "3"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"nproc_per_node": 1, "nnodes": 2}, "--rdzv-endpoint"),
        ({"nproc_per_node": 1, "nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"}, "0..1"),
    ],
)
def test_bad_launches_are_one_line(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        check_launch(Launch(**kw))


@pytest.mark.parametrize("endpoint", ["nohost", "h:", ":29400", "h:99999", "h:x"])
def test_endpoint_must_be_host_port(endpoint: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        Launch(nproc_per_node=1, nnodes=2, rdzv_endpoint=endpoint)


def test_torchrun_environment_is_read_or_absent() -> None:
    assert torchrun_env({}) is None
    env = torchrun_env(
        {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
         "GROUP_RANK": "1", "ACCELBENCH_NODE_RANK": "0"}
    )  # fmt: skip
    assert env is not None and (env.rank, env.local_rank, env.group_rank, env.node_rank) == (
        3,
        1,
        1,
        0,
    )
    with pytest.raises(UserError, match="not integers"):
        torchrun_env({"RANK": "x", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})


def test_an_index_is_refused_with_several_processes_per_node() -> None:
    assert check_device_for_launch("fake", Launch(nproc_per_node=2)) == "fake"
    assert check_device_for_launch("fake:1", Launch(nproc_per_node=1)) == "fake"
    with pytest.raises(UserError, match="give the kind only"):
        check_device_for_launch("fake:1", Launch(nproc_per_node=2))


# -- the device layer's part -----------------------------------------------------------------------
def test_each_device_kind_names_its_collective_library() -> None:
    assert CpuDevice().dist_backend() == "gloo" and FakeDevice().dist_backend() == "gloo"
    assert DEVICES.get("cuda")(index=0).dist_backend() == "nccl"
    assert DEVICES.get("npu")(index=0).dist_backend() == "hccl"
    with pytest.raises(Unsupported, match="MPS"):
        DEVICES.get("mps")(index=0).dist_backend()
    assert CpuDevice.local_rank_index(5) == 0  # CPU ranks share the host
    assert DEVICES.get("cuda").visible_devices_env == "CUDA_VISIBLE_DEVICES"
    assert DEVICES.get("npu").visible_devices_env == "ASCEND_RT_VISIBLE_DEVICES"
    if not DEVICES.get("cuda").probe().available:
        with pytest.raises(DeviceError, match="not available"):
            DEVICES.get("cuda").local_rank_index(0)


# -- collectives -----------------------------------------------------------------------------------
def test_bus_bandwidth_factors_are_nccl_tests() -> None:
    for n in (1, 2, 4, 8):
        assert bus_factor("all_reduce", n) == pytest.approx(2 * (n - 1) / n)
        assert bus_factor("all_gather", n) == pytest.approx((n - 1) / n)
        assert bus_factor("reduce_scatter", n) == pytest.approx((n - 1) / n)
        assert bus_factor("broadcast", n) == 1.0
    assert elements("all_reduce", 10, 4, 4) == 2  # whole elements
    assert elements("all_gather", 40, 4, 4) == 8  # a whole number per rank: 10 -> 8
    assert elements("reduce_scatter", 8, 4, 4) == 0  # below one element per rank


def test_collective_on_one_rank_checks_values_and_follows_the_formulas() -> None:
    """Without torchrun the sweep runs on a private one-rank group: the operations are checked,
    and with scripted 1 ms iterations every number follows from S and t."""
    wl = WORKLOADS.get("collective").from_dict({"sizes": [4096, "1MiB"]})
    dev = FakeDevice(durations=[1e-3])
    ctx = RunContext(device=dev, info=dev.info(), measure=MeasureSettings(warmup=1, iterations=3))
    assert len(wl.cases()) == 8
    for case in wl.cases():
        with dev.case_scope():
            out = wl.run_case(case, ctx)
        assert out.status is Status.OK, out.message
        m = {k: v.value for k, v in out.metrics.items()}
        assert out.measurement is not None and out.measurement.samples_s == [1e-3] * 3
        assert m["algbw_gbs"] == pytest.approx(case["bytes"] / 1e-3 / 1e9)
        assert m["busbw_gbs"] == pytest.approx(m["algbw_gbs"] * bus_factor(case["op"], 1))
        assert m["world_size"] == 1
    assert not torch.distributed.is_initialized()  # the private group is gone


# -- records ---------------------------------------------------------------------------------------
def _world(rank: int = 0, size: int = 2) -> World:
    return World(
        rank=rank,
        size=size,
        local_rank=rank,
        local_size=size,
        group_rank=0,
        node_rank=0,
        nnodes=1,
        owner=0,
        backend="gloo",
        timeout_s=60.0,
        hosts=["h"] * size,
    )


def _result(**kw: Any) -> Result:
    dev = FakeDevice()
    base: dict[str, Any] = dict(
        run_id="r",
        suite="s",
        workload="w",
        kind="gemm",
        case={"m": 8},
        device="fake:0",
        status=Status.OK,
        metrics={"samples_per_s": Metric(value=10.0, unit="samples/s")},
        samples=[0.1, 0.1],
        environment=collect_environment(dev.info(), seed=0, threads=1),
        started_at=T0,
        finished_at=T0,
    )
    base.update(kw)
    return Result(**base)


def test_merge_keeps_every_rank_and_names_the_failing_one() -> None:
    local = _result(config={"rank_epochs": [{"epoch": 1, "train_s": 1.0, "samples": 4}]})
    env = local.environment
    ok = [rank_record(local, _world(r), "fake:0", env, 1.0) for r in range(2)]
    assert ok[0].epochs == [RankEpoch(epoch=1, train_s=1.0, samples=4)]
    merged = merge(local, ok, _world(), {"m": 8, "world_size": 2}, "gemm on 2 ranks")
    assert merged.status is Status.OK and merged.case["world_size"] == 2
    assert merged.distributed is not None and [r.rank for r in merged.distributed.ranks] == [0, 1]
    assert merged.metric("world_samples_per_s") == 20.0 and "rank_epochs" not in merged.config
    assert merged.result_id != local.result_id  # the world size is part of its identity
    oom = _result(status=Status.OOM, message="out of memory", metrics={}, samples=[])
    mixed = [ok[0], rank_record(oom, _world(1), "fake:1", env, 1.0)]
    bad = merge(local, mixed, _world(), {"m": 8, "world_size": 2}, "gemm on 2 ranks")
    assert bad.status is Status.OOM and bad.message == "rank 1: out of memory"
    assert "world_samples_per_s" not in bad.metrics
    died = merge(local, [ok[0]], _world(), {"m": 8, "world_size": 2}, "d", "a rank died")
    assert died.status is Status.ERROR and died.message == "a rank died"


def test_schema_v5_adds_the_distributed_field() -> None:
    old = _result().model_dump(mode="json")
    old.pop("distributed")
    old.pop("host", None)
    old["schema_version"] = 4
    up = upgrade_record(old)
    assert up["schema_version"] == SCHEMA_VERSION and up["distributed"] is None
    assert Result.model_validate(up).distributed is None


# -- recipes under data parallelism ----------------------------------------------------------------
def test_weak_scaling_follows_each_recipes_rule() -> None:
    lstm = LstmImdb.from_dict({"scaling": "weak"})
    scaled, info = lstm.for_world(4)  # type: ignore[attr-defined]
    assert scaled.params.batch_size == 256 and scaled.params.lr == pytest.approx(2e-3 * 2)
    assert info["lr_rule"].startswith("sqrt")
    resnet = ResNet56Cifar10.from_dict({"scaling": "weak"})
    scaled, info = resnet.for_world(2)  # type: ignore[attr-defined]
    assert scaled.params.batch_size == 1024 and scaled.params.lr == pytest.approx(0.8)
    strong, info = ResNet56Cifar10.from_dict({}).for_world(2)  # type: ignore[attr-defined]
    assert strong.params.batch_size == 512 and info["per_rank_batch"] == 256
    assert {"scaling": "weak"}.items() <= lstm.cases()[0].items()
    with pytest.raises(UserError, match="cannot be split over 8 ranks"):
        LstmImdb.from_dict({"batch_size": 4}).for_world(8)  # type: ignore[attr-defined]


@pytest.mark.parametrize("recipe", [CnnDigits, DeepFMCriteo, TransformerMulti30k])
def test_adam_recipes_scale_lr_by_the_square_root(recipe: Any) -> None:
    base = recipe.from_dict({"scaling": "weak"})
    scaled, info = base.for_world(4)
    assert scaled.params.batch_size == 4 * base.params.batch_size
    assert scaled.params.lr == pytest.approx(2 * base.params.lr) and info["lr_rule"][:4] == "sqrt"


def test_a_warm_up_in_steps_keeps_its_length_in_epochs_under_weak_scaling() -> None:
    base = TransformerMulti30k.from_dict({"scaling": "weak"})  # 300 warm-up steps
    scaled, info = base.for_world(4)  # type: ignore[attr-defined]
    assert scaled.params.warmup_steps == 75 == info["warmup_steps"]
    strong, info = TransformerMulti30k.from_dict({}).for_world(4)  # type: ignore[attr-defined]
    assert strong.params.warmup_steps == 300
    # batch_size counts tokens: the ranks split rows, so no per-rank size is claimed
    assert info["batch_unit"] == "tokens" and info["per_rank_batch"] is None


def test_a_token_averaged_loss_is_weighted_by_tokens_not_rows() -> None:
    """A translation loss averages over real target tokens; rows of a token batch hold
    different numbers of them, so each rank's weight is its share of the tokens, and the ranks'
    averaged gradient is the single-process gradient of the whole batch."""

    class Tokens:
        def loss_units(self, batch: Any) -> torch.Tensor:
            return (batch[1] != 0).sum()

    torch.manual_seed(0)
    emb = nn.Embedding(6, 5)
    x = torch.randint(1, 6, (5, 4))
    y = torch.tensor([[1, 2, 3, 4], [2, 0, 0, 0], [3, 1, 0, 0], [1, 1, 1, 1], [4, 4, 4, 0]])

    def loss_of(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        out = emb(xs)
        return nn.functional.cross_entropy(out.reshape(-1, 5), ys.reshape(-1), ignore_index=0)

    emb.zero_grad()
    loss_of(x, y).backward()
    want = emb.weight.grad.clone()
    grads = []
    for r in range(2):
        part, local, total = split_batch(((x,), y), Shard(r, 2))
        w = rank_weight(Tokens(), ((x,), y), part, local, total, 2)
        assert isinstance(w, torch.Tensor)
        emb.zero_grad()
        (loss_of(part[0][0], part[1]) * w).backward()
        grads.append(emb.weight.grad.clone())
    assert torch.allclose((grads[0] + grads[1]) / 2, want, atol=1e-6)
    # 3 rows with 7 tokens and 2 rows with 7: by rows the weights would be 1.2 and 0.8
    assert float(w) == pytest.approx(1.0) and loss_weight(local, total, 2) == pytest.approx(0.8)
    assert rank_weight(object(), ((x,), y), part, 0, 5, 2) == 0.0


# -- analysis and report ---------------------------------------------------------------------------
def _scaling_result(n: int, tp: float | None, status: Status = Status.OK) -> Result:
    metrics = {} if tp is None else {"throughput": Metric(value=tp, unit="samples/s")}
    metrics["time_to_threshold_s"] = Metric(value=100.0 / n, unit="s")
    return _result(
        kind="scaling",
        workload="sc",
        case={"kind": "lstm-imdb", "case": {"precision": "fp32"}, "world_size": n},
        metrics=metrics,
        status=status,
        message=None if status is Status.OK else "4 ranks need 4 cores",
        config={"inner_description": "lstm-imdb fp32 eager", "throughput_metric": "x"},
    )


def test_scaling_series_gives_speedup_and_efficiency() -> None:
    results = [
        _scaling_result(1, 100.0),
        _scaling_result(2, 180.0),
        _scaling_result(4, None, Status.UNSUPPORTED),
    ]
    (s,) = scaling_series(results)
    assert s.base_world_size == 1 and s.label == "sc: lstm-imdb fp32 eager"
    p1, p2, p4 = s.points
    assert (p1.speedup, p1.efficiency) == (1.0, 1.0)
    assert p2.speedup == pytest.approx(1.8) and p2.efficiency == pytest.approx(0.9)
    assert p4.throughput is None and "4 cores" in p4.note
    assert p2.time_to_threshold_s == 50.0


def test_scaling_and_collective_sections_render() -> None:
    coll = [
        _result(
            kind="collective",
            workload="c",
            case={"op": op, "bytes": b, "dtype": "float32", "world_size": 2},
            metrics={
                "busbw_gbs": Metric(value=b / 1e6, unit="GB/s"),
                "algbw_gbs": Metric(value=b / 1e6, unit="GB/s"),
                "time_median": Metric(value=1e-3, unit="s"),
                "bytes": Metric(value=float(b), unit="B"),
                "world_size": Metric(value=2.0, unit="ranks"),
            },
            config={"backend": "gloo"},
        )
        for op, b in itertools.product(("all_reduce", "broadcast"), (8, 4096))
    ]
    results = [_scaling_result(1, 100.0), _scaling_result(2, 180.0), *coll]
    group = RunGroup("run-1", "s", platform_of(results[0]), results, "db")
    sec = _scaling([group])
    assert sec is not None and len(sec.tables[0].rows) == 2
    assert len(collective_curves(coll)) == 2
    csec = _collective([group])
    assert csec is not None and csec.tables[0].rows[0][0] == "all_reduce"
    for f in (*sec.figures, *csec.figures):
        f.make()  # draws without error


# -- the CLI ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--nnodes", "2"], "give --nproc-per-node N too"),
        (["--nproc-per-node", "0"], "--nproc-per-node 0: expected"),
        (["--nproc-per-node", "1", "--nnodes", "2"], "--rdzv-endpoint"),
        (["--nproc-per-node", "2", "--device", "fake:1"], "give the kind only"),
        (["--nproc-per-node", "1", "--collective-timeout", "0"], "--collective-timeout 0"),
        (
            ["--nproc-per-node", "1", "--nnodes", "2", "--rdzv-endpoint", "nohost"],
            "--rdzv-endpoint nohost: expected HOST:PORT",
        ),
    ],
)
def test_distributed_options_are_checked_before_anything_starts(
    tmp_path: Any, capsys: Any, args: list[str], needle: str
) -> None:
    suite = write_suite(
        tmp_path / "s.yaml",
        {"name": "s", "workloads": [{"name": "g", "kind": "gemm", "params": {"sizes": [8]}}]},
    )
    code = main(["run", str(suite), "--db", str(tmp_path / "a.db"), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "a.db").exists()


def test_documented_example_of_scaling_and_collective_validates() -> None:
    import re

    import yaml

    from accelbench.api import validate_suite
    from tests.helpers import REPO

    text = "".join(p.read_text() for p in [REPO / "README.md", *sorted(REPO.glob("docs/*.md"))])
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if "kind: scaling" in b]
    suite = validate_suite(yaml.safe_load("name: readme-dp\nworkloads:\n" + block), "README")
    assert [w.kind for w in suite.workloads] == ["scaling", "collective"]
    scaling = WORKLOADS.get("scaling").from_dict(suite.workloads[0].params)
    assert [c["world_size"] for c in scaling.cases()] == [1, 2, 4, 8]


def test_scaling_params_check_the_inner_workload() -> None:
    from pydantic import ValidationError

    cls = WORKLOADS.get("scaling")
    with pytest.raises(ValidationError, match="unknown workload kind 'nope'"):
        cls.from_dict({"workload": {"kind": "nope"}})
    with pytest.raises(ValidationError, match=r"workload\.params\.sizes"):
        cls.from_dict({"workload": {"kind": "gemm", "params": {"sizes": "big"}}})
    with pytest.raises(ValidationError, match="cannot scale another scaling"):
        cls.from_dict({"workload": {"kind": "scaling"}})


def test_a_world_size_the_node_cannot_hold_is_unsupported() -> None:
    from accelbench.workloads.scaling import capacity_problem

    assert capacity_problem(CpuDevice(), 1, 1) is None
    why = capacity_problem(CpuDevice(), 10_000, 1)
    assert why is not None and "physical cores" in why
