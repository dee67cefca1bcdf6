"""The committed golden transcripts (tests/hwsim/golden/*.hex) are what the board and host produce."""

from __future__ import annotations

import pytest

from hwsim.protocol.frame import decode_frame
from hwsim.protocol.hello import decode_hello, info_from_capabilities
from hwsim.protocol.messages import MsgType, Status, decode_params, decode_ping_reply, decode_samples
from tests.hwsim.golden_transcripts import GOLDEN_DIR, RECIPES, parse, transcript

NAMES = sorted(RECIPES)


def committed(name: str) -> list[tuple[bytes, bytes]]:
    path = GOLDEN_DIR / f"{name}.hex"
    assert path.exists(), f"missing {path}; run python -m tests.hwsim.golden_transcripts"
    return parse(path.read_text())


def test_every_file_has_a_recipe() -> None:
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.hex")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_board_reproduces_committed_bytes(name: str) -> None:
    produced = [(req, rep) for _, req, rep in transcript(name)]
    assert produced == committed(name)


def test_every_message_type_and_error_status_is_covered() -> None:
    types, statuses = set(), set()
    for name in NAMES:
        for _, rep in committed(name):
            if rep:
                frame = decode_frame(rep)
                statuses.add(frame.status)
                if frame.status == Status.OK:
                    types.add(frame.type)
    assert types == {int(t) for t in MsgType}
    assert statuses == {int(s) for s in Status}


def test_host_decoders_read_the_ok_replies() -> None:
    hello = decode_frame(committed("hello")[0][1])
    caps = decode_hello(hello.body)
    info = info_from_capabilities(caps)
    assert caps["protocol"] == 1 and info.schema_hash() == caps["schema_hash"]
    assert (info.dac_bits, info.adc_bits, info.params) == (12, 12, {"gain": (16,)})

    (_, rep), = committed("measure_codes")
    y = decode_samples(decode_frame(rep).body, (16,), (-1.0, 1.0), 12)
    assert y.shape == (2, 16) and abs(y).max() <= 1.0

    (_, set_rep), (_, get_rep) = committed("set_get_params")
    assert decode_frame(set_rep).body == b""
    assert (decode_params(decode_frame(get_rep).body)["gain"] == 0.5).all()

    (_, rep), = committed("ping")
    assert decode_ping_reply(decode_frame(rep).body) == (1234, 0, b"abcd")


def test_retransmission_is_answered_from_cache() -> None:
    (req1, rep1), (req2, rep2), (_, ping) = committed("retransmit")
    assert req1 != req2 and rep1 == rep2
    assert decode_ping_reply(decode_frame(ping).body)[1] == 2


def test_malformed_request_gets_no_reply() -> None:
    (_, rep1), (_, rep2) = committed("malformed_dropped")
    assert rep1 == b"" and decode_frame(rep2).status == Status.OK
