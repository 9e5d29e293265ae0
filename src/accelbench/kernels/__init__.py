"""Hand-written device kernels and what they cost, for workloads that study a kernel's own
knobs (block sizes, warps, pipeline stages) rather than a library's.

:mod:`accelbench.kernels.tiles` is plain Python (tile configurations, the analytic traffic of a
tiling, which compiler errors mean "does not fit"); :mod:`accelbench.kernels.triton_matmul`
holds the Triton kernel and imports Triton, an optional dependency
(``pip install 'accelbench[triton]'``), so only a workload that runs it imports it.
"""
