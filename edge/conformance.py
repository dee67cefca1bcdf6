"""``hwsim bench onnx-conformance``: ONNX's own backend node tests through hwsim, next to ONNX Runtime.

The cases are the node tests of the installed ``onnx`` package (``onnx.backend.test.case.node``: the
generators of ``onnx/backend/test/data/node``, one model, inputs and expected outputs per case). Each
case is compiled by :func:`edge.compile.compile_model` for ``host`` with default flags (verification
against ONNX Runtime on), run on the case's inputs and compared with the expected outputs at the case's
tolerances, as ONNX's backend test runner does (``rtol``/``atol`` of the case, shapes and dtype kinds
equal). ONNX Runtime runs the same case. Each case runs in a worker process with a time limit, so a
crash (a signal inside TVM) or a hang is recorded against that case and the run goes on.

Classes of a case through hwsim:

- ``pass``: compiled, and the outputs match the expected ones;
- ``hwsim_error``: refused with an hwsim error (an unsupported operator, a failed stage naming the
  operator, a verification refusal, a shape or dtype hwsim cannot carry): clear, not wrong;
- ``wrong``: compiled and verified, but the outputs do not match the expected ones (silently wrong);
- ``raw_exception``: an exception that is not an hwsim error escaped, or the worker crashed;
- ``timeout``: no answer within the time limit.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from edge.compile import compile_model
from edge.errors import CompileStageError
from hwsim.errors import ConfigError, HwsimError
from hwsim.progress import progress
from hwsim.report import write_bench

CLASSES = ("pass", "hwsim_error", "wrong", "raw_exception", "timeout")
ORT_CLASSES = ("pass", "error", "wrong")


@dataclass(frozen=True)
class ConformanceConfig:
    """Which cases run and how."""

    sample: int = 0  # 0: every case; else a seeded sample of this many
    seed: int = 0
    filter: str = ""  # only cases whose name contains this
    timeout: float = 180.0  # seconds per case
    jobs: int = 1


def collect_cases() -> list[Any]:
    """ONNX's node test cases (``onnx.backend.test.case.node.collect_testcases``), generated in memory."""
    from onnx.backend.test.case import node

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return node.collect_testcases(None)


def select(names: Sequence[str], cfg: ConformanceConfig) -> list[str]:
    """The case names ``cfg`` asks for (filtered, then a seeded sample), in name order."""
    chosen = sorted(n for n in names if cfg.filter in n)
    if cfg.sample and cfg.sample < len(chosen):
        chosen = sorted(random.Random(cfg.seed).sample(chosen, cfg.sample))
    return chosen


def matches(got: Sequence[Any], want: Sequence[Any], rtol: float, atol: float) -> tuple[bool, str]:
    """(True, "") when ``got`` matches ``want`` as ONNX's runner checks it (sequence outputs element by
    element), else (False, why)."""
    if len(got) != len(want):
        return False, f"{len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, (list, tuple)) or isinstance(g, (list, tuple)):
            if not isinstance(g, (list, tuple)) or not isinstance(w, (list, tuple)):
                return False, f"output {k} is a {type(g).__name__}, expected a {type(w).__name__}"
            ok, why = matches(list(g), list(w), rtol, atol)
            if not ok:
                return False, f"output {k}: {why}"
            continue
        if w is None or g is None:
            if g is not w:
                return False, f"output {k} is {g!r}, expected {w!r}"
            continue
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return False, f"output {k} has shape {g.shape}, expected {w.shape}"
        if w.dtype.kind in "OSU":
            if not np.array_equal(g, w):
                return False, f"output {k} differs"
            continue
        if g.dtype.kind != w.dtype.kind and not {g.dtype.kind, w.dtype.kind} <= {"i", "u"}:
            return False, f"output {k} is {g.dtype}, expected {w.dtype}"
        gf, wf = g.astype(np.float64), w.astype(np.float64)
        bad = ~np.isclose(gf, wf, rtol=rtol, atol=atol, equal_nan=True)
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
            return False, (f"output {k}: {int(bad.sum())} of {bad.size} elements differ (e.g. at {tuple(idx)}: "
                           f"{gf[idx]:.6g} vs expected {wf[idx]:.6g})")
    return True, ""


def _feeds(model: Any, inputs: Sequence[Any]) -> dict[str, Any]:
    inits = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    return dict(zip(names, inputs))


def run_ort(case: Any) -> dict[str, Any]:
    """ONNX Runtime on one case: ``{class, detail}``."""
    import onnxruntime as ort

    inputs, outputs = case.data_sets[0]
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        sess = ort.InferenceSession(case.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        got = sess.run(None, _feeds(case.model, inputs))
    except Exception as exc:  # noqa: BLE001 - ORT's own errors: the case fails for ORT
        return {"class": "error", "detail": f"{type(exc).__name__}: {str(exc)[:200]}"}
    ok, why = matches(got, outputs, case.rtol, case.atol)
    return {"class": "pass" if ok else "wrong", "detail": why}


def run_hwsim(case: Any) -> dict[str, Any]:
    """hwsim on one case (compile for host with default flags, run, compare): ``{class, detail, ...}``."""
    inputs, outputs = case.data_sets[0]
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = compile_model(case.model, list(inputs), target="host", num_threads=1)
            got = compiled.run_list(*inputs)
    except HwsimError as exc:
        out = {"class": "hwsim_error", "error": type(exc).__name__, "detail": str(exc)[:300]}
        if isinstance(exc, CompileStageError):
            out["stage"] = exc.stage
        return {**out, "seconds": round(time.perf_counter() - start, 2)}
    except Exception as exc:  # noqa: BLE001 - what must never reach a user: recorded as such
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
        return {"class": "raw_exception", "error": type(exc).__name__, "detail": f"{str(exc)[:300]} ({where})",
                "seconds": round(time.perf_counter() - start, 2)}
    ok, why = matches(got, outputs, case.rtol, case.atol)
    layout = compiled.info.get("build", {}).get("layout", {})
    return {"class": "pass" if ok else "wrong", "detail": why, "seconds": round(time.perf_counter() - start, 2),
            "rewrites": compiled.info.get("source", {}).get("rewrites"), "layout_fallback": layout.get("fallback")}


def _worker(conn: Any) -> None:
    os.environ.setdefault("TVM_NUM_THREADS", "1")
    cases = {c.name: c for c in collect_cases()}
    conn.send("ready")
    while True:
        name = conn.recv()
        if name is None:
            return
        case = cases[name]
        try:
            result = {"hwsim": run_hwsim(case), "ort": run_ort(case)}
        except Exception as exc:  # noqa: BLE001 - a fault of this harness, not of either runtime
            result = {"hwsim": {"class": "raw_exception", "error": "harness", "detail": repr(exc)[:300]},
                      "ort": {"class": "error", "detail": "harness fault"}}
        conn.send(result)


class Worker:
    """A worker process running cases one at a time, replaced when it crashes or times out."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._ctx = mp.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self.conn, child = self._ctx.Pipe()
        self.proc = self._ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        if not self.conn.poll(600) or self.conn.recv() != "ready":
            raise ConfigError("the conformance worker did not start (importing onnx, tvm and collecting cases)")

    def run(self, name: str) -> dict[str, Any]:
        """The result of one case; a crash or a timeout is recorded and the worker replaced."""
        self.conn.send(name)
        try:
            if self.conn.poll(self.timeout):
                return self.conn.recv()
        except (EOFError, OSError):  # the pipe closed: the worker died
            self.proc.join(5.0)
        code = self.proc.exitcode
        self.close(kill=True)
        self._start()
        if code is None:
            return {"hwsim": {"class": "timeout", "detail": f"no answer within {self.timeout:.0f} s"},
                    "ort": {"class": "error", "detail": "not run (the hwsim compile timed out first)"}}
        return {"hwsim": {"class": "raw_exception", "error": "crash",
                          "detail": f"the worker process died (exit code {code}) while compiling"},
                "ort": {"class": "error", "detail": "not run (the hwsim compile crashed first)"}}

    def close(self, kill: bool = False) -> None:
        """Stop the worker process."""
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
            self.proc.join(10)
        except (OSError, ValueError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts and shares per class for hwsim and ONNX Runtime, and the failure breakdown."""
    n = len(results)
    hw = {c: sum(r["hwsim"]["class"] == c for r in results.values()) for c in CLASSES}
    ort = {c: sum(r["ort"]["class"] == c for r in results.values()) for c in ORT_CLASSES}
    errors: dict[str, int] = {}
    for r in results.values():
        h = r["hwsim"]
        if h["class"] == "hwsim_error":
            key = h["error"] + (f"[{h['stage']}]" if "stage" in h else "")
            errors[key] = errors.get(key, 0) + 1
    both = sum(r["hwsim"]["class"] == "pass" and r["ort"]["class"] == "pass" for r in results.values())
    return {"cases": n, "hwsim": hw, "onnxruntime": ort,
            "hwsim_pass_share": hw["pass"] / n if n else None, "ort_pass_share": ort["pass"] / n if n else None,
            "pass_both": both, "hwsim_error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
            "raw_exceptions": sorted(k for k, r in results.items() if r["hwsim"]["class"] == "raw_exception"),
            "wrong": sorted(k for k, r in results.items() if r["hwsim"]["class"] == "wrong"),
            "timeouts": sorted(k for k, r in results.items() if r["hwsim"]["class"] == "timeout")}


def run(cfg: ConformanceConfig, json_path: str | None = None) -> dict[str, Any]:
    """Run the selected cases and write the table and JSON."""
    started = time.perf_counter()
    names = select([c.name for c in collect_cases()], cfg)
    if not names:
        raise ConfigError(f"no ONNX node test matches --filter '{cfg.filter}'")
    results: dict[str, dict[str, Any]] = {}
    workers = [Worker(cfg.timeout) for _ in range(max(1, cfg.jobs))]
    try:
        if len(workers) == 1:
            for name in progress(names, desc="onnx node tests"):
                results[name] = workers[0].run(name)
        else:
            chunks = [names[k::len(workers)] for k in range(len(workers))]
            with ThreadPoolExecutor(len(workers)) as pool:
                for part in pool.map(lambda wc: {n: wc[0].run(n) for n in wc[1]}, zip(workers, chunks)):
                    results.update(part)
    finally:
        for w in workers:
            w.close()
    summary = summarise(results)
    rows = [{"runtime": "hwsim (host, default flags)", **summary["hwsim"],
             "pass_share": round(summary["hwsim_pass_share"], 4)},
            {"runtime": "ONNX Runtime (CPU)", "pass": summary["onnxruntime"]["pass"],
             "hwsim_error": "-", "wrong": summary["onnxruntime"]["wrong"], "raw_exception": "-", "timeout": "-",
             "error": summary["onnxruntime"]["error"], "pass_share": round(summary["ort_pass_share"], 4)}]
    print("\nhwsim errors by kind:", summary["hwsim_error_kinds"])
    if summary["raw_exceptions"]:
        print("raw exceptions:", ", ".join(summary["raw_exceptions"][:40]))
    if summary["wrong"]:
        print("wrong results:", ", ".join(summary["wrong"][:40]))
    print(f"\nONNX node tests ({summary['cases']} cases; classes as in edge/conformance.py):")
    return write_bench(json_path, "onnx-conformance", rows,
                       ["runtime", "pass", "hwsim_error", "wrong", "raw_exception", "timeout", "error", "pass_share"],
                       config=asdict(cfg), summary=summary, cases=results,
                       total_s=round(time.perf_counter() - started, 1), protocol=__doc__)


def main(argv: Sequence[str]) -> int:
    """``hwsim bench onnx-conformance [--sample N] [--seed S] [--filter TEXT] [--timeout S] [--jobs N] --json F``."""
    p = argparse.ArgumentParser(prog="hwsim bench onnx-conformance",
                                description="ONNX's backend node tests through hwsim and ONNX Runtime.")
    p.add_argument("--sample", type=int, default=0, help="a seeded sample of this many cases (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--filter", default="", help="only cases whose name contains this text")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per case before it counts as a timeout")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (each compiles one case at a time)")
    p.add_argument("--json", default=None, help="write the results as JSON")
    a = p.parse_args(argv)
    if a.sample < 0 or a.timeout <= 0 or a.jobs < 1:
        raise ConfigError("--sample must be >= 0, --timeout > 0 and --jobs >= 1")
    run(ConformanceConfig(a.sample, a.seed, a.filter, a.timeout, a.jobs), a.json)
    return 0
