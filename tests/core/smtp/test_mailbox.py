"""The demo mailbox is a real SMTP server: STARTTLS and implicit TLS, AUTH, Maildir."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
import pytest

from emisario.demo.mailbox import STARTTLS, TLS, LoopbackSmtpd, read_maildir

USERS = {"ana@example.com": "clave-1"}


def _send(server: LoopbackSmtpd, mode: str, subject: str, password: str = "clave-1") -> None:
    message = (
        f"From: ana@example.com\r\nTo: bob@example.net\r\nSubject: {subject}\r\n"
        f"Date: Tue, 04 Mar 2025 10:30:00 +0000\r\n\r\nHola, {subject}.\r\n"
    )
    asyncio.run(
        aiosmtplib.send(
            message,
            sender="ana@example.com",
            recipients=["bob@example.net"],
            hostname="127.0.0.1",
            port=server.port(mode),
            username="ana@example.com",
            password=password,
            use_tls=mode == TLS,
            start_tls=mode == STARTTLS,
            tls_context=server.client_context(),
            timeout=5,
        )
    )


def test_messages_reach_memory_and_maildir_newest_first(tmp_path, ca):
    with LoopbackSmtpd(USERS, ca=ca, maildir=tmp_path / "inbox") as server:
        assert set(server.ports) == {STARTTLS, TLS} and all(server.ports.values())
        _send(server, STARTTLS, "primero")
        time.sleep(0.01)
        _send(server, TLS, "segundo")
    assert [m.subject for m in server.messages] == ["primero", "segundo"]
    assert server.messages[0].login == "ana@example.com"
    assert server.messages[1].listener == TLS
    mails = read_maildir(tmp_path / "inbox")
    assert [m.subject for m in mails] == ["segundo", "primero"]
    assert mails[0].sender == "ana@example.com"
    assert mails[0].recipients == ("bob@example.net",)
    assert mails[0].text.strip() == "Hola, segundo."
    assert mails[0].date.startswith("Tue, 04 Mar 2025")


def test_wrong_password_is_refused_and_nothing_stored(ca):
    with (
        LoopbackSmtpd(USERS, ca=ca, listeners=(TLS,)) as server,
        pytest.raises(aiosmtplib.SMTPAuthenticationError) as info,
    ):
        _send(server, TLS, "nada", password="otra")
    assert info.value.code == 535
    assert server.messages == []


def test_missing_maildir_reads_as_empty(tmp_path):
    assert read_maildir(tmp_path / "nothing-here") == []


def test_unknown_listener_mode_is_refused_before_starting():
    with pytest.raises(ValueError, match="unknown listener"):
        LoopbackSmtpd(USERS, listeners=("ssl",))
