"""The documented defaults of data-parallel runs (no torch here: the CLI shows them in --help)."""

from __future__ import annotations

DEFAULT_COLLECTIVE_TIMEOUT_S = 600.0
"""Seconds any one collective may wait for its peers (torch's own NCCL default). It bounds how
long a stuck or failed peer can hold the others; it must also exceed the longest wait that is
part of the work: the slowest rank's data loading before the model is broadcast, and an
evaluation done by the owner alone (tasks without sharded evaluation)."""
DEFAULT_RDZV_TIMEOUT_S = 600.0
"""How long the c10d rendezvous waits for every node to join (torchrun's own default)."""
ENV_NODE_RANK = "ACCELBENCH_NODE_RANK"
"""The ``--node-rank`` the launcher was given, passed to its workers: names the owner's node."""
