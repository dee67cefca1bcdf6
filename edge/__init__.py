"""Edge deployment: compile PyTorch / ONNX models with Apache TVM 0.27 for CPUs, CUDA GPUs, Jetson
and other ARM boards; verify them against the source model, tune them, export, load and time them
(locally or on a board over TVM RPC).

Public API (tvm is imported only when one of these runs, so ``import edge`` stays fast)::

    edge.import_model(model, example_inputs=None, dynamic_batch=False, input_shapes=None) -> ImportedModel
    edge.compile_model(model, example_inputs=None, target="host", tune_trials=0, dynamic_batch=False,
                       verify=True, atol=1e-4, num_threads=None, tuning_db=None, input_shapes=None,
                       default_schedules=True) -> CompiledModel
    CompiledModel(*arrays) -> np.ndarray | tuple[np.ndarray, ...]
    CompiledModel.export(directory) -> Path
    edge.load(directory) -> CompiledModel
    edge.targets.resolve(name) -> TargetSpec
    edge.time_model(compiled, inputs, repeat=50, number=1) -> dict
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, Sequence

from edge.loading import load as _load
from edge.timing import time_model as _time_model

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from edge.compiled import CompiledModel
    from edge.specs import ImportedModel

__all__ = ["import_model", "compile_model", "load", "time_model", "CompiledModel", "ImportedModel",
           "TargetSpec", "targets", "errors"]

_LAZY = {"CompiledModel": "edge.compiled", "ImportedModel": "edge.specs", "TargetSpec": "edge.targets"}


def import_model(model: torch.nn.Module | str | os.PathLike, example_inputs: tuple[torch.Tensor, ...] | None = None,
                 dynamic_batch: bool | int = False, input_shapes: dict[str, Sequence[int]] | None = None
                 ) -> ImportedModel:
    """Import a torch module (through ``torch.export``), an ONNX file or an ``onnx.ModelProto`` into a Relax
    IRModule with its parameters and input specs (``input_shapes``: sizes of an ONNX model's free
    dimensions, by input name). Raises ``edge.errors.UnsupportedOperator`` for operators TVM cannot
    convert, ``edge.errors.ModelFileError`` for unreadable model files and
    ``edge.errors.CompileStageError`` when the TVM frontend fails on a node."""
    from edge.importer import import_model as _impl

    return _impl(model, example_inputs, dynamic_batch=dynamic_batch, input_shapes=input_shapes)


def compile_model(model: torch.nn.Module | str | os.PathLike | ImportedModel,
                  example_inputs: tuple[torch.Tensor, ...] | None = None, target: str = "host",
                  tune_trials: int = 0, dynamic_batch: bool | int = False, verify: bool = True, atol: float = 1e-4,
                  num_threads: int | None = None, tuning_db: str | os.PathLike | None = None,
                  rtol: float = 1e-4, input_shapes: dict[str, Sequence[int]] | None = None,
                  default_schedules: bool = True) -> CompiledModel:
    """Import, optionally tune (MetaSchedule, ``tune_trials`` trials per task), compile for the named
    ``target`` and verify against the source model (PyTorch or ONNX Runtime). Tuning records live in one
    database folder per (model structure, target) under ``tuning_db`` (default: the hwsim cache); a warm
    database is applied without tuning again, and passing ``tuning_db`` with ``tune_trials=0`` applies
    existing records. Untuned CPU builds get the default schedules of ``edge.cpu_schedules``
    (``default_schedules=False``: TVM's naive loops, for comparison). Raises
    ``edge.errors.VerificationError`` when outputs differ beyond ``atol``/``rtol`` (verification is on by
    default), ``edge.errors.CompileStageError`` when a TVM stage fails."""
    from edge.compile import compile_model as _impl

    return _impl(model, example_inputs, target=target, tune_trials=tune_trials, dynamic_batch=dynamic_batch,
                 verify=verify, atol=atol, rtol=rtol, num_threads=num_threads, tuning_db=tuning_db,
                 input_shapes=input_shapes, default_schedules=default_schedules)


def load(directory: str | os.PathLike) -> CompiledModel:
    """Load an artifact written by ``CompiledModel.export``; errors clearly when it was built for a target
    this machine cannot run or its files are missing."""
    return _load(directory)


def time_model(compiled: CompiledModel | str | os.PathLike, inputs: Sequence[np.ndarray] | np.ndarray,
               repeat: int = 50, number: int = 1, rpc: str | None = None) -> dict[str, Any]:
    """Latency statistics in seconds (median, mean, p10, p90, std, n, where) of running ``compiled`` on
    ``inputs`` on the local device, or, when ``rpc`` ("host:port" of a server or "tracker://host:port/key")
    is given, on the remote board."""
    return _time_model(compiled, inputs, repeat=repeat, number=number, rpc=rpc)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("targets", "errors"):
        return importlib.import_module(f"edge.{name}")
    raise AttributeError(f"module 'edge' has no attribute {name!r}")
