"""Detectar through the console against real servers: proposal, form refilled, password use."""

import pytest
from django.test import Client

from emisario.accounts.models import AuditRecord
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_permissions import CXC, form
from tests.factories import make_account
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER

CLOSED = 1  # nothing listens on port 1 of loopback


@pytest.fixture
def mailbox(console_mailbox):
    return console_mailbox


@pytest.fixture
def detect_settings(console_probe_settings, mailbox):
    settings = console_probe_settings
    settings.EMISARIO_PROBE_PORTS = [*mailbox.ports.values(), CLOSED]
    settings.EMISARIO_DETECT_COMBINATIONS = [
        f"{mailbox.port(TLS)}/tls",
        f"{mailbox.port(STARTTLS)}/starttls",
        f"{CLOSED}/starttls",
        "25/starttls",  # not in the allowed ports: never tried
    ]
    return settings


@pytest.fixture
def client(roles, detect_settings):
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def detectar(client, **extra):
    data = form(action="detectar", host="127.0.0.1", port="", sender=USER, password=PASSWORD)
    data.update(extra)
    response = client.post(CXC, data)
    assert response.status_code == 200
    return response.content.decode()


def box_of(body: str) -> str:
    return body.split('id="detection"')[1].split("</div>")[0]


def test_proposes_implicit_tls_and_fills_the_form(client, mailbox):
    body = detectar(client)
    box = box_of(body)
    tls_port = mailbox.port(TLS)
    assert f"Propuesta: puerto {tls_port} con SSL/TLS" in box
    assert f'<tr class="proposed" data-port="{tls_port}">' in box
    assert "funciona" in box
    assert "no se probaron porque la política de red no los permite" in box
    assert "Comprobación de la contraseña" in box and "aceptada" in box
    assert f'name="port" value="{tls_port}"' in body
    assert '<option value="tls" selected>' in body  # the advanced selector says it outright
    assert PASSWORD not in body
    assert not mailbox.messages  # Detectar sends no mail
    record = AuditRecord.objects.get(action="detect")
    assert record.verdict == f"{tls_port}/tls" and record.changes["password_checked"] is True


def test_wrong_password_is_reported(client):
    box = box_of(detectar(client, password="mala"))
    assert "Comprobación de la contraseña" in box and "aceptada" not in box


def test_without_a_password_nothing_is_sent(client):
    body = detectar(client, password="")
    assert "Propuesta" in box_of(body)
    assert AuditRecord.objects.get(action="detect").changes["password_checked"] is False


def test_nothing_listening(client, detect_settings):
    detect_settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls", f"{CLOSED}/tls"]
    box = box_of(detectar(client))
    assert "No se encontró ninguna combinación que funcione." in box
    assert "Ningún puerto respondió como servidor SMTP" in box


def test_needs_a_valid_server_and_user(client):
    body = detectar(client, host="", sender="x")
    assert "Este campo es obligatorio" in body and "Escriba una dirección de correo válida" in body
    assert not AuditRecord.objects.exists()


def test_stored_password_only_for_its_own_server(client, acme):
    account = make_account(acme, password=PASSWORD, host="127.0.0.1", port=2525, sender=USER)
    assert "aceptada" in box_of(detectar(client, cuenta=account.pk, password=""))
    body = detectar(client, cuenta=account.pk, password="", host="otro.example.com")
    assert "Escriba la contraseña de nuevo" in body
    assert AuditRecord.objects.filter(action="detect").count() == 1
