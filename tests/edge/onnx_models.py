"""Small ONNX models for the import tests, written with ``onnx.helper`` the ways users' files come."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(graph: onnx.GraphProto, path: Path, opset: int = 17, ir_version: int | None = None,
         domains: dict[str, int] | None = None) -> Path:
    """``graph`` as a model file at ``opset`` (and the IR version given, else onnx's default)."""
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    model = helper.make_model(graph, opset_imports=imports)
    if ir_version is not None:
        model.ir_version = ir_version
    onnx.save(model, str(path))
    return path


def conv_graph(inits_as_inputs: bool, with_dropout: bool = True, name_prefix: str = "") -> onnx.GraphProto:
    """conv 3x3 (4 -> 8, weight and bias initializers) -> relu -> [Dropout] -> Identity -> global pool,
    input ``x`` (1, 4, 8, 8); names may carry a prefix such as ``gpu_0/``."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 4, 3, 3)).astype("float32"), f"{name_prefix}conv_w")
    b = numpy_helper.from_array(rng.standard_normal(8).astype("float32"), f"{name_prefix}conv_b")
    x = f"{name_prefix}x"
    nodes = [helper.make_node("Conv", [x, w.name, b.name], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu")]
    if with_dropout:
        nodes.append(helper.make_node("Dropout", ["r"], ["d"], name="drop"))
    nodes += [helper.make_node("Identity", ["d" if with_dropout else "r"], ["i"], name="ident"),
              helper.make_node("GlobalAveragePool", ["i"], ["y"], name="pool")]
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4, 8, 8])]
    if inits_as_inputs:
        inputs += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in (w, b)]
    return helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 1, 1])],
                             [w, b])


def nary_graph(op: str, n: int) -> onnx.GraphProto:
    """conv -> ``op`` over ``n`` inputs (the conv output, relu of it, and constants) -> output."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((8, 4, 3, 3)).astype("float32"), "w")
    extra = [numpy_helper.from_array(rng.standard_normal((1, 8, 1, 1)).astype("float32"), f"k{i}") for i in range(n)]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"])]
    operands = (["c", "r"] + [t.name for t in extra])[:n]
    nodes.append(helper.make_node(op, operands, ["s"], name=f"{op.lower()}_{n}"))
    nodes.append(helper.make_node("Relu", ["s"], ["y"]))
    return helper.make_graph(nodes, "nary", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], [w, *extra])
