"""Issue 6, point 1: what is typed into Usuario, Nombre a mostrar and the login name can
never add a header, a line or a body to the mail on the wire.

Each value goes the way the SMTP screen takes it: the form's rules (trimmed, then
``normalize_address``, ``header_text``, ``refuse_control_characters``) refuse it with a code,
or it becomes Probar's confirmation mail. Every accepted message is sent to a real aiosmtpd
server, and the exact bytes the server received are read back as a mail client would and
compared header by header with what was typed.
"""

from __future__ import annotations

import ast
import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
from hypothesis import given, settings
from hypothesis import strategies as st

from emisario.core.addresses import header_text, normalize_address, refuse_control_characters
from emisario.core.errors import InvalidValue
from emisario.core.mail import headers as headers_module
from emisario.core.mail import message as message_module
from emisario.core.smtp.confirmation import confirmation_message
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
from emisario.demo.mailbox import PLAIN
from tests.support.hostile import fragment_text, generated, usuario
from tests.support.mail_check import mismatches, raw_headers
from tests.support.smtpd import FaultySmtpd, Script

REFUSAL_CODES = {
    "required",
    "control_characters",
    "invisible_characters",
    "encoded_word",
    "invalid_address",
    "too_long",
}
SUBJECT = "Emisario: la configuración SMTP funciona"
WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BULK = 100_000
CONNECTIONS = 4


def accepted(typed_usuario: str, typed_name: str, typed_login: str):
    """The form's path: trimmed values, the domain's rules; (endpoint, name) or the code."""
    try:
        sender = normalize_address(typed_usuario.strip(), field="sender")
        name = header_text(typed_name.strip(), field="display_name")
        login = refuse_control_characters(typed_login.strip(), field="login")
    except InvalidValue as refused:
        return None, refused.code
    endpoint = SmtpEndpoint(
        host="127.0.0.1", port=25, security=SecurityMode.NONE, sender=sender, login=login
    )
    return endpoint, name


def build(endpoint: SmtpEndpoint, name: str) -> bytes:
    return confirmation_message(
        endpoint, recipient=endpoint.sender, now=WHEN, display_name=name, language="es"
    )


@settings(max_examples=3000, deadline=None)
@given(usuario, fragment_text, fragment_text)
def test_property_accepted_values_become_exactly_the_headers_typed(typed, name, login):
    endpoint, result = accepted(typed, name, login)
    if endpoint is None:
        assert result in REFUSAL_CODES
        return
    data = build(endpoint, result)
    assert not mismatches(
        data,
        sender=endpoint.sender,
        display_name=result,
        recipient=endpoint.sender,
        subject=SUBJECT,
    )


@given(st.text(max_size=60), st.text(max_size=60))
def test_property_no_text_at_all_crashes_the_form_rules(typed, name):
    endpoint, result = accepted(typed + "@acme.demo", name, name)
    if endpoint is not None:
        build(endpoint, result)  # never raises for an accepted value


def test_the_reported_encoded_word_is_refused_and_cannot_inject():
    typed = "=?utf-8?q?_=0D=0ABcc=3A_victim=40example.net?=@acme.demo"
    assert accepted(typed, "", "") == (None, "encoded_word")
    endpoint, name = accepted("cobranza@acme.demo", "=?utf-8?q?_=0D=0ABcc=3A_v=40e.net?=", "")
    data = build(endpoint, name)
    assert [field for field, _ in raw_headers(data)].count("Bcc") == 0
    assert not mismatches(
        data, sender="cobranza@acme.demo", display_name=name, recipient="cobranza@acme.demo",
        subject=SUBJECT,
    )  # fmt: skip


def test_the_message_is_not_built_by_the_email_package():
    """The interpreter's own guard against generated header injection
    (``policy.verify_generated_headers``) is missing from Python 3.11.7: nothing here may
    rely on ``email.message``, ``email.generator`` or ``email.policy``."""
    for module in (message_module, headers_module):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom | ast.Import)
            for name in (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else
                [alias.name for alias in node.names]
            )
        }  # fmt: skip
        assert not {"email.message", "email.generator", "email.policy"} & imported, module


async def _send_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as smtp:
            while not queue.empty():
                sender, data = queue.get_nowait()
                options = ["SMTPUTF8"] if not sender.isascii() else []
                await smtp.sendmail(sender, [sender], data, mail_options=options)

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))


def test_100000_generated_values_through_a_real_server(ca):
    values = generated(BULK, seed=6)
    expected: dict[str, tuple[str, str]] = {}
    outgoing: list[tuple[str, bytes]] = []
    refused: dict[str, int] = {}
    for typed in values:
        endpoint, result = accepted(*typed)
        if endpoint is None:
            refused[result] = refused.get(result, 0) + 1
            continue
        data = build(endpoint, result)
        message_id = dict(raw_headers(data))["Message-ID"]
        expected[message_id] = (endpoint.sender, result)
        outgoing.append((endpoint.sender, data))
    assert set(refused) <= REFUSAL_CODES, refused
    assert len(outgoing) > BULK // 10, "the generator must reach the wire often"
    server = FaultySmtpd(
        {}, listeners=(PLAIN,), ca=ca, script=Script(smtputf8=True), auth_required=False
    ).start()
    try:
        asyncio.run(_send_all(server.port(PLAIN), outgoing))
        received = list(server.messages)
    finally:
        server.stop()
    assert len(received) == len(outgoing)
    problems = []
    for mail in received:
        sender, name = expected[dict(raw_headers(mail.data))["Message-ID"]]
        found = mismatches(
            mail.data, sender=sender, display_name=name, recipient=sender, subject=SUBJECT
        )
        if found:
            problems.append((sender, name, found))
    assert problems == []


def test_the_header_writer_refuses_what_no_validator_let_through():
    """Backstops for callers that skip validation (CRONUS will build from stored rows)."""
    import pytest

    from emisario.core.mail import headers

    for address in ("a\r\nBcc:x@y.example", "a b@example.com", "<a@example.com>", "=?x?q?a?=@b.co"):
        with pytest.raises(headers.HeaderError):
            headers.mailbox(address)
    for tokens in (["a\r\nb"], ["a\nb"], ["a\0b"], [""]):
        with pytest.raises(headers.HeaderError):
            headers.field("To", tokens)
    with pytest.raises(headers.HeaderError):
        headers.field("Bcc\r\nX", ["a@b.co"])
