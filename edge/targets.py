"""Named compile targets: this machine's CPU, CUDA GPUs by architecture, Jetson boards, Raspberry Pis.

``resolve("jetson-orin")`` gives a :class:`TargetSpec`; ``spec.tvm_target()`` turns it into a TVM 0.27
target (a JSON-dict target; tvm is imported only then). The host CPU is asked of LLVM
(``llvm_get_system_cpu``) because the bundled LLVM ignores ``mcpu=native``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import re
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from edge.errors import UnknownTargetError
from edge.tvm_quirks import load_runtime_device_apis

# normalise `platform.machine()` / triple prefixes to one architecture name
_ARCH_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_DEFAULT_CUDA_ARCH = "sm_80"


@dataclass(frozen=True)
class TargetSpec:
    """A named deployment target: the CPU that runs the host code and, for GPUs, the CUDA architecture."""

    name: str
    description: str
    triple: str | None = None  # LLVM triple of the host CPU; None = this machine
    mcpu: str | None = None  # None = detected from this machine's CPU at build time
    mattr: tuple[str, ...] = ()
    cuda_arch: str | None = None  # e.g. "sm_87"; None = CPU-only target
    num_cores: int | None = None  # board's cores (None = this machine's)
    gpu_attrs: dict[str, int] = field(default_factory=dict)

    @property
    def is_cuda(self) -> bool:
        """True when the model runs on an NVIDIA GPU (CUDA kernels plus host code)."""
        return self.cuda_arch is not None

    @property
    def cpu_arch(self) -> str:
        """Architecture of the host CPU code: ``x86_64`` or ``aarch64``."""
        if self.triple is None:
            return local_arch()
        head = self.triple.split("-", 1)[0]
        return _ARCH_ALIASES.get(head, head)

    @property
    def is_cross(self) -> bool:
        """True when the host code is for another CPU architecture than this machine's."""
        return self.cpu_arch != local_arch()

    def runnable_here(self) -> bool:
        """True when an artifact for this target can be executed on this machine."""
        if self.is_cross:
            return False
        return not self.is_cuda or cuda_available()

    def host_dict(self) -> dict[str, Any]:
        """The TVM target dict of the host CPU (LLVM)."""
        from tvm.target import codegen

        cfg: dict[str, Any] = {"kind": "llvm"}
        if self.triple is not None:
            cfg["mtriple"] = self.triple
        cfg["mcpu"] = self.mcpu or codegen.llvm_get_system_cpu()
        if self.mattr:
            cfg["mattr"] = list(self.mattr)
        cores = self.num_cores or (None if self.triple else physical_cores())
        if cores:
            cfg["num-cores"] = int(cores)
        return cfg

    def tvm_target(self) -> Any:
        """The ``tvm.target.Target`` to compile for (CUDA with its host, or LLVM alone)."""
        import tvm

        host = self.host_dict()
        if not self.is_cuda:
            return tvm.target.Target(host)
        cfg = {"kind": "cuda", "arch": self.cuda_arch, "max_num_threads": 1024, "thread_warp_size": 32,
               "max_threads_per_block": 1024, "max_shared_memory_per_block": 49152, **self.gpu_attrs,
               "host": host}
        return tvm.target.Target(cfg)

    def host_only(self) -> TargetSpec:
        """This machine's CPU: where a model built for a GPU or another board is verified as a proxy."""
        return resolve("host")

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON description (for manifests), with the detected CPU filled in."""
        data = asdict(self)
        data["mattr"] = list(self.mattr)
        data["cpu_arch"] = self.cpu_arch
        if self.mcpu is None:
            try:
                data["mcpu"] = self.host_dict()["mcpu"]
            except ImportError:  # pragma: no cover - tvm missing
                pass
        return data


def local_arch() -> str:
    """This machine's CPU architecture (``x86_64``, ``aarch64``...)."""
    m = platform.machine().lower()
    return _ARCH_ALIASES.get(m, m)


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Cores available to this process (affinity-aware, read once)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def cuda_available() -> bool:
    """True when a CUDA GPU is usable through TVM here (libcuda present and a device 0)."""
    if not ctypes.util.find_library("cuda"):
        try:  # containers often mount the driver where ldconfig does not look, yet the loader finds it
            ctypes.CDLL("libcuda.so.1")
        except OSError:
            return False
    try:
        import tvm

        load_runtime_device_apis()
        return bool(tvm.cuda(0).exist)
    except Exception:  # noqa: BLE001 - any failure to open the driver means no GPU
        return False


_AARCH64 = "aarch64-linux-gnu"
_ORIN_GPU = {"registers_per_block": 65536}
TARGETS: dict[str, TargetSpec] = {
    "host": TargetSpec("host", "this machine's CPU (LLVM, detected CPU and its features)"),
    "cuda": TargetSpec("cuda", f"NVIDIA GPU on this machine, CUDA {_DEFAULT_CUDA_ARCH} (cuda:sm_XX for others)",
                       cuda_arch=_DEFAULT_CUDA_ARCH),
    "jetson-orin": TargetSpec("jetson-orin", "NVIDIA Jetson AGX Orin: aarch64 Cortex-A78AE host + sm_87 GPU",
                              triple=_AARCH64, mcpu="cortex-a78ae", mattr=("+neon",), cuda_arch="sm_87",
                              num_cores=12, gpu_attrs=_ORIN_GPU),
    "jetson-xavier": TargetSpec("jetson-xavier", "NVIDIA Jetson AGX Xavier: aarch64 Carmel host + sm_72 GPU",
                                triple=_AARCH64, mcpu="carmel", mattr=("+neon",), cuda_arch="sm_72", num_cores=8,
                                gpu_attrs={"registers_per_block": 65536}),
    "jetson-nano": TargetSpec("jetson-nano", "NVIDIA Jetson Nano: aarch64 Cortex-A57 host + sm_53 GPU",
                              triple=_AARCH64, mcpu="cortex-a57", mattr=("+neon",), cuda_arch="sm_53", num_cores=4,
                              gpu_attrs={"registers_per_block": 32768}),
    "rpi4": TargetSpec("rpi4", "Raspberry Pi 4 (64-bit OS): Cortex-A72", triple=_AARCH64, mcpu="cortex-a72",
                       mattr=("+neon",), num_cores=4),
    "rpi5": TargetSpec("rpi5", "Raspberry Pi 5 (64-bit OS): Cortex-A76", triple=_AARCH64, mcpu="cortex-a76",
                       mattr=("+neon",), num_cores=4),
    "aarch64": TargetSpec("aarch64", "generic 64-bit ARM Linux (NEON)", triple=_AARCH64, mcpu="generic",
                          mattr=("+neon",)),
}

_CUDA_ARCH = re.compile(r"^sm_(\d{2,3})[a-z]?$")


def resolve(name: str) -> TargetSpec:
    """The :class:`TargetSpec` for a target name: ``host``, ``cuda``, ``cuda:sm_XX``, ``jetson-orin``,
    ``jetson-xavier``, ``jetson-nano``, ``rpi4``, ``rpi5``, ``aarch64``. Unknown names raise
    :class:`~edge.errors.UnknownTargetError`."""
    if isinstance(name, TargetSpec):
        return name
    key = str(name).strip().lower()
    base, _, arch = key.partition(":")
    if base in TARGETS and not arch:
        return TARGETS[base]
    if base == "cuda" and arch:
        if not _CUDA_ARCH.match(arch):
            raise UnknownTargetError(f"'{name}': the CUDA architecture must look like sm_80 or sm_90 "
                                     "(see nvcc --list-gpu-code)")
        return replace(TARGETS["cuda"], name=f"cuda:{arch}", cuda_arch=arch,
                       description=f"NVIDIA GPU on this machine, CUDA {arch}")
    raise UnknownTargetError(f"unknown target '{name}'; known: {', '.join(names())} "
                             "(and cuda:sm_XX for any CUDA architecture)")


def names() -> list[str]:
    """The named targets, in listing order."""
    return list(TARGETS)
