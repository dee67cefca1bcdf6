"""The zoo bench: its architectures are the published ones, and a one-model run checks every target."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge.architectures import ARCHITECTURES, build
from edge.bench_zoo import ZooConfig, acceptance, library_arch, output_error, run
from edge.ort import export_onnx, ort_session

# parameters of the torchvision models of the same name (torchvision.models.<name>().parameters())
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032, "mobilenet_v2": 3_504_872,
                      "squeezenet1_1": 1_235_496, "shufflenet_v2": 2_278_604, "efficientnet_b0": 5_288_548,
                      "densenet121": 7_978_856, "vgg11": 132_863_336}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_constructors_match_torchvision_sizes(name, tmp_path):
    zm = build(name, tmp_path, resolution=64)
    assert sum(p.numel() for p in zm.module.parameters()) == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", ["squeezenet1_1", "shufflenet_v2", "bert", "resnet18_ir3"])
def test_exports_run_in_onnx_runtime(name, tmp_path):
    zm = build(name, tmp_path, resolution=64)
    path = zm.onnx_path or export_onnx(zm.module, zm.example, tmp_path / f"{name}.onnx", dynamic_batch=False)
    got = ort_session(path, 1)(zm.example.numpy())
    with torch.no_grad():
        want = zm.module(zm.example).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_registry_has_ten_plus_architectures_of_three_kinds():
    sources = {a.source for a in ARCHITECTURES.values()}
    assert len(ARCHITECTURES) >= 10 and sources == {"constructor", "transformers", "onnx-ir3"}


def test_output_error_and_acceptance():
    assert output_error(np.array([1.0, 2.0]), np.array([1.0, 2.002]))["rel_to_scale"] == pytest.approx(0.001, 1e-3)
    rows = [{"model": "a", "tvm_ms": 1, "tvm_rel_err": 1e-6, "tvm_x_vs_ort": 1.5, "jetson-orin": {"ok": True}},
            {"model": "b", "tvm_ms": 1, "tvm_rel_err": 1e-6, "tvm_x_vs_ort": 3.0, "jetson-orin": {"ok": True}}]
    checks = acceptance(rows, ZooConfig(models=("a", "b")))
    assert checks["1_compile_all_targets"]["passed"] and checks["2_untuned_vs_ort"]["within_2x"] == 1
    assert checks["2_untuned_vs_ort"]["passed"]  # half within 2x, all within 4x


def test_library_arch_reads_elf_headers(tmp_path):
    lib = tmp_path / "lib.so"
    lib.write_bytes(b"\x7fELF" + bytes(14) + (183).to_bytes(2, "little") + bytes(16))
    assert library_arch(lib) == ["aarch64"]


def test_one_model_on_every_target(tmp_path):
    """SqueezeNet 1.1 at 64x64: host untuned within 1e-3 of ONNX Runtime, and a jetson-orin artifact with
    aarch64 code, verified by its host proxy."""
    out = tmp_path / "zoo.json"
    run(ZooConfig(models=("squeezenet1_1",), resolution=64, time_budget=0.5), str(out))
    row = json.loads(out.read_text())["details"][0]
    assert row["tvm_rel_err"] <= 1e-3 and row["tvm_x_vs_ort"] > 0
    orin = row["jetson-orin"]
    assert orin["ok"] and orin["library_arch"] == ["aarch64"] and orin["verified_on"] == "host-proxy"
