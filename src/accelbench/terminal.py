"""Printing stored text to a terminal safely.

Results can come from other machines (``results import``), so any string in them may carry
terminal escape sequences (set the window title, clear the screen, hide text with a carriage
return, reorder it with Unicode bidirectional overrides) or Rich markup (``[/bold]`` aborts
printing with a MarkupError). Everything the CLI prints goes through :class:`SafeConsole`:
Rich markup is off, and control characters in the text become visible escapes such as
``\\x1b``. Rich's own styling (tables, colours it adds) is unaffected: it is applied after.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidirectional
# embeddings, overrides and isolates ("Trojan Source", CVE-2021-42574).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character replaced by a visible escape."""
    return _CONTROL.sub(_visible, text)


class SafeConsole(Console):
    """A Rich console that never interprets or passes on what a string contains: markup is
    off by default and control characters are shown as escapes, in ``print`` and in every
    table cell (both go through :meth:`render_str`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(*args, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


__all__ = ["SafeConsole", "printable"]
