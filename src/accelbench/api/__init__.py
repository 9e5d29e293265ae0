"""What the CLI and notebooks call."""

from accelbench.api.plan import Plan, load_suite, resolve, validate_suite
from accelbench.api.references import ReferenceBook, peak_ref, same_stack
from accelbench.api.runner import RunReport, device_lock, run_case, run_suite, set_threads

__all__ = [
    "Plan",
    "ReferenceBook",
    "RunReport",
    "device_lock",
    "load_suite",
    "peak_ref",
    "resolve",
    "run_case",
    "run_suite",
    "same_stack",
    "set_threads",
    "validate_suite",
]
