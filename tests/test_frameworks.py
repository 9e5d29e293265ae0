"""The framework as a dimension of a case and a result (no MindSpore needed: see
test_mindspore.py for the real MindSpore path)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from accelbench.api import compare, run_suite, validate_suite
from accelbench.errors import ConfigError, UserError
from accelbench.frameworks import FRAMEWORKS, case_framework, framework_label
from accelbench.results.schema import (
    RECORD_UPGRADES,
    SCHEMA_VERSION,
    Result,
    Status,
    _add_framework,
    upgrade_record,
)
from accelbench.results.store import Store
from accelbench.workloads import WORKLOADS
from tests.analysis_data import result

GRID = {"batch": [4], "in_features": [8], "out_features": [6], "dtypes": ["float32"]}


def _suite(params: dict[str, Any], kind: str = "gemm") -> Any:
    return validate_suite(
        {
            "name": "fw",
            "seed": 0,
            "measure": {"mode": "fixed", "warmup": 1, "iterations": 2},
            "workloads": [{"name": "w", "kind": kind, "params": params}],
        },
        "fw.yaml",
    )


def test_frameworks_are_registered_with_their_modes() -> None:
    assert FRAMEWORKS.names() == ["mindspore", "pytorch"]
    assert FRAMEWORKS.get("pytorch").executions == ("eager", "compile")
    assert FRAMEWORKS.get("mindspore").executions == ("pynative", "graph")
    assert FRAMEWORKS.get("mindspore").compiled_executions == {"graph"}
    assert "accelbench[mindspore]" in FRAMEWORKS.get("mindspore").install_hint


def test_cases_cross_frameworks_with_their_own_modes_and_keep_old_identities() -> None:
    wl = WORKLOADS.get("gemm").from_dict(
        {
            "sizes": [8],
            "dtypes": ["float32"],
            "frameworks": ["pytorch", "mindspore"],
            "executions": ["eager", "compile", "pynative", "graph"],
        }
    )
    cases = wl.cases()
    # PyTorch eager keeps the identity every gemm case had before frameworks existed, so a
    # store measured then still resumes; the others name what they ran through.
    base = {"m": 8, "n": 8, "k": 8, "dtype": "float32"}
    assert cases == [
        base,
        {**base, "execution": "compile"},
        {**base, "framework": "mindspore", "execution": "pynative"},
        {**base, "framework": "mindspore", "execution": "graph"},
    ]
    assert [case_framework(c) for c in cases] == [
        ("pytorch", "eager"),
        ("pytorch", "compile"),
        ("mindspore", "pynative"),
        ("mindspore", "graph"),
    ]
    assert [wl.describe(c) for c in cases] == [
        "gemm 8x8x8 float32",
        "gemm 8x8x8 float32 compile",
        "gemm 8x8x8 float32 mindspore pynative",
        "gemm 8x8x8 float32 mindspore graph",
    ]
    # omitted executions: each framework's first (operator by operator)
    lin = WORKLOADS.get("linear").from_dict({**GRID, "frameworks": ["pytorch", "mindspore"]})
    assert [case_framework(c) for c in lin.cases()][::2] == [
        ("pytorch", "eager"),
        ("mindspore", "pynative"),
    ]
    assert framework_label({"execution": "eager"}) == ""


def test_training_cases_name_the_framework() -> None:
    wl = WORKLOADS.get("resnet56-cifar10").from_dict(
        {"frameworks": ["pytorch", "mindspore"], "executions": ["eager", "graph"]}
    )
    assert wl.cases() == [
        {"precision": "fp32", "dtype": "float32", "execution": "eager"},
        {"precision": "fp32", "dtype": "float32", "framework": "mindspore", "execution": "graph"},
    ]
    assert wl.describe(wl.cases()[1]) == "resnet56-cifar10 fp32 mindspore graph"
    # another recipe stays PyTorch-only, with its identities unchanged
    lstm = WORKLOADS.get("lstm-imdb").from_dict({"executions": ["eager", "compile"]})
    assert [c["execution"] for c in lstm.cases()] == ["eager", "compile"]
    assert all("framework" not in c for c in lstm.cases())


@pytest.mark.parametrize(
    ("params", "kind", "expected"),
    [
        ({"sizes": [8], "frameworks": ["tensorflow"]}, "gemm", "params.frameworks: unknown "),
        (
            {"sizes": [8], "frameworks": ["mindspore"], "executions": ["eager"]},
            "gemm",
            "executions: 'eager' is not an execution mode of mindspore",
        ),
        (
            {**GRID, "frameworks": ["pytorch", "mindspore"], "executions": ["graph"]},
            "linear",
            "executions: none of graph is a mode of pytorch",
        ),
        ({"frameworks": ["mindspore"], "executions": ["compile"]}, "resnet56-cifar10", "mode"),
    ],
)
def test_bad_framework_params_name_the_field(
    params: dict[str, Any], kind: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as ei:
        _suite(params, kind)
    assert expected in str(ei.value) and "fw.yaml: workloads[0].params" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_missing_mindspore_is_unsupported_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mindspore", None)  # import mindspore now fails
    suite = _suite({**GRID, "frameworks": ["pytorch", "mindspore"]}, "linear")
    rep = run_suite(suite, device="cpu", db=tmp_path / "r.db")
    by_fw = {r.framework: r for r in rep.results if r.case["mode"] == "forward"}
    torch_r, ms_r = by_fw["pytorch"], by_fw["mindspore"]
    assert torch_r.status is Status.OK and torch_r.metric("achieved_gflops")
    assert ms_r.status is Status.UNSUPPORTED
    assert "MindSpore is not installed" in (ms_r.message or "")
    assert 'pip install "accelbench[mindspore]"' in (ms_r.message or "")
    assert ms_r.description == "linear b=4 8->6 forward float32 mindspore pynative"
    fw = ms_r.environment.framework
    assert fw is not None and fw.mode == "pynative" and fw.backend == "CPU"
    # the PyTorch result says what it ran as, too
    tf = torch_r.environment.framework
    assert tf is not None and tf.mode == "eager" and tf.backend == "cpu" and tf.version


def test_mindspore_has_no_backend_for_the_fake_device(tmp_path: Path) -> None:
    rep = run_suite(
        _suite({"sizes": [8], "dtypes": ["float32"], "frameworks": ["mindspore"]}),
        device="fake",
        db=tmp_path / "r.db",
    )
    (r,) = rep.results
    assert r.status is Status.UNSUPPORTED and r.framework == "mindspore"
    # installed: no backend for 'fake'; not installed: the install command
    assert "no backend for accelbench device 'fake" in (r.message or "") or "pip install" in (
        r.message or ""
    )


def test_old_records_read_as_pytorch() -> None:
    eager = result("gemm", {"m": 8, "n": 8, "k": 8, "dtype": "float32"}, {"achieved_gflops": 1})
    trained = result("lstm-imdb", {"precision": "fp32", "execution": "compile"}, {"x": 1})
    for r, mode in ((eager, "eager"), (trained, "compile")):
        data = r.model_dump(mode="json")
        data.pop("framework")
        data["environment"].pop("framework")
        # The version just before the framework step (4 on main; the lead may renumber it).
        data["schema_version"] = RECORD_UPGRADES.index(_add_framework) + 1
        up = Result.model_validate(upgrade_record(data))
        assert up.schema_version == SCHEMA_VERSION
        assert up.framework == "pytorch"
        fw = up.environment.framework
        assert fw is not None
        assert (fw.version, fw.backend, fw.mode) == ("2.13.0+cpu", "cpu", mode)


def _store(db: Path) -> None:
    """One run: gemm in PyTorch eager (2 GFLOP/s) and MindSpore graph (3) and PyNative (1)."""
    rows = []
    for i, (keys, rate) in enumerate(
        [
            ({}, 2.0),
            ({"framework": "mindspore", "execution": "graph"}, 3.0),
            ({"framework": "mindspore", "execution": "pynative"}, 1.0),
        ]
    ):
        for size in (8, 16):
            case = {"m": size, "n": size, "k": size, "dtype": "float32", **keys}
            rows.append(result("gemm", case, {"achieved_gflops": rate * size}, offset_s=i))
    with Store(db) as st:
        st.add_many(rows)


def test_one_run_compares_framework_against_framework(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    _store(db)
    out = compare(
        "run-a", "run-a", db, base_framework="pytorch/eager", candidate_framework="mindspore/graph"
    )
    cmp = out.comparison
    assert len(cmp.pairs) == 2 and all(p.ratio == pytest.approx(1.5) for p in cmp.pairs)
    assert "[pytorch eager]" in cmp.base_label and "[mindspore graph]" in cmp.candidate_label
    pyn = compare(
        "run-a", "run-a", db, base_framework="pytorch", candidate_framework="mindspore/pynative"
    )
    assert [p.ratio for p in pyn.comparison.pairs] == [pytest.approx(0.5)] * 2


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tensorflow/eager", "unknown framework 'tensorflow'"),
        ("mindspore/compile", "mindspore has the execution modes pynative, graph"),
        ("mindspore", "holds mindspore results in graph, pynative; say which"),
        ("pytorch/compile", "has no pytorch compile results"),
    ],
)
def test_bad_framework_sides_are_one_line_errors(
    tmp_path: Path, selector: str, expected: str
) -> None:
    db = tmp_path / "f.db"
    _store(db)
    with pytest.raises(UserError) as ei:
        compare("run-a", "run-a", db, candidate_framework=selector)
    assert expected in str(ei.value) and "--candidate-framework" in str(ei.value)
