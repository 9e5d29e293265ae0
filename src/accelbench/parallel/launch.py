"""Start a suite under torchrun: the command line, the worker's instructions, the wait.

``accelbench run SUITE --nproc-per-node N`` (and each world size of a ``scaling`` case) becomes::

    python -m torch.distributed.run --nproc-per-node N --standalone --max-restarts 0 \\
        -m accelbench run - --dist-worker SPEC.json

or, across nodes, ``--nnodes M --node-rank R --rdzv-backend c10d --rdzv-endpoint HOST:PORT``
(every node runs the same command with its own ``--node-rank``). torchrun's elastic agent does
the rendezvous, starts one worker per device, watches them, and stops the rest when one fails;
accelbench adds nothing to that. The worker reads everything else it needs (suite, device kind,
store, threads, timeouts) from ``SPEC.json``, a :class:`WorkerSpec` written by the launcher.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accelbench.errors import UserError
from accelbench.parallel.settings import (
    DEFAULT_COLLECTIVE_TIMEOUT_S,
    DEFAULT_RDZV_TIMEOUT_S,
    ENV_NODE_RANK,
)

STOP_GRACE_S = 30.0
"""After SIGTERM, how long the launcher waits for torchrun before SIGKILL (torchrun gives its
workers the same 30 s)."""


class Launch(BaseModel):
    """How many processes, on how many nodes, meeting where."""

    model_config = ConfigDict(extra="forbid")

    nproc_per_node: int = Field(ge=1, le=1024)
    nnodes: int = Field(default=1, ge=1, le=4096)
    node_rank: int = Field(default=0, ge=0)
    rdzv_endpoint: str | None = Field(
        default=None, description="HOST:PORT of the c10d rendezvous; needed with nnodes > 1"
    )
    rdzv_id: str = Field(default="accelbench", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    rdzv_timeout_s: float = Field(default=DEFAULT_RDZV_TIMEOUT_S, gt=0)
    collective_timeout_s: float = Field(default=DEFAULT_COLLECTIVE_TIMEOUT_S, gt=0)

    @field_validator("rdzv_endpoint")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{v!r}: expected HOST:PORT, e.g. 10.0.0.1:29400")
        return v

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


def check_launch(launch: Launch) -> None:
    """The option combinations torchrun would reject late or misread, as one clear line."""
    if launch.nnodes > 1 and launch.rdzv_endpoint is None:
        raise UserError(
            f"--nnodes {launch.nnodes}: every node needs --rdzv-endpoint HOST:PORT (the same on "
            "all of them: where the c10d rendezvous runs)"
        )
    if launch.node_rank >= launch.nnodes:
        raise UserError(
            f"--node-rank {launch.node_rank}: expected 0..{launch.nnodes - 1} for --nnodes "
            f"{launch.nnodes}"
        )


class WorkerSpec(BaseModel):
    """What every worker runs: written by the launcher, read by ``--dist-worker``."""

    model_config = ConfigDict(extra="forbid")

    suite: str | dict[str, Any] = Field(
        description="a built-in suite name, a suite file, or the suite itself"
    )
    device: str = Field(description="device kind; each local rank takes its own index")
    db: str
    threads: int | None = None
    resume: bool = True
    peaks: list[dict[str, Any]] = Field(default_factory=list)
    power: bool = True
    power_rate_hz: float = 10.0
    data_dir: str | None = None
    offline: bool = False
    collective_timeout_s: float = DEFAULT_COLLECTIVE_TIMEOUT_S
    lock: bool = Field(
        default=True, description="hold the device lock (off when an outer run holds it)"
    )
    only_case: dict[str, Any] | None = Field(
        default=None, description="run just this case of the suite (a scaling case)"
    )
    results_out: str | None = Field(
        default=None, description="the owner appends each stored result here as a JSON line"
    )
    status_out: str | None = Field(
        default=None, description="the owner writes its run id and final state here"
    )
    progress: bool = True


def torchrun_argv(launch: Launch, worker_args: list[str], python: str | None = None) -> list[str]:
    """The torchrun command that starts ``python -m accelbench WORKER_ARGS`` on each device.

    One node without an endpoint uses ``--standalone`` (a private c10d store on a free local
    port); otherwise the c10d rendezvous at ``rdzv_endpoint``. ``--max-restarts 0``: a failed
    worker is a result to store, not something to retry behind the user's back.
    """
    check_launch(launch)
    argv = [python or sys.executable, "-m", "torch.distributed.run"]
    argv += ["--nproc-per-node", str(launch.nproc_per_node)]
    if launch.nnodes == 1 and launch.rdzv_endpoint is None:
        argv.append("--standalone")
    else:
        argv += [
            "--nnodes",
            str(launch.nnodes),
            "--node-rank",
            str(launch.node_rank),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            str(launch.rdzv_endpoint),
            "--rdzv-id",
            launch.rdzv_id,
            "--rdzv-conf",
            f"join_timeout={int(launch.rdzv_timeout_s)}",
        ]
    argv += ["--max-restarts", "0", "--monitor-interval", "0.5", "-m", "accelbench", *worker_args]
    return argv


def worker_env(launch: Launch, threads: int | None, base: dict[str, str] | None = None) -> dict:
    """The launcher's environment plus the node rank for the workers; with ``threads`` the
    OpenMP thread count too (torchrun sets 1 per worker when nothing is set)."""
    env = dict(os.environ if base is None else base)
    env[ENV_NODE_RANK] = str(launch.node_rank)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


@dataclass
class LaunchOutcome:
    returncode: int
    timed_out: bool
    wall_s: float
    tail: list[str]
    """The last lines torchrun and its workers printed (when captured)."""

    @property
    def summary(self) -> str:
        """The lines that say why torchrun failed, kept short for a result message."""
        keep = [
            line.strip()
            for line in self.tail
            if any(
                k in line
                for k in ("Error", "error", "exitcode", "Signal", "rank", "Timed out", "timeout")
            )
        ]
        return " | ".join(keep[-6:])[:800]


def run_torchrun(
    argv: list[str],
    env: dict[str, str],
    *,
    timeout_s: float | None = None,
    log: Path | None = None,
    echo: Callable[[str], str | None] | None = None,
) -> LaunchOutcome:
    """Run torchrun to completion: output to the terminal, or to ``log`` (of which the last
    lines are kept, and the lines ``echo`` maps to text are shown on stderr as they come, so a
    long inner run still shows progress); killed with its whole process group after
    ``timeout_s``. Ctrl-C stops it the way torchrun stops workers (SIGTERM, then SIGKILL after a
    grace period) and re-raises."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE if log is not None else None,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,
    )
    copier = None
    if log is not None:
        copier = threading.Thread(target=_copy, args=(proc, log, echo), daemon=True)
        copier.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc)
    except BaseException:
        _stop(proc)
        raise
    finally:
        if copier is not None:
            copier.join(timeout=10)
    tail: list[str] = []
    if log is not None and log.exists():
        with log.open(errors="replace") as f:
            tail = list(deque(f, maxlen=40))
    return LaunchOutcome(proc.returncode, timed_out, time.perf_counter() - t0, tail)


def _copy(
    proc: subprocess.Popen[bytes], log: Path, echo: Callable[[str], str | None] | None
) -> None:
    assert proc.stdout is not None
    with log.open("wb") as f:
        for raw in proc.stdout:
            f.write(raw)
            f.flush()
            if echo is not None:
                shown = echo(raw.decode(errors="replace"))
                if shown:
                    sys.stderr.write(shown if shown.endswith("\n") else shown + "\n")
                    sys.stderr.flush()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S + 5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
