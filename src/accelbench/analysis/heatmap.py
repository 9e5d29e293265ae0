"""Operator heatmaps: achieved GFLOP/s over the two numeric parameters that vary most.

The source study shows each operator's sweep as a grid (batch x width for a linear layer,
batch x hidden for an RNN): which corner of the space the device is good at reads off at a
glance, where a table of 36 rows does not. Results are grouped by operator kind and every
non-numeric setting (dtype, mode, cell, framework, execution, cache mode), because a max over
float16 and float32 would mix two different questions. Within a group, the two numeric
parameters with the most distinct values are the axes (ties go to the one the case names
first); any other parameter that varies is aggregated by its best (max) value, and the map
says which. Parameters that are equal in every configuration (m = n = k for square GEMMs)
are one axis, not two: a grid of them would be a diagonal. A group with fewer than two such
axes gets no map, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from accelbench.analysis.cache import cache_mode
from accelbench.results.schema import Result, Status

DEFAULT_KINDS = ("gemm", "linear", "conv2d", "rnn")
METRIC = "achieved_gflops"


@dataclass(frozen=True)
class Heatmap:
    """One grid: ``values[i][j]`` is the best GFLOP/s at ``y = ys[i]``, ``x = xs[j]``, or
    None where no ok configuration was measured there."""

    kind: str
    settings: dict[str, str]
    """The non-numeric settings the group shares (dtype, mode, ...)."""
    x: str
    y: str
    xs: list[float]
    ys: list[float]
    values: list[list[float | None]]
    aggregated: list[str] = field(default_factory=list)
    """Other numeric parameters that vary in the group; each cell is the max over them."""
    configurations: int = 0

    @property
    def label(self) -> str:
        return " ".join([self.kind, *self.settings.values()])

    @property
    def best(self) -> float | None:
        return max((v for row in self.values for v in row if v is not None), default=None)


@dataclass(frozen=True)
class NoHeatmap:
    """A group that gets no map, and why."""

    kind: str
    settings: dict[str, str]
    reason: str

    @property
    def label(self) -> str:
        return " ".join([self.kind, *self.settings.values()])


def _numeric(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _settings(r: Result) -> dict[str, str]:
    s = {"dtype": str(r.case.get("dtype")), "mode": str(r.case.get("mode", "forward"))}
    for k, v in r.case.items():
        if k not in s and not _numeric(v):
            s[k] = str(v)
    cache = cache_mode(r)
    if cache != "warm":
        s["cache"] = cache
    return s


def operator_heatmaps(
    results: Iterable[Result], kinds: Sequence[str] = DEFAULT_KINDS
) -> tuple[list[Heatmap], list[NoHeatmap]]:
    """Heatmaps of every group of ok operator results with a 2-D numeric grid, and the groups
    without one (fewer than two varying numeric parameters) with the reason."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Result]] = {}
    for r in results:
        if r.kind in kinds and r.status is Status.OK and r.metric(METRIC) is not None:
            key = (r.kind, tuple(_settings(r).items()))
            groups.setdefault(key, []).append(r)
    maps: list[Heatmap] = []
    skipped: list[NoHeatmap] = []
    for (kind, settings), rs in groups.items():
        out = heatmap_of(kind, dict(settings), rs)
        (maps if isinstance(out, Heatmap) else skipped).append(out)
    return maps, skipped


def heatmap_of(kind: str, settings: dict[str, str], rs: Sequence[Result]) -> Heatmap | NoHeatmap:
    """The heatmap of one group of ok results (all of one kind and settings)."""
    names = list(dict.fromkeys(k for r in rs for k, v in r.case.items() if _numeric(v)))
    # Only parameters every configuration has can be an axis or be aggregated.
    names = [k for k in names if all(_numeric(r.case.get(k)) for r in rs)]
    varying = [k for k in names if len({r.case[k] for r in rs}) > 1]
    # Parameters equal to each other in every configuration are one axis ("m = n = k").
    axes: list[list[str]] = []
    for k in varying:
        same = next((a for a in axes if all(r.case[a[0]] == r.case[k] for r in rs)), None)
        if same is None:
            axes.append([k])
        else:
            same.append(k)
    if len(axes) < 2:
        what = " = ".join(axes[0]) if axes else "none"
        return NoHeatmap(
            kind,
            settings,
            f"fewer than two numeric parameters vary (varying: {what})",
        )
    distinct = {a[0]: len({r.case[a[0]] for r in rs}) for a in axes}
    ranked = sorted(axes, key=lambda a: -distinct[a[0]])  # stable: ties keep the case's order
    xa, ya = ranked[1], ranked[0]  # the parameter with most values goes down the rows
    xs = sorted({float(r.case[xa[0]]) for r in rs})
    ys = sorted({float(r.case[ya[0]]) for r in rs})
    values: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for r in rs:
        i, j = ys.index(float(r.case[ya[0]])), xs.index(float(r.case[xa[0]]))
        v = float(r.metric(METRIC))  # type: ignore[arg-type]
        cur = values[i][j]
        values[i][j] = v if cur is None else max(cur, v)
    return Heatmap(
        kind=kind,
        settings=settings,
        x=" = ".join(xa),
        y=" = ".join(ya),
        xs=xs,
        ys=ys,
        values=values,
        aggregated=[" = ".join(a) for a in ranked[2:]],
        configurations=len(rs),
    )
