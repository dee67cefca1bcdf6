"""``hwsim bench link``: round-trip latency and payload efficiency of protocol v1 over a pty.

The board (``hwsim serve reference --pty``) runs in a child process so host and board do not
share a GIL. Links: an unpaced pty, and the pty paced like a UART at 115200, 921600 and 2,000,000
baud (8N1: every byte costs 10 bit times). Each round trip is one MEASURE: the host sends
``payload_B`` bytes of DAC codes and receives ``payload_B`` bytes of ADC codes (16 -> 16 samples,
12-bit codes as u16, 32 B per sample each way).

Definitions (also written into the JSON):

* payload per round trip = request sample bytes + reply sample bytes (headers, counts, CRC, COBS
  and delimiters excluded); stop-and-wait, so the two directions never overlap;
* line data rate = baud x 8/10 (the 8 data bits of each 10-bit 8N1 character); no protocol can
  beat 0.8 of the raw baud rate;
* efficiency = payload bits per round trip / median round-trip time / line data rate
  (``efficiency_raw`` divides by the raw baud rate instead);
* remote overhead = median, over pairs of calls made alternately (so both see the same machine state),
  of the remote round trip on the unpaced pty minus the in-process call of the same device under the
  ideal profile, for a 1 KiB payload.

Peers in the same run: the in-process device call, the in-process ``sim://`` board (protocol cost
without the OS), a naive host that reads the reply one byte at a time, and the board started with
``--spin-us 0`` (it sleeps in ``select`` between requests instead of polling its line for 200 us after
each reply, the ``hwsim serve`` default).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np
import serial

from hwsim.cli.serve import SPIN_US
from hwsim.errors import DeviceError
from hwsim.protocol.frame import Frame, decode_frame, encode_frame
from hwsim.protocol.messages import MsgType, decode_samples, encode_samples, sample_bytes
from hwsim.protocol.pacing import line_seconds
from hwsim.registry import create_device
from hwsim.remote import RemoteDevice
from hwsim.report import time_call, time_pair, write_bench
from hwsim.server import ServedProcess, in_process_twin

DEVICE = "reference"
SIZES = (64, 1024, 4096)
BAUDS: tuple[int | None, ...] = (None, 115200, 921600, 2_000_000)
DEFINITIONS = {
    "payload_round_trip_B": "request sample bytes + reply sample bytes per MEASURE round trip (no headers, "
                            "counts, CRC, COBS or delimiters); stop-and-wait, directions do not overlap",
    "line_data_rate_bps": "baud * 8/10: 8N1 sends 10 line bits per data byte, so 0.8 of the baud rate is the "
                          "ceiling of any protocol",
    "efficiency": "payload_round_trip_B * 8 / rt_median_s / line_data_rate_bps",
    "efficiency_raw": "payload_round_trip_B * 8 / rt_median_s / baud",
    "line_utilisation": "line time of every byte sent and received (frames included) / rt_median_s",
    "remote_overhead_ms": "median over alternate pairs of (unpaced pty remote round trip - in-process ideal-profile "
                          "call), 1 KiB payload",
    "remote_overhead_no_polling_ms": "the same with the board started as 'hwsim serve --spin-us 0' (it sleeps in "
                                     "select between requests instead of polling its line after each reply)",
}


def _batch(payload_b: int, info: Any, seed: int = 0) -> np.ndarray:
    """Inputs whose DAC codes take ``payload_b`` bytes (at least one sample), uniform over the input range."""
    n = max(1, payload_b // sample_bytes(info.input_shape, info.dac_bits))
    lo, hi = info.input_range
    return np.random.default_rng(seed).uniform(lo, hi, (n, *info.input_shape)).astype(np.float32)


def _check(y: np.ndarray, twin: Any, x: np.ndarray, what: str) -> None:
    """Refuse to time a link whose result is not exactly the in-process ideal profile's."""
    if not np.array_equal(y, twin.measure(x)):
        raise DeviceError(f"{what} result differs from the in-process ideal profile; not benchmarking a wrong link")


def _wire_sizes(dev: Any, x: np.ndarray) -> tuple[int, int, int, int]:
    """(request payload, reply payload, request frame bytes, reply frame bytes) of one MEASURE of ``x``."""
    i = dev.info
    req = encode_samples(x, i.input_range, i.dac_bits)
    rep = encode_samples(np.zeros((x.shape[0], *i.output_shape), np.float32) + 0.5, i.output_range, i.adc_bits)
    return (x.shape[0] * sample_bytes(i.input_shape, i.dac_bits), x.shape[0] * sample_bytes(i.output_shape, i.adc_bits),
            len(encode_frame(Frame(MsgType.MEASURE, 1, req))), len(encode_frame(Frame(MsgType.MEASURE, 1, rep))))


def _repeats(expected_s: float, quick: bool) -> int:
    budget = 0.4 if quick else 2.5
    return int(max(3 if quick else 5, min(20 if quick else 200, budget / max(expected_s, 1e-4))))


def naive_round_trip(ser: Any, dev_info: Any, x: np.ndarray, seq: int) -> np.ndarray:
    """One MEASURE with a host that reads the reply one byte per ``read(1)`` call (the peer to beat)."""
    ser.write(encode_frame(Frame(MsgType.MEASURE, seq, encode_samples(x, dev_info.input_range, dev_info.dac_bits))))
    buf = bytearray()
    while True:
        b = ser.read(1)
        if not b:
            raise TimeoutError("naive host: no reply")
        if b == b"\x00":
            frame = decode_frame(bytes(buf))
            if frame.seq == seq:
                return decode_samples(frame.body, dev_info.output_shape, dev_info.output_range, dev_info.adc_bits)
            buf.clear()
        else:
            buf += b


def paired_overhead(dev: Any, twin: Any, quick: bool) -> dict[str, float]:
    """:func:`hwsim.report.time_pair` of a 1 KiB MEASURE through ``dev`` and in process through ``twin``."""
    x = _batch(1024, twin.info)
    return time_pair(lambda: dev.measure(x), lambda: twin.measure(x), repeat=200 if quick else 2000)


def overhead_without_polling(quick: bool, twin: Any) -> float:
    """Remote overhead (ms, 1 KiB, unpaced pty) of a board started with ``--spin-us 0``: every request
    wakes the board's process from ``select`` (the peer of the default line polling)."""
    with ServedProcess(DEVICE, "--pty", "--spin-us", "0") as served, RemoteDevice(served.url, timeout=5.0) as dev:
        return paired_overhead(dev, twin, quick)["diff"] * 1e3


def bench_link(baud: int | None, sizes: Sequence[int], quick: bool, twin: Any) -> tuple[list[dict], dict]:
    """Rows for one link (a fresh board process), plus unpaced extras (overhead and peers)."""
    rows, extra = [], {}
    options = ["--pty"] + (["--baud", str(baud)] if baud else [])
    with ServedProcess(DEVICE, *options) as served:
        with RemoteDevice(served.url, timeout=5.0, baudrate=baud) as dev:  # the host knows the line rate
            for size in sizes:
                x = _batch(size, dev.info)
                _check(dev.measure(x), twin, x, served.url)
                p_in, p_out, f_in, f_out = _wire_sizes(dev, x)
                line_s = line_seconds(f_in + f_out, baud) if baud else 0.0
                st = time_call(lambda x=x: dev.measure(x), repeat=_repeats(line_s, quick), warmup=2)
                rt = st["median"]
                bits = (p_in + p_out) * 8
                row = {"link": f"pty {baud} baud" if baud else "pty unpaced", "baud": baud,
                       "payload_B": p_in, "payload_round_trip_B": p_in + p_out, "line_bytes": f_in + f_out,
                       "rt_median_ms": rt * 1e3, "rt_p90_ms": st["p90"] * 1e3, "n": st["n"],
                       "payload_kbit_s": bits / rt / 1e3}
                if baud:
                    row.update(line_data_rate_bps=baud * 0.8, efficiency=bits / rt / (baud * 0.8),
                               efficiency_raw=bits / rt / baud, line_utilisation=line_s / rt)
                rows.append(row)
            if baud is None:
                pair = paired_overhead(dev, twin, quick)
                extra.update(remote_1KiB_paired_ms=pair["a"] * 1e3, in_process_1KiB_ms=pair["b"] * 1e3,
                             remote_overhead_ms=pair["diff"] * 1e3, remote_over_in_process=pair["a"] / pair["b"])
        if baud is None:
            x = _batch(1024, twin.info)
            remote = next(r for r in rows if r["payload_B"] == 1024)["rt_median_ms"] / 1e3
            with serial.serial_for_url(served.url, timeout=5.0) as ser:
                seqs = iter(range(1, 1 << 16))
                info = twin.info
                _check(naive_round_trip(ser, info, x, next(seqs)), twin, x, "naive host")
                naive = time_call(lambda: naive_round_trip(ser, info, x, next(seqs)), repeat=5 if quick else 30,
                                  warmup=1)["median"]
            extra["naive_per_byte_1KiB_ms"] = naive * 1e3
            extra["naive_over_remote"] = naive / remote
    return rows, extra


def bench_sim(quick: bool, twin: Any) -> float:
    """Median MEASURE round trip (1 KiB) through the in-process ``sim://`` board: protocol cost without the OS."""
    with RemoteDevice(f"sim://{DEVICE}", timeout=5.0) as dev:
        x = _batch(1024, dev.info)
        _check(dev.measure(x), twin, x, "sim://")
        return time_call(lambda: dev.measure(x), repeat=_repeats(0, quick), warmup=2)["median"]


def main(argv: Sequence[str]) -> int:
    """Run the link benchmark, print the table, optionally write JSON."""
    p = argparse.ArgumentParser(prog="hwsim bench link", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--quick", action="store_true", help="unpaced and 921600 baud only, few repeats")
    args = p.parse_args(argv)

    bauds = (None, 921600) if args.quick else BAUDS
    twin = in_process_twin(create_device(DEVICE))
    t0 = time.perf_counter()
    rows: list[dict] = []
    extra: dict[str, Any] = {}
    for baud in bauds:
        r, e = bench_link(baud, SIZES, args.quick, twin)
        rows += r
        extra.update(e)
    extra["sim_1KiB_ms"] = bench_sim(args.quick, twin) * 1e3
    extra["remote_overhead_no_polling_ms"] = overhead_without_polling(args.quick, twin)
    columns = ["link", "payload_B", "payload_round_trip_B", "line_bytes", "rt_median_ms", "rt_p90_ms",
               "payload_kbit_s", "efficiency", "efficiency_raw", "line_utilisation", "n"]
    payload = write_bench(args.json, "link", rows, columns, device=DEVICE, definitions=DEFINITIONS,
                          targets={"efficiency_4KiB_921600": 0.90, "remote_overhead_ms": 0.2},
                          quick=args.quick, wall_s=time.perf_counter() - t0, **extra)
    print(f"remote overhead (1 KiB, unpaced pty): {extra['remote_overhead_ms']:.3f} ms, median of paired "
          f"differences (remote {extra['remote_1KiB_paired_ms']:.3f} ms, in-process "
          f"{extra['in_process_1KiB_ms']:.3f} ms, called alternately; target < 0.2 ms)")
    print(f"the board polls its line {SPIN_US:g} us after each reply (hwsim serve --spin-us); a board that "
          f"sleeps in select instead (--spin-us 0): overhead {extra['remote_overhead_no_polling_ms']:.3f} ms")
    print(f"peers (1 KiB): in-process sim:// board {extra['sim_1KiB_ms']:.3f} ms, naive per-byte host "
          f"{extra['naive_per_byte_1KiB_ms']:.3f} ms ({extra['naive_over_remote']:.1f}x the remote round trip)")
    eff = [r for r in payload["rows"] if r.get("baud") == 921600 and r["payload_B"] == 4096]
    if eff:
        print(f"efficiency 4 KiB at 921600 baud: {eff[0]['efficiency']:.3f} of the 8N1 data rate "
              f"({eff[0]['efficiency_raw']:.3f} of the raw baud rate; target >= 0.90 of the data rate)")
    return 0
