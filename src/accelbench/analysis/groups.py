"""A run group: the results a report section or a comparison is about, with their platform.

One run's results, or for a whole database file the newest result of every configuration in
it. Built by :mod:`accelbench.api.sources` (the only part of reporting that reads the store);
everything downstream of it is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.analysis.platforms import Platform
from accelbench.results.schema import Result
from accelbench.terminal import printable


@dataclass
class RunGroup:
    key: str
    """Run id, or 'FILE' for a whole database."""
    suite: str
    platform: Platform
    results: list[Result]
    source: str
    """The database it came from."""
    state: str = "complete"
    started_at: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        # Drawn into figures and printed: no control characters from imported names.
        return printable(f"{self.suite} on {self.platform.device_name} ({self.key[-6:]})")
