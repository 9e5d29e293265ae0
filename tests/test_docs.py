"""docs/cli.md and the CLI agree: every option of every command's --help is documented in
that command's section, and every option documented there exists."""

from __future__ import annotations

import re

import pytest
import typer.main
from helpers import REPO

from accelbench.cli import app

DOC = (REPO / "docs" / "cli.md").read_text()


def _commands(cmd, path: tuple[str, ...] = ()):
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))


def _documented(path: tuple[str, ...]) -> set[str]:
    """Options named in the section headed `accelbench <path>` (up to the next heading)."""
    head = f"### `accelbench {' '.join(path)}`"
    assert head in DOC, f"docs/cli.md has no section {head}"
    section = DOC.split(head, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`(-{1,2}[a-z][a-z0-9-]*)`", section))


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p))
def test_every_option_is_documented_and_every_documented_option_exists(path) -> None:
    cmd = COMMANDS[path]
    real = {
        o
        for p in cmd.params
        if p.param_type_name == "option" and p.name != "help"
        for o in (*p.opts, *p.secondary_opts)
    }
    documented = _documented(path)
    assert real - documented == set(), f"missing from docs/cli.md: {sorted(real - documented)}"
    assert documented - real == set(), f"not options of the command: {documented - real}"


def test_every_documented_command_exists() -> None:
    documented = set(re.findall(r"^### `accelbench ([a-z -]+)`", DOC, flags=re.M))
    assert documented == {" ".join(p) for p in COMMANDS}


def test_global_options_are_documented() -> None:
    for opt in ("--version", "--verbose", "-v", "--help"):
        assert f"`{opt}`" in DOC


SUITES_DOC = (REPO / "docs" / "suites.md").read_text()


def test_every_builtin_suite_has_a_row_in_the_suites_table() -> None:
    from accelbench.config import builtin_suites

    table = SUITES_DOC.split("## Suites", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.M))
    assert rows == set(builtin_suites()), (
        f"missing from docs/suites.md: {sorted(set(builtin_suites()) - rows)}; "
        f"not built-in suites: {sorted(rows - set(builtin_suites()))}"
    )


def test_every_training_recipe_is_described() -> None:
    from accelbench.training.recipe import RECIPES

    described = set(re.findall(r"^- (?:\*\*)?`([a-z0-9-]+)`", SUITES_DOC, flags=re.M))
    assert set(RECIPES.names()) - described == set()
