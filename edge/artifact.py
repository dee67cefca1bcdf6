"""Deployable artifacts: a folder with the compiled library, the weights and ``manifest.json`` (written
here; :mod:`edge.loading` reads them back into a model).

The library is a shared object linked for the target's CPU. A cross-compiled library (aarch64 boards) is
linked with Debian's ``aarch64-linux-gnu-gcc`` when it is installed; without it the artifact holds a tar of
object files that ``tvm.runtime.load_module`` links on the board (which then needs a C compiler). For CUDA
targets the kernels are compiled ahead of time with nvcc (:mod:`edge.cuda_aot`) unless that is turned off.
The manifest says which of these happened.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edge.cuda_aot import aot_packer
from edge.errors import ArtifactError, TargetMismatchError
from edge.stages import stage
from edge.targets import TargetSpec, cuda_available, local_arch
from hwsim.data import sha256_file

FORMAT = "hwsim-edge-artifact/1"
MANIFEST = "manifest.json"
PARAMS = "params.npz"
CROSS_GCC = {"aarch64": "aarch64-linux-gnu-gcc"}


def cross_linker(arch: str) -> str | None:
    """Path of the cross C compiler that links ``arch`` shared libraries, if installed."""
    name = CROSS_GCC.get(arch)
    return shutil.which(name) if name else None


def _link(compiled: Any, directory: Path, cuda_aot: bool) -> tuple[str, dict[str, Any]]:
    """Write the library into ``directory``; returns (file name, link/device-code report)."""
    from tvm.support import cc

    spec: TargetSpec = compiled.spec
    kwargs: dict[str, Any] = {}
    report: dict[str, Any] = {}
    if spec.is_cuda:
        if cuda_aot:
            pack, device = aot_packer(compiled.executable, spec.cuda_arch)
            kwargs["fpack_imports"] = pack
            report["device_code"] = {"ahead_of_time": True, **device}
        else:
            report["device_code"] = {"ahead_of_time": False, "format": "cuda-source",
                                     "note": "kernels are compiled by NVRTC when the library is loaded: the "
                                             "device needs TVM's Python package and NVRTC"}
    if spec.is_cross:
        gcc = cross_linker(spec.cpu_arch)
        if gcc:
            name = "model.so"
            compiled.executable.export_library(str(directory / name), fcompile=cc.cross_compiler(gcc), **kwargs)
            report["link"] = {"kind": "shared", "linker": os.path.basename(gcc), "arch": spec.cpu_arch}
        else:
            name = "model.tar"
            compiled.executable.export_library(str(directory / name), **kwargs)
            report["link"] = {"kind": "tar", "arch": spec.cpu_arch,
                              "note": f"{CROSS_GCC.get(spec.cpu_arch, 'a cross compiler')} was not found: the tar "
                                      "holds object files that tvm.runtime.load_module links on the board "
                                      "(the board needs gcc)"}
    else:
        name = "model.so"
        compiled.executable.export_library(str(directory / name), **kwargs)
        report["link"] = {"kind": "shared", "linker": os.path.basename(cc.get_cc() or "cc"), "arch": spec.cpu_arch}
    return name, report


def export(compiled: Any, directory: str | os.PathLike, cuda_aot: bool = True) -> Path:
    """Write ``compiled`` (a :class:`~edge.compile.CompiledModel`) as an artifact folder; returns its path.
    A model that was loaded from an artifact is copied with its files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source_dir = compiled.info.get("artifact_dir")
    if source_dir:
        if Path(source_dir).resolve() != directory.resolve():
            for item in json.loads(Path(source_dir, MANIFEST).read_text())["files"].values():
                shutil.copy2(Path(source_dir, item), directory / item)
            shutil.copy2(Path(source_dir, MANIFEST), directory / MANIFEST)
        return directory
    verification = compiled.info.get("verification", {})
    if verification.get("passed") is False:  # pragma: no cover - compile_model raises before this
        raise ArtifactError("refusing to export a model whose verification failed")
    for stale in ("model.so", "model.tar"):
        (directory / stale).unlink(missing_ok=True)
    with stage("export", f"linking the '{compiled.spec.name}' library"):
        lib_name, link = _link(compiled, directory, cuda_aot)
    np.savez(directory / PARAMS, **{f"p{i:04d}": p for i, p in enumerate(compiled.params)})
    import tvm

    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "target": compiled.spec.to_json(),
        "tvm_target": compiled.info.get("build", {}).get("target"),
        "tvm_version": tvm.__version__,
        "files": {"library": lib_name, "params": PARAMS},
        "library_sha256": sha256_file(directory / lib_name),
        "inputs": [s.to_json() for s in compiled.inputs],
        "outputs": [s.to_json() for s in compiled.outputs],
        "params": {"count": len(compiled.params), "source_names": compiled.param_names,
                   "note": "weights as main() takes them, after the lifted transforms (transposes...)"},
        "source_model": compiled.info.get("source", {}),
        "verification": verification,
        "tuning": compiled.info.get("tuning", {}),
        "build": compiled.info.get("build", {}),
        **link,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return directory


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The manifest of an artifact folder, checked for the fields :func:`load` needs."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory} is not an artifact folder: {MANIFEST} is missing "
                            "(create one with hwsim edge compile ... -o DIR)")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); re-export the artifact") from exc
    missing = [k for k in ("format", "target", "files", "inputs", "outputs") if k not in manifest]
    if missing:
        raise ArtifactError(f"{path} lacks {', '.join(missing)}; re-export the artifact")
    if manifest["format"] != FORMAT:
        raise ArtifactError(f"{path} has format {manifest['format']!r}; this hwsim reads {FORMAT!r}")
    for key in ("library", "params"):
        if not (directory / manifest["files"][key]).is_file():
            raise ArtifactError(f"{directory} lacks its {key} file {manifest['files'][key]}; copy the whole folder")
    return manifest


def spec_from_manifest(manifest: dict[str, Any]) -> TargetSpec:
    """The :class:`TargetSpec` an artifact was built for."""
    t = dict(manifest["target"])
    t.pop("cpu_arch", None)
    t["mattr"] = tuple(t.get("mattr") or ())
    t["gpu_attrs"] = dict(t.get("gpu_attrs") or {})
    return TargetSpec(**t)


def check_runnable(manifest: dict[str, Any]) -> None:
    """Raise :class:`TargetMismatchError` when this machine cannot run the artifact; warn when its CPU
    differs from the one it was tuned/compiled for."""
    target = manifest["target"]
    arch = target.get("cpu_arch")
    if arch and arch != local_arch():
        raise TargetMismatchError(f"the artifact was built for '{target['name']}' ({arch}) and this machine is "
                                  f"{local_arch()}: copy it to the board and run it there, or use "
                                  "hwsim edge bench DIR --rpc host:port")
    if target.get("cuda_arch") and not cuda_available():
        raise TargetMismatchError(f"the artifact was built for '{target['name']}' ({target['cuda_arch']}) and "
                                  "this machine has no usable CUDA GPU")
    if target.get("name") == "host" and target.get("mcpu"):
        try:
            from tvm.target import codegen

            here = codegen.llvm_get_system_cpu()
        except Exception:  # noqa: BLE001 - runtime-only TVM has no LLVM
            here = None
        if here and here != target["mcpu"]:
            warnings.warn(f"the artifact was compiled for CPU {target['mcpu']} and this one is {here}; "
                          "it may run slower or fail with an illegal instruction. Recompile here.", stacklevel=2)
