"""Detectar through the console against real servers: proposal, form refilled, password use."""

import re
from pathlib import Path

import pytest
from django.test import Client

from emisario.accounts.models import AuditRecord
from emisario.demo.mailbox import PLAIN, STARTTLS, TLS, LoopbackSmtpd
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
    assert f'<tr class="candidate works proposed" data-port="{tls_port}">' in box
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


def rows_of(box: str) -> dict[str, str]:
    """data-port -> the row's class attribute."""
    return dict(
        (port, classes)
        for classes, port in re.findall(r'<tr class="([^"]*)" data-port="(\d+)"', box)
    )


def test_failed_rows_are_marked_failed_and_the_box_follows_the_result(
    client, detect_settings, mailbox
):
    """Issue 7, point 9c: a refused port is a failed row even when another one works."""
    detect_settings.EMISARIO_DETECT_COMBINATIONS = [
        f"{CLOSED}/starttls",  # ranked first, so it always finishes: a failed row
        f"{mailbox.port(TLS)}/tls",
        "25/starttls",  # not allowed
    ]
    box = box_of(detectar(client, password=""))
    rows = rows_of(box)
    assert rows[str(CLOSED)] == "candidate failed"
    assert rows[str(mailbox.port(TLS))] == "candidate works proposed"
    assert rows["25"] == "candidate not-allowed"
    assert "no lo permite la política de red" in box
    body = detectar(client, password="mala")
    assert 'class="detection failed"' in body  # the password check failed: so does the box
    detect_settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls"]
    assert 'class="detection failed"' in detectar(client, password="")
    detect_settings.EMISARIO_DETECT_COMBINATIONS = [f"{mailbox.port(TLS)}/tls"]
    assert 'class="detection ok"' in detectar(client, password="")


def test_css_colours_rows_by_their_own_result_not_the_boxs():
    """The ".ok" utility colours every text inside ".detection.ok" green; the rules appended
    for point 9c reset the box and colour each row by its state."""
    css = (
        Path(__file__).resolve().parents[2] / "src/emisario/console/static/emisario/console.css"
    ).read_text()
    assert re.search(r"\.detection\.ok, \.detection\.failed \{ color:var\(--ink\); \}", css)
    assert "table.candidates tr.candidate.failed td { color:var(--bad); }" in css
    assert "table.candidates tr.candidate.works td { color:var(--ok); }" in css


def test_nothing_allowed_says_the_policy_refuses_every_port(client, detect_settings):
    """Issue 7, point 9a: no port may be tried, so none "did not answer"."""
    detect_settings.EMISARIO_DETECT_COMBINATIONS = ["25/starttls", "3588/none"]
    box = box_of(detectar(client))
    assert "Ningún puerto respondió" not in box
    assert "No se encontró ninguna combinación" not in box
    assert "la política de red del administrador no permite probar este servidor" in box
    assert "(25, 3588)" in box
    assert set(rows_of(box).values()) == {"candidate not-allowed"}
    assert not AuditRecord.objects.filter(action="detect", verdict__contains="/").exists()


def test_a_refused_address_is_not_called_silence_either(client, detect_settings, mailbox):
    """The ports are allowed but loopback is not: every probe stops at the policy step."""
    detect_settings.EMISARIO_PROBE_ALLOW = []
    detect_settings.EMISARIO_DETECT_COMBINATIONS = [f"{mailbox.port(TLS)}/tls"]
    box = box_of(detectar(client, password=""))
    assert "Ningún puerto respondió" not in box
    assert "la política de red del administrador no permite probar este servidor" in box
    assert f"({mailbox.port(TLS)})" in box


def test_plain_text_reads_naturally_in_sentences_and_cells(client, detect_settings):
    """Issue 7, point 9b: "puerto 3588 con ninguna" becomes "puerto N sin cifrado"."""
    with LoopbackSmtpd({USER: PASSWORD}, listeners=(PLAIN,)) as relay:
        port = relay.port(PLAIN)
        detect_settings.EMISARIO_PROBE_PORTS = [port]
        detect_settings.EMISARIO_DETECT_COMBINATIONS = [f"{port}/none"]
        box = box_of(detectar(client, password=""))
    assert f"Propuesta: puerto {port} sin cifrado." in box
    assert "con ninguna" not in box and ">ninguna<" not in box
    assert f'data-port="{port}"><td>{port}</td><td>sin cifrado</td>' in box
