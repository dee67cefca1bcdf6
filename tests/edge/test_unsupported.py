"""Unsupported operators and malformed model files raise specific errors before conversion."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import edge
from edge.errors import ModelFileError, UnsupportedOperator


def test_adaptive_max_pool_names_operator_and_node():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveMaxPool2d(2)).eval()
    with pytest.raises(UnsupportedOperator) as err:
        edge.import_model(model, (torch.randn(1, 1, 8, 8),))
    assert "adaptive_max_pool2d" in str(err.value)
    assert "module '1'" in str(err.value)  # the nn.Sequential child that uses it
    assert "adaptive_max_pool2d.default" in err.value.ops


def test_unsupported_onnx_operator(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Det", ["x"], ["y"], name="determinant")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    path = tmp_path / "det.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(UnsupportedOperator) as err:
        edge.import_model(path)
    assert "'Det'" in str(err.value) and "determinant" in str(err.value)


def test_malformed_onnx_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf\xff\xff")
    with pytest.raises(ModelFileError, match="ONNX"):
        edge.import_model(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        edge.import_model(tmp_path / "nope.onnx")
