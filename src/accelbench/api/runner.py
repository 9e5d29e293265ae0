"""Running a suite: every case becomes a stored result, whatever happens.

``run_suite`` owns the rules that make sweeps trustworthy: every case becomes a stored result
whatever happens (ok, oom, unsupported, error), each result is committed as soon as it exists,
and a re-run skips what the store already holds as ok for the same suite, device, host and
thread count.
"""

from __future__ import annotations

import os
import secrets
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import torch
from pydantic import ValidationError

from accelbench.analysis.derived import derived_metrics, judge_peak
from accelbench.api.plan import Plan, resolve
from accelbench.api.references import ReferenceBook, build_references
from accelbench.config import PeakSpec, Suite
from accelbench.devices import BaseDevice, make_device
from accelbench.environment import collect_environment
from accelbench.errors import StoreError, Unsupported, UserError
from accelbench.frameworks import result_framework
from accelbench.hoststate import HostMonitor, HostReaders
from accelbench.limits import check_threads
from accelbench.locking import device_lock
from accelbench.power.metrics import power_metrics
from accelbench.power.session import DEFAULT_RATE_HZ, PowerMonitor
from accelbench.results.schema import (
    Basis,
    Environment,
    HostState,
    References,
    Result,
    Status,
    case_key,
)
from accelbench.results.store import Store, validation_summary
from accelbench.timing.settings import MeasureSettings
from accelbench.workloads import CaseOutput, RunContext, Workload


class Reporter(Protocol):
    def start(self, run_id: str | None, total: int, already_done: int) -> None: ...
    def case_started(self, description: str) -> None: ...
    def case_finished(self, result: Result) -> None: ...
    def finish(self) -> None: ...


class _Silent:
    def start(self, run_id: str | None, total: int, already_done: int) -> None: ...
    def case_started(self, description: str) -> None: ...
    def case_finished(self, result: Result) -> None: ...
    def finish(self) -> None: ...


@dataclass
class RunReport:
    run_id: str | None
    """None when every case was already stored and nothing ran."""
    suite: str
    device: str
    db: str
    resumed: bool
    skipped_already_stored: int
    wall_s: float
    results: list[Result] = field(default_factory=list)
    interrupted: bool = False
    stored_in_runs: list[str] = field(default_factory=list)
    """Runs that hold the cases this invocation skipped."""


def set_threads(threads: int | None) -> int:
    """Apply the CPU intra-op thread setting (None keeps torch's default) and return it."""
    if threads is not None:
        torch.set_num_threads(check_threads(threads))
    return torch.get_num_threads()


def new_run_id(suite: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{suite}-{stamp}-{secrets.token_hex(3)}"


# Outcomes that answer a case for good on this device and software: measured, or impossible.
# oom and error are retried by the next run (a smaller neighbour, a fixed driver).
# A diverged training run is final too: with fixed seeds, running it again diverges again.
FINAL_STATUSES = {Status.OK.value, Status.UNSUPPORTED.value, Status.DIVERGED.value}


def _already_done(
    st: Store,
    suite: str,
    device: str,
    host: str,
    threads: int,
    resumed_run: str | None,
    plan: Plan,
) -> dict[tuple[str, str], str]:
    """(workload, case_key) -> run holding it, for the cases a resumed invocation skips.

    Skipped: a case with a final outcome measured under the same measurement settings (a
    changed protocol is a new measurement), and any case the resumed run already holds, so
    continuing a run never stores a case twice in it.
    """
    settings = {(name, case_key(case)): ms.model_dump() for name, _, case, ms in plan.items()}
    done: dict[tuple[str, str], str] = {}
    for run_id, workload, key, status, measure_cfg in st.stored_cases(suite, device, host, threads):
        wanted = settings.get((workload, key))
        if wanted is None:
            continue
        if run_id == resumed_run or (status in FINAL_STATUSES and _same(measure_cfg, wanted)):
            done.setdefault((workload, key), run_id)
    return done


def _same(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether stored measurement settings are ``wanted``, with the defaults of settings
    added since the result was stored filled in (so a new option does not make every stored
    case look like a different measurement)."""
    try:
        return MeasureSettings.model_validate(stored).model_dump() == wanted
    except ValidationError:
        return False


def _error_message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]


def run_case(
    workload: Workload,
    wl_name: str,
    case: dict[str, Any],
    ctx: RunContext,
    *,
    suite: Suite,
    run_id: str,
    env: Environment,
    measure_cfg: dict[str, Any],
    references: ReferenceBook | None = None,
    host: HostMonitor | None = None,
) -> Result:
    """Run one case and always return a result; only KeyboardInterrupt escapes.

    Derived numbers (utilisation, roofline, net energy) are computed here, once, by
    :func:`accelbench.analysis.derived.derived_metrics` from the case's raw metrics and the
    references ``references`` looks up; the references are stored with the result. With
    ``host``, the host's state around the case is stored too (``Result.host``).
    """
    device = ctx.device
    started = datetime.now(timezone.utc)
    out: CaseOutput
    torch.manual_seed(suite.seed)
    mark = host.mark() if host is not None else None
    try:
        dtype = case.get("dtype")
        if dtype is not None:
            ok, why = device.dtype_support(dtype)
            if not ok:
                raise Unsupported(why or f"{dtype} is not supported")
        with device.case_scope():
            out = workload.run_case(case, ctx)
    except Unsupported as exc:
        out = CaseOutput(metrics={}, status=Status.UNSUPPORTED, message=str(exc))
    except Exception as exc:
        if (why := device.unsupported_reason(exc)) is not None:
            out = CaseOutput(metrics={}, status=Status.UNSUPPORTED, message=why)
        else:
            out = _failure(exc, device)
    host_state = host.state(mark) if host is not None and mark is not None else None
    refs = References()
    if out.status is not Status.OK:
        device.empty_cache()  # the exception's frames are gone now, so memory can be released
    else:
        timed = out.measurement is not None
        if timed:
            _attach_power(out, ctx)
        if references is not None:
            refs = references.for_case(out.basis, timed)
        else:  # no store to look peaks up in: the datasheet is all there is
            refs = build_references(out.basis or Basis(), ctx.info)
        refs = judge_peak(refs, out.metrics, workload.describe(case))
        out.metrics.update(derived_metrics(out.metrics, refs, out.config.get("power")))
    return _result(
        workload,
        wl_name,
        case,
        out,
        suite,
        run_id,
        env,
        measure_cfg,
        device,
        started,
        refs,
        host_state,
    )


def _attach_power(out: CaseOutput, ctx: RunContext) -> None:
    """Power fields on every timed ok result: measured, or unavailable with the reason."""
    monitor = ctx.power
    skipped = out.measurement.power_unavailable if out.measurement else None
    if skipped:
        reason = skipped
    elif monitor is None:
        reason = "power measurement was off for this run (--no-power)"
    elif not monitor.meters:
        reason = f"no power meter on {ctx.device.spec}: {monitor.reason}"
    else:
        reason = "no power reading"
    sps = out.metrics.get("samples_per_s")
    metrics, config = power_metrics(
        out.measurement.power if out.measurement else None,
        reason,
        sps.value if sps is not None else None,
    )
    out.metrics.update(metrics)
    out.config.update(config)


def _failure(exc: BaseException, device: BaseDevice) -> CaseOutput:
    """An out-of-memory or other error as a result, with a short traceback for errors."""
    status = Status.OOM if device.is_oom(exc) else Status.ERROR
    out = CaseOutput(metrics={}, status=status, message=_error_message(exc))
    if status is Status.ERROR:
        out.config["traceback"] = "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8)
        )
    return out


def _result(
    workload: Workload,
    wl_name: str,
    case: dict[str, Any],
    out: CaseOutput,
    suite: Suite,
    run_id: str,
    env: Environment,
    measure_cfg: dict[str, Any],
    device: BaseDevice,
    started: datetime,
    references: References,
    host: HostState | None = None,
) -> Result:
    m = out.measurement
    config = {
        "params": workload.params.model_dump(mode="json"),
        "measure": measure_cfg,
        **out.config,
    }
    if m is not None:
        config["protocol"] = {
            "warmup": m.warmup,
            "mode": m.mode,
            "timer": m.timer,
            "graph": m.graph,
            "wall_s": m.wall_s,
            "converged": m.converged,
            "stop_reason": m.stop_reason,
            "cache": m.cache,
        }
    if m is not None and m.flush_bytes is not None:
        config["protocol"].update(flush_bytes=m.flush_bytes, flush_source=m.flush_source)
    description = workload.describe(case)
    if measure_cfg.get("cache") == "cold":  # the same case measured warm reads differently
        description += " cold cache"
    framework, fw_env = result_framework(case, out.framework, device)
    env = env.model_copy(update={"framework": fw_env})
    # What identifies the case: the same in the record and in the error that replaces it.
    ident = {
        "run_id": run_id,
        "suite": suite.name,
        "workload": wl_name,
        "kind": workload.kind,
        "case": case,
        "description": description,
        "device": device.spec,
        "framework": framework,
        "environment": env,
        "started_at": started,
    }
    try:
        return Result(
            **ident,
            config=config,
            status=out.status,
            message=out.message,
            metrics=out.metrics,
            samples=m.samples_s if m else [],
            summary=m.summary if m else None,
            trace=out.trace,
            references=references,
            host=host,
            finished_at=datetime.now(timezone.utc),
            distributed=out.distributed,
        )
    except ValidationError as exc:
        # A measurement that produced a non-finite number (or another invalid field) is
        # stored as an error saying which, never as a record an import would refuse.
        return Result(
            **ident,
            config={"measure": measure_cfg},
            status=Status.ERROR,
            message=f"the case produced an invalid record: {validation_summary(exc)}"[:500],
            finished_at=datetime.now(timezone.utc),
        )


DIED_MESSAGE = (
    "process died during this case (killed by a signal, e.g. the kernel's out-of-memory "
    "killer, crashed, or stopped on a store it could not write); not measured again in this "
    "run, the next run retries it"
)


def _died_result(
    st: Store, run_id: str, plan: Plan, suite: Suite, env: Environment, device: BaseDevice
) -> Result | None:
    """An ``error`` result for the case a resumed run's process was measuring when it died,
    so the resumed sweep moves past the case that killed it instead of dying on it again."""
    died = st.take_in_flight(run_id)
    if died is None:
        return None
    for wl_name, wl, case, ms in plan.items():
        if wl_name == died.get("workload") and case_key(case) == died.get("case_key"):
            started = died.get("started_at")
            return Result(
                run_id=run_id,
                suite=suite.name,
                workload=wl_name,
                kind=wl.kind,
                case=case,
                description=wl.describe(case),
                config={"measure": ms.model_dump(), "died": died},
                device=device.spec,
                status=Status.ERROR,
                message=DIED_MESSAGE,
                environment=env,
                started_at=(
                    datetime.fromisoformat(started) if started else datetime.now(timezone.utc)
                ),
                finished_at=datetime.now(timezone.utc),
            )
    return None  # the suite no longer has that case


def _mark_interrupted(st: Store, run_id: str) -> bool:
    """Best effort: a full disk may refuse even this small write (the run is then resumed
    anyway, as its process is gone)."""
    try:
        st.finish_run(run_id, "interrupted")
        return True
    except StoreError:
        return False


def run_suite(
    suite: Suite | Plan,
    *,
    device: str | BaseDevice = "cpu",
    db: str | Path = "accelbench.db",
    threads: int | None = None,
    resume: bool = True,
    peaks: list[PeakSpec] | None = None,
    reporter: Reporter | None = None,
    store: Store | None = None,
    power: bool = True,
    power_rate_hz: float = DEFAULT_RATE_HZ,
    data_dir: str | Path | None = None,
    host: HostMonitor | None = None,
    offline: bool = False,
) -> RunReport:
    """Run every case of ``suite`` on ``device`` and store each result as it completes.

    ``suite`` is a validated suite (resolved here) or an already resolved :class:`Plan`. With
    ``power`` (the default) the device's power meters are opened once for the run and sampled
    at ``power_rate_hz`` around every timed region. The host's state around every case is
    recorded (``host``: default, this machine's readings and the device's own report), so a
    case measured while something else loaded the machine is flagged ``host_busy``.
    ``offline`` forbids downloading a missing dataset (``$ACCELBENCH_OFFLINE`` forbids it too).
    """
    plan = suite if isinstance(suite, Plan) else resolve(suite)
    s = plan.suite
    rep = reporter or _Silent()
    n_threads = set_threads(threads)
    all_peaks = [*(peaks or []), *s.peaks]
    dev = make_device(device, all_peaks) if isinstance(device, str) else device
    info = dev.info()
    env = collect_environment(info, seed=s.seed, threads=n_threads)
    own_store = store is None
    st = store or Store(db)
    monitor: PowerMonitor | None = None
    t0 = time.perf_counter()
    try:
        with device_lock(dev.spec):
            run_id = (resume and st.resumable_run(s.name, dev.spec, env.host, n_threads)) or None
            resumed = run_id is not None
            if not plan.n_cases:
                raise UserError(
                    f"suite {s.name}: no cases to run; every workload's grid is empty "
                    f"({', '.join(w.name for w in plan.workloads)})"
                )
            died = _died_result(st, run_id, plan, s, env, dev) if run_id else None
            if died is not None:
                st.add(died)
            done: dict[tuple[str, str], str] = {}
            if resume:
                done = _already_done(st, s.name, dev.spec, env.host, n_threads, run_id, plan)
            todo = [p for p in plan.items() if (p[0], case_key(p[2])) not in done]
            report = RunReport(
                run_id=run_id,
                suite=s.name,
                device=dev.spec,
                db=str(st.path),
                resumed=resumed,
                skipped_already_stored=plan.n_cases - len(todo),
                wall_s=0.0,
                stored_in_runs=sorted(set(done.values())),
            )
            if died is not None:
                report.results.append(died)
            if not todo:  # everything is stored already: close a finished-but-unmarked run
                if run_id is not None:
                    st.finish_run(run_id, "complete")
                if died is None:
                    report.run_id = None
                rep.start(report.run_id, plan.n_cases, report.skipped_already_stored)
                if died is not None:
                    rep.case_finished(died)
                rep.finish()
                report.wall_s = time.perf_counter() - t0
                return report
            run_id = run_id or new_run_id(s.name)
            report.run_id = run_id
            st.start_run(
                run_id,
                s.name,
                dev.spec,
                env.host,
                n_threads,
                {"device": info.model_dump(mode="json"), **plan.describe()},
            )
            if power:
                monitor = PowerMonitor.for_device(dev, power_rate_hz)
            book = ReferenceBook(st, dev.spec, env, info)
            monitor_host = host or HostMonitor(HostReaders(device=dev.activity))
            monitor_host.mark()  # the first case's window starts here at the latest
            rep.start(run_id, plan.n_cases, report.skipped_already_stored)
            if died is not None:
                rep.case_finished(died)
            try:
                for wl_name, wl, case, ms in todo:
                    rep.case_started(f"{wl_name}: {wl.describe(case)}")
                    st.mark_in_flight(
                        run_id,
                        {
                            "workload": wl_name,
                            "case_key": case_key(case),
                            "started_at": datetime.now(timezone.utc).isoformat(),
                            "pid": os.getpid(),
                        },
                    )
                    ctx = RunContext(
                        device=dev,
                        info=info,
                        measure=ms,
                        power=monitor,
                        data_dir=Path(data_dir) if data_dir else None,
                        offline=offline,
                    )
                    result = run_case(
                        wl,
                        wl_name,
                        case,
                        ctx,
                        suite=s,
                        run_id=run_id,
                        env=env,
                        measure_cfg=ms.model_dump(),
                        references=book,
                        host=monitor_host,
                    )
                    st.add(result)
                    report.results.append(result)
                    book.note(result)
                    rep.case_finished(result)
            except KeyboardInterrupt:
                st.finish_run(run_id, "interrupted")
                report.interrupted = True
                report.wall_s = time.perf_counter() - t0
                rep.finish()
                return report
            except BaseException as exc:
                # The store refused a result (disk full, read-only file) or something broke:
                # mark the run interrupted so it is resumed, never left 'running'.
                rep.finish()
                marked = _mark_interrupted(st, run_id)
                if isinstance(exc, StoreError):
                    raise StoreError(
                        f"{exc}; run {run_id} is "
                        + ("marked interrupted" if marked else "interrupted (its process ends)")
                        + f" with {len(report.results)} results of this invocation stored; "
                        "fix that and run the same command again to resume"
                    ) from None
                raise
            st.finish_run(run_id, "complete")
            rep.finish()
            report.wall_s = time.perf_counter() - t0
            return report
    finally:
        if monitor is not None:
            monitor.close()
        if own_store:
            st.close()


__all__ = ["RunReport", "device_lock", "run_suite"]
