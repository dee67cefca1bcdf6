"""``hwsim bench <name>``: each benchmark lives beside the code it measures."""

from __future__ import annotations

from typing import Sequence

from hwsim.cli import dispatch

BENCHES: dict[str, tuple[str, str]] = {
    "link": ("hwsim.protocol.bench:main", "serial link round-trip latency and payload efficiency at several bauds"),
    "physical": ("physical.bench:main", "systems x methods x datasets: accuracy over seeds, measurements, ablation"),
    "perturbation": ("physical.bench_perturbation:main",
                     "device jump or medium decorrelation mid-training: model-free vs pat (stale, refitted twin)"),
    "edge": ("edge.bench:main", "models x backends (PyTorch, ONNX Runtime, TVM untuned/tuned): latency ratios"),
    "zoo": ("edge.bench_zoo:main", "real architectures (CNNs, transformers, old-IR ONNX) x targets vs ORT/PyTorch"),
    "onnx-conformance": ("edge.conformance:main", "ONNX backend node tests through hwsim next to ONNX Runtime"),
    "agents": ("agents.bench:main", "networking environments: baselines (QoE, JCT, MAE) and env throughput"),
    "compress": ("agents.n2n.bench:main", "N2N compression vs random search and uniform shrinking"),
    "netllm": ("agents.netllm.bench:main", "NetLLM-style adapted language model vs baselines on ABR and VP"),
    "scale": ("hwsim.cli.bench_scale:main",
              "the same sweep on local processes and on Ray (1, 2 workers): ratios, per-job overhead"),
}


def main(argv: Sequence[str]) -> int:
    """Run the benchmark named by ``argv[0]``."""
    return dispatch(argv, BENCHES, "hwsim bench")
