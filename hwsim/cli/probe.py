"""``hwsim probe``: say HELLO to a board at a serial URL and print what it declares.

Every HELLO field is held to the protocol's schema before anything is printed as verified; a board
that breaks it is reported with the field and the rule. ``--schema-hash`` accepts a board whose
declared hash is wrong and prints the hash its fields produce: the constant a firmware that cannot
compute SHA-256 must ship.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from hwsim.instruments.probe import main as probe_chain
from hwsim.remote import RemoteDevice


def _encoding(bits: int | None, what: str) -> str:
    return "float32" if bits is None else f"{bits}-bit {what} codes"


def main(argv: Sequence[str]) -> int:
    """Handshake with the board at the URL and print its capabilities (or only its schema hash)."""
    p = argparse.ArgumentParser(prog="hwsim probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="serial port or URL: /dev/ttyACM0, socket://host:port, sim://reference, ...; or an "
                               "instrument chain: 'visa?config=chain.yaml' (identities, capabilities, one test shot)")
    p.add_argument("--baud", type=int, help="baud rate for a real serial port")
    p.add_argument("--timeout", type=float, default=1.0, help="longest wait in seconds for a reply (default 1)")
    p.add_argument("--retries", type=int, default=3, help="resends before giving up (default 3)")
    p.add_argument("--secret-file", metavar="PATH",
                   help="the board's shared secret (default: the file named by HWSIM_SECRET_FILE, if set)")
    p.add_argument("--allow-import", action="store_true",
                   help="let a sim:// URL name a 'module:Class' device (imports and runs that module)")
    p.add_argument("--schema-hash", action="store_true",
                   help="print only the schema hash computed from the declared fields (accepts a wrong hash)")
    p.add_argument("--json", action="store_true", help="print the capabilities as JSON")
    args = p.parse_args(argv)
    if args.url.startswith("visa?"):  # a VISA instrument chain, opened in process (docs/instruments.md)
        return probe_chain(args.url)
    with RemoteDevice(args.url, timeout=args.timeout, retries=args.retries, baudrate=args.baud,
                      verify_schema=not args.schema_hash, secret_file=args.secret_file,
                      allow_import=args.allow_import) as dev:
        caps = dev.handshake
        computed = dev.info.schema_hash()
        if args.schema_hash:
            print(computed)
            if caps.get("schema_hash") != computed:
                print(f"hwsim probe: the board declares {caps.get('schema_hash')!r}; put {computed!r} in its firmware",
                      file=sys.stderr)
            return 0
        ping = dev.ping()
        if args.json:
            print(json.dumps(caps, indent=2, sort_keys=True))
            return 0
        i = dev.info
        auth = "  (authenticated: HMAC-SHA256)" if "auth" in caps else ""
        print(f"board        {i.name}  serial {i.serial_number}  firmware {i.firmware_version}")
        print(f"protocol     {caps.get('protocol')}  schema {caps.get('schema_hash')} (verified){auth}")
        print(f"input        {i.input_shape} range {i.input_range} {_encoding(i.dac_bits, 'DAC')}")
        print(f"output       {i.output_shape} range {i.output_range} {_encoding(i.adc_bits, 'ADC')}")
        print(f"limits       max_batch {i.max_batch}, max_payload {dev.max_payload} B, {dict(i.limits)}")
        print(f"params       {({k: list(v) for k, v in i.params.items()}) or 'none'}")
        print(f"capabilities {', '.join(caps.get('capabilities', []))}")
        print(f"ping         {ping.rtt_s * 1e3:.3f} ms round trip, uptime {ping.uptime_ms} ms, "
              f"{ping.measurements} measurements since power-on")
    return 0
