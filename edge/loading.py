"""Load an artifact folder (written by :mod:`edge.artifact`) into a callable
:class:`~edge.compiled.CompiledModel`; works with TVM's runtime library alone (a board)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge.artifact import PARAMS, check_runnable, read_manifest, spec_from_manifest
from edge.compiled import CompiledModel
from edge.errors import ArtifactError
from edge.specs import TensorSpec
from edge.tvm_quirks import load_runtime_device_apis


def load(directory: str | os.PathLike) -> CompiledModel:
    """Load an artifact folder into a callable :class:`~edge.compiled.CompiledModel`."""
    import tvm

    directory = Path(directory)
    manifest = read_manifest(directory)
    check_runnable(manifest)
    lib_path = directory / manifest["files"]["library"]
    load_runtime_device_apis()
    try:
        lib = tvm.runtime.load_module(str(lib_path))
    except Exception as exc:  # noqa: BLE001 - TVM raises TVMError/RuntimeError/OSError
        raise ArtifactError(f"cannot load {lib_path}: {exc}") from exc
    with np.load(directory / manifest["files"]["params"]) as data:
        params = [data[k] for k in sorted(data.files)]
    if len(params) != manifest.get("params", {}).get("count", len(params)):
        raise ArtifactError(f"{directory / PARAMS} holds {len(params)} arrays, the manifest says "
                            f"{manifest['params']['count']}; re-export the artifact")
    info = {k: manifest.get(k, {}) for k in ("verification", "tuning", "build")}
    info["source"] = manifest.get("source_model", {})
    info["artifact_dir"] = str(directory)
    return CompiledModel(lib, spec_from_manifest(manifest), [TensorSpec.from_json(s) for s in manifest["inputs"]],
                         [TensorSpec.from_json(s) for s in manifest["outputs"]], params,
                         list(manifest.get("params", {}).get("source_names", [])), info=info)
