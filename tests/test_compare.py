"""Comparisons you can trust: intervals on every ratio, like with like, noise and load counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from analysis_data import env, result
from test_cli import cli

from accelbench.analysis.compare import NO_DIFFERENCE, compare
from accelbench.errors import UserError
from accelbench.results.schema import HostState, Result
from accelbench.results.store import Store
from accelbench.timing.intervals import (
    BootstrapSettings,
    RatioEstimate,
    ratio_interval,
    summary_intervals,
)
from accelbench.timing.stats import summarize

FAST = BootstrapSettings(resamples=1000)
MEASURE = {"warmup": 3, "iterations": 20, "mode": "adaptive", "target_rel_ci": 0.05}


def timed(
    case: dict[str, Any],
    times: np.ndarray,
    *,
    run_id: str,
    flops: float = 1e9,
    threads: int = 2,
    kind: str = "linear",
    config: dict[str, Any] | None = None,
    busy: bool = False,
    offset_s: int = 0,
) -> Result:
    """A timed operator result whose rate is its work over the median of ``times``."""
    samples = [float(t) for t in times]
    s = summarize(samples)
    cfg = {"measure": MEASURE, "protocol": {"mode": "adaptive"}, **(config or {})}
    r = result(
        kind,
        case,
        {"achieved_gflops": flops / s.median / 1e9},
        run_id=run_id,
        threads=threads,
        config=cfg,
        offset_s=offset_s,
    )
    host = HostState(
        window_s=1.0,
        logical_cpus=2,
        other_cpus=1.5 if busy else 0.01,
        busy=busy,
        reasons=["other processes used 1.50 CPUs of 2"] if busy else [],
    )
    return r.model_copy(update={"samples": samples, "summary": s, "host": host})


def sweep(
    speedup: float,
    *,
    run_id: str,
    seed: int,
    n: int = 30,
    cv: float = 0.05,
    threads: int = 2,
    configs: int = 6,
    **kw: Any,
) -> list[Result]:
    """``configs`` linear cases whose true median time is 1 ms / ``speedup``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(configs):
        times = np.exp(rng.normal(np.log(1e-3 / speedup), cv, n))
        case = {"batch": 16 * (i + 1), "mode": "forward", "dtype": "float32"}
        out.append(timed(case, times, run_id=run_id, threads=threads, offset_s=i, **kw))
    return out


def test_a_95_percent_interval_covers_a_known_ratio_about_95_times_in_100() -> None:
    """Synthetic skewed timings with a known ratio of medians (2.0): seeded trials."""
    covered = 0
    for trial in range(100):
        rng = np.random.default_rng(trial)
        base = np.exp(rng.normal(np.log(2.0), 0.1, 20))  # median 2.0
        cand = np.exp(rng.normal(np.log(1.0), 0.2, 20))  # median 1.0
        est = ratio_interval(base, cand, settings=FAST)
        assert est.interval is not None
        covered += est.interval.contains(2.0)
    assert 88 <= covered <= 100, covered


def test_a_ratio_of_one_within_noise_is_no_measurable_difference() -> None:
    base = sweep(1.0, run_id="a", seed=1, cv=0.1)
    cand = sweep(1.0, run_id="b", seed=2, cv=0.1)
    cmp = compare(base, cand, settings=FAST)
    assert len(cmp.pairs) == 6
    assert all(p.interval is not None for p in cmp.pairs)
    assert sum(p.verdict == NO_DIFFERENCE for p in cmp.pairs) >= 5
    (s,) = cmp.summaries
    assert s.geomean_interval is not None and s.geomean_interval.contains(1.0)
    assert s.verdict == NO_DIFFERENCE and s.median_interval.contains(1.0)


def test_a_real_speed_up_is_faster_with_an_interval_around_it() -> None:
    base = sweep(1.0, run_id="a", seed=1)
    cand = sweep(2.0, run_id="b", seed=2)
    cmp = compare(base, cand, settings=FAST)
    assert all(p.verdict == "faster" for p in cmp.pairs)
    for p in cmp.pairs:
        assert p.interval.low < p.ratio < p.interval.high
        assert p.interval.contains(2.0) or abs(p.ratio - 2.0) < 0.1
    (s,) = cmp.summaries
    assert s.verdict == "faster" and s.faster == 6
    assert s.geomean_interval.low < s.geomean < s.geomean_interval.high
    assert s.geomean_interval.contains(2.0)
    # the interval is of the stored rates' ratio, scaled from the ratio of median times
    p = cmp.pairs[0]
    assert p.ratio == pytest.approx(p.candidate_value / p.base_value)


def test_intervals_are_seeded_and_say_how_they_were_made() -> None:
    base, cand = sweep(1.0, run_id="a", seed=1), sweep(1.3, run_id="b", seed=2)
    one = compare(base, cand, settings=FAST).as_dict()
    two = compare(base, cand, settings=FAST).as_dict()
    assert one["summaries"] == two["summaries"] and one["pairs"] == two["pairs"]
    assert one["intervals"] == {
        "confidence": 0.95,
        "method": "percentile bootstrap (scipy.stats.bootstrap)",
        "resamples": 1000,
        "seed": 0,
    }
    pair = one["pairs"][0]
    lo, hi = pair["interval"]
    assert lo < pair["ratio"] < hi and pair["verdict"] == "faster"
    other = compare(base, cand, settings=BootstrapSettings(resamples=1000, seed=7)).as_dict()
    assert other["pairs"][0]["interval"] != pair["interval"]


def test_summary_intervals_resample_configurations_and_samples() -> None:
    # Configurations that disagree widen the summary beyond any one ratio's own interval.
    spread = [RatioEstimate(r, None, None) for r in (0.5, 1.0, 2.0, 4.0)]
    iv = summary_intervals(spread, FAST)
    assert iv.geomean.low < 1.0 < 2.0 < iv.geomean.high
    # Identical configurations: only their sample noise is left.
    reps = np.full(1000, 1.5)
    same = [RatioEstimate(1.5, None, reps) for _ in range(4)]
    iv = summary_intervals(same, FAST)
    assert iv.geomean.low == pytest.approx(1.5) and iv.geomean.high == pytest.approx(1.5)


def test_too_few_samples_give_no_interval_and_say_why() -> None:
    base = [timed({"batch": 1}, np.array([1e-3]), run_id="a")]
    cand = [timed({"batch": 1}, np.array([5e-4, 5e-4, 6e-4]), run_id="b")]
    (p,) = compare(base, cand, settings=FAST).pairs
    assert p.interval is None and p.verdict == "no interval"
    assert "1 usable sample" in (p.interval_reason or "")


def test_mismatched_hyperparameters_are_not_paired() -> None:
    case = {"precision": "fp32", "dtype": "float32", "execution": "eager"}

    def run(batch: int, run_id: str, t: float) -> Result:
        hp = {"model": "lstm", "batch_size": batch, "lr": 0.001, "cache_dir": f"/{run_id}"}
        return result(
            "lstm-imdb",
            case,
            {"time_to_threshold_s": t},
            run_id=run_id,
            units={"time_to_threshold_s": "s"},
            config={"hyperparameters": {**hp, "case": case}, "subset": {"train": 2000}},
        )

    cmp = compare([run(16, "a", 100.0)], [run(64, "b", 50.0)], settings=FAST)
    assert not cmp.pairs and not cmp.summaries
    (p,) = cmp.mismatched
    assert [str(m) for m in p.mismatch] == ["batch_size 16 vs 64"]  # cache_dir is no setting
    allowed = compare([run(16, "a", 100.0)], [run(64, "b", 50.0)], allow_mismatch=True)
    (p,) = allowed.pairs
    assert p.ratio == pytest.approx(2.0) and p.mismatch
    assert allowed.summaries[0].mismatched == 1
    # the same hyper-parameters pair up
    assert len(compare([run(16, "a", 100.0)], [run(16, "b", 50.0)]).pairs) == 1


def test_measurement_settings_and_data_subsets_must_match() -> None:
    case = {"batch": 16, "mode": "forward", "dtype": "float32"}
    times = np.full(10, 1e-3)
    a = timed(case, times, run_id="a")
    b = timed(case, times * 0.9, run_id="b", config={"measure": {**MEASURE, "iterations": 100}})
    cmp = compare([a], [b], settings=FAST)
    (p,) = cmp.mismatched
    assert [str(m) for m in p.mismatch] == ["measure.iterations 20 vs 100"]
    diff = {d.what: (d.base, d.candidate) for d in cmp.differences}
    assert diff["measure.iterations"] == ("20", "100")
    c = timed(case, times, run_id="c", config={"subset": {"train": 1000, "eval": 500}})
    d = timed(case, times, run_id="d", config={"subset": {"train": 2000, "eval": 500}})
    (p,) = compare([c], [d], settings=FAST).mismatched
    assert [str(m) for m in p.mismatch] == ["subset.train 1000 vs 2000"]


def test_threads_are_the_point_unless_they_differ_pair_by_pair() -> None:
    base = sweep(1.0, run_id="a", seed=1, threads=1)
    cand = sweep(1.5, run_id="b", seed=2, threads=2)
    cmp = compare(base, cand, settings=FAST)
    assert len(cmp.pairs) == 6 and not cmp.mismatched  # 1 vs 2 threads is what is compared
    assert ("threads", "1", "2") in [(d.what, d.base, d.candidate) for d in cmp.differences]
    odd = cand[0].model_copy(update={"environment": env("box-a", threads=4)})
    cmp = compare(base, [odd, *cand[1:]], settings=FAST)
    (p,) = cmp.mismatched
    assert [str(m) for m in p.mismatch] == ["threads 1 vs 4"]


def test_the_head_says_what_differs_between_the_sides() -> None:
    base = sweep(1.0, run_id="a", seed=1)
    cand = [
        r.model_copy(
            update={
                "environment": r.environment.model_copy(
                    update={"torch": "2.14.0", "host": "box-b", "packages": {"numpy": "2.0"}}
                )
            }
        )
        for r in sweep(1.0, run_id="b", seed=2)
    ]
    diffs = {d.what: (d.base, d.candidate) for d in compare(base, cand).differences}
    assert diffs["torch"] == ("2.13.0+cpu", "2.14.0")
    assert diffs["host"] == ("box-a", "box-b")
    assert diffs["package numpy"] == ("(none)", "2.0")
    assert "threads" not in diffs and "device" not in diffs


def test_noisy_and_busy_pairs_are_counted_and_can_be_left_out() -> None:
    base = sweep(1.0, run_id="a", seed=1)
    loaded = sweep(0.3, run_id="b", seed=3, busy=True)  # a load made these 3x slower
    cand = sweep(1.2, run_id="b", seed=2)[:4] + loaded[4:]
    cmp = compare(base, cand, settings=FAST)
    (s,) = cmp.summaries
    assert s.n == 6 and s.busy == 2 and s.excluded_noisy == 0
    assert cmp.host_busy == (0, 2)
    kept = compare(base, cand, exclude_noisy=True, settings=FAST)
    (s,) = kept.summaries
    assert s.n == 4 and s.busy == 0 and s.excluded_noisy == 2
    assert kept.excluded == {"linear": 2}
    assert s.geomean == pytest.approx(1.2, rel=0.05)  # the load's 0.3x is gone


def runs(times: list[float], run_id: str) -> list[Result]:
    """Repeated training runs of one configuration (seeds differ by the repeat index)."""
    case = {"precision": "fp32", "dtype": "float32", "execution": "eager"}
    out = []
    for i, t in enumerate(times):
        c = {**case, "run": i} if i else dict(case)
        out.append(
            result(
                "lstm-imdb",
                c,
                {"time_to_threshold_s": t},
                run_id=run_id,
                offset_s=i,
                units={"time_to_threshold_s": "s"},
            )
        )
    return out


def test_repeated_training_runs_give_a_ratio_of_means_with_an_interval() -> None:
    base = runs([100.0, 104.0, 98.0, 101.0, 130.0], "a")
    cand = runs([50.0, 52.0, 49.0, 51.0, 48.0], "b")
    cmp = compare(base, cand, settings=FAST)
    (p,) = cmp.pairs
    assert len(p.base_runs) == 5 and len(p.candidate_runs) == 5
    assert p.ratio == pytest.approx((533 / 5) / (250 / 5))
    assert p.interval is not None and p.interval.low > 1 and p.verdict == "faster"
    # MLPerf: drop the fastest and slowest run of each side, mean of the rest
    assert p.mlperf_ratio == pytest.approx((101 + 100 + 104) / 3 / ((49 + 50 + 51) / 3))
    one = compare(base[:1], cand[:1], settings=FAST).pairs[0]
    assert one.interval is None and "repeat" in (one.interval_reason or "")


def test_a_run_compared_with_itself_is_one_clear_line(tmp_path: Path, capsys) -> None:
    db = tmp_path / "c.db"
    with Store(db) as st:
        for r in sweep(1.0, run_id="run-self", seed=1):
            st.add(r)
    code, _, err = cli(capsys, "compare", "run-self", "run-self", "--db", str(db))
    assert code == 2 and "the same run" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="the same 6 results"):
        rs = sweep(1.0, run_id="x", seed=1)
        compare(rs, list(rs))


def test_compare_cli_shows_intervals_and_fits_80_columns(tmp_path: Path, capsys) -> None:
    db = tmp_path / "c.db"
    with Store(db) as st:
        for r in sweep(1.0, run_id="run-a", seed=1, threads=1):
            st.add(r)
        for r in sweep(1.0, run_id="run-b", seed=2, threads=2, busy=True):
            st.add(r)
    code, out, _ = cli(capsys, "compare", "run-a", "run-b", "--db", str(db), "--resamples", "500")
    assert code == 0, out
    assert "differs:   threads: 1 vs 2" in out
    assert "95% percentile bootstrap, 500 resamples, seed 0" in out
    assert "no measurable" in out and "[" in out
    assert "host busy: 0 base and 6 candidate results" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = cli(capsys, "compare", "run-a", "run-b", "--db", str(db), "--exclude-noisy")
    assert code == 0 and "left out as noisy or busy (--exclude-noisy): linear 6" in out
    code, _, err = cli(capsys, "compare", "run-a", "run-b", "--db", str(db), "--resamples", "5")
    assert code == 2 and "--resamples 5" in err


def test_compare_cli_shows_repeated_runs_with_the_mlperf_rule(tmp_path: Path, capsys) -> None:
    db = tmp_path / "t.db"
    with Store(db) as st:
        st.add_many(runs([100.0, 104.0, 98.0, 101.0, 130.0], "run-a"))
        st.add_many(runs([50.0, 52.0, 49.0, 51.0, 48.0], "run-b"))
    code, out, _ = cli(capsys, "compare", "run-a", "run-b", "--db", str(db), "--top", "0")
    assert code == 0, out
    assert "repeated training runs" in out and "5/5" in out and "MLPerf rule" in out
    assert "2.03" in out  # (101 + 100 + 104) / 3 over (49 + 50 + 51) / 3
    md = tmp_path / "c.md"
    code, _, _ = cli(capsys, "compare", "run-a", "run-b", "--db", str(db), "-o", str(md))
    assert code == 0 and "(5/5 runs; MLPerf rule: 2.03)" in md.read_text()
