"""Which configuration parameters move achieved throughput: least-squares weights."""

from __future__ import annotations

from accelbench.analysis import (
    regress,
)
from accelbench.analysis.groups import RunGroup
from accelbench.report import plots
from accelbench.report.model import OPERATOR_KINDS, FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section


@section("regression", order=50)
def _regression(groups: list[RunGroup]) -> Section | None:
    s = Section("regression", "What drives throughput: regression on configuration parameters")
    s.text.append(
        "Per operator kind and each combination of its categorical settings (precision, mode, "
        "cell type), ordinary least squares of achieved GFLOP/s on the numeric configuration "
        "parameters, each standardised to mean 0 and standard deviation 1. A weight is the "
        "GFLOP/s gained per standard deviation of that parameter with the others held fixed; "
        "p is the two-sided t-test of the weight (below 0.05: significant; hatched bars are "
        "not). R² says how much of the variation the linear model explains."
    )
    for g in groups:
        fits = regress([r for r in g.results if r.kind in OPERATOR_KINDS])
        for kind in dict.fromkeys(f.kind for f in fits):
            kfits = [f for f in fits if f.kind == kind]
            if any(f.coefficients for f in kfits):
                s.figures.append(
                    FigureItem(
                        f"regression-{slug(g.key)}-{kind}",
                        f"Standardised weights: {kind}, {g.label}",
                        lambda kfits=kfits, kind=kind: plots.regression(kfits, kind),
                    )
                )
            rows = []
            for f in kfits:
                weights = "; ".join(
                    f"{c.param} {c.weight:+.3g} (p={fmt(c.p_value, 2)})" for c in f.coefficients
                )
                rows.append(
                    [
                        f.label,
                        f.n,
                        fmt(f.r2),
                        fmt(f.adj_r2),
                        fmt(f.intercept),
                        weights or (f.note or "—"),
                    ]
                )
            s.tables.append(
                Table(
                    ["group", "n", "R²", "adjusted R²", "mean GFLOP/s", "weights, largest first"],
                    rows,
                    caption=f"{kind}: {g.label}",
                )
            )
    return s if s.tables else None
