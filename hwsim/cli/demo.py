"""``hwsim demo``: a simulated board in a child process on a pty, measured through the wire protocol.

It starts ``hwsim serve reference --pty``, opens the printed port with
:class:`hwsim.remote.RemoteDevice`, prints the handshake, measures a batch, and checks the result
against the same device in process under the ``ideal`` profile (DAC/ADC quantisation only): the
two must agree exactly.
"""

from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np

from hwsim.registry import create_device
from hwsim.remote import RemoteDevice
from hwsim.server import ServedProcess, in_process_twin


def main(argv: Sequence[str]) -> int:
    """Run the demo; exit status 1 when remote and in-process results disagree."""
    p = argparse.ArgumentParser(prog="hwsim demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="reference", help="device spec to serve (default: reference)")
    p.add_argument("--batch", type=int, default=256, help="samples to measure (default 256)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--allow-import", action="store_true",
                   help="let --device be a 'module:Class' path (imports and runs that module)")
    args = p.parse_args(argv)
    local = in_process_twin(create_device(args.device, allow_import=args.allow_import))  # bad specs fail here
    serve_options = ["--pty", *(["--allow-import"] if args.allow_import else [])]

    t0 = time.perf_counter()
    with ServedProcess(args.device, *serve_options) as served:
        print(f"board     'hwsim serve {args.device} --pty' (pid {served.proc.pid}) on {served.url}")
        with RemoteDevice(served.url, timeout=2.0) as remote:
            i, caps = remote.info, remote.handshake
            print(f"handshake {i.name} serial {i.serial_number} firmware {i.firmware_version} protocol "
                  f"{caps['protocol']} schema {caps['schema_hash']}")
            print(f"          {i.input_shape} -> {i.output_shape}, DAC {i.dac_bits} bits, ADC {i.adc_bits} bits, "
                  f"max_batch {i.max_batch}, max_payload {remote.max_payload} B, params {dict(i.params)}")
            lo, hi = i.input_range
            x = np.random.default_rng(args.seed).uniform(lo, hi, (args.batch, *i.input_shape)).astype(np.float32)
            t1 = time.perf_counter()
            y_remote = remote.measure(x)
            t_remote = time.perf_counter() - t1
            ping = remote.ping()
        t1 = time.perf_counter()
        y_local = local.measure(x)
        t_local = time.perf_counter() - t1
    same = int(np.sum(y_remote == y_local))
    worst = float(np.max(np.abs(y_remote - y_local))) if y_local.size else 0.0
    print(f"measured  {x.shape[0]} samples: remote {t_remote * 1e3:.2f} ms, in-process {t_local * 1e3:.2f} ms; "
          f"board counted {ping.measurements} measurements, ping {ping.rtt_s * 1e3:.3f} ms")
    print(f"y[0,:4]   remote {np.array2string(y_remote[0, :4], precision=5)}  "
          f"in-process {np.array2string(y_local[0, :4], precision=5)}")
    agree = same == y_local.size and ping.measurements == x.shape[0]
    print(f"agreement {same}/{y_local.size} values identical, max |diff| {worst:.3g}: "
          f"{'EXACT' if agree else 'MISMATCH'}  ({time.perf_counter() - t0:.2f} s total)")
    return 0 if agree else 1
