"""Probar through the console against a real SMTP server (aiosmtpd on loopback, trustme CA)."""

import logging

import pytest
from django.test import Client
from django.utils.html import escape

from emisario.accounts import crypto
from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.accounts.probing import last_test_of
from emisario.console import handover
from emisario.console.advice_catalogue import advice_text
from emisario.core.smtp.advice import Advice
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_permissions import CXC, form
from tests.factories import make_account
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER


@pytest.fixture
def mailbox(console_mailbox):
    return console_mailbox


@pytest.fixture
def probe_settings(console_probe_settings):
    return console_probe_settings


@pytest.fixture
def client(roles, probe_settings):
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def probar(client, mailbox, **extra):
    data = form(
        action="probar",
        host="127.0.0.1",
        port=str(mailbox.port(STARTTLS)),
        sender=USER,
        password=PASSWORD,
    )
    data.update(extra)
    response = client.post(CXC, data)
    assert response.status_code == 200
    return response.content.decode()


def test_success_shows_the_seed_message_and_the_mail_arrives(client, mailbox):
    body = probar(client, mailbox)
    assert "Correo enviado satisfactoriamente" in body
    assert 'data-step="data"' in body and "✘" not in body
    tls = body.split('data-step="tls"')[1].split("</ul>")[0]
    assert "Protocolo" in tls and "TLSv1." in tls and "Coincide con el nombre del servidor" in tls
    [received] = mailbox.messages
    assert received.rcpt_tos == (USER,)
    assert received.mail_from == USER
    assert "configuración SMTP" in received.subject
    record = AuditRecord.objects.get(action="test")
    assert record.verdict == "ok" and record.target == f"127.0.0.1:{mailbox.port(STARTTLS)}"


def test_implicit_tls_chosen_in_the_advanced_selector(client, mailbox):
    body = probar(client, mailbox, port=str(mailbox.port(TLS)), security="tls")
    assert "Correo enviado satisfactoriamente" in body


def test_wrong_password_explains_in_spanish(client, mailbox):
    body = probar(client, mailbox, password="equivocada")
    port = mailbox.port(STARTTLS)
    title, fix = advice_text(Advice.AUTH_FAILED, "es", host="127.0.0.1", port=port)
    assert "Correo enviado satisfactoriamente" not in body
    assert escape(title) in body and escape(fix) in body
    assert 'class="step failed first-failure" data-step="auth"' in body
    assert not mailbox.messages
    assert "equivocada" not in body


def test_ssl_ticked_on_the_implicit_port_is_explained(client, mailbox):
    # SSL ticked on a non-465 port means STARTTLS; the server speaks TLS from the first byte.
    body = probar(client, mailbox, port=str(mailbox.port(TLS)))
    assert "Correo enviado satisfactoriamente" not in body
    assert "first-failure" in body


def test_saved_account_uses_the_stored_password_and_keeps_the_last_test(client, mailbox, acme):
    account = make_account(
        acme, password=PASSWORD, host="127.0.0.1", port=mailbox.port(STARTTLS), sender=USER
    )
    body = probar(client, mailbox, cuenta=account.pk, password="")
    assert "Correo enviado satisfactoriamente" in body
    account.refresh_from_db()
    assert account.last_test["ok"] is True
    page = client.get(CXC).content.decode()
    assert "Correcta" in page and "cambió desde entonces" not in page
    edit = client.get(f"{CXC}?empresa=ACME&cuenta={account.pk}").content.decode()
    last = edit.split('id="last-test"')[1].split("</details>")[0]
    assert "Última prueba" in last and 'data-step="data"' in last and "test it again" not in last
    # A test of other values (a typed, different password) does not describe the saved account.
    probar(client, mailbox, cuenta=account.pk, password="otra")
    account.refresh_from_db()
    assert account.last_test["ok"] is True
    # Changing the saved account makes the stored result stale.
    account.port = 2525
    account.save()
    page = client.get(CXC).content.decode()
    assert "cambió desde entonces" in page
    edit = client.get(f"{CXC}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert "la cuenta cambió desde entonces; pruébela de nuevo" in edit


def test_rate_limit_counts_in_the_audit_trail(client, mailbox, probe_settings):
    probe_settings.EMISARIO_PROBE_RATE = (2, 60)
    probar(client, mailbox)
    probar(client, mailbox)
    response = client.post(
        CXC, form(action="probar", host="127.0.0.1", port=str(mailbox.port(STARTTLS)))
    )
    assert "Demasiadas pruebas en poco tiempo" in response.content.decode()
    assert AuditRecord.objects.filter(action="test").count() == 2
    assert len(mailbox.messages) == 2


def test_a_rate_limited_probar_keeps_the_typed_password(client, mailbox, probe_settings):
    """The refusal asks to try again in a few seconds: the password typed for it is kept (and
    said so), not silently emptied."""
    probe_settings.EMISARIO_PROBE_RATE = (1, 60)
    probar(client, mailbox)
    data = form(action="probar", host="127.0.0.1", port=str(mailbox.port(STARTTLS)), sender=USER)
    refused = client.post(CXC, {**data, "password": PASSWORD}).content.decode()
    assert "Demasiadas pruebas en poco tiempo" in refused
    assert "presione Probar sin escribirla de nuevo" in refused
    probe_settings.EMISARIO_PROBE_RATE = (10, 60)
    again = client.post(CXC, {**data, "password": ""}).content.decode()
    assert "Correo enviado satisfactoriamente" in again


def test_password_never_reaches_logs_responses_or_audit(client, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = [probar(client, mailbox), probar(client, mailbox, password=PASSWORD + "x")]
    everything = "\n".join(bodies) + caplog.text
    everything += str(list(AuditRecord.objects.values()))
    assert PASSWORD not in everything


def test_policy_refuses_loopback_unless_allowed(client, mailbox, probe_settings):
    probe_settings.EMISARIO_PROBE_ALLOW = []
    body = probar(client, mailbox)
    assert 'data-step="policy"' in body and "first-failure" in body
    assert not mailbox.messages
    record = AuditRecord.objects.get(action="test")
    assert record.changes["policy_reason"]


def test_probar_then_guardar_saves_the_tested_password_and_result(client, mailbox):
    body = probar(client, mailbox)
    assert 'id="password-kept"' in body and PASSWORD not in body
    values = form(host="127.0.0.1", port=str(mailbox.port(STARTTLS)), sender=USER, password="")
    response = client.post(CXC, values)
    assert response.status_code == 302
    account = SmtpAccount.objects.get()
    assert crypto.decrypt(account.password_token).reveal() == PASSWORD
    assert account.last_test["ok"] is True
    assert last_test_of(account)["stale"] is False
    assert AuditRecord.objects.get(action="create").changes["password"] == "changed"
    assert handover.SESSION_KEY not in client.session  # used once, then forgotten


def test_a_new_password_tested_on_a_saved_account_is_the_one_saved(client, mailbox, acme):
    port = mailbox.port(STARTTLS)
    account = make_account(acme, password="vieja", host="127.0.0.1", port=port, sender=USER)
    probar(client, mailbox, cuenta=account.pk)  # the right password, typed
    response = client.post(
        CXC, form(cuenta=account.pk, host="127.0.0.1", port=str(port), sender=USER, password="")
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert crypto.decrypt(account.password_token).reveal() == PASSWORD
    assert account.last_test["ok"] is True and last_test_of(account)["stale"] is False


def test_values_changed_after_probar_need_the_password_again(client, mailbox):
    probar(client, mailbox)
    response = client.post(CXC, form(host="localhost", sender=USER, password="", ssl="on"))
    assert response.status_code == 200
    assert "Escriba la contraseña de nuevo" in response.content.decode()
    assert not SmtpAccount.objects.exists()


def test_local_errors_are_not_called_the_servers_reply(client, mailbox, probe_settings):
    probe_settings.EMISARIO_PROBE_ALLOW = []
    body = probar(client, mailbox)
    verdict = body.split('id="verdict"')[1].split('<ol class="steps">')[0]
    assert "detalle técnico" in verdict and "respuesta del servidor" not in verdict
    probe_settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    verdict = probar(client, mailbox, password="mala").split('id="verdict"')[1]
    assert "respuesta del servidor: <code>535" in verdict


def test_ssl_box_and_security_selector_must_agree(client, mailbox):
    body = probar(client, mailbox, ssl="", security="tls")
    assert "SSL y Seguridad (opciones avanzadas) no coinciden" in body
    assert not mailbox.messages and not AuditRecord.objects.exists()
