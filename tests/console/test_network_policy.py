"""Guardar applies the network policy Probar applies: a refused server or port is an error on
its field, in Probar's words, and nothing is stored."""

import pytest
from django.test import Client
from django.utils.html import escape

from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.console import messages as texts
from emisario.console.advice_catalogue import advice_text
from tests.console.test_permissions import CXC, form


@pytest.fixture
def client(roles):
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def field_errors(body: str, field: str) -> str:
    return body.split(f'class="field field-{field} has-error"')[1].split("</div>")[0]


@pytest.mark.parametrize(
    ("host", "port", "field"),
    [
        ("10.0.0.5", "587", "host"),
        ("169.254.169.254", "587", "host"),
        ("localhost", "587", "host"),
        ("smtp.gmail.com", "8080", "port"),
    ],
    ids=["private", "metadata", "name-to-loopback", "port-not-allowed"],
)
def test_guardar_refuses_what_probar_refuses(client, host, port, field):
    response = client.post(CXC, form(host=host, port=port))
    assert response.status_code == 200
    body = response.content.decode()
    title, fix = advice_text("policy_refused", "es", host=host, port=port)
    assert escape(title) in field_errors(body, field)
    assert escape(fix) in field_errors(body, field)
    assert not SmtpAccount.objects.exists() and not AuditRecord.objects.exists()
    assert "otra-clave" not in body


def test_an_allowed_server_is_saved(client, settings):
    settings.EMISARIO_PROBE_ALLOW = ["10.0.0.0/8"]
    response = client.post(CXC, form(host="10.0.0.5", port="587"))
    assert response.status_code == 302
    assert SmtpAccount.objects.get().host == "10.0.0.5"
    body = client.get(response.url).content.decode()
    assert "La configuración quedó guardada" in body


def test_a_name_that_does_not_resolve_is_saved_with_a_warning(client):
    response = client.post(CXC, form(host="smtp.acme.invalid", port="587"))
    assert response.status_code == 302
    assert SmtpAccount.objects.get().host == "smtp.acme.invalid"
    body = client.get(response.url).content.decode()
    warning = str(texts.SAVED_UNRESOLVED % {"host": "smtp.acme.invalid"})
    assert escape(warning) in body
    assert "no se pudo consultar" in body  # in Spanish
