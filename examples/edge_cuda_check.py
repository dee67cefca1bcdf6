"""Check CUDA artifacts on a machine with an NVIDIA GPU: load them, run them, compare with PyTorch, time them.

Build the artifacts anywhere (no GPU needed; nvcc compiles the kernels ahead of time):

    python examples/edge_cuda_check.py build /tmp/cuda-check --arch sm_90

then, on the GPU machine (TVM's runtime alone is enough there; the models are rebuilt from their seeds
for the comparison):

    python examples/edge_cuda_check.py check /tmp/cuda-check --json cuda_check.json

``check`` runs each artifact on five inputs (the dynamic-batch CNN at batch 1, 7 and 32), compares with
PyTorch on the CPU in float64, confirms no kernel was compiled at load time, and times the artifact beside
PyTorch eager on the same GPU (round-robin, CUDA synchronised after every call). Exit code 0 when every
output matches within 1e-4 and nothing was JIT-compiled. ``hwsim edge compile
examples.edge_cuda_check:cnn_factory --target cuda:sm_90 -o DIR`` builds the single CNN artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from edge.tensors import flatten_outputs
from edge.zoo import build, zoo_spec

# name -> (reference model, input shape, dynamic batch, batches checked)
MODELS: dict[str, tuple[str, tuple[int, ...], bool, tuple[int, ...]]] = {
    "mlp": ("mlp", (1, 1, 8, 8), False, (1,)),
    "cnn": ("cnn", (1, 1, 8, 8), False, (1,)),
    "ee_cnn": ("ee_cnn", (1, 1, 8, 8), False, (1,)),
    "cnn_dynamic": ("cnn", (1, 1, 8, 8), True, (1, 7, 32)),
}


def seeded_model(name: str) -> nn.Module:
    """The untrained reference model ``name`` with seeded weights and non-trivial batch-norm statistics."""
    model = build(zoo_spec(name))
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
    return model.eval()


def cnn_factory() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The seeded CNN and an example input (``module:factory`` for ``hwsim edge compile``)."""
    return seeded_model("cnn"), (torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)),)


def build_all(out: Path, arch: str) -> None:
    """Compile every model of :data:`MODELS` for ``cuda:arch`` into ``out/<name>`` (verified on the CPU)."""
    import edge

    for name, (ref, shape, dynamic, _) in MODELS.items():
        example = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        compiled = edge.compile_model(seeded_model(ref), (example,), target=f"cuda:{arch}", dynamic_batch=dynamic)
        compiled.export(out / name)
        print(f"built {out / name}: {compiled.info.get('verification', {}).get('max_abs_error')}")


def _torch_cuda_call(model: nn.Module, x: np.ndarray) -> Callable[[], Any]:
    dev_model = model.to("cuda")
    xt = torch.from_numpy(x).to("cuda")

    def call() -> None:
        with torch.no_grad():
            dev_model(xt)
        torch.cuda.synchronize()

    return call


def check_one(name: str, directory: Path, jit_calls: list[int]) -> dict[str, Any]:
    """Run, compare and time one artifact folder; the row of the report."""
    import edge
    from hwsim.report import time_interleaved

    ref, shape, _, batches = MODELS[name]
    model = seeded_model(ref)
    compiled = edge.load(directory)
    before = len(jit_calls)
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch in batches:
        for _ in range(5):
            x = rng.standard_normal((batch, *shape[1:])).astype("float32")
            with torch.no_grad():
                want = flatten_outputs(model.double()(torch.from_numpy(x).double()))
            got = flatten_outputs(compiled(x))
            worst = max(worst, *(float(np.max(np.abs(g - w))) for g, w in zip(got, want)))
    model.float()
    x = rng.standard_normal(shape).astype("float32")
    timed = time_interleaved({"tvm": compiled.prepared_call(x), "torch": _torch_cuda_call(model, x)},
                             repeat=300, warmup=20, min_time=1.0)
    manifest = json.loads((directory / "manifest.json").read_text())
    row = {"model": name, "target": manifest["target"]["name"], "device_code": manifest.get("device_code"),
           "batches_checked": list(batches), "max_abs_error_vs_torch_fp64": worst,
           "jit_compiled_modules": len(jit_calls) - before,
           "tvm_untuned_median_us": timed["tvm"]["median"] * 1e6,
           "torch_eager_cuda_median_us": timed["torch"]["median"] * 1e6,
           "speedup_vs_torch_eager": timed["torch"]["median"] / timed["tvm"]["median"]}
    print(f"{name}: max abs error {worst:.3g}; TVM {row['tvm_untuned_median_us']:.1f} us, PyTorch eager "
          f"{row['torch_eager_cuda_median_us']:.1f} us ({row['speedup_vs_torch_eager']:.2f}x); "
          f"JIT-compiled modules {row['jit_compiled_modules']}")
    return row


def check_all(root: Path, json_path: Path | None) -> int:
    """Check every artifact under ``root``; 0 when all match within 1e-4 with no JIT compilation."""
    import tvm
    import tvm_ffi

    from edge.targets import cuda_available

    if not cuda_available():  # also loads the CUDA device API where TVM's runtime alone is installed
        print("no CUDA GPU here", file=sys.stderr)
        return 2
    jit_calls: list[int] = []  # the runtime calls this only for kernels shipped as CUDA source

    @tvm_ffi.register_global_func("tvm_callback_cuda_compile", override=True)
    def _count_jit(code, *rest):  # noqa: ANN001, ANN202
        jit_calls.append(len(code))
        from tvm.support.nvcc import compile_cuda

        return compile_cuda(code, target_format="cubin", compiler="nvrtc")

    rows = [check_one(name, root / name, jit_calls) for name in MODELS if (root / name).is_dir()]
    if not rows:
        print(f"no artifacts under {root}; build them first", file=sys.stderr)
        return 2
    report = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "compute_version": tvm.cuda(0).compute_version, "tvm_version": tvm.__version__,
              "torch_version": torch.__version__, "rows": rows}
    if json_path:
        json_path.write_text(json.dumps(report, indent=1))
    ok = all(r["max_abs_error_vs_torch_fp64"] <= 1e-4 and not r["jit_compiled_modules"] for r in rows)
    print("PASS" if ok else "FAIL: outputs differ from PyTorch or kernels were JIT-compiled")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    """``build OUT --arch sm_XX`` here, ``check OUT`` on the GPU machine."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["build", "check"])
    p.add_argument("root", type=Path)
    p.add_argument("--arch", default="sm_90")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.action == "build":
        build_all(args.root, args.arch)
        return 0
    return check_all(args.root, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
