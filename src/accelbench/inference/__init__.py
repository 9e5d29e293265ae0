"""Inference benchmarks (SPEC section 7): models, runtimes, and samples per dollar.

``models`` registers the five models of the CPU study, ``runtimes`` the ways to run them
(eager, torch.compile, ONNX Runtime, OpenVINO), ``pricing`` turns throughput and an hourly price
into samples per dollar (comparing two machines per price is :mod:`accelbench.analysis.cost`).
The ``inference`` workload (:mod:`accelbench.workloads.inference`) ties them to the
measurement protocol.
"""
