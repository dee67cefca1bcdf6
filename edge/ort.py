"""ONNX Runtime as the reference backend of the edge benchmarks: export a torch module to ONNX and
run it in an inference session with a fixed thread count."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from edge.runner import Runner


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | Path, dynamic_batch: bool = True) -> Path:
    """Write ``model`` as ONNX (opset 17, input ``x``, output ``y``, batch dimension symbolic when
    ``dynamic_batch``) with the TorchScript exporter, which needs no onnxscript."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes=axes, opset_version=17)
    return path


def ort_session(path: str | Path, num_threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """A callable running the ONNX file at ``path`` with ONNX Runtime (CPU, all graph optimisations,
    ``num_threads`` intra-op threads, sequential execution)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> Any:
        return sess.run(None, {name: x})[0]

    run.session = sess  # type: ignore[attr-defined]
    return run


class OrtBackend:
    """ONNX Runtime as a bench backend: the model's ONNX file in a session with the bench's threads, the
    resident call through I/O binding."""

    name = "onnxruntime"
    static_batch = False
    compiled = False

    def build(self, model: Any, x: np.ndarray, threads: int, tune: int = 0) -> Runner:
        """A runner of the ONNX file of ``model`` (an :class:`edge.backends.BenchModel`)."""
        import onnxruntime as ort

        path = model.onnx(x)
        call = ort_session(path, threads)
        sess = call.session  # type: ignore[attr-defined]
        binding = sess.io_binding()
        binding.bind_ortvalue_input(sess.get_inputs()[0].name, ort.OrtValue.ortvalue_from_numpy(x.copy()))
        binding.bind_output(sess.get_outputs()[0].name)
        return Runner(call, lambda: sess.run_with_iobinding(binding), {"onnx": Path(path).name})
