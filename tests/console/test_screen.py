"""The seed's screen: both routes, its exact words, Guardar, validation, language."""

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts import crypto
from emisario.accounts.models import AuditRecord, SmtpAccount
from tests.console.test_permissions import CXC, EMI, form
from tests.factories import make_account

SEED_WORDS = ["Servidor SMTP", "Usuario", "Contraseña", "Puerto", "SSL", "Probar", "Guardar"]


@pytest.fixture
def client_full(roles, settings):
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]  # form()'s server; see test_network_policy
    client = Client()
    client.force_login(roles["full"])
    return client


@pytest.mark.parametrize(
    ("url", "crumbs"),
    [
        (CXC, ["CXC", "Sistema", "Envío de correos"]),
        (EMI, ["Emisario", "Sistema", "Configuración"]),
    ],
    ids=["cxc-route", "emisario-route"],
)
def test_both_routes_show_the_seed_screen(client_full, url, crumbs):
    body = client_full.get(url).content.decode()
    for word in [*SEED_WORDS, *crumbs, ">SMTP<"]:
        assert word in body
    assert 'name="action" value="probar"' in body and 'name="action" value="guardar"' in body


def test_menu_holds_both_routes(client_full):
    body = client_full.get(reverse("console:menu")).content.decode()
    for word in ["CXC", "Sistema", "Envío de correos", "Emisario", "Configuración"]:
        assert word in body
    assert f'href="{CXC}"' in body and f'href="{EMI}"' in body


def test_guardar_stores_an_encrypted_password_and_audits_without_it(client_full, roles):
    response = client_full.post(CXC, form(password="MiClave-Secreta-9"))
    assert response.status_code == 302
    account = SmtpAccount.objects.get()
    assert (account.host, account.port, account.security) == ("127.0.0.1", 2525, "starttls")
    assert account.company.code == "ACME" and account.created_by == roles["full"]
    assert "MiClave" not in account.password_token
    assert crypto.decrypt(account.password_token).reveal() == "MiClave-Secreta-9"
    record = AuditRecord.objects.get()
    assert record.action == "create" and record.actor == roles["full"]
    assert record.changes["password"] == "changed"
    assert "MiClave" not in str(record.changes)
    page = client_full.get(response.url)
    body = page.content.decode()
    assert "La configuración quedó guardada" in body
    assert "MiClave" not in body and account.password_token not in body


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "smtp .gmail.com", "Escriba un nombre de servidor"),
        ("host", "", "Este campo es obligatorio"),
        ("host", "smtp.gmail.com\r\nRCPT TO:<x@y.com>", "No se permiten saltos de línea"),
        ("port", "0", "El puerto debe ser un número del 1 al 65535"),
        ("port", "65536", "El puerto debe ser un número del 1 al 65535"),
        ("port", "abc", "El puerto debe ser un número del 1 al 65535"),
        ("sender", "cobranza", "Escriba una dirección de correo válida"),
        ("sender", "a@b.com\nBcc: victima@x.com", "No se permiten saltos de línea"),
        ("login", "apikey\r\nAUTH", "No se permiten saltos de línea"),
        ("display_name", "Cobranza\r\nBcc: x@y.com", "No se permiten saltos de línea"),
        ("password", "clave\r\nQUIT", "No se permiten saltos de línea"),
        ("priority", "alta", "número entero"),
    ],
    ids=[
        "host-space",
        "host-empty",
        "host-crlf",
        "port-0",
        "port-65536",
        "port-text",
        "sender-no-at",
        "sender-lf",
        "login-crlf",
        "display-crlf",
        "password-crlf",
        "priority-text",
    ],
)
def test_guardar_refuses_bad_input_in_spanish(client_full, field, value, message):
    response = client_full.post(CXC, form(**{field: value}))
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert SmtpAccount.objects.count() == 0
    assert "otra-clave" not in body  # the typed password is never rendered back


def test_blank_password_keeps_the_stored_one(client_full, company_account):
    response = client_full.post(
        CXC,
        form(
            cuenta=company_account.pk,
            password="",
            host="smtp.example.com",
            port="587",
            sender="cobranza@acme.example",
            priority="9",
        ),
    )
    assert response.status_code == 302
    company_account.refresh_from_db()
    assert company_account.priority == 9
    assert crypto.decrypt(company_account.password_token).reveal() == "secreto"
    changes = AuditRecord.objects.get(action="update").changes
    assert changes == {"priority": [5, 9]}


@pytest.mark.parametrize("action", ["guardar", "probar"])
@pytest.mark.parametrize(
    "change",
    [{"host": "smtp.attacker.example"}, {"port": "2525"}, {"ssl": ""}],
    ids=["host", "port", "security"],
)
def test_changed_server_needs_the_password_retyped(client_full, company_account, action, change):
    data = form(
        action=action,
        cuenta=company_account.pk,
        password="",
        host="smtp.example.com",
        port="587",
        sender="cobranza@acme.example",
    )
    data.update(change)
    response = client_full.post(CXC, data)
    assert response.status_code == 200
    assert "Escriba la contraseña de nuevo" in response.content.decode()
    company_account.refresh_from_db()
    assert company_account.host == "smtp.example.com" and company_account.port == 587
    assert not AuditRecord.objects.filter(action="test").exists()  # nothing was contacted


def test_edit_page_never_renders_the_password(client_full, company_account):
    body = client_full.get(f"{CXC}?empresa=ACME&cuenta={company_account.pk}").content.decode()
    assert "secreto" not in body and company_account.password_token not in body
    assert "Déjela en blanco para conservar la contraseña guardada." in body


def test_account_in_use_is_the_highest_priority(client_full, acme):
    make_account(acme, sender="baja@acme.example", priority=1)
    make_account(acme, sender="alta@acme.example", priority=7)
    make_account(acme, sender="apagada@acme.example", priority=99, enabled=False)
    body = client_full.get(CXC).content.decode()
    in_use = body.split("Cuenta en uso:</strong>")[1].split("</p>")[0]
    assert "alta@acme.example" in in_use
    assert "prioridad más alta (7)" in in_use
    assert "Cuentas deshabilitadas omitidas: 1." in in_use


def test_system_account_is_used_when_the_company_has_none(client_full, system_account):
    body = client_full.get(CXC).content.decode()
    in_use = body.split("Cuenta en uso:</strong>")[1].split("</p>")[0]
    assert "sistema@erp.example" in in_use and "cuenta default del sistema" in in_use


def test_generic_account_and_no_account(client_full, settings):
    body = client_full.get(CXC).content.decode()
    assert "Ninguna cuenta puede enviar correos de este tipo" in body
    settings.EMISARIO_GENERIC_SMTP_URL = "smtps://admin%40erp.example:x@smtp.erp.example"
    body = client_full.get(CXC).content.decode()
    assert "cuenta genérica proporcionada por el administrador del sistema" in body
    assert "admin@erp.example" in body


def test_english_only_when_chosen(client_full):
    spanish = client_full.get(CXC, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Servidor SMTP" in spanish  # the browser's language does not switch it
    client_full.post(reverse("set_language"), {"language": "en", "next": CXC})
    english = client_full.get(CXC).content.decode()
    for word in ["SMTP server", "Password", "Port", ">Test<", ">Save<", "Mail sending"]:
        assert word in english


def test_delete_is_audited(client_full, company_account):
    url = reverse("console:account_remove", args=["emisario", company_account.pk])
    response = client_full.post(url)
    assert response.status_code == 302 and response.url.startswith(EMI)
    assert not SmtpAccount.objects.exists()
    record = AuditRecord.objects.get(action="delete")
    assert record.account_label.startswith("cobranza@acme.example")


def test_unknown_action_is_a_bad_request(client_full):
    assert client_full.post(CXC, form(action="borrar-todo")).status_code == 400
