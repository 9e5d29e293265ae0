"""Memory bandwidth: host-to-device and device-to-host copies (pinned and pageable host memory),
device-to-device copies and the STREAM triad, over transfer sizes from KiB to GiB.

The source study found the GPU faster than the NPU below 512 KiB and the NPU faster above, so
the default sweep steps x4 across that range. On a CPU-only machine the host *is* the device:
h2d and d2h are recorded as unsupported, and d2d (a main-memory copy) and triad stand in for
device memory bandwidth in the roofline. ``peak-bandwidth`` measures the device's memory
bandwidth as the best read+write rate of large copies and triads; the roofline model uses it
the way utilisation uses ``peak-gemm``.

Every rate is in GB/s with GB = 1e9 bytes, from the median sample (``best_gbs`` from the
fastest); which bytes a rate counts is stored with each result as ``config["byte_convention"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from accelbench.devices.base import BaseDevice, elements_of
from accelbench.errors import Unsupported
from accelbench.results.schema import Basis, Metric, Status
from accelbench.timing.protocol import Measurement, measure
from accelbench.workloads.base import (
    WORKLOADS,
    CaseOutput,
    RunContext,
    Workload,
    peak_memory_metric,
)
from accelbench.workloads.memory import check_fits

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
# float32 buffers: every accelerator copies them natively, and the STREAM triad needs arithmetic.
ELEMENT = torch.float32
ELEMENT_BYTES = ELEMENT.itemsize
MAX_BYTES = 1 << 40  # 1 TiB per buffer: beyond any device memory today; catches a unit typo
TRIAD_SCALAR = 3.0  # STREAM's scalar
_UNITS = {"B": 1, "KiB": KiB, "MiB": MiB, "GiB": GiB}
_SIZE_RE = re.compile(r"(\d+) ?(B|KiB|MiB|GiB)")

Direction = Literal["h2d", "d2h", "d2d", "triad"]
HostMemory = Literal["pinned", "pageable"]
DeviceMethod = Literal["d2d", "triad"]
HOST_TRANSFERS = ("h2d", "d2h")
# Device buffers of one case's size each (host buffers live in host memory).
DEVICE_BUFFERS = {"h2d": 1, "d2h": 1, "d2d": 2, "triad": 3}

CONVENTIONS: dict[str, str] = {
    "h2d": "gbs = bytes / median time: each byte crosses the host-device link once; GB = 1e9 B",
    "d2h": "gbs = bytes / median time: each byte crosses the host-device link once; GB = 1e9 B",
    "d2d": (
        "gbs = bytes / median time (each byte copied once); gbs_read_write = 2 x bytes / median "
        "time (the read and the write, STREAM copy convention); GB = 1e9 B"
    ),
    "triad": (
        f"STREAM triad a = b + {TRIAD_SCALAR:g} * c over three arrays of `bytes` each: gbs = "
        "gbs_read_write = 3 x bytes / median time (2 reads + 1 write, STREAM convention; "
        "write-allocate traffic is not counted); GB = 1e9 B"
    ),
}
PEAK_CONVENTION = (
    "peak_gbs and gbs_<method>_at_<bytes> count read + write traffic: d2d as 2 x bytes (read + "
    "write), triad as 3 x bytes (2 reads + 1 write, STREAM convention); median time; GB = 1e9 B"
)


def parse_size(value: object) -> int:
    """Bytes from a positive integer or a string with a binary unit: '4KiB', '1MiB', '1GiB'.

    Decimal and ambiguous units (KB, MB, k) are refused rather than guessed: 1 MB and 1 MiB
    differ by 5%, as large as the effects the sweep reports. Strict like GEMM sizes: YAML
    ``true`` or a float is a mistake to report, and a size must hold whole float32 elements.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(
            f"invalid size {value!r}: expected a positive integer of bytes or a string with a "
            "binary unit such as '4KiB', '1MiB', '1GiB'"
        )
    nbytes = value
    if isinstance(value, str):
        m = _SIZE_RE.fullmatch(value.strip())
        if m is None:
            raise ValueError(
                f"invalid size {value!r}: expected an integer with a binary unit B, KiB, MiB or "
                "GiB (e.g. '4KiB', '1GiB'; decimal units such as KB or MB are not accepted), or "
                "a positive integer of bytes"
            )
        nbytes = int(m.group(1)) * _UNITS[m.group(2)]
    assert isinstance(nbytes, int)
    if nbytes <= 0:
        raise ValueError(f"invalid size {value!r}: must be positive")
    if nbytes > MAX_BYTES:
        raise ValueError(f"invalid size {value!r}: above the 1 TiB limit per buffer")
    if nbytes % ELEMENT_BYTES:
        raise ValueError(
            f"invalid size {value!r}: {nbytes} B is not a multiple of {ELEMENT_BYTES} B, the "
            "float32 element size of the buffers"
        )
    return nbytes


Size = Annotated[int, BeforeValidator(parse_size)]


def format_bytes(nbytes: int) -> str:
    """'4 KiB', '1 GiB', or plain bytes when no binary unit divides the size exactly."""
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"


@dataclass
class Kernel:
    """One timed operation with its buffers (kept alive while timed, and readable by checks)
    and the traffic its rates count."""

    fn: Callable[[], Any]
    buffers: dict[str, torch.Tensor]
    bytes_moved: int
    """What ``gbs`` counts: bytes for copies, 3 x bytes for the triad."""
    bytes_read_write: int
    """Read plus write traffic: 2 x bytes for d2d, 3 x bytes for the triad."""


def _random(numel: int, device: torch.device) -> torch.Tensor:
    # Random normal data, not zeros: constant data can take fast paths (compression, zero-page
    # mapping) and every page is touched before timing.
    return torch.randn(numel, device=device, dtype=ELEMENT)


def _host_buffer(nbytes: int, host_memory: str, device: BaseDevice) -> torch.Tensor:
    if host_memory == "pinned":
        buf = device.pinned_memory(nbytes, ELEMENT)
    else:
        buf = torch.empty(elements_of(nbytes, ELEMENT), dtype=ELEMENT)
    return buf.normal_()  # in place: a pinned buffer stays pinned


def check_host_transfer(direction: str, host_memory: str | None, device: BaseDevice) -> None:
    """Raise Unsupported where this device has no such host transfer, before allocating."""
    if direction not in HOST_TRANSFERS:
        return
    if device.kind == "cpu":
        raise Unsupported(
            "the CPU is the host: there is no separate device memory; d2d (main-memory copy) "
            "and triad stand in for device bandwidth"
        )
    if host_memory == "pinned":
        ok, why = device.pinned_memory_support()
        if not ok:
            raise Unsupported(why or f"{device.kind} cannot pin host memory")


def make_kernel(
    direction: str, nbytes: int, device: BaseDevice, host_memory: str | None = None
) -> Kernel:
    """Allocate and fill the buffers for one case (outside any timed region) and return the
    operation to time. Copies are ``dst.copy_(src)``: blocking, so each timed iteration is one
    whole transfer."""
    check_host_transfer(direction, host_memory, device)
    dev, n = device.torch_device, elements_of(nbytes, ELEMENT)
    if direction == "h2d":
        assert host_memory is not None
        src, dst = _host_buffer(nbytes, host_memory, device), _random(n, dev)
    elif direction == "d2h":
        assert host_memory is not None
        src, dst = _random(n, dev), _host_buffer(nbytes, host_memory, device)
    elif direction == "d2d":
        src, dst = _random(n, dev), _random(n, dev)
    elif direction == "triad":
        a, b, c = _random(n, dev), _random(n, dev), _random(n, dev)
        return Kernel(
            fn=lambda: torch.add(b, c, alpha=TRIAD_SCALAR, out=a),
            buffers={"a": a, "b": b, "c": c},
            bytes_moved=3 * nbytes,
            bytes_read_write=3 * nbytes,
        )
    else:
        raise ValueError(f"unknown direction {direction!r}")
    return Kernel(
        fn=lambda: dst.copy_(src),
        buffers={"src": src, "dst": dst},
        bytes_moved=nbytes,
        bytes_read_write=2 * nbytes,
    )


def verify(kernel: Kernel, check_elements: int = 4096) -> None:
    """Spot-check that the timed operation produced its result (head and tail of the output):
    a copy that silently did nothing would report an impossible bandwidth.

    Only the ends are compared, so checking a 1 GiB case needs no second 1 GiB buffer.
    """
    buf = kernel.buffers
    n = buf["a"].numel() if "a" in buf else buf["dst"].numel()
    k = min(check_elements, n)
    for part in (slice(0, k), slice(n - k, n)):
        if "a" in buf:
            got = buf["a"][part].cpu()
            want = torch.add(buf["b"][part].cpu(), buf["c"][part].cpu(), alpha=TRIAD_SCALAR)
            ok = torch.allclose(got, want, rtol=1e-5, atol=1e-5)
        else:
            ok = torch.equal(buf["dst"][part].cpu(), buf["src"][part].cpu())
        if not ok:
            raise RuntimeError(
                "the timed operation did not produce its result (output differs from the "
                "expected values); its bandwidth would be meaningless"
            )


class BandwidthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directions: list[Direction] = Field(default=["h2d", "d2h", "d2d", "triad"], min_length=1)
    host_memory: list[HostMemory] = Field(
        default=["pinned", "pageable"],
        min_length=1,
        description="host buffers for h2d and d2h; d2d and triad do not use host memory",
    )
    sizes: list[Size] = Field(
        default=[4 * KiB * 4**i for i in range(10)],  # 4 KiB .. 1 GiB in x4 steps
        min_length=1,
        description="bytes per buffer: an integer or '4KiB', '1MiB', '1GiB'",
    )


@WORKLOADS.register("bandwidth")
class Bandwidth(Workload):
    """Copy and triad bandwidth per direction, host memory kind and transfer size."""

    kind = "bandwidth"
    Params = BandwidthParams
    params: BandwidthParams

    def cases(self) -> list[dict[str, Any]]:
        sizes = list(dict.fromkeys(self.params.sizes))  # '4KiB' and 4096 are one size
        out: list[dict[str, Any]] = []
        for d in dict.fromkeys(self.params.directions):
            if d in HOST_TRANSFERS:
                for hm in dict.fromkeys(self.params.host_memory):
                    out.extend({"direction": d, "host_memory": hm, "bytes": b} for b in sizes)
            else:
                out.extend({"direction": d, "bytes": b} for b in sizes)
        return out

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        hm = f" {case['host_memory']}" if "host_memory" in case else ""
        return f"{case['direction']}{hm} {format_bytes(case['bytes'])}"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        direction, nbytes = case["direction"], case["bytes"]
        if direction in HOST_TRANSFERS and ctx.measure.cuda_graph:
            raise Unsupported(
                "a blocking host copy cannot be captured in a device graph; measure h2d and d2h "
                "with cuda_graph: false"
            )
        need = DEVICE_BUFFERS[direction] * nbytes
        if (oom := check_fits(ctx, need, self.describe(case))) is not None:
            return oom
        kernel = make_kernel(direction, nbytes, ctx.device, case.get("host_memory"))
        meas = measure(kernel.fn, ctx.device, ctx.measure, power=ctx.power)
        verify(kernel)
        s = meas.summary
        metrics = {
            "bytes": Metric(value=float(nbytes), unit="B"),
            "bytes_moved": Metric(value=float(kernel.bytes_moved), unit="B"),
            "time_median": Metric(value=s.median, unit="s"),
            "time_min": Metric(value=s.min, unit="s"),
            "gbs": Metric(value=kernel.bytes_moved / s.median / 1e9, unit="GB/s"),
            "best_gbs": Metric(value=kernel.bytes_moved / s.min / 1e9, unit="GB/s"),
        }
        config: dict[str, Any] = {
            "byte_convention": CONVENTIONS[direction],
            "element_dtype": "float32",
            "elements": nbytes // ELEMENT_BYTES,
        }
        if direction not in HOST_TRANSFERS:  # device memory traffic: comparable to the datasheet
            rw = kernel.bytes_read_write / s.median
            metrics["gbs_read_write"] = Metric(value=rw / 1e9, unit="GB/s")
            basis = Basis(bandwidth_metric="gbs_read_write")
        else:
            basis = None
        metrics["peak_memory"] = peak_memory_metric(ctx)
        return CaseOutput(metrics=metrics, measurement=meas, config=config, basis=basis)


class PeakBandwidthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sizes: list[Size] = Field(default=[256 * MiB, GiB], min_length=1)
    methods: list[DeviceMethod] = Field(default=["d2d", "triad"], min_length=1)


@WORKLOADS.register("peak-bandwidth")
class PeakBandwidth(Workload):
    """Measured peak device memory bandwidth: the best read+write rate over ``methods`` x
    ``sizes``. Sizes should be well above the last-level cache, or it measures the cache."""

    kind = "peak-bandwidth"
    Params = PeakBandwidthParams
    params: PeakBandwidthParams

    def cases(self) -> list[dict[str, Any]]:
        return [
            {
                "sizes": list(dict.fromkeys(self.params.sizes)),
                "methods": list(dict.fromkeys(self.params.methods)),
            }
        ]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        sizes = "/".join(format_bytes(b) for b in case["sizes"])
        return f"peak bandwidth ({'/'.join(case['methods'])} at {sizes})"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        best: tuple[float, str, int, Measurement] | None = None
        per_case: dict[str, Metric] = {}
        too_big: dict[str, Any] = {}
        for method in case["methods"]:
            for nbytes in case["sizes"]:
                what = f"{method} {format_bytes(nbytes)}"
                if (oom := check_fits(ctx, DEVICE_BUFFERS[method] * nbytes, what)) is not None:
                    too_big[what] = oom.config["memory_check"]
                    continue  # a size that cannot fit is skipped; the others still measure
                kernel = make_kernel(method, nbytes, ctx.device)
                meas = measure(kernel.fn, ctx.device, ctx.measure, power=ctx.power)
                verify(kernel)
                rate = kernel.bytes_read_write / meas.summary.median
                per_case[f"gbs_{method}_at_{nbytes}"] = Metric(value=rate / 1e9, unit="GB/s")
                if best is None or rate > best[0]:
                    best = (rate, method, nbytes, meas)
                del kernel  # free this size's buffers before the next, larger one
                ctx.device.empty_cache()
        if best is None:
            return CaseOutput(
                metrics={},
                status=Status.OOM,
                message="out of memory (checked before allocating): no size fits: "
                + "; ".join(f"{k} needs {v['need_bytes']:,} B" for k, v in too_big.items())
                + f"; {next(iter(too_big.values()))['free_bytes']:,} B are free",
                config={"memory_check": too_big},
            )
        rate, method, nbytes, meas = best
        metrics = {
            "peak_gbs": Metric(value=rate / 1e9, unit="GB/s"),
            **per_case,
            "peak_memory": peak_memory_metric(ctx),
        }
        config: dict[str, Any] = {
            "best_method": method,
            "best_bytes": nbytes,
            "byte_convention": PEAK_CONVENTION,
        }
        if too_big:
            config["memory_check"] = too_big
        return CaseOutput(
            metrics=metrics,
            measurement=meas,
            config=config,
            basis=Basis(bandwidth_metric="peak_gbs"),
        )
