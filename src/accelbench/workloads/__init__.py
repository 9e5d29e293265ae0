"""Workloads: what runs. Each kind is one module here that registers itself in ``WORKLOADS``
by name; the registry imports them all on first use."""

from accelbench.workloads.base import WORKLOADS, CaseOutput, RunContext, Workload

__all__ = ["WORKLOADS", "CaseOutput", "RunContext", "Workload"]
