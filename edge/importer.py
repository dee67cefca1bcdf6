"""Import a model into Relax: a ``torch.nn.Module`` (:mod:`edge.torch_import`) or an ONNX file or
``ModelProto`` (:mod:`edge.onnx_import`). The result is an :class:`~edge.specs.ImportedModel`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from edge.onnx_import import import_onnx, is_onnx
from edge.specs import ImportedModel, batch_bound
from edge.torch_import import import_torch
from hwsim.errors import ConfigError


def import_model(model: Any, example_inputs: Sequence[Any] | None = None, dynamic_batch: bool | int = False,
                 input_shapes: Mapping[str, Sequence[int]] | None = None) -> ImportedModel:
    """Import ``model`` (a ``torch.nn.Module``, the path of an ONNX file, or an ``onnx.ModelProto``).

    ``example_inputs`` fix the input shapes (required for a torch module). For ONNX they are optional:
    declared static dimensions are used, a free leading dimension is the batch (1), and other free
    dimensions need ``input_shapes`` (``{input name: shape}``) or example inputs. ``dynamic_batch`` makes
    dimension 0 of every input symbolic, up to :data:`~edge.specs.DEFAULT_MAX_BATCH` or, given a number,
    up to that batch (the memory planner reserves activations for the largest batch)."""
    max_batch = batch_bound(dynamic_batch)
    if is_onnx(model):
        return import_onnx(model, example_inputs, max_batch, input_shapes)
    if isinstance(model, torch.nn.Module):
        if input_shapes:
            raise ConfigError("input_shapes is for ONNX models; a torch module takes its shapes from example_inputs")
        return import_torch(model, example_inputs, max_batch)
    raise ConfigError(f"cannot import a {type(model).__name__}: pass a torch.nn.Module with example inputs, "
                      "the path of an .onnx file, or an onnx.ModelProto")
