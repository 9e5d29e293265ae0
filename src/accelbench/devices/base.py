"""The one device protocol that every workload talks to.

Workloads never import ``torch.cuda``, ``torch_npu``, ``torch.mps`` or ``torch.xpu``: they ask a
:class:`Device` to synchronise, to time a region, to report memory, to recognise its own
out-of-memory error and to say which dtypes it supports. That keeps one measurement protocol
valid on every platform, and lets the fake device stand in for hardware we do not have.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from pydantic import BaseModel, ConfigDict, Field

from accelbench.config import PeakSpec
from accelbench.names import LOW_PRECISIONS, PRECISIONS
from accelbench.registry import Registry
from accelbench.results.schema import DeviceActivity

# The torch storage dtype of each precision accelbench measures (names: accelbench.names).
# ``tfloat32`` is float32 storage with TF32 tensor-core math (CUDA). ``float8_e5m2`` is the
# storage of a GEMM's A operand; its B operand is e4m3 (see accelbench.names.LowPrecision).
_STORAGE = {
    "float32": torch.float32,
    "tfloat32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int8": torch.int8,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
}
DTYPES: dict[str, torch.dtype] = {name: _STORAGE[name] for name in PRECISIONS}


_OOM_TYPES: tuple[type[BaseException], ...] = tuple(
    t for t in (MemoryError, getattr(torch, "OutOfMemoryError", None)) if t is not None
)


def torch_dtype(name: str) -> torch.dtype:
    """The storage dtype for a precision name."""
    return DTYPES[name]


class CacheFlush:
    """Evicts a last-level cache by writing a buffer twice its size, for cold-cache timing.

    The write is a read-modify-write (``add_``), not a fill: a large ``memset`` on a CPU uses
    non-temporal stores that bypass the cache (glibc switches to them above a fraction of the
    LLC), so a fill would leave the cache warm. On a GPU the add is one kernel queued on the
    device's stream, ahead of the timed region's start event, like Triton's ``do_bench``.
    """

    def __init__(self, device: torch.device, cache_bytes: int, source: str) -> None:
        self.cache_bytes = cache_bytes
        self.nbytes = 2 * cache_bytes
        self.source = source
        self._buf = torch.zeros(self.nbytes, dtype=torch.uint8, device=device)

    def __call__(self) -> None:
        self._buf.add_(1)


def installed_version(*distributions: str) -> str | None:
    """The version of the first of ``distributions`` that is installed, or None; asks the
    package metadata, so an optional compiler such as Triton is not imported to find out."""
    from importlib import metadata

    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


TRITON_MISSING = "Triton is not installed (pip install 'accelbench[triton]')"


def elements_of(nbytes: int, dtype: torch.dtype) -> int:
    """How many ``dtype`` elements fill ``nbytes``; a size that splits an element is a mistake."""
    if nbytes <= 0 or nbytes % dtype.itemsize:
        raise ValueError(f"{nbytes} B is not a positive multiple of {dtype} ({dtype.itemsize} B)")
    return nbytes // dtype.itemsize


class Probe(BaseModel):
    """Whether a device kind is usable here, how many there are, and why not."""

    kind: str
    available: bool
    count: int = 0
    reason: str | None = None


class DeviceInfo(BaseModel):
    """Everything ``accelbench devices`` shows and every result stores about its device."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    index: int = 0
    spec: str = Field(description="the string that selects it, e.g. 'cuda:0'")
    name: str
    vendor: str | None = None
    memory_total_bytes: int | None = None
    memory_unavailable_reason: str | None = None
    runtime: dict[str, str] = Field(
        default_factory=dict, description="torch, CUDA/HIP/CANN, cuDNN, plugin versions"
    )
    driver_version: str | None = None
    driver_unavailable_reason: str | None = None
    compute_capability: str | None = None
    timer: str = Field(description="'device-events' or 'perf_counter'")
    threads: int | None = Field(default=None, description="intra-op CPU threads in use")
    supported_dtypes: list[str]
    unsupported_dtypes: dict[str, str] = Field(default_factory=dict, description="dtype -> reason")
    autocast_dtypes: list[str] = Field(default_factory=list)
    peak: PeakSpec | None = None
    peak_unavailable_reason: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class IntervalTimer(Protocol):
    """Times one region: ``start()``, run the work, ``stop()``; ``seconds()`` after a sync."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def seconds(self) -> float: ...


class PerfCounterTimer:
    """Host wall-clock timer for devices whose work is synchronous with the host (CPU)."""

    __slots__ = ("_t0", "_t1")

    def __init__(self) -> None:
        self._t0 = self._t1 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        self._t1 = time.perf_counter()

    def seconds(self) -> float:
        return self._t1 - self._t0


class EventTimer:
    """A pair of device events recorded on the device's current stream; read after a sync.

    Recording events instead of host timestamps measures device execution without adding a
    host-device synchronisation to every iteration. The stream is named explicitly: a bare
    ``record()`` uses the *current device's* stream, which is device 0 unless someone switched,
    so timing ``cuda:1`` that way would time an idle GPU.
    """

    __slots__ = ("_end", "_start", "_stream")

    def __init__(self, event_cls: Any, stream: Any = None) -> None:
        self._start = event_cls(enable_timing=True)
        self._end = event_cls(enable_timing=True)
        self._stream = stream

    def start(self) -> None:
        if self._stream is None:
            self._start.record()
        else:
            self._start.record(self._stream)

    def stop(self) -> None:
        if self._stream is None:
            self._end.record()
        else:
            self._end.record(self._stream)

    def seconds(self) -> float:
        return float(self._start.elapsed_time(self._end)) / 1e3


@runtime_checkable
class Device(Protocol):
    """What a workload may ask of the hardware it runs on."""

    kind: str
    index: int

    @property
    def torch_device(self) -> torch.device: ...
    @property
    def spec(self) -> str: ...
    def info(self) -> DeviceInfo: ...
    def synchronize(self) -> None: ...
    def new_timer(self) -> IntervalTimer: ...
    def reset_peak_memory(self) -> None: ...
    def peak_memory_bytes(self) -> int | None: ...
    def empty_cache(self) -> None: ...
    def is_oom(self, exc: BaseException) -> bool: ...
    def dtype_support(self, dtype: str) -> tuple[bool, str | None]: ...
    def precision(self, dtype: str) -> contextlib.AbstractContextManager[None]: ...
    def case_scope(self) -> contextlib.AbstractContextManager[None]: ...
    def graph_callable(self, fn: Any) -> Any: ...
    def pinned_memory_support(self) -> tuple[bool, str | None]: ...
    def pinned_memory(self, nbytes: int, dtype: torch.dtype = ...) -> torch.Tensor: ...


DEVICES: Registry[type[BaseDevice]] = Registry("device", package="accelbench.devices")


class BaseDevice:
    """Shared behaviour; subclasses override what their platform does differently."""

    kind: ClassVar[str] = "base"
    vendor: ClassVar[str | None] = None
    timer_kind: ClassVar[str] = "perf_counter"
    spec_help: ClassVar[str] = ""
    """How ``--device`` selects it in help texts, e.g. ``cuda[:N]``; empty: the kind."""
    default_rank: ClassVar[int | None] = None
    """Preference when ``--device`` is omitted: the present device of lowest rank is chosen;
    None: never chosen by default (the CPU is the fallback)."""
    packages: ClassVar[tuple[str, ...]] = ()
    """Distributions whose versions every result on this device records (a plug-in such as
    torch_npu), beside the ones every result records."""
    platform_modules: ClassVar[tuple[str, ...]] = ()
    """Platform APIs (``torch.<name>`` or top-level modules) that only ``devices/`` may use."""
    # Substrings of exception messages that mean "out of memory" on this platform.
    oom_markers: ClassVar[tuple[str, ...]] = ("out of memory",)

    def __init__(self, index: int = 0, peaks_override: list[PeakSpec] | None = None) -> None:
        self.index = index
        self._peaks_override = peaks_override or []

    # -- identity -----------------------------------------------------------------------------
    @classmethod
    def probe(cls) -> Probe:
        raise NotImplementedError

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.kind, self.index)

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.index}"

    def name(self) -> str:
        raise NotImplementedError

    def info(self) -> DeviceInfo:
        from accelbench.devices.specs import lookup_peak

        name = self.name()
        supported, unsupported = [], {}
        for dt in DTYPES:
            ok, why = self.dtype_support(dt)
            if ok:
                supported.append(dt)
            else:
                unsupported[dt] = why or "not supported"
        peak, peak_reason = lookup_peak(name, self._peaks_override)
        mem, mem_reason = self.memory_total()
        drv, drv_reason = self.driver_version()
        return DeviceInfo(
            kind=self.kind,
            index=self.index,
            spec=self.spec,
            name=name,
            vendor=self.vendor,
            memory_total_bytes=mem,
            memory_unavailable_reason=mem_reason,
            runtime=self.runtime_versions(),
            driver_version=drv,
            driver_unavailable_reason=drv_reason,
            compute_capability=self.compute_capability(),
            timer=self.timer_kind,
            threads=torch.get_num_threads(),
            supported_dtypes=supported,
            unsupported_dtypes=unsupported,
            autocast_dtypes=self.autocast_dtypes(),
            peak=peak,
            peak_unavailable_reason=peak_reason,
            extra=self.extra_info(),
        )

    def memory_total(self) -> tuple[int | None, str | None]:
        return None, "not reported by this device"

    def memory_free(self) -> tuple[int | None, str | None]:
        """Bytes a new case could allocate now, or None with the reason. Checked against a
        case's analytic memory need before it allocates, so a case that cannot fit is stored
        as oom rather than getting the process killed (see accelbench.workloads.memory)."""
        return None, "not reported by this device"

    def runtime_versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def driver_version(self) -> tuple[str | None, str | None]:
        return None, "this device has no separate driver"

    def compute_capability(self) -> str | None:
        return None

    def pci_bus_id(self) -> str | None:
        """This device's PCI address as NVML writes it (``"00000000:BB:DD.0"``), or None where
        there is none or it is not reported. Management libraries (NVML, amdsmi) number devices
        their own way, unaffected by ``CUDA_VISIBLE_DEVICES``; the bus id names the same chip."""
        return None

    def extra_info(self) -> dict[str, Any]:
        return {}

    def activity(self) -> DeviceActivity | None:
        """Who else uses this device and whether it slowed its clocks, from its management
        interface, read after each case to judge whether the host was busy
        (:mod:`accelbench.hoststate`). None where the device has no such interface (the CPU:
        the host's own readings cover it)."""
        return None

    # -- execution -----------------------------------------------------------------------------
    def synchronize(self) -> None:
        """Wait until all queued work on this device has finished."""

    def new_timer(self) -> IntervalTimer:
        return PerfCounterTimer()

    def reset_peak_memory(self) -> None:
        pass

    def peak_memory_bytes(self) -> int | None:
        return None

    def peak_memory_unavailable_reason(self) -> str:
        return "this device does not report peak memory"

    def empty_cache(self) -> None:
        pass

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, _OOM_TYPES):
            return True
        text = str(exc).lower()
        return isinstance(exc, RuntimeError) and any(m in text for m in self.oom_markers)

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        if dtype not in DTYPES:
            return False, f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}"
        if dtype == "tfloat32":
            return False, "TF32 math exists only on NVIDIA GPUs of compute capability 8.0 or newer"
        if dtype in LOW_PRECISIONS:
            return False, self.low_precision_unsupported(dtype)
        return True, None

    def low_precision_unsupported(self, dtype: str) -> str:
        """Why ``dtype`` (an 8-bit GEMM format) is not measured here; device kinds that have a
        kernel for it override :meth:`dtype_support`."""
        op = "torch._int_mm" if dtype == "int8" else "torch._scaled_mm"
        return f"accelbench knows no {dtype} GEMM kernel ({op}) on {self.kind}"

    def matmul_shape_rule(self, dtype: str, m: int, n: int, k: int) -> str | None:
        """Why an (m x k) @ (k x n) product in ``dtype`` cannot run here, or None. The 8-bit
        GEMM kernels have shape rules the float ones lack; a shape that breaks them is
        ``unsupported`` with the rule, not an error."""
        return None

    # -- caches and hand-written kernels ---------------------------------------------------------
    def last_level_cache(self) -> tuple[int | None, str]:
        """The size in bytes of the cache a cold-cache measurement must evict, and where the
        number came from; (None, reason) where the device does not say."""
        return None, f"{self.kind} does not report its last-level cache size"

    def cache_flush(self) -> CacheFlush:
        """A callable that evicts the last-level cache (cold-cache timing); Unsupported where
        the cache size is unknown, since a guessed size could leave the cache warm."""
        from accelbench.errors import Unsupported

        size, source = self.last_level_cache()
        if size is None:
            raise Unsupported(f"cold-cache timing needs the last-level cache size: {source}")
        return self._make_flush(size, source)

    def _make_flush(self, cache_bytes: int, source: str) -> CacheFlush:
        return CacheFlush(self.torch_device, cache_bytes, source)

    def triton_backend(self) -> tuple[str | None, str | None]:
        """How Triton kernels run here: ``"compiled"`` (a GPU or NPU backend) or
        ``"interpreted"`` (Triton's interpreter on host tensors, the fake device only), or
        (None, reason)."""
        return None, f"Triton has no backend for {self.kind}"

    def autocast_dtypes(self) -> list[str]:
        return [d for d in ("float16", "bfloat16") if self.dtype_support(d)[0]]

    def autocast(self, dtype: str) -> contextlib.AbstractContextManager[Any]:
        """Mixed-precision region for this device; Unsupported where it cannot autocast."""
        from accelbench.errors import Unsupported

        if dtype not in self.autocast_dtypes():
            raise Unsupported(f"{self.kind} cannot autocast to {dtype}")
        return torch.autocast(device_type=self.torch_device.type, dtype=DTYPES[dtype])

    @contextlib.contextmanager
    def precision(self, dtype: str) -> Iterator[None]:
        """Set float32 matmul math explicitly for the region: strict IEEE unless ``tfloat32``.

        Defaults differ between torch versions and platforms; a benchmark states what it ran.
        """
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high" if dtype == "tfloat32" else "highest")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(previous)

    @contextlib.contextmanager
    def autotune(self, enabled: bool = True) -> Iterator[None]:
        """Let the backend pick its fastest kernel per shape (cuDNN benchmark mode on CUDA).

        A no-op where the backend has no such switch. Benchmarks time the tuned kernel; the
        search itself happens during warm-up.
        """
        yield

    def unsupported_reason(self, exc: BaseException) -> str | None:
        """The reason when ``exc`` says the backend has no kernel for this dtype or operator.

        Such a case is ``unsupported`` (the platform cannot run it), not an ``error`` (something
        broke): the sweep's table of what runs where depends on telling them apart.
        """
        text = str(exc)
        if isinstance(exc, (NotImplementedError, RuntimeError)) and (
            "not implemented for '" in text or "Could not run '" in text
        ):
            return text.strip().splitlines()[0][:300]
        return None

    @contextlib.contextmanager
    def case_scope(self) -> Iterator[None]:
        """Wrap one benchmark case: clean memory before, always clean up after (even on OOM)."""
        self.empty_cache()
        self.reset_peak_memory()
        try:
            yield
        finally:
            self.synchronize_quietly()
            self.empty_cache()

    def synchronize_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.synchronize()

    def graph_callable(self, fn: Any) -> Any:
        """Return a callable that replays ``fn`` as a captured graph, or raise Unsupported."""
        from accelbench.errors import Unsupported

        raise Unsupported(f"graph capture is not available on {self.kind}")

    # -- data-parallel runs --------------------------------------------------------------------
    visible_devices_env: ClassVar[str | None] = None
    """The environment variable that selects which devices of this kind a process sees
    (``CUDA_VISIBLE_DEVICES``, ``ASCEND_RT_VISIBLE_DEVICES``); torch numbers the visible ones
    from 0, so a local rank's index counts within them."""

    def dist_backend(self) -> str:
        """The ``torch.distributed`` backend (collective library) for this device kind: the
        platform's own where it has one (NCCL, HCCL, XCCL), else gloo. Raises Unsupported where
        torch has no backend that can move this device's tensors."""
        return "gloo"

    @classmethod
    def local_rank_index(cls, local_rank: int) -> int:
        """The device index that local rank ``local_rank`` of a node uses: one device per rank
        where the node has several (the visible ones, in order), the one device otherwise (all
        CPU ranks share the host). Raises DeviceError when there are fewer devices than ranks."""
        return 0

    def make_current(self) -> None:
        """Make this device the process's current one (streams, events and the collective
        library's communicator belong to it); a no-op where there is only one."""

    # -- host memory ---------------------------------------------------------------------------
    def pinned_memory_support(self) -> tuple[bool, str | None]:
        """Whether host buffers can be page-locked for this device, and why not.

        Pinned buffers let the copy engine read host memory directly; pageable ones go through a
        driver staging buffer and copy at a different rate. A device that cannot pin says so,
        so a bandwidth result never passes off pageable memory as pinned.
        """
        return False, f"{self.kind} has no pinned (page-locked) host memory"

    def pinned_memory(self, nbytes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A 1-D page-locked host buffer of ``nbytes`` (uninitialised); Unsupported where this
        device cannot pin."""
        from accelbench.errors import Unsupported

        ok, why = self.pinned_memory_support()
        if not ok:
            raise Unsupported(why or f"{self.kind} cannot pin host memory")
        return self._allocate_pinned(elements_of(nbytes, dtype), dtype)

    def _allocate_pinned(self, numel: int, dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError


class TorchAcceleratorDevice(BaseDevice):
    """Common code for accelerators that follow the ``torch.cuda`` module shape
    (``torch.cuda``, ``torch.xpu``, ``torch.npu``, ``torch.mps``)."""

    timer_kind = "device-events"
    module_name: ClassVar[str] = ""

    @classmethod
    def module(cls) -> Any:
        return getattr(torch, cls.module_name)

    @classmethod
    def probe(cls) -> Probe:
        mod = getattr(torch, cls.module_name, None)
        if mod is None:
            return Probe(kind=cls.kind, available=False, reason=f"torch has no torch.{cls.kind}")
        try:
            if not mod.is_available():
                return Probe(
                    kind=cls.kind,
                    available=False,
                    reason=f"torch.{cls.kind}.is_available() is False",
                )
            return Probe(kind=cls.kind, available=True, count=int(mod.device_count()))
        except Exception as exc:  # a broken driver must not break `accelbench devices`
            return Probe(kind=cls.kind, available=False, reason=f"probe failed: {exc}")

    def name(self) -> str:
        return str(self.module().get_device_name(self.index))

    def memory_total(self) -> tuple[int | None, str | None]:
        try:
            return int(self.module().get_device_properties(self.index).total_memory), None
        except Exception as exc:
            return None, f"could not read device properties: {exc}"

    def memory_free(self) -> tuple[int | None, str | None]:
        mod = self.module()
        try:
            free, _ = mod.mem_get_info(self.index)
            # Blocks torch's caching allocator holds but does not use are free to the case.
            cached = int(mod.memory_reserved(self.index)) - int(mod.memory_allocated(self.index))
            return int(free) + max(cached, 0), None
        except Exception as exc:
            return None, f"could not read free memory: {exc}"

    def synchronize(self) -> None:
        self.module().synchronize(self.index)

    def new_timer(self) -> IntervalTimer:
        mod = self.module()
        stream = mod.current_stream(self.index) if hasattr(mod, "current_stream") else None
        return EventTimer(mod.Event, stream)

    @contextlib.contextmanager
    def case_scope(self) -> Iterator[None]:
        """Also make this device current, so default streams, events and graph capture used
        by the workload belong to ``kind:index`` and not to device 0."""
        select = getattr(self.module(), "device", None)
        current = select(self.index) if select is not None else contextlib.nullcontext()
        with current, super().case_scope():
            yield

    @classmethod
    def local_rank_index(cls, local_rank: int) -> int:
        from accelbench.errors import DeviceError

        probe = cls.probe()
        if not probe.available:
            raise DeviceError(f"--device {cls.kind}: not available here ({probe.reason})")
        if local_rank >= probe.count:
            env = cls.visible_devices_env
            shown = f" ({env}={os.environ[env]})" if env and env in os.environ else ""
            raise DeviceError(
                f"--nproc-per-node: local rank {local_rank} needs a {cls.kind} device of its own, "
                f"but this node shows {probe.count}{shown}; start at most {probe.count} "
                "processes per node"
            )
        return local_rank

    def make_current(self) -> None:
        select = getattr(self.module(), "set_device", None)
        if select is not None:
            select(self.index)

    def reset_peak_memory(self) -> None:
        self.module().reset_peak_memory_stats(self.index)

    def peak_memory_bytes(self) -> int | None:
        return int(self.module().max_memory_allocated(self.index))

    def empty_cache(self) -> None:
        self.module().empty_cache()

    _pin_probe: tuple[bool, str | None] | None = None

    def pinned_memory_support(self) -> tuple[bool, str | None]:
        """Ask torch by pinning a tiny buffer: whether pinning works depends on the build, plug-in
        and driver (torch_npu, ROCm, XPU, MPS), not on the device kind alone. Asked once."""
        if self._pin_probe is None:
            try:
                pinned = torch.empty(1, pin_memory=True).is_pinned()
                why = "torch returned an unpinned buffer"
            except Exception as exc:  # no pinned allocator for this backend, or a driver error
                pinned, why = False, (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            reason = None if pinned else f"torch cannot pin host memory for {self.kind}: {why}"
            self._pin_probe = (pinned, reason)
        return self._pin_probe

    def _allocate_pinned(self, numel: int, dtype: torch.dtype) -> torch.Tensor:
        # ``pin_memory=True`` uses the host allocator of the accelerator backend torch was built
        # (or, for torch_npu, patched) with; checking is_pinned() catches a plug-in that quietly
        # returns pageable memory.
        from accelbench.errors import Unsupported

        t = torch.empty(numel, dtype=dtype, pin_memory=True)
        if not t.is_pinned():
            raise Unsupported(f"torch returned an unpinned host buffer for {self.kind}")
        return t


def make_device(spec: str, peaks_override: list[PeakSpec] | None = None) -> BaseDevice:
    """Build a device from a spec such as ``cpu``, ``cuda``, ``cuda:1`` or ``fake``."""
    from accelbench.errors import DeviceError

    kind, _, idx = spec.partition(":")
    cls = DEVICES.get(kind)
    try:
        index = int(idx) if idx else 0
    except ValueError:
        raise DeviceError(f"--device {spec!r}: index after ':' must be an integer") from None
    if index < 0:
        raise DeviceError(f"--device {spec!r}: index after ':' must be 0 or more")
    if kind != "fake":
        probe = cls.probe()
        if not probe.available:
            raise DeviceError(f"--device {spec!r}: not available here ({probe.reason})")
        if index >= max(probe.count, 1):
            raise DeviceError(f"--device {spec!r}: only {probe.count} {kind} device(s) present")
    return cls(index=index, peaks_override=peaks_override)
