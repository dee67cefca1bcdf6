"""Rewrites of an ONNX model, applied before the TVM frontend sees it: a table of small functions.

Each rewrite turns a form that ONNX Runtime accepts, and that the TVM 0.27 ONNX frontend imports wrongly
or not at all, into an equivalent form it imports. Each takes a ``ModelProto`` (changed in place) and
returns how many places it changed; :func:`apply_rewrites` runs the table in order and reports the
counts, which the import records.

- ``initializers-as-inputs``: IR < 4 files (the classic model zoo, torch exports with
  ``keep_initializers_as_inputs=True``) list every initializer among the graph inputs; the frontend then
  imports each weight twice (``expect a Tuple with 36 elements, but get 18``, ``Var gv is not defined``).
  An initializer listed as an input is a default a caller may override; a deployed model uses the default.
- ``small-initializers-as-constants``: integer initializers and float ones of at most
  :data:`SMALL_INITIALIZER` elements (shapes, axes, scales, clip bounds) become ``Constant`` nodes, so
  converters that need them constant see constants (weights stay parameters).
- ``dropout``: ``Dropout`` at inference is the identity (its mask, when used, all true).
- ``identity``: ``Identity`` nodes removed (consumers read the input), except where the output is a graph
  output.
- ``constant-values``: ``Constant`` nodes with ``value_float(s)``/``value_int(s)`` given a ``value`` tensor.
- ``identifiers``: graph inputs and initializers whose names are not C identifiers (``gpu_0/conv1_w_0``)
  renamed: the names become Relax variables and then buffer names in generated code, and nvcc rejects
  ``/`` in a CUDA kernel's parameter names. The import keeps the original input names for the user.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from edge.errors import UnsupportedOperator

SMALL_INITIALIZER = 16
_FLOAT_TYPES = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def _subgraphs(graph: Any) -> list[Any]:
    out = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                out.append(attr.g)
            out.extend(attr.graphs)
    return out


def _rename_uses(graph: Any, old: str, new: str) -> None:
    """Every read of tensor ``old`` in ``graph`` (and its subgraphs) reads ``new`` instead."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for output in graph.output:
        if output.name == old:  # only inside subgraphs (graph outputs of the main graph are kept)
            output.name = new
    for sub in _subgraphs(graph):
        _rename_uses(sub, old, new)


class _Names:
    """Fresh tensor names for one graph: none used by the graph or handed out before."""

    def __init__(self, graph: Any) -> None:
        self.used = {n for node in graph.node for n in (*node.input, *node.output)}
        self.used |= {i.name for i in graph.input} | {t.name for t in graph.initializer}

    def fresh(self, base: str) -> str:
        k = 0
        while f"{base}_{k}" in self.used:
            k += 1
        self.used.add(f"{base}_{k}")
        return f"{base}_{k}"


def initializers_out_of_inputs(model: Any) -> int:
    """Drop graph inputs that are also initializers (see the module doc)."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    kept = [i for i in graph.input if i.name not in inits]
    removed = len(graph.input) - len(kept)
    if removed:
        del graph.input[:]
        graph.input.extend(kept)
    return removed


def small_initializers_as_constants(model: Any) -> int:
    """Integer and small float initializers of the main graph as ``Constant`` nodes."""
    from onnx import helper

    graph = model.graph
    inputs = {i.name for i in graph.input}
    moved, kept = [], []
    for t in graph.initializer:
        size = int(np.prod(t.dims, dtype=np.int64)) if len(t.dims) else 1
        small = t.data_type not in _FLOAT_TYPES or size <= SMALL_INITIALIZER
        (moved if small and t.name not in inputs else kept).append(t)
    if not moved:
        return 0
    nodes = [helper.make_node("Constant", [], [t.name], value=t, name=f"hwsim_const_{k}")
             for k, t in enumerate(moved)]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)
    return len(moved)


def constant_value(graph: Any, name: str) -> np.ndarray | None:
    """The value of initializer or ``Constant`` output ``name`` of ``graph``, or None."""
    from onnx import numpy_helper

    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
    return None


def dropout_as_identity(model: Any) -> int:
    """``Dropout`` (inference) as ``Identity``; a used mask output becomes an all-true tensor. Dropout
    with a training-mode input that is not a constant false is random and is refused."""
    from onnx import TensorProto, helper

    changed = 0

    def visit(graph: Any) -> None:
        nonlocal changed
        new_nodes = []
        names = _Names(graph)
        for i, node in enumerate(graph.node):
            if node.op_type != "Dropout" or node.domain not in ("", "ai.onnx"):
                new_nodes.append(node)
                continue
            if len(node.input) >= 3 and node.input[2]:
                mode = constant_value(graph, node.input[2])
                ratio = constant_value(graph, node.input[1]) if node.input[1] else None
                if (mode is None or bool(mode)) and not (ratio is not None and float(ratio) == 0.0):
                    raise UnsupportedOperator("ONNX", {"Dropout (training_mode)": [node.name or f"#{i}"]},
                                              "Dropout in training mode is random; export the model in eval "
                                              "mode (training_mode false) to compile it for inference.")
            new_nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
            if len(node.output) > 1 and node.output[1]:
                shape = names.fresh("hwsim_dropout_shape")
                new_nodes.append(helper.make_node("Shape", [node.input[0]], [shape]))
                new_nodes.append(helper.make_node(
                    "ConstantOfShape", [shape], [node.output[1]],
                    value=helper.make_tensor("one", TensorProto.BOOL, [1], [True])))
            changed += 1
        del graph.node[:]
        graph.node.extend(new_nodes)
        for sub in _subgraphs(graph):
            visit(sub)

    visit(model.graph)
    return changed


def identity_removed(model: Any) -> int:
    """Remove ``Identity`` nodes of the main graph whose output is not a graph output."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    removed = 0
    kept = []
    renames: list[tuple[str, str]] = []
    for node in graph.node:
        if (node.op_type == "Identity" and node.domain in ("", "ai.onnx") and node.output[0] not in outputs
                and node.input[0]):
            renames.append((node.output[0], node.input[0]))
            removed += 1
        else:
            kept.append(node)
    if removed:
        del graph.node[:]
        graph.node.extend(kept)
        target = dict(renames)
        for old in target:  # a chain of Identity nodes reads the first input
            new = target[old]
            while new in target:
                new = target[new]
            _rename_uses(graph, old, new)
    return removed


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifiers(model: Any) -> int:
    """Rename the main graph's inputs and initializers to C identifiers (see the module doc)."""
    graph = model.graph
    names = _Names(graph)
    renamed = 0
    for holder in (*graph.input, *graph.initializer):
        if _IDENTIFIER.match(holder.name):
            continue
        base = re.sub(r"\W", "_", holder.name) or "t"
        new = names.fresh(base if base[0].isalpha() or base[0] == "_" else f"t_{base}")
        old = holder.name
        for other in (*graph.input, *graph.initializer):
            if other.name == old:
                other.name = new
        _rename_uses(graph, old, new)
        renamed += 1
    return renamed


_CONSTANT_FORMS = {"value_float": ("FLOAT", False), "value_floats": ("FLOAT", True), "value_int": ("INT64", False),
                   "value_ints": ("INT64", True)}


def constant_values(model: Any) -> int:
    """``Constant`` nodes that give their value as ``value_float(s)``/``value_int(s)`` (opset 12+) given it
    as a ``value`` tensor, the one form the frontend reads."""
    from onnx import TensorProto, helper

    changed = 0

    def visit(graph: Any) -> None:
        nonlocal changed
        for node in graph.node:
            if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
                continue
            for attr in list(node.attribute):
                form = _CONSTANT_FORMS.get(attr.name)
                if form is None:
                    continue
                elem, is_list = form
                values = list(attr.floats if elem == "FLOAT" else attr.ints) if is_list else \
                    [attr.f if elem == "FLOAT" else attr.i]
                tensor = helper.make_tensor("value", getattr(TensorProto, elem), [len(values)] if is_list else [],
                                            values)
                node.attribute.remove(attr)
                node.attribute.append(helper.make_attribute("value", tensor))
                changed += 1
        for sub in _subgraphs(graph):
            visit(sub)

    visit(model.graph)
    return changed


REWRITES: dict[str, Callable[[Any], int]] = {
    "constant-values": constant_values,
    "initializers-as-inputs": initializers_out_of_inputs,
    "small-initializers-as-constants": small_initializers_as_constants,
    "dropout": dropout_as_identity,
    "identity": identity_removed,
    "identifiers": identifiers,
}


def apply_rewrites(model: Any) -> dict[str, int]:
    """Run every rewrite of :data:`REWRITES` on ``model`` (in place); the counts of those that changed it."""
    counts = {}
    for name, rewrite in REWRITES.items():
        n = rewrite(model)
        if n:
            counts[name] = n
    return counts
