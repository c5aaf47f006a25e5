"""Detectar tries the port the user typed first and proposes it when it works (issue 7,
points 1-2): the console passes the typed Puerto to the detection."""

import pytest
from django.test import Client

from emisario.accounts.models import AuditRecord
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_detectar import box_of, detectar
from tests.console.test_permissions import CXC, form
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER


@pytest.fixture
def client(roles, console_probe_settings, console_mailbox):
    # The usual pairs point at the implicit-TLS listener only; the STARTTLS listener is
    # reachable (allowed) but only as the typed port.
    console_probe_settings.EMISARIO_DETECT_COMBINATIONS = [f"{console_mailbox.port(TLS)}/tls"]
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def test_the_typed_port_is_proposed_when_it_works(client, console_mailbox):
    typed = console_mailbox.port(STARTTLS)
    body = detectar(client, port=str(typed))
    assert f'data-port="{typed}"' in box_of(body)
    assert f'name="port" value="{typed}"' in body
    record = AuditRecord.objects.get(action="detect")
    assert record.verdict == f"{typed}/starttls"


def test_the_password_detectar_checked_is_kept_for_probar(client, console_mailbox):
    """The tester's case: "Comprobación de la contraseña: aceptada", then "escriba la
    contraseña y presione Probar". The checked password is kept for the proposal: Probar
    with the field blank sends the mail, and nothing asks for it again."""
    typed = console_mailbox.port(STARTTLS)
    body = detectar(client, port=str(typed))
    assert "con la contraseña que se comprobó: presione Probar" in box_of(body)
    assert "escriba la contraseña" not in box_of(body)
    assert 'id="password-kept-for-test"' in body
    probar = form(
        action="probar", host="127.0.0.1", port=str(typed), sender=USER, password="", ssl="on"
    )
    assert "Correo enviado satisfactoriamente" in client.post(CXC, probar).content.decode()
    assert PASSWORD not in body


def test_a_refused_password_is_not_kept_by_detectar(client, console_mailbox):
    typed = console_mailbox.port(STARTTLS)
    body = detectar(client, port=str(typed), password="equivocada")
    assert "escriba la contraseña y presione Probar" in box_of(body)
    probar = form(
        action="probar", host="127.0.0.1", port=str(typed), sender=USER, password="", ssl="on"
    )
    answer = client.post(CXC, probar).content.decode()
    assert "Correo enviado satisfactoriamente" not in answer
