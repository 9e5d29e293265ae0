"""A suite as a data-parallel job: launched by torchrun, one worker per device, one store.

:func:`launch_suite` is what ``accelbench run SUITE --nproc-per-node N`` calls: it checks the
suite and options, writes the workers' instructions (:class:`~accelbench.parallel.launch.
WorkerSpec`) and runs torchrun, which re-invokes ``accelbench run ... --dist-worker SPEC`` in
every worker; :func:`worker_main` is that worker.

Every rank runs every case of the plan, in the order the owner broadcasts. The owner (local
rank 0 of the node launched with ``--node-rank 0``) alone opens the store, decides what resume
skips, measures power and stores results. After each case, every rank's record (status,
timings, per-epoch times, environment) is gathered to it over the process group
(``gather_object``) and stored in the one result of that case (``Result.distributed``). A
case's identity gains ``world_size``, so results at different world sizes never stand in for
one another on resume or in a comparison.

Failures end as stored results, never hangs:

* a rank whose case fails while the others finish (an exception on one rank) makes the others
  wait in their next collective until the collective timeout; then every rank has an error,
  the records are gathered, one error result is stored, and the sweep goes on with a fresh
  collective group;
* a rank that dies closes its sockets, so the others' collectives fail at once, and torchrun
  stops the rest (SIGTERM): the owner stores the case in flight as an ``error`` naming what it
  saw, marks the run ``interrupted`` and exits; the same command resumes it;
* if the owner itself dies, its launcher marks the run ``interrupted`` in the store and prints
  one line; the same command resumes it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from accelbench import config
from accelbench.api.plan import Plan, PlannedWorkload, load_suite, resolve, validate_suite
from accelbench.api.references import ReferenceBook
from accelbench.api.runner import (
    Reporter,
    RunReport,
    _already_done,
    _Silent,
    device_lock,
    new_run_id,
    run_case,
    set_threads,
)
from accelbench.config import PeakSpec, Suite
from accelbench.devices import DEVICES, BaseDevice, make_device
from accelbench.environment import collect_environment
from accelbench.errors import DeviceError, StoreError, Unsupported, UserError
from accelbench.parallel.launch import (
    Launch,
    LaunchOutcome,
    WorkerSpec,
    check_launch,
    run_torchrun,
    torchrun_argv,
    worker_env,
)
from accelbench.parallel.world import (
    RankStopped,
    World,
    ignore_further_stops,
    install_stop_handler,
    join_world,
    torchrun_env,
)
from accelbench.power.session import PowerMonitor
from accelbench.results.schema import (
    Distributed,
    Environment,
    Metric,
    RankEpoch,
    RankRecord,
    Result,
    Status,
    case_key,
)
from accelbench.results.store import Store
from accelbench.validation import read_yaml
from accelbench.workloads import RunContext

# Metrics of a timed case whose sum over the ranks is the world's rate.
_ADDITIVE = {"samples_per_s": "samples/s", "achieved_gflops": "GFLOP/s"}


@dataclass
class DistributedRunReport(RunReport):
    """What the launcher on this node learned; results only on the owner's node."""

    world_size: int = 1
    owner_here: bool = False
    failure: str | None = None
    """One line saying why the job did not complete (None: it did)."""
    returncode: int = 0


# -- the launcher ------------------------------------------------------------------------------
def check_device_for_launch(device: str, launch: Launch) -> str:
    """The device kind the workers use; an index is refused for more than one process per node
    (each local rank takes its own device, chosen with the kind's visibility variable)."""
    kind, _, index = device.partition(":")
    cls = DEVICES.get(kind)
    if index and launch.nproc_per_node > 1:
        env = cls.visible_devices_env
        how = f"with {env}" if env else "by the local rank"
        raise UserError(
            f"--device {device}: with --nproc-per-node {launch.nproc_per_node} local rank i uses "
            f"{kind}:i of the visible devices; give the kind only and select devices {how}"
        )
    if kind != "fake":
        probe = cls.probe()
        if not probe.available:
            raise DeviceError(f"--device {device!r}: not available here ({probe.reason})")
    return kind


def launch_suite(
    suite_ref: str,
    launch: Launch,
    *,
    device: str,
    db: str | Path = "accelbench.db",
    threads: int | None = None,
    resume: bool = True,
    peaks: list[PeakSpec] | None = None,
    power: bool = True,
    power_rate_hz: float = 10.0,
    data_dir: str | Path | None = None,
    offline: bool = False,
) -> DistributedRunReport:
    """Run ``suite_ref`` under torchrun on this node; returns when torchrun has exited."""
    suite = load_suite(suite_ref)  # a mistake in the suite is one line before anything starts
    path, _ = config.suite_file(suite_ref)
    check_launch(launch)
    kind = check_device_for_launch(device, launch)
    db_path = Path(db).resolve()
    if db_path.is_dir() or not db_path.parent.exists():
        raise StoreError(f"--db {db}: expected a database file in an existing folder")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accelbench-dist-") as tmp:
        spec = WorkerSpec(
            suite=str(Path(path).resolve()),
            device=kind,
            db=str(db_path),
            threads=threads,
            resume=resume,
            peaks=[p.model_dump(mode="json") for p in peaks or []],
            power=power,
            power_rate_hz=power_rate_hz,
            data_dir=str(Path(data_dir).resolve()) if data_dir else None,
            offline=offline,
            collective_timeout_s=launch.collective_timeout_s,
            results_out=str(Path(tmp) / "results.jsonl"),
            status_out=str(Path(tmp) / "status.json"),
        )
        spec_path = Path(tmp) / "worker.json"
        spec_path.write_text(spec.model_dump_json())
        argv = torchrun_argv(launch, ["run", suite_ref, "--dist-worker", str(spec_path)])
        outcome = run_torchrun(argv, worker_env(launch, threads))
        status = _read_json(Path(spec.status_out or ""))
        results = read_results(Path(spec.results_out or ""))
    report = DistributedRunReport(
        run_id=status.get("run_id"),
        suite=suite.name,
        device=kind,
        db=str(db_path),
        resumed=bool(status.get("resumed")),
        skipped_already_stored=int(status.get("skipped", 0)),
        wall_s=time.perf_counter() - t0,
        results=results,
        interrupted=status.get("state") == "interrupted",
        stored_in_runs=list(status.get("stored_in_runs", [])),
        world_size=launch.world_size,
        owner_here=bool(status),
        returncode=outcome.returncode,
    )
    report.failure = _failure_line(outcome, status, db_path)
    if report.failure and status.get("run_id"):
        report.interrupted = True
    return report


def _failure_line(outcome: LaunchOutcome, status: dict[str, Any], db: Path) -> str | None:
    if outcome.returncode == 0:
        return None
    if not status:
        return (
            f"torchrun exited with status {outcome.returncode} and this node stored nothing: "
            "a worker failed to start, the rendezvous timed out, or the results are stored by "
            "the node launched with --node-rank 0 (see the messages above)"
        )
    state = status.get("state")
    run_id = status.get("run_id")
    if state == "running" and run_id:  # the owner died before it could say so
        with contextlib.suppress(StoreError, OSError), Store(db) as st:
            st.finish_run(run_id, "interrupted")
        return (
            f"the store's owner (rank {status.get('owner_rank', 0)}) died during run {run_id}; "
            "the run is marked interrupted: run the same command again to resume it"
        )
    if status.get("error"):
        if state == "interrupted" and run_id:
            return (
                f"{status['error']}; run {run_id} is marked interrupted: the same command "
                "resumes it"
            )
        return str(status["error"])
    return f"torchrun exited with status {outcome.returncode} (see the messages above)"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def read_results(path: Path) -> list[Result]:
    """The results an owner wrote to ``results_out`` (missing file: none)."""
    if not path.is_file():
        return []
    return [Result.model_validate_json(line) for line in path.read_text().splitlines() if line]


# -- the worker --------------------------------------------------------------------------------
def _suite_of(spec: WorkerSpec) -> Suite:
    if isinstance(spec.suite, dict):
        return validate_suite(spec.suite, f"suite {spec.suite.get('name', '?')}")
    p = Path(spec.suite)
    return validate_suite(read_yaml(p), str(p), p)


def _only(plan: Plan, case: dict[str, Any]) -> Plan:
    key = case_key(case)
    kept = [
        PlannedWorkload(
            w.name, w.kind, w.workload, w.measure, [c for c in w.cases if case_key(c) == key]
        )
        for w in plan.workloads
    ]
    if not any(w.cases for w in kept):
        raise UserError(f"case {key} is not one of the suite's cases")
    return Plan(plan.suite, [w for w in kept if w.cases])


def with_world_size(plan: Plan, world_size: int) -> Plan:
    """The plan with ``world_size`` in every case's identity (what resume and the store see)."""
    return Plan(
        plan.suite,
        [
            PlannedWorkload(
                w.name,
                w.kind,
                w.workload,
                w.measure,
                [{**c, "world_size": world_size} for c in w.cases],
            )
            for w in plan.workloads
        ],
    )


def worker_main(spec_path: str | Path, reporter: Reporter | None = None) -> int:
    """One torchrun worker: join the world, run the plan with the others; the exit status."""
    spec = WorkerSpec.model_validate_json(Path(spec_path).read_text())
    install_stop_handler()
    env0 = torchrun_env()
    if env0 is None:
        raise UserError("--dist-worker is internal: it runs inside torchrun's workers only")
    suite = _suite_of(spec)
    plan = resolve(suite)
    if spec.only_case is not None:
        plan = _only(plan, spec.only_case)
    n_threads = set_threads(spec.threads)
    cls = DEVICES.get(spec.device)
    index = cls.local_rank_index(env0.local_rank)
    peaks = [PeakSpec.model_validate(p) for p in spec.peaks]
    dev = make_device(f"{spec.device}:{index}", [*peaks, *suite.peaks])
    dev.make_current()
    try:
        backend = dev.dist_backend()
    except Unsupported as exc:
        raise DeviceError(f"--device {spec.device}: {exc}") from None
    world = join_world(backend, spec.collective_timeout_s)
    try:
        shown = reporter if spec.progress else None
        return _Worker(spec, suite, plan, dev, world, n_threads, shown).run()
    except (RankStopped, KeyboardInterrupt):
        return 1
    finally:
        world.leave()


class _Worker:
    def __init__(
        self,
        spec: WorkerSpec,
        suite: Suite,
        plan: Plan,
        dev: BaseDevice,
        world: World,
        threads: int,
        reporter: Reporter | None,
    ) -> None:
        self.spec, self.suite, self.plan, self.dev, self.world = spec, suite, plan, dev, world
        self.threads = threads
        self.rep: Reporter = reporter if reporter is not None and world.is_owner else _Silent()
        self.info = dev.info()
        self.env = collect_environment(self.info, seed=suite.seed, threads=threads)
        self.store: Store | None = None
        self.run_id: str | None = None
        self.status: dict[str, Any] = {}

    # -- owner bookkeeping --------------------------------------------------------------------
    def _write_status(self, **fields: Any) -> None:
        self.status.update(fields)
        if self.world.is_owner and self.spec.status_out:
            tmp = Path(self.spec.status_out + ".tmp")
            tmp.write_text(json.dumps(self.status))
            tmp.replace(self.spec.status_out)

    def _emit(self, result: Result) -> None:
        assert self.store is not None
        self.store.add(result)
        if self.spec.results_out:
            with open(self.spec.results_out, "a") as f:
                f.write(result.model_dump_json() + "\n")
        self.rep.case_finished(result)

    def _start(self, dplan: Plan) -> dict[str, Any]:
        """The owner opens the store and decides the cases (broadcast to every rank)."""
        s, dev, env = self.suite, self.dev, self.env
        self.store = st = Store(self.spec.db)
        resume = self.spec.resume
        run_id = (resume and st.resumable_run(s.name, dev.spec, env.host, self.threads)) or None
        done: dict[tuple[str, str], str] = {}
        if resume:
            done = _already_done(st, s.name, dev.spec, env.host, self.threads, run_id, dplan)
        todo = [
            i
            for i, (name, _, case, _) in enumerate(dplan.items())
            if (name, case_key(case)) not in done
        ]
        head = {
            "resumed": run_id is not None,
            "skipped": dplan.n_cases - len(todo),
            "stored_in_runs": sorted(set(done.values())),
            "todo": todo,
            "owner_rank": self.world.rank,
        }
        if not todo:
            if run_id is not None:
                st.finish_run(run_id, "complete")
            head["run_id"] = None
            return head
        run_id = run_id or new_run_id(s.name)
        described = dplan.describe()
        described["distributed"] = self.world.describe()
        st.start_run(
            run_id,
            s.name,
            dev.spec,
            env.host,
            self.threads,
            {"device": self.info.model_dump(mode="json"), **described},
        )
        head["run_id"] = run_id
        return head

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> int:
        world, spec = self.world, self.spec
        with contextlib.ExitStack() as stack:
            # One lock per device and host: the first rank that uses it holds it (CPU ranks
            # share the host's one device).
            mine = (socket.gethostname(), self.dev.spec)
            users = world.all_gather(mine)
            problem: str | None = None
            if spec.lock and users.index(mine) == world.rank:
                try:
                    stack.enter_context(device_lock(self.dev.spec))
                except DeviceError as exc:
                    problem = str(exc)
            problems = [p for p in world.all_gather(problem) if p]
            if problems:
                return self._fail_early(problems[0])
            dplan = with_world_size(self.plan, world.size)
            head: dict[str, Any] | None = None
            if world.is_owner:
                try:
                    head = self._start(dplan)
                except Exception as exc:  # a store that cannot be opened, ...
                    head = {"error": f"{type(exc).__name__}: {exc}"}
            head = world.broadcast(head)
            assert head is not None
            if "error" in head:
                return self._fail_early(head["error"])
            self.run_id = head["run_id"]
            self._write_status(
                run_id=self.run_id,
                state="running" if self.run_id else "complete",
                resumed=head["resumed"],
                skipped=head["skipped"],
                stored_in_runs=head["stored_in_runs"],
                owner_rank=head["owner_rank"],
            )
            self.rep.start(self.run_id, dplan.n_cases, head["skipped"])
            if self.run_id is None:
                self.rep.finish()
                return 0
            monitor = None
            if world.is_owner and spec.power:
                monitor = PowerMonitor.for_device(self.dev, spec.power_rate_hz)
                stack.callback(monitor.close)
            book = (
                ReferenceBook(self.store, self.dev.spec, self.env, self.info)
                if world.is_owner and self.store is not None
                else None
            )
            try:
                code = self._loop(dplan, head["todo"], monitor, book)
            finally:
                self.rep.finish()
                if self.store is not None:
                    self.store.close()
            return code

    def _fail_early(self, message: str) -> int:
        if self.world.is_owner:
            self._write_status(error=message)
            raise UserError(message)
        return 2

    def _loop(self, dplan: Plan, todo: list[int], monitor: PowerMonitor | None, book: Any) -> int:
        world = self.world
        items = list(dplan.items())
        originals = [case for _, _, case, _ in self.plan.items()]
        for i in todo:
            name, wl, case_w, ms = items[i]
            case = originals[i]
            description = f"{wl.describe(case)} on {world.size} ranks"
            self.rep.case_started(f"{name}: {description}")
            world.barrier()
            t0 = time.perf_counter()
            local: Result | None = None
            stop: BaseException | None = None
            try:
                with world.case_group():
                    ctx = RunContext(
                        device=self.dev,
                        info=self.info,
                        measure=ms,
                        power=monitor,
                        data_dir=Path(self.spec.data_dir) if self.spec.data_dir else None,
                        offline=self.spec.offline,
                        world=world,
                    )
                    local = run_case(
                        wl,
                        name,
                        case,
                        ctx,
                        suite=self.suite,
                        run_id=str(self.run_id),
                        env=self.env,
                        measure_cfg=ms.model_dump(),
                        references=book,
                    )
            except (RankStopped, KeyboardInterrupt) as exc:
                ignore_further_stops()
                stop = exc
            wall = time.perf_counter() - t0
            if stop is not None or local is None:
                why = (
                    f"stopped by the launcher while running this case ({stop}): another rank "
                    "exited, and torchrun stops every worker when one fails"
                )
                return self._interrupted(name, wl, case_w, description, why, wall, local)
            record = rank_record(local, world, self.dev.spec, self.env, wall)
            records: list[RankRecord] | None = None
            broken: str | None = None
            try:
                records = world.gather(record)
            except (RankStopped, KeyboardInterrupt) as exc:
                ignore_further_stops()
                broken = f"stopped by the launcher ({exc}): another rank exited"
            except Exception as exc:
                ignore_further_stops()
                broken = (
                    f"the ranks' records could not be gathered ({type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}): a "
                    "rank died or stopped answering"
                )
            if world.is_owner:
                result = merge(local, records or [record], world, case_w, description, broken)
                self._emit(result)
                book.note(result)
            if broken is not None:
                return self._finish_interrupted(broken)
        if world.is_owner and self.store is not None:
            self.store.finish_run(str(self.run_id), "complete")
        self._write_status(state="complete")
        return 0

    def _interrupted(
        self,
        name: str,
        wl: Any,
        case_w: dict[str, Any],
        description: str,
        why: str,
        wall: float,
        local: Result | None,
    ) -> int:
        if self.world.is_owner and self.store is not None:
            now = datetime.now(timezone.utc)
            result = Result(
                run_id=str(self.run_id),
                suite=self.suite.name,
                workload=name,
                kind=wl.kind,
                case=case_w,
                description=description,
                config={"params": wl.params.model_dump(mode="json")},
                device=self.dev.spec,
                status=Status.ERROR,
                message=why[:500],
                environment=self.env,
                started_at=now,
                finished_at=now,
                distributed=_distributed(self.world, [], None),
            )
            with contextlib.suppress(Exception):
                self._emit(result)
        return self._finish_interrupted(why)

    def _finish_interrupted(self, why: str) -> int:
        if self.world.is_owner and self.store is not None:
            with contextlib.suppress(Exception):
                self.store.finish_run(str(self.run_id), "interrupted")
            self._write_status(state="interrupted", error=why)
        return 1


def rank_record(
    local: Result, world: World, device: str, env: Environment, wall_s: float
) -> RankRecord:
    """What this rank tells the owner about a case: its status, timings and environment."""
    metrics = {
        k: v for k, v in local.metrics.items() if "energy" not in k and "power" not in k
    }  # power is the owner's alone
    epochs = [RankEpoch.model_validate(e) for e in local.config.get("rank_epochs", [])]
    return RankRecord(
        rank=world.rank,
        local_rank=world.local_rank,
        node_rank=world.node_rank,
        host=env.host,
        device=device,
        device_name=env.device_name,
        status=local.status,
        message=local.message,
        wall_s=wall_s,
        metrics=metrics,
        samples=list(local.samples),
        summary=local.summary,
        epochs=epochs,
        environment=env,
    )


def _distributed(world: World, records: list[RankRecord], scaling: str | None) -> Distributed:
    return Distributed(
        world_size=world.size,
        nnodes=world.nnodes,
        nproc_per_node=world.local_size,
        backend=world.backend,
        launcher="torchrun",
        owner_rank=world.owner,
        collective_timeout_s=world.timeout_s,
        scaling=scaling,
        ranks=sorted(records, key=lambda r: r.rank),
    )


def merge(
    local: Result,
    records: list[RankRecord],
    world: World,
    case: dict[str, Any],
    description: str,
    failure: str | None = None,
) -> Result:
    """The owner's result of a case with every rank's record in it, as stored.

    Status: the ranks' common status; when they differ, the first failing rank's (an error
    on one rank makes the case an error), and the message names each failing rank."""
    data = local.model_dump(mode="json")
    cfg = dict(data["config"])
    cfg.pop("rank_epochs", None)
    failing = [r for r in records if r.status is not Status.OK]
    status, message = local.status, local.message
    if failure is not None:
        status, message = Status.ERROR, failure
        if local.status is not Status.OK:
            message = f"{failure}; rank {world.rank} saw: {local.message}"[:1000]
    elif failing and len({(r.status, r.message) for r in records}) > 1:
        # A specific status (oom, unsupported, diverged) says more than the errors it caused
        # on the ranks that were waiting for it.
        specific = [r for r in failing if r.status is not Status.ERROR]
        status = (specific or failing)[0].status
        message = "; ".join(f"rank {r.rank}: {r.message}" for r in failing)[:1000]
    metrics = dict(local.metrics)
    metrics["world_size"] = Metric(value=float(world.size), unit="ranks")
    if local.samples and status is Status.OK and len(records) == world.size:
        for name, unit in _ADDITIVE.items():
            values = [r.metrics[name].value for r in records if name in r.metrics]
            if len(values) == world.size and all(v is not None for v in values):
                metrics[f"world_{name}"] = Metric(value=float(sum(values)), unit=unit)  # type: ignore[arg-type]
    scaling = (cfg.get("data_parallel") or {}).get("scaling")
    data.update(
        case=case,
        case_key="",
        result_id="",
        description=description,
        config=cfg,
        status=status,
        message=message,
        metrics={k: m.model_dump() for k, m in metrics.items()},
        distributed=_distributed(world, records, scaling).model_dump(mode="json"),
    )
    return Result.model_validate(data)


__all__ = [
    "DistributedRunReport",
    "launch_suite",
    "merge",
    "rank_record",
    "read_results",
    "with_world_size",
    "worker_main",
]
