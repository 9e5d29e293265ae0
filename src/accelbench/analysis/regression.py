"""Which configuration parameters move an operator's throughput: least squares on
standardised parameters.

For each operator kind, and within it each combination of categorical settings (dtype, mode,
RNN cell, ...), achieved GFLOP/s is regressed on the numeric case parameters after each is
standardised to mean 0 and standard deviation 1. A weight is then "GFLOP/s gained per one
standard deviation of this parameter, the others held fixed", so weights of batch, width and
sequence length are comparable within a group (the study found batch and width help and
sequence length hurts RNNs). Significance is the two-sided t-test of each weight under the
ordinary least-squares assumptions; with few configurations it is reported, not hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from accelbench.results.schema import Result, Status

MIN_ADJ_R2 = 0.5
"""Adjusted R² below which a fit's weights are not drawn: a model that explains less than
half the variation (after its degrees of freedom) says more about the noise than about what
drives throughput. A convention chosen here, stated wherever it is applied."""


@dataclass(frozen=True)
class Coefficient:
    param: str
    weight: float
    """Change of the target per one standard deviation of the parameter."""
    std_error: float | None
    t: float | None
    p_value: float | None
    mean: float
    std: float
    """The parameter's mean and standard deviation over the group (to undo the scaling)."""

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 0.05


@dataclass
class Regression:
    kind: str
    group: dict[str, Any]
    """The categorical settings shared by every configuration in this fit."""
    target: str
    n: int
    intercept: float | None = None
    r2: float | None = None
    adj_r2: float | None = None
    coefficients: list[Coefficient] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)
    """Numeric parameters that never vary in the group, so they cannot be fitted."""
    note: str | None = None
    """Why no fit was made, or what limits it."""

    @property
    def identifiable(self) -> bool:
        """Whether the weights mean something: a fit was made (enough points, no perfectly
        collinear parameters) and it explains at least :data:`MIN_ADJ_R2` of the variation
        after paying for its parameters. Only such fits are drawn."""
        return bool(self.coefficients) and self.adj_r2 is not None and self.adj_r2 >= MIN_ADJ_R2

    @property
    def why_not(self) -> str | None:
        """Why the weights are not shown as findings, or None when they are."""
        if self.identifiable:
            return None
        if self.note:
            return self.note
        if self.adj_r2 is None:
            return "the target does not vary in this group, so there is nothing to explain"
        return (
            f"adjusted R² {self.adj_r2:.2f} is below {MIN_ADJ_R2}: the linear model explains too "
            "little of the variation for its weights to be read"
        )

    @property
    def label(self) -> str:
        parts = [self.kind] + [f"{k}={v}" for k, v in self.group.items()]
        return " ".join(parts)


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def regress(results: list[Result], target: str = "achieved_gflops") -> list[Regression]:
    """One fit per (kind, categorical settings) over the ok results that carry ``target``.

    A parameter is numeric in a group only if every configuration gives it a number; one
    that is sometimes a string (``padding: same``) becomes a categorical setting instead.
    """
    by_kind: dict[str, list[Result]] = {}
    for r in results:
        if r.status is Status.OK and r.metric(target) is not None:
            by_kind.setdefault(r.kind, []).append(r)
    fits: list[Regression] = []
    for kind, rs in by_kind.items():
        keys = list(dict.fromkeys(k for r in rs for k in r.case))
        numeric = [k for k in keys if all(_numeric(r.case.get(k)) for r in rs)]
        categorical = [k for k in keys if k not in numeric]
        groups: dict[tuple, list[Result]] = {}
        for r in rs:
            groups.setdefault(tuple(str(r.case.get(k)) for k in categorical), []).append(r)
        for gkey, members in groups.items():
            group = dict(zip(categorical, gkey, strict=True))
            fits.append(_fit(kind, group, members, numeric, target))
    return fits


def _fit(
    kind: str, group: dict[str, Any], rs: list[Result], params: list[str], target: str
) -> Regression:
    y = np.array([r.metric(target) for r in rs], dtype=float)
    x_raw = np.array([[float(r.case[p]) for p in params] for r in rs], dtype=float).reshape(
        len(rs), len(params)
    )
    std = x_raw.std(axis=0) if len(rs) else np.zeros(len(params))
    varying = [i for i, s in enumerate(std) if s > 0]
    out = Regression(
        kind=kind,
        group=group,
        target=target,
        n=len(rs),
        constant=[p for i, p in enumerate(params) if i not in varying],
    )
    p = len(varying)
    if p == 0:
        out.note = "no numeric parameter varies in this group"
        return out
    if len(rs) <= p + 1:
        out.note = (
            f"{len(rs)} configurations for {p} parameters: at least {p + 2} are needed for a "
            "fit with an error estimate"
        )
        return out
    mean = x_raw[:, varying].mean(axis=0)
    sd = std[varying]
    z = (x_raw[:, varying] - mean) / sd
    design = np.column_stack([np.ones(len(rs)), z])
    if np.linalg.matrix_rank(design) < p + 1:
        # e.g. square GEMMs, where m = n = k: any split of the effect between them fits
        # equally well, so no weight is identifiable.
        out.note = (
            f"{', '.join(_collinear([params[i] for i in varying], z))} move together in this "
            "group (perfectly collinear), so their separate weights cannot be identified"
        )
        return out
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    ss_res = float(resid @ resid)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    dof = len(rs) - p - 1
    out.intercept = float(beta[0])
    out.r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else None
    out.adj_r2 = (
        1.0 - (1.0 - out.r2) * (len(rs) - 1) / dof if out.r2 is not None and dof > 0 else None
    )
    sigma2 = ss_res / dof
    try:
        cov = sigma2 * np.linalg.inv(design.T @ design)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(p + 1, np.nan)
        out.note = "parameters are collinear in this group; weights are not unique"
    for j, i in enumerate(varying):
        s = float(se[j + 1])
        ok = math.isfinite(s) and s > 0
        t = float(beta[j + 1]) / s if ok else None
        pv = float(2 * stats.t.sf(abs(t), dof)) if t is not None else None
        out.coefficients.append(
            Coefficient(
                param=params[i],
                weight=float(beta[j + 1]),
                std_error=s if math.isfinite(s) else None,
                t=t,
                p_value=pv,
                mean=float(mean[j]),
                std=float(sd[j]),
            )
        )
    out.coefficients.sort(key=lambda c: -abs(c.weight))
    return out


def _collinear(names: list[str], z: np.ndarray) -> list[str]:
    """The parameters in a perfectly collinear set: those whose standardised column equals,
    or is the negative of, another's; all of them when the dependence involves more than two."""
    found = [
        names[i]
        for i in range(len(names))
        for j in range(len(names))
        if i != j and abs(abs(float(np.corrcoef(z[:, i], z[:, j])[0, 1])) - 1) < 1e-9
    ]
    return list(dict.fromkeys(found)) or names
