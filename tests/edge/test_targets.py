"""Named targets resolve to the right CPU/GPU descriptions and TVM targets."""

from __future__ import annotations

import pytest

from edge import targets
from edge.errors import UnknownTargetError
from hwsim.errors import ConfigError


@pytest.mark.parametrize("name", targets.names())
def test_every_named_target_resolves(name):
    spec = targets.resolve(name)
    assert spec.name == name
    assert spec.description


def test_board_targets():
    orin = targets.resolve("jetson-orin")
    assert (orin.cuda_arch, orin.mcpu, orin.cpu_arch) == ("sm_87", "cortex-a78ae", "aarch64")
    assert targets.resolve("jetson-xavier").mcpu == "carmel" and targets.resolve("jetson-xavier").cuda_arch == "sm_72"
    assert targets.resolve("jetson-nano").cuda_arch == "sm_53"
    assert targets.resolve("rpi4").mcpu == "cortex-a72" and not targets.resolve("rpi4").is_cuda
    assert targets.resolve("rpi5").mcpu == "cortex-a76"
    assert targets.resolve("aarch64").cpu_arch == "aarch64"


def test_cuda_arch_selection():
    assert targets.resolve("cuda").cuda_arch == "sm_80"
    spec = targets.resolve("cuda:sm_90")
    assert spec.cuda_arch == "sm_90" and spec.name == "cuda:sm_90"
    assert targets.resolve("CUDA:SM_87").cuda_arch == "sm_87"


@pytest.mark.parametrize("bad", ["tpu", "cuda:90", "cuda:sm_x", "jetson"])
def test_unknown_targets_raise(bad):
    with pytest.raises(UnknownTargetError) as err:
        targets.resolve(bad)
    assert isinstance(err.value, ConfigError)


def test_runnable_here():
    assert targets.resolve("host").runnable_here()
    if targets.local_arch() == "x86_64":
        assert targets.resolve("rpi4").is_cross and not targets.resolve("rpi4").runnable_here()
        assert not targets.resolve("jetson-orin").runnable_here()
    assert targets.resolve("cuda").runnable_here() == targets.cuda_available()


def test_tvm_targets():
    from tvm.target import codegen

    host = targets.resolve("host").tvm_target()
    assert host.kind.name == "llvm"
    assert host.attrs["mcpu"] == codegen.llvm_get_system_cpu()  # detected, not "native"
    orin = targets.resolve("jetson-orin").tvm_target()
    assert orin.kind.name == "cuda" and orin.attrs["arch"] == "sm_87"
    assert orin.host.attrs["mtriple"] == "aarch64-linux-gnu" and orin.host.attrs["mcpu"] == "cortex-a78ae"
    rpi = targets.resolve("rpi5").tvm_target()
    assert rpi.kind.name == "llvm" and rpi.attrs["mcpu"] == "cortex-a76"
