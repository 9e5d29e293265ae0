"""What the CLI and notebooks call: run, measure peaks and idle power, compare, report, and
the stored results. Every function takes and returns plain Python objects and typed records;
none prints, so a notebook gets the same answers the command line shows::

    from accelbench import api
    report = api.run(api.load_suite("quick-ops"), device="cpu", db="a.db")
    outcome = api.compare("quick-ops@cpu", "b.db", db=Path("a.db"))
"""

from accelbench.api import results
from accelbench.api.idle import measure_idle_power
from accelbench.api.peaks import PeaksReport, measure_peaks
from accelbench.api.plan import Plan, load_suite, resolve, validate_suite
from accelbench.api.references import ReferenceBook, build_references, peak_ref, same_stack
from accelbench.api.reporting import compare, report, write_comparison
from accelbench.api.runner import RunReport, device_lock, run_case, run_suite, set_threads

run = run_suite
"""Run a suite on a device into a store (alias of :func:`run_suite`)."""

__all__ = [
    "PeaksReport",
    "Plan",
    "ReferenceBook",
    "RunReport",
    "build_references",
    "compare",
    "device_lock",
    "load_suite",
    "measure_idle_power",
    "measure_peaks",
    "peak_ref",
    "report",
    "resolve",
    "results",
    "run",
    "run_case",
    "run_suite",
    "same_stack",
    "set_threads",
    "validate_suite",
    "write_comparison",
]
