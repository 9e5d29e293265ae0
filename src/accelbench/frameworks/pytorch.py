"""PyTorch: the framework every workload is written in; eager or ``torch.compile``.

Its builders are the workloads' own code (``workloads/``, ``training/``); this entry gives its
name, modes and environment, so a PyTorch result says what it ran as beside a MindSpore one.
"""

from __future__ import annotations

import torch

from accelbench.devices.base import BaseDevice
from accelbench.frameworks.base import FRAMEWORKS, Framework
from accelbench.results.schema import FrameworkEnv


@FRAMEWORKS.register("pytorch")
class PyTorch(Framework):
    name = "pytorch"
    executions = ("eager", "compile")
    compiled_executions = frozenset({"compile"})
    distribution = "torch"
    install_hint = "pip install torch"

    @classmethod
    def static_environment(cls, device: BaseDevice, execution: str) -> FrameworkEnv:
        settings: dict[str, object] = {"intra_op_threads": torch.get_num_threads()}
        if execution == "compile":
            settings["compile"] = "torch.compile default mode (inductor), on the first call"
        return FrameworkEnv(
            version=torch.__version__,
            backend=device.torch_device.type,
            mode=execution,
            settings=settings,
        )
