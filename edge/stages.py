"""Stages of the compile path, and the one place TVM's own exceptions become hwsim errors.

Every call into TVM (frontend conversion, layout conversion, legalisation, build, weight transforms,
export) runs inside :func:`stage`. An exception that is not already an :class:`~hwsim.errors.HwsimError`
leaves it as a :class:`~edge.errors.CompileStageError` that names the stage, the model node or operator
when it can be found (from the failing frames: the ONNX node being converted, the Relax call being
legalised, the TIR function being built), TVM's one-line reason without its C++ stack, and what the
user can do. ``HWSIM_DEBUG=1`` keeps the original traceback chained (it always is, as ``__cause__``).
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

from edge.errors import CompileStageError
from hwsim.errors import HwsimError

WHAT_TO_DO = {
    "import": "If an input of that node is a model input holding shapes, axes or sizes, make it a constant "
              "(an initializer); else re-export the model at another opset (e.g. opset 17 with torch.onnx.export), "
              "give static input shapes (--input-shape NAME=D0,D1,...), or replace the operator.",
    "layout": "Compile without the NHWC layout (it is skipped automatically where it fails; this error means "
              "the fallback failed too).",
    "legalize": "TVM cannot lower this operator for the target; replace it in the model or try another target.",
    "tune": "Compile without --tune (default schedules), or with fewer trials.",
    "schedule": "Compile without --tuning-db (the records may come from another TVM version).",
    "build": "TVM's code generation failed for this target; try another target (host, cuda:sm_XX) or report it "
             "with the model.",
    "weights": "The weight transforms lifted out of the model failed; report it with the model.",
    "reference": "Check the model runs in ONNX Runtime on inputs of the declared shapes and dtypes, or compile "
                 "with --no-verify (not recommended).",
    "verify": "The compiled model failed while running on sample inputs; report it with the model.",
    "export": "Writing the artifact failed; check the output folder is writable and the toolchain installed.",
}

_NOISE = re.compile(r"^\s*(File |Traceback|\d+: |at |\[bt\]|  )")


def reason_of(exc: BaseException, limit: int = 400) -> str:
    """TVM's (or any library's) reason for ``exc`` in one line: the exception type and the last
    meaningful line of its message, without the C++ or Python stack it carries."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not _NOISE.match(ln)]
    line = lines[-1] if lines else (text.splitlines()[-1].strip() if text else "")
    # the frontends' check messages are useful; C++ check-failure prefixes are not
    line = re.sub(r"^(?:tvm\.error\.)?\w*Error:\s*", "", line)
    line = re.sub(r"^Check failed: \((.*?)\) is false:\s*", r"\1: ", line)
    if len(line) > limit:
        line = line[:limit - 3] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def op_of(exc: BaseException) -> str | None:
    """The model node or operator being handled where ``exc`` was raised, found in the frames of its
    traceback: an ONNX node (``op_type`` and name), a Relax call (``relax.nn.conv2d``), a TIR function."""
    tb = exc.__traceback__
    found: str | None = None
    while tb is not None:
        local = tb.tb_frame.f_locals
        node = local.get("node")
        if node is not None and hasattr(node, "op_type") and hasattr(node, "domain"):
            name = getattr(node, "name", "") or "(unnamed)"
            domain = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
            found = f"ONNX node '{name}' ({domain}{node.op_type})"
        elif found is None or not found.startswith("ONNX"):
            call = local.get("call")
            op = getattr(call, "op", None)
            if op is not None and hasattr(op, "name") and str(getattr(op, "name", "")).startswith("relax."):
                found = f"operator {op.name}"
        tb = tb.tb_next
    if found is None:
        m = re.search(r"\b(relax\.[a-z_.0-9]+)", str(exc))
        if m:
            found = f"operator {m.group(1)}"
    return found


def stage_error(name: str, what: str, exc: BaseException, op: str | None = None) -> CompileStageError:
    """The :class:`CompileStageError` for ``exc`` raised in stage ``name`` (``what`` says what ran)."""
    op = op or op_of(exc)
    reason = reason_of(exc)
    where = f" at {op}" if op else ""
    message = f"{name} stage failed in {what}{where}: {reason}. {WHAT_TO_DO.get(name, '')}".strip()
    return CompileStageError(name, message, op, reason)


@contextlib.contextmanager
def stage(name: str, what: str, op: str | None = None) -> Iterator[None]:
    """Run a block of the compile path as stage ``name``: hwsim errors pass through, anything else is
    re-raised as a :class:`CompileStageError` (chained to the original)."""
    try:
        yield
    except HwsimError:
        raise
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - TVM raises TVMError, InternalError, ValueError, KeyError, ...
        raise stage_error(name, what, exc, op) from exc

