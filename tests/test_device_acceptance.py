"""benchmarks/device-acceptance.sh, run whole on the fake device in its smoke mode, so the script
that will meet a real accelerator cannot rot before it does; and its two helpers, the energy
counter check (benchmarks/energy_check.py) and the summary (benchmarks/acceptance_summary.py).

The smoke run is one module-scoped run of the real script (real subprocesses, a real wheel
install with pip, real CIFAR-10-layout JPEGs): every test of its output reads the same folder.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

from accelbench.cli import main as cli_main
from accelbench.config import load_suite
from accelbench.devices.fake import FakeDevice
from accelbench.power.fake import FakeMeter
from accelbench.workloads import WORKLOADS

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device-acceptance.sh"
SUITES = REPO / "benchmarks" / "acceptance"
STEPS = [
    "setup",
    "devices",
    "idle-power",
    "hw-tests",
    "peaks",
    "gemm",
    "energy",
    "bandwidth",
    "resnet56",
    "quick-ops",
    "report",
    "export",
    "bundle",
]
OUT_FILES = {
    "acceptance.log",
    "steps.tsv",
    "devices.json",
    "report.html",
    "results.jsonl",
    "bundle.tar.gz",
    "summary.txt",
}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _helper(name: str) -> ModuleType:
    """A benchmarks/ script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


energy_check = _helper("energy_check")
summary = _helper("acceptance_summary")


def _tiny_cifar(root: Path) -> None:
    """CIFAR-10's class-per-folder JPEG layout with 1 training and 1 test image per class."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in CLASSES:
            (root / "cifar10-jpeg" / split / c).mkdir(parents=True)
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "cifar10-jpeg" / split / c / "0000.jpg")


def _probe_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel, so the setup step's pip --target install runs for real."""
    folder.mkdir()
    path = folder / "acceptance_probe-1.0-py3-none-any.whl"
    info = "acceptance_probe-1.0.dist-info"
    files = {
        "acceptance_probe.py": "VALUE = 1\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: acceptance-probe\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in {**files, f"{info}/RECORD": record}.items():
            z.writestr(n, text)
    return folder


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp)}
    env["ACCELBENCH_CACHE_DIR"] = str(tmp / "cache")
    for var in ("OUT", "ACCELBENCH_DATA_DIR", "ACCELBENCH_WHEELS"):
        env.pop(var, None)
    return env


def _script(*args: str, tmp: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(tmp),
        cwd=tmp,
    )


def _steps(out: Path) -> dict[str, dict[str, str]]:
    with (out / "steps.tsv").open(newline="") as f:
        return {row["step"]: row for row in csv.DictReader(f, delimiter="\t")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    tmp = tmp_path_factory.mktemp("acceptance")
    _tiny_cifar(tmp / "data")
    wheels = _probe_wheel(tmp / "wheels")
    out = tmp / "out"
    run = _script(
        "--device",
        "fake",
        "--smoke",
        "--data-dir",
        str(tmp / "data"),
        "--wheels",
        str(wheels),
        str(out),
        tmp=tmp,
        timeout=1900,
    )
    return run, out


# -- the smoke run ---------------------------------------------------------------------------------
def test_smoke_run_succeeds_and_prints_the_summary_last(smoke) -> None:
    run, out = smoke
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = (out / "summary.txt").read_text()
    assert run.stdout.rstrip().endswith(text.rstrip())
    assert len(text.splitlines()) <= 50  # one screen
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "13: 12 ok, 1 skipped" in text
    assert "fits" in text and "DOES NOT FIT" not in text


def test_smoke_output_folder_fits_the_limits(smoke) -> None:
    _, out = smoke
    entries = list(out.iterdir())
    assert {p.name for p in entries} == OUT_FILES
    assert len(entries) <= 8
    assert all(p.is_file() and p.stat().st_size <= 16 << 20 for p in entries)


def test_smoke_steps_each_recorded_with_status_time_and_budget(smoke) -> None:
    _, out = smoke
    steps = _steps(out)
    assert list(steps) == STEPS
    for name, row in steps.items():
        expected = "skipped" if name == "hw-tests" else "ok"
        assert row["status"] == expected, (name, row)
        assert float(row["seconds"]) >= 0 and float(row["cpu_s"]) >= 0
        assert int(row["budget_s"]) >= 300  # smoke budgets allow for a loaded test machine
    # The fake is no accelerator: the hw tier ran and skipped itself, saying why.
    assert "2 skipped" in steps["hw-tests"]["note"]
    assert "no accelerator present" in steps["hw-tests"]["note"]
    assert "from 1 wheels in" in steps["setup"]["note"]
    assert "counter 100.0 W, sampled 100.0 W" in steps["energy"]["note"]


def test_smoke_log_has_every_step_and_command(smoke) -> None:
    _, out = smoke
    log = (out / "acceptance.log").read_text()
    for name in STEPS:
        assert f"step {name} (budget" in log
        assert f"step {name}: " in log
    assert "pip install --quiet --disable-pip-version-check --no-index --no-deps" in log
    assert "benchmarks/acceptance/smoke-resnet56.yaml --device fake" in log
    assert "-m pytest -m hw tests/hw" in log
    assert log.rstrip().endswith((out / "summary.txt").read_text().rstrip())


def test_smoke_export_imports_into_a_fresh_store(smoke, tmp_path, capsys) -> None:
    _, out = smoke
    lines = (out / "results.jsonl").read_text().splitlines()
    db = tmp_path / "imported.db"
    assert (
        cli_main(["results", "import", str(out / "results.jsonl"), "--db", str(db), "--json"]) == 0
    )
    (report,) = json.loads(capsys.readouterr().out)
    assert report["added"] == len(lines) > 0
    records = [json.loads(line) for line in lines]
    assert {r["suite"] for r in records} == {
        "idle-power",
        "peaks",
        "acceptance-gemm",
        "acceptance-bandwidth",
        "acceptance-resnet56",
        "quick-ops",
    }
    assert {r["status"] for r in records} <= {"ok", "unsupported"}
    assert all(r["device"] == "fake:0" for r in records)
    (resnet,) = [r for r in records if r["suite"] == "acceptance-resnet56"]
    # The real-data path, not synthetic: the tiny JPEG folder given with --data-dir.
    assert resnet["config"]["data"]["path"].endswith("cifar10-jpeg")
    assert resnet["config"]["reached_threshold"] is False


def test_smoke_summary_shows_what_each_step_measured(smoke) -> None:
    _, out = smoke
    text = (out / "summary.txt").read_text()
    flat = " ".join(text.split())  # undo the wrapping
    assert "Fake Accelerator X1 (fake:0)" in flat
    assert "idle-power ok" in flat and "100.0 W over 1.0 s" in flat
    assert "compute bfloat16:" in flat and "of datasheet 100.0 TFLOP/s" in flat
    assert "compute tfloat32: the fake device was configured without tfloat32" in flat
    assert "fake counter 100.0 W vs sampled 100.0 W" in flat
    assert "best GB/s (bytes once): h2d pinned" in flat
    assert "threshold NOT reached: best" in flat
    assert "quick-ops ok" in flat
    assert "results.jsonl" in flat and "(accelbench results import reads it)" in flat


def test_smoke_bundle_holds_the_store_and_the_step_files(smoke) -> None:
    _, out = smoke
    with tarfile.open(out / "bundle.tar.gz") as t:
        names = set(t.getnames())
        energy = json.load(t.extractfile("energy.json"))  # type: ignore[arg-type]
        peaks = json.load(t.extractfile("peaks.json"))  # type: ignore[arg-type]
    assert {"accelbench.db", "energy.json", "peaks.json", "hw-junit.xml", "setup.txt"} <= names
    assert energy["status"] == "ok" and energy["meter"]["meter"] == "fake"
    assert {r["peak"] for r in peaks["peaks"]} >= {"compute bfloat16", "memory bandwidth"}
    devices = json.loads((out / "devices.json").read_text())
    assert any(d["kind"] == "cpu" for d in devices["devices"])


# -- failures, deadlines and bad input -------------------------------------------------------------
def test_a_failing_step_is_recorded_and_the_rest_still_run(tmp_path) -> None:
    out = tmp_path / "out"
    run = _script(
        "--device", "nosuch", "--smoke", "--only", "idle-power,bundle", str(out), tmp=tmp_path
    )
    assert run.returncode == 1
    steps = _steps(out)
    assert list(steps) == ["idle-power", "bundle"]
    assert steps["idle-power"]["status"] == "failed" and steps["idle-power"]["rc"] == "2"
    assert steps["bundle"]["status"] == "skipped"  # ran after the failure: nothing to bundle
    text = (out / "summary.txt").read_text()
    # The failed step's last words (accelbench's one-line error) are on the summary.
    assert "! error:" in text and "nosuch" in text
    assert "no results export in the output folder" in text


def test_a_signal_stops_the_step_and_keeps_the_log(tmp_path) -> None:
    # What the device machine's time limit does: SIGTERM to the script mid-step. The step is
    # stopped (SIGINT forwarded, so accelbench keeps what it stored), later steps are skipped,
    # the final ones and the summary still run, and the exit status says interrupted.
    out = tmp_path / "out"
    args = ["--device", "fake", "--smoke", "--only", "idle-power,gemm,bundle", str(out)]
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    log = out / "acceptance.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and "accelbench idle-power" in log.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    steps = _steps(out)
    assert steps["idle-power"]["status"] in ("interrupted", "ok")  # it may have just finished
    assert steps["gemm"]["status"] == "skipped"
    assert steps["gemm"]["note"] == "the run was interrupted"
    assert "bundle" in steps
    assert "interrupted: skipping the remaining steps" in log.read_text()
    assert stdout.rstrip().endswith((out / "summary.txt").read_text().rstrip())


def test_a_step_past_its_budget_is_stopped_as_a_timeout(tmp_path) -> None:
    # Not smoke: the device-size peaks (8192^3 GEMMs) take far longer on this CPU than the 6 s
    # a 51 s budget leaves after the 45 s kept for the final steps.
    out = tmp_path / "out"
    run = _script(
        "--device", "fake", "--budget", "51", "--only", "peaks,bundle", str(out), tmp=tmp_path
    )
    assert run.returncode == 1
    steps = _steps(out)
    assert steps["peaks"]["status"] == "timeout" and steps["peaks"]["rc"] == "124"
    budget = int(steps["peaks"]["budget_s"])
    assert 5 <= budget <= 6  # whole seconds left of the 6 s when the step began
    assert float(steps["peaks"]["seconds"]) < budget + 10 + 5  # SIGINT, then SIGKILL 10 s later
    assert "bundle" in steps  # the run went on
    assert "(exit status 124)" in (out / "acceptance.log").read_text()


def test_steps_past_the_deadline_are_skipped_saying_so(tmp_path) -> None:
    out = tmp_path / "out"
    run = _script("--budget", "30", "--only", "gemm,bundle", "--smoke", str(out), tmp=tmp_path)
    assert run.returncode == 0
    steps = _steps(out)
    assert steps["gemm"]["status"] == "skipped"
    assert "no time left in the 30 s budget" in steps["gemm"]["note"]
    assert steps["bundle"]["status"] == "skipped"  # final steps still run (nothing to bundle)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no output folder"),
        (["--budget", "soon", "OUT"], "--budget soon: expected a positive whole number"),
        (["--only", "gemm,warp", "OUT"], "--only warp: no such step"),
        (["--frobnicate", "OUT"], "--frobnicate: unknown option"),
        (["--python", "/no/such/python", "OUT"], "--python /no/such/python: no such interpreter"),
        (["NONEMPTY"], "NONEMPTY: output folder exists and is not empty"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, message) -> None:
    (tmp_path / "NONEMPTY").mkdir()
    (tmp_path / "NONEMPTY" / "old.log").write_text("x")
    run = _script(*args, tmp=tmp_path)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: ") and message in line
    assert not (tmp_path / "OUT").exists() or not any((tmp_path / "OUT").iterdir())


def test_help_describes_every_step() -> None:
    text = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True).stdout
    for name in STEPS:
        assert f"  {name} " in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_script_is_shellcheck_clean() -> None:
    run = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


# -- the suites ------------------------------------------------------------------------------------
def _cases(path: Path) -> list[tuple[str, dict[str, Any]]]:
    suite = load_suite(str(path))
    return [
        (w.kind, c)
        for w in suite.workloads
        for c in WORKLOADS.get(w.kind).from_dict(w.params).cases()
    ]


def test_device_suites_sweep_what_the_issue_asks() -> None:
    gemm = _cases(SUITES / "gemm.yaml")
    assert {c["m"] for _, c in gemm} == {1024, 2048, 4096, 8192}
    assert {c["dtype"] for _, c in gemm} == {"float32", "tfloat32", "bfloat16", "float16"}
    assert len(gemm) == 16
    bw = _cases(SUITES / "bandwidth.yaml")
    sizes = sorted({c["bytes"] for _, c in bw})
    assert sizes[0] == 4 << 10 and sizes[-1] == 1 << 30
    assert all(b == 4 * a for a, b in itertools.pairwise(sizes))
    kinds = {(c["direction"], c.get("host_memory")) for _, c in bw}
    assert kinds == {
        ("h2d", "pinned"),
        ("h2d", "pageable"),
        ("d2h", "pinned"),
        ("d2h", "pageable"),
        ("d2d", None),
    }
    ((kind, case),) = _cases(SUITES / "resnet56.yaml")
    suite = load_suite(str(SUITES / "resnet56.yaml"))
    params = WORKLOADS.get(kind).from_dict(suite.workloads[0].params).params
    assert kind == "resnet56-cifar10" and params.threshold == 90.0 and params.data == "real"
    assert case["precision"] == "amp-bf16" and case["execution"] == "eager"


@pytest.mark.parametrize("name", ["gemm", "bandwidth", "resnet56"])
def test_smoke_suites_mirror_the_device_suites(name) -> None:
    real, smoke = (
        load_suite(str(SUITES / f"{name}.yaml")),
        load_suite(str(SUITES / f"smoke-{name}.yaml")),
    )
    assert smoke.name == real.name  # the summary finds both by the same suite name
    assert [w.kind for w in smoke.workloads] == [w.kind for w in real.workloads]
    real_keys = {tuple(sorted(c)) for _, c in _cases(SUITES / f"{name}.yaml")}
    assert {tuple(sorted(c)) for _, c in _cases(SUITES / f"smoke-{name}.yaml")} == real_keys


def test_smoke_ops_is_a_small_quick_ops() -> None:
    quick = load_suite("quick-ops")
    smoke_ops = load_suite(str(SUITES / "smoke-ops.yaml"))
    assert smoke_ops.name == quick.name
    assert [w.kind for w in smoke_ops.workloads] == [w.kind for w in quick.workloads]


# -- energy check ----------------------------------------------------------------------------------
def test_trapezoid_integrates_samples() -> None:
    assert energy_check.trapezoid([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == 550.0
    assert energy_check.trapezoid([(0.0, 100.0)]) == 0.0


def test_energy_check_agrees_on_a_known_power_ramp() -> None:
    # 100 W rising by 200 W/s: the counter (integrated on every read) and 50 Hz samples of the
    # same ramp must agree, and both must match the ramp's own average over the window.
    meter = FakeMeter(lambda t: 100.0 + 200.0 * t, "energy")
    dev = FakeDevice(power_meter=meter)
    picked, opened = energy_check.pick_meter(dev)
    assert picked is meter and opened == [meter]
    res = energy_check.compare(dev, meter, lambda: None, seconds=0.3, warmup_s=0.05, rate_hz=50.0)
    assert res["status"] == "ok" and res["samples"] >= 5
    assert abs(res["rel_diff"]) < 0.01
    assert res["counter_energy_j"] == pytest.approx(res["sampled_energy_j"], rel=0.01)
    assert res["iterations"] > 0 and res["window_s"] >= 0.3
    assert res["counter_avg_w"] > 100.0 + 200.0 * 0.05  # the ramp had risen before the window


def test_energy_check_unavailable_without_a_counter_and_a_reading() -> None:
    power_only = FakeDevice(power_meter=FakeMeter(120.0, "power"))
    with pytest.raises(energy_check.Unavailable, match="sampled power only"):
        energy_check.pick_meter(power_only)
    no_meter = FakeDevice(power_meter="no sensor on this board")
    with pytest.raises(energy_check.Unavailable, match="no sensor on this board"):
        energy_check.pick_meter(no_meter)


def test_energy_check_main_writes_its_json(tmp_path, capsys) -> None:
    path = tmp_path / "energy.json"
    argv = ["--device", "fake", "--seconds", "0.2", "--warmup", "0", "--size", "16", "--json"]
    assert energy_check.main([*argv, str(path)]) == 0
    res = json.loads(path.read_text())
    assert res["status"] == "ok" and res["device"] == "fake" and res["size"] == 16
    assert math.isclose(res["counter_avg_w"], 100.0, rel_tol=0.01)
    assert "fake:0 fake fake board: counter 100.0 W" in capsys.readouterr().out
    assert energy_check.main(["--device", "nosuch", "--json", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# -- summary ---------------------------------------------------------------------------------------
def _record(suite: str, status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {
        "suite": suite,
        "workload": suite,
        "kind": "gemm",
        "device": "cuda:0",
        "status": status,
        "case": {"m": 8192, "dtype": "bfloat16"},
        "message": None,
        "metrics": {},
        "config": {},
        "environment": {"device_name": "Some GPU", "torch": "2.11", "host": "gpu-host"},
        **extra,
    }


def _write_out(out: Path, steps: list[list[str]], records: list[dict[str, Any]], log: str) -> None:
    out.mkdir()
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["step", "status", "rc", "seconds", "cpu_s", "budget_s", "note"])
    w.writerows(steps)
    (out / "steps.tsv").write_text(buf.getvalue())
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / "acceptance.log").write_text(log)


def test_summary_shows_failures_with_their_last_words(tmp_path) -> None:
    log = (
        "==== [1.0 s] step resnet56 (budget 200 s)\n$ python -m accelbench run x.yaml\n"
        "  [resnet56] epoch 7: loss 0.9 val 81.00%\nerror: CUDA error: an illegal memory access\n"
        "(exit status 2)\n==== [9.0 s] step resnet56: failed (rc 2) in 8.0 s\n"
    )
    records = [
        _record("acceptance-gemm", metrics={"achieved_gflops": {"value": 781_000.0}}),
        _record("quick-ops", "error", message="cuDNN error: CUDNN_STATUS_NOT_SUPPORTED\nmore"),
    ]
    _write_out(
        tmp_path / "out",
        [
            ["gemm", "ok", "0", "20.1", "9.0", "60", ""],
            ["resnet56", "failed", "2", "8.0", "7.5", "200", ""],
            ["quick-ops", "timeout", "124", "120.0", "100.2", "120", ""],
        ],
        records,
        log,
    )
    text = "\n".join(summary.summarize(tmp_path / "out", None, "465", "150.0", smoke=False))
    assert "Some GPU (cuda:0)" in text
    assert "bfloat16 781.0 TFLOP/s at 8192" in text
    assert "! [resnet56] epoch 7: loss 0.9 val 81.00%" in text
    assert "! error: CUDA error: an illegal memory access" in text
    assert "resnet56    failed" in text and "quick-ops   timeout" in text
    assert "error quick-ops: cuDNN error: CUDNN_STATUS_NOT_SUPPORTED" in text
    assert "3: 1 ok, 1 failed, 1 timeout" in text


def test_summary_says_when_the_folder_does_not_fit(tmp_path) -> None:
    _write_out(tmp_path / "out", [["setup", "ok", "0", "1.0", "0.5", "60", "x"]], [], "")
    for i in range(6):
        (tmp_path / "out" / f"extra{i}.txt").write_text("x")
    text = "\n".join(summary.summarize(tmp_path / "out", None, "465", "1.0", smoke=True))
    assert "10 (at most 8)" in text and "DOES NOT FIT" in text
    assert "(smoke)" in text


def test_summary_survives_missing_files_and_odd_records(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "steps.tsv").write_text(
        "step\tstatus\trc\tseconds\tcpu_s\tbudget_s\tnote\nresnet56\tok\t0\t1.0\n"
    )
    (out / "results.jsonl").write_text(
        json.dumps(_record("acceptance-resnet56", metrics={"best_accuracy": {"value": None}}))
        + "\n"
    )
    text = "\n".join(summary.summarize(out, None, "465", "1.0", smoke=False))
    assert "resnet56" in text  # the odd record is reported, not a crash
    assert summary.main(["--out", str(tmp_path / "missing")]) == 2
