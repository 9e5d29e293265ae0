"""Inference runtimes: how a model is prepared and called. One small registry, by name.

- ``eager``: the PyTorch module as is, under ``torch.inference_mode``.
- ``compile``: ``torch.compile`` (inductor, default mode); the first call compiles and is
  reported apart from the timed calls.
- ``onnxruntime``: exported with ``torch.onnx.export`` at the exact batch and input shape (static
  shapes let ONNX Runtime fold and fuse the most), run by the CPU execution provider on a CPU
  device or the CUDA one on a CUDA device, with as many intra-op threads as torch uses.
- ``openvino``: the same ONNX file through OpenVINO's CPU plugin, where ``openvino`` is installed.

Precisions: float32/bfloat16/float16 convert weights and float inputs (the study's BF16
inference); ``int8-dynamic`` is dynamic quantisation of the float32 model (int8 weights,
activations quantised per call): ``torch.ao`` for ``nn.Linear`` in eager, ONNX Runtime's
``quantize_dynamic`` (MatMul/Gemm/Conv...) for ``onnxruntime``. What a runtime cannot do raises
:class:`~accelbench.errors.Unsupported` with the reason, so the sweep stores it as such.

**Exporter choice.** ``torch.onnx.export(dynamo=False)``, the TorchScript tracer: on these
five models it exports in seconds and reliably, whereas the dynamo exporter (the default since
torch 2.9) re-traces through ``torch.export`` and onnxscript, takes several times longer on a
2-core CPU, and is the one whose behaviour still moves between releases. Both are in torch
2.13; ``export_onnx(..., dynamo=True)`` keeps the other one a switch away.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from accelbench.devices.base import BaseDevice, torch_dtype
from accelbench.errors import Unsupported
from accelbench.registry import Registry

INT8 = "int8-dynamic"


@dataclass
class Prepared:
    """A model ready to time: ``run()`` does one batch; ``outputs()`` returns it as tensors."""

    run: Callable[[], Any]
    outputs: Callable[[], list[torch.Tensor]]
    info: dict[str, Any] = field(default_factory=dict)
    prepare_s: float = 0.0


@dataclass
class ModelJob:
    """What a runtime needs to prepare one case."""

    module: nn.Module  # float32, eval mode, on the host
    inputs: tuple[torch.Tensor, ...]  # on the device; float ones in float32
    input_names: Sequence[str]
    output_names: Sequence[str]
    dtype: str  # float32 | bfloat16 | float16
    quant: str | None  # None | "int8-dynamic"
    device: BaseDevice
    workdir: Path


def _as_list(y: Any) -> list[torch.Tensor]:
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _cast_inputs(inputs: tuple[torch.Tensor, ...], dt: torch.dtype) -> tuple[torch.Tensor, ...]:
    return tuple(x.to(dt) if x.is_floating_point() else x for x in inputs)


class CastOutputs(nn.Module):
    """Runs a half-precision model on float32 inputs and returns float32 outputs.

    Used for export: ONNX Runtime's Python API cannot feed or return bfloat16 arrays, so the
    casts go inside the graph (two tiny elementwise ops at the edges).
    """

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.module = module.to(dtype)
        self.dtype = dtype

    def forward(self, *xs: torch.Tensor) -> Any:
        y = self.module(*_cast_inputs(xs, self.dtype))
        out = tuple(t.float() for t in _as_list(y))
        return out if len(out) > 1 else out[0]


class Runtime(ABC):
    name: ClassVar[str]

    @abstractmethod
    def prepare(self, job: ModelJob) -> Prepared: ...

    @staticmethod
    def versions() -> dict[str, str]:
        return {"torch": torch.__version__}


RUNTIMES: Registry[type[Runtime]] = Registry("inference runtime")


def _torch_module(job: ModelJob) -> tuple[nn.Module, tuple[torch.Tensor, ...], dict[str, Any]]:
    """The module and inputs eager and compile run: converted, or dynamically quantised."""
    dev = job.device.torch_device
    if job.quant == INT8:
        if dev.type != "cpu":
            raise Unsupported(
                f"torch dynamic int8 quantisation runs on the CPU only, not on {job.device.spec}"
            )
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized-tensor deprecation notice
            q = quantize_dynamic(job.module, {nn.Linear}, dtype=torch.qint8)
        n = sum(1 for m in job.module.modules() if isinstance(m, nn.Linear))
        return q, job.inputs, {"quantized": f"{n} nn.Linear layers to int8 (torch.ao dynamic)"}
    dt = torch_dtype(job.dtype)
    return job.module.to(device=dev, dtype=dt), _cast_inputs(job.inputs, dt), {}


@RUNTIMES.register("eager")
class Eager(Runtime):
    name = "eager"

    def prepare(self, job: ModelJob) -> Prepared:
        t0 = time.perf_counter()
        module, inputs, info = _torch_module(job)
        last: list[Any] = [None]

        def run() -> Any:
            with torch.inference_mode():
                last[0] = module(*inputs)
            return last[0]

        def outputs() -> list[torch.Tensor]:
            return _as_list(run() if last[0] is None else last[0])

        return Prepared(run, outputs, info, time.perf_counter() - t0)


@RUNTIMES.register("compile")
class Compile(Runtime):
    name = "compile"

    def prepare(self, job: ModelJob) -> Prepared:
        if job.quant is not None:
            raise Unsupported("dynamic int8 quantisation is not run under torch.compile here")
        if not hasattr(torch, "compile"):
            raise Unsupported(f"torch {torch.__version__} has no torch.compile")
        t0 = time.perf_counter()
        module, inputs, info = _torch_module(job)
        compiled = torch.compile(module)
        last: list[Any] = [None]

        def run() -> Any:
            with torch.inference_mode():
                last[0] = compiled(*inputs)
            return last[0]

        def outputs() -> list[torch.Tensor]:
            return _as_list(run() if last[0] is None else last[0])

        info["compile"] = "torch.compile default mode (inductor); compiled on the first call"
        return Prepared(run, outputs, info, time.perf_counter() - t0)


def export_onnx(job: ModelJob, path: Path, *, dynamo: bool = False) -> Path:
    """Export the case's model (in its dtype, float32 at the edges) at its exact shapes."""
    dt = torch_dtype(job.dtype)
    module: nn.Module = job.module if dt == torch.float32 else CastOutputs(job.module, dt)
    host_inputs = tuple(x.detach().to("cpu") for x in job.inputs)
    module = module.to("cpu").eval()
    with torch.inference_mode(False), torch.no_grad(), contextlib.ExitStack() as stack:
        import warnings

        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module,
            host_inputs,
            str(path),
            input_names=list(job.input_names),
            output_names=list(job.output_names),
            opset_version=17,
            dynamo=dynamo,
        )
    return path


def _ort_providers(device: BaseDevice) -> list[str]:
    import onnxruntime as ort

    kind = device.torch_device.type
    available = ort.get_available_providers()
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise Unsupported(
                "this onnxruntime build has no CUDAExecutionProvider (providers: "
                f"{', '.join(available)}); install onnxruntime-gpu"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise Unsupported(f"onnxruntime is run here on cpu and cuda devices only, not {device.spec}")


@RUNTIMES.register("onnxruntime")
class OnnxRuntime(Runtime):
    name = "onnxruntime"

    @staticmethod
    def versions() -> dict[str, str]:
        import onnx
        import onnxruntime as ort

        return {
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
        }

    def prepare(self, job: ModelJob) -> Prepared:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise Unsupported(f"onnxruntime is not installed ({exc})") from None
        providers = _ort_providers(job.device)
        t0 = time.perf_counter()
        path = export_onnx(job, job.workdir / f"model-{job.dtype}.onnx")
        info: dict[str, Any] = {"exporter": "torch.onnx.export(dynamo=False), opset 17"}
        export_s = time.perf_counter() - t0
        if job.quant == INT8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            qpath = job.workdir / "model-int8.onnx"
            logging.disable(logging.WARNING)  # its "consider pre-processing" advice, per call
            try:
                quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
            path = qpath
            info["quantized"] = "onnxruntime.quantization.quantize_dynamic, int8 weights"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()  # the same cores as torch gets
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: constant-folding notices are not news
        try:
            sess = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own types; NOT_IMPLEMENTED means no kernel
            text = str(exc)
            no_kernel = "NOT_IMPLEMENTED" in text or "Could not find an implementation" in text
            # ONNX itself types Conv & co. without bfloat16: the checker rejects such a graph.
            bad_type = "INVALID_GRAPH" in text and "Type Error" in text and job.dtype != "float32"
            if no_kernel or bad_type:
                first = text.strip().splitlines()[0][:300]
                raise Unsupported(
                    f"onnxruntime {ort.__version__} ({providers[0]}) has no kernel for this "
                    f"{job.dtype} model: {first}"
                ) from None
            raise
        info.update(
            providers=sess.get_providers(),
            intra_op_threads=opts.intra_op_num_threads,
            export_s=export_s,
            onnx_bytes=sum(p.stat().st_size for p in job.workdir.glob(f"{path.stem}*")),
        )
        feeds = {
            n: x.detach().cpu().numpy() for n, x in zip(job.input_names, job.inputs, strict=True)
        }
        out_names = [o.name for o in sess.get_outputs()]
        if providers[0] == "CUDAExecutionProvider":
            run = _cuda_iobinding_run(sess, job, out_names)
        else:

            def run() -> Any:
                return sess.run(out_names, feeds)

        def outputs() -> list[torch.Tensor]:
            y = run()
            if isinstance(y, list) and y and isinstance(y[0], np.ndarray):
                return [torch.from_numpy(a) for a in y]
            return [torch.from_numpy(o.numpy()) for o in y]

        return Prepared(run, outputs, info, time.perf_counter() - t0)


def _cuda_iobinding_run(sess: Any, job: ModelJob, out_names: list[str]) -> Callable[[], Any]:
    """Inputs bound from the device tensors, outputs left on the device: no host copies timed."""
    binding = sess.io_binding()
    dev = job.device.torch_device
    for name, x in zip(job.input_names, job.inputs, strict=True):
        x = x.contiguous()
        binding.bind_input(
            # the numpy dtype from an empty tensor: no copy of the input to the host
            name, "cuda", dev.index or 0, torch.empty(0, dtype=x.dtype).numpy().dtype,
            list(x.shape),
            x.data_ptr(),
        )  # fmt: skip
    for name in out_names:
        binding.bind_output(name, "cuda", dev.index or 0)

    def run() -> Any:
        sess.run_with_iobinding(binding)
        return binding.get_outputs()

    return run


@RUNTIMES.register("openvino")
class OpenVino(Runtime):
    name = "openvino"

    def prepare(self, job: ModelJob) -> Prepared:
        try:
            import openvino as ov
        except ImportError:
            raise Unsupported("OpenVINO is not installed (pip install openvino)") from None
        if job.device.torch_device.type != "cpu":
            raise Unsupported(f"OpenVINO is run here on the CPU only, not on {job.device.spec}")
        if job.quant is not None:
            raise Unsupported("OpenVINO int8 needs calibration (NNCF); not run here")
        t0 = time.perf_counter()
        fp32 = ModelJob(**{**job.__dict__, "dtype": "float32"})
        path = export_onnx(fp32, job.workdir / "model-openvino.onnx")
        hint = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}[job.dtype]
        core = ov.Core()
        compiled = core.compile_model(
            ov.convert_model(str(path)),
            "CPU",
            {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": torch.get_num_threads()},
        )
        request = compiled.create_infer_request()
        feeds = {
            n: x.detach().cpu().numpy() for n, x in zip(job.input_names, job.inputs, strict=True)
        }

        def run() -> Any:
            return request.infer(feeds)

        def outputs() -> list[torch.Tensor]:
            res = run()
            return [torch.from_numpy(np.asarray(res[o])) for o in compiled.outputs]

        info = {
            "openvino": ov.__version__ if hasattr(ov, "__version__") else "?",
            "precision_hint": hint,
            "note": "float32 ONNX model; OpenVINO runs it at the precision hint",
            "machine": platform.machine(),
        }
        return Prepared(run, outputs, info, time.perf_counter() - t0)
