"""The body rendered at intake: valid MIME that a reader parses back to what was queued, and
bytes that need no dot-stuffing (no line starts with ".") and have only CRLF line ends."""

from __future__ import annotations

import email
import email.policy
import re

from hypothesis import example, given
from hypothesis import strategies as st

from emisario.core.mail.envelope import fixed_head, header_block
from emisario.core.mail.mime import AttachmentPart, base64_lines, render_body

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def lines(text: str) -> str:
    """Line ends as LF, the last one dropped (it belongs to the MIME delimiter)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n")


def parse(text: str, html: str, attachments=()):
    body = render_body(text=text, html=html, attachments=attachments)
    data = b"".join(body.chunks)
    fixed = fixed_head(
        to=[("cliente@clientes.example", "Señor Cliente")],
        cc=[],
        reply_to="",
        subject="Estado de cuenta",
        date=__import__("datetime").datetime(2026, 12, 1, tzinfo=__import__("datetime").UTC),
        message_id="<1.abc@acme.example>",
        extra=[["X-Factura", "F-001"]],
        mime_head=body.head,
    )
    head = header_block(sender="cobranza@acme.example", sender_name="Cobranza Acme", head=fixed)
    assert head.startswith(b'From: "Cobranza Acme" <cobranza@acme.example>\r\nTo: ')
    whole = head + data
    return whole, email.message_from_bytes(whole, policy=email.policy.default)


def test_text_html_and_a_pdf_parse_back():
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 300
    part = AttachmentPart(
        "estado de cuenta ñ.pdf", "application/pdf", lambda: [pdf[:1000], pdf[1000:]]
    )
    whole, message = parse("Hola\n.\nFrom here", "<p>Hola</p>", [part])
    assert not BARE.search(whole)
    assert not re.search(rb"\r\n\.", whole)  # nothing to dot-stuff
    assert all(len(line) <= 78 for line in whole.split(b"\r\n"))
    assert message.get_content_type() == "multipart/mixed"
    assert lines(message.get_body(("plain",)).get_content()) == "Hola\n.\nFrom here"
    assert lines(message.get_body(("html",)).get_content()) == "<p>Hola</p>"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "estado de cuenta ñ.pdf"
    assert attachment.get_content() == pdf
    assert message["X-Factura"] == "F-001" and message["Message-ID"] == "<1.abc@acme.example>"


def test_bcc_only_gets_an_empty_group():
    body = render_body(text="x", html="")
    head = fixed_head(
        to=[], cc=[], reply_to="", subject="",
        date=__import__("datetime").datetime(2026, 12, 1, tzinfo=__import__("datetime").UTC),
        message_id="<1@a>", extra=[], mime_head=body.head,
    )  # fmt: skip
    assert b"To: undisclosed-recipients:;\r\n" in head


@given(st.text(max_size=300), st.text(max_size=300))
@example("", "\n")  # a single part ending in a line break got a second one
@example("hola\n", "")
def test_any_text_and_html_come_back(text, html):
    if not text and not html:
        return
    whole, message = parse(text, html)
    assert not BARE.search(whole)
    assert not re.search(rb"\r\n\.", whole)
    expected = [(text, "plain"), (html, "html")]
    for body, subtype in expected:
        if body:
            assert lines(message.get_body((subtype,)).get_content()) == lines(body)


@given(st.binary(max_size=5000), st.lists(st.integers(1, 700), max_size=10))
def test_base64_streaming_matches_one_shot(data, sizes):
    import base64

    chunks, start = [], 0
    for size in sizes:
        chunks.append(data[start : start + size])
        start += size
    chunks.append(data[start:])
    out = b"".join(base64_lines(chunks))
    assert base64.b64decode(out) == data
    assert all(len(line) <= 76 for line in out.split(b"\r\n"))
