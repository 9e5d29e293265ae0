"""Sweeps survive failures and interruptions: a failing case becomes a stored result, an
interrupted or killed sweep resumes where it stopped, losing nothing and duplicating nothing."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from helpers import cli_popen, cli_subprocess, db_count, suite_data, tiny_suite, write_suite

from accelbench.api import run_suite, validate_suite
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Result, Status
from accelbench.results.store import Store
from accelbench.workloads.gemm import Gemm

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


class Recorder:
    """A reporter that remembers what it was told."""

    def __init__(self) -> None:
        self.started: tuple[str, int, int] | None = None
        self.descriptions: list[str] = []
        self.finished: list[Result] = []
        self.closed = False

    def start(self, run_id: str, total: int, already_done: int) -> None:
        self.started = (run_id, total, already_done)

    def case_started(self, description: str) -> None:
        self.descriptions.append(description)

    def case_finished(self, result: Result) -> None:
        self.finished.append(result)

    def finish(self) -> None:
        self.closed = True


def stored(db: Path) -> list[Result]:
    with Store(db) as st:
        return st.query()


def assert_no_duplicate_ok(results: list[Result]) -> None:
    keys = Counter((r.workload, r.case_key) for r in results if r.status is Status.OK)
    assert keys and max(keys.values()) == 1, keys


# -- failures are results, and the sweep goes on ---------------------------------------------------
def test_oom_mid_sweep_is_a_result(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    rec = Recorder()
    dev = FakeDevice(memory_bytes=8 * MiB)
    report = run_suite(tiny_suite([16, 2048, 32]), device=dev, db=db, reporter=rec)
    statuses = [r.status for r in report.results]
    assert statuses == [Status.OK, Status.OOM, Status.OK]
    oom = report.results[1]
    assert oom.case["m"] == 2048
    assert "out of memory" in oom.message.lower()
    assert oom.metrics == {} and oom.samples == [] and oom.summary is None
    assert report.results[2].metrics["achieved_gflops"].value > 0  # the sweep went on, and worked
    assert [r.status for r in stored(db)] == statuses
    assert rec.closed and len(rec.finished) == 3
    with Store(db) as st:
        assert {r.run_id: r.state for r in st.runs()}[report.run_id] == "complete"


def test_unsupported_dtype_is_a_result_with_the_reason(tmp_path: Path) -> None:
    dev = FakeDevice(dtypes=["float32"])
    report = run_suite(
        tiny_suite([16, 32], ["float32", "float16"]), device=dev, db=tmp_path / "r.db"
    )
    by_dtype = {}
    for r in report.results:
        by_dtype.setdefault(r.case["dtype"], []).append(r)
    assert [r.status for r in by_dtype["float32"]] == [Status.OK, Status.OK]
    assert [r.status for r in by_dtype["float16"]] == [Status.UNSUPPORTED] * 2
    for r in by_dtype["float16"]:
        assert "float16" in r.message and "without" in r.message
        assert r.samples == []
    assert len(stored(tmp_path / "r.db")) == 4


def test_exception_in_a_workload_is_an_error_result(tmp_path: Path, monkeypatch) -> None:
    real = Gemm.run_case

    def flaky(self, case, ctx):
        if case["m"] == 32:
            raise RuntimeError("kernel exploded\nsecond line of detail")
        return real(self, case, ctx)

    monkeypatch.setattr(Gemm, "run_case", flaky)
    report = run_suite(tiny_suite([16, 32, 8]), device=FakeDevice(), db=tmp_path / "r.db")
    assert [r.status for r in report.results] == [Status.OK, Status.ERROR, Status.OK]
    err = report.results[1]
    assert err.message == "RuntimeError: kernel exploded"  # one line
    assert "kernel exploded" in err.config["traceback"]
    assert len(stored(tmp_path / "r.db")) == 3


def test_error_from_the_device_mid_measurement(tmp_path: Path) -> None:
    rec = Recorder()

    def fail() -> BaseException | None:
        # fail while the second case is being measured
        return RuntimeError("device lost") if len(rec.descriptions) == 2 else None

    dev = FakeDevice(fail_when=fail)
    report = run_suite(tiny_suite([16, 32, 8]), device=dev, db=tmp_path / "r.db", reporter=rec)
    assert [r.status for r in report.results] == [Status.OK, Status.ERROR, Status.OK]
    assert "device lost" in report.results[1].message


# -- resume in process ----------------------------------------------------------------------------
def test_rerun_skips_what_is_stored_and_no_resume_measures_again(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = tiny_suite([16, 32, 8])
    first = run_suite(suite, device=FakeDevice(), db=db)
    assert len(first.results) == 3 and first.skipped_already_stored == 0 and not first.resumed

    rec = Recorder()
    again = run_suite(suite, device=FakeDevice(), db=db, reporter=rec)
    assert again.results == [] and again.skipped_already_stored == 3
    assert rec.started is not None and rec.started[1:] == (3, 3)
    assert len(stored(db)) == 3

    fresh = run_suite(suite, device=FakeDevice(), db=db, resume=False)
    assert len(fresh.results) == 3 and fresh.skipped_already_stored == 0
    assert fresh.run_id != first.run_id
    assert len(stored(db)) == 6


def test_rerun_retries_failed_cases_only(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = tiny_suite([16, 2048, 32])
    first = run_suite(suite, device=FakeDevice(memory_bytes=8 * MiB), db=db)
    assert [r.status.value for r in first.results] == ["ok", "oom", "ok"]
    second = run_suite(suite, device=FakeDevice(memory_bytes=256 * MiB), db=db)
    assert second.skipped_already_stored == 2
    assert [(r.case["m"], r.status.value) for r in second.results] == [(2048, "ok")]
    assert_no_duplicate_ok(stored(db))


def test_resume_is_per_thread_count(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = tiny_suite([8])
    run_suite(suite, device=FakeDevice(), db=db, threads=1)
    other = run_suite(suite, device=FakeDevice(), db=db, threads=2)
    assert other.skipped_already_stored == 0 and len(other.results) == 1
    assert other.results[0].environment.threads == 2
    assert run_suite(suite, device=FakeDevice(), db=db, threads=1).skipped_already_stored == 1


def test_keyboard_interrupt_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = tiny_suite([16, 32, 8, 24, 12])
    rec = Recorder()

    def interrupt() -> BaseException | None:
        return KeyboardInterrupt() if len(rec.finished) == 2 else None

    report = run_suite(suite, device=FakeDevice(fail_when=interrupt), db=db, reporter=rec)
    assert report.interrupted
    assert len(report.results) == 2 and rec.closed
    assert len(stored(db)) == 2  # the case in flight was not stored
    with Store(db) as st:
        assert {r.run_id: r.state for r in st.runs()}[report.run_id] == "interrupted"

    rec2 = Recorder()
    resumed = run_suite(suite, device=FakeDevice(), db=db, reporter=rec2)
    assert resumed.resumed and resumed.run_id == report.run_id
    assert resumed.skipped_already_stored == 2 and len(resumed.results) == 3
    assert rec2.started == (report.run_id, 5, 2)
    everything = stored(db)
    assert len(everything) == 5 and {r.run_id for r in everything} == {report.run_id}
    assert sorted(r.case["m"] for r in everything) == [8, 12, 16, 24, 32]
    assert_no_duplicate_ok(everything)
    with Store(db) as st:
        assert {r.run_id: r.state for r in st.runs()}[report.run_id] == "complete"


# -- a real process, killed ------------------------------------------------------------------------
SLOW_SIZES = [192 + i for i in range(10)]


def slow_suite(tmp_path: Path) -> Path:
    # Each case: a few hundred 200^3 float32 products on one thread, ~0.1-0.4 s on a laptop core.
    data = suite_data(
        SLOW_SIZES,
        ["float32"],
        name="killme",
        measure={"mode": "fixed", "warmup": 2, "iterations": 600},
    )
    return write_suite(tmp_path / "killme.yaml", data)


def wait_for_results(db: Path, proc, at_least: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = db_count(db)
        if n >= at_least:
            return n
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended before it could be stopped (rc {proc.returncode}): {err}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no results appeared in time")


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    suite, db = slow_suite(tmp_path), tmp_path / "kill.db"
    args = ("run", str(suite), "--device", "fake", "--db", str(db), "--threads", "1")
    proc = cli_popen(*args, "--json")
    wait_for_results(db, proc, at_least=2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = stored(db)
    n_before = len(before)
    assert 2 <= n_before < len(SLOW_SIZES), "the run finished before it was killed"
    assert {r.status for r in before} == {Status.OK}
    with Store(db) as st:
        (run,) = st.runs()
        assert run.state == "interrupted"  # killed: its process is gone
        assert st._con.execute("SELECT state FROM runs").fetchone()[0] == "running"

    done = cli_subprocess(*args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["run_id"] == run.run_id  # it resumed the killed run
    after = stored(db)
    assert len(after) == len(SLOW_SIZES)
    assert {r.result_id for r in before} <= {r.result_id for r in after}
    assert sorted(r.case["m"] for r in after) == SLOW_SIZES
    assert_no_duplicate_ok(after)
    # The case in flight when the process died is stored as an error (it may be the case
    # that killed it) and the sweep moves on; every other case is measured once. (The kill
    # can also land between two cases, a few milliseconds of a case's hundreds: then none.)
    died = [r for r in after if r.status is not Status.OK]
    assert len(died) <= 1
    assert report["skipped_already_stored"] == n_before + len(died)
    assert len(report["results"]) == len(SLOW_SIZES) - n_before
    for r in died:
        assert r.status is Status.ERROR and r.case["m"] == SLOW_SIZES[n_before]
        assert r.message.startswith("process died during this case")
        assert "process died during this case" in done.stderr
    with Store(db) as st:
        assert [r.state for r in st.runs()] == ["complete"]


def test_sigint_stops_with_a_message_and_marks_the_run(tmp_path: Path) -> None:
    suite, db = slow_suite(tmp_path), tmp_path / "int.db"
    proc = cli_popen("run", str(suite), "--device", "fake", "--db", str(db), "--threads", "1")
    wait_for_results(db, proc, at_least=1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "run the same command again to resume" in err
    n = db_count(db)
    assert 1 <= n < len(SLOW_SIZES)
    with Store(db) as st:
        (run,) = st.runs()
        assert run.state == "interrupted" and run.n_results == n


def test_rerun_with_nothing_to_do_adds_no_run(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = tiny_suite([8, 16])
    run_suite(suite, device=FakeDevice(), db=db)
    for _ in range(2):
        again = run_suite(suite, device=FakeDevice(), db=db)
        assert again.results == [] and again.skipped_already_stored == 2
    with Store(db) as st:
        assert [r.state for r in st.runs()] == ["complete"]


# -- what counts as done -------------------------------------------------------------------------
def test_resumed_run_never_stores_a_case_twice(tmp_path: Path) -> None:
    """Unsupported and oom outcomes in the interrupted run are not measured again in it."""
    db = tmp_path / "r.db"
    suite = tiny_suite([16, 2048, 32], ["float16", "float32"])
    rec = Recorder()

    def interrupt() -> BaseException | None:
        return KeyboardInterrupt() if len(rec.finished) == 5 else None

    dev = FakeDevice(memory_bytes=8 * MiB, dtypes=["float32"], fail_when=interrupt)
    first = run_suite(suite, device=dev, db=db, reporter=rec)
    assert first.interrupted
    statuses = [r.status.value for r in first.results]
    assert statuses == ["unsupported"] * 3 + ["ok", "oom"]
    resumed = run_suite(suite, device=FakeDevice(memory_bytes=8 * MiB, dtypes=["float32"]), db=db)
    assert resumed.run_id == first.run_id and resumed.skipped_already_stored == 5
    assert [(r.case["m"], r.status.value) for r in resumed.results] == [(32, "ok")]
    in_run = Counter((r.workload, r.case_key) for r in stored(db))
    assert len(in_run) == 6 and max(in_run.values()) == 1


def test_unsupported_is_final_but_oom_is_retried_by_the_next_run(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = tiny_suite([16, 2048], ["float32", "float16"])
    make = lambda: FakeDevice(memory_bytes=8 * MiB, dtypes=["float32"])  # noqa: E731
    run_suite(suite, device=make(), db=db)
    again = run_suite(suite, device=make(), db=db)
    assert [(r.case["m"], r.case["dtype"], r.status.value) for r in again.results] == [
        (2048, "float32", "oom")
    ]
    assert again.skipped_already_stored == 3


def test_changed_measurement_settings_are_measured_again(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_suite(tiny_suite([8, 16]), device=FakeDevice(), db=db)
    other = tiny_suite([8, 16], measure={"mode": "fixed", "warmup": 0, "iterations": 7})
    report = run_suite(other, device=FakeDevice(), db=db)
    assert report.skipped_already_stored == 0 and len(report.results) == 2
    assert all(r.summary is not None and r.summary.n == 7 for r in report.results)


def test_imported_results_do_not_count_as_measured_here(tmp_path: Path) -> None:
    """A merged result from another machine with the same host name is not skipped."""
    other_db, db = tmp_path / "other.db", tmp_path / "mine.db"
    suite = tiny_suite([8])
    theirs = run_suite(suite, device=FakeDevice(), db=other_db).results
    with Store(db) as st:
        assert st.add_many(theirs) == (1, 0)
    mine = run_suite(suite, device=FakeDevice(), db=db)
    assert mine.skipped_already_stored == 0 and len(mine.results) == 1


def test_a_second_sweep_on_a_busy_device_is_refused(tmp_path: Path) -> None:
    from accelbench.api import device_lock
    from accelbench.errors import DeviceError

    db = tmp_path / "r.db"
    with device_lock("fake:0"), pytest.raises(DeviceError, match=r"busy.*pid \d+"):
        run_suite(tiny_suite([8]), device=FakeDevice(), db=db)
    assert len(stored(db)) == 0
    # Released when the holder finishes: the sweep runs now.
    assert len(run_suite(tiny_suite([8]), device=FakeDevice(), db=db).results) == 1


def test_utilisation_names_the_peak_and_its_quality(tmp_path: Path) -> None:
    """Every result reporting utilisation says which peak it used and how noisy it was; a peak
    measured under another torch version is not used."""
    db = tmp_path / "r.db"
    data = suite_data([16], ["float32"], name="peaks")
    data["workloads"].insert(
        0,
        {
            "name": "peak",
            "kind": "peak-gemm",
            "params": {"sizes": [32], "dtypes": ["float32"], "warmup_s": 0},
        },
    )
    suite = validate_suite(data, "test")
    # Scripted timings: the peak (at 32^3 and larger shapes) is above the 16^3 case, as on an
    # idle machine; a host busy while the peak ran could let the case beat it (tested apart).
    first = run_suite(suite, device=FakeDevice(durations=[1e-3]), db=db)
    peak, gemm = first.results
    used = gemm.references.measured_peak
    assert used is not None and used.result_id == peak.result_id
    assert used.cv == peak.summary.cv and used.high_spread == peak.summary.high_spread
    assert gemm.metric("utilisation_measured") == pytest.approx(
        100 * gemm.metric("achieved_gflops") / peak.metric("peak_gflops")
    )

    # A later run without a peak workload reuses the stored peak ...
    only_gemm = tiny_suite([24], ["float32"], name="peaks2")
    later = run_suite(only_gemm, device=FakeDevice(), db=db).results[0]
    assert later.references.measured_peak is not None
    assert later.references.measured_peak.result_id == peak.result_id
    # ... but not one measured with another torch build.
    with Store(db) as st:
        st._con.execute(
            "UPDATE results SET record = json_set(record, '$.environment.torch', '0.0')"
            " WHERE kind = 'peak-gemm'"
        )
    other = run_suite(tiny_suite([40], ["float32"], name="peaks3"), device=FakeDevice(), db=db)
    m = other.results[0].metrics["utilisation_measured"]
    assert m.value is None and "software stack" in (m.unavailable or "")
