"""Data-parallel runs over torch.distributed, launched by the real ``torchrun``.

accelbench never starts workers itself: :mod:`accelbench.parallel.launch` builds a
``python -m torch.distributed.run`` command (c10d rendezvous, one process per device) that
re-invokes accelbench in each worker, and :mod:`accelbench.parallel.world` is what a worker
knows about the others: its rank, the node it runs on, the process groups, and collectives that
are always bounded by a timeout. The collective library is the device's
(:meth:`accelbench.devices.base.BaseDevice.dist_backend`: NCCL, HCCL, XCCL, gloo on the CPU).
Defaults live in :mod:`accelbench.parallel.settings` (no torch import, for the CLI's help).
"""
