"""Figures for the report, drawn with matplotlib into SVG (inline in HTML) or files.

Every function takes analysis output and returns a ``Figure``; nothing here reads the store.
Text stays text in the SVG (``svg.fonttype: none``) so the report is small and searchable.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

# Figures are made with the object API (no pyplot), so no GUI backend or global figure state
# is involved: a report is written on servers without a display, and from threads.
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from accelbench import fileio
from accelbench.analysis.bandwidth import BandwidthSeries
from accelbench.analysis.compare import Comparison
from accelbench.analysis.heatmap import Heatmap
from accelbench.analysis.inference import InferenceRow
from accelbench.analysis.power import PowerRow
from accelbench.analysis.regression import Regression
from accelbench.analysis.roofline import Roofline
from accelbench.analysis.success import SuccessRow
from accelbench.analysis.tiles import TileStudy, tflops
from accelbench.analysis.training import TrainingRun

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "accelbench",  # stable ids: the same data gives the same file
        # Sizes in points for figures FIG_WIDTH inches wide, shown at the page's width: in a
        # 1400-px page the figure is drawn at about its natural size, so 10 pt is ~13 px and
        # the smallest text (9 pt ticks and legends) ~12 px, above the 11 px floor the
        # browser test checks. Titles and labels are never set smaller than this.
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "legend.fontsize": 9,
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


FIG_WIDTH = 12.5
"""Inches; the report shows every figure at the page's width (about 1300 px of a 1400-px
page), which is close to this size at 96 px per inch, so text is drawn at its stated size."""


def _new(height: float = 4.0, ncols: int = 1, nrows: int = 1) -> tuple[Figure, list]:
    """A page-wide figure of ``ncols`` x ``nrows`` panels, ``height`` inches per row."""
    fig = Figure(figsize=(FIG_WIDTH, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _panels(n: int, height: float) -> tuple[Figure, list]:
    """Up to three panels side by side; more go one per row, so none is too narrow to read."""
    if n <= 3:
        return _new(height=height, ncols=max(1, n))
    return _new(height=height, nrows=n)


def human_bytes(n: float, _pos: object = None) -> str:
    """1024-based sizes as a person writes them: 512 B, 64 KiB, 256 MiB, 1 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:g}"


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
    ax.legend(loc="lower right", fontsize=9)
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
    ax.set_title(title)
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def regression(fits: Sequence[Regression], kind: str) -> Figure:
    fits = [f for f in fits if f.identifiable]
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
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def ratio_scatter(cmp: Comparison) -> Figure:
    """Speed-up against size, one panel per kind; colour by batch only where the batch
    varies, and the smallest and largest ratio of each kind marked and labelled."""
    # Kinds with a single configuration (a peak, a training run) are in the table only.
    counts = {
        k: sum(p.kind == k for p in cmp.pairs) for k in dict.fromkeys(p.kind for p in cmp.pairs)
    }
    kinds = [k for k, n in counts.items() if n > 1] or list(counts)
    fig, axes = _panels(len(kinds), height=3.8)
    for ax, kind in zip(axes, kinds, strict=False):
        pairs = [p for p in cmp.pairs if p.kind == kind]
        xlabel, xs = _size_axis(pairs)
        batches = sorted({p.batch for p in pairs if p.batch is not None})
        if len(batches) > 1:
            cmap = matplotlib.colormaps["viridis"].resampled(len(batches))
            for b in [*batches, None]:
                sel = [(x, p) for x, p in zip(xs, pairs, strict=True) if p.batch == b]
                if sel:
                    ax.scatter(
                        [x for x, _ in sel],
                        [p.ratio for _, p in sel],
                        s=18,
                        color="grey" if b is None else cmap(batches.index(b)),
                        label="no batch" if b is None else f"batch {b}",
                        alpha=0.8,
                    )
            ax.legend(title="batch varies", loc="best")
        else:
            ax.scatter(xs, [p.ratio for p in pairs], s=18, color="C0", alpha=0.8)
        bars = [(x, p) for x, p in zip(xs, pairs, strict=True) if p.interval is not None]
        if bars:  # each ratio's 95% interval
            ax.errorbar(
                [x for x, _ in bars],
                [p.ratio for _, p in bars],
                yerr=[
                    [p.ratio - p.interval.low for _, p in bars],
                    [p.interval.high - p.ratio for _, p in bars],
                ],
                fmt="none",
                ecolor="grey",
                elinewidth=0.8,
                alpha=0.6,
            )
        lo = min(range(len(pairs)), key=lambda i: pairs[i].ratio)
        hi = max(range(len(pairs)), key=lambda i: pairs[i].ratio)
        marks = [(lo, "min"), (hi, "max")]
        if math.isclose(pairs[lo].ratio, pairs[hi].ratio, rel_tol=1e-3):
            marks = [(hi, "all")]
        for i, what in marks:
            ax.scatter([xs[i]], [pairs[i].ratio], s=70, facecolors="none", edgecolors="black")
            ax.annotate(
                f"{what} {pairs[i].ratio:.3g}x",
                (xs[i], pairs[i].ratio),
                textcoords="offset points",
                xytext=(6, 6 if what == "max" else -14),
            )
        ax.axhline(1.0, color="black", lw=0.8)
        if xlabel != "configuration (index)":
            ax.set_xscale("log")
        ax.set_yscale("log")
        ratio_fmt = FuncFormatter(lambda v, _pos: f"{v:g}x")
        ax.yaxis.set_major_formatter(ratio_fmt)
        ratios = [p.ratio for p in pairs] + [1.0]
        if max(ratios) / min(ratios) < 10:  # within a decade the minor ticks are the only labels
            ax.yaxis.set_minor_formatter(ratio_fmt)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("speed-up, candidate / base")
        ax.set_title(kind)
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
    ax.xaxis.set_major_formatter(FuncFormatter(human_bytes))
    ax.set_xlabel("transfer size")
    ax.set_ylabel("GB/s (median time)")
    ax.set_title(title)
    ax.legend(fontsize=9)
    return fig


def tiles(studies: Sequence[TileStudy], title: str) -> Figure:
    """TFLOP/s of each tile configuration against its tiling's bytes moved, one colour per
    shape and dtype, with torch.matmul on that shape as a dashed line."""
    fig, (ax,) = _new(height=3.8)
    for i, st in enumerate(studies):
        pts = [
            (r.metric("tile_bytes_moved"), tflops(r))
            for r in st.ok
            if r.metric("tile_bytes_moved") is not None
        ]
        colour = f"C{i % 10}"
        ax.scatter(
            [b for b, _ in pts],
            [t for _, t in pts],
            s=12,
            marker=MARKERS[i % len(MARKERS)],
            color=colour,
            label=st.label,
        )
        ref = tflops(st.reference)
        if ref is not None:
            ax.axhline(ref, color=colour, linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("bytes moved from global memory by the tiling (analytic)")
    ax.set_ylabel("TFLOP/s (median time)")
    ax.set_title(title)
    ax.legend(fontsize=9)
    return fig


def training_curves(runs: Sequence[TrainingRun]) -> Figure:
    fig, (a1, a2) = _new(height=3.6, ncols=2)
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
    a2.xaxis.set_major_locator(MaxNLocator(integer=True))
    names = {(t.metric_name, t.metric_unit) for t in runs}
    ylabel = "validation metric"
    if len(names) == 1:
        name, unit = next(iter(names))
        ylabel = f"validation {name} ({unit})"
    for ax in (a1, a2):
        ax.set_ylabel(ylabel)
    a1.legend(fontsize=9)
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
    ax.legend(fontsize=9)
    return fig


def inference_bars(rows: Sequence[InferenceRow]) -> Figure:
    """Samples/s per model and scenario, one bar per runtime and precision, on a linear axis
    from zero so bar lengths compare as the numbers do (111 against 195 reads as 1:1.8, not
    1:8); each bar carries its value, so small ones stay readable. A variant that did not
    run has no bar (its reason is in the outcomes section)."""
    labels = list(dict.fromkeys(r.short_label for r in rows))
    variants = list(dict.fromkeys(f"{r.runtime} {r.precision}" for r in rows))
    fig, (ax,) = _new(height=max(2.0, 0.3 * len(labels) * len(variants) + 1))
    width = 0.8 / max(1, len(variants))
    for j, v in enumerate(variants):
        vals = {
            r.short_label: r.result.metric("samples_per_s")
            for r in rows
            if f"{r.runtime} {r.precision}" == v
        }
        idx = [i for i, lbl in enumerate(labels) if vals.get(lbl)]
        bars = ax.barh(
            [i - 0.4 + width * (j + 0.5) for i in idx],
            [vals[labels[i]] for i in idx],
            height=width,
            color=f"C{j % 10}",
            label=v,
        )
        ax.bar_label(bars, fmt="%.3g", padding=3)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, None)
    ax.margins(x=0.1)
    ax.set_xlabel("samples/s (offline: batch / median batch time)")
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def power_bars(rows: Sequence[PowerRow]) -> Figure:
    by: dict[str, list[PowerRow]] = {}
    for r in rows:
        by.setdefault(r.workload, []).append(r)
    names = list(by)
    fig, (a1, a2) = _new(height=max(1.8, 0.4 * len(names) + 1), ncols=2)
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


def _tick(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


def heatmaps(maps: Sequence[Heatmap]) -> Figure:
    """Achieved rate over two parameters, one panel per map (one per row when more than
    three), each cell annotated with its value. Each panel has its own colour scale, in
    GFLOP/s or, where its best cell reaches 1000, TFLOP/s; empty cells were not measured ok."""
    rows = max((len(m.ys) for m in maps), default=1)
    fig, axes = _panels(len(maps), height=max(2.6, 0.42 * rows + 1.4))
    cmap = matplotlib.colormaps["viridis"]
    for ax, m in zip(axes, maps, strict=False):
        scale, unit = (1e3, "TFLOP/s") if (m.best or 0) >= 1000 else (1.0, "GFLOP/s")
        grid = [[math.nan if v is None else v / scale for v in row] for row in m.values]
        img = ax.imshow(grid, cmap=cmap, aspect="auto", origin="lower")
        lo, hi = img.get_clim()
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if v != v:  # NaN: not measured
                    continue
                dark = hi > lo and (v - lo) / (hi - lo) < 0.6
                ax.text(
                    j,
                    i,
                    f"{v:.3g}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(len(m.xs)), [_tick(x) for x in m.xs])
        ax.set_yticks(range(len(m.ys)), [_tick(y) for y in m.ys])
        ax.grid(False)
        ax.set_xlabel(m.x)
        ax.set_ylabel(m.y)
        best_over = f" · best over {', '.join(m.aggregated)}" if m.aggregated else ""
        ax.set_title(f"{m.label}{best_over}")
        bar = fig.colorbar(img, ax=ax)
        bar.set_label(f"achieved {unit} (median time)")
    return fig
