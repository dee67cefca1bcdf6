"""Check a CUDA artifact on a machine with an NVIDIA GPU: load it, run it, compare with PyTorch.

Build the artifact anywhere (no GPU needed; nvcc compiles the kernels ahead of time):

    hwsim edge compile examples.edge_cuda_check:cnn_factory --target cuda:sm_90 -o /tmp/cnn-sm90

then, on the GPU machine (this script rebuilds the same seeded model for the comparison):

    python examples/edge_cuda_check.py /tmp/cnn-sm90

With no argument it compiles for the GPU it finds (cuda:sm_XX of device 0) into a temporary folder first.
Exit code 0 when every output matches PyTorch within 1e-4 and the kernels were loaded from the embedded
fatbin (not compiled at load time).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge.zoo import build_cnn


def cnn_factory() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The seeded model and an example input (``module:factory`` for ``hwsim edge compile``)."""
    torch.manual_seed(0)
    return build_cnn((16, 32, 32)).eval(), (torch.randn(1, 1, 8, 8),)


def main(argv: list[str]) -> int:
    import edge

    model, (example,) = cnn_factory()
    if argv:
        directory = Path(argv[0])
    else:
        import tvm

        if not tvm.cuda(0).exist:
            print("no CUDA GPU here; pass an artifact folder built for cuda", file=sys.stderr)
            return 2
        arch = "sm_" + tvm.cuda(0).compute_version.replace(".", "")
        directory = Path(tempfile.mkdtemp(prefix="hwsim-cuda-")) / "cnn"
        edge.compile_model(model, (example,), target=f"cuda:{arch}").export(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    print(f"artifact {directory}: target {manifest['target']['name']}, device code {manifest.get('device_code')}")
    import tvm_ffi

    jit_calls: list[int] = []  # the runtime calls this only for kernels shipped as CUDA source

    @tvm_ffi.register_global_func("tvm_callback_cuda_compile", override=True)
    def _no_jit(code, *rest):  # noqa: ANN001
        jit_calls.append(len(code))
        from tvm.support.nvcc import compile_cuda

        return compile_cuda(code, target_format="cubin", compiler="nvrtc")

    compiled = edge.load(directory)
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch in range(5):
        x = rng.standard_normal(tuple(manifest["inputs"][0]["shape"])).astype("float32") if batch else example.numpy()
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        got = compiled(x)
        worst = max(worst, float(np.max(np.abs(got - want))))
    stats = edge.time_model(compiled, [example.numpy()], repeat=100, number=10)
    print(f"max abs error vs PyTorch over 5 inputs: {worst:.3g}; median latency {stats['median'] * 1e6:.1f} us")
    aot = manifest.get("device_code", {}).get("ahead_of_time", False)
    print(f"kernels compiled at load time: {len(jit_calls)} module(s)"
          + (" (expected 0: the artifact embeds nvcc-built code)" if aot else ""))
    ok = worst <= 1e-4 and (not aot or not jit_calls)
    print("PASS" if ok else "FAIL: outputs differ from PyTorch or kernels were JIT-compiled")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
