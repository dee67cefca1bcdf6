"""Artifacts: export, load, run; clear errors for broken folders and mismatched inputs or targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edge
from edge.errors import ArtifactError, InputMismatchError, TargetMismatchError
from tests.edge import edge_models as em


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    model, compiled = em.compiled_cnn_host()
    return model, compiled.export(tmp_path_factory.mktemp("art") / "cnn")


def test_manifest_describes_the_build(artifact):
    _, path = artifact
    m = json.loads((path / "manifest.json").read_text())
    assert m["target"]["name"] == "host" and m["target"]["mcpu"]
    assert m["inputs"] == [{"name": "x", "shape": [1, 1, 8, 8], "dtype": "float32"}]
    assert m["outputs"][0]["shape"] == [1, 10]
    assert m["files"] == {"library": "model.so", "params": "params.npz"}
    assert m["tvm_version"].startswith("0.27")
    assert len(m["source_model"]["sha256"]) == 64
    assert m["verification"]["passed"] is True and m["link"]["kind"] == "shared"
    assert m["tuning"]["records"] == 0
    assert (path / "model.so").read_bytes()[:4] == b"\x7fELF"


def test_load_runs_like_the_source(artifact):
    model, path = artifact
    loaded = edge.load(path)
    x = np.random.default_rng(5).standard_normal((1, 1, 8, 8)).astype("float32")
    np.testing.assert_allclose(loaded(x), em.reference(model, x), atol=1e-4)


def test_loaded_model_checks_inputs(artifact):
    loaded = edge.load(artifact[1])
    with pytest.raises(InputMismatchError, match=r"shape \(1, 1, 8, 8\)"):
        loaded(np.zeros((1, 8, 8), "float32"))
    with pytest.raises(InputMismatchError, match="float32"):
        loaded(np.zeros((1, 1, 8, 8), "int32"))


def test_time_model_locally(artifact):
    stats = edge.time_model(edge.load(artifact[1]), [np.zeros((1, 1, 8, 8), "float32")], repeat=5, number=2)
    assert stats["n"] == 5 and stats["where"] == "local" and stats["median"] > 0


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_other_architecture_is_refused(artifact, tmp_path):
    path = _copy(artifact[1], tmp_path / "foreign")
    m = json.loads((path / "manifest.json").read_text())
    m["target"].update(name="rpi4", cpu_arch="riscv64" if m["target"]["cpu_arch"] != "riscv64" else "x86_64")
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(TargetMismatchError, match="rpi4"):
        edge.load(path)


def test_gpu_artifact_without_gpu_is_refused(artifact, tmp_path):
    from edge.targets import cuda_available

    if cuda_available():
        pytest.skip("this machine has a CUDA GPU")
    path = _copy(artifact[1], tmp_path / "gpu")
    m = json.loads((path / "manifest.json").read_text())
    m["target"].update(name="cuda:sm_90", cuda_arch="sm_90")
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(TargetMismatchError, match="no usable CUDA GPU"):
        edge.load(path)


def test_broken_folders(artifact, tmp_path):
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        edge.load(tmp_path)
    path = _copy(artifact[1], tmp_path / "nolib")
    (path / "model.so").unlink()
    with pytest.raises(ArtifactError, match="model.so"):
        edge.load(path)
    path = _copy(artifact[1], tmp_path / "badjson")
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        edge.load(path)


def test_loaded_artifact_can_be_exported_again(artifact, tmp_path):
    again = edge.load(artifact[1]).export(tmp_path / "copy")
    assert (again / "model.so").exists()
    x = np.ones((1, 1, 8, 8), "float32")
    np.testing.assert_allclose(edge.load(again)(x), edge.load(artifact[1])(x))


def test_artifact_loads_with_the_runtime_alone(artifact):
    """A board needs TVM's runtime library only: load and run with ``TVM_USE_RUNTIME_LIB=1``."""
    import os
    import subprocess
    import sys

    model, path = artifact
    x = np.random.default_rng(5).standard_normal((1, 1, 8, 8)).astype("float32")
    code = ("import sys, numpy as np, edge; from tvm import base; "
            f"y = edge.load({str(path)!r})(np.load(sys.argv[1])); np.save(sys.argv[1], y); "
            "assert 'tvm_compiler' not in base._LOADED_LIBS and base._RUNTIME_ONLY; "
            "assert not [m for m in sys.modules if m.startswith('tvm.relax')]")
    np.save(path.parent / "x.npy", x)
    env = {**os.environ, "TVM_USE_RUNTIME_LIB": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(path.parent / "x.npy")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(path.parent / "x.npy"), em.reference(model, x), atol=1e-4, rtol=1e-4)
