"""Cross-compiled artifacts: jetson-orin gives an aarch64 ELF with sm_87 code compiled ahead of time."""

from __future__ import annotations

import json
import shutil
import struct
import tarfile

import pytest
import torch

import edge
from edge import artifact, cuda_aot
from tests.edge import edge_models as em

needs_nvcc = pytest.mark.skipif(cuda_aot.nvcc_path() is None, reason="nvcc (CUDA toolkit) is not installed")
needs_cross = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None,
    reason="aarch64-linux-gnu-gcc is not installed (apt-get install gcc-aarch64-linux-gnu)")
EM_AARCH64 = 183
EM_CUDA = 190


def _elf_machine(path):
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF"
    return struct.unpack_from("<H", head, 18)[0]


@needs_nvcc
@needs_cross
def test_jetson_orin_artifact(tmp_path):
    compiled = edge.compile_model(em.cnn(), (torch.randn(1, 1, 8, 8),), target="jetson-orin")
    path = compiled.export(tmp_path / "orin")
    lib = path / "model.so"
    assert _elf_machine(lib) == EM_AARCH64
    code = cuda_aot.inspect_device_code(lib)
    assert code and all(c["sm"] == "sm_87" and c["elf"] and c["e_machine"] == EM_CUDA for c in code)
    blob = lib.read_bytes()
    assert b"__global__" not in blob  # no CUDA source shipped: nothing for NVRTC to do on the board
    m = json.loads((path / "manifest.json").read_text())
    assert m["device_code"]["ahead_of_time"] and m["device_code"]["arch"] == "sm_87"
    assert m["link"] == {"kind": "shared", "linker": "aarch64-linux-gnu-gcc", "arch": "aarch64"}
    assert m["verification"]["ran_on"] == "host-proxy"


@needs_nvcc
def test_architecture_nvcc_cannot_build_is_reported(tmp_path):
    archs = cuda_aot.supported_archs(cuda_aot.nvcc_path())
    if "sm_53" in archs:
        pytest.skip("this nvcc still supports sm_53")
    compiled = edge.compile_model(em.mlp(), (torch.randn(1, 16),), target="jetson-nano", verify=False)
    with pytest.raises(edge.errors.ToolchainError, match="sm_53"):
        compiled.export(tmp_path / "nano")


def test_without_cross_compiler_a_tar_of_objects_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact, "cross_linker", lambda arch: None)
    compiled = edge.compile_model(em.mlp(), (torch.randn(1, 16),), target="rpi4", verify=False)
    path = compiled.export(tmp_path / "rpi4")
    m = json.loads((path / "manifest.json").read_text())
    assert m["link"]["kind"] == "tar" and m["files"]["library"] == "model.tar"
    with tarfile.open(path / "model.tar") as tar:
        objects = [n for n in tar.getnames() if n.endswith(".o")]
    assert objects


def test_library_blob_round_trip():
    source = 'extern "C" __global__ void k() {}'
    cuda = cuda_aot._str(b"cuda") + b"FMAP" + cuda_aot._str(source.encode())
    blob = cuda_aot.build_blob([0, 1, 2, 2], [1, 2], [("relax.VMExecutable", b"vm"), ("_lib", None), ("cuda", cuda)])
    indptr, children, modules = cuda_aot.parse_blob(blob)
    assert (indptr, children) == ([0, 1, 2, 2], [1, 2]) and modules[1] == ("_lib", None)
    swapped = cuda_aot.with_device_binary(modules[2][1], source, "fatbin", b"BIN")
    assert swapped == cuda_aot._str(b"fatbin") + b"FMAP" + cuda_aot._str(b"BIN")
    with pytest.raises(ValueError):
        cuda_aot.with_device_binary(modules[2][1], "other source", "fatbin", b"BIN")
    assert cuda_aot._blob_from_c(cuda_aot.blob_to_c(blob)) == blob


def _cuda_check_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "edge_cuda_check.py"
    spec = importlib.util.spec_from_file_location("edge_cuda_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


@needs_nvcc
def test_cuda_example_artifact_builds_here(tmp_path):
    """examples/edge_cuda_check.py: the sm_90 artifact builds without a GPU; checking it needs one."""
    from edge.targets import cuda_available
    from hwsim.cli import main

    path, example = _cuda_check_module()
    out = tmp_path / "cnn"
    assert main(["edge", "compile", f"{path}:cnn_factory", "--target", "cuda:sm_90", "-o", str(out)]) == 0
    code = cuda_aot.inspect_device_code(out / "model.so")
    assert [c["sm"] for c in code] == ["sm_90"] and code[0]["elf"]
    if not cuda_available():
        assert example.main(["check", str(tmp_path)]) == 2
        with pytest.raises(edge.errors.TargetMismatchError):
            edge.load(out)(torch.randn(1, 1, 8, 8).numpy())


def test_gpu_build_weights_fit_its_module():
    """A GPU build's weights are computed by a host proxy; they must have the GPU module's layouts (the CPU
    pipeline converts convolutions to NHWC, and an sm_90 artifact once shipped CPU-layout weights)."""
    from edge.compile import prepare

    model, x = em.cnn(), torch.randn(1, 1, 8, 8)
    compiled = edge.compile_model(model, (x,), target="cuda:sm_90")
    gpu_main = prepare(edge.import_model(model, (x,)).mod, compiled.spec.tvm_target())["main"]
    want = [tuple(int(d) for d in p.ty.shape.values) for p in gpu_main.params[1:]]
    assert [w.shape for w in compiled.params] == want
    host_main = prepare(edge.import_model(model, (x,)).mod, edge.targets.resolve("host").tvm_target())["main"]
    assert [tuple(int(d) for d in p.ty.shape.values) for p in host_main.params[1:]] != want  # the test can fail


@pytest.mark.gpu
def test_cuda_example_runs_on_the_gpu(tmp_path):
    import tvm

    _, example = _cuda_check_module()
    arch = "sm_" + tvm.cuda(0).compute_version.replace(".", "")
    assert example.main(["build", str(tmp_path), "--arch", arch]) == 0
    assert example.main(["check", str(tmp_path)]) == 0
