"""Wire protocol v1 between host and board: COBS framing, CRC-32, typed messages (docs/protocol.md)."""

from hwsim.protocol.errors import (AuthError, BoardBusy, BoardInUse, DanglingLink, DeviceUnplugged, EchoingLine,
                                   FrameError, HelloError, IdleTimeout, InterlockError, LinkError, LinkTimeout,
                                   PortOpenError, ProtocolError, RemoteDeviceError, RequestError, SchemaMismatch,
                                   VersionMismatch)
from hwsim.protocol.frame import (FLAG_RESPONSE, FLAG_RETRANSMIT, VERSION, Frame, FrameReader, decode_frame,
                                  encode_frame)
from hwsim.protocol.messages import MsgType, Status

__all__ = ["VERSION", "Frame", "FrameReader", "encode_frame", "decode_frame", "FLAG_RESPONSE", "FLAG_RETRANSMIT",
           "MsgType", "Status", "ProtocolError", "FrameError", "VersionMismatch", "SchemaMismatch", "RequestError",
           "RemoteDeviceError", "InterlockError", "BoardBusy", "LinkError", "PortOpenError", "LinkTimeout",
           "DeviceUnplugged", "HelloError", "AuthError", "BoardInUse", "DanglingLink", "EchoingLine", "IdleTimeout"]
