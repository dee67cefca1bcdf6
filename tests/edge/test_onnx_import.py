"""ONNX files as users have them (issue 18, point 1): old IR with initializers among the inputs, Dropout and
Identity at inference, n-ary Sum/Max/Min/Mean, scalar inputs, free dimensions, names that are not
identifiers, contrib and shadowed operators, dtypes numpy cannot carry."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

import edge
from edge.architectures.legacy import export_old_style, light_model_path, randomized_light_model
from edge.errors import UnsupportedOperator
from edge.onnx_support import is_supported
from hwsim.errors import NotSupportedError, ShapeError
from tests.edge import edge_models as em
from tests.edge import onnx_models as om


def _ort(path, *arrays):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inits = {t.name for t in onnx.load(str(path)).graph.initializer}
    names = [i.name for i in sess.get_inputs() if i.name not in inits]
    return sess.run(None, dict(zip(names, arrays)))


def test_initializers_listed_as_inputs_ir3(tmp_path):
    """IR 3 with every initializer also a graph input (the classic zoo): imported once, as weights, and the
    manifest records the rewrite; before, the weights were imported twice and the build failed."""
    path = om.save(om.conv_graph(inits_as_inputs=True), tmp_path / "old.onnx", opset=9, ir_version=3)
    compiled = edge.compile_model(path)
    assert [s.name for s in compiled.inputs] == ["x"]
    rewrites = compiled.info["source"]["rewrites"]
    assert rewrites["initializers-as-inputs"] == 2 and rewrites["dropout"] == 1 and rewrites["identity"] >= 1
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype("float32")
    np.testing.assert_allclose(compiled(x), _ort(path, x)[0], rtol=1e-5, atol=1e-5)
    assert compiled.info["verification"]["passed"]


def test_torch_export_the_old_way(tmp_path):
    """A PyTorch model exported at opset 9 with keep_initializers_as_inputs and IR 3."""
    model = em.cnn()
    path = export_old_style(model, torch.randn(1, 1, 8, 8), tmp_path / "cnn_ir3.onnx")
    proto = onnx.load(str(path))
    assert proto.ir_version == 3 and len(proto.graph.input) > 1
    compiled = edge.compile_model(path)
    x = np.random.default_rng(1).standard_normal((1, 1, 8, 8)).astype("float32")
    np.testing.assert_allclose(compiled(x), em.reference(model, x), rtol=1e-4, atol=1e-4)


def test_dropout_in_training_mode_is_refused(tmp_path):
    g = helper.make_graph([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor("r", TensorProto.FLOAT, [], [0.5]),
                           helper.make_tensor("t", TensorProto.BOOL, [], [True])])
    with pytest.raises(UnsupportedOperator, match="training mode"):
        edge.import_model(om.save(g, tmp_path / "drop.onnx", opset=13))


@pytest.mark.parametrize("op,n", [("Sum", 2), ("Sum", 4), ("Max", 3), ("Min", 2), ("Mean", 3)])
def test_nary_ops_keep_the_nhwc_layout(tmp_path, op, n):
    """Variadic ops after a convolution: folded pairwise, so the NHWC conversion applies (the frontend's
    stacked form crashed it: "Invalid SLayout ... ABCDE")."""
    path = om.save(om.nary_graph(op, n), tmp_path / f"{op}{n}.onnx", opset=13)
    compiled = edge.compile_model(path)
    assert compiled.info["build"]["layout"]["conv_layout"] == "NHWC"
    x = np.random.default_rng(2).standard_normal((1, 4, 6, 6)).astype("float32")
    np.testing.assert_allclose(compiled(x), _ort(path, x)[0], rtol=1e-5, atol=1e-5)


def test_scalar_inputs_stay_scalars(tmp_path):
    """A rank-0 input is declared, checked and passed as shape (), not (1,)."""
    g = helper.make_graph([helper.make_node("Mul", ["x", "s"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    path = om.save(g, tmp_path / "scalar.onnx")
    compiled = edge.compile_model(path, [np.ones(3, "float32"), np.array(2.5, "float32")])
    assert compiled.inputs[1].shape == ()
    np.testing.assert_allclose(compiled(np.arange(3, dtype="float32"), np.array(2.0, "float32")), [0, 2, 4])


def test_free_dimensions_need_a_shape(tmp_path):
    """A free dimension other than the batch is not silently 1: the error names the flag, and the shape
    given with input_shapes (--input-shape) is used."""
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])])
    path = om.save(g, tmp_path / "free.onnx")
    with pytest.raises(ShapeError, match=r"--input-shape x="):
        edge.import_model(path)
    compiled = edge.compile_model(path, input_shapes={"x": (1, 3, 5, 7)})
    assert compiled.inputs[0].shape == (1, 3, 5, 7)
    with pytest.raises(ShapeError, match="declares"):
        edge.import_model(path, input_shapes={"x": (1, 4, 5, 7)})


def test_names_that_are_not_identifiers(tmp_path):
    """``gpu_0/conv_w`` style names become identifiers (nvcc rejects '/' in kernel parameters); the user
    keeps the input name."""
    path = om.save(om.conv_graph(inits_as_inputs=False, name_prefix="gpu_0/"), tmp_path / "names.onnx")
    imported = edge.import_model(path)
    assert [s.name for s in imported.inputs] == ["gpu_0/x"]
    assert all(v.name.isidentifier() for v in imported.mod["main"].params)
    assert imported.rewrites["identifiers"] >= 2


def test_standard_attention_is_not_sent_to_the_contrib_converter():
    """The frontend's 'Attention' converts com.microsoft.Attention; the standard op (opset 23) is refused
    by name before conversion (it failed with KeyError: 'num_heads'), the contrib one is accepted."""
    converted, standard = frozenset({"Attention", "FastGelu", "Relu"}), frozenset({"Attention", "Relu"})
    assert not is_supported("", "Attention", converted, standard)
    assert is_supported("com.microsoft", "Attention", converted, standard)
    assert is_supported("com.microsoft", "FastGelu", converted, standard)
    assert not is_supported("com.microsoft", "Relu", converted, standard)
    assert is_supported("", "Relu", converted, standard)


def test_bfloat16_input_is_a_clear_error(tmp_path):
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2])])
    with pytest.raises(NotSupportedError, match="BFLOAT16"):
        edge.import_model(om.save(g, tmp_path / "bf16.onnx"))


def test_model_proto_in_memory():
    """An ``onnx.ModelProto`` compiles like a file."""
    model = helper.make_model(om.conv_graph(inits_as_inputs=False), opset_imports=[helper.make_opsetid("", 17)])
    compiled = edge.compile_model(model)
    assert compiled.info["source"]["kind"] == "onnx" and compiled.info["verification"]["passed"]


def test_classic_zoo_file_from_the_onnx_wheel(tmp_path):
    """SqueezeNet 1.0 as the classic ONNX model zoo wrote it (IR 3, opset 9, Dropout, initializers as
    inputs), shipped in the onnx wheel: compiles with default flags and matches ONNX Runtime."""
    if not light_model_path("squeezenet").is_file():
        pytest.skip("this onnx package does not ship the light models")
    path = randomized_light_model("squeezenet", tmp_path / "squeezenet.onnx")  # shipped weights are all 0.02
    compiled = edge.compile_model(path)
    assert compiled.info["verification"]["passed"]
    assert compiled.info["source"]["rewrites"]["initializers-as-inputs"] > 0
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32")
    got = np.asarray(compiled(x)).ravel()
    assert np.unique(got).size > 100  # a constant output could not tell a wrong build from a right one


def test_shape_arithmetic_before_a_reshape_is_folded(tmp_path):
    """Conv -> Shape -> Slice -> Concat -> Reshape (ViT's patch embedding as torch exports it): the frontend
    needs the Reshape's shape constant; the chain is evaluated at import and the model compiles."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [6, 3, 4, 4], rng.standard_normal(6 * 3 * 16).tolist())
    consts = [helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [1], [v]))
              for name, v in (("start", 0), ("end", 2), ("minus_one", -1))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], strides=[4, 4]), *consts,
             helper.make_node("Shape", ["y"], ["s"]),
             helper.make_node("Slice", ["s", "start", "end"], ["s2"]),
             helper.make_node("Concat", ["s2", "minus_one"], ["shape"], axis=0),
             helper.make_node("Reshape", ["y", "shape"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 6, 16])], [w])
    path = om.save(graph, tmp_path / "patches.onnx")
    compiled = edge.compile_model(path)
    assert compiled.info["source"]["rewrites"]["shape-arithmetic"] == 2
    x = rng.standard_normal((1, 3, 16, 16)).astype("float32")
    np.testing.assert_allclose(compiled(x), _ort(path, x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale,refused", [(0.6, True), (2.0, False)])
def test_cubic_downsampling_by_scales_is_refused(tmp_path, scale, refused):
    """TVM's cubic Resize downsampling by scales differs from ONNX's definition, and for align_corners ONNX
    Runtime gives the same wrong values, so verification cannot catch it: refused by name. Upsampling is
    built."""
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, scale, scale])
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic",
                            coordinate_transformation_mode="align_corners")
    out = int(8 * scale)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, out, out])], [scales])
    path = om.save(graph, tmp_path / "resize.onnx", opset=13)
    if refused:
        with pytest.raises(UnsupportedOperator, match="cubic, downsampling by scales"):
            edge.compile_model(path)
    else:
        x = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype("float32")
        np.testing.assert_allclose(edge.compile_model(path)(x), _ort(path, x)[0], rtol=1e-4, atol=1e-4)
