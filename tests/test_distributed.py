"""Data-parallel runs through the real torchrun launcher with gloo on this CPU.

The default tier has one 2-rank run of a small suite through ``accelbench run
--nproc-per-node 2``; the rest (DDP against one process, a killed rank, two nodes, the scaling
workload) is ``slow``: each is one or more torchrun launches of fresh interpreters.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from accelbench.analysis.scaling import scaling_series
from accelbench.results.schema import Result, Status
from accelbench.results.store import Store
from tests.helpers import CLI, REPO, cli_env, write_suite

LAUNCH_TIMEOUT = 600  # a bound for a contended CI machine; an idle one needs a tenth


def tiny_lstm(**extra: Any) -> dict[str, Any]:
    return {
        "data": "synthetic",
        "synthetic_size": 40,
        "eval_subset": 8,
        "batch_size": 10,
        "max_epochs": 2,
        "vocab_size": 50,
        "max_len": 12,
        "embed_dim": 4,
        "hidden": 4,
        **extra,
    }


def run_cli(*args: str, timeout: float = LAUNCH_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=cli_env()
    )


def stored(db: Path) -> list[Result]:
    with Store(db) as st:
        return st.query()


def test_two_ranks_store_one_result_per_case_with_both_ranks(tmp_path: Path) -> None:
    """The default-tier 2-rank run: real torchrun, gloo, DDP training, a collective sweep."""
    suite = write_suite(
        tmp_path / "dp.yaml",
        {
            "name": "dp",
            "measure": {"warmup": 1, "iterations": 3},
            "workloads": [
                {"name": "lstm", "kind": "lstm-imdb", "params": tiny_lstm()},
                {
                    "name": "coll",
                    "kind": "collective",
                    "params": {"ops": ["all_reduce", "all_gather"], "sizes": [4096]},
                },
            ],
        },
    )
    db = tmp_path / "a.db"
    r = run_cli(
        "run", str(suite), "--device", "cpu", "--db", str(db), "--nproc-per-node", "2",
        "--no-power", "--threads", "1", "--collective-timeout", "120",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    results = stored(db)
    assert sorted(x.workload for x in results) == ["coll", "coll", "lstm"]  # one per case
    for x in results:
        assert x.status is Status.OK, x.message
        assert x.case["world_size"] == 2 and x.description.endswith("on 2 ranks")
        d = x.distributed
        assert d is not None and d.world_size == 2 and d.backend == "gloo"
        assert [k.rank for k in d.ranks] == [0, 1] and d.launcher == "torchrun"
        for k in d.ranks:
            assert k.status is Status.OK and k.environment.threads == 1 and k.wall_s > 0
    lstm = next(x for x in results if x.workload == "lstm")
    for k in lstm.distributed.ranks:  # type: ignore[union-attr]
        assert [e.epoch for e in k.epochs] == [1, 2] and all(e.train_s > 0 for e in k.epochs)
    for epoch in (0, 1):  # the ranks' slices add up to the epoch: each sample once
        assert sum(k.epochs[epoch].samples for k in lstm.distributed.ranks) == 40  # type: ignore[union-attr]
    assert [t.samples for t in lstm.trace] == [40, 40]
    assert lstm.config["data_parallel"]["per_rank_batch"] == 5
    for x in results:
        if x.kind == "collective":
            factor = 1.0 if x.case["op"] == "all_reduce" else 0.5  # 2(n-1)/n, (n-1)/n at n=2
            assert x.metric("busbw_gbs") == pytest.approx(x.metric("algbw_gbs") * factor)
            assert x.metric("algbw_gbs") == pytest.approx(4096 / x.metric("time_median") / 1e9)
            assert len(x.samples) == 3 and all(len(k.samples) == 3 for k in x.distributed.ranks)  # type: ignore[union-attr]
    with Store(db) as st:
        (run,) = st.runs()
        assert run.state == "complete" and run.n_results == 3


@pytest.mark.slow
def test_ddp_trains_like_one_process_on_the_same_global_batches(tmp_path: Path) -> None:
    """Parameters after two epochs, epoch losses and sharded evaluation equal a single process's;
    every sample is seen exactly once per epoch across the ranks."""
    sys.path.insert(0, str(REPO))
    from tests import ddp_check

    out = tmp_path / "ddp.pt"
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
         str(REPO / "tests" / "ddp_check.py"), str(out)],
        capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, env=cli_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    ranks = torch.load(out, weights_only=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params, trace, model = ddp_check.train(None)
    finally:
        torch.set_num_threads(threads)
    for rank in ranks:
        for k, v in params.items():
            assert torch.allclose(rank["params"][k], v, atol=1e-5), (rank["rank"], k)
    for epoch in range(ddp_check.EPOCHS):
        seen0, seen1 = ranks[0]["seen"][epoch], ranks[1]["seen"][epoch]
        # The last global batch holds one sample: rank 1 ran a zero-weight stand-in (a copy of
        # rank 0's sample) to stay in step; it adds nothing to the gradient.
        assert seen1[-1] == seen0[-1]
        ids = sorted(seen0 + seen1[:-1])
        assert ids == list(range(ddp_check.N)), f"epoch {epoch + 1}: {ids}"
        assert sorted(model.seen[epoch]) == list(range(ddp_check.N))
    owner = ranks[0]["trace"]
    for dp, single in zip(owner, trace, strict=True):
        assert dp["samples"] == single.samples == ddp_check.N
        assert dp["train_loss"] == pytest.approx(single.train_loss, abs=1e-5)
        assert dp["metric"] == pytest.approx(single.metric)  # sharded evaluation, reduced
        assert dp["secondary"]["val_samples"] == ddp_check.N


def _rank_pid(marker: str, rank: str) -> int | None:
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if "--dist-worker" in cmd and marker in cmd and p.environ().get("RANK") == rank:
                return int(p.info["pid"])
        except (psutil.Error, TypeError):
            continue
    return None


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["1", "0"])
def test_a_killed_rank_ends_the_run_without_a_hang_and_resume_finishes(
    tmp_path: Path, victim: str
) -> None:
    """Rank 1 killed: the owner stores the case in flight as an error and marks the run
    interrupted. Rank 0 (the owner) killed: its launcher marks the run interrupted. Either way
    one line says so, nothing hangs, and the same command completes the run."""
    suite = write_suite(
        tmp_path / "killme.yaml",
        {
            "name": "killme",
            "measure": {"warmup": 1, "iterations": 3},
            "workloads": [
                {"name": "lstm", "kind": "lstm-imdb",
                 "params": tiny_lstm(synthetic_size=4000, max_epochs=40)},
                {"name": "gemm", "kind": "gemm", "params": {"sizes": [16], "dtypes": ["float32"]}},
            ],
        },
    )  # fmt: skip
    db, log = tmp_path / "k.db", tmp_path / "k.log"
    args = ["run", str(suite), "--device", "cpu", "--db", str(db), "--nproc-per-node", "2",
            "--no-power", "--collective-timeout", "120"]  # fmt: skip
    with log.open("w") as f:
        proc = subprocess.Popen([*CLI, *args], stdout=f, stderr=subprocess.STDOUT, env=cli_env())
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while "epoch 2:" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(1)
        pid = _rank_pid("killme", victim)
        assert pid is not None, log.read_text()
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        code = proc.wait(timeout=180)  # no hang: bounded well below the collective timeout
        assert time.monotonic() - killed < 120
    finally:
        if proc.poll() is None:
            proc.kill()
    text = " ".join(log.read_text().split())
    assert code == 1, text
    with Store(db) as st:
        (run,) = st.runs()
        assert run.state == "interrupted"
    if victim == "1":
        assert "interrupted: the same command resumes it" in text, text
        (lstm,) = stored(db)
        assert lstm.status is Status.ERROR and "rank" in (lstm.message or ""), lstm.message
        assert lstm.distributed is not None and lstm.case["world_size"] == 2
    else:
        assert f"the store's owner (rank 0) died during run {run.run_id}" in text, text
        assert stored(db) == []
    # The same command continues the run. A case it holds stays stored once (as in any resumed
    # run, an error is retried by the next run, not twice within one); the rest is measured.
    again = run_cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    with Store(db) as st:
        (run2,) = st.runs()
        assert run2.run_id == run.run_id and run2.state == "complete"
    finals = {x.workload: x.status for x in stored(db)}
    lstm_final = Status.ERROR if victim == "1" else Status.OK
    assert finals == {"lstm": lstm_final, "gemm": Status.OK} and len(stored(db)) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_nodes_meet_at_a_c10d_endpoint_on_localhost(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path / "mn.yaml",
        {
            "name": "mn",
            "measure": {"warmup": 1, "iterations": 3},
            "workloads": [
                {"name": "lstm", "kind": "lstm-imdb", "params": tiny_lstm()},
                {"name": "coll", "kind": "collective",
                 "params": {"ops": ["broadcast"], "sizes": [64]}},
            ],
        },
    )  # fmt: skip
    db = tmp_path / "mn.db"
    endpoint = f"127.0.0.1:{_free_port()}"
    procs = []
    for node in (1, 0):
        argv = [*CLI, "run", str(suite), "--device", "cpu", "--db", str(db),
                "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", str(node),
                "--rdzv-endpoint", endpoint, "--no-power", "--rdzv-timeout", "300"]  # fmt: skip
        procs.append(
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env()
            )
        )
    outs = [p.communicate(timeout=LAUNCH_TIMEOUT)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "results are stored by the node launched with --node-rank 0" in " ".join(outs[0].split())
    results = stored(db)
    assert sorted(x.workload for x in results) == ["coll", "lstm"]
    for x in results:
        d = x.distributed
        assert x.status is Status.OK and d is not None, x.message
        assert (d.world_size, d.nnodes, d.nproc_per_node) == (2, 2, 1)
        assert sorted(k.node_rank for k in d.ranks) == [0, 1]
        owner = next(k for k in d.ranks if k.rank == d.owner_rank)
        assert owner.node_rank == 0  # the node launched with --node-rank 0 keeps the results


@pytest.mark.slow
def test_scaling_runs_each_world_size_as_its_own_launch(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path / "sc.yaml",
        {
            "name": "sc",
            "measure": {"warmup": 1, "iterations": 3},
            "workloads": [
                {
                    "name": "scale",
                    "kind": "scaling",
                    "params": {
                        "workload": {"kind": "lstm-imdb", "params": tiny_lstm(max_epochs=3)},
                        "world_sizes": [1, 2, 64],
                        "collective_timeout_s": 120,
                    },
                }
            ],
        },
    )
    db = tmp_path / "sc.db"
    r = run_cli("run", str(suite), "--device", "cpu", "--db", str(db), "--no-power")
    assert r.returncode == 0, r.stdout + r.stderr
    by_size = {x.case["world_size"]: x for x in stored(db)}
    assert by_size[64].status is Status.UNSUPPORTED and "cores" in (by_size[64].message or "")
    for n in (1, 2):
        x = by_size[n]
        assert x.status is Status.OK, x.message
        assert x.distributed is not None and x.distributed.world_size == n
        assert len(x.distributed.ranks) == n and x.metric("throughput") is not None
        assert x.config["launch"]["argv"][:3][-1] == "torch.distributed.run"
        assert [t.samples for t in x.trace] == [40, 40, 40]
    (series,) = scaling_series(stored(db))
    p1, p2, _ = series.points
    assert p1.speedup == 1.0 and p2.speedup == pytest.approx(
        by_size[2].metric("throughput") / by_size[1].metric("throughput")  # type: ignore[operator]
    )
    assert p2.efficiency == pytest.approx(p2.speedup / 2)  # type: ignore[operator]
    assert "scaling: scale" in " ".join(r.stdout.split())


@pytest.mark.slow
def test_a_rendezvous_that_never_completes_ends_in_one_line_and_stores_nothing(
    tmp_path: Path,
) -> None:
    """Node 0 of a two-node job whose other node never comes: torchrun gives up after
    --rdzv-timeout, the command says so in one line and exits non-zero; nothing is stored."""
    suite = write_suite(
        tmp_path / "alone.yaml",
        {
            "name": "alone",
            "workloads": [{"name": "lstm", "kind": "lstm-imdb", "params": tiny_lstm()}],
        },
    )
    db = tmp_path / "alone.db"
    t0 = time.monotonic()
    r = run_cli(
        "run", str(suite), "--device", "cpu", "--db", str(db), "--nproc-per-node", "1",
        "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}",
        "--rdzv-timeout", "15", "--no-power",
    )  # fmt: skip
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "rendezvous timed out" in errors[0], out
    assert "Traceback" not in r.stderr.split("error: ")[-1]
    assert took < 300, took  # bounded by the rendezvous timeout, not a hang
    assert not db.exists() or stored(db) == []


@pytest.mark.slow
def test_every_recipe_trains_on_two_ranks(tmp_path: Path) -> None:
    """cnn-digits (bundled real data), DeepFM with dense and sparse (SparseAdam, sparse
    gradients through gloo) tables and the Transformer (token batches, a per-token loss)
    train data-parallel; each epoch's samples are the ranks' slices added up."""
    suite = write_suite(
        tmp_path / "every.yaml",
        {
            "name": "every",
            "workloads": [
                {"name": "digits", "kind": "cnn-digits",
                 "params": {"max_epochs": 1, "train_subset": 64, "eval_subset": 32,
                            "batch_size": 32}},
                {"name": "deepfm", "kind": "deepfm-criteo",
                 "params": {"data": "synthetic", "synthetic_size": 64,
                            "synthetic_tables": [3] * 26, "batch_size": 16, "max_epochs": 1,
                            "embed_dim": 2, "optimizers": ["dense", "sparse"]}},
                {"name": "transformer", "kind": "transformer-multi30k",
                 "params": {"data": "synthetic", "synthetic_size": 16, "vocab_size": 64,
                            "batch_size": 120, "max_epochs": 1}},
            ],
        },
    )  # fmt: skip
    db = tmp_path / "every.db"
    r = run_cli(
        "run", str(suite), "--device", "cpu", "--db", str(db), "--nproc-per-node", "2",
        "--no-power", "--threads", "1", "--collective-timeout", "300",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    results = stored(db)
    assert sorted(x.workload for x in results) == ["deepfm", "deepfm", "digits", "transformer"]
    for x in results:
        assert x.status is Status.OK, (x.workload, x.message)
        d = x.distributed
        assert d is not None and [k.rank for k in d.ranks] == [0, 1]
        assert sum(k.epochs[0].samples for k in d.ranks) == x.trace[0].samples > 0
    tr = next(x for x in results if x.workload == "transformer")
    dp = tr.config["data_parallel"]
    assert dp["batch_unit"] == "tokens" and "loss_units" in dp["loss_weight"]
