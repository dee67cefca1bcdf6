"""Specialising an ONNX model to the inputs it is compiled for, where TVM needs constants.

TVM 0.27 compiles static graphs: the frontend needs a ``Reshape``'s shape, a ``Reduce``'s axes, a
``Resize``'s sizes, a ``TopK``'s k (and so on, :data:`SHAPE_OPERANDS`) as constants, and cannot take the
output of a ``Shape`` node where a tensor is expected ("Node cannot handle ShapeExpr inputs"). Two
specialisations, both only with static input shapes:

- :func:`specialise_shape_inputs`: a model input that feeds such an operand is frozen to the value of the
  example input (it becomes a ``Constant``); the compiled model records the value and refuses a call
  with another one (:class:`edge.specs.TensorSpec` ``value``), so it is never silently wrong.
- :func:`fold_static_shapes`: ``Shape`` and ``Size`` of tensors whose shape ONNX shape inference knows
  (with the inputs' concrete shapes) become constants.
- :func:`fold_shape_arithmetic`: then the small computations on those constants (the ``Slice``,
  ``Gather``, ``Concat``, ``Unsqueeze``... exporters write between a ``Shape`` and the ``Reshape`` that
  uses it, as ViT's patch embedding does) are evaluated by ONNX's reference evaluator and become
  constants too; the frontend does not fold them ("Reshape requires the input new shape to be Shape").
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

# op -> positions of the inputs the TVM frontend needs constant
SHAPE_OPERANDS: dict[str, frozenset[int]] = {
    **{op: frozenset({1}) for op in ("Reshape", "Expand", "Tile", "Split", "Squeeze", "Unsqueeze", "TopK",
                                     "CumSum", "OneHot", "Upsample", "CenterCropPad", "Trilu", "AffineGrid",
                                     "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                     "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                     "ReduceSumSquare")},
    "Slice": frozenset({1, 2, 3, 4}), "Resize": frozenset({1, 2, 3}), "Pad": frozenset({1, 2, 3}),
    "ConstantOfShape": frozenset({0}), "Range": frozenset({0, 1, 2}), "NonMaxSuppression": frozenset({2, 3, 4}),
    "Col2Im": frozenset({1, 2}), "MaxUnpool": frozenset({2}),
}


def _constant(name: str, value: np.ndarray) -> Any:
    from onnx import helper, numpy_helper

    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name),
                            name=f"hwsim_specialised_{name}")


def specialise_shape_inputs(model: Any, values: Mapping[str, np.ndarray]) -> list[str]:
    """Freeze the graph inputs of ``values`` (by name) that feed a shape operand (:data:`SHAPE_OPERANDS`)
    to those values, as ``Constant`` nodes; returns the names frozen (in place)."""
    graph = model.graph
    frozen = []
    for inp in list(graph.input):
        if inp.name not in values:
            continue
        feeds_shape = any(node.op_type in SHAPE_OPERANDS and node.domain in ("", "ai.onnx")
                          and any(name == inp.name and k in SHAPE_OPERANDS[node.op_type]
                                  for k, name in enumerate(node.input))
                          for node in graph.node)
        if feeds_shape:
            frozen.append(inp.name)
    if frozen:
        kept = [i for i in graph.input if i.name not in frozen]
        del graph.input[:]
        graph.input.extend(kept)
        nodes = [_constant(name, values[name]) for name in frozen] + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    return frozen


def fold_static_shapes(model: Any, shapes: Mapping[str, Sequence[int]]) -> int:
    """Replace ``Shape`` and ``Size`` nodes of the main graph whose input shape is known, with the graph
    inputs at ``shapes``, by constants; returns how many (in place)."""
    from onnx import shape_inference

    graph = model.graph
    if not any(n.op_type in ("Shape", "Size") for n in graph.node):
        return 0
    probe = type(model)()
    probe.CopyFrom(model)
    for inp in probe.graph.input:
        if inp.name in shapes and inp.type.WhichOneof("value") == "tensor_type":
            dims = inp.type.tensor_type.shape.dim
            del dims[:]
            for d in shapes[inp.name]:
                dims.add().dim_value = int(d)
    try:
        inferred = shape_inference.infer_shapes(probe, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is best effort: nothing is folded then
        return 0
    known: dict[str, list[int]] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        if vi.type.WhichOneof("value") != "tensor_type" or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            known[vi.name] = [int(d.dim_value) for d in dims]
    for t in graph.initializer:
        known[t.name] = list(t.dims)
    folded = 0
    nodes = []
    for node in graph.node:
        src = node.input[0] if node.input else ""
        if node.op_type in ("Shape", "Size") and node.domain in ("", "ai.onnx") and src in known:
            dims = known[src]
            if node.op_type == "Size":
                value = np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)
            else:
                attrs = {a.name: a.i for a in node.attribute}
                rank = len(dims)
                start, end = attrs.get("start", 0), attrs.get("end", rank)
                start, end = (start + rank if start < 0 else start), (end + rank if end < 0 else end)
                value = np.array(dims[max(0, min(start, rank)):max(0, min(end, rank))], dtype=np.int64)
            nodes.append(_constant(node.output[0], value))
            folded += 1
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return folded


# shape arithmetic exporters write: evaluated when every input is a constant and the result is small
SHAPE_ARITHMETIC = frozenset({"Slice", "Gather", "Concat", "Unsqueeze", "Squeeze", "Cast", "Add", "Sub", "Mul",
                              "Div", "Equal", "Where", "Reshape", "Range", "ReduceProd", "Neg", "Abs", "Max",
                              "Min", "Identity", "Expand", "Shape", "Size"})
MAX_FOLDED = 4096  # elements: shapes, axes and indices, never a weight


def fold_shape_arithmetic(model: Any) -> int:
    """Evaluate main-graph nodes of :data:`SHAPE_ARITHMETIC` whose inputs are all ``Constant`` nodes or
    small initializers and whose outputs are small, replacing them by ``Constant`` nodes, in graph order
    (so chains fold); returns how many (in place)."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    opsets = {o.domain or "": o.version for o in model.opset_import}
    values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer
                                     if int(np.prod(t.dims, dtype=np.int64)) <= MAX_FOLDED}
    nodes, folded = [], 0
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            value_attr = next((a for a in node.attribute if a.name == "value"), None)
            if value_attr is not None:
                values[node.output[0]] = numpy_helper.to_array(value_attr.t)
            nodes.append(node)
            continue
        ins = [i for i in node.input if i]
        if (node.op_type not in SHAPE_ARITHMETIC or node.domain not in ("", "ai.onnx") or not ins
                or any(i not in values for i in ins)):
            nodes.append(node)
            continue
        try:
            feeds = {i: values[i] for i in ins}
            outs = ReferenceEvaluator(node, opsets=opsets).run(None, feeds)
        except Exception:  # noqa: BLE001 - left for the frontend, which says what it cannot do
            nodes.append(node)
            continue
        if any(np.asarray(o).size > MAX_FOLDED for o in outs):
            nodes.append(node)
            continue
        for name, out in zip(node.output, outs):
            values[name] = np.asarray(out)
            nodes.append(_constant(name, np.asarray(out)))
        folded += 1
    if folded:
        del graph.node[:]
        graph.node.extend(nodes)
    return folded
