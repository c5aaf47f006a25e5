"""Point 16: EMISOPT holders read the change history of their companies' accounts in the
console: who, when, what changed in words, never a password. (Every role against every
history URL is in test_permissions.py's matrix.)"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts.models import AuditRecord, SmtpAccount
from tests.console.test_permissions import CXC, form
from tests.factories import make_account

HISTORY = reverse("console:history_cxc")
FIRST, SECOND = "Primera-Clave-1", "Segunda-Clave-2"


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def rows(body: str) -> list[str]:
    table = body.split('id="history"')[1].split("</table>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)) for r in table.split("<tr")[2:]]


def test_who_when_and_what_changed_in_words(emisopt_client, roles):
    assert emisopt_client.post(CXC, form(password=FIRST, port="2525")).status_code == 302
    account = SmtpAccount.objects.get()
    changed = form(cuenta=account.pk, password=SECOND, port="587", ssl="on", priority="7")
    assert emisopt_client.post(CXC, changed).status_code == 302
    body = emisopt_client.get(f"{HISTORY}?empresa=ACME&cuenta={account.pk}").content.decode()
    update, create = rows(body)
    assert "cobros" in update and "modificó" in update
    assert "Puerto: 2525 → 587" in update and "Prioridad: 3 → 7" in update
    assert "Contraseña: cambiada" in update
    assert "Servidor SMTP" not in update  # unchanged values are not listed
    assert "creó" in create and "Puerto: 2525" in create and "Servidor SMTP: 127.0.0.1" in create
    assert FIRST not in body and SECOND not in body and account.password_token not in body


def test_the_company_history_includes_deleted_accounts_and_not_other_companies(
    emisopt_client, company_account, foreign_account
):
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    assert emisopt_client.post(url).status_code == 302
    AuditRecord.objects.create(
        action="update",
        account=foreign_account,
        company=foreign_account.company,
        account_label=str(foreign_account),
        changes={"port": [587, 25]},
    )
    body = emisopt_client.get(f"{HISTORY}?empresa=ACME").content.decode()
    [deleted] = rows(body)
    assert "eliminó" in deleted and "cobranza@acme.example" in deleted
    assert "otra.example" not in body


def test_a_password_value_is_never_shown_even_if_a_record_held_one(emisopt_client, acme):
    account = make_account(acme)
    AuditRecord.objects.create(
        action="update",
        account=account,
        company=acme,
        changes={"password": ["vieja-secreta", "nueva-secreta"], "token": "gAAAA-secreto"},
    )
    body = emisopt_client.get(f"{HISTORY}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert "Contraseña: cambiada" in body
    assert "secreta" not in body and "secreto" not in body


def test_a_removed_password_is_said(emisopt_client, roles, acme):
    account = make_account(acme, password="guardada")
    AuditRecord.objects.create(
        action="update", account=account, company=acme, changes={"password": "removed"}
    )
    body = emisopt_client.get(f"{HISTORY}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert "Contraseña: quitada" in body and "guardada" not in body


def test_system_account_history_is_readable_without_pcsmtpg(emisopt_client, roles, system_account):
    AuditRecord.objects.create(
        actor=roles["full"],
        action="update",
        account=system_account,
        changes={"enabled": [True, False], "security": ["starttls", "tls"]},
    )
    body = emisopt_client.get(f"{HISTORY}?empresa=ACME&cuenta={system_account.pk}").content.decode()
    [row] = rows(body)
    assert "sistemas" in row and "Habilitada: sí → no" in row
    assert "Seguridad: STARTTLS → SSL/TLS" in row


def test_the_screen_links_to_the_history(emisopt_client, company_account, system_account):
    screen = emisopt_client.get(CXC).content.decode()
    assert f'href="{HISTORY}?empresa=ACME"' in screen
    assert f"{HISTORY}?empresa=ACME&amp;cuenta={company_account.pk}" in screen
    assert f"{HISTORY}?empresa=ACME&amp;cuenta={system_account.pk}" in screen
    edit = emisopt_client.get(f"{CXC}?empresa=ACME&cuenta={company_account.pk}").content.decode()
    assert 'id="account-history"' in edit


def test_english(emisopt_client, company_account):
    AuditRecord.objects.create(
        action="update",
        account=company_account,
        company=company_account.company,
        changes={"port": [587, 465], "password": "changed"},
    )
    emisopt_client.post(reverse("set_language"), {"language": "en", "next": CXC})
    body = emisopt_client.get(f"{HISTORY}?empresa=ACME").content.decode()
    assert "Change history" in body and "Port: 587 → 465" in body
    assert "Password: changed" in body


def test_a_system_account_s_history_hides_what_it_was_in_another_company(roles, settings, acme):
    """An ACME account moved to the system (PCSMTPG) is visible to every EMISOPT holder; its
    ACME-era records (senders, servers, "Empresa: ACME") stay ACME's."""
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    full = Client()
    full.force_login(roles["full"])
    assert full.post(CXC, form(sender="secreto@acme.example", port="2525")).status_code == 302
    account = SmtpAccount.objects.get()
    moved = form(cuenta=account.pk, scope="system", sender="avisos@sistema.example", password="")
    assert full.post(CXC, moved).status_code == 302
    account.refresh_from_db()
    assert account.company is None
    outsider = Client()
    outsider.force_login(roles["other"])
    body = outsider.get(f"{HISTORY}?empresa=OTRA&cuenta={account.pk}").content.decode()
    assert "secreto@acme.example" not in body
    own = full.get(f"{HISTORY}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert "secreto@acme.example" in own  # ACME's own people still see all of it
