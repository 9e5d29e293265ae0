"""The framework a case runs through, as a dimension of every result.

The study's third finding is about frameworks, not chips: on the NPU, MindSpore compiled the
whole graph and fused operators while PyTorch ran operator by operator, and MindSpore won on
both time to threshold and steady throughput. To ask that of any device, a case names its
framework and execution mode (``framework``, ``execution`` in the case) and every result stores
them (``Result.framework``; version, backend and mode in ``environment.framework``).

PyTorch is the workloads' own code. Another framework is one package here
(``frameworks/<name>/``): a :class:`Framework` subclass registered in :data:`FRAMEWORKS` that
puts the framework behind the same device layer and measurement protocol (an adapter
:class:`~accelbench.devices.base.BaseDevice` that synchronises and times through the framework's
own runtime and recognises its out-of-memory and missing-kernel errors) and builds the work of
each workload kind it supports as a :class:`Prepared` callable. The workload then measures it
with :func:`run_prepared` and counts its FLOPs from the same library as PyTorch's, so the two are
compared on the same grid, protocol and FLOPs. Only that package imports the framework, lazily:
without it installed, its cases are stored as ``unsupported`` with the install command.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator

from accelbench.devices.base import BaseDevice
from accelbench.errors import Unsupported
from accelbench.registry import Registry
from accelbench.results.schema import FrameworkEnv, Metric
from accelbench.timing.protocol import Measurement, measure

if TYPE_CHECKING:
    from accelbench.workloads.base import RunContext

DEFAULT = "pytorch"
"""The framework of a case that names none (every case before frameworks were a dimension)."""


@dataclass
class Prepared:
    """One case's work, built by a framework and ready to time.

    ``fn`` runs one iteration and may return before the device has finished (asynchronous
    dispatch); ``device`` is what synchronises and times it (the framework's adapter, or the
    PyTorch device itself). ``compiled``: the first call compiles a graph, so its time is
    reported apart (``compile_s``).
    """

    fn: Callable[[], Any]
    device: BaseDevice
    compiled: bool = False
    params: int | None = None
    """Parameters of the operator as the framework built it (None: not an nn layer)."""
    info: dict[str, Any] = field(default_factory=dict)
    """What was built and how (API, jit settings), stored in the result's config."""


class Framework:
    """A machine-learning framework cases can run through; one subclass per framework.

    Subclasses set the class attributes and, for a framework other than PyTorch, implement
    the builders of the workload kinds it supports (:meth:`gemm`, :meth:`operator`,
    :meth:`train`). A builder it lacks makes that kind's cases ``unsupported``.
    """

    name: ClassVar[str]
    executions: ClassVar[tuple[str, ...]]
    """Its execution modes; the first runs operator by operator and is the default."""
    compiled_executions: ClassVar[frozenset[str]] = frozenset()
    """Modes whose first call compiles a graph (compile time is reported apart)."""
    distribution: ClassVar[str]
    """The pip distribution whose version results record."""
    modules: ClassVar[tuple[str, ...]] = ()
    """Top-level Python modules that only this framework's package may import."""
    install_hint: ClassVar[str] = ""
    """How to install it, given in the reason of every case it could not run."""

    def __init__(self, device: BaseDevice) -> None:
        self.device = device

    # -- identity ------------------------------------------------------------------------------
    @classmethod
    def version(cls) -> str | None:
        """The installed version, from package metadata (no import); None: not installed."""
        try:
            return version(cls.distribution)
        except PackageNotFoundError:
            return None

    @classmethod
    def backend_of(cls, device: BaseDevice) -> str:
        """What this framework would run on for ``device``, in its own words."""
        return device.torch_device.type

    @classmethod
    def static_environment(cls, device: BaseDevice, execution: str) -> FrameworkEnv:
        """The environment of a case that never reached the framework (unsupported, error)."""
        return FrameworkEnv(version=cls.version(), backend=cls.backend_of(device), mode=execution)

    def environment(self, execution: str) -> FrameworkEnv:
        """The environment of a case that ran: version, backend, mode and the settings that
        change its timings."""
        return self.static_environment(self.device, execution)

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        """Whether this framework can run ``dtype`` on its device (the device's own answer has
        been checked by the runner already)."""
        return True, None

    # -- errors --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Translate the framework's own out-of-memory and missing-kernel errors into
        accelbench's (``MemoryError`` -> status ``oom``, :class:`Unsupported`)."""
        yield

    # -- builders ------------------------------------------------------------------------------
    def gemm(
        self, m: int, n: int, k: int, dtype: str, mode: str, execution: str, ctx: RunContext
    ) -> Prepared:
        raise Unsupported(f"{self.name} has no GEMM builder in accelbench")

    def operator(
        self, workload: Any, case: dict[str, Any], execution: str, ctx: RunContext
    ) -> Prepared:
        raise Unsupported(f"{self.name} has no {workload.kind} builder in accelbench")

    def train(self, recipe: Any, case: dict[str, Any], ctx: RunContext) -> Any:
        raise Unsupported(f"{self.name} has no training path for {recipe.kind} in accelbench")


FRAMEWORKS: Registry[type[Framework]] = Registry("framework", package="accelbench.frameworks")


# -- cases -------------------------------------------------------------------------------------
def case_framework(case: dict[str, Any]) -> tuple[str, str]:
    """(framework, execution) of a case. Cases from before frameworks were a dimension name
    neither: PyTorch, eager unless they say otherwise (training's ``execution``, inference's
    ``runtime``)."""
    name = str(case.get("framework", DEFAULT))
    execution = case.get("execution") or (case.get("runtime") if name == DEFAULT else None)
    if execution is None:
        execution = FRAMEWORKS.get(name).executions[0] if name in FRAMEWORKS else "unknown"
    return name, str(execution)


def framework_keys(name: str, execution: str, *, always_execution: bool = False) -> dict[str, str]:
    """The case keys for running through ``name`` in ``execution``: none for PyTorch eager
    (so cases measured before frameworks were a dimension keep their identity and resume),
    ``execution`` for a PyTorch mode, both for another framework."""
    keys: dict[str, str] = {}
    if name != DEFAULT:
        keys["framework"] = name
    if always_execution or name != DEFAULT or execution != FRAMEWORKS.get(DEFAULT).executions[0]:
        keys["execution"] = execution
    return keys


def framework_label(case: dict[str, Any]) -> str:
    """How a case's framework reads in its description: nothing for PyTorch eager (the
    default), " compile" for another PyTorch mode, " mindspore graph" for another framework."""
    name, execution = case_framework(case)
    if name == DEFAULT:
        return "" if "execution" not in case or execution == "eager" else f" {execution}"
    return f" {name} {execution}"


def open_framework(case: dict[str, Any], ctx: RunContext) -> tuple[Framework, str]:
    """The framework a case runs through, bound to the run's device, and its execution.

    Raises :class:`Unsupported` (with the install command) when it is not installed or cannot
    drive this device."""
    name, execution = case_framework(case)
    cls = FRAMEWORKS.get(name)
    if execution not in cls.executions:
        raise Unsupported(f"{name} has no execution mode {execution!r}")
    fw = cls(ctx.device)
    if (dtype := case.get("dtype")) is not None:
        ok, why = fw.dtype_support(str(dtype))
        if not ok:
            raise Unsupported(why or f"{name} cannot run {dtype}")
    return fw, execution


def result_framework(
    case: dict[str, Any], ran: FrameworkEnv | None, device: BaseDevice
) -> tuple[str, FrameworkEnv]:
    """The framework name and environment a result stores: what the case ran through when it
    ran (``ran``), else what it named (a case that was unsupported or failed before)."""
    name, execution = case_framework(case)
    if ran is not None:
        return name, ran
    if name in FRAMEWORKS:
        return name, FRAMEWORKS.get(name).static_environment(device, execution)
    return name, FrameworkEnv(version=None, backend="unknown", mode=execution)


# -- timing ------------------------------------------------------------------------------------
def run_prepared(
    prepared: Prepared, ctx: RunContext
) -> tuple[Measurement, dict[str, Metric], RunContext]:
    """Time ``prepared`` with the measurement protocol on its own device.

    The first call is timed apart and synchronised (``first_run_s``): kernel selection and,
    for a compiled mode, graph compilation happen there, never in the warm-up or the samples.
    For a compiled mode ``compile_s`` is that first call less the median timed iteration (what
    the compilation added; torch.compile and MindSpore's jit compile on the first call and
    give no separate hook to time the compiler alone). Returns the measurement, those metrics
    and the context to derive throughput metrics with (its device is ``prepared.device``).
    """
    dev = prepared.device
    dev.synchronize()
    t0 = time.perf_counter()
    prepared.fn()
    dev.synchronize()
    first = time.perf_counter() - t0
    meas = measure(prepared.fn, dev, ctx.measure, power=ctx.power)
    metrics = {"first_run_s": Metric(value=first, unit="s")}
    if prepared.compiled:
        metrics["compile_s"] = Metric(value=max(first - meas.summary.median, 0.0), unit="s")
    return meas, metrics, replace(ctx, device=dev)


# -- params ------------------------------------------------------------------------------------
def check_frameworks(names: list[str]) -> list[str]:
    """Every name is a registered framework (the ``frameworks`` param's check)."""
    for name in names:
        if name not in FRAMEWORKS:
            raise ValueError(
                f"unknown framework {name!r}; expected one of {', '.join(FRAMEWORKS.names())}"
            )
    return names


def pair_executions(names: list[str], executions: list[str] | None) -> list[tuple[str, str]]:
    """(framework, execution) pairs in run order: each framework in ``names`` runs the modes
    of ``executions`` it has (all listed modes must belong to one of them, and each framework
    must get one); ``executions`` None: each framework's first mode. Raises ``ValueError``
    naming the ``executions`` param."""
    modes = {ex: name for name in names for ex in FRAMEWORKS.get(name).executions}
    for ex in executions or []:
        if ex not in modes:
            raise ValueError(
                f"executions: {ex!r} is not an execution mode of {', '.join(names)}; "
                f"expected one of {', '.join(modes)}"
            )
    out = []
    for name in dict.fromkeys(names):
        own = FRAMEWORKS.get(name).executions
        if executions is None:
            out.append((name, own[0]))
            continue
        chosen = [ex for ex in dict.fromkeys(executions) if ex in own]
        if not chosen:
            raise ValueError(
                f"executions: none of {', '.join(executions)} is a mode of {name} "
                f"(it has {', '.join(own)})"
            )
        out.extend((name, ex) for ex in chosen)
    return out


class FrameworkChoice(BaseModel):
    """The ``frameworks`` and ``executions`` params a workload kind that runs in more than one
    framework accepts: each framework runs every listed execution mode it has."""

    frameworks: list[str] = Field(
        default=[DEFAULT],
        min_length=1,
        description="frameworks to run each case through: pytorch, mindspore",
    )
    executions: list[str] | None = Field(
        default=None,
        min_length=1,
        description="execution modes: eager and compile (PyTorch), pynative and graph "
        "(MindSpore); each framework runs the ones it has; omitted: each framework's first",
    )

    _check_frameworks = field_validator("frameworks")(check_frameworks)

    @model_validator(mode="after")
    def _check_executions(self) -> FrameworkChoice:
        self.framework_executions()
        return self

    def framework_executions(self) -> list[tuple[str, str]]:
        """(framework, execution) pairs in run order."""
        return pair_executions(self.frameworks, self.executions)


__all__ = [
    "DEFAULT",
    "FRAMEWORKS",
    "Framework",
    "FrameworkChoice",
    "Prepared",
    "case_framework",
    "check_frameworks",
    "framework_keys",
    "framework_label",
    "open_framework",
    "pair_executions",
    "result_framework",
    "run_prepared",
]
