"""Does a device's energy counter agree with its sampled power, over one GEMM window?

accelbench prefers a meter's cumulative energy counter (NVML's total energy on Volta and newer)
and falls back to integrating sampled power where there is none (npu-smi, older GPUs). Both are
the driver's numbers; this check puts them side by side on the same window so a reader knows how
far the fallback can be trusted. It runs a GEMM back to back until the load is steady (at least
two of the power reading's averaging windows, so the averaged reading has caught up), then over
the next ``--seconds`` reads the counter at both ends while a thread samples the power reading
at ``--rate`` Hz, integrated with the trapezoidal rule over the same interval.

Output: one line, and with ``--json FILE`` every number (both energies and average powers,
their relative difference, sample count and largest gap, the sampler's busy fraction, the
GEMM's iterations and TFLOP/s in the window, and the meter's own description).

Exit status: 0 compared; 77 unavailable here (no meter of this device has both an energy
counter and a power reading; the reason is printed and stored in the JSON); 2 bad arguments.

    python benchmarks/energy_check.py --device cuda --seconds 10 --size 8192 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from accelbench.devices import default_device_spec, make_device, torch_dtype
from accelbench.devices.base import DTYPES, BaseDevice
from accelbench.errors import AccelbenchError, Unsupported
from accelbench.power.base import MeterError, PowerMeter
from accelbench.power.session import open_meters

UNAVAILABLE = 77  # the automake convention for "skipped": nothing to compare on this device
SYNC_EVERY = 8  # GEMMs queued between synchronisations: keeps the device busy, the host in step


class Unavailable(Exception):
    """Nothing to compare on this device; the message says why."""


def pick_meter(device: BaseDevice) -> tuple[PowerMeter, list[PowerMeter]]:
    """The first meter of ``device`` with both an energy counter and a power reading (and every
    meter opened, for closing). Raises Unavailable with every backend's reason otherwise."""
    meters, reasons = open_meters(device)
    why = [f"{k}: {v}" for k, v in reasons.items()]
    for m in meters:
        if m.mode != "energy":
            why.append(f"{m.name} {m.domain}: no energy counter (sampled power only)")
            continue
        try:
            m.read_power_w()
        except MeterError as exc:
            why.append(f"{m.name} {m.domain}: no power reading ({exc})")
            continue
        return m, meters
    for m in meters:
        m.close()
    raise Unavailable(
        f"no meter of {device.spec} has both an energy counter and a power reading: "
        + ("; ".join(why) or "no power meter applies to this device")
    )


def trapezoid(samples: list[tuple[float, float]]) -> float:
    """Joules from ``(seconds, watts)`` samples in time order."""
    return sum((t2 - t1) * (w1 + w2) / 2 for (t1, w1), (t2, w2) in itertools.pairwise(samples))


def compare(
    device: BaseDevice,
    meter: PowerMeter,
    work: Callable[[], Any],
    *,
    seconds: float,
    warmup_s: float,
    rate_hz: float,
) -> dict[str, Any]:
    """Run ``work`` back to back for ``warmup_s`` then ``seconds``; over the second part, the
    counter's energy against the integral of power sampled at ``rate_hz``."""
    window = float(meter.describe().get("power_averaging_window_s", meter.averaging_window_s))
    # The averaged power reading lags the load by up to its window: start comparing only once
    # it has seen steady load for two windows.
    warmup_s = max(warmup_s, 2 * window)
    iterations = 0

    def run_for(duration: float) -> int:
        n, t_end = 0, time.perf_counter() + duration
        while time.perf_counter() < t_end:
            for _ in range(SYNC_EVERY):
                work()
            device.synchronize()
            n += SYNC_EVERY
        return n

    run_for(warmup_s)
    samples: list[tuple[float, float]] = []
    busy = [0.0]
    stop = threading.Event()
    failure: list[str] = []

    def sample() -> None:
        t = time.perf_counter()
        try:
            samples.append((t, meter.read_power_w()))
        except MeterError as exc:
            failure.append(str(exc))
            stop.set()
        busy[0] += time.perf_counter() - t

    def poll() -> None:
        while not stop.wait(1.0 / rate_hz):
            sample()

    device.synchronize()
    t0 = time.perf_counter()
    e0 = meter.read_energy_j()
    sample()
    thread = threading.Thread(target=poll, name="energy-check-sampler", daemon=True)
    thread.start()
    try:
        iterations = run_for(seconds)
    finally:
        stop.set()
        thread.join()
    sample()
    e1 = meter.read_energy_j()
    t1 = time.perf_counter()
    if failure:
        raise Unavailable(f"{meter.name} {meter.domain}: power reading failed: {failure[0]}")
    duration = t1 - t0
    counter_j = e1 - e0
    sampled_j = trapezoid(samples)
    span = samples[-1][0] - samples[0][0]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(samples)]
    return {
        "status": "ok",
        "meter": meter.describe(),
        "window_s": duration,
        "warmup_s": warmup_s,
        "rate_hz": rate_hz,
        "counter_energy_j": counter_j,
        "counter_avg_w": counter_j / duration,
        "sampled_energy_j": sampled_j,
        "sampled_avg_w": sampled_j / span if span > 0 else None,
        "sampled_span_s": span,
        "samples": len(samples),
        "max_gap_s": max(gaps, default=None),
        "sampler_busy_fraction": busy[0] / duration,
        "rel_diff": (sampled_j - counter_j) / counter_j if counter_j > 0 else None,
        "iterations": iterations,
        "convention": "rel_diff = (sampled - counter) / counter over the same window; sampled "
        "power integrated with the trapezoidal rule between the first and last sample, taken "
        "right after and right before the two counter reads",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--device", default=None, help="device spec; default: the first accelerator, else cpu"
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the compared window")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before it")
    ap.add_argument("--size", type=int, default=8192, help="square GEMM size")
    ap.add_argument("--dtype", default="bfloat16", choices=[d for d in DTYPES if d != "tfloat32"])
    ap.add_argument("--rate", type=float, default=20.0, help="power samples per second")
    ap.add_argument("--json", type=Path, default=None, help="write every number to this file")
    args = ap.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 600:
        ap.error("--seconds must be in (0, 600] and --warmup in [0, 600]")
    if not 0 < args.rate <= 1000 or args.size <= 0:
        ap.error("--rate must be in (0, 1000] Hz and --size positive")

    base: dict[str, Any] = {"device": args.device, "size": args.size, "dtype": args.dtype}
    try:
        device = make_device(args.device or default_device_spec())
        ok, why = device.dtype_support(args.dtype)
        if not ok:
            raise Unavailable(f"{args.dtype} on {device.spec}: {why}")
        meter, meters = pick_meter(device)
        try:
            dt = torch_dtype(args.dtype)
            a = torch.randn(args.size, args.size, device=device.torch_device, dtype=dt)
            b = torch.randn(args.size, args.size, device=device.torch_device, dtype=dt)
            c = torch.empty_like(a)
            res = compare(
                device,
                meter,
                lambda: torch.matmul(a, b, out=c),
                seconds=args.seconds,
                warmup_s=args.warmup,
                rate_hz=args.rate,
            )
        finally:
            for m in meters:
                m.close()
        res["tflops"] = 2 * args.size**3 * res["iterations"] / res["window_s"] / 1e12
        res = {**base, "device_name": device.name(), **res}
        line = (
            f"{device.spec} {meter.name} {meter.domain}: counter {res['counter_avg_w']:.1f} W, "
            f"sampled {res['sampled_avg_w']:.1f} W ({res['samples']} samples at "
            f"{args.rate:g} Hz), {res['rel_diff']:+.2%} over {res['window_s']:.1f} s of "
            f"{args.dtype} GEMM {args.size} at {res['tflops']:.1f} TFLOP/s"
        )
        code = 0
    except (Unavailable, Unsupported) as exc:
        res = {**base, "status": "unavailable", "reason": str(exc)}
        line, code = f"unavailable: {exc}", UNAVAILABLE
    except AccelbenchError as exc:  # a device that is not there: one line, like the CLI
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(line, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
