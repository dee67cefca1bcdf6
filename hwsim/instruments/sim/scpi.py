"""What a simulated instrument needs to understand SCPI: program messages split into commands (``;``
outside strings and binary blocks), and command headers matched in their short or long form.

A header pattern is written as in the vendors' manuals: capitals are the short form, the whole word the
long form, ``[...]`` an optional node, ``<n>`` an optional numeric suffix; ``?`` marks a query. So
``[SOURce<n>:]VOLTage[:AMPLitude]`` accepts ``VOLT``, ``SOUR1:VOLT:AMPL`` and ``source1:voltage``.
"""

from __future__ import annotations

import re

from hwsim.instruments.blocks import block_header

_WORD = re.compile(r"\*?[A-Za-z][A-Za-z0-9_]*(?:<n>)?")


def _word_regex(match: re.Match[str]) -> str:
    word = match.group(0)
    suffix = ""
    if word.endswith("<n>"):
        word, suffix = word[:-3], r"\d*"
    short = re.match(r"\*?[A-Z0-9_]+", word)
    head = short.group(0) if short else word
    rest = word[len(head):]
    return re.escape(head) + (f"(?:{re.escape(rest.upper())})?" if rest else "") + suffix


def header_regex(pattern: str) -> re.Pattern[str]:
    """The compiled, case-insensitive regular expression that matches every spelling of header ``pattern``."""
    body = _WORD.sub(_word_regex, pattern.replace("?", "\x00"))
    body = body.replace("[", "(?:").replace("]", ")?").replace("\x00", r"\?")
    return re.compile(r":?" + body, re.IGNORECASE)


def split_message(message: bytes) -> list[bytes] | None:
    """The commands of one program message, split at ``;`` outside quoted strings and binary blocks.

    Returns ``None`` while a binary block in the message is still incomplete (its terminator byte was
    payload); raises :class:`hwsim.instruments.errors.BlockFormatError` for a malformed block header.
    """
    out: list[bytes] = []
    start = i = 0
    block_end = 0  # trailing whitespace before this index is block payload, not padding
    quote = b""

    def cut(end: int) -> None:
        while end > max(start, block_end) and message[end - 1:end].isspace():
            end -= 1
        command = message[start:end].lstrip()
        if command:
            out.append(command)

    while i < len(message):
        c = message[i:i + 1]
        if quote:
            if c == quote:
                quote = b""
        elif c in (b'"', b"'"):
            quote = c
        elif c == b"#":
            head = block_header(message[i:])
            if head is None or i + head[0] + head[1] > len(message):
                return None
            i += head[0] + head[1]
            block_end = i
            continue
        elif c == b";":
            cut(i)
            start = i + 1
        i += 1
    cut(len(message))
    return out


def split_command(command: bytes) -> tuple[str, bytes]:
    """``(header, arguments)`` of one command: the header as text, the arguments as raw bytes."""
    parts = command.split(None, 1)
    header = parts[0].decode("ascii", errors="replace")
    return header, (parts[1] if len(parts) > 1 else b"")
