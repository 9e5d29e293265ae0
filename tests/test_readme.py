"""The README's suite examples are valid suites: documentation that cannot drift silently."""

from __future__ import annotations

import re

import yaml
from helpers import REPO

from accelbench.api import validate_suite

BLOCKS = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_has_the_suite_examples() -> None:
    assert len(BLOCKS) >= 2


def test_full_suite_example_validates() -> None:
    suite = validate_suite(yaml.safe_load(BLOCKS[0]), "README example")
    assert [w.kind for w in suite.workloads] == ["peak-gemm", "gemm"]


def test_operator_workload_examples_validate() -> None:
    text = "name: readme-ops\nworkloads:\n" + BLOCKS[1]
    suite = validate_suite(yaml.safe_load(text), "README operator example")
    assert [w.kind for w in suite.workloads] == [
        "linear",
        "conv2d",
        "rnn",
        "bandwidth",
        "peak-bandwidth",
    ]


def test_inference_workload_example_validates() -> None:
    text = "name: readme-inference\nworkloads:\n" + BLOCKS[2]
    suite = validate_suite(yaml.safe_load(text), "README inference example")
    assert [w.kind for w in suite.workloads] == ["inference"]
    from accelbench.workloads import WORKLOADS

    wl = WORKLOADS.get("inference").from_dict(suite.workloads[0].params)
    assert len(wl.cases()) > 1
