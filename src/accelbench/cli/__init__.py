"""The ``accelbench`` command: parses arguments, calls :mod:`accelbench.api`, prints.

User mistakes (bad options, malformed YAML, missing files) print one ``error:`` line and exit
with status 2; ``--verbose`` anywhere on the command line also prints the traceback. Each
group of commands is one module here; importing them registers their commands on ``app``.
"""

from __future__ import annotations

import sys
import traceback

import typer

# isort: off
# Importing a command module registers its commands; `--help` lists them in this order.
from accelbench.cli import info  # noqa: F401
from accelbench.cli import run  # noqa: F401
from accelbench.cli import measure  # noqa: F401
from accelbench.cli import report  # noqa: F401
from accelbench.cli import results  # noqa: F401
from accelbench.cli import data  # noqa: F401

# isort: on
from accelbench.cli.app import app, err
from accelbench.errors import AccelbenchError

# Typer >= 0.2x vendors click and exposes its errors as TyperException; older releases raise
# click's own. Accept both so the one-line error handling holds across versions.
USAGE_ERRORS: tuple[type[BaseException], ...] = (typer.TyperException,)
EXITS: tuple[type[BaseException], ...] = (typer.Exit,)
ABORTS: tuple[type[BaseException], ...] = (typer.Abort, KeyboardInterrupt)
try:  # pragma: no cover - depends on the installed typer
    import click

    USAGE_ERRORS += (click.exceptions.ClickException,)
    EXITS += (click.exceptions.Exit,)
    ABORTS += (click.exceptions.Abort,)
except ImportError:
    pass


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the status code."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("--verbose", "-v") for a in args)
    args = [a for a in args if a not in ("--verbose", "-v")]
    code = 0
    try:
        # Without standalone mode, click *returns* the code of a `typer.Exit(n)` raised in a
        # command instead of raising it; commands themselves return None.
        rv = app(args=args, prog_name="accelbench", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            code = rv
    except EXITS as exc:
        code = int(getattr(exc, "exit_code", 0) or 0)
    except USAGE_ERRORS as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            # bare `accelbench` (or `accelbench results`): the help is the answer, not an error
            sys.stdout.write(ctx.get_help() + "\n")
            return _exit(0, argv)
        cmd = ctx.command_path if ctx is not None else "accelbench"
        err.print(
            f"error: {exc.format_message()} (see '{cmd} --help')",
            markup=False,  # type: ignore[attr-defined]
            highlight=False,
            soft_wrap=True,
        )
        code = int(getattr(exc, "exit_code", 2) or 2)
    except ABORTS:
        err.print("interrupted")
        code = 130
    except AccelbenchError as exc:
        if verbose:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        code = 2
    except Exception as exc:  # a bug: say so plainly, keep the traceback one flag away
        if verbose:
            traceback.print_exc()
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for the "
            "traceback, and please report it)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        code = 1
    return _exit(code, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


__all__ = ["app", "main"]
