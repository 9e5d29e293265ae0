"""Workloads: what runs. Each kind registers itself in ``WORKLOADS`` by name."""

from accelbench.workloads import gemm  # noqa: F401  (registers gemm, peak-gemm)
from accelbench.workloads.base import WORKLOADS, CaseOutput, RunContext, Workload

__all__ = ["WORKLOADS", "CaseOutput", "RunContext", "Workload"]
