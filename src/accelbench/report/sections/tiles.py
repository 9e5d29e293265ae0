"""The tile-size study: best Triton tiling per shape against torch.matmul, and rate against
the bytes each tiling moves."""

from __future__ import annotations

from accelbench.analysis.groups import RunGroup
from accelbench.analysis.tiles import TileStudy, tflops, tile_of, tile_studies
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section
from accelbench.results.schema import Status


@section("tiles", order=35)
def _tiles(groups: list[RunGroup]) -> Section | None:
    s = Section("tiles", "Tile-size study (hand-written Triton matmul)")
    s.text.append(
        "For each shape and dtype: how many tile configurations ran, did not fit the device "
        "(shared memory, registers: the compiler's reason is stored with each) or failed; "
        "the fastest configuration (BLOCK_M x BLOCK_N x BLOCK_K, warps, pipeline stages) and "
        "its TFLOP/s from the median time; torch.matmul's TFLOP/s on the same shape; and "
        "their ratio (above 1: the hand-picked tile beat the library). Bytes moved are the "
        "tiling's analytic global-memory traffic: A is read once per column of tiles and B "
        "once per row, so small tiles multiply it."
    )
    rows = []
    for g in groups:
        studies = [st for st in tile_studies(g.results) if st.configs]
        for st in studies:
            rows.append(_row(g, st))
        plotted = [st for st in studies if st.ok]
        if plotted:
            s.figures.append(
                FigureItem(
                    f"tiles-{slug(g.key)}",
                    f"Tile study: {g.label}",
                    lambda plotted=plotted, g=g: plots.tiles(plotted, g.label),
                    caption="TFLOP/s of every configuration against the bytes its tiling "
                    "moves; the dashed line is torch.matmul on the same shape",
                )
            )
    if not rows:
        return None
    s.tables.append(
        Table(
            [
                "run",
                "shape, dtype",
                "ok",
                "unsupported",
                "failed",
                "best tile",
                "best TFLOP/s",
                "torch.matmul TFLOP/s",
                "best / torch",
                "best: MB moved",
                "fewest-bytes tile",
                "its TFLOP/s",
            ],
            rows,
        )
    )
    return s


def _row(g: RunGroup, st: TileStudy) -> list[object]:
    best, few = st.best, st.fewest_bytes
    moved = None if best is None else best.metric("tile_bytes_moved")
    failed = st.count(Status.ERROR) + st.count(Status.OOM)
    return [
        g.label,
        st.label,
        len(st.ok),
        st.count(Status.UNSUPPORTED),
        failed,
        tile_of(best) if best else "—",
        fmt(tflops(best)),
        fmt(tflops(st.reference)),
        fmt(st.best_over_reference),
        fmt(None if moved is None else moved / 1e6),
        tile_of(few) if few else "—",
        fmt(tflops(few)),
    ]
