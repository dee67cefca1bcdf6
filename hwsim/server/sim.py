"""The board behind a ``sim://<device-spec>`` URL (what :mod:`hwsim.urlhandler.protocol_sim` carries bytes to).

``sim://reference?seed=3&profile=bench`` builds the device with :func:`hwsim.registry.create_device`
(registered names only, unless the caller opted in with ``allow_import``). Query keys starting with
``link_`` configure link faults (``link_flip``, ``link_drop``, ``link_truncate``, ``link_unplug_at``,
``link_replug_s``, ``link_seed``), ``link_max_payload`` the board's max payload; every other key goes
to the device.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from hwsim.errors import ConfigError
from hwsim.faults import LinkFaults
from hwsim.registry import create_device
from hwsim.server.board import Board


def board_from_url(url: str, allow_import: bool = False) -> Board:
    """The simulated board a ``sim://`` URL names; :class:`ConfigError` for a URL that names none."""
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise ConfigError(f"expected a URL like 'sim://reference?seed=3', got {url!r}")
    spec = parts.netloc + parts.path
    device_q, fault_q, max_payload = [], [], 65536
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "link_max_payload":
            try:
                max_payload = int(value)
            except ValueError as exc:
                raise ConfigError(f"link_max_payload must be a whole number of bytes, got {value!r}") from exc
        elif key.startswith("link_"):
            fault_q.append(f"{key[5:]}={value}")
        else:
            device_q.append((key, value))
    device = create_device(spec + ("?" + urlencode(device_q) if device_q else ""), allow_import=allow_import)
    faults = LinkFaults.parse(",".join(fault_q)) if fault_q else None
    return Board(device, faults=faults, max_payload=max_payload)
