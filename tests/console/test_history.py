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


def account_history(user, company_code, account) -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"{HISTORY}?empresa={company_code}&cuenta={account.pk}").content.decode()


def company_history(user, company_code) -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"{HISTORY}?empresa={company_code}").content.decode()


def test_a_move_system_acme_system_shows_each_company_only_its_own_values(roles, acme):
    """A move writes one record for the old owner and one for the new: each holds only what
    its owner may know (its own values, and the system's, which every EMISOPT holder sees)."""
    full = Client()
    full.force_login(roles["full"])
    created = form(scope="system", sender="sys@erp.example", port="2525")
    assert full.post(CXC, created).status_code == 302
    account = SmtpAccount.objects.get()
    into_acme = form(cuenta=account.pk, sender="secreto@acme.example", password="")
    assert full.post(CXC, into_acme).status_code == 302
    account.refresh_from_db()
    assert account.company == acme
    back = form(cuenta=account.pk, scope="system", sender="vuelta@erp.example", password="")
    assert full.post(CXC, back).status_code == 302
    account.refresh_from_db()
    assert account.company is None

    outsider = account_history(roles["other"], "OTRA", account)  # a system account again
    assert "sys@erp.example" in outsider and "vuelta@erp.example" in outsider
    assert "secreto@acme.example" not in outsider
    assert "ACME" not in outsider.split('id="history"')[1]  # nor whose it was meanwhile
    assert "Empresa: sistema → otra empresa" in outsider, rows(outsider)
    assert "Empresa: otra empresa → sistema" in outsider

    own = company_history(roles["full"], "ACME")  # ACME's company history: both moves
    moves = [row for row in rows(own) if "Empresa:" in row]
    assert len(moves) == 2, moves
    assert "Empresa: sistema → ACME" in moves[1]
    assert "Usuario: sys@erp.example → secreto@acme.example" in moves[1]
    assert "Empresa: ACME → sistema" in moves[0]
    assert "Usuario: secreto@acme.example → vuelta@erp.example" in moves[0]
    assert AuditRecord.objects.filter(company=None, changes__has_key="sender").exists()
    for record in AuditRecord.objects.filter(company=None):  # nothing of ACME's is stored there
        assert "acme" not in str(record.changes).lower(), record.changes


def test_a_move_between_two_companies_shows_each_only_its_own_values(roles, acme, otra):
    from emisario.accounts.services import AccountInput, account_save
    from emisario.core.smtp.endpoint import SecurityMode
    from tests.factories import interno, make_user

    both = make_user("ambas", perms=("EMISOPT",), companies=[acme, otra])

    def values(company, sender):
        return AccountInput(
            company=company,
            account_type=interno(),
            priority=3,
            host="127.0.0.1",
            port=2525,
            security=SecurityMode.NONE,
            sender=sender,
        )

    account = account_save(
        actor=both, account=None, data=values(acme, "secreto@acme.example"), typed_password=None
    ).account
    account_save(
        actor=both, account=account, data=values(otra, "nuevo@otra.example"), typed_password=None
    )

    acme_only = company_history(roles["full"], "ACME")
    assert "secreto@acme.example" in acme_only
    assert "nuevo@otra.example" not in acme_only
    assert "Empresa: ACME → OTRA" in acme_only, rows(acme_only)

    otra_only = company_history(roles["other"], "OTRA")
    assert "nuevo@otra.example" in otra_only
    assert "secreto@acme.example" not in otra_only
    assert "Empresa: ACME → OTRA" in otra_only  # the move itself is in OTRA's history

    both_pages = account_history(both, "OTRA", account)
    assert "secreto@acme.example" in both_pages and "nuevo@otra.example" in both_pages


def test_a_move_recorded_before_the_fix_stays_with_its_company(roles, acme, system_account):
    # Written by the old code: a system -> ACME move stored as a system record with ACME's values.
    AuditRecord.objects.create(
        action="update",
        account=system_account,
        company=None,
        account_label="secreto@acme.example",
        changes={
            "company": [None, "ACME"],
            "sender": ["sistema@erp.example", "secreto@acme.example"],
        },
    )
    assert "secreto@acme.example" not in account_history(roles["other"], "OTRA", system_account)
    assert "secreto@acme.example" in account_history(roles["full"], "ACME", system_account)
    # ... and an ACME -> OTRA move as ACME's record holding OTRA's values.
    AuditRecord.objects.create(
        action="update",
        company=acme,
        account_label="nuevo@otra.example",
        changes={"company": ["ACME", "OTRA"], "sender": ["a@acme.example", "nuevo@otra.example"]},
    )
    assert "nuevo@otra.example" not in company_history(roles["full"], "ACME")
