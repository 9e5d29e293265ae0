"""The tile-size study: the Triton matmul under Triton's interpreter, its analytic traffic, and
the tile-gemm workload's verification, misfit and platform handling."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from accelbench.analysis.groups import RunGroup
from accelbench.analysis.platforms import platform_of
from accelbench.analysis.tiles import tile_studies
from accelbench.api import run_suite, validate_suite
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.errors import ConfigError
from accelbench.kernels.tiles import TOLERANCES, TileConfig, misfit_reason, tile_traffic
from accelbench.results.schema import Status
from accelbench.results.store import Store

TINY = {"mode": "fixed", "warmup": 1, "iterations": 2}


def _suite(params: dict[str, Any], name: str = "tiles-test") -> Any:
    return validate_suite(
        {
            "name": name,
            "seed": 0,
            "measure": dict(TINY),
            "workloads": [{"name": "tiles", "kind": "tile-gemm", "params": params}],
        },
        "test",
    )


def _run(params: dict[str, Any], dev: Any, tmp_path: Path) -> list[Any]:
    db = tmp_path / "t.db"
    run_suite(_suite(params), device=dev, db=db, power=False)
    with Store(db) as st:
        return st.query()


# -- the kernel under Triton's interpreter ---------------------------------------------------------
# Shapes that are not multiples of the tiles (edges masked in every direction), and one tile
# larger than the whole matrix.
KERNEL_CASES = [
    ((37, 70, 45), TileConfig(16, 32, 16), "float32"),
    ((37, 70, 45), TileConfig(32, 64, 32), "float16"),
    ((16, 48, 80), TileConfig(16, 16, 32), "float16"),
    ((33, 17, 40), TileConfig(64, 16, 64), "float32"),
]


@pytest.mark.parametrize(("shape", "cfg", "dtype"), KERNEL_CASES, ids=str)
def test_kernel_matches_torch_matmul_under_the_interpreter(
    shape: tuple[int, int, int], cfg: TileConfig, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # restored by monkeypatch after the test
    from accelbench.kernels import triton_matmul

    m, n, k = shape
    dt = getattr(torch, dtype)
    torch.manual_seed(0)
    a, b = torch.randn(m, k, dtype=dt), torch.randn(k, n, dtype=dt)
    c = torch.full((m, n), float("nan"), dtype=dt)  # every element must be written
    triton_matmul.launcher(a, b, c, cfg, dtype=dtype, interpret=True)()
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(
        c.float(), a.float() @ b.float(), rtol=rtol, atol=atol * math.sqrt(k)
    )


def test_kernel_runs_interpreted_whatever_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The interpreted kernel works with TRITON_INTERPRET unset or 0, and leaves it as found."""
    pytest.importorskip("triton")
    import os

    from accelbench.kernels import triton_matmul

    monkeypatch.setenv("TRITON_INTERPRET", "0")
    a, b, c = torch.randn(20, 24), torch.randn(24, 40), torch.empty(20, 40)
    triton_matmul.launcher(a, b, c, TileConfig(32, 64, 16), dtype="float32", interpret=True)()
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
    assert os.environ["TRITON_INTERPRET"] == "0"


# -- analytic traffic ------------------------------------------------------------------------------
def _brute_force_traffic(m: int, n: int, k: int, cfg: TileConfig) -> tuple[int, int, int]:
    """(A elements, B elements, tile loads) the kernel's masked loads fetch, program by program
    and step by step: an independent count of what tile_traffic says in closed form."""
    a_el = b_el = loads = 0
    for pm in range(math.ceil(m / cfg.block_m)):
        rows = len([r for r in range(pm * cfg.block_m, (pm + 1) * cfg.block_m) if r < m])
        for pn in range(math.ceil(n / cfg.block_n)):
            cols = len([c for c in range(pn * cfg.block_n, (pn + 1) * cfg.block_n) if c < n])
            for k0 in range(0, k, cfg.block_k):
                depth = len([x for x in range(k0, k0 + cfg.block_k) if x < k])
                a_el += rows * depth
                b_el += depth * cols
                loads += 2
    return a_el, b_el, loads


@pytest.mark.parametrize(
    ("shape", "cfg"),
    [
        ((16, 1024, 256), TileConfig(16, 64, 32)),
        ((16, 1024, 256), TileConfig(16, 512, 256)),
        ((37, 70, 45), TileConfig(16, 32, 16)),
        ((33, 17, 40), TileConfig(64, 16, 64)),
    ],
    ids=str,
)
def test_tile_traffic_is_what_the_masked_loads_fetch(
    shape: tuple[int, int, int], cfg: TileConfig
) -> None:
    m, n, k = shape
    t = tile_traffic(m, n, k, cfg, in_bytes=2, out_bytes=4)
    a_el, b_el, loads = _brute_force_traffic(m, n, k, cfg)
    assert t.bytes_read == 2 * (a_el + b_el)
    assert t.bytes_written == 4 * m * n
    assert t.tile_loads == loads
    assert t.bytes_moved == t.bytes_read + t.bytes_written


def test_the_studys_shape_small_n_tiles_multiply_traffic() -> None:
    """A[16,256] x B[256,1024] in half precision: A is re-read once per n tile."""
    m, n, k = 16, 1024, 256
    moved = {
        bn: tile_traffic(m, n, k, TileConfig(16, bn, 64), 2, 2).bytes_moved for bn in (32, 256)
    }
    # bn=32: A read 32 times; bn=256: 4 times; B and C once each.
    assert moved[32] == 2 * (m * k * 32 + k * n + m * n)
    assert moved[256] == 2 * (m * k * 4 + k * n + m * n)
    padded = tile_traffic(m, n, k, TileConfig(64, 256, 64), 2, 2)
    assert padded.padded_fraction == pytest.approx(0.75)  # 48 of 64 tile rows are past m
    assert tile_traffic(m, n, k, TileConfig(16, 256, 64), 2, 2).padded_fraction == 0


def test_misfit_reasons_are_the_compilers_words() -> None:
    triton = pytest.importorskip("triton")
    from triton.runtime.errors import OutOfResources, PTXASError

    exc = OutOfResources(262144, 232448, "shared memory")
    assert misfit_reason(exc) == str(exc).splitlines()[0]
    assert "Required: 262144" in (misfit_reason(exc) or "")
    ptxas = PTXASError(
        "PTXAS error: Internal Triton PTX codegen error\nptxas error   : Entry "
        "function 'k' uses too much shared data (0x40000 bytes, 0xc000 max)"
    )
    assert "too much shared data" in (misfit_reason(ptxas) or "")
    launch = RuntimeError("Triton Error [CUDA]: too many resources requested for launch")
    assert misfit_reason(launch) == str(launch)
    assert misfit_reason(RuntimeError("CUDA error: an illegal memory access")) is None
    assert misfit_reason(ValueError("BLOCK_M must be a power of two")) is None
    assert triton.__version__


# -- the workload ----------------------------------------------------------------------------------
SMALL = {
    "shapes": [[20, 40, 16]],
    "dtypes": ["float32", "float16"],
    "block_m": [16, 32],
    "block_n": [64],
    "block_k": [16],
}


def test_tile_gemm_verifies_times_and_counts_on_the_fake_device(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    dev = FakeDevice(durations=[2e-6])
    results = _run(SMALL, dev, tmp_path)
    assert [r.status for r in results] == [Status.OK] * 6
    ref, *tiles = [r for r in results if r.case["dtype"] == "float32"]
    assert ref.case["impl"] == "torch"
    assert ref.description == "tile-gemm 20x40x16 float32 torch.matmul"
    assert "tile_bytes_moved" not in ref.metrics
    flops = 2 * 20 * 40 * 16
    for r in tiles:
        cfg = TileConfig(r.case["block_m"], 64, 16)
        t = tile_traffic(20, 40, 16, cfg, 4, 4)
        assert r.config["backend"] == "interpreted"
        assert r.config["tile"] == cfg.describe() and cfg.describe() in r.description
        assert r.metric("tile_bytes_moved") == t.bytes_moved
        assert r.metric("tile_loads") == t.tile_loads
        assert r.metric("tile_intensity") == pytest.approx(flops / t.bytes_moved)
        assert r.metric("achieved_tflops") == pytest.approx(flops / 2e-6 / 1e12)
        assert r.metric("max_abs_error") is not None
        assert r.metric("max_abs_error") <= r.config["tolerance"]["atol"] + 1e-3
        assert r.samples == [2e-6] * TINY["iterations"]
    # A 32 x 64 tile over a 20 x 40 C: 12 of 32 rows and 24 of 64 columns are padding.
    big = next(r for r in tiles if r.case["block_m"] == 32)
    assert big.metric("tile_padding") == pytest.approx(100 * (1 - (20 * 40) / (32 * 64)))

    studies = tile_studies(results)
    assert [s.label for s in studies] == ["20x40x16 float32", "20x40x16 float16"]
    st = studies[0]
    assert st.reference is ref and len(st.ok) == 2 and st.best is not None
    assert st.best_over_reference == pytest.approx(1.0)  # the same scripted time


def test_bfloat16_under_the_interpreter_is_unsupported_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    params = {**SMALL, "dtypes": ["bfloat16"], "block_m": [16], "reference": False}
    (r,) = _run(params, FakeDevice(durations=[1e-6]), tmp_path)
    assert r.status is Status.UNSUPPORTED and "interpreter" in (r.message or "")


def test_a_configuration_that_does_not_fit_is_unsupported_with_the_compilers_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the GPU compiler raises for a tile that needs more shared memory than the device
    has (Triton's OutOfResources) is stored as unsupported with its message; the sweep goes
    on to the next configuration."""
    pytest.importorskip("triton")
    from triton.runtime.errors import OutOfResources

    from accelbench.kernels import triton_matmul

    real = triton_matmul.launcher

    def launcher(a: Any, b: Any, c: Any, cfg: TileConfig, **kw: Any) -> Any:
        if cfg.block_m == 32:

            def too_big() -> None:
                raise OutOfResources(262144, 232448, "shared memory")

            return too_big
        return real(a, b, c, cfg, **kw)

    monkeypatch.setattr(triton_matmul, "launcher", launcher)
    params = {**SMALL, "dtypes": ["float32"], "reference": False}
    fits, oversized = _run(params, FakeDevice(durations=[1e-6]), tmp_path)
    assert fits.status is Status.OK
    assert oversized.status is Status.UNSUPPORTED
    assert "32x64x16 w4 s3 does not fit fake:0" in (oversized.message or "")
    assert "out of resource: shared memory, Required: 262144, Hardware limit: 232448" in (
        oversized.message or ""
    )
    assert not oversized.samples


def test_a_wrong_result_is_an_error_and_is_not_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("triton")
    from accelbench.kernels import triton_matmul

    def launcher(a: Any, b: Any, c: Any, cfg: TileConfig, **kw: Any) -> Any:
        def drops_the_last_k_slice() -> None:
            c.copy_(a[:, :8] @ b[:8, :])

        return drops_the_last_k_slice

    monkeypatch.setattr(triton_matmul, "launcher", launcher)
    params = {**SMALL, "dtypes": ["float32"], "block_m": [16], "reference": False}
    (r,) = _run(params, FakeDevice(durations=[1e-6]), tmp_path)
    assert r.status is Status.ERROR
    assert "WrongResult" in (r.message or "") and "differs from torch.matmul" in (r.message or "")
    assert not r.samples


def test_on_the_cpu_triton_is_unsupported_and_the_reference_runs(tmp_path: Path) -> None:
    params = {**SMALL, "dtypes": ["float32"], "block_m": [16]}
    ref, tile = _run(params, CpuDevice(), tmp_path)
    assert ref.status is Status.OK and ref.metric("achieved_tflops")
    assert tile.status is Status.UNSUPPORTED and "interpreter" in (tile.message or "")


def test_triton_missing_is_unsupported_with_the_install_hint(tmp_path: Path) -> None:
    params = {**SMALL, "dtypes": ["float32"], "block_m": [16], "reference": False}
    (r,) = _run(params, FakeDevice(durations=[1e-6], triton=False), tmp_path)
    assert r.status is Status.UNSUPPORTED and "without Triton" in (r.message or "")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"block_m": [24]}, "block_m"),  # not a power of two
        ({"block_k": [8]}, "block_k"),  # below tl.dot's minimum of 16
        ({"num_warps": [3]}, "num_warps"),
        ({"dtypes": ["int8"]}, "dtypes"),
        ({"shapes": []}, "shapes"),
    ],
)
def test_bad_tile_params_are_config_errors_naming_the_field(
    params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        _suite({"shapes": [[16, 16, 16]], **params})


def test_paper_tiles_suite_has_the_studys_shape_and_references() -> None:
    from accelbench.api import load_suite
    from accelbench.api.plan import resolve

    plan = resolve(load_suite("paper-tiles"))
    assert plan.suite.measure.cuda_graph is True
    study = plan.workloads[0]
    shapes = {(c["m"], c["n"], c["k"]) for c in study.cases}
    assert shapes == {(16, 1024, 256)}
    assert {c["block_n"] for c in study.cases if c["impl"] == "triton"} >= {32, 256, 512}
    refs = [c for w in plan.workloads for c in w.cases if c["impl"] == "torch"]
    assert len(refs) == len({(c["m"], c["n"], c["k"], c["dtype"]) for c in refs}) >= 4


def test_report_section_puts_the_best_tile_beside_torch(tmp_path: Path) -> None:
    from analysis_data import result

    from accelbench.report.sections.tiles import _tiles

    def tile(bn: int, gflops: float, offset: int) -> Any:
        case = {"m": 16, "n": 1024, "k": 256, "dtype": "float16", "impl": "triton"}
        case.update(block_m=16, block_n=bn, block_k=64, num_warps=4, num_stages=3)
        moved = tile_traffic(16, 1024, 256, TileConfig(16, bn, 64), 2, 2).bytes_moved
        return result(
            "tile-gemm",
            case,
            {"achieved_gflops": gflops, "tile_bytes_moved": moved},
            offset_s=offset,
        )

    ref = result(
        "tile-gemm",
        {"m": 16, "n": 1024, "k": 256, "dtype": "float16", "impl": "torch"},
        {"achieved_gflops": 2000.0},
    )
    oversized = result(
        "tile-gemm",
        {
            "m": 16,
            "n": 1024,
            "k": 256,
            "dtype": "float16",
            "impl": "triton",
            "block_m": 16,
            "block_n": 512,
            "block_k": 256,
            "num_warps": 4,
            "num_stages": 3,
        },
        status=Status.UNSUPPORTED,
        offset_s=9,
    )
    rs = [ref, tile(32, 1000.0, 1), tile(256, 3000.0, 2), oversized]
    group = RunGroup("run-a", "s", platform_of(ref), rs, "t.db")
    sec = _tiles([group])
    assert sec is not None
    (row,) = sec.tables[0].rows
    cols = dict(zip(sec.tables[0].columns, row, strict=True))
    assert cols["ok"] == 2 and cols["unsupported"] == 1 and cols["failed"] == 0
    assert cols["best tile"] == "16x256x64 w4 s3" and cols["best / torch"] == "1.5"
    assert cols["best TFLOP/s"] == "3" and cols["torch.matmul TFLOP/s"] == "2"
    assert cols["fewest-bytes tile"] == "16x256x64 w4 s3"  # bigger n tiles: fewer A re-reads
    assert sec.figures and sec.figures[0].make() is not None


def test_documented_tile_gemm_example_validates() -> None:
    import re

    import yaml
    from helpers import REPO

    text = "".join(p.read_text() for p in [REPO / "README.md", *sorted(REPO.glob("docs/*.md"))])
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if "kind: tile-gemm" in b]
    suite = _suite(yaml.safe_load(block)[0]["params"])
    assert suite.workloads[0].kind == "tile-gemm"
