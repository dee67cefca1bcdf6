"""The optional shared-secret handshake of protocol v1: an HMAC-SHA256 challenge-response after HELLO.

A board with a secret puts ``"auth": {"scheme": "hmac-sha256", "challenge": "<32 hex>"}`` (16 fresh
random bytes per HELLO) in its capabilities and refuses every request but HELLO and AUTH with
``ERR_AUTH`` until the connection has authenticated. The host answers with an AUTH request whose body
is ``nonce(16) | HMAC(secret, "hwsim-auth-host\\0" | challenge | nonce)``; the board replies with
``HMAC(secret, "hwsim-auth-board\\0" | challenge | nonce)``, so each side proves it knows the secret
without sending it, and neither proof can be replayed against a fresh challenge or nonce.
A board without a secret declares no ``auth``: existing firmware is unaffected.

The secret is read from a file (``hwsim serve --secret-file``, ``RemoteDevice(secret_file=...)``,
or the path in the ``HWSIM_SECRET_FILE`` environment variable), never from a URL, which ends up in logs
and run records. The file must not be readable by group or others.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat

from hwsim.errors import ConfigError
from hwsim.protocol.errors import AuthError

SECRET_ENV = "HWSIM_SECRET_FILE"
CHALLENGE_BYTES = 16
NONCE_BYTES = 16
PROOF_BYTES = hashlib.sha256().digest_size
MIN_SECRET = 16
MAX_SECRET = 4096
_HOST = b"hwsim-auth-host\x00"
_BOARD = b"hwsim-auth-board\x00"


def load_secret(path: str | os.PathLike[str]) -> bytes:
    """The shared secret stored in ``path`` (surrounding whitespace removed), refusing files that others
    can read and secrets shorter than :data:`MIN_SECRET` bytes with a :class:`ConfigError`."""
    try:
        mode = os.stat(path).st_mode
        with open(path, "rb") as fh:
            data = fh.read(MAX_SECRET + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file '{path}': {exc}") from exc
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"secret file '{path}' is accessible by group or others (mode {stat.filemode(mode)}); "
                          f"run 'chmod 600 {path}'")
    secret = data.strip()
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise ConfigError(f"secret file '{path}' holds {len(secret)} bytes; a shared secret needs {MIN_SECRET} to "
                          f"{MAX_SECRET} (e.g. 'python -c \"import secrets; print(secrets.token_hex(32))\" > {path}')")
    return secret


def secret_from_env() -> bytes | None:
    """The secret in the file named by ``HWSIM_SECRET_FILE``, or None when the variable is unset or empty."""
    path = os.environ.get(SECRET_ENV, "")
    return load_secret(path) if path else None


def new_challenge() -> bytes:
    """Fresh random challenge bytes for one HELLO."""
    return secrets.token_bytes(CHALLENGE_BYTES)


def _mac(secret: bytes, label: bytes, challenge: bytes, nonce: bytes) -> bytes:
    return hmac.new(secret, label + challenge + nonce, hashlib.sha256).digest()


def host_proof(secret: bytes, challenge: bytes, nonce: bytes) -> bytes:
    """The AUTH request body for ``challenge`` with the host's ``nonce``: the nonce, then its HMAC."""
    return nonce + _mac(secret, _HOST, challenge, nonce)


def auth_request(secret: bytes, challenge: bytes) -> tuple[bytes, bytes]:
    """(AUTH request body with a fresh nonce, the proof the board must answer with) for ``challenge``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return host_proof(secret, challenge, nonce), _mac(secret, _BOARD, challenge, nonce)


def board_answer(secret: bytes, challenge: bytes, body: bytes) -> bytes:
    """The board's AUTH reply body for request ``body``; :class:`AuthError` when the host's proof is wrong."""
    if len(body) != NONCE_BYTES + PROOF_BYTES:
        raise AuthError(f"AUTH body of {len(body)} bytes; it must be a {NONCE_BYTES}-byte nonce and a "
                        f"{PROOF_BYTES}-byte HMAC-SHA256")
    nonce, proof = body[:NONCE_BYTES], body[NONCE_BYTES:]
    if not hmac.compare_digest(proof, _mac(secret, _HOST, challenge, nonce)):
        raise AuthError("wrong shared secret: the HMAC of the challenge does not match")
    return _mac(secret, _BOARD, challenge, nonce)


def check_board_proof(expected: bytes, reply: bytes) -> bool:
    """True when the board's AUTH reply is the proof :func:`auth_request` expected (constant time)."""
    return hmac.compare_digest(bytes(reply), expected)
