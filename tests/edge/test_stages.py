"""Never a raw TVM traceback (issue 18, point 1 and root cause 3): failures inside TVM become hwsim errors
naming the stage and the node; the NHWC conversion falls back to NCHW where it fails; the command line
prints one line even for an unexpected exception."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import edge
from edge import compile as compile_mod
from edge.errors import CompileStageError
from edge.memory_guard import memory_ceiling
from edge.stages import reason_of, stage
from hwsim.cli import dispatch
from hwsim.cli import main as hwsim_main
from tests.edge import onnx_models as om


def _dynamic_split(tmp_path):
    """Split whose sizes are computed from a model input: the TVM 0.27 frontend cannot convert it (a model
    input feeding the sizes directly is specialised to the example's value, edge.onnx_specialise)."""
    g = helper.make_graph([helper.make_node("Abs", ["sizes"], ["sizes_abs"], name="the_abs"),
                           helper.make_node("Split", ["x", "sizes_abs"], ["a", "b"], axis=0, name="the_split")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6]),
                           helper.make_tensor_value_info("sizes", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [4])])
    return om.save(g, tmp_path / "split.onnx", opset=13)


def test_frontend_failure_names_the_stage_and_the_node(tmp_path):
    path = _dynamic_split(tmp_path)
    with pytest.raises(CompileStageError) as err:
        edge.import_model(path, [np.zeros(6, "float32"), np.array([2, 4], "int64")])
    exc = err.value
    assert exc.stage == "import" and "the_split" in str(exc) and "Split" in str(exc)
    assert "Traceback" not in str(exc) and "make it a constant" in str(exc)
    assert isinstance(exc.__cause__, Exception)  # the original is chained for HWSIM_DEBUG users


def test_cli_prints_one_line_for_a_frontend_failure(tmp_path, capsys):
    path = _dynamic_split(tmp_path)
    code = hwsim_main(["edge", "compile", str(path), "--input-shape", "x=6", "--input-shape", "sizes=2",
                       "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "import stage failed" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_last_resort_handler(monkeypatch, capsys):
    """An exception that is not an hwsim error is one line naming its type, unless HWSIM_DEBUG=1."""
    def boom(argv):
        raise RuntimeError("deep inside\n  a library")

    monkeypatch.setattr("hwsim.cli.resolve_name", lambda *a, **k: boom)
    monkeypatch.delenv("HWSIM_DEBUG", raising=False)
    assert dispatch(["x"], {"x": ("m:f", "test")}, "hwsim") == 70
    err = capsys.readouterr().err
    assert "internal error, please report" in err and "RuntimeError: deep inside a library" in err
    monkeypatch.setenv("HWSIM_DEBUG", "1")
    with pytest.raises(RuntimeError):
        dispatch(["x"], {"x": ("m:f", "test")}, "hwsim")


def test_layout_conversion_falls_back_to_nchw(monkeypatch):
    """When the NHWC conversion fails the model is built in NCHW and the manifest says why."""
    import torch

    from tests.edge import edge_models as em

    monkeypatch.setattr(compile_mod, "CPU_CONV_LAYOUT", {"relax.nn.conv2d": ["NHWQ", "HWIO"]})
    model = em.cnn()
    compiled = edge.compile_model(model, (torch.randn(1, 1, 8, 8),))
    layout = compiled.info["build"]["layout"]
    assert layout["conv_layout"] == "NCHW" and layout["nhwc_tried"] and "layout stage" in layout["fallback"]
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype("float32")
    np.testing.assert_allclose(compiled(x), em.reference(model, x), atol=1e-4, rtol=1e-4)


def test_reason_strips_the_stack():
    exc = RuntimeError("Traceback (most recent call last):\n  File \"x.py\", line 1\n  0: foo\n"
                       "InternalError: Check failed: (a == b) is false: Invalid SLayout")
    assert reason_of(exc) == "RuntimeError: a == b: Invalid SLayout"


def test_stage_passes_hwsim_errors_through():
    from hwsim.errors import ConfigError

    with pytest.raises(ConfigError):
        with stage("build", "x"):
            raise ConfigError("mine")
    with pytest.raises(CompileStageError, match="build stage failed in x"):
        with stage("build", "x"):
            raise KeyError("num_heads")


def test_memory_ceiling_turns_runaway_allocation_into_an_error():
    with memory_ceiling(64 * 2**20) as ceiling:
        if ceiling is None:
            pytest.skip("RLIMIT_DATA cannot be set here")
        with pytest.raises(MemoryError):
            bytearray(512 * 2**20)
    bytearray(128 * 2**20)  # the limit is lifted afterwards
