"""The documented suite examples (docs/suites.md) are valid suites, and the README stays a
newcomer's page: documentation that cannot drift silently."""

from __future__ import annotations

import re

import yaml
from helpers import REPO

from accelbench.api import validate_suite

BLOCKS = re.findall(r"```yaml\n(.*?)```", (REPO / "docs" / "suites.md").read_text(), flags=re.S)


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


def test_readme_is_short_self_contained_and_links_resolve() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 150
    assert "SPEC" not in text and "§" not in text  # nothing outside the repository
    for doc in ("README.md", "docs/cli.md", "docs/suites.md", "docs/metrics.md"):
        body = (REPO / doc).read_text()
        assert "SPEC §" not in body and "SPEC section" not in body, doc
        for target in re.findall(r"\]\(([^)#]+)\)", body):
            if not target.startswith("http"):
                assert (REPO / doc).parent.joinpath(target).exists(), f"{doc} links {target}"
