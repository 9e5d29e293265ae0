"""MindSpore (Huawei's framework, the one the study's Ascend results come from) beside PyTorch.

Two execution modes, as the study compared them: ``pynative`` (operator by operator, like
PyTorch eager) and ``graph`` (the function compiled as a whole graph by ``mindspore.jit``, the
counterpart of MindSpore's GRAPH_MODE and of ``torch.compile``; its first call compiles, and
that time is reported apart).

Builders: GEMM and the FC / convolution / RNN operator sweeps (:mod:`.ops`) and ResNet-56 on
CIFAR-10 (:mod:`.training`). Weights and inputs are made by the PyTorch workload's own code
(on the host, from the run's seed) and copied in, so both frameworks run the same numbers.

Installed as an extra (``pip install "accelbench[mindspore]"``). This module does not import
MindSpore: its submodules do, when a case first needs them, so without MindSpore every
MindSpore case is stored as ``unsupported`` with the install command.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from accelbench.devices.base import BaseDevice
from accelbench.errors import Unsupported
from accelbench.frameworks.base import FRAMEWORKS, Framework, Prepared
from accelbench.results.schema import FrameworkEnv

if TYPE_CHECKING:
    from accelbench.workloads.base import RunContext

TARGETS = {"cpu": "CPU", "cuda": "GPU", "npu": "Ascend"}


@FRAMEWORKS.register("mindspore")
class MindSpore(Framework):
    name = "mindspore"
    executions = ("pynative", "graph")
    compiled_executions = frozenset({"graph"})
    distribution = "mindspore"
    modules = ("mindspore",)
    install_hint = (
        'pip install "accelbench[mindspore]" (MindSpore 2.10: one wheel with CPU, GPU and '
        "Ascend backends, for Python 3.9-3.12 on Linux)"
    )

    def __init__(self, device: BaseDevice) -> None:
        super().__init__(device)
        try:
            importlib.import_module("mindspore")
        except ImportError as exc:
            raise Unsupported(
                f"MindSpore is not installed ({exc}); install it with {self.install_hint}"
            ) from None
        from accelbench.frameworks.mindspore.runtime import MindSporeDevice

        self.adapter = MindSporeDevice(device)

    @classmethod
    def backend_of(cls, device: BaseDevice) -> str:
        return TARGETS.get(device.kind, f"none for {device.kind}")

    def environment(self, execution: str) -> FrameworkEnv:
        from accelbench.frameworks.mindspore import runtime

        settings = runtime.settings()
        if execution == "graph":
            settings["jit"] = {"capture_mode": "ast", "jit_level": "O0", "backend": "ms_backend"}
        return FrameworkEnv(
            version=self.version(), backend=self.adapter.target, mode=execution, settings=settings
        )

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        return self.adapter.dtype_support(dtype)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        with self.adapter.errors():
            yield

    def gemm(
        self, m: int, n: int, k: int, dtype: str, mode: str, execution: str, ctx: RunContext
    ) -> Prepared:
        from accelbench.frameworks.mindspore import ops

        return ops.gemm(self.adapter, m, n, k, dtype, mode, execution == "graph")

    def operator(
        self, workload: Any, case: dict[str, Any], execution: str, ctx: RunContext
    ) -> Prepared:
        from accelbench.frameworks.mindspore import ops

        return ops.operator(self.adapter, workload, case, execution == "graph")

    def train(self, recipe: Any, case: dict[str, Any], ctx: RunContext) -> Any:
        from accelbench.frameworks.mindspore import training

        return training.train(self, recipe, case, ctx)
