"""Suite configs: YAML loads into validated models; every mistake is one line naming the file,
the field path and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import suite_data, write_suite

from accelbench.api import load_suite, validate_suite
from accelbench.config import builtin_suites, measure_for
from accelbench.errors import ConfigError, UserError
from accelbench.validation import read_yaml
from accelbench.workloads import WORKLOADS

GEMM = "{name: g, kind: gemm, params: {sizes: [16]}}"


def load_error(tmp_path: Path, text: str, name: str = "suite.yaml") -> str:
    path = write_suite(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        load_suite(str(path))
    msg = str(info.value)
    assert "\n" not in msg, f"not one line: {msg!r}"
    assert msg.startswith(str(path)), f"does not name the file first: {msg!r}"
    return msg


def test_valid_suite_loads(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "ok.yaml", suite_data([16, 32], ["float32", "bfloat16"]))
    s = load_suite(str(path))
    assert s.name == "tiny" and len(s.workloads) == 1
    assert s.measure.iterations == 3 and s.measure.warmup == 1 and s.measure.mode == "fixed"
    wl = WORKLOADS.get("gemm").from_dict(s.workloads[0].params)
    assert len(wl.cases()) == 4
    # .yml works as well, and so does a path without a YAML suffix that exists
    yml = write_suite(tmp_path / "ok.yml", suite_data())
    assert load_suite(str(yml)).name == "tiny"
    plain = write_suite(tmp_path / "suitefile", suite_data())
    assert load_suite(str(plain)).name == "tiny"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    msg = load_error(tmp_path, f"name: t\nworklaods: []\nworkloads: [{GEMM}]\n")
    assert ": worklaods: unknown key" in msg


def test_unknown_key_in_workload_params(tmp_path: Path) -> None:
    msg = load_error(tmp_path, "name: t\nworkloads: [{name: g, kind: gemm, params: {sizez: [16]}}]")
    assert "workloads[0].params.sizez: unknown key" in msg


def test_unknown_key_in_a_workload_entry(tmp_path: Path) -> None:
    msg = load_error(
        tmp_path, f"name: t\nworkloads: [{GEMM}, {{name: h, kind: gemm, param: {{sizes: [8]}}}}]"
    )
    assert "workloads[1].param: unknown key" in msg


def test_wrong_type_names_the_element(tmp_path: Path) -> None:
    text = (
        "name: t\nworkloads:\n  - name: g\n    kind: gemm\n    params:\n      sizes: [256, big]\n"
    )
    msg = load_error(tmp_path, text)
    assert "workloads[0].params.sizes[1]:" in msg
    assert "valid integer" in msg and "'big'" in msg


def test_bad_dtype_lists_the_choices(tmp_path: Path) -> None:
    msg = load_error(
        tmp_path, "name: t\nworkloads: [{name: g, kind: gemm, params: {sizes: [8], dtypes: [fp8]}}]"
    )
    assert "workloads[0].params.dtypes[0]:" in msg
    assert "'float32'" in msg and "'fp8'" in msg


def test_invalid_values_in_params(tmp_path: Path) -> None:
    msg = load_error(tmp_path, "name: t\nworkloads: [{name: g, kind: gemm, params: {sizes: [-4]}}]")
    assert "workloads[0].params.sizes[0]: Input should be greater than 0 (got -4)" in msg
    msg = load_error(tmp_path, "name: t\nworkloads: [{name: g, kind: gemm, params: {}}]")
    assert "workloads[0].params:" in msg and "sizes" in msg
    assert "Value error," not in msg


def test_malformed_yaml_gives_the_line(tmp_path: Path) -> None:
    msg = load_error(tmp_path, "name: t\nworkloads:\n  - name: g\n    kind: [gemm\n")
    assert "malformed YAML at line " in msg
    msg = load_error(tmp_path, "name: t\n\tworkloads: []\n")
    assert "line 2, column 1" in msg


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    text = (
        "name: t\nworkloads:\n  - name: g\n    kind: gemm\n    params: {sizes: [8]}\n"
        "    params: {sizes: [16]}\n"
    )
    msg = load_error(tmp_path, text)
    assert "line 6" in msg and "'params' is given twice" in msg and "line 5" in msg


def test_yaml_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = (
        "name: t\nworkloads:\n"
        "  - &g {name: g, kind: gemm, params: {sizes: [8]}}\n"
        "  - <<: *g\n    name: h\n"
    )
    s = load_suite(str(write_suite(tmp_path / "anchors.yaml", text)))
    assert [w.name for w in s.workloads] == ["g", "h"]
    assert s.workloads[1].params == {"sizes": [8]}


def test_unknown_workload_kind(tmp_path: Path) -> None:
    msg = load_error(tmp_path, f"name: t\nworkloads: [{GEMM}, {{name: x, kind: gemmm}}]")
    assert "workloads[1].kind: unknown workload kind 'gemmm'" in msg
    assert "gemm" in msg.split("expected one of")[1]


def test_duplicate_workload_names(tmp_path: Path) -> None:
    msg = load_error(tmp_path, f"name: t\nworkloads: [{GEMM}, {GEMM}]")
    assert "workload name 'g' is used twice" in msg
    assert "workloads[0]" in msg and "workloads[1]" in msg
    assert len(msg) < 200  # the whole list is not echoed back


def test_negative_iterations(tmp_path: Path) -> None:
    msg = load_error(tmp_path, f"name: t\nmeasure: {{iterations: -1}}\nworkloads: [{GEMM}]")
    assert "measure.iterations:" in msg and "greater than or equal to 1" in msg and "-1" in msg
    msg = load_error(
        tmp_path,
        "name: t\nworkloads: [{name: g, kind: gemm, params: {sizes: [8]}, measure: {warmup: -2}}]",
    )
    assert "workloads[0].measure.warmup:" in msg and "-2" in msg
    msg = load_error(
        tmp_path,
        "name: t\nworkloads: [{name: g, kind: gemm, params: {sizes: [8]}, measure: {iters: 2}}]",
    )
    assert "workloads[0].measure.iters: unknown key" in msg
    msg = load_error(tmp_path, f"name: t\nmeasure: {{mode: sometimes}}\nworkloads: [{GEMM}]")
    assert "measure.mode:" in msg and "'fixed'" in msg


def test_workload_measure_overrides_the_suite(tmp_path: Path) -> None:
    text = (
        "name: t\nmeasure: {warmup: 2, iterations: 7}\nworkloads:\n"
        "  - {name: a, kind: gemm, params: {sizes: [8]}}\n"
        "  - {name: b, kind: gemm, params: {sizes: [8]}, measure: {iterations: 3}}\n"
    )
    s = load_suite(str(write_suite(tmp_path / "m.yaml", text)))
    a, b = (measure_for(s, w) for w in s.workloads)
    assert (a.warmup, a.iterations) == (2, 7)
    assert (b.warmup, b.iterations) == (2, 3)


def test_structural_mistakes(tmp_path: Path) -> None:
    assert "expected a mapping" in load_error(tmp_path, "")
    assert "expected a mapping" in load_error(tmp_path, "- a\n- b\n")
    assert "workloads:" in load_error(tmp_path, "name: t\nworkloads: []\n")
    msg = load_error(tmp_path, f"workloads: [{GEMM}]\n")
    assert ": name: Field required" in msg
    msg = load_error(tmp_path, f"name: has space\nworkloads: [{GEMM}]\n")
    assert ": name:" in msg and "'has space'" in msg
    msg = load_error(tmp_path, "name: t\nworkloads: [{name: g, kind: gemm, params: [1, 2]}]")
    assert "workloads[0].params: Input should be a valid dictionary" in msg


def test_several_errors_are_counted(tmp_path: Path) -> None:
    msg = load_error(tmp_path, f"name: t\nfoo: 1\nbar: 2\nworkloads: [{GEMM}]\n")
    assert "(and 1 more error)" in msg


def test_bad_peak_entry(tmp_path: Path) -> None:
    msg = load_error(tmp_path, f"name: t\npeaks: [{{nme: x}}]\nworkloads: [{GEMM}]\n")
    assert ": peaks[0]" in msg


def test_missing_file_and_unknown_suite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_suite(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="neither a built-in suite") as info:
        load_suite("no-such-suite")
    assert "quick" in str(info.value)
    assert issubclass(ConfigError, UserError)  # the CLI prints it as one line


def test_binary_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(ConfigError, match=r"not a text file|malformed"):
        read_yaml(path)


def test_validate_suite_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^my source: workloads\[0\]\.params\.sizes\[0\]:"):
        validate_suite(
            {"name": "t", "workloads": [{"name": "g", "kind": "gemm", "params": {"sizes": ["x"]}}]},
            "my source",
        )


def test_builtin_suites_load_and_expand() -> None:
    names = builtin_suites()
    assert {"quick", "gemm"} <= set(names)
    counts = {}
    for name in names:
        s = load_suite(name)
        assert s.name == name
        counts[name] = sum(
            len(WORKLOADS.get(w.kind).from_dict(w.params).cases()) for w in s.workloads
        )
        for w in s.workloads:
            measure_for(s, w)  # every workload's measurement settings resolve
        assert counts[name] > 0
    # quick: 3 compute peaks + 1 bandwidth peak + 6 sizes x 3 dtypes of GEMM, then
    # quick-inference, quick-train and quick-ops
    assert counts["quick"] == (
        22 + counts["quick-inference"] + counts["quick-train"] + counts["quick-ops"]
    )
    assert counts["quick-ops"] == (8 + 8 + 12) * 2 * 4  # shapes x modes x dtypes
    assert counts["paper-ops"] == (243 + 192 + 144) * 2 * 2  # grids x modes x dtypes
    quick = load_suite("quick")
    gemm = next(w for w in quick.workloads if w.kind == "gemm")
    cases = WORKLOADS.get("gemm").from_dict(gemm.params).cases()
    assert {"m": 1000, "n": 1000, "k": 1000, "dtype": "float32"} in cases  # the CPU study's case
    assert {c["dtype"] for c in cases} == {"float32", "bfloat16", "float16"}


def test_builtin_name_wins_over_a_local_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").write_text("not: a suite")
    assert load_suite("quick").name == "quick"


@pytest.mark.parametrize("value", ["true", '"256"', "2.5"])
def test_sizes_are_strict_integers(tmp_path: Path, value: str) -> None:
    """YAML `true` or a quoted number is a mistake to report, not a size to guess."""
    msg = load_error(
        tmp_path, f"name: t\nworkloads: [{{name: g, kind: gemm, params: {{sizes: [{value}]}}}}]"
    )
    assert "workloads[0].params.sizes[0]" in msg and "integer" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: t\nseed: true\nworkloads: [{name: g, kind: gemm, params: {sizes: [8]}}]",
            "seed: Input should be a valid integer",
        ),
        (
            "name: t\nseed: 99999999999999999999999\n"
            "workloads: [{name: g, kind: gemm, params: {sizes: [8]}}]",
            "seed: Input should be less",
        ),
        (
            "name: t\nmeasure: {time_budget_s: .inf}\n"
            "workloads: [{name: g, kind: gemm, params: {sizes: [8]}}]",
            "measure.time_budget_s",
        ),
        (
            "name: t\nworkloads: [{name: g, kind: gemm, params: {sizes: [100000000000000000000]}}]",
            "workloads[0].params.sizes[0]: Input should be less than or equal to 2147483647",
        ),
        (
            "name: t\npeaks: [{name: X, match: [X], tflops: {fp32: 20}}]\n"
            "workloads: [{name: g, kind: gemm, params: {sizes: [8]}}]",
            "peaks[0].tflops.fp32",
        ),
        (
            "name: t\npeaks: [{name: X, match: [X], tflops: {float32: .inf}}]\n"
            "workloads: [{name: g, kind: gemm, params: {sizes: [8]}}]",
            "peaks[0].tflops.float32",
        ),
    ],
)
def test_values_that_cannot_work_are_rejected(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_a_shape_given_twice_is_measured_once(tmp_path: Path) -> None:
    from accelbench.workloads.gemm import Gemm

    wl = Gemm.from_dict(
        {"sizes": [64, 64], "shapes": [[64, 64, 64]], "dtypes": ["float32", "float32"]}
    )
    assert wl.cases() == [{"m": 64, "n": 64, "k": 64, "dtype": "float32"}]
