"""Issue 6, point 1, through the SMTP screen: hostile Usuario, Nombre a mostrar and login
values pressed through Probar never give an HTTP 500, and whatever reaches the real mailbox
carries exactly the headers typed (after the form's trimming)."""

from __future__ import annotations

import pytest
from django.test import Client

from emisario.core.addresses import normalize_address
from emisario.demo.mailbox import STARTTLS
from tests.console.test_permissions import CXC, form
from tests.support.hostile import generated
from tests.support.mail_check import mismatches

SUBJECT = "Emisario: la configuración SMTP funciona"
REPORTED = [
    ("=?utf-8?q?_=0D=0ABcc=3A_victim=40example.net?=@acme.demo", "", ""),
    ("cobranza\x00@acme.demo", "", ""),
    ("cobranza@acme.demo", "=?utf-8?q?_=0D=0ABcc=3A_v=40e.net?=", ""),
    ("cobranza@acme.demo", "=?utf-8?b?====?=", "=?x?q??="),
    ("cobranza@acme.demo", "Cobranza\u202eemoc.live", ""),
    ("cobranza@acme.demo", '"Acme" <jefe@acme.demo>, x', "a\r\nRSET"),
]


def _browser_text(values: tuple[str, ...]) -> tuple[str, ...]:
    """A browser cannot send a lone surrogate: it sends U+FFFD instead."""
    return tuple(value.encode("utf-8", "replace").decode("utf-8") for value in values)


@pytest.fixture
def client(roles, open_relay_probe_settings):
    # An open relay: the hostile logins cannot AUTH, and what matters is what arrives.
    open_relay_probe_settings.EMISARIO_PROBE_RATE = (10_000, 60)
    client = Client(raise_request_exception=False)
    client.force_login(roles["emisopt"])
    return client


@pytest.mark.parametrize(
    "values",
    [REPORTED, [_browser_text(v) for v in generated(150, seed=16)]],
    ids=["reported", "generated"],
)
def test_probar_with_hostile_values_never_fails_and_never_injects(client, open_relay, values):
    port = str(open_relay.port(STARTTLS))
    delivered = 0
    for usuario, name, login in values:
        before = len(open_relay.messages)
        data = form(
            action="probar",
            host="127.0.0.1",
            port=port,
            sender=usuario,
            display_name=name,
            login=login,
            password="",
        )
        response = client.post(CXC, data)
        assert response.status_code == 200, (usuario, name, login)
        new = open_relay.messages[before:]
        if not new:
            continue
        delivered += 1
        [mail] = new
        sender = normalize_address(usuario.strip())
        assert mail.mail_from == sender
        assert not mismatches(
            mail.data, sender=sender, display_name=name.strip(), recipient=sender, subject=SUBJECT
        ), (usuario, name)
    assert delivered, "some values must reach the mailbox"


@pytest.mark.parametrize(
    ("field", "value", "spanish"),
    [
        ("sender", "=?utf-8?q?_=0D=0ABcc=3A_victim=40example.net?=@acme.demo", "texto codificado"),
        ("sender", "cobranza\u202e@acme.demo", "caracteres invisibles"),
        ("display_name", "Cobranza\u200bAcme", "caracteres invisibles"),
        ("login", "cobranza\ufeff", "caracteres invisibles"),
        ("sender", "cobranza\x00@acme.demo", "caracteres nulos"),
        ("display_name", "Cobranza\r\nBcc: x@evil.example", "saltos de línea"),
    ],
    ids=["encoded-word", "bidi-override", "zero-width-space", "byte-order-mark", "nul", "crlf"],
)
def test_refusals_are_explained_in_spanish_on_the_field(client, field, value, spanish):
    data = form(action="probar", sender="cobranza@acme.demo")
    data[field] = value
    body = client.post(CXC, data).content.decode()
    assert spanish in body.lower()
    assert "Correo enviado satisfactoriamente" not in body
