"""``hwsim bench edge``: reference models x backends, compression trade-offs, early-exit threshold sweep.

Models (all on scikit-learn digits, see :mod:`edge.zoo`): the MLP and the digits CNN, each dense and
compressed four ways (lottery-ticket pruning, channel pruning, low rank with ordered dropout, int8),
and the early-exit CNN run through every stage. Backends: PyTorch eager, ONNX Runtime, TVM untuned,
TVM tuned (MetaSchedule, ``--tune`` trials per task). Every backend gets the same model in the same
deployment form (batch norm folded into the convolutions) and the same number of threads.

Latency is the median wall-clock time of one call, two ways:

* ``e2e``: numpy in, numpy out through each backend's ordinary Python call (``model(torch.from_numpy(x))``,
  ``InferenceSession.run``, ``CompiledModel.__call__``);
* ``resident``: the input already in the runtime's own tensor (torch tensor, ONNX Runtime I/O binding,
  ``CompiledModel.prepared_call``), which leaves out the per-call conversion of the Python wrappers.

Accuracy of every backend is measured on the test split with that backend's own outputs; the
TVM rows also give the largest deviation from PyTorch over the whole test split.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from edge import zoo
from edge.compress.channel import ChannelConfig, channel_prune
from edge.backends import BACKENDS as BACKEND_TABLE
from edge.backends import BenchModel
from edge.compile import compile_model
from edge.compress.lowrank import LowRankConfig, lowrank_compress, to_ordered, truncated
from edge.compress.prune import LotteryConfig, lottery_ticket
from edge.compress.quantize import export_qdq_onnx, quantize_int8
from edge.compress.stats import count_macs, count_nonzero, count_params
from edge.compress.surgery import fold_batchnorm
from edge.digits import DigitsSplit, digits_split
from edge.dynamic import (CondEarlyExit, CondRunner, EarlyExitRunner, compile_stages, eager_stages, pick_threshold,
                          run_per_sample, threshold_sweep)
from edge.ort import export_onnx
from edge.runner import Runner
from edge.train import EdgeTrainConfig, steps_per_epoch
from hwsim.errors import ConfigError, HwsimError
from hwsim.progress import progress
from hwsim.report import table, time_interleaved, write_bench

BASES = ("mlp", "cnn")
METHODS = ("dense", "lottery", "channel", "lowrank", "int8")
EARLY_EXIT = "ee_cnn"
ALL_MODELS = tuple(f"{b}-{m}" if m != "dense" else b for b in BASES for m in METHODS) + (EARLY_EXIT,)
REFERENCE_MODELS = ("mlp", "cnn", "cnn-channel", EARLY_EXIT)
BACKENDS = ("pytorch", "onnxruntime", "tvm", "tvm-tuned")
THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
MAX_ACC_DROP_COMPRESSED = 0.01   # acceptance 2: at most 1 point lost
MAX_ACC_DROP_EARLY_EXIT = 0.005  # acceptance 3: at most 0.5 points lost
ATOL = 1e-4
# int8 is simulated with round(): a 1e-6 difference in a float accumulation (TVM and PyTorch sum in
# different orders) can move an activation across a rounding boundary, i.e. by one quantisation step,
# so compiled int8 cannot match PyTorch to 1e-4; it is compiled and checked with this tolerance instead
INT8_ATOL = 0.05
NOTES = {
    "lottery": "unstructured sparsity baked into dense weights: TVM 0.27 Relax has no sparse kernels, so no "
               "speed-up is expected (nor in ONNX Runtime or PyTorch); shown for accuracy at its sparsity",
    "int8": "TVM 0.27 Relax runs quantise/dequantise around float32 kernels (no int8 kernels on this path), so "
            "compiled int8 is not faster than float32; ONNX Runtime gets the same model as a QDQ graph and "
            "runs real int8 kernels",
    "channel": "channels physically removed (smaller conv/linear layers), then fine-tuned",
    "lowrank": "layers factorised (SVD init), trained with ordered dropout over rank, truncated at the smallest "
               "rank fraction keeping validation accuracy and loss (+0.01 nats), fine-tuned",
}


@dataclass(frozen=True)
class EdgeBenchConfig:
    """What one run of the benchmark measures and with which budget."""

    quick: bool = False
    tune: int = 0
    threads: int = 1
    batches: tuple[int, ...] = (1, 32)
    models: tuple[str, ...] = ALL_MODELS
    repeat: int = 200
    min_time: float = 0.5
    time_budget: float = 3.0
    thresholds: tuple[float, ...] = THRESHOLDS
    sweep_repeat: int = 3
    seed: int = 0
    early_exit: bool = True


@dataclass
class Variant:
    """One benchmarked model: the module every backend receives and how it was obtained."""

    name: str
    base: str
    method: str
    model: nn.Module
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str = ""


# ---------------------------------------------------------------- models


def compression_configs(quick: bool, train: EdgeTrainConfig, data: DigitsSplit) -> dict[str, Any]:
    """The configuration of each compression method (small budgets under ``quick``)."""
    if quick:
        short = replace(train, epochs=1)
        return {"lottery": LotteryConfig(rounds=1, rate=0.5, rewind_step=2, train=short),
                "channel": ChannelConfig(keep=0.25, finetune=replace(short, lr=1e-3)),
                "lowrank": LowRankConfig(train=replace(short, lr=1e-3), finetune=replace(short, epochs=0))}
    return {"lottery": LotteryConfig(rounds=3, rate=0.5, rewind_step=steps_per_epoch(data, train), train=train),
            "channel": ChannelConfig(keep=0.25, criterion="l1", finetune=EdgeTrainConfig(epochs=10, lr=1e-3,
                                                                                       seed=train.seed)),
            "lowrank": LowRankConfig(train=EdgeTrainConfig(epochs=10, lr=1e-3, seed=train.seed),
                                     finetune=EdgeTrainConfig(epochs=3, lr=3e-4, seed=train.seed))}


def _describe(model: nn.Module, data: DigitsSplit) -> dict[str, Any]:
    return {**zoo.describe(model, data), "nonzero_params": count_nonzero(model)}


def build_variant(name: str, data: DigitsSplit, cfg: EdgeBenchConfig) -> Variant:
    """Train (or load from the cache) the model called ``name`` and put it in deployment form."""
    if name == EARLY_EXIT:
        tr = zoo.trained(zoo.zoo_spec(EARLY_EXIT, quick=cfg.quick, seed=cfg.seed), data)
        return Variant(name, EARLY_EXIT, "multi-exit (all stages)", fold_batchnorm(tr.model), dict(tr.metrics),
                       "every stage runs; see the early-exit sweep for the exit policy")
    base, _, method = name.partition("-")
    method = method or "dense"
    if base not in BASES or method not in METHODS:
        raise ConfigError(f"unknown bench model '{name}'; known: {', '.join(ALL_MODELS)}")
    spec = zoo.zoo_spec(base, quick=cfg.quick, seed=cfg.seed)
    dense = zoo.trained(spec, data)
    if method == "dense":
        return Variant(name, base, method, fold_batchnorm(dense.model), {**dense.metrics,
                       "nonzero_params": count_nonzero(dense.model)})
    if method == "int8":
        folded = fold_batchnorm(dense.model)
        q = quantize_int8(folded, data.x_train[:512])
        return Variant(name, base, method, q, _describe(q, data), NOTES["int8"])
    mcfg = compression_configs(cfg.quick, spec.train, data)[method]
    key = {"base": spec.key(), "method": method, "config": asdict(mcfg)}

    def make() -> tuple[nn.Module, dict[str, Any]]:
        start = time.perf_counter()
        info: dict[str, Any] = {}
        if method == "lottery":
            model, masks, history = lottery_ticket(zoo.build(spec), data, mcfg, loss_fn=zoo.loss_for(spec))
            info = {"rounds": history, "sparsity": mcfg.sparsity}
        elif method == "channel":
            model = channel_prune(dense.model, data, mcfg)
        else:
            model, info = lowrank_compress(dense.model, data, mcfg)
        return model, {**_describe(model, data), **info, "compress_seconds": time.perf_counter() - start}

    def template(metrics: dict[str, Any]) -> nn.Module:
        if method == "lowrank":  # same layer structure as the cached model; sizes come from its weights
            dense_arch = fold_batchnorm(zoo.build(spec)) if mcfg.fold_batchnorm else zoo.build(spec)
            return truncated(to_ordered(dense_arch, mcfg.min_rank), metrics["fraction"])
        return zoo.build(spec)

    model, metrics = zoo.cached_module(f"{base}-{method}", key, make, template)
    return Variant(name, base, method, fold_batchnorm(model), metrics, NOTES[method])


# ---------------------------------------------------------------- backends


def bench_model(variant: Variant, workdir: Path) -> BenchModel:
    """``variant`` as the backends take it: its module, its ONNX file (a QDQ graph for int8) written on
    first use, and its verification tolerance."""
    path = workdir / f"{variant.name}.onnx"

    def onnx_file(x: np.ndarray) -> Path:
        if not path.exists():
            example = torch.from_numpy(x[:1])
            if variant.method == "int8":
                export_qdq_onnx(variant.model, example, path)
            else:
                export_onnx(variant.model, example, path)
        return path

    return BenchModel(variant.name, variant.model, onnx_file, atol=INT8_ATOL if variant.method == "int8" else ATOL)


def run_batched(call: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int, static: bool) -> np.ndarray:
    """Outputs of ``call`` over ``x`` in batches of ``batch`` (zero-padding the last one when the backend
    has a ``static`` batch size)."""
    outs = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        n = len(chunk)
        if static and n < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - n, *chunk.shape[1:]), dtype=chunk.dtype)])
        outs.append(np.asarray(call(np.ascontiguousarray(chunk)))[:n])
    return np.concatenate(outs)


# ---------------------------------------------------------------- the models x backends table


def bench_variant(variant: Variant, data: DigitsSplit, cfg: EdgeBenchConfig, workdir: Path,
                  compiled_store: dict[tuple[str, str, int], Any]) -> list[dict[str, Any]]:
    """Rows (one per backend and batch size) for one model."""
    x_test = data.x_test.numpy()
    y_test = data.y_test.numpy()
    macs = count_macs(variant.model, data.x_test)
    backends = [b for b in BACKENDS if b != "tvm-tuned" or cfg.tune > 0]
    model = bench_model(variant, workdir)
    atol = model.atol
    acc: dict[str, float] = {}
    agree: dict[str, float] = {}
    err: dict[str, float] = {}
    reference: np.ndarray | None = None
    rows = []
    timing: list[tuple[dict[str, Any], Runner]] = []
    for batch in sorted(cfg.batches, reverse=True):  # accuracy is measured with the largest batch
        x = np.ascontiguousarray(x_test[:batch]) if batch <= len(x_test) else \
            np.ascontiguousarray(np.resize(x_test, (batch, *x_test.shape[1:])))
        for name in backends:
            backend = BACKEND_TABLE[name]
            be = backend.build(model, x, cfg.threads, cfg.tune)
            if backend.compiled and be.call is not None:
                compiled_store[(variant.name, name, batch)] = be.call
            row: dict[str, Any] = {"model": variant.name, "method": variant.method, "backend": name,
                                   "batch": batch, "threads": cfg.threads}
            if be.error is not None:
                rows.append({**row, "error": be.error})
                continue
            if name not in acc:  # accuracy (and deviation from PyTorch) over the whole test split
                out = run_batched(be.call, x_test, batch, static=backend.static_batch)
                if name == "pytorch":
                    reference = out
                acc[name] = float((out.argmax(1) == y_test).mean())
                if reference is not None and name != "pytorch":
                    err[name] = float(np.abs(out - reference).max())
                    agree[name] = float((out.argmax(1) == reference.argmax(1)).mean())
                    row["match_torch_1e-4"] = bool(np.allclose(out, reference, atol=ATOL, rtol=1e-4))
            elif backend.compiled:  # other batch sizes are other builds: check them on their input
                want = BACKEND_TABLE["pytorch"].build(model, x, cfg.threads).call(x)
                got = np.asarray(be.call(x))
                err[name] = max(err.get(name, 0.0), float(np.abs(got - want).max()))
                row["match_torch_1e-4"] = bool(np.allclose(got, want, atol=ATOL, rtol=1e-4))
            if backend.compiled:
                row["verify_atol"] = atol
            row.update({"test_acc": acc[name], "max_abs_err_vs_torch": err.get(name),
                        "pred_agree_torch": agree.get(name),
                        "params": count_params(variant.model), "nonzero_params": count_nonzero(variant.model),
                        "mflops": 2 * macs / 1e6, **({"compile": be.info} if be.info else {})})
            timing.append((row, be))
            rows.append(row)
        time_backends(timing, x, cfg)
        timing.clear()
    add_ratios(rows)
    return rows


def time_backends(timing: list[tuple[dict[str, Any], Runner]], x: np.ndarray, cfg: EdgeBenchConfig) -> None:
    """Time every backend of one model and batch round-robin (:func:`hwsim.report.time_interleaved`), end
    to end and resident, so that all of them see the same machine state; fills each row's latencies."""
    if not timing:
        return
    slowest = 0.0
    for _, be in timing:
        t0 = time.perf_counter()
        be.call(x)
        slowest = max(slowest, time.perf_counter() - t0)
    n = int(min(cfg.repeat, max(5, cfg.time_budget / max(slowest, 1e-9))))
    min_time = cfg.min_time if n == cfg.repeat else 0.0  # no minimum time when a call is slow
    e2e = time_interleaved({row["backend"]: (lambda be=be: be.call(x)) for row, be in timing}, repeat=n,
                           min_time=min_time)
    res = time_interleaved({row["backend"]: be.resident for row, be in timing}, repeat=n, min_time=min_time)
    for row, _ in timing:
        st, rs = e2e[row["backend"]], res[row["backend"]]
        row.update({"e2e_us": st["median"] * 1e6, "resident_us": rs["median"] * 1e6, "e2e_p10_us": st["p10"] * 1e6,
                    "e2e_p90_us": st["p90"] * 1e6, "n": st["n"], "timing": "interleaved"})


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Speed-up of each row over PyTorch and ONNX Runtime on the same model and batch (>1: faster)."""
    ref = {(r["model"], r["batch"], r["backend"]): r for r in rows if "e2e_us" in r}
    for r in rows:
        if "e2e_us" not in r:
            continue
        for base, tag in (("pytorch", "torch"), ("onnxruntime", "ort")):
            b = ref.get((r["model"], r["batch"], base))
            if b is not None:
                r[f"x_vs_{tag}"] = b["e2e_us"] / r["e2e_us"]
                r[f"x_vs_{tag}_resident"] = b["resident_us"] / r["resident_us"]


# ---------------------------------------------------------------- compression trade-off


def compression_table(rows: Sequence[dict[str, Any]], variants: dict[str, Variant]) -> list[dict[str, Any]]:
    """Each compression method against its dense model: accuracy, size, work, compiled latency at batch 1."""
    by = {(r["model"], r["backend"], r["batch"]): r for r in rows if "e2e_us" in r}
    out = []
    for v in variants.values():
        if v.base not in BASES or v.base not in variants:
            continue
        dense = variants[v.base]
        row: dict[str, Any] = {"model": v.name, "method": v.method, "test_acc": v.metrics.get("test_acc"),
                               "acc_drop_pts": 100 * (dense.metrics["test_acc"] - v.metrics["test_acc"]),
                               "params": v.metrics.get("params"), "nonzero": v.metrics.get("nonzero_params"),
                               "mflops": 2 * v.metrics["macs"] / 1e6 if "macs" in v.metrics else None}
        for backend in ("tvm-tuned", "tvm", "onnxruntime", "pytorch"):
            mine, theirs = by.get((v.name, backend, 1)), by.get((v.base, backend, 1))
            if mine and theirs:
                row[f"speedup_{backend}"] = theirs["e2e_us"] / mine["e2e_us"]
                row[f"speedup_{backend}_resident"] = theirs["resident_us"] / mine["resident_us"]
        row["note"] = v.note
        out.append(row)
    return out


# ---------------------------------------------------------------- early exit


def early_exit_section(variant: Variant, data: DigitsSplit, cfg: EdgeBenchConfig,
                       compiled_store: dict[tuple[str, str, int], Any]) -> dict[str, Any]:
    """Threshold sweep of the early-exit CNN compiled stage by stage, against every stage and against
    the whole network compiled as one module; the same policy with ``torch.cond`` (Relax ``If``)."""
    net = variant.model
    backend = "tvm-tuned" if cfg.tune > 0 else "tvm"
    x1 = data.x_test[:1]
    kw = {"num_threads": cfg.threads, "tune_trials": cfg.tune}
    start = time.perf_counter()
    staged = EarlyExitRunner(compile_stages(net, x1, **kw))
    compile_s = time.perf_counter() - start
    x_val, y_val = data.x_val.numpy(), data.y_val.numpy()
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()
    thresholds = list(cfg.thresholds)

    val = threshold_sweep(staged, x_val, y_val, thresholds, repeat=1)
    all_val = next(p for p in val if p.threshold >= 1.0)
    picked = pick_threshold(val, all_val.accuracy, MAX_ACC_DROP_EARLY_EXIT)
    test = threshold_sweep(staged, x_test, y_test, thresholds, repeat=cfg.sweep_repeat)
    eager = threshold_sweep(EarlyExitRunner(eager_stages(net)), x_test, y_test, thresholds, repeat=1)

    mono = compiled_store.get((variant.name, backend, 1))
    if mono is None:
        mono = compile_model(net, example_inputs=(x1,), **kw)
    last = len(net.stages) - 1
    mono_times = [run_per_sample(lambda a: (mono(a), np.array([last])), x_test)[2] for _ in range(cfg.sweep_repeat)]
    mono_s = float(np.median(mono_times))

    cond_points: list[Any] = []
    cond_error = None
    try:
        cond = compile_model(CondEarlyExit(net).eval(), example_inputs=(x1, torch.tensor([0.9])), **kw)
        cond_points = threshold_sweep(CondRunner(cond, len(net.stages)), x_test, y_test, thresholds,
                                      repeat=cfg.sweep_repeat)
    except HwsimError as exc:
        cond_error = f"{type(exc).__name__}: {exc}"

    all_test = next(p for p in test if p.threshold >= 1.0)
    cond_by = {p.threshold: p for p in cond_points}
    eager_by = {p.threshold: p for p in eager}
    rows = []
    for p in test:
        c = cond_by.get(p.threshold)
        rows.append({"threshold": p.threshold, "test_acc": p.accuracy,
                     "acc_drop_pts": 100 * (all_test.accuracy - p.accuracy),
                     "exits": "/".join(f"{f:.2f}" for f in p.exit_fractions), "exit_fractions": p.exit_fractions,
                     "staged_us": p.mean_latency_s * 1e6,
                     "cut_vs_all_stages": 1 - p.mean_latency_s / all_test.mean_latency_s,
                     "cut_vs_monolithic": 1 - p.mean_latency_s / mono_s,
                     "cond_us": c.mean_latency_s * 1e6 if c else None,
                     "cond_acc": c.accuracy if c else None,
                     "eager_us": eager_by[p.threshold].mean_latency_s * 1e6,
                     "picked_on_val": p.threshold == picked.threshold})
    chosen = next(r for r in rows if r["picked_on_val"])
    return {"backend": backend, "threads": cfg.threads, "stage_compile_s": round(compile_s, 2),
            "monolithic_us": mono_s * 1e6, "all_stages_us": all_test.mean_latency_s * 1e6,
            "all_stages_acc": all_test.accuracy, "exit_test_acc": variant.metrics.get("exit_test_acc"),
            "picked_threshold": picked.threshold, "picked_val_acc": picked.accuracy,
            "val_all_stages_acc": all_val.accuracy, "chosen": chosen, "sweep": rows,
            "val_sweep": [asdict(p) for p in val], "cond_error": cond_error,
            "protocol": "batch 1, every test sample in turn, mean seconds per sample, median of "
                        f"{cfg.sweep_repeat} passes; threshold picked on the validation split (lowest threshold "
                        f"within {100 * MAX_ACC_DROP_EARLY_EXIT:.1f} points of running every stage), reported on test"}


# ---------------------------------------------------------------- acceptance


def acceptance(rows: Sequence[dict[str, Any]], compression: Sequence[dict[str, Any]],
               ee: dict[str, Any] | None) -> dict[str, Any]:
    """The issue's three acceptance checks, computed from this run's numbers."""
    by = {(r["model"], r["backend"], r["batch"]): r for r in rows if "e2e_us" in r}
    out: dict[str, Any] = {}
    tuned = [m for m in REFERENCE_MODELS if (m, "tvm-tuned", 1) in by and (m, "onnxruntime", 1) in by]
    if tuned:
        detail = {m: {"x_vs_ort_e2e": by[(m, "tvm-tuned", 1)]["x_vs_ort"],
                      "x_vs_ort_resident": by[(m, "tvm-tuned", 1)]["x_vs_ort_resident"]} for m in tuned}
        wins = sum(d["x_vs_ort_e2e"] > 1 for d in detail.values())
        wins_res = sum(d["x_vs_ort_resident"] > 1 for d in detail.values())
        out["1_tuned_tvm_beats_ort_batch1"] = {"models": detail, "wins_e2e": wins, "wins_resident": wins_res,
                                               "of": len(tuned), "passed_e2e": wins >= 3,
                                               "passed_resident": wins_res >= 3}
    else:
        out["1_tuned_tvm_beats_ort_batch1"] = {"passed_e2e": None, "why": "no tuned rows: run with --tune TRIALS"}
    compiled = [r for r in rows if BACKEND_TABLE[r["backend"]].compiled and "e2e_us" in r]
    failed = [f"{r['model']}/{r['backend']}/b{r['batch']}: {r['error'][:120]}" for r in rows
              if BACKEND_TABLE[r["backend"]].compiled and "error" in r]
    out["1_compiled_outputs_match_torch"] = {
        "float_rows_within_1e-4": all(r.get("match_torch_1e-4") is not False for r in compiled
                                      if r["method"] != "int8"),
        "int8_rows": {f"{r['model']}/{r['backend']}/b{r['batch']}": {"max_abs_err": r["max_abs_err_vs_torch"],
                                                                      "pred_agree": r.get("pred_agree_torch")}
                      for r in compiled if r["method"] == "int8"},
        "int8_note": f"int8 is compiled and checked with atol={INT8_ATOL}: see INT8_ATOL in edge/bench.py",
        "failed_compiles": failed}
    cands = [c for c in compression if c["model"].startswith("cnn-")]
    key = "speedup_tvm-tuned" if any("speedup_tvm-tuned" in c for c in cands) else "speedup_tvm"
    ok = [c for c in cands if c.get(key) is not None and c["acc_drop_pts"] <= 100 * MAX_ACC_DROP_COMPRESSED + 1e-9]
    best = max(ok, key=lambda c: c[key], default=None)
    out["2_compressed_cnn_3x"] = {"backend": key.removeprefix("speedup_"),
                                  "best": None if best is None else {k: best.get(k) for k in
                                                                     ("model", key, f"{key}_resident",
                                                                      "acc_drop_pts")},
                                  "passed": None if best is None else best[key] >= 3.0}
    if ee is not None:
        c = ee["chosen"]
        out["3_early_exit_cut"] = {"threshold": c["threshold"], "cut_vs_all_stages": c["cut_vs_all_stages"],
                                   "cut_vs_monolithic": c["cut_vs_monolithic"], "acc_drop_pts": c["acc_drop_pts"],
                                   "passed": c["cut_vs_all_stages"] >= 0.30 and c["acc_drop_pts"] <= 0.5 + 1e-9}
    return out


# ---------------------------------------------------------------- command


def parse(argv: Sequence[str]) -> tuple[EdgeBenchConfig, str | None]:
    """The command line as a :class:`EdgeBenchConfig` and the JSON path."""
    p = argparse.ArgumentParser(prog="hwsim bench edge", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small models, short training, few timing repeats")
    p.add_argument("--tune", type=int, default=0, metavar="TRIALS",
                   help="MetaSchedule trials per task for the 'tvm-tuned' backend (0: no tuned rows)")
    p.add_argument("--threads", type=int, default=1, help="threads for every backend (default 1)")
    p.add_argument("--batches", default="1,32", help="comma-separated batch sizes (default 1,32)")
    p.add_argument("--models", default=",".join(ALL_MODELS), help=f"comma-separated subset of {','.join(ALL_MODELS)}")
    p.add_argument("--repeat", type=int, default=None, help="timed calls per measurement (default 200, quick 20)")
    p.add_argument("--no-early-exit", action="store_true", help="skip the early-exit threshold sweep")
    p.add_argument("--seed", type=int, default=0, help="data split and training seed")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args(list(argv))
    try:
        batches = tuple(int(b) for b in a.batches.split(",") if b.strip())
    except ValueError:
        raise ConfigError(f"--batches must be comma-separated integers, got '{a.batches}'") from None
    models = tuple(m.strip() for m in a.models.split(",") if m.strip())
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(ALL_MODELS)}")
    if not batches or min(batches) < 1:
        raise ConfigError("--batches needs positive batch sizes")
    if a.tune < 0 or a.threads < 1:
        raise ConfigError("--tune must be >= 0 and --threads >= 1")
    repeat = a.repeat if a.repeat is not None else (20 if a.quick else 200)
    cfg = EdgeBenchConfig(quick=a.quick, tune=a.tune, threads=a.threads, batches=batches, models=models,
                      repeat=max(1, repeat), min_time=0.0 if a.quick else 0.5, time_budget=0.3 if a.quick else 3.0,
                      thresholds=(0.0, 0.5, 0.9, 0.99, 1.0) if a.quick else THRESHOLDS,
                      sweep_repeat=1 if a.quick else 3, seed=a.seed,
                      early_exit=not a.no_early_exit and EARLY_EXIT in models)
    return cfg, a.json


def run(cfg: EdgeBenchConfig, json_path: str | None = None) -> dict[str, Any]:
    """Run the benchmark and write its table and JSON."""
    torch.set_num_threads(cfg.threads)
    data = digits_split(cfg.seed)
    wanted = list(cfg.models)
    for m in list(wanted):  # compressed variants are compared with their dense model
        base = m.partition("-")[0]
        if base in BASES and base not in wanted:
            wanted.insert(0, base)
    started = time.perf_counter()
    variants = {name: build_variant(name, data, cfg) for name in progress(wanted, desc="models")}
    trained_s = time.perf_counter() - started
    rows: list[dict[str, Any]] = []
    store: dict[tuple[str, str, int], Any] = {}
    with tempfile.TemporaryDirectory(prefix="hwsim-bench-edge-") as tmp:
        for v in progress(list(variants.values()), desc="bench"):
            rows += bench_variant(v, data, cfg, Path(tmp), store)
    ee = early_exit_section(variants[EARLY_EXIT], data, cfg, store) if cfg.early_exit else None
    comp = compression_table(rows, variants)
    checks = acceptance(rows, comp, ee)

    print("\ncompression trade-off (batch 1; speedup = dense latency / compressed latency, e2e):")
    print(table(comp, ["model", "test_acc", "acc_drop_pts", "params", "nonzero", "mflops", "speedup_tvm-tuned",
                       "speedup_tvm", "speedup_onnxruntime", "speedup_pytorch"]))
    if ee is not None:
        print(f"\nearly exit ({ee['backend']}, batch 1, mean us per sample; all stages {ee['all_stages_us']:.1f} us, "
              f"whole network as one module {ee['monolithic_us']:.1f} us; picked on validation: "
              f"{ee['picked_threshold']}):")
        print(table(ee["sweep"], ["threshold", "test_acc", "acc_drop_pts", "exits", "staged_us", "cut_vs_all_stages",
                                  "cut_vs_monolithic", "cond_us", "eager_us", "picked_on_val"]))
        if ee["cond_error"]:
            print(f"torch.cond variant: {ee['cond_error']}")
    print("\nacceptance:", checks)
    print(f"\nmodels x backends ({cfg.threads} thread(s) for every backend; latency = median us per call):")
    columns = ["model", "backend", "batch", "e2e_us", "resident_us", "x_vs_torch", "x_vs_ort", "x_vs_ort_resident",
               "test_acc", "max_abs_err_vs_torch", "params", "mflops", "error"]
    return write_bench(json_path, "edge", rows, columns, config=asdict(cfg), threads=cfg.threads,
                       train_or_load_s=round(trained_s, 1), total_s=round(time.perf_counter() - started, 1),
                       compression=comp, early_exit=ee, acceptance=checks,
                       variants={n: {"method": v.method, "note": v.note, "metrics": v.metrics}
                                 for n, v in variants.items()},
                       protocol=__doc__)


def main(argv: Sequence[str]) -> int:
    """``hwsim bench edge [--quick] [--tune TRIALS] [--threads N] [--batches 1,32] [--models ...] --json FILE``."""
    cfg, json_path = parse(argv)
    run(cfg, json_path)
    return 0
