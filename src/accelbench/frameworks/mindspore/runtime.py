"""MindSpore behind accelbench's device layer: device selection, synchronisation, timing,
memory, dtypes and its errors, all through MindSpore's own runtime.

:class:`MindSporeDevice` is a :class:`~accelbench.devices.base.BaseDevice` for the measurement
protocol: ``measure(fn, MindSporeDevice(...), settings, power=...)`` times MindSpore work exactly
as it times PyTorch work, with the run's power monitor.

* **Device.** accelbench's ``cpu`` / ``cuda:N`` / ``npu:N`` select MindSpore's ``CPU`` /
  ``GPU`` / ``Ascend`` target and device id (``mindspore.set_device``). The target is one per
  process in MindSpore, so a second target in the same process is ``unsupported``, with why.
* **Synchronisation.** PyNative dispatches operators asynchronously (a pipeline of host
  threads), so a host clock around a call times only the dispatch. On GPU and Ascend,
  ``mindspore.runtime.synchronize()`` waits for every stream; the CPU build documents that call
  for GPU/Ascend only (on its first call it logs "CPU device is not supported" and returns
  without waiting), so on the CPU the wait is the PyNative executor's ``sync()``, the call
  MindSpore's own ``Model`` makes between steps (``mindspore/train/model.py``, ``_StepSync``).
  Results are never copied to the host (``asnumpy``) inside a timed region.
* **Timing.** GPU/Ascend: a pair of ``mindspore.runtime.Event`` on the current stream per
  iteration (device time, no per-iteration host sync). CPU: MindSpore has no events there, so
  each iteration is ``perf_counter`` around the call *and* the sync that ends it.
* **Threads.** MindSpore's CPU kernels use 25 threads unless told; accelbench gives them
  torch's intra-op thread count (the run's ``--threads``), once per process (MindSpore refuses
  a second setting), so both frameworks use the same cores.
* **NumPy.** MindSpore 2.10's ``libmindspore_common`` is built against NumPy 1.x; under NumPy 2
  its first tensor operation prints NumPy's ABI warning and can leave a ``SystemError`` for the
  next call. :func:`load` makes that first call once, quietly, before any measured work; nothing
  else in MindSpore's tensor path uses it (numerical agreement with PyTorch is tested).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import mindspore as ms
import numpy as np
import torch

from accelbench.devices.base import BaseDevice, EventTimer, IntervalTimer
from accelbench.errors import Unsupported

TARGETS = {"cpu": "CPU", "cuda": "GPU", "npu": "Ascend"}
"""accelbench device kind -> MindSpore device target."""

# Substrings of MindSpore's allocator errors (libmindspore_memory_pool, _backend_common).
OOM_MARKERS = (
    "out of memory",
    "memory not enough",
    "memory isn't enough",
    "allocate memory failed",
    "allocate device memory failed",
    "alloc device mem failed",
    "malloc memory failed",
    "memory malloc failed",
    "malloc mem block failed",
)
# What MindSpore says when it has no kernel for a dtype or operator on this target.
UNSUPPORTED_MARKERS = (
    "unsupported data type",
    "must be a type of",
    "not supported",
    "not support",
    "kernel not found",
    "can not find",
)

DTYPES = {
    "float32": ms.float32,
    "float16": ms.float16,
    "bfloat16": ms.bfloat16,
    "float64": ms.float64,
}

_state: dict[str, Any] = {"target": None, "device_id": None, "threads": None, "warmed": False}


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def load(device: BaseDevice) -> tuple[str, int]:
    """Select MindSpore's target for ``device`` (once per process) and prepare it; returns
    (target, device id). Raises :class:`Unsupported` when MindSpore cannot drive it here."""
    target = TARGETS.get(device.kind)
    if target is None:
        raise Unsupported(
            f"MindSpore has no backend for accelbench device {device.spec!r} (it runs on "
            f"{', '.join(f'{k} as {v}' for k, v in TARGETS.items())})"
        )
    device_id = 0 if device.kind == "cpu" else int(device.index)
    if _state["target"] is None:
        try:
            ms.set_device(target, device_id)
        except Exception as exc:
            raise Unsupported(
                f"MindSpore {ms.__version__} cannot use {target}: {_first_line(exc)}"
            ) from None
        _state["target"], _state["device_id"] = target, device_id
    elif (_state["target"], _state["device_id"]) != (target, device_id):
        raise Unsupported(
            f"MindSpore's device is chosen once per process and is {_state['target']}:"
            f"{_state['device_id']} here; run {target}:{device_id} cases in another process"
        )
    if target == "CPU":
        threads = torch.get_num_threads()
        if _state["threads"] is None:
            ms.device_context.cpu.op_tuning.threads_num(threads)
            _state["threads"] = threads
        elif _state["threads"] != threads:
            raise Unsupported(
                f"MindSpore's CPU kernel threads are set once per process and are "
                f"{_state['threads']} here, not this run's {threads}; run it in a new process"
            )
    if not _state["warmed"]:
        _state["warmed"] = True
        with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(Exception):
            ms.ops.zeros((1,), ms.float32)  # NumPy 1.x ABI probe: see the module notes
        sync_pipeline()
    return target, device_id


def sync_pipeline() -> None:
    """Wait until every operator MindSpore has queued has run (PyNative's pipeline and the
    device streams)."""
    from mindspore.graph.api import _pynative_executor

    _pynative_executor.sync()


def settings() -> dict[str, Any]:
    """MindSpore settings that change timings, stored with every MindSpore result."""
    out: dict[str, Any] = {"device_target": _state["target"], "device_id": _state["device_id"]}
    if _state["threads"] is not None:
        out["cpu_kernel_threads"] = _state["threads"]
    out["numpy"] = np.__version__
    return out


class SyncedPerfCounterTimer:
    """Host clock around one call and the sync that ends it, for MindSpore's CPU target
    (which has no device events): the sample covers the work, not just its dispatch."""

    __slots__ = ("_sync", "_t0", "_t1")

    def __init__(self, sync: Any) -> None:
        self._sync = sync
        self._t0 = self._t1 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        self._sync()
        self._t1 = time.perf_counter()

    def seconds(self) -> float:
        return self._t1 - self._t0


class MindSporeDevice(BaseDevice):
    """The run's device as MindSpore sees it; see the module notes for each choice."""

    oom_markers: ClassVar[tuple[str, ...]] = OOM_MARKERS

    def __init__(self, base: BaseDevice) -> None:
        super().__init__(index=base.index)
        self.base = base
        self.kind = base.kind  # type: ignore[misc]
        self.target, self.device_id = load(base)
        self.timer_kind = (  # type: ignore[misc]
            "perf_counter+sync" if self.target == "CPU" else "device-events"
        )

    # -- identity ------------------------------------------------------------------------------
    @property
    def torch_device(self) -> torch.device:
        return self.base.torch_device

    @property
    def spec(self) -> str:
        return self.base.spec

    def name(self) -> str:
        return self.base.name()

    # -- execution -----------------------------------------------------------------------------
    def synchronize(self) -> None:
        if self.target == "CPU":
            sync_pipeline()
        else:
            ms.runtime.synchronize()

    def new_timer(self) -> IntervalTimer:
        if self.target == "CPU":
            return SyncedPerfCounterTimer(sync_pipeline)
        return EventTimer(ms.runtime.Event, ms.runtime.current_stream())

    def reset_peak_memory(self) -> None:
        if self.target != "CPU":
            ms.runtime.reset_peak_memory_stats()

    def peak_memory_bytes(self) -> int | None:
        if self.target == "CPU":
            return None
        return int(ms.runtime.max_memory_allocated())

    def peak_memory_unavailable_reason(self) -> str:
        return (
            "MindSpore reports peak memory on GPU and Ascend only "
            "(mindspore.runtime.max_memory_allocated)"
        )

    def empty_cache(self) -> None:
        if self.target != "CPU":
            with contextlib.suppress(Exception):
                ms.runtime.empty_cache()

    def graph_callable(self, fn: Any) -> Any:
        raise Unsupported("CUDA graph capture is a PyTorch feature; MindSpore's Graph mode is jit")

    # -- dtypes and errors ---------------------------------------------------------------------
    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        ok, why = self.base.dtype_support(dtype)
        if not ok:
            return ok, why
        if dtype == "tfloat32":
            return False, (
                "MindSpore's TF32 switch is process-wide (mindspore.device_context.gpu."
                "op_precision.matmul_allow_tf32), so accelbench does not flip it per case"
            )
        if dtype not in DTYPES:
            return False, f"MindSpore has no {dtype}"
        return True, None

    def unsupported_reason(self, exc: BaseException) -> str | None:
        if isinstance(exc, (TypeError, ValueError, RuntimeError, NotImplementedError)):
            text = _first_line(exc)
            if any(m in text.lower() for m in UNSUPPORTED_MARKERS):
                return text
        return None

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """MindSpore's out-of-memory -> ``MemoryError`` (stored as ``oom``); its missing
        kernels -> :class:`Unsupported`; anything else propagates as an error."""
        try:
            yield
        except (Unsupported, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            if self.is_oom(exc):
                raise MemoryError(f"MindSpore {self.target}: {_first_line(exc)}") from exc
            why = self.unsupported_reason(exc)
            if why is not None:
                raise Unsupported(f"MindSpore {ms.__version__} on {self.target}: {why}") from exc
            raise


def to_mindspore(t: torch.Tensor, dtype: str) -> Any:
    """A MindSpore tensor holding ``t``'s values in ``dtype`` (cast by MindSpore: NumPy 2
    cannot hand MindSpore a bfloat16 array, see the module notes)."""
    arr = t.detach().to("cpu", torch.float32).contiguous().numpy()
    x = ms.Tensor(arr)
    return x if dtype == "float32" else x.astype(DTYPES[dtype])
