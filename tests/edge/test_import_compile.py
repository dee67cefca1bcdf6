"""MLP and small CNN, imported from torch and from ONNX, compiled for the host, match PyTorch within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edge
from edge.errors import ConfigError, InputMismatchError
from tests.edge import edge_models as em

ATOL = 1e-4


def _check(compiled, model, shape, batches=(None,)):
    rng = np.random.default_rng(3)
    for b in batches:
        x = rng.standard_normal((b or shape[0], *shape[1:])).astype("float32")
        np.testing.assert_allclose(compiled(x), em.reference(model, x), atol=ATOL, rtol=1e-4)


def test_torch_mlp():
    model = em.mlp()
    compiled = edge.compile_model(model, (torch.randn(1, 16),))
    assert compiled.info["verification"]["passed"] and compiled.info["verification"]["ran_on"] == "host"
    assert compiled.info["verification"]["max_abs_error"] <= ATOL
    _check(compiled, model, (1, 16))


def test_torch_cnn():
    model, compiled = em.compiled_cnn_host()
    _check(compiled, model, (1, 1, 8, 8))
    assert [s.shape for s in compiled.outputs] == [(1, 10)]


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_onnx_models(tmp_path, which):
    model = em.mlp() if which == "mlp" else em.cnn()
    shape = (1, 16) if which == "mlp" else (1, 1, 8, 8)
    path = em.to_onnx(model, torch.randn(*shape), str(tmp_path / f"{which}.onnx"))
    compiled = edge.compile_model(path)
    assert compiled.info["source"]["kind"] == "onnx"
    assert compiled.info["verification"]["reference"] == "ONNX Runtime"
    _check(compiled, model, shape)


def test_dynamic_batch_torch():
    model = em.cnn()
    compiled = edge.compile_model(model, (torch.randn(1, 1, 8, 8),), dynamic_batch=True)
    assert compiled.inputs[0].shape == (None, 1, 8, 8)
    _check(compiled, model, (1, 1, 8, 8), batches=(1, 4, 7))


def test_dynamic_batch_is_bounded(tmp_path):
    """The batch bound reaches the memory planner (a bound of 2**20 once reserved 32 GiB for the digits CNN and
    failed with std::bad_alloc), the input checks and the manifest."""
    from edge.specs import DEFAULT_MAX_BATCH

    model = em.cnn()
    imported = edge.import_model(model, (torch.randn(1, 1, 8, 8),), dynamic_batch=True)
    assert imported.max_batch == DEFAULT_MAX_BATCH
    assert list(imported.mod["main"].attrs["tir_var_upper_bound"].values()) == [DEFAULT_MAX_BATCH]
    compiled = edge.compile_model(model, (torch.randn(1, 1, 8, 8),), dynamic_batch=8)
    _check(compiled, model, (1, 1, 8, 8), batches=(8,))
    with pytest.raises(InputMismatchError, match="batch of 1 to 8.*--max-batch"):
        compiled(np.zeros((9, 1, 8, 8), "float32"))
    loaded = edge.load(compiled.export(tmp_path / "dyn"))
    assert loaded.inputs[0].max_batch == 8
    with pytest.raises(InputMismatchError, match="batch of 1 to 8"):
        loaded(np.zeros((9, 1, 8, 8), "float32"))
    with pytest.raises(ConfigError, match="largest batch"):
        edge.import_model(model, (torch.randn(1, 1, 8, 8),), dynamic_batch=1)


def test_dynamic_batch_onnx(tmp_path):
    model = em.mlp()
    path = em.to_onnx(model, torch.randn(2, 16), str(tmp_path / "mlp_dyn.onnx"), dynamic=True)
    compiled = edge.compile_model(path, dynamic_batch=True)
    _check(compiled, model, (1, 16), batches=(1, 5))


def test_static_model_rejects_other_shapes_and_dtypes():
    _, compiled = em.compiled_cnn_host()
    with pytest.raises(InputMismatchError, match="dynamic_batch"):
        compiled(np.zeros((2, 1, 8, 8), "float32"))
    with pytest.raises(InputMismatchError, match="float32"):
        compiled(np.zeros((1, 1, 8, 8), "float64"))
    with pytest.raises(InputMismatchError, match="1 input"):
        compiled(np.zeros((1, 1, 8, 8), "float32"), np.zeros(1, "float32"))


def test_multiple_outputs_come_back_as_tuple():
    class Two(torch.nn.Module):
        def forward(self, x):
            return x * 2, x.sum(1)

    compiled = edge.compile_model(Two(), (torch.randn(2, 3),))
    x = np.random.default_rng(0).standard_normal((2, 3)).astype("float32")
    a, b = compiled(x)
    np.testing.assert_allclose(a, x * 2, atol=ATOL)
    np.testing.assert_allclose(b, x.sum(1), atol=ATOL)


def test_factory_module_is_found_in_the_working_directory(tmp_path, monkeypatch):
    """``hwsim edge compile pkg.mod:factory`` finds ``pkg/mod.py`` under the working directory, as
    ``python -m`` would, and leaves ``sys.path`` as it was."""
    import sys

    from edge.factory import load_factory

    (tmp_path / "zoo_here").mkdir()
    (tmp_path / "zoo_here" / "nets.py").write_text(
        "import torch\n\ndef factory():\n    return torch.nn.Linear(3, 2), (torch.randn(1, 3),)\n")
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    model, examples = load_factory("zoo_here.nets:factory")
    assert isinstance(model, torch.nn.Linear) and examples[0].shape == (1, 3)
    assert sys.path == before
