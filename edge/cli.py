"""``hwsim edge``: compile, run and benchmark models with TVM for CPUs, CUDA GPUs, Jetson and ARM boards.

  hwsim edge compile MODEL --target T [--tune TRIALS] [--no-verify] -o DIR
        MODEL is an .onnx file or a Python 'module:factory' (or 'file.py:factory') returning
        (model, example_inputs)
  hwsim edge run DIR [--input x.npy ...] [--output y.npy]
  hwsim edge compile ... --tune TRIALS --tracker host:port --key KEY   (candidates measured on the boards)
  hwsim edge bench DIR [--rpc host:port | tracker://host:port/key | --tracker host:port --key KEY] [--json FILE]
  hwsim edge rpc-server [--host H] [--port P] [--tracker host:port --key KEY] (docs/cluster.md)
  hwsim edge targets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge.artifact import cross_linker, read_manifest
from edge.cuda_aot import nvcc_path, supported_archs
from edge.errors import InputMismatchError
from edge.factory import load_factory
from edge.loading import load
from edge.onnx_import import is_onnx, read_onnx
from edge.rpc import start_server
from edge.targets import TARGETS
from edge.timing import time_model
from edge.tracker import BoardFarm
from hwsim.cli import dispatch
from hwsim.errors import ConfigError
from hwsim.report import table, write_bench

COMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("edge.cli:compile_main", "compile an ONNX file or a module:factory for a target into an artifact"),
    "run": ("edge.cli:run_main", "run an artifact on .npy inputs (or random ones) and print/save the outputs"),
    "bench": ("edge.cli:bench_main", "time an artifact here or on a board over TVM RPC"),
    "rpc-server": ("edge.cli:rpc_server_main", "serve this machine (a board) to TVM RPC clients"),
    "targets": ("edge.cli:targets_main", "list the named targets and whether this machine can build/run them"),
}


def main(argv: Sequence[str]) -> int:
    """Entry point of ``hwsim edge``."""
    return dispatch(argv, COMMANDS, "hwsim edge")


def compile_main(argv: Sequence[str]) -> int:
    """``hwsim edge compile``."""
    p = argparse.ArgumentParser(prog="hwsim edge compile", description="Compile, verify and export a model.")
    p.add_argument("model",
                   help="an .onnx file, or module:factory / file.py:factory returning (model, example_inputs)")
    p.add_argument("--target", "-t", default="host",
                   help="host, cuda[:sm_XX], jetson-orin, ... (see hwsim edge targets)")
    p.add_argument("--output", "-o", required=True, help="artifact folder to write")
    p.add_argument("--tune", type=int, default=0, metavar="TRIALS",
                   help="MetaSchedule trials per task (default 0: untuned, default schedules)")
    p.add_argument("--tuning-db", default=None, help="tuning database root (default: the hwsim cache)")
    add_tracker_options(p, "measure the tuning candidates on the boards registered at this TVM RPC tracker")
    p.add_argument("--no-verify", action="store_true", help="skip checking the compiled model against the source model")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--dynamic-batch", action="store_true",
                   help="make dimension 0 of every input symbolic (batches up to 256 unless --max-batch)")
    p.add_argument("--max-batch", type=int, default=None, metavar="N",
                   help="dynamic batch up to N (implies --dynamic-batch); activations for N are reserved")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for verification and tuning")
    p.add_argument("--no-cuda-aot", action="store_true",
                   help="ship CUDA source (NVRTC on the device) instead of nvcc-compiled code")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="shape of an ONNX input with free dimensions (repeat per input; NAME= may be left out "
                        "for a model with one input)")
    p.add_argument("--no-default-schedules", action="store_true",
                   help="leave untuned CPU kernels as TVM's naive loops (for comparison; much slower)")
    args = p.parse_args(argv)

    # edge.compile brings torch and the TVM frontends: imported when a compile runs, not for --help
    from edge.compile import compile_model

    if is_onnx(args.model):
        model, examples = args.model, None
    else:
        model, examples = load_factory(args.model)
    compiled = compile_model(model, examples, target=args.target, tune_trials=args.tune,
                             dynamic_batch=args.max_batch or args.dynamic_batch, verify=not args.no_verify,
                             atol=args.atol, rtol=args.rtol, num_threads=args.threads, tuning_db=args.tuning_db,
                             input_shapes=parse_input_shapes(args.input_shape, args.model),
                             default_schedules=not args.no_default_schedules, farm=farm_of(args))
    out = compiled.export(args.output, cuda_aot=not args.no_cuda_aot)
    manifest = json.loads((out / "manifest.json").read_text())
    ver = manifest["verification"]
    if ver.get("passed"):
        how = "on this machine" if ver.get("ran_on") != "host-proxy" else "by a host-CPU proxy build"
        print(f"verified {how}: max abs error {ver['max_abs_error']:.3g} over {ver['samples']} samples "
              f"(atol {ver['atol']:g})")
    else:
        print("not verified (--no-verify)")
    tuning = manifest.get("tuning", {})
    if tuning.get("records"):
        print(f"tuning: {tuning['records']} records in {tuning['database']}"
              + (" (reused)" if tuning.get("reused") else ""))
    if tuning.get("farm"):
        f = tuning["farm"]
        print(f"candidates measured on the boards under '{f['key']}' at {f['tracker']}: up to {f['peak_busy']} "
              f"of {f['boards']} busy at once")
    print(f"wrote {out} for {manifest['target']['name']}: {manifest['files']['library']} "
          f"({manifest['link']['kind']}, {manifest['link']['arch']})"
          + (f", GPU code {manifest['device_code']['format']}" if "device_code" in manifest else ""))
    return 0


def parse_input_shapes(items: Sequence[str], model: str) -> dict[str, tuple[int, ...]] | None:
    """``["x=1,3,224,224", ...]`` (or one bare ``1,3,224,224`` for a one-input ONNX model) as
    ``{name: shape}``; a :class:`~hwsim.errors.ConfigError` saying the form otherwise."""
    if not items:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        if not sep:
            if len(items) != 1 or not is_onnx(model):
                raise ConfigError(f"--input-shape '{item}' needs the input's name: NAME=D0,D1,...")
            name = single_input_name(model)
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip()) if dims.strip() else ()
        except ValueError as exc:
            raise ConfigError(f"--input-shape '{item}': dimensions must be integers, e.g. x=1,3,224,224") from exc
        shapes[name] = shape
    return shapes


def single_input_name(model: str) -> str:
    """The name of the one input of the ONNX file ``model`` (initializers listed as inputs left out)."""
    proto, _, label = read_onnx(model)
    inits = {t.name for t in proto.graph.initializer}
    names = [i.name for i in proto.graph.input if i.name not in inits]
    if len(names) != 1:
        raise ConfigError(f"{label} has {len(names)} inputs ({', '.join(names)}): give --input-shape NAME=... "
                          "for each")
    return names[0]


def _inputs_for(manifest: dict[str, Any], files: Sequence[str] | None, seed: int = 0) -> list[np.ndarray]:
    specs = manifest["inputs"]
    if files:
        if len(files) != len(specs):
            raise InputMismatchError(f"the model takes {len(specs)} inputs, got {len(files)} --input files")
        arrays = []
        for f in files:
            try:
                arrays.append(np.load(f))
            except (OSError, ValueError) as exc:
                raise InputMismatchError(f"cannot read {f} as a .npy array: {exc}") from exc
        return arrays
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        shape = [1 if d == "batch" else int(d) for d in s["shape"]]
        dtype = np.dtype(s["dtype"])
        if "value" in s:  # specialised at compile time: the one value the model takes
            out.append(np.asarray(s["value"], dtype))
            continue
        out.append(rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype))
    return out


def run_main(argv: Sequence[str]) -> int:
    """``hwsim edge run``."""
    p = argparse.ArgumentParser(prog="hwsim edge run", description="Run an artifact on this machine.")
    p.add_argument("directory")
    p.add_argument("--input", "-i", action="append", help=".npy file per model input, in order (default: random)")
    p.add_argument("--output", "-o", default=None, help="save the (first) output as .npy")
    args = p.parse_args(argv)

    manifest = read_manifest(args.directory)
    arrays = _inputs_for(manifest, args.input)
    outs = load(args.directory).run_list(*arrays)
    for k, o in enumerate(outs):
        print(f"output {k}: shape {tuple(o.shape)} {o.dtype}  min {o.min():.4g} max {o.max():.4g}")
        if o.size <= 20:
            print(np.array2string(o, precision=5))
    if args.output:
        np.save(args.output, outs[0])
        print(f"saved {args.output}")
    return 0


def bench_main(argv: Sequence[str]) -> int:
    """``hwsim edge bench``."""
    p = argparse.ArgumentParser(prog="hwsim edge bench", description="Time an artifact here or on a board.")
    p.add_argument("directory")
    p.add_argument("--rpc", default=None, help="host:port of an RPC server, or tracker://host:port/key")
    add_tracker_options(p, "time on a board the TVM RPC tracker at HOST:PORT hands out (same as --rpc tracker://...)")
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--number", type=int, default=10, help="runs averaged per sample")
    p.add_argument("--input", "-i", action="append", help=".npy file per model input (default: random)")
    p.add_argument("--json", default=None, help="write the result as JSON")
    args = p.parse_args(argv)
    farm = farm_of(args)
    if farm is not None and args.rpc:
        raise ConfigError("give either --rpc or --tracker/--key, not both")

    manifest = read_manifest(args.directory)
    arrays = _inputs_for(manifest, args.input)
    stats = time_model(args.directory, arrays, repeat=args.repeat, number=args.number,
                       rpc=farm.address if farm is not None else args.rpc)
    row = {"target": manifest["target"]["name"], "where": stats["where"], "median_ms": stats["median"] * 1e3,
           "p10_ms": stats["p10"] * 1e3, "p90_ms": stats["p90"] * 1e3, "n": stats["n"], "number": stats["number"]}
    write_bench(args.json, "edge-artifact", [row], artifact=str(args.directory), method=stats["method"],
                tuning=manifest.get("tuning", {}))
    return 0


def rpc_server_main(argv: Sequence[str]) -> int:
    """``hwsim edge rpc-server``: run until interrupted."""
    p = argparse.ArgumentParser(prog="hwsim edge rpc-server", description="Serve this board to TVM RPC clients.")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default all interfaces)")
    p.add_argument("--port", type=int, default=9090, help="first port to try (default 9090)")
    p.add_argument("--port-end", type=int, default=9199, help="last port to try (default 9199)")
    p.add_argument("--tracker", default=None, help="host:port of a TVM RPC tracker to register with")
    p.add_argument("--key", default="hwsim", help="key to register under at the tracker (default hwsim)")
    p.add_argument("--custom-addr", default=None,
                   help="the address the tracker gives clients for this board (behind NAT or a proxy)")
    args = p.parse_args(argv)

    server = start_server(args.host, args.port, port_end=args.port_end, tracker=args.tracker,
                          key=args.key if args.tracker else "", custom_addr=args.custom_addr)
    where = f", registered at tracker {args.tracker} as '{args.key}'" if args.tracker else ""
    print(f"TVM RPC server listening on {args.host}:{server.port}{where}; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.terminate()


def add_tracker_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--tracker HOST:PORT`` and ``--key KEY`` (the boards of a TVM RPC tracker, see edge/tracker.py)."""
    parser.add_argument("--tracker", default=None, metavar="HOST:PORT", help=what + " (with --key)")
    parser.add_argument("--key", default=None, help="the key the boards registered under at the tracker")


def farm_of(args: argparse.Namespace) -> BoardFarm | None:
    """The :class:`~edge.tracker.BoardFarm` of ``--tracker``/``--key``, or ``None`` without ``--tracker``."""
    if args.tracker is None:
        if args.key:
            raise ConfigError("--key names boards at a tracker: give --tracker HOST:PORT too")
        return None
    return BoardFarm.parse(args.tracker, args.key)


def targets_main(argv: Sequence[str]) -> int:
    """``hwsim edge targets``."""
    p = argparse.ArgumentParser(prog="hwsim edge targets", description="List the named targets.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)

    nvcc = nvcc_path()
    archs = supported_archs(nvcc) if nvcc else frozenset()
    rows = []
    for spec in TARGETS.values():
        notes = []
        if spec.is_cross:
            notes.append("linked with " + (Path(cross_linker(spec.cpu_arch)).name if cross_linker(spec.cpu_arch)
                                           else "nothing (tar of objects: no cross gcc)"))
        if spec.is_cuda:
            notes.append(f"GPU code: nvcc {spec.cuda_arch}" if spec.cuda_arch in archs
                         else f"GPU code: {'nvcc lacks ' + spec.cuda_arch if nvcc else 'no nvcc'} "
                              "(set HWSIM_NVCC, or --no-cuda-aot for CUDA source)")
        rows.append({"name": spec.name, "cpu": f"{spec.cpu_arch}/{spec.mcpu or 'detected'}",
                     "gpu": spec.cuda_arch or "-", "runs here": "yes" if spec.runnable_here() else "no",
                     "build": "; ".join(notes) or "native", "description": spec.description})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
        print("\ncuda:sm_XX selects any CUDA architecture, e.g. cuda:sm_90")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
