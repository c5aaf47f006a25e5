"""Provider presets on the screen: recognised from the Usuario address, or picked."""

import pytest
from django.test import Client

from emisario.accounts.models import AuditRecord, SmtpAccount
from tests.console.test_permissions import CXC, form


@pytest.fixture
def client(roles):
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def test_gmail_address_shows_the_provider_and_the_app_password_note(client):
    body = client.post(CXC, form(action="proveedor", sender="cobranza@gmail.com")).content.decode()
    hint = body.split('id="preset-hint"')[1].split("</aside>")[0]
    assert "smtp.gmail.com" in hint and "465" in hint
    assert "contraseña de aplicación" in hint and "verificación en dos pasos" in hint
    assert 'value="smtp.gmail.com"' in body and 'value="465"' in body
    assert SmtpAccount.objects.count() == 0 and AuditRecord.objects.count() == 0


def test_picking_sendgrid_fills_the_login_and_drops_the_password(client):
    body = client.post(
        CXC, form(action="proveedor", preset="sendgrid", sender="avisos@acme.example")
    ).content.decode()
    assert 'value="smtp.sendgrid.net"' in body and 'value="587"' in body
    assert 'value="apikey"' in body and "«apikey»" in body
    assert "otra-clave" not in body


def test_unknown_provider_asks_to_choose(client):
    body = client.post(CXC, form(action="proveedor", sender="a@acme.example")).content.decode()
    assert "Elija un proveedor" in body


def test_saved_gmail_account_shows_the_notes(client, acme):
    from tests.factories import make_account

    account = make_account(acme, sender="cobros.acme@gmail.com", host="smtp.gmail.com", port=465)
    body = client.get(f"{CXC}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert 'id="preset-hint"' in body and "contraseña de aplicación" in body
