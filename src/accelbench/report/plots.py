"""Figures for the report, drawn with matplotlib into SVG (inline in HTML) or files.

Every function takes analysis output and returns a ``Figure``; nothing here reads the store.
Text stays text in the SVG (``svg.fonttype: none``) so the report is small and searchable.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

# Figures are made with the object API (no pyplot), so no GUI backend or global figure state
# is involved: a report is written on servers without a display, and from threads.
from matplotlib.figure import Figure

from accelbench import fileio
from accelbench.analysis.bandwidth import BandwidthSeries
from accelbench.analysis.compare import Comparison
from accelbench.analysis.inference import InferenceRow
from accelbench.analysis.power import PowerRow
from accelbench.analysis.regression import Regression
from accelbench.analysis.roofline import Roofline
from accelbench.analysis.success import SuccessRow
from accelbench.analysis.training import TrainingRun

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "accelbench",  # stable ids: the same data gives the same file
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 100,
    }
)

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "oom": "#c62828",
    "unsupported": "#9e9e9e",
    "error": "#ef6c00",
    "diverged": "#6a1b9a",
    "skipped": "#bdbdbd",
}
MARKERS = "os^Dv<>pP*X"


def _new(width: float = 7.5, height: float = 4.0, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def to_svg(fig: Figure) -> str:
    """The figure as an SVG element (without the XML prolog), ready to inline in HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def save(
    fig: Figure, path: Path, *, option: str = "--figures", protect: Iterable[Path] = ()
) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) through :mod:`accelbench.fileio`:
    complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with fileio.open_output(path, option=option, protect=protect) as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "svg")
    return path


def success(rows: Sequence[SuccessRow]) -> Figure:
    labels = [f"{r.kind} · {r.group}" for r in rows]
    fig, (ax,) = _new(height=max(1.6, 0.32 * len(rows) + 0.9))
    left = [0] * len(rows)
    statuses = [s for s in STATUS_COLOURS if any(r.counts.get(s) for r in rows)]
    for s in statuses:
        vals = [r.counts.get(s, 0) for r in rows]
        ax.barh(labels, vals, left=left, color=STATUS_COLOURS[s], label=s)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("configurations")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def roofline(roof: Roofline, title: str) -> Figure:
    fig, (ax,) = _new(height=4.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = [p.intensity for p in roof.points] or [1.0]
    ridges = [
        c.value / b.value for c in roof.compute for b in roof.bandwidth if c.source == b.source
    ]
    lo = min([min(xs) / 3, *[r / 10 for r in ridges]])
    hi = max([max(xs) * 3, *[r * 4 for r in ridges]])
    for bw in roof.bandwidth:
        top = max((c.value for c in roof.compute if c.source == bw.source), default=None)
        xmax = top / bw.value if top else hi
        ax.plot(
            [lo, xmax],
            [lo * bw.value, xmax * bw.value],
            "-" if bw.source == "measured" else "--",
            color="black",
            lw=1.2,
            label=f"{bw.source} memory {bw.value:,.0f} GB/s",
        )
    dtypes = sorted({p.dtype for p in roof.points} | {c.dtype or "" for c in roof.compute} - {""})
    colours = {d: f"C{i}" for i, d in enumerate(dtypes)}
    for c in roof.compute:
        bw = next((b for b in roof.bandwidth if b.source == c.source), None)
        start = c.value / bw.value if bw else lo
        ax.plot(
            [start, hi],
            [c.value, c.value],
            "-" if c.source == "measured" else "--",
            color=colours.get(c.dtype or "", "grey"),
            lw=1.2,
            label=f"{c.source} {c.dtype} {c.value:,.0f} GFLOP/s",
        )
    kinds = sorted({p.kind for p in roof.points})
    for i, kind in enumerate(kinds):
        for d in dtypes:
            pts = [p for p in roof.points if p.kind == kind and p.dtype == d]
            if pts:
                ax.scatter(
                    [p.intensity for p in pts],
                    [p.gflops for p in pts],
                    s=14,
                    alpha=0.75,
                    marker=MARKERS[i % len(MARKERS)],
                    color=colours[d],
                    label=f"{kind} {d}",
                )
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of minimum traffic)")
    ax.set_ylabel("achieved GFLOP/s (median time)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def regression(fits: Sequence[Regression], kind: str) -> Figure:
    fits = [f for f in fits if f.coefficients]
    # Name each bar group by the settings that differ between groups only.
    varying = [
        k
        for k in dict.fromkeys(k for f in fits for k in f.group)
        if len({str(f.group.get(k)) for f in fits}) > 1
    ]
    params = list(dict.fromkeys(c.param for f in fits for c in f.coefficients))
    fig, (ax,) = _new(height=max(1.8, 0.28 * len(params) * max(1, len(fits)) ** 0.5 + 1.2))
    n = max(1, len(fits))
    width = 0.8 / n
    for j, f in enumerate(fits):
        weights = {c.param: c for c in f.coefficients}
        ys = [i + j * width - 0.4 + width / 2 for i in range(len(params))]
        vals = [weights[p].weight if p in weights else 0.0 for p in params]
        bars = ax.barh(
            ys,
            vals,
            height=width,
            color=f"C{j % 10}",
            label=" ".join(f"{k}={f.group.get(k)}" for k in varying) or kind,
        )
        for b, p in zip(bars, params, strict=True):
            if p in weights and not weights[p].significant:
                b.set_hatch("///")
                b.set_alpha(0.5)
    ax.set_yticks(range(len(params)), params)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("GFLOP/s per SD of the parameter (hatched: p ≥ 0.05)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def ratio_scatter(cmp: Comparison) -> Figure:
    # Kinds with a single configuration (a peak, a training run) are in the table only.
    counts = {
        k: sum(p.kind == k for p in cmp.pairs) for k in dict.fromkeys(p.kind for p in cmp.pairs)
    }
    kinds = [k for k, n in counts.items() if n > 1] or list(counts)
    fig, axes = _new(width=max(7.5, 3.6 * len(kinds)), height=3.8, ncols=max(1, len(kinds)))
    batches = sorted({p.batch for p in cmp.pairs if p.batch is not None})
    cmap = matplotlib.colormaps["viridis"].resampled(max(2, len(batches)))
    for ax, kind in zip(axes, kinds, strict=False):
        pairs = [p for p in cmp.pairs if p.kind == kind]
        xlabel, xs = _size_axis(pairs)
        for b in [*batches, None]:
            sel = [(x, p) for x, p in zip(xs, pairs, strict=True) if p.batch == b]
            if not sel:
                continue
            colour = "grey" if b is None else cmap(batches.index(b))
            ax.scatter(
                [x for x, _ in sel],
                [p.ratio for _, p in sel],
                s=16,
                color=colour,
                label="no batch" if b is None else f"batch {b}",
                alpha=0.8,
            )
        ax.axhline(1.0, color="black", lw=0.8)
        if xlabel != "configuration (index)":
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("speed-up, candidate over base")
        ax.set_title(kind, fontsize=9)
        ax.legend(fontsize=7)
    return fig


def _size_axis(pairs: Sequence) -> tuple[str, list[float]]:
    """The x axis of a ratio scatter: parameter count where every configuration has one,
    else FLOPs per iteration, else bytes moved, else just the configuration's index."""
    for label, get in (
        ("parameters", lambda p: p.params),
        ("FLOPs per iteration", lambda p: p.base.metric("flops")),
        ("bytes per transfer", lambda p: p.case.get("bytes")),
    ):
        xs = [get(p) for p in pairs]
        if all(isinstance(x, int | float) and x > 0 for x in xs):
            return label, [float(x) for x in xs]
    return "configuration (index)", [float(i) for i in range(len(pairs))]


def bandwidth(series: Sequence[BandwidthSeries], title: str) -> Figure:
    fig, (ax,) = _new(height=3.8)
    for i, s in enumerate(series):
        ax.plot(
            [b for b, _ in s.points],
            [g for _, g in s.points],
            marker=MARKERS[i % len(MARKERS)],
            ms=3,
            label=s.label,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bytes per transfer")
    ax.set_ylabel("GB/s (median time)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def training_curves(runs: Sequence[TrainingRun]) -> Figure:
    fig, (a1, a2) = _new(width=9, height=3.6, ncols=2)
    for i, t in enumerate(runs):
        pts = [
            (w, e, m) for w, e, m in zip(t.wall_s, t.epochs, t.metric, strict=True) if m is not None
        ]
        if not pts:
            continue
        a1.plot(
            [w for w, _, _ in pts],
            [m for _, _, m in pts],
            marker="o",
            ms=3,
            color=f"C{i}",
            label=t.label,
        )
        a2.plot([e for _, e, _ in pts], [m for _, _, m in pts], marker="o", ms=3, color=f"C{i}")
        if t.threshold is not None:
            for ax in (a1, a2):
                ax.axhline(t.threshold, color=f"C{i}", ls=":", lw=0.8)
    a1.set_xlabel("wall time since start, incl. setup and evaluation (s)")
    a2.set_xlabel("epoch")
    names = {(t.metric_name, t.metric_unit) for t in runs}
    ylabel = "validation metric"
    if len(names) == 1:
        name, unit = next(iter(names))
        ylabel = f"validation {name} ({unit})"
    for ax in (a1, a2):
        ax.set_ylabel(ylabel)
    a1.legend(fontsize=7)
    return fig


def throughput_bars(runs: Sequence[TrainingRun]) -> Figure:
    fig, (ax,) = _new(height=max(1.8, 0.5 * len(runs) + 1))
    labels = [t.label for t in runs]
    ys = list(range(len(runs)))
    first = [t.first_epoch_samples_per_s or 0 for t in runs]
    steady = [t.steady_samples_per_s or 0 for t in runs]
    ax.barh([y - 0.2 for y in ys], first, height=0.4, label="first epoch", color="C1")
    ax.barh([y + 0.2 for y in ys], steady, height=0.4, label="steady-state mean", color="C0")
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_xlabel("training samples/s")
    ax.legend(fontsize=7)
    return fig


def inference_bars(rows: Sequence[InferenceRow]) -> Figure:
    """Samples/s per model and scenario, one bar per runtime and precision (log scale: models
    differ by orders of magnitude; a variant that did not run has no bar)."""
    labels = list(dict.fromkeys(r.short_label for r in rows))
    variants = list(dict.fromkeys(f"{r.runtime} {r.precision}" for r in rows))
    fig, (ax,) = _new(width=9, height=max(2.0, 0.3 * len(labels) * len(variants) + 1))
    width = 0.8 / max(1, len(variants))
    for j, v in enumerate(variants):
        vals = {
            r.short_label: r.result.metric("samples_per_s")
            for r in rows
            if f"{r.runtime} {r.precision}" == v
        }
        idx = [i for i, lbl in enumerate(labels) if vals.get(lbl)]
        ax.barh(
            [i - 0.4 + width * (j + 0.5) for i in idx],
            [vals[labels[i]] for i in idx],
            height=width,
            color=f"C{j % 10}",
            label=v,
        )
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("samples/s (log scale)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def power_bars(rows: Sequence[PowerRow]) -> Figure:
    by: dict[str, list[PowerRow]] = {}
    for r in rows:
        by.setdefault(r.workload, []).append(r)
    names = list(by)
    fig, (a1, a2) = _new(width=9, height=max(1.8, 0.4 * len(names) + 1), ncols=2)
    a1.barh(names, [sum(r.power_avg_w for r in v) / len(v) for v in by.values()], color="C3")
    a1.set_xlabel("mean of average power over configurations (W)")
    # Energy per sample where the workload counts samples, else per iteration.
    per_sample = all(r.energy_per_sample_j for v in by.values() for r in v)
    key = "energy_per_sample_j" if per_sample else "energy_per_iter_j"
    e = [[getattr(r, key) for r in v if getattr(r, key)] for v in by.values()]
    a2.barh(names, [sum(x) / len(x) if x else 0 for x in e], color="C2")
    a2.set_xlabel("mean energy per " + ("sample" if per_sample else "iteration") + " (J)")
    for ax in (a1, a2):
        ax.invert_yaxis()
    return fig
