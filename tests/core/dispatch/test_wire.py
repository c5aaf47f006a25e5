"""What reaches the wire in DATA: CRLF only, dot-stuffed, terminated; whatever the input and
however it is cut into chunks."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from emisario.core.dispatch.wire import WireEncoder, encode

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def unstuff(wire: bytes) -> bytes:
    """What a server keeps: the terminator removed, a leading "." of each line dropped."""
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body = wire[: -len(b".\r\n")]
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def normalized(data: bytes) -> bytes:
    """The input with every line end as CRLF and a final one."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    return text if not text or text.endswith(b"\r\n") else text + b"\r\n"


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


alphabet = st.sampled_from([b".", b"\r", b"\n", b"a", b" ", b"\xc3\xa9", b"..", b"\r\n"])
messages = st.lists(alphabet, max_size=60).map(b"".join)


@given(messages, st.lists(st.integers(min_value=0, max_value=80), max_size=8))
def test_no_bare_cr_or_lf_and_unstuffing_gives_the_normalized_message(data, cuts):
    encoder = WireEncoder()
    wire = b"".join(encoder.feed(piece) for piece in chunked(data, cuts)) + encoder.finish()
    assert not BARE.search(wire)
    assert unstuff(wire) == normalized(data)
    assert wire.find(b"\r\n.\r\n") in (-1, len(wire) - 5)  # the only end is the last


def test_smuggling_sequences_are_defused():
    wire = encode(b"Subject: x\r\n\r\nhola\n.\nMAIL FROM:<evil@x>\r\n.\rfin")
    assert not BARE.search(wire)
    assert wire.count(b"\r\n.\r\n") == 1 and wire.endswith(b"\r\n.\r\n")
    assert b"\r\n..\r\n" in wire and b"\r\n..\r\nfin" in wire


def test_a_cr_at_a_chunk_edge_joins_its_lf():
    encoder = WireEncoder()
    wire = encoder.feed(b"uno\r") + encoder.feed(b"\n.dos") + encoder.finish()
    assert wire == b"uno\r\n..dos\r\n.\r\n"


def test_a_first_line_starting_with_a_dot_is_stuffed():
    assert encode(b".x") == b"..x\r\n.\r\n"
