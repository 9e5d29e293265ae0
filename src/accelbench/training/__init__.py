"""Training to accuracy: the trainer, precision modes, dataset loaders and reference models.

The registered workloads that use them live in :mod:`accelbench.workloads.training`.
"""
