"""Workloads: what runs. Each kind registers itself in ``WORKLOADS`` by name."""

from accelbench.workloads import (
    bandwidth,  # noqa: F401  (registers bandwidth, peak-bandwidth)
    gemm,  # noqa: F401  (registers gemm, peak-gemm)
    idle,  # noqa: F401  (registers idle-power)
    inference,  # noqa: F401  (registers inference)
    operators,  # noqa: F401  (registers linear, conv2d, rnn)
    training,  # noqa: F401  (registers resnet56-cifar10, lstm-imdb)
)
from accelbench.workloads.base import WORKLOADS, CaseOutput, RunContext, Workload

__all__ = ["WORKLOADS", "CaseOutput", "RunContext", "Workload"]
