"""The demo mailbox asks for AUTH as a real submission server does (Postfix's
``smtpd_sasl_auth_enable`` + ``reject_sender_login_mismatch``): Probar in the demo teaches what
a real server will answer, so an empty Contraseña must fail, not show "Correo enviado"."""

from __future__ import annotations

import smtplib

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import escape

from emisario.accounts.models import SmtpAccount
from emisario.console.advice_catalogue import advice_text
from emisario.core.smtp.advice import Advice
from emisario.demo import data
from emisario.demo.mailbox import PLAIN, STARTTLS, TLS, LoopbackSmtpd
from emisario.demo.run import demo_mailbox
from tests.console.test_permissions import CXC, form

USER = "cobranza@acme.demo"
MAIL = b"From: cobranza@acme.demo\r\nTo: cobranza@acme.demo\r\nSubject: x\r\n\r\nHola.\r\n"


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory):
    """The mailbox exactly as ``bin/demo`` builds it, on free ports."""
    maildir = tmp_path_factory.mktemp("demo") / "maildir"
    with demo_mailbox(smtp_port=0, smtps_port=0, maildir=maildir) as server:
        yield server


@pytest.fixture
def demo_settings(settings, mailbox, tmp_path):
    ca_file = tmp_path / "demo-ca.pem"
    mailbox.ca.cert_pem.write_to_path(str(ca_file))
    settings.EMISARIO_PROBE_CA_FILE = str(ca_file)
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = list(mailbox.ports.values())
    settings.EMISARIO_PROBE_DEADLINE = 5.0
    mailbox.messages.clear()
    return settings


@pytest.fixture
def sistemas(db, mailbox, demo_settings):
    """Signed in as the demo's ``sistemas`` (EMISOPT + PCSMTPG), on the demo's data."""
    data.load(smtp_port=mailbox.port(STARTTLS))
    login = data.LOGINS[0]
    user = User.objects.get(username=login.username)
    assert user.check_password(login.password)  # the printed login is the real one
    client = Client()
    client.force_login(user)
    return client


def probar(client, mailbox, password, **extra):
    values = form(
        action="probar",
        host="127.0.0.1",
        port=str(mailbox.port(STARTTLS)),
        sender=USER,
        password=password,
    )
    values.update(extra)
    response = client.post(CXC, values)
    assert response.status_code == 200
    return response.content.decode()


def test_an_empty_password_fails_at_mail_with_the_auth_required_advice(sistemas, mailbox):
    body = probar(sistemas, mailbox, "")
    title, _fix = advice_text(Advice.AUTH_REQUIRED, "es", host="127.0.0.1", port=0)
    assert "Correo enviado satisfactoriamente" not in body
    assert 'class="step failed first-failure" data-step="mail"' in body
    assert escape(title) in body
    assert "530" in body
    assert not mailbox.messages


def test_a_wrong_password_fails_at_auth(sistemas, mailbox):
    body = probar(sistemas, mailbox, "equivocada")
    title, _fix = advice_text(Advice.AUTH_FAILED, "es", host="127.0.0.1", port=0)
    assert "Correo enviado satisfactoriamente" not in body
    assert 'class="step failed first-failure" data-step="auth"' in body
    assert escape(title) in body
    assert not mailbox.messages


def test_the_printed_password_succeeds(sistemas, mailbox):
    body = probar(sistemas, mailbox, data.MAILBOX_USERS[USER])
    assert "Correo enviado satisfactoriamente" in body
    [received] = mailbox.messages
    assert received.login == USER


def test_the_preloaded_account_succeeds_out_of_the_box(sistemas, mailbox):
    """The system default account ``bin/demo`` creates: Probar with the stored password."""
    account = SmtpAccount.objects.get(company__isnull=True)
    body = probar(
        sistemas,
        mailbox,
        "",
        cuenta=str(account.pk),
        sender=account.sender,
        scope="system",
        priority=str(account.priority),
    )
    assert "Correo enviado satisfactoriamente" in body, body
    [received] = mailbox.messages
    assert received.login == account.sender


# -- the mailbox itself, with smtplib (no Probar in between) --------------------------------


def _session(server: LoopbackSmtpd, mode: str) -> smtplib.SMTP:
    if mode == TLS:
        smtp = smtplib.SMTP_SSL(
            "127.0.0.1", server.port(TLS), context=server.client_context(), timeout=10
        )
    else:
        smtp = smtplib.SMTP("127.0.0.1", server.port(mode), timeout=10)
        if mode == STARTTLS:
            smtp.starttls(context=server.client_context())
    smtp.ehlo()
    return smtp


@pytest.mark.parametrize("mode", [STARTTLS, TLS], ids=["starttls", "implicit-tls"])
def test_mail_without_auth_is_530_on_every_encrypted_listener(mailbox, mode):
    with _session(mailbox, mode) as smtp:
        code, text = smtp.mail(USER)
    assert (code, text) == (530, b"5.7.0 Authentication required")


def test_a_wrong_password_is_535_5_7_8(mailbox):
    with _session(mailbox, STARTTLS) as smtp, pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtp.login(USER, "equivocada")
    assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8")


def test_no_auth_before_starttls(mailbox):
    with smtplib.SMTP("127.0.0.1", mailbox.port(STARTTLS), timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        assert smtp.docmd("AUTH", "PLAIN AGNvYnJhbnphQGFjbWUuZGVtbwBidXpvbi1kZW1v")[0] == 538
        assert smtp.mail(USER)[0] == 530


def test_a_plain_listener_takes_auth_only_when_told(tmp_path):
    users = {USER: "clave"}
    with (
        LoopbackSmtpd(users, listeners=(PLAIN,)) as closed,
        smtplib.SMTP("127.0.0.1", closed.port(PLAIN), timeout=10) as smtp,
    ):
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        assert smtp.mail(USER)[0] == 530
    with (
        LoopbackSmtpd(users, listeners=(PLAIN,), plain_auth=True) as relay,
        smtplib.SMTP("127.0.0.1", relay.port(PLAIN), timeout=10) as smtp,
    ):
        smtp.login(USER, "clave")
        smtp.sendmail(USER, [USER], MAIL)
    assert relay.messages[0].login == USER


def test_an_open_relay_is_an_explicit_choice():
    with (
        LoopbackSmtpd(listeners=(STARTTLS,), auth_required=False) as relay,
        _session(relay, STARTTLS) as smtp,
    ):
        smtp.sendmail(USER, [USER], MAIL)
    assert relay.messages[0].login is None
