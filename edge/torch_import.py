"""Import a ``torch.nn.Module`` into Relax through ``torch.export``.

Operators are checked against the Relax torch frontend's converter table before conversion, so an
unsupported one is reported by name and by the model node that uses it
(:class:`~edge.errors.UnsupportedOperator`). The module keeps the weights as inputs after the model
inputs, so an artifact carries them as a separate params file.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, Sequence

import numpy as np
import torch
from torch.export import Dim

from edge.errors import ModelFileError, UnsupportedOperator
from edge.specs import BATCH, ImportedModel, TensorSpec, as_numpy_list, bound_batch, output_specs, spec_shape
from edge.stages import stage
from edge.tensors import flatten_outputs
from hwsim.errors import ConfigError

TORCH_TIP = ("Replace the operator with a supported equivalent (e.g. AdaptiveMaxPool2d -> MaxPool2d with a "
             "fixed kernel, or AdaptiveAvgPool2d).")


def _source_hash(ep: Any, state: dict[str, Any]) -> str:
    h = hashlib.sha256(ep.graph_module.code.encode())
    for name in sorted(state):
        t = state[name]
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _node_where(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return f"{node.name} (module '{path}')" if path else node.name


def check_torch_ops(ep: Any) -> None:
    """Raise :class:`UnsupportedOperator` listing every operator of the (decomposed) exported program that
    the Relax torch frontend has no converter for, with the nodes that use them."""
    from tvm.relax.frontend.torch.exported_program_translator import ExportedProgramImporter

    table = ExportedProgramImporter().convert_map
    missing: dict[str, list[str]] = {}
    for gm in ep.graph_module.modules():
        graph = getattr(gm, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.op == "call_function":
                op = getattr(node.target, "__name__", str(node.target))
                if op not in table:
                    missing.setdefault(op, []).append(_node_where(node))
    if missing:
        raise UnsupportedOperator("PyTorch (torch.export)", missing, TORCH_TIP)


def negative_index_hint(ep: Any) -> str:
    """A sentence naming the nodes that index with a negative constant (miscompiled by the TVM 0.27 torch
    frontend), or an empty string."""
    found = []
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        op = getattr(node.target, "__name__", "")
        args = list(node.args)
        if op.startswith("select") and len(args) >= 3 and isinstance(args[2], int) and args[2] < 0:
            found.append(_node_where(node))
        elif op.startswith("slice") and any(isinstance(a, int) and a < 0 for a in args[2:4]):
            found.append(_node_where(node))
    if not found:
        return ""
    return (f"Likely cause: negative indexing at {', '.join(found[:5])}, which the TVM 0.27 torch frontend "
            "miscompiles (x[:, -1] becomes an out-of-bounds take); index from the front instead, "
            "e.g. x[:, x.shape[1] - 1] or x.narrow(1, x.shape[1] - 1, 1).squeeze(1).")


def import_torch(model: torch.nn.Module, example_inputs: Sequence[Any] | None,
                 max_batch: int | None) -> ImportedModel:
    """``model`` in Relax form for inputs shaped like ``example_inputs`` (dimension 0 symbolic up to
    ``max_batch`` when given); its reference is the module itself in eval mode."""
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    if example_inputs is None or (isinstance(example_inputs, (tuple, list)) and not example_inputs):
        raise ConfigError("a torch module needs example_inputs (a tuple of tensors with the input shapes)")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    examples = tuple(t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t)) for t in example_inputs)
    was_training = model.training
    model.eval()
    try:
        export_args = examples
        dyn = None
        if max_batch is not None:
            # torch.export specialises a dimension of size 1, so export with a batch of 2
            export_args = tuple(t.repeat(2, *([1] * (t.dim() - 1))) if t.shape[0] == 1 else t for t in examples)
            batch = Dim(BATCH, min=1, max=max_batch)
            dyn = tuple({0: batch} for _ in export_args)
        try:
            ep = torch.export.export(model, export_args, dynamic_shapes=dyn)
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds; all mean "cannot export"
            hint = " (does the model mix the batch dimension with others?)" if max_batch is not None else ""
            raise ModelFileError(f"torch.export could not trace the model{hint}: {exc}") from exc
        ep = ep.run_decompositions()
        check_torch_ops(ep)
        hint = negative_index_hint(ep)
        with warnings.catch_warnings(), stage("import", "the PyTorch frontend (torch.export -> Relax)"):
            warnings.simplefilter("ignore")
            mod = from_exported_program(ep, keep_params_as_input=True, run_ep_decomposition=False)
            mod, params = relax.frontend.detach_params(mod)
        source_hash = _source_hash(ep, dict(model.state_dict()))
    finally:
        model.train(was_training)

    np_params = [p.numpy() for p in params.get("main", [])]
    main = mod["main"]
    n_in = len(examples)
    param_names = [v.name for v in main.params[n_in:]]
    inputs = [TensorSpec(v.name, spec_shape(v.ty.shape), str(v.ty.dtype), max_batch) for v in main.params[:n_in]]
    mod = bound_batch(mod, n_in, max_batch)

    def reference(*arrays: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            was = model.training
            model.eval()
            try:
                return flatten_outputs(model(*(torch.from_numpy(np.array(a, copy=True)) for a in arrays)))
            finally:
                model.train(was)

    return ImportedModel(mod, np_params, param_names, inputs, output_specs(main), "torch", source_hash,
                         as_numpy_list(examples), reference, max_batch, hint)
