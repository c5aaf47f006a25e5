"""Every view x every role: anonymous, no permission, EMISOPT, EMISOPT+PCSMTPG, another company."""

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts.models import SmtpAccount
from tests.factories import interno

ROLES = ["anonymous", "noperm", "emisopt", "full", "other"]
CLOSED = 1  # nothing listens on port 1 of loopback
CXC = reverse("console:smtp_cxc")
EMI = reverse("console:smtp_emisario")
HISTORY = reverse("console:history_cxc")


def form(**extra):
    data = {
        "empresa": "ACME",
        "host": "127.0.0.1",
        "sender": "nueva@acme.example",
        "password": "otra-clave",
        "port": "2525",
        "ssl": "on",
        "security": "",
        "account_type": str(interno().pk),
        "priority": "3",
        "enabled": "on",
        "scope": "company",
        "action": "guardar",
    }
    data.update(extra)
    return data


CASES = {
    # name: (method, url, data, {role: expected status})
    "menu": ("get", lambda a: "/", None, dict(noperm=200, emisopt=200, full=200, other=200)),
    "screen-cxc": (
        "get",
        lambda a: CXC + "?empresa=ACME",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "screen-emisario": (
        "get",
        lambda a: EMI + "?empresa=ACME",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "edit-company-account": (
        "get",
        lambda a: f"{CXC}?empresa=ACME&cuenta={a['company'].pk}",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "view-system-account": (
        "get",
        lambda a: f"{CXC}?empresa=ACME&cuenta={a['system'].pk}",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "save-new-company-account": (
        "post",
        lambda a: CXC,
        lambda a: form(),
        dict(noperm=403, emisopt=302, full=302, other=404),
    ),
    "save-new-system-account": (
        "post",
        lambda a: CXC,
        lambda a: form(scope="system"),
        dict(noperm=403, emisopt=403, full=302, other=404),
    ),
    "update-system-account": (
        "post",
        lambda a: CXC,
        lambda a: form(scope="system", cuenta=a["system"].pk),
        dict(noperm=403, emisopt=403, full=302, other=404),
    ),
    "probar-company": (
        "post",
        lambda a: EMI,
        lambda a: form(action="probar"),
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "probar-system-account": (
        "post",
        lambda a: EMI,
        lambda a: form(action="probar", scope="system", cuenta=a["system"].pk),
        dict(noperm=403, emisopt=403, full=200, other=404),
    ),
    "detectar-company": (
        "post",
        lambda a: EMI,
        lambda a: form(action="detectar"),
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "detectar-system-account": (
        "post",
        lambda a: EMI,
        lambda a: form(action="detectar", scope="system", cuenta=a["system"].pk),
        dict(noperm=403, emisopt=403, full=200, other=404),
    ),
    # Another company's account named with one's own company: 404, never a way in.
    "view-other-company-account": (
        "get",
        lambda a: f"{CXC}?empresa=ACME&cuenta={a['foreign'].pk}",
        None,
        dict(noperm=403, emisopt=404, full=404, other=404),
    ),
    "save-other-company-account": (
        "post",
        lambda a: CXC,
        lambda a: form(cuenta=a["foreign"].pk, password=""),
        dict(noperm=403, emisopt=404, full=404, other=404),
    ),
    "probar-other-company-account": (
        "post",
        lambda a: CXC,
        lambda a: form(action="probar", cuenta=a["foreign"].pk, password=""),
        dict(noperm=403, emisopt=404, full=404, other=404),
    ),
    "detectar-other-company-account": (
        "post",
        lambda a: CXC,
        lambda a: form(action="detectar", cuenta=a["foreign"].pk, password=""),
        dict(noperm=403, emisopt=404, full=404, other=404),
    ),
    # A system account posted as if it were the company's: still needs PCSMTPG.
    "save-system-account-as-company": (
        "post",
        lambda a: CXC,
        lambda a: form(cuenta=a["system"].pk, scope="company"),
        dict(noperm=403, emisopt=403, full=302, other=404),
    ),
    "probar-system-account-as-company": (
        "post",
        lambda a: CXC,
        lambda a: form(action="probar", cuenta=a["system"].pk, scope="company", password=""),
        dict(noperm=403, emisopt=403, full=200, other=404),
    ),
    "delete-company-account": (
        "post",
        lambda a: reverse("console:account_remove", args=["cxc", a["company"].pk]),
        lambda a: {},
        dict(noperm=403, emisopt=302, full=302, other=404),
    ),
    "delete-system-account": (
        "post",
        lambda a: reverse("console:account_remove", args=["cxc", a["system"].pk]),
        lambda a: {},
        dict(noperm=403, emisopt=403, full=302, other=302),
    ),
    "history-company": (
        "get",
        lambda a: HISTORY + "?empresa=ACME",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "history-company-account": (
        "get",
        lambda a: f"{HISTORY}?empresa=ACME&cuenta={a['company'].pk}",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    # System default accounts are shown to every EMISOPT holder, so is their history.
    "history-system-account": (
        "get",
        lambda a: f"{HISTORY}?empresa=ACME&cuenta={a['system'].pk}",
        None,
        dict(noperm=403, emisopt=200, full=200, other=404),
    ),
    "history-other-company-account": (
        "get",
        lambda a: f"{HISTORY}?empresa=ACME&cuenta={a['foreign'].pk}",
        None,
        dict(noperm=403, emisopt=404, full=404, other=404),
    ),
    "history-other-company": (
        "get",
        lambda a: f"{HISTORY}?empresa=OTRA&cuenta={a['company'].pk}",
        None,
        dict(noperm=403, emisopt=404, full=404, other=404),
    ),
    "history-is-read-only": (
        "post",
        lambda a: HISTORY + "?empresa=ACME",
        lambda a: {},
        dict(noperm=403, emisopt=405, full=405, other=405),
    ),
    "demo-mailbox": (
        "get",
        lambda a: reverse("demo:mailbox"),
        None,
        dict(noperm=403, emisopt=200, full=200, other=200),
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(CASES))
def test_role_matrix(
    case, role, roles, company_account, system_account, foreign_account, settings, tmp_path
):
    settings.EMISARIO_DEMO_MAILDIR = str(tmp_path / "maildir")
    # The policy lets Guardar store 127.0.0.1; Probar and Detectar meet a closed port at once.
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = [CLOSED]
    settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls"]
    method, url, data, expected = CASES[case]
    accounts = {"company": company_account, "system": system_account, "foreign": foreign_account}
    snapshot = sorted(SmtpAccount.objects.values_list("pk", "company_id", "host", "password_token"))
    client = Client()
    if role != "anonymous":
        client.force_login(roles[role])
    before = SmtpAccount.objects.count()
    payload = data(accounts) if data else None
    if payload and "port" in payload:
        payload["port"] = str(CLOSED)
    response = getattr(client, method)(url(accounts), payload)
    want = 302 if role == "anonymous" else expected[role]
    assert response.status_code == want, response.content[:500]
    if role == "anonymous":
        assert response.url.startswith(reverse("login"))
    if want in (403, 404) or role == "anonymous":
        assert SmtpAccount.objects.count() == before  # nothing written
        after = sorted(
            SmtpAccount.objects.values_list("pk", "company_id", "host", "password_token")
        )
        assert after == snapshot
    if want == 403:
        body = response.content.decode()
        assert "Acceso denegado" in body
        assert ("PCSMTPG" if role == "emisopt" else "EMISOPT") in body


def test_post_without_csrf_token_is_refused(roles, acme):
    client = Client(enforce_csrf_checks=True)
    client.force_login(roles["full"])
    response = client.post(CXC, form())
    assert response.status_code == 403
    assert SmtpAccount.objects.count() == 0


def test_delete_is_post_only(roles, company_account):
    client = Client()
    client.force_login(roles["full"])
    url = reverse("console:account_remove", args=["cxc", company_account.pk])
    assert client.get(url).status_code == 405
    assert SmtpAccount.objects.filter(pk=company_account.pk).exists()


def test_system_account_is_read_only_without_pcsmtpg(roles, system_account):
    client = Client()
    client.force_login(roles["emisopt"])
    body = client.get(f"{CXC}?empresa=ACME&cuenta={system_account.pk}").content.decode()
    assert "<fieldset disabled>" in body
    assert "PCSMTPG" in body
