"""Quoted-printable bodies stay within RFC 2045 section 6.7: lines of at most 76 characters
(soft line breaks included), 7-bit ASCII, CRLF line ends, no trailing white space, and decoding
gives the text back. Checked on the encoder over arbitrary text (hypothesis) and on the exact
bytes a real server received for DATA: the confirmation mail and messages built to be awkward
(long lines, long words without spaces, Spanish accents, emoji, trailing spaces, "=" signs).
"""

from __future__ import annotations

import binascii
import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emisario.core.mail.message import TextMessage, quoted_printable
from emisario.core.smtp.confirmation import confirmation_message
from emisario.core.smtp.endpoint import SmtpEndpoint
from tests.support.scenarios import RECIPIENT, SENDER, Smtpd

MAX_QP_LINE = 76
"""RFC 2045 section 6.7 rule 5, the "=" of a soft line break included."""


def _normalized(text: str) -> bytes:
    """What the body must decode to: UTF-8, every line end CRLF."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return lines.encode("utf-8").replace(b"\n", b"\r\n")


def assert_quoted_printable(encoded: bytes, text: str) -> None:
    assert encoded.isascii()
    assert b"\r" not in encoded.replace(b"\r\n", b"") and b"\n" not in encoded.replace(
        b"\r\n", b""
    ), "a line end other than CRLF"
    for line in encoded.split(b"\r\n"):
        assert len(line) <= MAX_QP_LINE, line
        assert not line.endswith((b" ", b"\t")), line  # rule 3: trailing white space encoded
        assert all(32 <= byte < 127 or byte == 9 for byte in line), line
        assert not line.startswith(b"."), line  # safe even through a relay that forgets
    assert binascii.a2b_qp(encoded) == _normalized(text)


AWKWARD = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" \t=\r\n.?_-")),
        st.sampled_from(list("áéíóúñÑ¿¡«»€")),
        st.sampled_from(["📧", "🎉", "👩", "\u200d", "💻"]),
        st.characters(codec="utf-8"),
    ),
    max_size=400,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(AWKWARD, st.text(max_size=400)))
def test_the_encoder_keeps_every_rule_for_any_text(text):
    assert_quoted_printable(quoted_printable(text), text)


@settings(max_examples=100, deadline=None)
@given(
    word=st.text(alphabet=st.sampled_from(list("a=é📧 ")), min_size=70, max_size=300),
    padding=st.integers(min_value=0, max_value=80),
)
def test_long_lines_break_softly_wherever_they_reach_the_limit(word, padding):
    """Escapes (=XX) and multi-byte characters land on every position around column 76."""
    text = "x" * padding + word + "\n" + word.replace(" ", "") + "   \n"
    assert_quoted_printable(quoted_printable(text), text)


# --- the bytes a real server received ------------------------------------------------------

AWKWARD_BODY = "\n".join(
    [
        "Estimado cliente: le enviamos el estado de cuenta de marzo, con la información "
        "de sus facturas pendientes, los pagos recibidos y el saldo a la fecha de corte.",
        "https://erp.example.com/cxc/estado?cliente=ACME&periodo=2025-03&firma="
        + "0123456789abcdef" * 8,
        "x" * 75 + "=",
        "y" * 76,
        "z" * 74 + "é",
        "Acción, señal, ¿qué?, ¡sí! «comillas» 20 € — ñandú.",
        "Correo 📧 enviado 🎉 por 👩‍💻" * 4,
        "línea con espacios al final   ",
        "w" * 74 + " ",  # binascii.b2a_qp made this a 77-character line
        "v" * 72 + "  \t",
        "y un tabulador al final\t",
        "a=b==c=== =?utf-8?q?no_es_una_palabra?= =3D",
        ".",
        "..empieza con puntos",
        "From el principio de una línea",
        "",
        "fin",
    ]
)


def _body_of(data: bytes) -> bytes:
    _headers, separator, body = data.partition(b"\r\n\r\n")
    assert separator, "no blank line after the header"
    return body


def _send(ca, message: bytes) -> bytes:
    with Smtpd()(ca) as case:
        diagnosis = case.run(message=message)
        received = list(case.server.messages)
    assert diagnosis.ok, diagnosis.as_dict()
    [mail] = received
    return mail.data


def test_an_awkward_body_arrives_within_the_rules(ca):
    message = TextMessage(
        sender=SENDER,
        sender_name="Cobranza 📧 Ñandú",
        to=(RECIPIENT,),
        subject="Estado de cuenta — marzo",
        body=AWKWARD_BODY,
    )
    data = _send(ca, message.as_bytes())
    assert data.isascii()
    body = _body_of(data)
    assert_quoted_printable(body.removesuffix(b"\r\n"), AWKWARD_BODY)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    # The client ends DATA's last line with CRLF (RFC 5321 4.1.1.4); nothing else is added.
    assert parsed.get_content().replace("\r\n", "\n") == AWKWARD_BODY + "\n"


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_confirmation_mail_arrives_within_the_rules(ca, language):
    """The longest values the form accepts: a 63-character label and a long Usuario."""
    label = "servidor-de-correo-saliente-de-la-empresa-acme-" + "x" * 16
    host = f"{label}.{label}.example.com"
    sender = "cobranza.estados.de.cuenta.con.un.nombre.largo@" + f"{label}.example.com"
    endpoint = SmtpEndpoint(host=host, port=2465, security="tls", sender=sender)
    message = confirmation_message(
        endpoint, recipient=RECIPIENT, language=language, display_name="Cobranza Ñandú 📧"
    )
    data = _send(ca, message)
    body = _body_of(data)
    assert data.isascii()
    for line in body.split(b"\r\n"):
        assert len(line) <= MAX_QP_LINE, line
    text = email.message_from_bytes(data, policy=email.policy.default).get_content()
    assert host in text and sender in text
    assert ("configuración" if language == "es" else "configured") in text
