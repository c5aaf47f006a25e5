"""The confirmation mail: Spanish by default, headers complete, 7-bit clean."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from emisario.core.smtp.confirmation import confirmation_message
from emisario.core.smtp.endpoint import SmtpEndpoint

ENDPOINT = SmtpEndpoint("smtp.gmail.com", 587, "starttls", "cobranza@example.com")
WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


def _parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_spanish_confirmation_names_server_port_and_mode():
    data = confirmation_message(ENDPOINT, recipient="ana@example.net", now=WHEN)
    message = _parse(data)
    assert message["Subject"] == "Emisario: la configuración SMTP funciona"
    assert message["From"] == "cobranza@example.com"
    assert message["To"] == "ana@example.net"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"].datetime == WHEN
    body = message.get_content()
    assert "Servidor SMTP: smtp.gmail.com" in body
    assert "Puerto: 587" in body
    assert "Seguridad: STARTTLS" in body


def test_confirmation_is_7bit_with_crlf():
    data = confirmation_message(ENDPOINT, recipient="ana@example.net", now=WHEN)
    assert data.isascii()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_english_variant():
    message = _parse(confirmation_message(ENDPOINT, recipient="a@example.net", language="en"))
    assert message["Subject"] == "Emisario: the SMTP configuration works"
    assert "SMTP server: smtp.gmail.com" in message.get_content()


def test_an_aware_time_keeps_its_zone():
    from datetime import datetime, timedelta, timezone

    from emisario.core.smtp.confirmation import confirmation_message
    from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint

    endpoint = SmtpEndpoint(
        host="smtp.example.com", port=587, security=SecurityMode.STARTTLS, sender="a@example.com"
    )
    tokyo = timezone(timedelta(hours=9))  # not the zone Django or the OS runs in
    body = confirmation_message(
        endpoint, recipient="a@example.com", now=datetime(2026, 11, 27, 8, 30, tzinfo=tokyo)
    ).decode()
    assert "2026-11-27 08:30:00 +0900" in body
