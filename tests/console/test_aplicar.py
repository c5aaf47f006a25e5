"""Aplicar: the verdict's one-click proposal (``action=aplicar``, ``propuesta=<port>:<security>``)
fills the form with a combination the last test saw work, and the tested password carries
over, so Probar can run at once. Real mailbox (aiosmtpd, implicit TLS on a port that is not
465, as Amazon SES's 2465)."""

import re

import pytest
from django.test import Client

from emisario.accounts import crypto
from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.console import handover
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_permissions import CXC, form
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER

pytestmark = pytest.mark.usefixtures("console_probe_settings")


def values(mailbox, **extra):
    data = form(host="127.0.0.1", port=str(mailbox.port(TLS)), sender=USER, password="")
    data.update(extra)
    return data


def mismatch_test(client, mailbox) -> str:
    """SSL ticked on the implicit-TLS port: STARTTLS is tried and fails; TLS is proposed."""
    body = client.post(CXC, values(mailbox, action="probar", password=PASSWORD)).content.decode()
    assert "Correo enviado satisfactoriamente" not in body
    return body


def test_apply_then_probar_without_retyping(emisopt_client, console_mailbox):
    mailbox = console_mailbox
    tls = mailbox.port(TLS)
    mismatch_test(emisopt_client, mailbox)
    assert handover.proposal(emisopt_client.session[handover.SESSION_KEY]["summary"]) == (
        tls,
        "tls",
    )
    body = emisopt_client.post(
        CXC, values(mailbox, action="aplicar", propuesta=f"{tls}:tls")
    ).content.decode()
    assert f"Propuesta aplicada: Puerto {tls}, Seguridad SSL/TLS." in body
    assert '<option value="tls" selected>' in body and f'name="port" value="{tls}"' in body
    assert 'id="password-kept-for-test"' in body
    assert "presione Probar sin escribirla de nuevo" in body and PASSWORD not in body
    # Probar straight away, the password field blank: the tested password goes with it.
    body = emisopt_client.post(
        CXC, values(mailbox, action="probar", security="tls")
    ).content.decode()
    assert "Correo enviado satisfactoriamente" in body
    assert len(mailbox.messages) == 1
    # And Guardar keeps it and the passing result.
    response = emisopt_client.post(CXC, values(mailbox, security="tls"))
    assert response.status_code == 302
    account = SmtpAccount.objects.get()
    assert (account.port, account.security) == (tls, "tls")
    assert crypto.decrypt(account.password_token).reveal() == PASSWORD
    assert account.last_test["ok"] is True


@pytest.mark.parametrize(
    "proposal",
    ["", "abc", "0:tls", "70000:tls", "465:ssl", "465", ":tls", "465:tls:x", "465:TLS"],
    ids=["empty", "text", "port-0", "port-big", "bad-mode", "no-mode", "no-port", "extra", "case"],
)
def test_bad_proposals_are_a_spanish_error_not_a_500(emisopt_client, console_mailbox, proposal):
    response = emisopt_client.post(
        CXC, values(console_mailbox, action="aplicar", propuesta=proposal)
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "No se pudo aplicar la propuesta" in body
    assert f'name="port" value="{console_mailbox.port(TLS)}"' in body  # nothing changed


def test_only_the_last_tests_proposal_is_accepted(emisopt_client, console_mailbox):
    mailbox = console_mailbox
    # No test yet: nothing to apply.
    body = emisopt_client.post(
        CXC, values(mailbox, action="aplicar", propuesta="2525:none")
    ).content
    assert "Esa propuesta no viene de su última prueba" in body.decode()
    mismatch_test(emisopt_client, mailbox)
    # Another combination than the one the test saw work.
    other = f"{mailbox.port(STARTTLS)}:none"
    body = emisopt_client.post(
        CXC, values(mailbox, action="aplicar", propuesta=other)
    ).content.decode()
    assert "Esa propuesta no viene de su última prueba" in body
    # The right proposal, but the values changed since the test.
    tls = mailbox.port(TLS)
    body = emisopt_client.post(
        CXC,
        values(mailbox, action="aplicar", propuesta=f"{tls}:tls", sender="otro@acme.example"),
    ).content.decode()
    assert "Esa propuesta no viene de su última prueba" in body
    assert not AuditRecord.objects.filter(action="create").exists()


def test_aplicar_follows_the_permissions(roles, console_probe_settings, console_mailbox, acme):
    client = Client()
    client.force_login(roles["noperm"])
    data = values(console_mailbox, action="aplicar", propuesta="465:tls")
    response = client.post(CXC, data)
    assert response.status_code == 403 and "EMISOPT" in response.content.decode()
    client.force_login(roles["emisopt"])
    response = client.post(CXC, {**data, "scope": "system"})
    assert response.status_code == 403 and "PCSMTPG" in response.content.decode()
    client.force_login(roles["other"])
    assert client.post(CXC, data).status_code == 404


def test_ssl_unticked_on_a_starttls_port_proposes_ticking_it_on_that_port(
    emisopt_client, console_mailbox
):
    """The tester's case: port 2625 (the demo's STARTTLS port) with SSL unticked. The advice
    was "tick SSL (port 587 with STARTTLS or 465 with SSL)" and 587 failed; now it is "tick
    SSL and keep this port", seen working, with Aplicar, and the mail goes out after it."""
    port = console_mailbox.port(STARTTLS)
    data = form(host="127.0.0.1", port=str(port), sender=USER, ssl="", password=PASSWORD)
    body = emisopt_client.post(CXC, {**data, "action": "probar"}).content.decode()
    assert f'name="propuesta" value="{port}:starttls"' in body
    verdict = body.split('id="verdict"')[1]
    assert not re.search(r"\b(587|465)\b", verdict)  # the port is random: whole numbers
    assert "marque «SSL» y mantenga el puerto " + str(port) in verdict
    applied = emisopt_client.post(
        CXC, {**data, "password": "", "action": "aplicar", "propuesta": f"{port}:starttls"}
    ).content.decode()
    ssl_box = re.search(r'<input[^>]*name="ssl"[^>]*>', applied).group(0)
    assert "checked" in ssl_box
    again = emisopt_client.post(CXC, {**data, "ssl": "on", "password": "", "action": "probar"})
    assert "Correo enviado satisfactoriamente" in again.content.decode()
