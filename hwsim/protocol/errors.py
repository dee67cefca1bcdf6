"""Errors of the wire protocol and the serial link. Each one says what happened and what to do."""

from __future__ import annotations

from hwsim.errors import DeviceError, NotSupportedError, TransientDeviceError


class ProtocolError(DeviceError):
    """Base class of errors raised by the protocol layer (frames, messages, board error replies)."""


class FrameError(ProtocolError):
    """Bytes that are not a valid frame (bad COBS, length, CRC) or a body the receiver cannot use.

    This is the only exception the decoders raise for arbitrary input bytes.
    """


class VersionMismatch(ProtocolError, NotSupportedError):
    """Host and board speak different protocol versions."""


class SchemaMismatch(ProtocolError):
    """The board's declared schema hash is wrong, or the board changed identity after a reconnect."""


class RequestError(ProtocolError):
    """The board rejected the request (unknown type, bad body, unknown parameter, batch or body too large)."""


class RemoteDeviceError(ProtocolError):
    """The board reports that its physical system failed."""


class InterlockError(ProtocolError):
    """The board's safety interlock tripped. Never retried automatically: fix the input, then reset the setup."""


class BoardBusy(ProtocolError, TransientDeviceError):
    """The board kept answering ERR_BUSY until the retries ran out."""


class LinkError(DeviceError):
    """The serial link itself failed (port missing, unplugged, no reply)."""


class PortOpenError(LinkError):
    """The serial port or URL could not be opened."""


class LinkTimeout(LinkError, TimeoutError):
    """No valid reply arrived after every retry."""


class DeviceUnplugged(LinkError):
    """The port vanished (unplug, EIO, closed socket) and did not come back within the reconnect timeout."""


class HelloError(ProtocolError):
    """The board's HELLO capabilities break the protocol's schema (a field missing, of the wrong type,
    out of bounds, or inconsistent with another). Nothing beyond HELLO was sent to such a board."""


class AuthError(ProtocolError):
    """The shared-secret handshake failed: the board needs a secret the host lacks, the secrets differ,
    or a board that should prove it knows the secret did not."""


class BoardInUse(ProtocolError):
    """The board serves one host at a time and another host holds it ("board busy: another host holds it")."""


class DanglingLink(PortOpenError):
    """A board server's port link outlived the server (it crashed): the path may lead to an unrelated program."""


class EchoingLine(LinkTimeout):
    """The line sends the host's own requests back and nothing answers (loopback plug, TX wired to RX)."""


class IdleTimeout(DeviceUnplugged):
    """The board dropped this host after its idle timeout and the host could not take the board back."""
