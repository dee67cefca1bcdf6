"""The board side of protocol v1: serve any Device over a pty, a TCP port, or in process (``sim://``).

:class:`Board` (:mod:`hwsim.server.board`) is the protocol logic and the board's power state;
:class:`DeviceServer` serves a board over a transport (:mod:`hwsim.server.pty_transport`,
:mod:`hwsim.server.tcp_transport`) through the one loop of :mod:`hwsim.server.loop`;
:class:`ServedProcess` runs ``hwsim serve`` in a child process; :func:`board_from_url` builds the
board behind a ``sim://`` URL.
"""

from hwsim.server.board import LIMIT_CHECKS, Board, decoded_extremes, in_process_twin, needed_limit_checks
from hwsim.server.device_server import DeviceServer
from hwsim.server.process import ServedProcess
from hwsim.server.sim import board_from_url

__all__ = ["Board", "DeviceServer", "ServedProcess", "board_from_url", "in_process_twin", "needed_limit_checks",
           "decoded_extremes", "LIMIT_CHECKS"]
