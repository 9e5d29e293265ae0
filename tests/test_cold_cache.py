"""Cold-cache timing: the last-level cache is evicted before every timed iteration, outside
the timed region; both modes are stored apart, resumed apart, compared apart and reported side
by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from accelbench.analysis.cache import cache_mode, warm_cold_pairs
from accelbench.analysis.compare import newest_per_configuration
from accelbench.analysis.groups import RunGroup
from accelbench.analysis.platforms import platform_of
from accelbench.api import run_suite, validate_suite
from accelbench.api.runner import _same
from accelbench.devices.base import CacheFlush
from accelbench.devices.cpu import CpuDevice, host_last_level_cache
from accelbench.devices.fake import FakeDevice
from accelbench.errors import Unsupported
from accelbench.results.store import Store
from accelbench.timing.protocol import COLD_POWER, MeasureSettings, measure


class Work:
    """Timed work of a known device duration on the fake's simulated clock."""

    def __init__(self, dev: FakeDevice, seconds: float) -> None:
        self.dev, self.seconds, self.calls = dev, seconds, 0

    def __call__(self) -> None:
        self.calls += 1
        self.dev.advance(self.seconds)


@pytest.mark.parametrize("mode", ["fixed", "adaptive"])
def test_the_flush_stays_out_of_the_samples(mode: str) -> None:
    """A flush costs 0.5 s of device time, the work 1 ms: every cold sample is exactly 1 ms,
    so no flush was inside a timed region, and there was one flush per timed iteration."""
    dev = FakeDevice(flush_cost_s=0.5, llc_bytes=4096)
    work = Work(dev, 1e-3)
    s = MeasureSettings(warmup=2, iterations=5, cache="cold", mode=mode, max_iterations=5)
    m = measure(work, dev, s)
    assert m.samples_s == pytest.approx([1e-3] * 5, abs=1e-12)
    assert dev.flushes == 5 and work.calls == 2 + 5  # warm-up iterations are not flushed
    assert dev.clock == pytest.approx(7 * 1e-3 + 5 * 0.5)  # the flushes did run, untimed
    assert (m.cache, m.flush_bytes) == ("cold", 2 * 4096)
    assert m.flush_source == "the fake device's llc_bytes"

    warm_dev = FakeDevice(flush_cost_s=0.5, llc_bytes=4096)
    warm = measure(Work(warm_dev, 1e-3), warm_dev, MeasureSettings(warmup=2, iterations=5))
    assert warm_dev.flushes == 0 and warm.cache == "warm" and warm.flush_bytes is None


def test_each_flush_comes_right_before_its_iterations_start() -> None:
    log: list[str] = []

    class Logging(FakeDevice):
        def new_timer(self) -> Any:
            inner = super().new_timer()

            class T:
                def start(self) -> None:
                    log.append("start")
                    inner.start()

                def stop(self) -> None:
                    inner.stop()
                    log.append("stop")

                def seconds(self) -> float:
                    return inner.seconds()

            return T()

        def _make_flush(self, cache_bytes: int, source: str) -> CacheFlush:
            real = super()._make_flush(cache_bytes, source)

            class Flush(CacheFlush):
                def __init__(self) -> None:
                    self.nbytes, self.source = real.nbytes, real.source

                def __call__(self) -> None:
                    log.append("flush")
                    real()

            return Flush()

    dev = Logging(flush_cost_s=0.1)
    measure(lambda: log.append("fn"), dev, MeasureSettings(warmup=1, iterations=3, cache="cold"))
    assert log == ["fn"] + ["flush", "start", "fn", "stop"] * 3


def test_cold_without_a_known_cache_size_is_unsupported() -> None:
    dev = FakeDevice(llc_bytes=None)
    with pytest.raises(Unsupported, match="last-level cache size"):
        measure(lambda: None, dev, MeasureSettings(iterations=2, cache="cold"))


def test_cache_setting_is_validated() -> None:
    assert MeasureSettings().cache == "warm"
    with pytest.raises(ValidationError, match="cache"):
        MeasureSettings(cache="lukewarm")


def test_the_flush_writes_through_the_cache_twice_its_size() -> None:
    flush = CacheFlush(torch.device("cpu"), 1000, "test")
    assert flush.nbytes == 2000 and flush.cache_bytes == 1000
    flush()
    flush()
    assert int(flush._buf.min()) == int(flush._buf.max()) == 2  # every byte read and written


def test_host_last_level_cache_sums_its_instances(tmp_path: Path) -> None:
    """Two CCXs of 32 MiB L3 each (cpus 0-3 and 4-7): 64 MiB; instruction caches ignored."""
    layout = {
        "index0": ("1", "Data", "32K"),
        "index1": ("1", "Instruction", "32K"),
        "index2": ("2", "Unified", "512K"),
        "index3": ("3", "Unified", "32768K"),
    }
    for cpu in range(8):
        for index, (level, kind, size) in layout.items():
            d = tmp_path / f"cpu{cpu}" / "cache" / index
            d.mkdir(parents=True)
            shared = str(cpu) if level != "3" else ("0-3" if cpu < 4 else "4-7")
            for name, text in (
                ("level", level),
                ("type", kind),
                ("size", size),
                ("shared_cpu_list", shared),
            ):
                (d / name).write_text(text + "\n")
    size, source = host_last_level_cache(tmp_path)
    assert size == 2 * 32 * 2**20 and source.startswith("L3") and "2 x" in source
    assert host_last_level_cache(tmp_path / "absent")[0] is None


def test_real_cpu_cold_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    """On this CPU: a 64x64 matmul timed cold; the flush size is twice the host LLC."""
    size, _ = host_last_level_cache()
    if size is None:
        pytest.skip("no sysfs cache description here")
    monkeypatch.setattr(CpuDevice, "last_level_cache", lambda self: (1 << 20, "test: 1 MiB"))
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    m = measure(lambda: a @ b, CpuDevice(), MeasureSettings(warmup=1, iterations=3, cache="cold"))
    assert m.cache == "cold" and m.flush_bytes == 2 << 20 and len(m.samples_s) == 3
    assert all(s > 0 for s in m.samples_s)


# -- through a run: stored, resumed, compared and reported apart -----------------------------------
def _suite() -> Any:
    gemm = {"sizes": [32], "dtypes": ["float32"]}
    return validate_suite(
        {
            "name": "cache",
            "seed": 0,
            "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
            "workloads": [
                {"name": "gemm-warm", "kind": "gemm", "params": gemm},
                {"name": "gemm-cold", "kind": "gemm", "params": gemm, "measure": {"cache": "cold"}},
            ],
        },
        "test",
    )


def test_warm_and_cold_results_of_one_case_are_kept_apart(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    dev = FakeDevice(durations=[1e-3])
    run_suite(_suite(), device=dev, db=db)
    with Store(db) as st:
        warm, cold = st.query()
    assert warm.case == cold.case
    assert (cache_mode(warm), cache_mode(cold)) == ("warm", "cold")
    assert cold.description == warm.description + " cold cache"
    assert cold.config["protocol"]["cache"] == "cold"
    assert cold.config["protocol"]["flush_bytes"] == 2 * dev.llc_bytes
    assert warm.config["protocol"]["cache"] == "warm"
    assert "flush_bytes" not in warm.config["protocol"]
    # power: measured warm; cold says why not
    assert warm.metric("power_avg_w") is not None
    assert cold.metrics["power_avg_w"].unavailable == COLD_POWER

    # both survive the newest-per-configuration choice of database-wide reports and compare
    assert len(newest_per_configuration([warm, cold])) == 2
    (pair,) = warm_cold_pairs([warm, cold])
    assert pair.warm is warm and pair.cold is cold and pair.slowdown == pytest.approx(1.0)

    # a resumed run skips both: each was stored under its own settings
    report = run_suite(_suite(), device=dev, db=db)
    assert report.skipped_already_stored == 2 and not report.results


def test_settings_stored_before_the_cache_option_still_resume() -> None:
    """A result stored before `cache` existed has no such key: it was a warm measurement."""
    old = MeasureSettings().model_dump()
    del old["cache"]
    assert _same(old, MeasureSettings().model_dump())
    assert not _same(old, MeasureSettings(cache="cold").model_dump())
    assert not _same({**old, "iterations": 0}, MeasureSettings().model_dump())  # invalid: rerun


def test_operator_report_shows_both_modes_side_by_side(tmp_path: Path) -> None:
    from accelbench.report.sections.operators import _best

    db = tmp_path / "c.db"
    run_suite(_suite(), device=FakeDevice(durations=[1e-3, 3e-3]), db=db, power=False)
    with Store(db) as st:
        results = st.query()
    sec = _best([RunGroup("r", "cache", platform_of(results[0]), results, str(db))])
    assert sec is not None
    best, pairs = sec.tables
    assert "cache" in best.columns
    assert {row[best.columns.index("cache")] for row in best.rows} == {"warm", "cold"}
    (row,) = pairs.rows
    cols = dict(zip(pairs.columns, row, strict=True))
    assert cols["case"] == "gemm 32x32x32 float32" and cols["unit"] == "GFLOP/s"
    assert cols["cold / warm time"] != "—"
