"""Point 11: a form sent twice (a double click, a resend) does its work once. Each page carries
a one-time token (``envio``) claimed under a unique constraint before anything is written or
sent; the repeat shows the first one's result. Sequential repeats through Django's client
here; two simultaneous requests on a real gunicorn in test_double_submission_served.py."""

import datetime as dt
import re
import time

import pytest
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from emisario.accounts import submissions
from emisario.accounts.models import AuditRecord, FormSubmission, SmtpAccount
from emisario.accounts.probing import last_test_of
from emisario.console import handover
from emisario.console.views import smtp as smtp_views
from emisario.core.smtp.steps import Diagnosis
from emisario.demo.mailbox import STARTTLS
from tests.console.test_permissions import CXC, form
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER

TOKEN = re.compile(r'name="envio" value="([^"]+)"')


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def token_of(client, url=CXC) -> str:
    return TOKEN.search(client.get(url).content.decode()).group(1)


def test_every_page_gets_a_fresh_token(emisopt_client, company_account):
    page = emisopt_client.get(f"{CXC}?empresa=ACME&cuenta={company_account.pk}").content.decode()
    tokens = TOKEN.findall(page)
    assert len(tokens) == 2 and tokens[0] == tokens[1]  # the form and Eliminar's
    assert token_of(emisopt_client) != tokens[0]


def test_guardar_twice_saves_one_account_and_shows_it(emisopt_client):
    data = form(envio=token_of(emisopt_client))
    first = emisopt_client.post(CXC, data)
    second = emisopt_client.post(CXC, data)
    assert first.status_code == second.status_code == 302
    assert second.url == first.url
    account = SmtpAccount.objects.get()
    assert f"cuenta={account.pk}" in first.url
    assert AuditRecord.objects.filter(action="create").count() == 1
    page = emisopt_client.get(second.url).content.decode()
    assert "la cuenta se guardó una sola vez" in page


def test_guardar_refused_by_the_policy_can_be_sent_again(emisopt_client, settings):
    settings.EMISARIO_PROBE_ALLOW = []  # 127.0.0.1 is refused at Guardar
    data = form(envio=token_of(emisopt_client))
    assert emisopt_client.post(CXC, data).status_code == 200
    assert not SmtpAccount.objects.exists() and not FormSubmission.objects.exists()
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    assert emisopt_client.post(CXC, data).status_code == 302  # the same form, now it works
    assert SmtpAccount.objects.count() == 1


def test_probar_twice_sends_one_mail_and_shows_the_first_verdict(
    emisopt_client, console_probe_settings, console_mailbox
):
    data = form(
        action="probar",
        host="127.0.0.1",
        port=str(console_mailbox.port(STARTTLS)),
        sender=USER,
        password=PASSWORD,
        envio=token_of(emisopt_client),
    )
    first = emisopt_client.post(CXC, data).content.decode()
    second = emisopt_client.post(CXC, data).content.decode()
    assert "Correo enviado satisfactoriamente" in first
    assert "Correo enviado satisfactoriamente" in second
    assert "no se envió un segundo correo" in second
    assert len(console_mailbox.messages) == 1
    assert AuditRecord.objects.filter(action="test").count() == 1
    # The repeat keeps the tested password for Guardar too.
    saved = emisopt_client.post(CXC, {**data, "action": "guardar", "password": "", "envio": "otro"})
    assert saved.status_code == 302


def test_detectar_twice_tries_once(emisopt_client, settings):
    settings.EMISARIO_PROBE_PORTS = [1]
    settings.EMISARIO_DETECT_COMBINATIONS = ["1/starttls"]
    data = form(action="detectar", port="1", envio=token_of(emisopt_client))
    emisopt_client.post(CXC, data)
    second = emisopt_client.post(CXC, data).content.decode()
    assert AuditRecord.objects.filter(action="detect").count() == 1
    assert "Esta detección ya la había hecho el mismo formulario" in second


def test_eliminar_twice_deletes_once_without_a_404(emisopt_client, company_account):
    token = token_of(emisopt_client, f"{CXC}?empresa=ACME&cuenta={company_account.pk}")
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    first = emisopt_client.post(url, {"envio": token})
    second = emisopt_client.post(url, {"envio": token})
    assert first.status_code == second.status_code == 302 and second.url == first.url
    assert AuditRecord.objects.filter(action="delete").count() == 1
    assert "la cuenta se eliminó una sola vez" in emisopt_client.get(second.url).content.decode()


def test_a_new_page_is_a_new_submission(emisopt_client):
    assert emisopt_client.post(CXC, form(envio=token_of(emisopt_client))).status_code == 302
    assert emisopt_client.post(CXC, form(envio=token_of(emisopt_client))).status_code == 302
    assert SmtpAccount.objects.count() == 2  # two deliberate saves from two pages


def test_a_token_of_another_user_replays_nothing_and_drops_nothing(emisopt_client, roles):
    data = form(envio=token_of(emisopt_client))
    first = emisopt_client.post(CXC, data)
    assert first.status_code == 302
    other = Client()
    other.force_login(roles["full"])
    response = other.post(CXC, data)
    # Their own submission: saved, never a redirect to the first user's account.
    assert response.status_code == 302 and response.url != first.url
    assert SmtpAccount.objects.count() == 2
    assert "una sola vez" not in other.get(response.url).content.decode()


def probar_form(client, mailbox, **extra):
    return form(
        action="probar",
        host="127.0.0.1",
        port=str(mailbox.port(STARTTLS)),
        sender=USER,
        password=PASSWORD,
        envio=token_of(client),
        **extra,
    )


def test_the_same_page_sent_with_another_password_is_really_tested(
    emisopt_client, console_probe_settings, console_mailbox
):
    """Back, edit, Probar (or a duplicated tab): the same token with other values is another
    submission, never the first one's verdict."""
    data = probar_form(emisopt_client, console_mailbox)
    assert "Correo enviado satisfactoriamente" in emisopt_client.post(CXC, data).content.decode()
    wrong = {**data, "password": "wrong-password"}
    second = emisopt_client.post(CXC, wrong).content.decode()
    assert "Correo enviado satisfactoriamente" not in second
    assert "no se envió un segundo correo" not in second
    assert AuditRecord.objects.filter(action="test").count() == 2
    # Guardar keeps the verdict of the password it saves: the refused one, not the first OK.
    assert emisopt_client.post(CXC, {**wrong, "action": "guardar"}).status_code == 302
    saved = SmtpAccount.objects.get()
    assert not Diagnosis.from_dict(last_test_of(saved)).ok


def test_the_same_page_saved_with_another_usuario_saves_it(emisopt_client, company_account):
    token = token_of(emisopt_client, f"{CXC}?empresa=ACME&cuenta={company_account.pk}")
    data = form(cuenta=str(company_account.pk), envio=token)
    assert emisopt_client.post(CXC, data).status_code == 302
    again = emisopt_client.post(CXC, {**data, "sender": "editado@acme.example"})
    assert again.status_code == 302
    company_account.refresh_from_db()
    assert company_account.sender == "editado@acme.example"  # the edit is not dropped
    assert "una sola vez" not in emisopt_client.get(again.url).content.decode()


def abandon(age: dt.timedelta) -> None:
    """Make the stored claim look like a request that died ``age`` ago, before finishing."""
    FormSubmission.objects.update(done=False, result={}, at=timezone.now() - age)


def test_a_claim_whose_request_died_is_taken_over(
    emisopt_client, console_probe_settings, console_mailbox
):
    data = probar_form(emisopt_client, console_mailbox)
    emisopt_client.post(CXC, data)
    abandon(dt.timedelta(minutes=10))  # the worker was killed mid-test
    started = time.monotonic()
    again = emisopt_client.post(CXC, data).content.decode()
    assert time.monotonic() - started < 3  # no wait for a request that will never finish
    assert "Correo enviado satisfactoriamente" in again
    assert "no se envió un segundo correo" not in again
    assert len(console_mailbox.messages) == 2
    assert FormSubmission.objects.get().done


def short_wait(settings, monkeypatch):
    settings.EMISARIO_PROBE_DEADLINE = 0.2
    monkeypatch.setattr(submissions, "WAIT_MARGIN", 0.0)


def test_a_claim_still_running_says_what_to_do(emisopt_client, settings, monkeypatch):
    data = form(envio=token_of(emisopt_client))
    emisopt_client.post(CXC, data)
    abandon(dt.timedelta(0))  # the first request is still at work
    short_wait(settings, monkeypatch)
    page = emisopt_client.post(CXC, data).content.decode()
    assert "todavía se está procesando" in page
    assert "vuelva a abrir esta pantalla desde el menú; no vuelva a cargar la página" in page
    assert SmtpAccount.objects.count() == 1


class Broken(DatabaseError):
    pass


def finish_fails(monkeypatch):
    def fail(claim, result):
        raise Broken("the database went away")

    monkeypatch.setattr(smtp_views, "submission_finish", fail)


def test_guardar_is_undone_when_it_cannot_be_finished(emisopt_client, monkeypatch):
    data = form(envio=token_of(emisopt_client))
    with monkeypatch.context() as patch:
        finish_fails(patch)
        with pytest.raises(Broken):
            emisopt_client.post(CXC, data)
    assert not SmtpAccount.objects.exists()  # saved and finished together, or neither
    assert not FormSubmission.objects.exists()
    assert emisopt_client.post(CXC, data).status_code == 302
    assert SmtpAccount.objects.count() == 1


def test_probar_that_sent_its_mail_keeps_its_claim_when_it_cannot_be_finished(
    emisopt_client, console_probe_settings, console_mailbox, settings, monkeypatch
):
    data = probar_form(emisopt_client, console_mailbox)
    with monkeypatch.context() as patch:
        finish_fails(patch)
        with pytest.raises(Broken):
            emisopt_client.post(CXC, data)
    assert len(console_mailbox.messages) == 1
    short_wait(settings, monkeypatch)
    again = emisopt_client.post(CXC, data).content.decode()
    assert "todavía se está procesando" in again
    assert len(console_mailbox.messages) == 1  # the repeat did not send a second mail


def test_eliminar_is_undone_when_it_cannot_be_finished(
    emisopt_client, company_account, monkeypatch
):
    token = token_of(emisopt_client, f"{CXC}?empresa=ACME&cuenta={company_account.pk}")
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    with monkeypatch.context() as patch:
        finish_fails(patch)
        with pytest.raises(Broken):
            emisopt_client.post(url, {"envio": token})
    assert SmtpAccount.objects.filter(pk=company_account.pk).exists()
    assert emisopt_client.post(url, {"envio": token}).status_code == 302
    assert not SmtpAccount.objects.filter(pk=company_account.pk).exists()


def test_eliminar_repeated_while_it_runs_keeps_the_company(
    emisopt_client, company_account, settings, monkeypatch
):
    token = token_of(emisopt_client, f"{CXC}?empresa=ACME&cuenta={company_account.pk}")
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    with monkeypatch.context() as patch:
        patch.setattr(smtp_views, "account_delete", lambda **kwargs: None)
        emisopt_client.post(url, {"envio": token})
    abandon(dt.timedelta(0))  # the first request is still deleting
    short_wait(settings, monkeypatch)
    response = emisopt_client.post(url, {"envio": token})
    assert response.status_code == 302 and "empresa=ACME" in response.url
    assert "todavía se está procesando" in emisopt_client.get(response.url).content.decode()


def test_eliminar_forgets_the_password_kept_for_the_account(
    emisopt_client, company_account, console_probe_settings, console_mailbox
):
    page = f"{CXC}?empresa=ACME&cuenta={company_account.pk}"
    probar = form(
        action="probar",
        host="127.0.0.1",
        port=str(console_mailbox.port(STARTTLS)),
        sender=USER,
        password=PASSWORD,
        cuenta=company_account.pk,
        envio=token_of(emisopt_client, page),
    )
    assert "Correo enviado satisfactoriamente" in emisopt_client.post(CXC, probar).content.decode()
    assert handover.SESSION_KEY in emisopt_client.session  # the typed password, kept for Guardar
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    assert emisopt_client.post(url, {"envio": token_of(emisopt_client, page)}).status_code == 302
    assert not SmtpAccount.objects.filter(pk=company_account.pk).exists()
    assert handover.SESSION_KEY not in emisopt_client.session  # gone with the account
