"""Latency of a network on a named ``edge`` target, two ways:

* **estimated** by a cheap model, ``seconds = per_layer_s x (layers + 1) + macs / macs_per_s``
  (a fixed cost per fused operator plus a throughput term); the default coefficients per target
  are rough, and :func:`calibrate` fits them to measurements of a few networks on this machine;
* **measured** by compiling the network (batch norm folded, batch 1) with :func:`edge.compile_model`
  for the target and timing it with :func:`edge.time_model`; only targets that run on this machine
  (``host``, ``cuda`` with a GPU) can be measured here. Comparisons and calibrations time the networks
  in alternating rounds, so that load from other processes on a shared machine hits them alike.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from torch import nn

import edge
from agents.n2n.layers import Arch, InvalidArchitecture, build, count_macs, layer_costs
from edge.compress.surgery import fold_batchnorm
from edge.targets import resolve
from hwsim.errors import ConfigError


@dataclass(frozen=True)
class LatencyModel:
    """``seconds = per_layer_s x (layers + 1) + macs / macs_per_s`` for one sample."""

    per_layer_s: float
    macs_per_s: float
    source: str = "default"

    def estimate(self, arch: Arch) -> float:
        """Estimated seconds of one inference of ``arch`` (batch 1)."""
        return self.per_layer_s * (len(arch) + 1) + count_macs(arch) / self.macs_per_s

    def to_json(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)


# rough defaults: an untuned TVM CPU build reaches ~1 GMAC/s on these small convolutions; a Jetson
# GPU pays a kernel launch per fused operator and is far faster per MAC
DEFAULT_MODELS: dict[str, LatencyModel] = {
    "cpu": LatencyModel(per_layer_s=20e-6, macs_per_s=1e9),
    "cuda": LatencyModel(per_layer_s=10e-6, macs_per_s=200e9),
    "jetson": LatencyModel(per_layer_s=25e-6, macs_per_s=50e9),
}


def default_model(target: str) -> LatencyModel:
    """The uncalibrated latency model of ``target`` (any name :func:`edge.targets.resolve` knows)."""
    spec = resolve(target)
    if spec.is_cuda:
        kind = "jetson" if spec.name.startswith("jetson") else "cuda"
    else:
        kind = "cpu"
    return LatencyModel(**{**asdict(DEFAULT_MODELS[kind]), "source": f"default:{kind}"})


def calibrate(archs: Sequence[Arch], seconds: Sequence[float], source: str = "calibrated") -> LatencyModel:
    """Fit the two coefficients to measured ``seconds`` of ``archs`` (non-negative least squares;
    needs at least two networks of different shape)."""
    from scipy.optimize import nnls

    if len(archs) != len(seconds) or len(archs) < 2:
        raise ConfigError("calibration needs at least two networks and one measured latency per network")
    a = np.array([[len(arch) + 1, count_macs(arch)] for arch in archs], dtype=np.float64)
    scale = a.max(axis=0)
    coef, _ = nnls(a / scale, np.asarray(seconds, dtype=np.float64))
    coef = coef / scale
    per_layer = float(coef[0])
    per_mac = float(coef[1]) if coef[1] > 0 else 1e-15
    return LatencyModel(per_layer_s=per_layer, macs_per_s=1.0 / per_mac, source=source)


def compile_for(model: nn.Module, in_shape: Sequence[int], target: str = "host") -> tuple[Any, float]:
    """``model`` (eval mode, batch norm folded, batch 1) compiled with ``edge`` for ``target``, and the
    seconds the build took. Raises :class:`ConfigError` when the target cannot run on this machine."""
    import torch


    if not edge.targets.resolve(target).runnable_here():
        raise ConfigError(f"latency on '{target}' cannot be measured on this machine; use the estimated "
                          "latency reward (latency-est) or measure on the board")
    start = time.perf_counter()
    compiled = edge.compile_model(fold_batchnorm(model.eval()), (torch.zeros(1, *in_shape),), target=target)
    return compiled, time.perf_counter() - start


def measure(model: nn.Module, in_shape: Sequence[int], target: str = "host", repeat: int = 50) -> dict:
    """Compile ``model`` for ``target`` (:func:`compile_for`) and time it here; returns
    ``edge.time_model``'s statistics (seconds) plus ``compile_s``."""
    compiled, compile_s = compile_for(model, in_shape, target)
    stats = dict(edge.time_model(compiled, [np.zeros((1, *in_shape), dtype=np.float32)], repeat=repeat))
    stats["compile_s"] = compile_s
    return stats


def time_interleaved(compiled: Sequence[Any], in_shapes: Sequence[Sequence[int]], rounds: int = 5,
                     repeat: int = 30) -> list[list[float]]:
    """Median latency of each compiled model in each of ``rounds`` rounds, the models timed one after the
    other within a round, so that load from other processes hits them alike. Returns one list of
    per-round medians (seconds) per model."""
    inputs = [[np.zeros((1, *shape), dtype=np.float32)] for shape in in_shapes]
    out: list[list[float]] = [[] for _ in compiled]
    for _ in range(rounds):
        for i, (c, x) in enumerate(zip(compiled, inputs)):
            out[i].append(float(edge.time_model(c, x, repeat=repeat)["median"]))
    return out


def compare_latency(student: nn.Module, teacher: nn.Module, in_shape: Sequence[int], target: str = "host",
                    rounds: int = 7, repeat: int = 30) -> dict[str, Any]:
    """Compile ``student`` and ``teacher`` for ``target`` and time them in alternation: the student's latency
    over the teacher's as the median of the per-round ratios (``ratio``) and as the ratio of the fastest
    rounds (``ratio_min``), with both models' per-round medians and build times."""
    (cs, s_build), (ct, t_build) = compile_for(student, in_shape, target), compile_for(teacher, in_shape, target)
    s_rounds, t_rounds = time_interleaved([cs, ct], [in_shape, in_shape], rounds, repeat)
    ratios = sorted(s / t for s, t in zip(s_rounds, t_rounds))
    return {"target": target, "ratio": float(np.median(ratios)), "ratio_min": min(s_rounds) / min(t_rounds),
            "student_s": min(s_rounds), "teacher_s": min(t_rounds), "student_rounds_s": s_rounds,
            "teacher_rounds_s": t_rounds, "rounds": rounds, "repeat": repeat, "student_build_s": s_build,
            "teacher_build_s": t_build}


def calibrate_on_target(archs: Sequence[Arch], target: str = "host", rounds: int = 5,
                        repeat: int = 30) -> tuple[LatencyModel, list[float]]:
    """Compile freshly built networks of ``archs`` (latency does not depend on the weights) for ``target``,
    time them in alternation, and fit the latency model to each network's fastest round; returns the
    model and those latencies (seconds)."""
    compiled = [compile_for(build(a), a.in_shape, target)[0] for a in archs]
    per_round = time_interleaved(compiled, [a.in_shape for a in archs], rounds, repeat)
    fastest = [min(r) for r in per_round]
    model = calibrate(archs, fastest, source=f"calibrated:{target}:{len(archs)} networks")
    return model, fastest


def calibration_set(arch: Arch) -> list[Arch]:
    """A few networks of different depth and width made from ``arch`` to calibrate on: itself, shrunk to
    a half and a quarter, and with every other layer removed (when that can be built)."""
    archs = [arch, arch.shrink([0.5] * len(arch)), arch.shrink([0.25] * len(arch))]
    thin = arch.remove([i % 2 == 0 for i in range(len(arch))])
    try:
        layer_costs(thin)
        archs.append(thin)
    except InvalidArchitecture:
        pass
    return archs
