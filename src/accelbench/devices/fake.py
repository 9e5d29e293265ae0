"""A fake accelerator for tests: real CPU tensors, simulated memory limit, scripted timings.

It lets the test suite exercise every path that needs hardware we lack: out-of-memory
mid-sweep (a simulated allocator over a small memory budget), unsupported dtypes, device-event
timing with known durations, datasheet peaks and graph capture, cold-cache flushes of a known
cost on a simulated device clock, and Triton kernels (run by Triton's interpreter).
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from accelbench.devices.base import (
    DEVICES,
    TRITON_MISSING,
    BaseDevice,
    CacheFlush,
    Probe,
    installed_version,
)
from accelbench.devices.specs import PeakSpec
from accelbench.names import LOW_PRECISIONS
from accelbench.results.schema import DeviceActivity

if TYPE_CHECKING:
    from accelbench.power.base import PowerMeter

FAKE_PEAK = PeakSpec(
    name="Fake Accelerator",
    match=["^Fake Accelerator"],
    tflops={"float32": 10.0, "float16": 100.0, "bfloat16": 100.0},
    memory_bandwidth_gbs=1000.0,
    source="test double",
)


class FakeOutOfMemoryError(RuntimeError):
    """Raised by the fake allocator; its message contains 'out of memory' like real ones."""


class _Allocator(TorchFunctionMode):
    """Counts live tensor storage created inside the scope and fails past the budget."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        # An output that shares storage with an input (a view, an in-place op, ``out=``) is not
        # a new allocation, even when that input was made before the scope began.
        inputs = {
            a.untyped_storage().data_ptr()
            for a in tree_flatten((args, kwargs))[0]
            if isinstance(a, torch.Tensor) and a.layout is torch.strided
        }
        for t in out if isinstance(out, (tuple, list)) else (out,):
            # Sparse tensors have no single storage; their values are counted when made.
            if isinstance(t, torch.Tensor) and t.layout is torch.strided:
                storage = t.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if key in self._seen or key in inputs or nbytes == 0:
                    continue
                if self.live + nbytes > self.limit:
                    raise FakeOutOfMemoryError(
                        f"Fake device out of memory: tried to allocate {nbytes} bytes with "
                        f"{self.live} of {self.limit} bytes in use"
                    )
                self._seen.add(key)
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._release, key, nbytes)
        return out


class _ClockTimer:
    """Reads the fake's simulated device clock at start and stop, as device events would."""

    def __init__(self, device: FakeDevice) -> None:
        self._device = device
        self._t0 = self._t1 = 0.0

    def start(self) -> None:
        self._t0 = self._device.clock

    def stop(self) -> None:
        self._t1 = self._device.clock

    def seconds(self) -> float:
        return self._t1 - self._t0


class _FakeFlush(CacheFlush):
    """A real (small) cache flush that also costs ``flush_cost_s`` on the simulated clock."""

    def __init__(self, device: FakeDevice, cache_bytes: int) -> None:
        super().__init__(device.torch_device, cache_bytes, "the fake device's llc_bytes")
        self._device = device

    def __call__(self) -> None:
        super().__call__()
        self._device.flushes += 1
        self._device.advance(self._device.flush_cost_s)


class _ScriptedTimer:
    def __init__(self, source: Iterator[float]) -> None:
        self._source = source
        self._value = 0.0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._value = next(self._source)

    def seconds(self) -> float:
        return self._value


@DEVICES.register("fake")
class FakeDevice(BaseDevice):
    kind = "fake"
    vendor = "accelbench"
    timer_kind = "device-events"  # scripted durations stand in for device events

    def __init__(
        self,
        index: int = 0,
        peaks_override: list[PeakSpec] | None = None,
        *,
        name: str = "Fake Accelerator X1",
        memory_bytes: int = 1 << 30,
        dtypes: Iterable[str] = ("float32", "float16", "bfloat16"),
        durations: Iterable[float] | None = None,
        fail_when: Callable[[], BaseException | None] | None = None,
        can_pin: bool = True,
        power_meter: PowerMeter | str | None = None,
        llc_bytes: int | None = 1 << 20,
        flush_cost_s: float | None = None,
        triton: bool = True,
        activity: Callable[[], DeviceActivity | None] | None = None,
    ) -> None:
        super().__init__(index, [*(peaks_override or []), FAKE_PEAK])
        self._name = name
        self.memory_bytes = memory_bytes
        self.dtypes = set(dtypes)
        self._durations = itertools.cycle(list(durations)) if durations is not None else None
        if durations is None:  # say what really times the samples: the host clock
            self.timer_kind = "perf_counter"
        self._fail_when = fail_when
        self.can_pin = can_pin
        self.power_meter = power_meter
        """What the ``fake`` power backend gives this device: a meter, a string (no meter, for
        that reason), or None for a 100 W energy counter (:mod:`accelbench.power.fake`)."""
        self._activity = activity
        """What the device reports about other users and its clocks (as NVML would); None:
        no management interface, like the CPU."""
        self._alloc: _Allocator | None = None
        self._last_peak: int | None = None
        self.sync_count = 0
        self.llc_bytes = llc_bytes
        """The last-level cache a cold-cache flush evicts (twice this is written); None: the
        fake does not report one, like a device whose properties lack it."""
        self.flush_cost_s = flush_cost_s or 0.0
        self.clock = 0.0
        """Simulated device time. With ``flush_cost_s``, timers read this clock: each cache
        flush advances it by ``flush_cost_s`` and timed work by what it calls
        :meth:`advance` with, so a test knows exactly what every sample must be."""
        self.flushes = 0
        self.triton = triton
        if flush_cost_s is not None:
            self.timer_kind = "device-events"

    @classmethod
    def probe(cls) -> Probe:
        return Probe(
            kind="fake",
            available=False,
            reason="test double; select it explicitly with --device fake",
        )

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cpu")

    def name(self) -> str:
        return self._name

    def memory_total(self) -> tuple[int | None, str | None]:
        return self.memory_bytes, None

    def memory_free(self) -> tuple[int | None, str | None]:
        return self.memory_bytes, None  # every case starts with an empty simulated allocator

    def runtime_versions(self) -> dict[str, str]:
        return {"torch": torch.__version__, "fake_runtime": "1.0"}

    def driver_version(self) -> tuple[str | None, str | None]:
        return "fake-driver-1.0", None

    def activity(self) -> DeviceActivity | None:
        return self._activity() if self._activity is not None else None

    def synchronize(self) -> None:
        self.sync_count += 1
        if self._fail_when is not None and (exc := self._fail_when()) is not None:
            raise exc

    def new_timer(self) -> Any:
        if self.flush_cost_s:
            return _ClockTimer(self)
        if self._durations is None:
            return super().new_timer()
        return _ScriptedTimer(self._durations)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of simulated device time pass (timed work and flushes call this)."""
        self.clock += seconds

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        if dtype not in self.dtypes:
            return False, f"the fake device was configured without {dtype}"
        if dtype in LOW_PRECISIONS:  # real CPU kernels (torch._int_mm, torch._scaled_mm)
            return True, None
        return super().dtype_support(dtype)

    def last_level_cache(self) -> tuple[int | None, str]:
        if self.llc_bytes is None:
            return None, "the fake device was configured without a cache size"
        return self.llc_bytes, "the fake device's llc_bytes"

    def _make_flush(self, cache_bytes: int, source: str) -> CacheFlush:
        return _FakeFlush(self, cache_bytes)

    def triton_backend(self) -> tuple[str | None, str | None]:
        """Triton's interpreter on the fake's host tensors: the kernel's real code path, run
        by numpy, so tests exercise it without a GPU."""
        if not self.triton:
            return None, "the fake device was configured without Triton"
        if installed_version("triton") is None:
            return None, TRITON_MISSING
        return "interpreted", None

    def reset_peak_memory(self) -> None:
        self._last_peak = None
        if self._alloc is not None:
            self._alloc.peak = self._alloc.live

    def peak_memory_bytes(self) -> int | None:
        return self._alloc.peak if self._alloc is not None else self._last_peak

    @contextlib.contextmanager
    def case_scope(self) -> Iterator[None]:
        self._alloc = _Allocator(self.memory_bytes)
        try:
            with self._alloc, super().case_scope():
                yield
        finally:
            self._last_peak = self._alloc.peak
            self._alloc = None

    def graph_callable(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        fn()  # "capture"
        return fn

    def pinned_memory_support(self) -> tuple[bool, str | None]:
        # The fake stands in for an accelerator that can pin (as CUDA and Ascend can), so that
        # h2d/d2h code paths run in tests; ``can_pin=False`` plays one that cannot.
        if not self.can_pin:
            return False, "the fake device was configured without pinned host memory"
        return True, None

    def _allocate_pinned(self, numel: int, dtype: torch.dtype) -> torch.Tensor:
        # Ordinary host memory: the fake's "device" memory is host memory too, and there is no
        # DMA engine whose speed pinning could change. Counted by the fake allocator like any
        # allocation inside a case.
        return torch.empty(numel, dtype=dtype)
