"""Errors of the edge compile path. Each is a subclass of a :mod:`hwsim.errors` class and says what to do."""

from __future__ import annotations

from hwsim.errors import ConfigError, DeviceError, HwsimError, NotSupportedError, ShapeError


class UnsupportedOperator(NotSupportedError):
    """The model uses an operator the TVM frontend cannot convert (found before conversion starts, or
    named by the frontend when its converter fails)."""

    def __init__(self, frontend: str, ops: dict[str, list[str]], tip: str = ""):
        self.frontend = frontend
        self.ops = ops  # operator -> model nodes that use it
        listed = "; ".join(f"operator '{op}' at node(s) {', '.join(nodes[:5])}" + (" ..." if len(nodes) > 5 else "")
                           for op, nodes in ops.items())
        super().__init__(f"the TVM 0.27 {frontend} frontend cannot convert {listed}. "
                         + (tip or "Replace the operator with a supported equivalent."))


class CompileStageError(HwsimError):
    """TVM failed inside one stage of the compile path (import, layout, legalisation, build, ...): the
    message names the stage, the model node or operator when known, TVM's own one-line reason and what
    the user can do."""

    def __init__(self, stage: str, message: str, op: str | None = None, reason: str = ""):
        self.stage = stage
        self.op = op
        self.reason = reason
        super().__init__(message)


class ModelFileError(HwsimError, ValueError):
    """A model file (ONNX) or a ``module:factory`` path cannot be read or is malformed."""


class VerificationError(HwsimError):
    """The compiled model disagrees with the source model beyond the tolerance; no artifact was produced."""

    def __init__(self, message: str, max_abs_error: float, where: str, atol: float, rtol: float):
        self.max_abs_error = max_abs_error
        self.where = where
        self.atol = atol
        self.rtol = rtol
        super().__init__(message)


class ArtifactError(HwsimError):
    """An exported artifact folder is missing files or its manifest is malformed."""


class TargetMismatchError(NotSupportedError):
    """An artifact or a compiled model was built for a target this machine (or board) cannot run."""


class InputMismatchError(ShapeError):
    """Inputs given to a compiled model do not match its input names, shapes or dtypes."""


class UnknownTargetError(ConfigError):
    """A target name is not one of the named targets."""


class ToolchainError(NotSupportedError):
    """A tool the requested build needs (nvcc for an architecture, a cross linker) is missing or too new/old."""


class TuningError(HwsimError):
    """MetaSchedule tuning could not run (e.g. a broken tvm-ffi pairing or dynamic shapes)."""


class RemoteError(DeviceError):
    """A TVM RPC server or tracker could not be reached or failed while running the artifact."""
