"""One worker of a data-parallel run: who it is, who the others are, and bounded collectives.

Workers are started by ``torchrun`` (``torch.distributed.run``), whose elastic agent performs
the c10d rendezvous and gives each worker ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE`` and ``GROUP_RANK``, with the rendezvous store at ``MASTER_ADDR`` /
``MASTER_PORT``. :func:`join_world` turns that into a :class:`World`:

* The **default process group is gloo** and carries only the control plane: the case list the
  owner broadcasts, barriers, and every rank's record gathered to the owner (``gather_object``).
  Its timeout is ``2 x collective timeout + 60 s``, so a rank that failed early and waits here
  outlasts a peer that is still stuck in a compute collective and must first time out.
* Each case gets a **fresh compute group** with the device's collective library (NCCL, HCCL,
  XCCL, gloo on CPU), created by :meth:`World.case_group` and destroyed after it, with the
  collective timeout. A collective that timed out leaves its group in an unknown state; the
  next case never sees it.
* The **owner** is the rank that writes the store: local rank 0 of the node launched with
  ``--node-rank 0``. (The c10d rendezvous numbers nodes in its own order, so global rank 0 can
  be on any node; the node the user marked as first is where the results go.)

Every collective has a timeout (:data:`DEFAULT_COLLECTIVE_TIMEOUT_S`, configurable); a peer
that died closes its sockets and fails the collectives waiting on it at once, and ``torchrun``
stops the remaining workers with SIGTERM, which :func:`install_stop_handler` turns into
:class:`RankStopped` so the owner can still store what happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from accelbench.errors import UserError
from accelbench.parallel.settings import DEFAULT_COLLECTIVE_TIMEOUT_S, ENV_NODE_RANK

_TORCHRUN_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class TorchrunEnv:
    """What torchrun's agent tells a worker through its environment."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    group_rank: int
    """The node's rank as the rendezvous assigned it."""
    node_rank: int
    """The ``--node-rank`` its launcher was given (``group_rank`` when unknown)."""
    master: str
    run_id: str


def torchrun_env(environ: Mapping[str, str] | None = None) -> TorchrunEnv | None:
    """The torchrun variables of this process, or None when torchrun did not start it."""
    env = os.environ if environ is None else environ
    if not all(k in env for k in _TORCHRUN_KEYS):
        return None
    try:
        rank, size, local, local_size = (int(env[k]) for k in _TORCHRUN_KEYS)
        group = int(env.get("GROUP_RANK", "0"))
        node = int(env.get(ENV_NODE_RANK, str(group)))
    except ValueError:
        shown = ", ".join(f"{k}={env.get(k)!r}" for k in (*_TORCHRUN_KEYS, "GROUP_RANK"))
        raise UserError(f"torchrun environment is not integers: {shown}") from None
    return TorchrunEnv(
        rank=rank,
        world_size=size,
        local_rank=local,
        local_world_size=local_size,
        group_rank=group,
        node_rank=node,
        master=f"{env.get('MASTER_ADDR', '?')}:{env.get('MASTER_PORT', '?')}",
        run_id=env.get("TORCHELASTIC_RUN_ID", ""),
    )


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` equal-as-possible contiguous parts (``numpy.array_split``'s
    rule: the first ``n % count`` parts hold one more)."""

    index: int
    count: int

    def bounds(self, n: int) -> tuple[int, int]:
        base, extra = divmod(n, self.count)
        start = self.index * base + min(self.index, extra)
        return start, start + base + (1 if self.index < extra else 0)


class RankStopped(BaseException):
    """The launcher told this worker to stop (torchrun sends SIGTERM to every worker when one
    of them exits with an error). A BaseException, so ``except Exception`` inside a case does
    not turn it into that case's error and carry on."""


_stopping = False


def install_stop_handler() -> None:
    """Turn the first SIGTERM into :class:`RankStopped` in the main thread; later ones are
    ignored, so storing what happened is not itself interrupted (torchrun waits 30 s before
    SIGKILL)."""

    def handler(signum: int, _frame: Any) -> None:
        global _stopping
        if _stopping:
            return
        _stopping = True
        raise RankStopped(f"received {signal.Signals(signum).name} from the launcher")

    signal.signal(signal.SIGTERM, handler)


def ignore_further_stops() -> None:
    """After a stop has been handled: let nothing interrupt the clean-up."""
    global _stopping
    _stopping = True


@dataclass
class World:
    """This worker's place in the run and the collectives it may use."""

    rank: int
    size: int
    local_rank: int
    local_size: int
    group_rank: int
    node_rank: int
    nnodes: int
    owner: int
    """The rank that owns the store (see the module notes)."""
    backend: str
    """The compute groups' collective library."""
    timeout_s: float
    hosts: list[str] = field(default_factory=list)
    """Host name of every rank, by rank."""
    master: str = ""
    private: bool = False
    """A one-process world made for a single run (``local_world``), not by torchrun."""
    _compute: Any = None

    @property
    def is_owner(self) -> bool:
        return self.rank == self.owner

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.size)

    def describe(self) -> dict[str, Any]:
        return {
            "world_size": self.size,
            "nnodes": self.nnodes,
            "nproc_per_node": self.local_size,
            "backend": self.backend,
            "owner_rank": self.owner,
            "collective_timeout_s": self.timeout_s,
            "launcher": "in-process (one rank)" if self.private else "torchrun",
        }

    # -- control plane: objects over the gloo default group ---------------------------------------
    def barrier(self) -> None:
        dist.barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on the owner (by rank), None elsewhere."""
        out: list[Any] | None = [None] * self.size if self.is_owner else None
        dist.gather_object(obj, out, dst=self.owner)
        return out

    def broadcast(self, obj: Any) -> Any:
        """The owner's ``obj`` on every rank."""
        box = [obj if self.is_owner else None]
        dist.broadcast_object_list(box, src=self.owner)
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    # -- compute plane: the device's collective library, one group per case -----------------------
    @contextlib.contextmanager
    def case_group(self) -> Iterator[Any]:
        """A fresh compute group for one case, destroyed after it (also after a failure)."""
        group = dist.new_group(backend=self.backend, timeout=timedelta(seconds=self.timeout_s))
        self._compute = group
        try:
            yield group
        finally:
            self._compute = None
            with contextlib.suppress(Exception):
                dist.destroy_process_group(group)

    @property
    def compute(self) -> Any:
        """The current case's compute group (the trainer's DDP and the collective sweep)."""
        if self._compute is None:
            raise RuntimeError("no compute group: collectives run inside World.case_group()")
        return self._compute

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduce ``tensor`` (on the compute device) in place over the compute group."""
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        dist.all_reduce(tensor, op=ops[op], group=self.compute)
        return tensor

    def broadcast_tensor(self, tensor: torch.Tensor, src: int | None = None) -> torch.Tensor:
        """``tensor`` from rank ``src`` (default: the compute group's first rank, the one DDP
        copies parameters and buffers from) to every rank, in place."""
        dist.broadcast(tensor, src=0 if src is None else src, group=self.compute)
        return tensor

    def broadcast_object(self, obj: Any) -> Any:
        """The owner's ``obj`` over the compute group, with the collective timeout."""
        box = [obj if self.is_owner else None]
        dist.broadcast_object_list(box, src=self.owner, group=self.compute)
        return box[0]

    def leave(self) -> None:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def control_timeout(timeout_s: float) -> timedelta:
    return timedelta(seconds=2 * timeout_s + 60)


def join_world(backend: str, timeout_s: float = DEFAULT_COLLECTIVE_TIMEOUT_S) -> World:
    """Join the run torchrun started this process in; raises UserError outside torchrun or
    when the launchers' ``--node-rank`` values do not name exactly one first node."""
    env = torchrun_env()
    if env is None:
        raise UserError(
            "this process was not started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK and "
            "LOCAL_WORLD_SIZE are not set); use `accelbench run SUITE --nproc-per-node N`"
        )
    if not timeout_s > 0:
        raise UserError(f"--collective-timeout {timeout_s:g}: expected a positive number")
    dist.init_process_group(backend="gloo", timeout=control_timeout(timeout_s))
    host = socket.gethostname()
    peers = [
        tuple(p)
        for p in _all_gather_plain((host, env.node_rank, env.local_rank, env.group_rank), env)
    ]
    first = [r for r, (_, node, local, _) in enumerate(peers) if node == 0 and local == 0]
    if len(first) != 1:
        dist.destroy_process_group()
        nodes = sorted({p[1] for p in peers})
        raise UserError(
            f"--node-rank: exactly one node must be launched with --node-rank 0 (it keeps the "
            f"results); the launchers gave {nodes}"
        )
    return World(
        rank=env.rank,
        size=env.world_size,
        local_rank=env.local_rank,
        local_size=env.local_world_size,
        group_rank=env.group_rank,
        node_rank=env.node_rank,
        nnodes=len({p[3] for p in peers}),
        owner=first[0],
        backend=backend,
        timeout_s=timeout_s,
        hosts=[p[0] for p in peers],
        master=env.master,
    )


def _all_gather_plain(obj: Any, env: TorchrunEnv) -> list[Any]:
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


@contextlib.contextmanager
def local_world(backend: str, timeout_s: float = DEFAULT_COLLECTIVE_TIMEOUT_S) -> Iterator[World]:
    """A one-rank world for a single process that was not started by torchrun (a collective
    sweep run without ``--nproc-per-node``): the same code path, with no peer to wait for."""
    if dist.is_initialized():
        raise RuntimeError("a process group exists already; use the run's World")
    dist.init_process_group(
        backend="gloo",
        store=dist.HashStore(),
        rank=0,
        world_size=1,
        timeout=control_timeout(timeout_s),
    )
    try:
        yield World(
            rank=0,
            size=1,
            local_rank=0,
            local_size=1,
            group_rank=0,
            node_rank=0,
            nnodes=1,
            owner=0,
            backend=backend,
            timeout_s=timeout_s,
            hosts=[socket.gethostname()],
            private=True,
        )
    finally:
        dist.destroy_process_group()
