"""``hwsim probe``: say HELLO to a board at a serial URL and print what it declares.

``--schema-hash`` accepts a board whose declared hash is wrong and prints the hash its fields
produce: the constant a firmware that cannot compute SHA-256 must ship.
"""

from __future__ import annotations

import argparse
import json
from typing import Sequence


def main(argv: Sequence[str]) -> int:
    """Handshake with the board at the URL and print its capabilities (or only its schema hash)."""
    from hwsim.remote import RemoteDevice

    p = argparse.ArgumentParser(prog="hwsim probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="serial port or URL: /dev/ttyACM0, socket://host:port, sim://reference, ...")
    p.add_argument("--baud", type=int, help="baud rate for a real serial port")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each reply (default 1)")
    p.add_argument("--schema-hash", action="store_true",
                   help="print only the schema hash computed from the declared fields (accepts a wrong hash)")
    p.add_argument("--json", action="store_true", help="print the capabilities as JSON")
    args = p.parse_args(argv)

    with RemoteDevice(args.url, timeout=args.timeout, baudrate=args.baud, verify_schema=not args.schema_hash) as dev:
        caps = dev.handshake
        computed = dev.info.schema_hash()
        if args.schema_hash:
            print(computed)
            if caps.get("schema_hash") != computed:
                import sys

                print(f"hwsim probe: the board declares {caps.get('schema_hash')!r}; put {computed!r} in its firmware",
                      file=sys.stderr)
            return 0
        ping = dev.ping()
        if args.json:
            print(json.dumps(caps, indent=2, sort_keys=True))
            return 0
        i = dev.info
        print(f"board        {i.name}  serial {i.serial_number}  firmware {i.firmware_version}")
        print(f"protocol     {caps.get('protocol')}  schema {caps.get('schema_hash')} (verified)")
        print(f"input        {i.input_shape} range {i.input_range} "
              f"{f'{i.dac_bits}-bit DAC codes' if i.dac_bits else 'float32'}")
        print(f"output       {i.output_shape} range {i.output_range} "
              f"{f'{i.adc_bits}-bit ADC codes' if i.adc_bits else 'float32'}")
        print(f"limits       max_batch {i.max_batch}, max_payload {dev.max_payload} B, {dict(i.limits)}")
        print(f"params       {({k: list(v) for k, v in i.params.items()}) or 'none'}")
        print(f"capabilities {', '.join(caps.get('capabilities', []))}")
        print(f"ping         {ping.rtt_s * 1e3:.3f} ms round trip, uptime {ping.uptime_ms} ms, "
              f"{ping.measurements} measurements since power-on")
    return 0
