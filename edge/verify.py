"""Verification: run a compiled model and its source model (PyTorch or ONNX Runtime) on the same sample
inputs and refuse the build when they disagree beyond a tolerance."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from edge.errors import VerificationError


def sample_inputs(examples: Sequence[np.ndarray], n_random: int = 2, dynamic_batch: bool = False,
                  seed: int = 0) -> list[tuple[str, list[np.ndarray]]]:
    """The example inputs plus ``n_random`` random ones of the same shapes and scale (floating inputs
    only), and with ``dynamic_batch`` one of batch size 3: ``[(label, arrays), ...]``."""
    rng = np.random.default_rng(seed)
    out = [("the example inputs", [np.ascontiguousarray(a) for a in examples])]
    if not all(np.asarray(a).dtype.kind == "f" for a in examples):
        return out
    for k in range(n_random):
        arrays = []
        for a in examples:
            scale = float(np.std(a)) or 1.0
            arrays.append((rng.standard_normal(a.shape) * scale + float(np.mean(a))).astype(a.dtype))
        out.append((f"random input {k + 1}", arrays))
    if dynamic_batch:
        arrays = [(rng.standard_normal((3, *a.shape[1:])) * (float(np.std(a)) or 1.0)).astype(a.dtype)
                  for a in examples]
        out.append(("a random batch of 3", arrays))
    return out


def compare(got: Sequence[np.ndarray], want: Sequence[np.ndarray], atol: float, rtol: float) -> dict[str, Any]:
    """Worst disagreement between two lists of outputs: ``{ok, max_abs_error, max_rel_error, output,
    index, got, want}`` (``ok`` is the allclose verdict with ``atol``/``rtol``)."""
    if len(got) != len(want):
        return {"ok": False, "max_abs_error": float("inf"), "max_rel_error": float("inf"), "output": None,
                "index": None, "detail": f"{len(got)} outputs, the source model gives {len(want)}"}
    failing: dict[str, Any] | None = None
    largest: dict[str, Any] = {"max_abs_error": 0.0, "output": None, "index": None}
    max_rel = 0.0
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return {"ok": False, "max_abs_error": float("inf"), "max_rel_error": float("inf"), "output": k,
                    "index": None, "detail": f"output {k} has shape {g.shape}, the source model gives {w.shape}"}
        if g.size == 0:
            continue
        gf, wf = g.astype(np.float64), w.astype(np.float64)
        err = np.abs(gf - wf)
        err = np.where(np.isnan(gf) != np.isnan(wf), np.inf, np.nan_to_num(err, nan=0.0))
        idx = np.unravel_index(int(np.argmax(err)), g.shape)
        found = {"max_abs_error": float(err[idx]), "output": k, "index": tuple(int(i) for i in idx),
                 "got": float(gf[idx]), "want": float(wf[idx])}
        max_rel = max(max_rel, float(np.max(err / np.maximum(np.abs(np.nan_to_num(wf)), 1e-12))))
        if found["max_abs_error"] >= largest["max_abs_error"]:
            largest = found
        if not np.all(err <= atol + rtol * np.abs(np.nan_to_num(wf))):
            if failing is None or found["max_abs_error"] > failing["max_abs_error"]:
                failing = found
    return {"ok": failing is None, "max_rel_error": max_rel, **(failing or largest)}


def verify_model(run: Callable[..., list[np.ndarray]], reference: Callable[..., list[np.ndarray]],
                 samples: list[tuple[str, list[np.ndarray]]], atol: float, rtol: float, what: str,
                 source: str, hint: str = "") -> dict[str, Any]:
    """Run ``run`` and ``reference`` on every sample; return a summary dict, or raise
    :class:`VerificationError` (naming the sample, output, index and error) at the first disagreement."""
    worst_abs = 0.0
    for label, arrays in samples:
        result = compare(run(*arrays), reference(*arrays), atol, rtol)
        if not result["ok"]:
            where = (f"output {result['output']} at index {result['index']}" if result.get("index") is not None
                     else result.get("detail", "outputs"))
            values = (f" (compiled {result['got']:.6g}, {source} {result['want']:.6g})"
                      if "got" in result else "")
            msg = (f"{what} disagrees with the {source} model on {label}: max abs error "
                   f"{result['max_abs_error']:.4g} at {where}{values}; tolerance atol={atol:g}, rtol={rtol:g}. "
                   "No artifact was produced.")
            if result.get("detail"):
                msg += f" {result['detail']}."
            if hint:
                msg += f" {hint}"
            raise VerificationError(msg, result["max_abs_error"], where, atol, rtol)
        worst_abs = max(worst_abs, result["max_abs_error"])
    return {"passed": True, "samples": len(samples), "max_abs_error": worst_abs, "atol": atol, "rtol": rtol,
            "reference": source}
