"""Tables that fit the terminal: numbers are never cut, columns go by priority.

Rich shrinks a table that is wider than the console by wrapping text columns and, when that
is not enough, by cutting cells with an ellipsis, which turns "peak-compute" into "peak-com…"
and "12.5 GFLOP/s" into "12.5 G…". A number with its unit is read whole or not at all, so
here every numeric column is ``no_wrap`` at its full width, text columns may wrap at spaces
(never inside a word), and when even that does not fit the lowest-priority columns are left
out and a line says which (``--json`` has everything). Any command printing a table to a
person can use :func:`fitted_table`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from accelbench.terminal import printable


@dataclass(frozen=True)
class Col:
    """One column: its header, whether it holds numbers, and how much it matters.

    ``priority`` 0 is never dropped; higher numbers are dropped first when the terminal is too
    narrow. A ``numeric`` column keeps every cell on one line at full width and is right
    aligned; a text column wraps at spaces.
    """

    header: str
    numeric: bool = False
    priority: int = 0
    justify: Literal["left", "right", "center"] | None = None


def _min_width(col: Col, cells: Sequence[str]) -> int:
    """The narrowest the column can be without cutting a number or a word."""
    texts = [col.header, *cells]
    if col.numeric:
        return max(cell_len(t) for t in texts)
    return max((cell_len(w) for t in texts for w in t.split()), default=1)


def _table_width(widths: Sequence[int]) -> int:
    """Width of a rich table with the default box and padding: one space each side of every
    cell, one border character between and around the columns."""
    return sum(widths) + 3 * len(widths) + 1


def fit_columns(cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Indexes of the columns to keep so the table fits ``width`` cells, dropping the
    highest ``priority`` first (the rightmost of equals first); priority-0 columns stay."""
    keep = list(range(len(cols)))
    mins = [_min_width(c, [r[i] for r in rows]) for i, c in enumerate(cols)]
    while _table_width([mins[i] for i in keep]) > width:
        droppable = [i for i in keep if cols[i].priority > 0]
        if not droppable:
            break
        drop = max(droppable, key=lambda i: (cols[i].priority, i))
        keep.remove(drop)
    return keep


def fitted_table(
    console: Console,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
) -> tuple[Table, list[str]]:
    """A rich table of ``rows`` that fits ``console.width``, and the headers left out.

    Cells are plain text (no markup), so stored strings such as a failure message are shown
    as they are, with control characters made visible (a stored string is data: it must not
    move the cursor, retitle the terminal or clear the screen).
    """
    rows = [[printable(c) for c in r] for r in rows]
    keep = fit_columns(cols, rows, console.width)
    t = Table(title=printable(title) if title is not None else None)
    for i in keep:
        c = cols[i]
        t.add_column(
            c.header,
            justify=c.justify or ("right" if c.numeric else "left"),
            no_wrap=c.numeric,
            min_width=_min_width(c, [r[i] for r in rows]) if c.numeric else None,
            overflow="fold",
        )
    for r in rows:
        t.add_row(*(Text(r[i]) for i in keep))
    left_out = [cols[i].header for i in range(len(cols)) if i not in keep]
    return t, left_out


def print_table(
    console: Console,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
) -> None:
    """Print a fitted table, then one line naming any columns left out for the width."""
    t, left_out = fitted_table(console, cols, rows, title)
    console.print(t, markup=False, highlight=False)
    if left_out:
        console.print(
            f"({', '.join(left_out)} left out at {console.width} columns: widen the terminal "
            "or use --json)",
            markup=False,
            highlight=False,
        )
