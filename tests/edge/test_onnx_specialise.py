"""Specialising ONNX models to the inputs they are compiled for (edge.onnx_specialise), and the local
converters for operators the TVM frontend lacks or computes imprecisely (edge.onnx_converters)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import edge
from edge.errors import InputMismatchError
from edge.onnx_specialise import fold_static_shapes, specialise_shape_inputs
from tests.edge import onnx_models as om


def _ort(path, *arrays):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), arrays)})


def _reshape_by_input(tmp_path):
    """``y = relu(reshape(x, shape))`` with ``shape`` a model input."""
    g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["r"], name="the_reshape"),
                           helper.make_node("Relu", ["r"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
                           helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])])
    return om.save(g, tmp_path / "reshape.onnx", opset=13)


def test_shape_input_is_specialised_and_other_values_refused(tmp_path, private_cache):
    """A model input giving a Reshape's shape is frozen to the example's value: the compiled model matches
    ONNX Runtime, records the value in the manifest (kept by export/load), and refuses another value
    instead of computing a wrong shape."""
    path = _reshape_by_input(tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 6)).astype("float32")
    shape = np.array([3, 4], "int64")
    compiled = edge.compile_model(path, [x, shape])
    assert compiled.info["source"]["rewrites"]["specialised-inputs"] == 1
    assert compiled.inputs[1].value is not None and compiled.inputs[1].value.tolist() == [3, 4]
    out = compiled(x, shape)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, _ort(path, x, shape)[0], rtol=1e-6)
    with pytest.raises(InputMismatchError, match=r"fixed to \[3, 4\]"):
        compiled(x, np.array([4, 3], "int64"))
    loaded = edge.load(compiled.export(tmp_path / "art"))
    assert loaded.inputs[1].value.tolist() == [3, 4]
    np.testing.assert_allclose(loaded(x, shape), out)
    with pytest.raises(InputMismatchError):
        loaded(x, np.array([6, 2], "int64"))


def test_specialise_leaves_data_inputs_alone(tmp_path):
    """Only inputs feeding a shape operand are frozen; the data input of the same Reshape stays an input."""
    proto = onnx.load(str(_reshape_by_input(tmp_path)))
    frozen = specialise_shape_inputs(proto, {"x": np.zeros((2, 6), "float32"), "shape": np.array([3, 4])})
    assert frozen == ["shape"]
    assert [i.name for i in proto.graph.input] == ["x"]
    assert proto.graph.node[0].op_type == "Constant"


def test_static_shapes_are_folded(tmp_path):
    """``Shape`` of a tensor whose shape inference knows becomes a constant, so ``Reshape(y, Shape(x))``
    imports; the compiled model matches ONNX Runtime."""
    g = helper.make_graph([helper.make_node("Shape", ["x"], ["s"], start=0, end=-1),
                           helper.make_node("Size", ["x"], ["n"]),
                           helper.make_node("Reshape", ["z", "s"], ["r"]),
                           helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
                           helper.make_node("Mul", ["r", "nf"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, [6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    path = om.save(g, tmp_path / "shape.onnx", opset=15)
    proto = onnx.load(str(path))
    assert fold_static_shapes(proto, {"x": [2, 3, 4], "z": [6]}) == 2
    assert [n.op_type for n in proto.graph.node].count("Constant") == 2
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal((2, 3, 4)).astype("float32"), rng.standard_normal(6).astype("float32")
    compiled = edge.compile_model(path, [x, z])
    out = compiled(x, z)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, _ort(path, x, z)[0], rtol=1e-6)


def test_local_unary_converters_match_onnx_runtime(tmp_path):
    """Mish (precise for negative inputs), Cosh and Sinh (no LLVM intrinsics in TVM 0.27), Celu and
    LpNormalization (missing from the frontend) against ONNX Runtime, over a range with large negative
    values and values near 0."""
    nodes = [helper.make_node("Mish", ["x"], ["mish"]), helper.make_node("Cosh", ["x"], ["cosh"]),
             helper.make_node("Sinh", ["x"], ["sinh"]), helper.make_node("Celu", ["x"], ["celu"], alpha=0.7),
             helper.make_node("LpNormalization", ["x"], ["l1"], axis=1, p=1),
             helper.make_node("LpNormalization", ["x"], ["l2"], axis=-1, p=2)]
    outs = [n.output[0] for n in nodes]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, [4, 8]) for o in outs])
    path = om.save(g, tmp_path / "unary.onnx", opset=18)
    x = np.concatenate([np.linspace(-12, 4, 16), np.linspace(-0.005, 0.005, 16)]).astype("float32").reshape(4, 8)
    compiled = edge.compile_model(path, [x])
    for name, got, want in zip(outs, compiled.run_list(x), _ort(path, x)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7, err_msg=name)


def test_pow_of_integers_and_mixed_dtypes(tmp_path):
    """Pow with integer operands (TVM's power takes floats) and a float base with an integer exponent."""
    g = helper.make_graph([helper.make_node("Pow", ["a", "b"], ["ip"]), helper.make_node("Pow", ["x", "b"], ["fp"])],
                          "g", [helper.make_tensor_value_info("a", TensorProto.INT32, [5]),
                                helper.make_tensor_value_info("b", TensorProto.INT32, [5]),
                                helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
                          [helper.make_tensor_value_info("ip", TensorProto.INT32, [5]),
                           helper.make_tensor_value_info("fp", TensorProto.FLOAT, [5])])
    path = om.save(g, tmp_path / "pow.onnx", opset=15)
    a, b = np.array([2, -3, 5, 7, 0], "int32"), np.array([10, 3, 2, 0, 4], "int32")
    x = np.array([1.5, -2.0, 0.5, 3.0, 1.1], "float32")
    compiled = edge.compile_model(path, [a, b, x])
    got, want = compiled.run_list(a, b, x), _ort(path, a, b, x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
