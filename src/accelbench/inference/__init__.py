"""Inference benchmarks (SPEC section 7): models, runtimes, and performance per price.

``models`` registers the five models of the CPU study, ``runtimes`` the ways to run them
(eager, torch.compile, ONNX Runtime, OpenVINO), ``cost`` turns throughput and an hourly price
into samples per dollar and compares two machines. The ``inference`` workload
(:mod:`accelbench.workloads.inference`) ties them to the measurement protocol.
"""
