"""Workloads: what runs. Each kind registers itself in ``WORKLOADS`` by name."""

from accelbench.workloads.base import WORKLOADS, CaseOutput, RunContext, Workload
from accelbench.workloads import gemm  # noqa: E402,F401  (registers gemm, peak-gemm)

__all__ = ["WORKLOADS", "CaseOutput", "RunContext", "Workload"]
