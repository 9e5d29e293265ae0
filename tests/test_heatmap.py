"""Operator heatmaps on constructed results with known answers: the matrix, the axes chosen,
the aggregation of a third parameter by max, the grouping by setting, and when there is no map."""

from __future__ import annotations

import itertools

import pytest
from analysis_data import result

from accelbench.analysis.heatmap import Heatmap, NoHeatmap, operator_heatmaps
from accelbench.results.schema import Status

BATCH = [16, 32, 64]
WIDTH = [256, 512, 1024]


def _linear(batch: int, width: int, dtype: str = "float32", **extra: object) -> object:
    case = {"batch": batch, "width": width, **extra, "mode": "forward", "dtype": dtype}
    value = float(batch * width) * (1 + 0.01 * int(extra.get("seq", 0)))  # type: ignore[arg-type]
    return result("linear", case, {"achieved_gflops": value})


def test_a_3x3_grid_is_the_value_itself() -> None:
    rs = [_linear(b, w) for b, w in itertools.product(BATCH, WIDTH)]
    maps, skipped = operator_heatmaps(rs)
    assert skipped == []
    (m,) = maps
    assert (m.y, m.x) == ("batch", "width")  # equal counts: the case's first parameter is y
    assert m.ys == BATCH and m.xs == WIDTH
    assert m.values == [[float(b * w) for w in WIDTH] for b in BATCH]
    assert m.aggregated == [] and m.configurations == 9
    assert m.settings == {"dtype": "float32", "mode": "forward"}
    assert m.best == 64.0 * 1024


def test_a_third_parameter_is_aggregated_by_its_max() -> None:
    # seq has 2 values, batch 4 and width 3: batch x width, best over seq (seq=8 is 8% higher)
    batches = [*BATCH, 128]
    rs = [_linear(b, w, seq=s) for b, w, s in itertools.product(batches, WIDTH, [1, 8])]
    (m,), _ = operator_heatmaps(rs)
    assert (m.y, m.x) == ("batch", "width")
    assert m.aggregated == ["seq"]
    assert m.values == [[pytest.approx(b * w * 1.08) for w in WIDTH] for b in batches]


def test_the_two_parameters_that_vary_most_are_the_axes() -> None:
    # width varies over 4 values, seq over 3, batch over 2: width x seq, best over batch
    rs = [_linear(b, w, seq=s) for b, w, s in itertools.product([1, 2], [*WIDTH, 2048], [1, 2, 3])]
    (m,), _ = operator_heatmaps(rs)
    assert (m.y, m.x, m.aggregated) == ("width", "seq", ["batch"])
    assert m.values[0][2] == pytest.approx(2 * 256 * 1.03)


def test_groups_by_dtype_and_skip_failures_and_missing_cells() -> None:
    rs = [_linear(b, w, dtype=d) for b, w in itertools.product(BATCH, WIDTH) for d in ("a", "b")]
    rs.append(
        result(
            "linear",
            {"batch": 16, "width": 4096, "mode": "forward", "dtype": "a"},
            status=Status.OOM,
        )
    )
    rs = [r for r in rs if not (r.case["dtype"] == "b" and r.case["batch"] == 16)]
    rs.append(_linear(16, 256, dtype="b"))
    maps, _ = operator_heatmaps(rs)
    assert [m.settings["dtype"] for m in maps] == ["a", "b"]
    a, b = maps
    assert a.xs == WIDTH  # the oom case adds no column
    assert b.values[0] == [16.0 * 256, None, None]


def test_fewer_than_two_varying_parameters_gives_no_map_with_the_reason() -> None:
    square = [
        result("gemm", {"m": s, "n": s, "k": s, "dtype": "float32"}, {"achieved_gflops": s})
        for s in (256, 512, 1024)
    ]
    maps, skipped = operator_heatmaps(square)
    assert maps == []
    assert skipped == [
        NoHeatmap(
            "gemm",
            {"dtype": "float32", "mode": "forward"},
            "fewer than two numeric parameters vary (varying: m = n = k)",
        )
    ]


def test_equal_parameters_are_one_axis() -> None:
    rs = [
        result("gemm", {"m": s, "n": s, "k": k, "dtype": "f"}, {"achieved_gflops": float(s + k)})
        for s in (256, 512)
        for k in (64, 128)
    ]
    (m,), _ = operator_heatmaps(rs)
    assert isinstance(m, Heatmap)
    assert (m.y, m.x) == ("m = n", "k")
    assert m.values == [[320.0, 384.0], [576.0, 640.0]]
