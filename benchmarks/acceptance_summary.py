"""The one-screen summary of a device acceptance run (benchmarks/device-acceptance.sh).

Reads only what the run left behind: ``steps.tsv`` (each step's status, time and note),
``devices.json``, the results export (``results.jsonl``, or ``.jsonl.gz`` where it had to be
compressed), the scratch folder's ``peaks.json``, ``energy.json`` and ``hw-junit.xml``, and the
log for the last words of a step that failed. Standard library only, so it still says what
happened when accelbench itself cannot be imported. Every number it shows is one the run
measured; what is missing is said to be missing.

    python benchmarks/acceptance_summary.py --out OUT [--work SCRATCH] [--budget S] [--wall S]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

MIB = 1 << 20
MAX_FILES = 8
MAX_FILE_BYTES = 16 * MIB
WIDTH = 100
# Which suite each step stores its results under (see the step functions of the script).
STEP_SUITES = {
    "idle-power": "idle-power",
    "peaks": "peaks",
    "gemm": "acceptance-gemm",
    "bandwidth": "acceptance-bandwidth",
    "resnet56": "acceptance-resnet56",
    "quick-ops": "quick-ops",
}


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_results(out: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Every exported result record, and why there are none when there are none."""
    for name, opener in (("results.jsonl", open), ("results.jsonl.gz", gzip.open)):
        path = out / name
        if not path.is_file():
            continue
        records = []
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()]
        except (OSError, ValueError) as exc:
            return [], f"{name} is unreadable ({exc})"
        return records, None
    return [], "no results export in the output folder"


def read_steps(out: Path) -> list[dict[str, str]]:
    try:
        with (out / "steps.tsv").open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except OSError:
        return []


def metric(r: dict[str, Any], name: str) -> float | None:
    m = r.get("metrics", {}).get(name)
    return None if m is None else m.get("value")


def fmt_flops(gflops: float | None) -> str:
    if gflops is None:
        return "-"
    return f"{gflops / 1000:.1f} TFLOP/s" if gflops >= 1000 else f"{gflops:.2f} GFLOP/s"


def fmt_gbs(gbs: float | None) -> str:
    return "-" if gbs is None else (f"{gbs:.0f}" if gbs >= 100 else f"{gbs:.2f}")


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}"


def fmt_bytes(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB / 10 else f"{n / 1024:.1f} KiB"


def counts(results: list[dict[str, Any]]) -> str:
    c = Counter(r["status"] for r in results)
    parts = [f"{c.pop('ok', 0)} ok", *(f"{n} {s}" for s, n in sorted(c.items()))]
    return f"{len(results)} cases: " + ", ".join(parts)


def last_words(log: Path, step: str, n: int = 2) -> list[str]:
    """The last meaningful lines a step wrote to the log: usually its error."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    m = re.search(
        rf"^==== \[[^\]]*\] step {re.escape(step)} \(budget[^\n]*\n(.*?)^==== \[",
        text,
        re.S | re.M,
    )
    if not m:
        return []
    lines = [
        ln.strip()
        for ln in m.group(1).splitlines()
        if ln.strip() and not ln.startswith(("$ ", "(exit status"))
    ]
    return lines[-n:]


# -- one line (or a few) per step ----------------------------------------------------------------
def devices_line(devices: Any, spec: str | None) -> str:
    if not isinstance(devices, dict):
        return "no devices.json"
    found = devices.get("devices") or []
    pick = next((d for d in found if spec and d.get("spec") == spec), None)
    if pick is None and spec and spec.startswith("fake"):
        return f"{spec} is a test double, never listed; present: " + ", ".join(
            f"{d.get('spec')} {d.get('name')}" for d in found
        )
    pick = pick or next((d for d in found if d.get("kind") != "cpu"), found[0] if found else None)
    if pick is None:
        return "no device listed"
    mem = pick.get("memory_total_bytes")
    parts = [f"{pick.get('spec')} {pick.get('name')}"]
    if mem:
        parts.append(f"{mem / 2**30:.1f} GiB")
    if pick.get("compute_capability"):
        parts.append(f"compute {pick['compute_capability']}")
    meters = pick.get("power_meters") or []
    ok = [
        f"{m['meter']} {m.get('domain', '')} ({m.get('mode')})"
        for m in meters
        if m.get("available")
    ]
    parts.append("power: " + (", ".join(ok) if ok else "none"))
    return ", ".join(parts)


def idle_line(results: list[dict[str, Any]]) -> str:
    if not results:
        return "no idle-power result"
    r = results[-1]
    if r["status"] != "ok":
        return f"{r['status']}: {r.get('message') or ''}"
    return f"{metric(r, 'idle_power_w'):.1f} W over {metric(r, 'window_s'):.1f} s"


def hw_line(junit: Path, note: str) -> str:
    try:
        suite = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return note
    if suite.tag == "testsuites":
        suite = suite[0]
    failed = [
        f"{case.get('name')}: {(bad.get('message') or '').splitlines()[0][:70]}"
        for case in suite.iter("testcase")
        for bad in list(case)
        if bad.tag in ("failure", "error") and bad.get("message")
    ]
    return "; ".join([note, *failed[:2]])


def peaks_lines(peaks: Any, results: list[dict[str, Any]]) -> list[str]:
    rows = peaks.get("peaks") if isinstance(peaks, dict) else None
    if not rows:
        return [counts(results)] if results else ["no peaks measured"]
    out = []
    for r in rows:
        measured = r.get("measured")
        if measured is None:
            out.append(f"{r['peak']}: {r.get('note') or 'not measured'}"[:80])
            continue
        value = fmt_flops(measured) if r["unit"] == "GFLOP/s" else f"{fmt_gbs(measured)} GB/s"
        sheet = ""
        if r.get("of_datasheet") is not None:
            ds = r["datasheet"]
            ds_text = fmt_flops(ds) if r["unit"] == "GFLOP/s" else f"{fmt_gbs(ds)} GB/s"
            sheet = f", {r['of_datasheet']:.0%} of datasheet {ds_text}"
        cv = f", CV {r['cv']:.1%}" if r.get("cv") is not None else ""
        out.append(f"{r['peak']}: {value}{sheet}{cv}")
    return out


def gemm_lines(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return ["no results"]
    best: dict[str, tuple[float, int]] = {}
    for r in results:
        g = metric(r, "achieved_gflops")
        if r["status"] == "ok" and g is not None:
            dt = r["case"]["dtype"]
            if dt not in best or g > best[dt][0]:
                best[dt] = (g, r["case"]["m"])
    line = ", ".join(f"{dt} {fmt_flops(g)} at {n}" for dt, (g, n) in best.items())
    return [counts(results), f"best: {line}" if line else "nothing ok"]


def energy_line(energy: Any, note: str) -> str:
    if not isinstance(energy, dict):
        return note or "no energy check"
    if energy.get("status") != "ok":
        return f"unavailable: {energy.get('reason')}"
    meter = energy.get("meter", {})
    return (
        f"{meter.get('meter')} counter {energy['counter_avg_w']:.1f} W vs sampled "
        f"{energy['sampled_avg_w']:.1f} W: {energy['rel_diff']:+.2%} over "
        f"{energy['window_s']:.1f} s ({energy['samples']} samples, {energy['dtype']} GEMM "
        f"{energy['size']} at {fmt_flops(energy['tflops'] * 1000)})"
    )


def bandwidth_lines(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return ["no results"]
    best: dict[str, float] = defaultdict(float)
    for r in results:
        g = metric(r, "gbs")
        if r["status"] == "ok" and g is not None:
            c = r["case"]
            key = f"{c['direction']} {c.get('host_memory', '')}".strip()
            best[key] = max(best[key], g)
    order = ["h2d pinned", "h2d pageable", "d2h pinned", "d2h pageable", "d2d"]
    line = ", ".join(f"{k} {fmt_gbs(best[k])}" for k in order if k in best)
    best_line = f"best GB/s (bytes once): {line}" if line else "nothing ok"
    return [counts(results) + " (power not sampled)", best_line]


def resnet_lines(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return ["no result (a run stopped before its end stores none)"]
    r = results[-1]
    if r["status"] != "ok":
        return [f"{r['status']}: {(r.get('message') or '')[:200]}"]
    cfg = r.get("config", {})
    acc = metric(r, "best_accuracy")
    epochs = metric(r, "epochs_run")
    setup = metric(r, "setup_s")
    first = metric(r, "first_epoch_samples_per_s")
    steady = metric(r, "steady_samples_per_s")
    cv = metric(r, "steady_samples_per_s_cv")
    if cfg.get("reached_threshold"):
        head = (
            f"{cfg.get('threshold', 90)}% reached at epoch {metric(r, 'epochs_to_threshold'):.0f}"
            f" in {metric(r, 'time_to_threshold_s'):.1f} s "
            f"({metric(r, 'time_to_threshold_no_eval_s'):.1f} s without eval)"
        )
    else:
        head = (
            f"threshold NOT reached: best {acc:.2f}% in {epochs:.0f} epochs"
            if acc
            else (r.get("message") or "threshold not reached")
        )
    speed = f"setup {setup:.1f} s; epoch 1 {fmt_rate(first)} img/s" if setup and first else ""
    if steady:
        speed += f", steady {fmt_rate(steady)} img/s" + (
            f" (CV {cv:.1%})" if cv is not None else ""
        )
    return [head, speed] if speed else [head]


def step_detail(
    name: str,
    note: str,
    out: Path,
    scratch: Path,
    spec: str | None,
    results: list[dict[str, Any]],
    by_suite: dict[str, list[dict[str, Any]]],
) -> list[str]:
    """What one step measured, in a line or a few."""
    suite = by_suite.get(STEP_SUITES.get(name, ""), [])
    detail: list[str]
    if name == "devices":
        detail = [devices_line(read_json(out / "devices.json"), spec)]
    elif name == "idle-power":
        detail = [idle_line(suite)]
    elif name == "hw-tests":
        detail = [hw_line(scratch / "hw-junit.xml", note)]
    elif name == "peaks":
        detail = peaks_lines(read_json(scratch / "peaks.json"), suite)
    elif name == "gemm":
        detail = gemm_lines(suite)
    elif name == "energy":
        detail = [energy_line(read_json(scratch / "energy.json"), note)]
    elif name == "bandwidth":
        detail = bandwidth_lines(suite)
    elif name == "resnet56":
        detail = resnet_lines(suite)
    elif name == "quick-ops":
        detail = [counts(suite) + " (power not sampled)" if suite else "no results"]
    elif name in ("report", "export", "bundle"):
        f = {"report": "report.html", "export": "results.jsonl", "bundle": "bundle.tar.gz"}
        path = out / f[name]
        path = path if path.exists() else path.with_name(path.name + ".gz")
        detail = [f"{path.name} {fmt_bytes(path.stat().st_size)}" if path.exists() else note]
        if name == "export" and results:
            detail[0] += f", {len(results)} results (accelbench results import reads it)"
    else:
        detail = [note]
    return detail


# -- the whole screen ----------------------------------------------------------------------------
INDENT = 37  # the width of the step, status, wall and cpu columns


def row(head: str, texts: list[str]) -> list[str]:
    """``head`` then each text, wrapped to the screen under the result column."""
    out: list[str] = []
    for i, text in enumerate(texts):
        first = head if i == 0 else " " * INDENT
        out += textwrap.wrap(
            text or "-",
            WIDTH,
            initial_indent=first.ljust(INDENT),
            subsequent_indent=" " * (INDENT + 2),
            break_on_hyphens=False,
        )
    return out


def summarize(
    out: Path, work: Path | None, budget: str, wall: str, smoke: bool, device: str = "?"
) -> list[str]:
    steps = read_steps(out)
    results, why_none = read_results(out)
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_suite[r.get("suite", "")].append(r)
    spec = next((r.get("device") for r in results if r.get("device")), None)
    env = next((r.get("environment") for r in results if r.get("environment")), {}) or {}
    scratch = work or Path("/nonexistent")
    asked = device if device not in ("?", "default") else None

    title = f"accelbench device acceptance{' (smoke)' if smoke else ''}: "
    name = env.get("device_name", "no results")
    title += f"{name} ({spec or device}), {wall} s of the {budget} s budget"
    lines = textwrap.wrap(title, WIDTH, subsequent_indent="  ")
    if env:
        runtime = (env.get("accelerator_runtime") or {}).items()
        rt = ", ".join(f"{k} {v}" for k, v in runtime if k != "torch")
        stack = (
            f"torch {env.get('torch')}{', ' + rt if rt else ''}, driver "
            f"{env.get('driver_version') or '-'}, python {env.get('python')}, accelbench "
            f"{env.get('accelbench_version')} ({(env.get('git_revision') or '-')[:10]}), "
            f"host {env.get('host')}"
        )
        lines += textwrap.wrap(stack, WIDTH, subsequent_indent="  ")
    lines += ["", f"{'step':<11} {'status':<8} {'wall':>7} {'cpu':>7}  result"]

    for s in steps:
        name, status, note = s.get("step") or "?", s.get("status") or "?", s.get("note") or ""
        try:
            if status == "skipped" and note and name not in ("energy", "hw-tests"):
                detail = [note]  # why it did not run
            else:
                detail = step_detail(name, note, out, scratch, spec or asked, results, by_suite)
        except Exception as exc:  # one odd record must not cost the rest of the screen
            detail = [f"(summary could not read this step: {type(exc).__name__}: {exc})"]
        if status not in ("ok", "skipped"):
            detail += [f"! {w}" for w in last_words(out / "acceptance.log", name)]
        wall, cpu = (
            f"{s[k]}s" if s.get(k) not in (None, "", "-") else "-" for k in ("seconds", "cpu_s")
        )
        lines += row(f"{name:<11} {status:<8} {wall:>7} {cpu:>7}  ", detail or [""])

    lines.append("")
    if results:
        bad = [r for r in results if r["status"] not in ("ok", "unsupported")]
        lines += row("results", [counts(results).replace(" cases", "")])
        seen = set()
        for r in bad:
            msg = (r.get("message") or "").splitlines()[0] if r.get("message") else ""
            key = (r["status"], r["workload"], msg[:60])
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > 4:
                lines += row("", ["... and more: accelbench results list --status error"])
                break
            lines += row("", [f"{r['status']} {r['workload']}: {msg}"[:200]])
    else:
        lines += row("results", [why_none or "none"])
    files = sorted(p for p in out.iterdir() if p.is_file())
    n_files = len(files) + (0 if (out / "summary.txt").exists() else 1)  # this summary
    largest = max(files, key=lambda p: p.stat().st_size, default=None)
    fits = n_files <= MAX_FILES and all(p.stat().st_size <= MAX_FILE_BYTES for p in files)
    big = f", largest {largest.name} {fmt_bytes(largest.stat().st_size)}" if largest else ""
    lines += row(
        "files",
        [
            f"{n_files} (at most {MAX_FILES}){big} (at most 16 MiB): "
            + ("fits" if fits else "DOES NOT FIT")
        ],
    )
    c = Counter(s.get("status") or "?" for s in steps)
    verdict = ", ".join(f"{n} {st}" for st, n in sorted(c.items(), key=lambda x: -x[1]))
    lines += row("steps", [f"{len(steps)}: {verdict}"])
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="the run's output folder")
    ap.add_argument("--work", type=Path, default=None, help="the run's scratch folder")
    ap.add_argument("--budget", default="?", help="the run's overall budget in seconds")
    ap.add_argument("--wall", default="?", help="the run's wall time so far in seconds")
    ap.add_argument("--smoke", default="0", help="1 for a smoke run")
    ap.add_argument("--device", default="?", help="the device the run was asked for")
    args = ap.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: --out {args.out}: no such folder", file=sys.stderr)
        return 2
    lines = summarize(args.out, args.work, args.budget, args.wall, args.smoke == "1", args.device)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
