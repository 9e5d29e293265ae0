"""Two platforms or runs on the same configurations: per-configuration speed-ups you can trust.

Configurations are matched by workload kind and case parameters (not by workload name, so the
same shapes from two suites still pair up). The ratio is always "candidate over base" in the
direction where larger is better: throughput_candidate / throughput_base, or
time_base / time_candidate for metrics where lower is better.

What makes a ratio believable, and what this module adds to it:

- **An interval.** Every ratio carries a 95% interval from the raw samples of both sides
  (:mod:`accelbench.timing.intervals`: a seeded percentile bootstrap of the ratio of median
  times; for repeated training runs, of the ratio of mean times to threshold). A ratio whose
  interval holds 1 is "no measurable difference". Per-kind summaries (geometric mean, median)
  carry intervals that resample both the configurations and each one's samples.
- **Like with like.** A pair is only comparable when everything that changes the answer
  matches, except what the comparison is about: training hyper-parameters, measurement
  settings, data source and subset, and the thread count where the two sides do not differ
  in it as a whole. Mismatched pairs are listed apart and left out of the summaries unless
  asked (``allow_mismatch``). The head of the comparison lists what differs between the sides.
- **Noise and load are counted.** Pairs where either side was noisy (IQR above 10% of the
  median) or measured on a busy host are counted in every summary, and ``exclude_noisy``
  leaves them out.
- **Repeated runs.** Training runs of one configuration that differ only in their repeat
  index form one pair: the ratio of mean times to threshold with its interval, and MLPerf's
  rule (drop the fastest and slowest, mean of the rest) alongside.

Configurations that ran on one side and failed on the other are listed, not dropped. Comparing
a set of results with itself is an error: every ratio would be 1 by construction.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from accelbench.analysis.cache import cache_mode
from accelbench.analysis.metrics import PrimaryMetric, primary_metric
from accelbench.errors import UserError
from accelbench.results.schema import Result, Status, case_key
from accelbench.timing.intervals import (
    BootstrapSettings,
    Interval,
    RatioEstimate,
    ratio_interval,
    summary_intervals,
)

NO_DIFFERENCE = "no measurable difference"
# Parameters that never change a measurement: where the data cache lives, how many repeats
# there are (each repeat is its own pair member), the price of the machine.
IGNORED_PARAMS = frozenset({"case", "cache_dir", "repeats", "price_per_hour"})
# Keys of a training run's data description that name places or the cache's state, not the
# data: a path differs between machines, and the first run on a machine builds the cache.
DATA_IGNORED_KEYS = frozenset({"source", "path", "cache", "cache_dir", "cache_hit", "dir", "file"})
# Protocol modes whose samples are the timed iterations the rate is computed from.
TIMED_MODES = frozenset({"fixed", "adaptive"})


def verdict(ratio: float, interval: Interval | None) -> str:
    """'faster', 'slower' or 'no measurable difference' (the interval holds 1); 'no interval'
    where there is none to judge by."""
    if interval is None:
        return "no interval"
    if interval.contains(1.0):
        return NO_DIFFERENCE
    return "faster" if ratio > 1 else "slower"


@dataclass(frozen=True)
class Pair:
    kind: str
    workload: str
    case: dict[str, Any]
    base: Result
    candidate: Result
    metric: PrimaryMetric
    base_value: float
    candidate_value: float
    estimate: RatioEstimate | None = None
    """The ratio's interval and bootstrap replicates (None: built without one)."""
    base_runs: tuple[Result, ...] = ()
    """Repeated training runs of this configuration on the base side (empty: one result)."""
    candidate_runs: tuple[Result, ...] = ()
    mlperf_ratio: float | None = None
    """Ratio of MLPerf means (fastest and slowest run dropped), with 3+ runs on each side."""
    mismatch: tuple[Mismatch, ...] = ()
    """What differs between the two sides of this pair beyond what the comparison is about."""

    @property
    def ratio(self) -> float:
        if self.metric.higher_is_better:
            return self.candidate_value / self.base_value
        return self.base_value / self.candidate_value

    @property
    def interval(self) -> Interval | None:
        return self.estimate.interval if self.estimate is not None else None

    @property
    def interval_reason(self) -> str | None:
        return self.estimate.reason if self.estimate is not None else "not computed"

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.interval)

    @property
    def noisy(self) -> bool:
        return any(r.noisy for r in self._all())

    @property
    def busy(self) -> bool:
        return any(r.host_busy for r in self._all())

    def _all(self) -> tuple[Result, ...]:
        return (*(self.base_runs or (self.base,)), *(self.candidate_runs or (self.candidate,)))

    @property
    def params(self) -> float | None:
        """Parameter count of the configuration (the x axis of the ratio scatter)."""
        return self.base.metric("params") or self.candidate.metric("params")

    @property
    def batch(self) -> Any:
        return self.case.get("batch")

    def as_dict(self) -> dict[str, Any]:
        iv = self.interval
        out: dict[str, Any] = {
            "kind": self.kind,
            "workload": self.workload,
            "case": self.case,
            "metric": self.metric.name,
            "base": self.base_value,
            "candidate": self.candidate_value,
            "ratio": self.ratio,
            "interval": [iv.low, iv.high] if iv else None,
            "interval_note": None if iv else self.interval_reason,
            "verdict": self.verdict,
            "noisy": self.noisy,
            "host_busy": self.busy,
            "base_result": self.base.result_id,
            "candidate_result": self.candidate.result_id,
        }
        if self.base_runs or self.candidate_runs:
            out["runs"] = {"base": len(self.base_runs), "candidate": len(self.candidate_runs)}
            out["mlperf_ratio"] = self.mlperf_ratio
        if self.mismatch:
            out["mismatch"] = [str(m) for m in self.mismatch]
        return out


@dataclass(frozen=True)
class OneSided:
    kind: str
    workload: str
    case: dict[str, Any]
    ok_side: str
    """'base' or 'candidate': the side where the configuration ran."""
    failed_status: str
    failed_message: str | None


@dataclass(frozen=True)
class RatioSummary:
    kind: str
    metric: PrimaryMetric
    n: int
    min: float
    median: float
    max: float
    geomean: float
    geomean_interval: Interval | None = None
    median_interval: Interval | None = None
    noisy: int = 0
    """Pairs in this summary with a noisy side (0 when they were excluded)."""
    busy: int = 0
    """Pairs in this summary with a side measured on a busy host."""
    excluded_noisy: int = 0
    """Noisy or busy pairs left out (``exclude_noisy``)."""
    mismatched: int = 0
    """Pairs of this kind left out as not comparable (or, with ``allow_mismatch``, included)."""
    faster: int = 0
    slower: int = 0
    no_difference: int = 0

    @property
    def verdict(self) -> str:
        return verdict(self.geomean, self.geomean_interval)

    def as_dict(self) -> dict[str, Any]:
        g, m = self.geomean_interval, self.median_interval
        return {
            "kind": self.kind,
            "metric": self.metric.name,
            "unit": self.metric.unit,
            "n": self.n,
            "min": self.min,
            "median": self.median,
            "median_interval": [m.low, m.high] if m else None,
            "max": self.max,
            "geomean": self.geomean,
            "geomean_interval": [g.low, g.high] if g else None,
            "verdict": self.verdict,
            "pairs_faster": self.faster,
            "pairs_slower": self.slower,
            "pairs_no_measurable_difference": self.no_difference,
            "noisy": self.noisy,
            "host_busy": self.busy,
            "excluded_noisy_or_busy": self.excluded_noisy,
            "mismatched": self.mismatched,
        }


@dataclass(frozen=True)
class SideDifference:
    """Something that differs between the two sides as a whole (the head of a comparison)."""

    what: str
    base: str
    candidate: str


@dataclass
class Comparison:
    base_label: str
    candidate_label: str
    pairs: list[Pair] = field(default_factory=list)
    """Comparable pairs (and, with ``allow_mismatch``, the mismatched ones too)."""
    mismatched: list[Pair] = field(default_factory=list)
    """Pairs left out as not comparable, each with what differs."""
    summaries: list[RatioSummary] = field(default_factory=list)
    one_sided: list[OneSided] = field(default_factory=list)
    both_failed: int = 0
    only_in_base: int = 0
    only_in_candidate: int = 0
    differences: list[SideDifference] = field(default_factory=list)
    settings: BootstrapSettings = field(default_factory=BootstrapSettings)
    allow_mismatch: bool = False
    exclude_noisy: bool = False
    same_result: int = 0
    """Configurations whose base and candidate are the same stored result, left out."""
    host_busy: tuple[int, int] = (0, 0)
    """Ok results measured on a busy host on the base and candidate side."""
    excluded: dict[str, int] = field(default_factory=dict)
    """Noisy or busy pairs left out of the summaries per kind (``exclude_noisy``)."""

    def as_dict(self) -> dict[str, Any]:
        """The comparison as plain data (``accelbench compare --json``)."""
        return {
            "base": self.base_label,
            "candidate": self.candidate_label,
            "differences": [d.__dict__ for d in self.differences],
            "intervals": self.settings.as_dict(),
            "allow_mismatch": self.allow_mismatch,
            "exclude_noisy": self.exclude_noisy,
            "summaries": [x.as_dict() for x in self.summaries],
            "pairs": [p.as_dict() for p in self.pairs],
            "mismatched": [p.as_dict() for p in self.mismatched],
            "one_sided": [o.__dict__ for o in self.one_sided],
            "counts": {
                "compared": len(self.pairs),
                "mismatched": len(self.mismatched),
                "one_sided": len(self.one_sided),
                "both_failed": self.both_failed,
                "only_in_base": self.only_in_base,
                "only_in_candidate": self.only_in_candidate,
                "same_result": self.same_result,
                "excluded_noisy_or_busy": self.excluded,
                "host_busy_base": self.host_busy[0],
                "host_busy_candidate": self.host_busy[1],
            },
        }


def newest_per_configuration(results: Iterable[Result]) -> dict[tuple[str, str, str], Result]:
    """The newest result of each configuration (kind, case and cache mode), for sides that
    hold re-runs; a warm- and a cold-cache result of one case are two configurations."""
    out: dict[tuple[str, str, str], Result] = {}
    for r in sorted(results, key=lambda r: r.started_at):
        out[(r.kind, r.case_key, cache_mode(r))] = r
    return out


def _repeat_key(r: Result) -> tuple[str, str]:
    """A configuration without its repeat index: repeated training runs share it."""
    return r.kind, case_key({k: v for k, v in r.case.items() if k != "run"})


def _configurations(results: Iterable[Result]) -> dict[tuple[str, str], list[Result]]:
    out: dict[tuple[str, str], list[Result]] = {}
    for r in newest_per_configuration(results).values():
        out.setdefault(_repeat_key(r), []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: int(r.case.get("run", 0)))
    return out


# -- like with like ----------------------------------------------------------------------------


def _show(v: Any) -> str:
    text = v if isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Mismatch:
    """One setting that differs between the two sides of a pair."""

    name: str
    base: Any
    candidate: Any

    def __str__(self) -> str:
        return f"{self.name} {_show(self.base)} vs {_show(self.candidate)}"


UNSET = "(unset)"


def _dict_diffs(prefix: str, a: Any, b: Any, skip: frozenset[str] = frozenset()) -> list[Mismatch]:
    """Every scalar or nested entry that differs. Lists are sweep axes (the case already names
    the element this pair measured), so they are not compared."""
    if isinstance(a, list) or isinstance(b, list):
        return []
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [] if a == b else [Mismatch(prefix, a, b)]
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if k in skip:
            continue
        name = f"{prefix}.{k}" if prefix else str(k)
        out.extend(_dict_diffs(name, a.get(k, UNSET), b.get(k, UNSET), skip))
    return out


def mismatches(b: Result, c: Result, threads_are_the_point: bool) -> list[Mismatch]:
    """What differs between two results of one configuration that changes the answer,
    beyond what the comparison is about (device, host, software): measurement settings,
    training hyper-parameters (other workloads: their non-sweep parameters), the data and its
    subset, and the thread count unless the two sides differ in it as a whole."""
    bc, cc = b.config, c.config
    out = _dict_diffs("measure", bc.get("measure", {}), cc.get("measure", {}))
    if "hyperparameters" in bc or "hyperparameters" in cc:
        hb, hc = bc.get("hyperparameters", {}), cc.get("hyperparameters", {})
        out += _dict_diffs("", hb, hc, IGNORED_PARAMS)
    else:
        out += _dict_diffs("", bc.get("params", {}), cc.get("params", {}), IGNORED_PARAMS)
    if "data" in bc or "data" in cc:
        out += _dict_diffs("data", bc.get("data", {}), cc.get("data", {}), DATA_IGNORED_KEYS)
    if "subset" in bc or "subset" in cc:
        out += _dict_diffs("subset", bc.get("subset", {}), cc.get("subset", {}))
    tb, tc = b.environment.threads, c.environment.threads
    if tb != tc and not threads_are_the_point:
        out.append(Mismatch("threads", tb, tc))
    return out


def _env_fields() -> list[tuple[str, Callable[[Result], dict[str, str]]]]:
    """Side-level facts, each as name -> value (dicts expand per package or variable)."""

    def one(name: str, get: Callable[[Result], Any]) -> tuple[str, Callable[[Result], Any]]:
        return name, lambda r: {name: str(get(r))}

    def rev(r: Result) -> str:
        e = r.environment
        dirty = "+dirty" if e.git_dirty else ""
        return f"{e.accelbench_version} ({(e.git_revision or 'no git')[:10]}{dirty})"

    return [
        one("device", lambda r: f"{r.device}: {r.environment.device_name}"),
        one("host", lambda r: r.environment.host),
        one("CPU", lambda r: r.environment.cpu_model),
        one("threads", lambda r: r.environment.threads),
        one("OS", lambda r: r.environment.os),
        one("python", lambda r: r.environment.python),
        one("torch", lambda r: r.environment.torch),
        one("driver", lambda r: r.environment.driver_version),
        one("accelbench", rev),
        (
            "runtime",
            lambda r: {f"runtime {k}": v for k, v in r.environment.accelerator_runtime.items()},
        ),
        ("packages", lambda r: {f"package {k}": v for k, v in r.environment.packages.items()}),
        ("env", lambda r: {f"env {k}": v for k, v in r.environment.env_vars.items()}),
    ]


def _values(results: list[Result], get: Callable[[Result], dict[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in results:
        for k, v in get(r).items():
            out.setdefault(k, set()).add(v)
    return out


def side_differences(
    base: list[Result], candidate: list[Result], pairs: list[Pair]
) -> list[SideDifference]:
    """What differs between the two sides as a whole: the device, host, thread count,
    software versions and environment variables of their results, and the measurement
    settings of the compared pairs."""
    out = []
    for _, get in _env_fields():
        vb, vc = _values(base, get), _values(candidate, get)
        for name in sorted(set(vb) | set(vc), key=lambda n: (n not in vb or n not in vc, n)):
            sb, sc = vb.get(name, {"(none)"}), vc.get(name, {"(none)"})
            if sb != sc:
                out.append(SideDifference(name, ", ".join(sorted(sb)), ", ".join(sorted(sc))))
    settings: dict[str, tuple[set[str], set[str]]] = {}
    for p in pairs:
        for m in p.mismatch:
            if m.name.startswith("measure."):
                vb, vc = settings.setdefault(m.name, (set(), set()))
                vb.add(_show(m.base))
                vc.add(_show(m.candidate))
    for name, (vb, vc) in sorted(settings.items()):
        out.append(SideDifference(name, ", ".join(sorted(vb)), ", ".join(sorted(vc))))
    return out


# -- ratios with intervals ---------------------------------------------------------------------


def _timed_samples(r: Result) -> list[float] | None:
    """The timed iterations a result's rate was computed from, or None where its samples are
    something else (server latencies) or absent."""
    if not r.samples:
        return None
    if r.config.get("protocol", {}).get("mode") not in TIMED_MODES:
        return None
    return list(r.samples)


def _single_estimate(
    rb: Result, rc: Result, ratio: float, settings: BootstrapSettings
) -> RatioEstimate:
    sb, sc = _timed_samples(rb), _timed_samples(rc)
    if sb is None or sc is None:
        where = "either side" if sb is None and sc is None else "one side"
        why = f"no timed samples on {where}"
        if "time_to_threshold_s" in rb.metrics or rb.trace:
            why = "one training run per side: repeat it (repeats: 3 or more) for an interval"
        return RatioEstimate(ratio, None, None, why)
    # speed-up = median(base times) / median(candidate times), scaled to the stored rates
    return ratio_interval(sb, sc, statistic="median", point=ratio, settings=settings)


def _mlperf(times: list[float]) -> float | None:
    t = sorted(times)
    return statistics.fmean(t[1:-1]) if len(t) >= 3 else None


def _group_pair(
    kind: str,
    bs: list[Result],
    cs: list[Result],
    settings: BootstrapSettings,
) -> Pair | None:
    """One pair from repeated runs on each side: the ratio of mean values over the runs that
    have the metric, with the bootstrap interval of that ratio."""
    metric = primary_metric(kind, [*bs, *cs])
    vb = [v for r in bs if r.status is Status.OK and (v := r.metric(metric.name)) and v > 0]
    vc = [v for r in cs if r.status is Status.OK and (v := r.metric(metric.name)) and v > 0]
    if not vb or not vc:
        return None
    mb, mc = statistics.fmean(vb), statistics.fmean(vc)
    if metric.higher_is_better:
        est = ratio_interval(vc, vb, statistic="mean", settings=settings)
    else:
        est = ratio_interval(vb, vc, statistic="mean", settings=settings)
    mlb, mlc = _mlperf(vb), _mlperf(vc)
    ml = None
    if mlb and mlc:
        ml = mlc / mlb if metric.higher_is_better else mlb / mlc
    b0, c0 = bs[0], cs[0]
    return Pair(
        kind=kind,
        workload=b0.workload,
        case={k: v for k, v in b0.case.items() if k != "run"},
        base=b0,
        candidate=c0,
        metric=metric,
        base_value=mb,
        candidate_value=mc,
        estimate=est,
        base_runs=tuple(bs),
        candidate_runs=tuple(cs),
        mlperf_ratio=ml,
    )


def _summarise(
    kind: str,
    pairs: list[Pair],
    settings: BootstrapSettings,
    excluded: int,
    mismatched: int,
) -> RatioSummary:
    ratios = [p.ratio for p in pairs]
    estimates = [
        p.estimate if p.estimate is not None else RatioEstimate(p.ratio, None, None) for p in pairs
    ]
    iv = summary_intervals(estimates, settings)
    if iv is None and len(pairs) == 1:
        one = pairs[0].interval
        geo_iv = med_iv = one
    else:
        geo_iv = iv.geomean if iv else None
        med_iv = iv.median if iv else None
    verdicts = Counter(p.verdict for p in pairs)
    return RatioSummary(
        kind=kind,
        metric=pairs[0].metric,
        n=len(ratios),
        min=min(ratios),
        median=statistics.median(ratios),
        max=max(ratios),
        geomean=math.exp(statistics.fmean(math.log(x) for x in ratios)),
        geomean_interval=geo_iv,
        median_interval=med_iv,
        noisy=sum(p.noisy for p in pairs),
        busy=sum(p.busy for p in pairs),
        excluded_noisy=excluded,
        mismatched=mismatched,
        faster=verdicts["faster"],
        slower=verdicts["slower"],
        no_difference=verdicts[NO_DIFFERENCE],
    )


def _busy(results: list[Result]) -> int:
    return sum(r.host_busy for r in results if r.status is Status.OK)


def compare(
    base: list[Result],
    candidate: list[Result],
    base_label: str = "base",
    candidate_label: str = "candidate",
    *,
    allow_mismatch: bool = False,
    exclude_noisy: bool = False,
    settings: BootstrapSettings | None = None,
) -> Comparison:
    """Pair ``candidate`` with ``base`` configuration by configuration (see module doc).

    Raises :class:`UserError` when both sides are the same results."""
    s = settings or BootstrapSettings()
    ids_b, ids_c = {r.result_id for r in base}, {r.result_id for r in candidate}
    if ids_b and ids_b == ids_c:
        raise UserError(
            f"{base_label} and {candidate_label} are the same {len(ids_b)} results: a run "
            "compared with itself is 1.0 by construction; compare two different runs"
        )
    b, c = _configurations(base), _configurations(candidate)
    cmp = Comparison(
        base_label,
        candidate_label,
        settings=s,
        allow_mismatch=allow_mismatch,
        exclude_noisy=exclude_noisy,
        host_busy=(_busy(base), _busy(candidate)),
    )
    cmp.only_in_base = sum(k not in c for k in b)
    cmp.only_in_candidate = sum(k not in b for k in c)
    shared = [k for k in b if k in c]
    thread_pairs = Counter(
        (b[k][0].environment.threads, c[k][0].environment.threads) for k in shared
    )
    usual = thread_pairs.most_common(1)[0][0] if thread_pairs else None
    all_pairs: list[Pair] = []
    for key in shared:
        bs, cs = b[key], c[key]
        if len(bs) == 1 and len(cs) == 1 and bs[0].result_id == cs[0].result_id:
            cmp.same_result += 1
            continue
        ok_b = [r for r in bs if r.status is Status.OK]
        ok_c = [r for r in cs if r.status is Status.OK]
        if not ok_b and not ok_c:
            cmp.both_failed += 1
            continue
        if not ok_b or not ok_c:
            bad = (cs if ok_b else bs)[0]
            cmp.one_sided.append(
                OneSided(
                    kind=bs[0].kind,
                    workload=bs[0].workload,
                    case=bs[0].case,
                    ok_side="base" if ok_b else "candidate",
                    failed_status=bad.status.value,
                    failed_message=bad.message,
                )
            )
            continue
        rb, rc = ok_b[0], ok_c[0]
        pair = _pair(key[0], bs, cs, rb, rc, s)
        if pair is None:
            # ok on both sides but without the rate on one (a training run that did not reach
            # its threshold) or both (idle power with no meter)
            metric = primary_metric(key[0], [*ok_b, *ok_c])
            has_b = any(r.metric(metric.name) for r in ok_b)
            has_c = any(r.metric(metric.name) for r in ok_c)
            if has_b != has_c:
                lacking = rc if has_b else rb
                cmp.one_sided.append(
                    OneSided(
                        kind=rb.kind,
                        workload=rb.workload,
                        case=rb.case,
                        ok_side="base" if has_b else "candidate",
                        failed_status=f"no {metric.name}",
                        failed_message=lacking.message,
                    )
                )
            continue
        threads = (rb.environment.threads, rc.environment.threads)
        diff = mismatches(rb, rc, threads_are_the_point=threads == usual)
        if diff:
            pair = replace(pair, mismatch=tuple(diff))
        all_pairs.append(pair)
    if cmp.same_result and not all_pairs and not cmp.one_sided:
        raise UserError(
            f"{base_label} and {candidate_label} hold the same stored results for every "
            "configuration they share: compare two different runs"
        )
    for p in all_pairs:
        (cmp.pairs if not p.mismatch or allow_mismatch else cmp.mismatched).append(p)
    by_kind: dict[str, list[Pair]] = {}
    for p in cmp.pairs:
        by_kind.setdefault(p.kind, []).append(p)
    mismatched_by_kind = Counter(p.kind for p in all_pairs if p.mismatch)
    for kind, pairs in by_kind.items():
        kept = [p for p in pairs if not (exclude_noisy and (p.noisy or p.busy))]
        if len(kept) < len(pairs):
            cmp.excluded[kind] = len(pairs) - len(kept)
        if not kept:
            continue
        cmp.summaries.append(
            _summarise(kind, kept, s, len(pairs) - len(kept), mismatched_by_kind[kind])
        )
    cmp.differences = side_differences(base, candidate, all_pairs)
    return cmp


def _pair(
    kind: str,
    bs: list[Result],
    cs: list[Result],
    rb: Result,
    rc: Result,
    settings: BootstrapSettings,
) -> Pair | None:
    if len(bs) > 1 or len(cs) > 1:
        return _group_pair(kind, bs, cs, settings)
    metric = primary_metric(kind, [rb, rc])
    vb, vc = rb.metric(metric.name), rc.metric(metric.name)
    if not vb or not vc or not (vb > 0 and vc > 0):
        return None
    pair = Pair(kind, rb.workload, rb.case, rb, rc, metric, vb, vc)
    return replace(pair, estimate=_single_estimate(rb, rc, pair.ratio, settings))
