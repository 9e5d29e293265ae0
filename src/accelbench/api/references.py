"""The reference measurements a case is judged against: this machine's measured peaks and idle
power, and the datasheet entry of its device.

A measured peak is only a ceiling for measurements taken under the same conditions, so a stored
``peak-gemm``, ``peak-bandwidth`` or ``idle-power`` result is used only when it was measured
here (never imported), on the same device, host, thread count and software stack. Peaks
measured earlier in the same run take precedence over stored ones.
"""

from __future__ import annotations

from typing import Any

from accelbench.devices.base import DeviceInfo
from accelbench.results.schema import (
    Basis,
    DatasheetRef,
    Environment,
    IdleRef,
    PeakRef,
    References,
    Result,
    Status,
)
from accelbench.results.store import Store
from accelbench.timing.intervals import rate_interval


def same_stack(result: Result, env: Environment) -> bool:
    """Whether ``result`` was measured with this chip, thread count and software stack.

    A torch or driver upgrade, or another thread count, can move a peak.
    """
    e = result.environment
    return (
        e.host == env.host
        and e.threads == env.threads
        and e.device_name == env.device_name
        and e.torch == env.torch
        and e.accelerator_runtime == env.accelerator_runtime
    )


def peak_ref(result: Result) -> PeakRef | None:
    """The ceiling a ``peak-gemm`` (FLOP/s) or ``peak-bandwidth`` (B/s) result measured, with
    its quality: when it was taken, its spread and 95% interval, whether it converged, and
    whether the host was busy meanwhile.

    The interval is the one the result stores (``peak_gflops_low``/``_high``), else the
    bootstrap interval of its median time, inverted (:func:`rate_interval`)."""
    name = "peak_gflops" if result.kind == "peak-gemm" else "peak_gbs"
    value = result.metric(name)
    if value is None:
        return None
    s = result.summary
    low, high = result.metric(f"{name}_low"), result.metric(f"{name}_high")
    if low is None or high is None:
        iv = rate_interval(value, result.samples)
        low, high = (iv.low, iv.high) if iv is not None else (None, None)
    return PeakRef(
        result_id=result.result_id,
        value=value * 1e9,
        measured_at=result.started_at.isoformat(),
        cv=s.cv if s else None,
        high_spread=s.high_spread if s else None,
        converged=result.config.get("protocol", {}).get("converged"),
        convention=result.config.get("byte_convention"),
        low=low * 1e9 if low is not None else None,
        high=high * 1e9 if high is not None else None,
        host_busy=result.host.busy if result.host is not None else None,
    )


class ReferenceBook:
    """Looks up the references of each case of one run (one implementation for all kinds)."""

    def __init__(self, store: Store, device: str, env: Environment, info: DeviceInfo) -> None:
        self.store, self.device, self.env, self.info = store, device, env, info
        self._run: dict[tuple[str, str | None], PeakRef] = {}
        self._refs: dict[str, PeakRef | None] = {}
        self._unreliable: dict[str, str] = {}
        """Peaks (by result id) a case of this run beat beyond their upper bound."""

    def note(self, result: Result) -> None:
        """Remember a peak measured in this run (later cases use it before any stored one), and
        a peak a case proved unreliable (later cases are not judged against it)."""
        if result.status is Status.OK and result.kind in ("peak-gemm", "peak-bandwidth"):
            ref = peak_ref(result)
            if ref is not None:
                dtype = result.case.get("dtype") if result.kind == "peak-gemm" else None
                self._run[(result.kind, dtype)] = ref
        mp = result.references.measured_peak
        if mp is not None and mp.unreliable and mp.result_id:
            self._unreliable.setdefault(mp.result_id, mp.unreliable)

    def _stored(self, kind: str, dtype: str | None) -> Result | None:
        """The newest ok ``kind`` result measured here on this device and software stack;
        never an imported one, whatever run id it carries."""
        for r in self.store.query(
            kind=kind,
            device=self.device,
            host=self.env.host,
            threads=self.env.threads,
            status="ok",
            newest_first=True,
            measured_here=True,
        ):
            if (dtype is None or r.case.get("dtype") == dtype) and same_stack(r, self.env):
                return r
        return None

    def _peak(self, kind: str, dtype: str | None) -> PeakRef | None:
        ref = self._run.get((kind, dtype))
        if ref is None:
            r = self._stored(kind, dtype)
            if r is None:
                return None
            if r.result_id not in self._refs:  # the interval is computed once per peak
                self._refs[r.result_id] = peak_ref(r)
            ref = self._refs[r.result_id]
        if ref is not None and ref.result_id in self._unreliable:
            ref = ref.model_copy(update={"unreliable": self._unreliable[ref.result_id]})
        return ref

    def idle_power(self) -> tuple[IdleRef | None, str | None]:
        r = self._stored("idle-power", None)
        watts = None if r is None else r.metric("idle_power_w")
        if r is None or watts is None:
            return None, (
                "no idle-power result for this device and software stack in the store "
                "(run `accelbench idle-power`)"
            )
        return IdleRef(result_id=r.result_id, watts=watts), None

    def for_case(self, basis: Basis | None, timed: bool) -> References:
        """Everything a case with this basis is compared with, or why each one is missing."""
        basis = basis or Basis()
        compute = basis.compute_dtype is not None and not basis.not_comparable
        idle, idle_why = self.idle_power() if timed else (None, None)
        return build_references(
            basis,
            self.info,
            measured_peak=self._peak("peak-gemm", basis.compute_dtype) if compute else None,
            measured_bandwidth=self._peak("peak-bandwidth", None) if compute else None,
            idle_power=idle,
            idle_reason=idle_why,
        )


def build_references(
    basis: Basis,
    info: DeviceInfo,
    *,
    measured_peak: PeakRef | None = None,
    measured_bandwidth: PeakRef | None = None,
    idle_power: IdleRef | None = None,
    idle_reason: str | None = None,
) -> References:
    """The references of a case with ``basis`` on the device ``info`` describes, each one
    given or missing with the reason a user can act on."""
    unavailable: dict[str, str] = {}
    refs: dict[str, Any] = {"basis": basis}
    peak, dtype = info.peak, basis.compute_dtype
    if dtype is not None or basis.bandwidth_metric is not None:
        if peak is None:
            unavailable["datasheet"] = (
                info.peak_unavailable_reason or "no datasheet entry for this device"
            )
        else:
            refs["datasheet"] = DatasheetRef(
                name=peak.name,
                source=peak.source,
                flops=peak.peak_flops(dtype) if dtype else None,
                memory_bandwidth_gbs=peak.memory_bandwidth_gbs,
            )
    if dtype is not None and not basis.not_comparable:
        if measured_peak is None:
            unavailable["measured_peak"] = (
                f"no peak-gemm result for {dtype} on this device, thread count and software "
                "stack in the store (run `accelbench peaks` or add a peak-gemm workload)"
            )
        else:
            refs["measured_peak"] = measured_peak
        if measured_bandwidth is None:
            unavailable["measured_bandwidth"] = (
                "no peak-bandwidth result on this device, thread count and software stack in "
                "the store (run `accelbench peaks` or add a peak-bandwidth workload)"
            )
        else:
            refs["measured_bandwidth"] = measured_bandwidth
    if idle_power is not None:
        refs["idle_power"] = idle_power
    elif idle_reason is not None:
        unavailable["idle_power"] = idle_reason
    return References(**refs, unavailable=unavailable)
