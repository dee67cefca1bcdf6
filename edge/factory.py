"""``module:factory`` (or ``path/to/file.py:factory``) model specs of the command line.

Naming a factory on the command line is the user's explicit opt-in to importing it; the module form
goes through :func:`hwsim.resolve.resolve_name` with the working directory on the path (as ``python -m``
would), the file form is loaded from that file.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from edge.errors import ModelFileError
from hwsim.errors import ConfigError
from hwsim.resolve import resolve_name


def _from_cwd(spec: str) -> Any:
    """``resolve_name(spec)`` with the working directory on ``sys.path`` for the duration."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return resolve_name(spec, what="model factory", allow_import=True)
    finally:
        if added:
            sys.path.remove(cwd)


def _from_file(file: Path, func_name: str) -> Any:
    if not file.is_file():
        raise ModelFileError(f"no Python file {file}")
    module_spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
    sys.modules.setdefault(file.stem, module)
    try:
        module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    except ImportError as exc:
        raise ModelFileError(f"cannot import {file}: {exc}") from exc
    return getattr(module, func_name, None)


def load_factory(spec: str) -> tuple[Any, tuple[Any, ...]]:
    """Call a ``module:factory`` (or ``path/to/file.py:factory``) that returns ``(model, example_inputs)``."""
    mod_name, sep, func_name = spec.rpartition(":")
    if not sep or not mod_name or not func_name:
        raise ModelFileError(f"'{spec}' is neither an .onnx file nor a 'module:factory' path")
    if mod_name.endswith(".py") or os.sep in mod_name:
        factory = _from_file(Path(mod_name), func_name)
    else:
        try:
            factory = _from_cwd(spec)
        except ConfigError as exc:
            raise ModelFileError(f"cannot import '{mod_name}' for '{spec}': {exc}") from exc
    if not callable(factory):
        raise ModelFileError(f"'{mod_name}' has no callable '{func_name}'")
    result = factory()
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ModelFileError(f"'{spec}' must return (model, example_inputs), got {type(result).__name__}")
    model, examples = result
    if not isinstance(examples, (tuple, list)):
        examples = (examples,)
    return model, tuple(examples)
