"""Point 11: a form sent twice (a double click, a resend) does its work once. Each page carries
a one-time token (``envio``) claimed under a unique constraint before anything is written or
sent; the repeat shows the first one's result. Sequential repeats through Django's client
here; two simultaneous requests on a real gunicorn in test_double_submission_served.py."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts.models import AuditRecord, FormSubmission, SmtpAccount
from emisario.demo.mailbox import STARTTLS
from tests.console.test_permissions import CXC, form
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER

TOKEN = re.compile(r'name="envio" value="([^"]+)"')


@pytest.fixture
def client(roles, settings):
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def token_of(client, url=CXC) -> str:
    return TOKEN.search(client.get(url).content.decode()).group(1)


def test_every_page_gets_a_fresh_token(client, company_account):
    page = client.get(f"{CXC}?empresa=ACME&cuenta={company_account.pk}").content.decode()
    tokens = TOKEN.findall(page)
    assert len(tokens) == 2 and tokens[0] == tokens[1]  # the form and Eliminar's
    assert token_of(client) != tokens[0]


def test_guardar_twice_saves_one_account_and_shows_it(client):
    data = form(envio=token_of(client))
    first = client.post(CXC, data)
    second = client.post(CXC, data)
    assert first.status_code == second.status_code == 302
    assert second.url == first.url
    account = SmtpAccount.objects.get()
    assert f"cuenta={account.pk}" in first.url
    assert AuditRecord.objects.filter(action="create").count() == 1
    page = client.get(second.url).content.decode()
    assert "la cuenta se guardó una sola vez" in page


def test_guardar_refused_by_the_policy_can_be_sent_again(client, settings):
    settings.EMISARIO_PROBE_ALLOW = []  # 127.0.0.1 is refused at Guardar
    data = form(envio=token_of(client))
    assert client.post(CXC, data).status_code == 200
    assert not SmtpAccount.objects.exists() and not FormSubmission.objects.exists()
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    assert client.post(CXC, data).status_code == 302  # the same form, now it works
    assert SmtpAccount.objects.count() == 1


def test_probar_twice_sends_one_mail_and_shows_the_first_verdict(
    client, console_probe_settings, console_mailbox
):
    data = form(
        action="probar",
        host="127.0.0.1",
        port=str(console_mailbox.port(STARTTLS)),
        sender=USER,
        password=PASSWORD,
        envio=token_of(client),
    )
    first = client.post(CXC, data).content.decode()
    second = client.post(CXC, data).content.decode()
    assert "Correo enviado satisfactoriamente" in first
    assert "Correo enviado satisfactoriamente" in second
    assert "no se envió un segundo correo" in second
    assert len(console_mailbox.messages) == 1
    assert AuditRecord.objects.filter(action="test").count() == 1
    # The repeat keeps the tested password for Guardar too.
    saved = client.post(CXC, {**data, "action": "guardar", "password": "", "envio": "otro"})
    assert saved.status_code == 302


def test_detectar_twice_tries_once(client, settings):
    settings.EMISARIO_PROBE_PORTS = [1]
    settings.EMISARIO_DETECT_COMBINATIONS = ["1/starttls"]
    data = form(action="detectar", port="1", envio=token_of(client))
    client.post(CXC, data)
    second = client.post(CXC, data).content.decode()
    assert AuditRecord.objects.filter(action="detect").count() == 1
    assert "Esta detección ya la había hecho el mismo formulario" in second


def test_eliminar_twice_deletes_once_without_a_404(client, company_account):
    token = token_of(client, f"{CXC}?empresa=ACME&cuenta={company_account.pk}")
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    first = client.post(url, {"envio": token})
    second = client.post(url, {"envio": token})
    assert first.status_code == second.status_code == 302 and second.url == first.url
    assert AuditRecord.objects.filter(action="delete").count() == 1
    assert "la cuenta se eliminó una sola vez" in client.get(second.url).content.decode()


def test_a_new_page_is_a_new_submission(client):
    assert client.post(CXC, form(envio=token_of(client))).status_code == 302
    assert client.post(CXC, form(envio=token_of(client))).status_code == 302
    assert SmtpAccount.objects.count() == 2  # two deliberate saves from two pages


def test_a_token_of_another_user_replays_nothing(client, roles):
    data = form(envio=token_of(client))
    assert client.post(CXC, data).status_code == 302
    other = Client()
    other.force_login(roles["full"])
    response = other.post(CXC, data)
    assert response.status_code == 200  # no redirect to the other user's result
    assert SmtpAccount.objects.count() == 1
