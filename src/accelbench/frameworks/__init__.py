"""Frameworks a case can run through (PyTorch, MindSpore): each registers itself in
``FRAMEWORKS`` from its own module or package here, imported on first use. Only a framework's
own package imports that framework."""

from accelbench.frameworks.base import (
    DEFAULT,
    FRAMEWORKS,
    Framework,
    FrameworkChoice,
    Prepared,
    case_framework,
    framework_keys,
    framework_label,
    open_framework,
    result_framework,
    run_prepared,
)

__all__ = [
    "DEFAULT",
    "FRAMEWORKS",
    "Framework",
    "FrameworkChoice",
    "Prepared",
    "case_framework",
    "framework_keys",
    "framework_label",
    "open_framework",
    "result_framework",
    "run_prepared",
]
