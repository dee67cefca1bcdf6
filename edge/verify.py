"""Verification: run a compiled model and its source model (PyTorch or ONNX Runtime) on the same sample
inputs and refuse the build when they disagree beyond a tolerance."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from edge.errors import VerificationError


def _random_like(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    """A random array shaped like floating ``a``, with its mean and spread, inside its range; ``a`` itself
    when it is a constant (a scalar threshold, a fill value): such inputs are often only valid in a range
    the example shows (an IoU threshold in [0, 1])."""
    finite = a[np.isfinite(a)] if a.size else a
    if finite.size <= 1 or float(np.std(finite)) == 0.0:
        return a.copy()
    lo, hi, mean, std = float(finite.min()), float(finite.max()), float(finite.mean()), float(finite.std())
    out = np.clip(rng.standard_normal(a.shape) * std + mean, lo, hi)
    return out.astype(a.dtype)


def _with_special_values(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    """``a`` with about one element in six replaced by +inf, -inf or nan (floating inputs only)."""
    if a.dtype.kind != "f" or a.size == 0:
        return a.copy()
    out = a.copy()
    flat = out.reshape(-1)
    picks = rng.random(flat.size) < 1 / 6
    picks[rng.integers(flat.size)] = True
    flat[picks] = rng.choice(np.array([np.inf, -np.inf, np.nan], dtype=a.dtype), size=int(picks.sum()))
    return out


def sample_inputs(examples: Sequence[np.ndarray], n_random: int = 2, dynamic_batch: bool = False,
                  seed: int = 0, special_values: bool = False,
                  fixed: Sequence[int] = ()) -> list[tuple[str, list[np.ndarray]]]:
    """The example inputs, ``n_random`` random ones (floating inputs drawn like the example's values and
    inside their range, other inputs and those at the ``fixed`` positions as in the example), with
    ``dynamic_batch`` one of batch size 3, and with ``special_values`` one with infinities and NaNs:
    ``[(label, arrays), ...]``."""
    rng = np.random.default_rng(seed)
    examples = [np.asarray(a) for a in examples]
    out = [("the example inputs", [a.copy() for a in examples])]
    floating = [a.dtype.kind == "f" and k not in fixed for k, a in enumerate(examples)]
    if not any(floating):
        return out
    for k in range(n_random):
        out.append((f"random input {k + 1}", [_random_like(rng, a) if f else a.copy()
                                               for a, f in zip(examples, floating)]))
    if special_values:
        out.append(("an input with infinities and NaNs", [_with_special_values(rng, a) if f else a.copy()
                                                           for a, f in zip(examples, floating)]))
    if dynamic_batch and all(floating):
        arrays = [(rng.standard_normal((3, *a.shape[1:])) * (float(np.std(a)) or 1.0)).astype(a.dtype)
                  for a in examples]
        out.append(("a random batch of 3", arrays))
    return out


def compare(got: Sequence[np.ndarray], want: Sequence[np.ndarray], atol: float, rtol: float) -> dict[str, Any]:
    """Worst disagreement between two lists of outputs: ``{ok, max_abs_error, max_rel_error, output,
    index, got, want}``. ``ok`` is the allclose verdict with ``atol``/``rtol``; when it fails, the
    element quoted is the one furthest beyond the tolerance (not merely the largest error, which may be
    within tolerance for a large value)."""
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
        if g.dtype.kind != w.dtype.kind and not {g.dtype.kind, w.dtype.kind} <= {"i", "u"}:
            return {"ok": False, "max_abs_error": float("inf"), "max_rel_error": float("inf"), "output": k,
                    "index": None, "detail": f"output {k} is {g.dtype}, the source model gives {w.dtype}"}
        if g.size == 0:
            continue
        gf, wf = g.astype(np.float64), w.astype(np.float64)
        same = (gf == wf) | (np.isnan(gf) & np.isnan(wf))  # equal infinities and NaN against NaN agree
        with np.errstate(invalid="ignore"):
            err = np.where(same, 0.0, np.abs(gf - wf))
        err = np.nan_to_num(err, nan=np.inf)
        bound = atol + rtol * np.abs(np.nan_to_num(wf, posinf=0.0, neginf=0.0))
        idx = np.unravel_index(int(np.argmax(err)), g.shape)
        found = {"max_abs_error": float(err[idx]), "output": k, "index": tuple(int(i) for i in idx),
                 "got": float(gf[idx]), "want": float(wf[idx])}
        with np.errstate(invalid="ignore"):
            max_rel = max(max_rel, float(np.max(err / np.maximum(np.abs(np.nan_to_num(wf)), 1e-12))))
        if found["max_abs_error"] >= largest["max_abs_error"]:
            largest = found
        excess = err - bound
        if np.any(excess > 0):
            j = np.unravel_index(int(np.argmax(excess)), g.shape)
            beyond = {"max_abs_error": float(err[j]), "output": k, "index": tuple(int(i) for i in j),
                      "got": float(gf[j]), "want": float(wf[j]), "excess": float(excess[j])}
            if failing is None or beyond["excess"] > failing["excess"]:
                failing = beyond
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
            msg = (f"{what} disagrees with the {source} model on {label}: error {result['max_abs_error']:.4g} "
                   f"at {where}{values}, beyond the tolerance atol={atol:g}, rtol={rtol:g}. "
                   "No artifact was produced.")
            if result.get("detail"):
                msg += f" {result['detail']}."
            if hint:
                msg += f" {hint}"
            raise VerificationError(msg, result["max_abs_error"], where, atol, rtol)
        worst_abs = max(worst_abs, result["max_abs_error"])
    return {"passed": True, "samples": len(samples), "max_abs_error": worst_abs, "atol": atol, "rtol": rtol,
            "reference": source}
