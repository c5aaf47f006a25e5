"""Aplicaciones OAuth: PCSMTPG holders register Emisario's client at each provider; the
secret is encrypted, never shown again, and the accounts' sign-in uses it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts import crypto, oauth
from emisario.accounts.models import AuditRecord, OAuthApplication

pytestmark = pytest.mark.django_db
URL = reverse("console:oauth_apps", args=["emisario"])


def post(client, provider="microsoft", **values):
    data = {"provider": provider}
    data.update({f"{provider}-{k}": v for k, v in values.items()})
    return client.post(URL, data)


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("noperm", 403), ("emisopt", 403), ("full", 200), ("other", 200)],
)
def test_only_pcsmtpg_holders_open_it(roles, role, status):
    client = Client()
    if role != "anonymous":
        client.force_login(roles[role])
    response = client.get(URL)
    assert response.status_code == status
    if status == 403:  # the 403 names the permission missing
        assert ("EMISOPT" if role == "noperm" else "PCSMTPG") in response.content.decode()
    response = post(client, client_id="x", client_secret="y")
    assert response.status_code == (302 if status == 200 else status)
    assert OAuthApplication.objects.exists() is (status == 200)


def test_saving_stores_the_secret_encrypted_and_never_shows_it(roles, settings):
    settings.EMISARIO_OAUTH_MICROSOFT_CLIENT_ID = ""
    client = Client()
    client.force_login(roles["full"])
    assert "Sin configurar" in client.get(URL).content.decode()
    response = post(
        client, client_id="0c1a2b3c-app", client_secret="s3cr3t-valor", tenant="contoso.example"
    )
    assert response.status_code == 302
    row = OAuthApplication.objects.get(provider="microsoft")
    assert "s3cr3t-valor" not in row.client_secret_token
    assert crypto.decrypt(row.client_secret_token).reveal() == "s3cr3t-valor"
    page = client.get(URL).content.decode()
    assert "s3cr3t-valor" not in page and "Hay un secreto guardado" in page
    registered = oauth.registration("microsoft")
    assert registered.application.client_id == "0c1a2b3c-app"
    assert "/contoso.example/" in registered.provider.token_url
    record = AuditRecord.objects.get(action="oauth_app")
    assert record.changes["client_secret"] == "changed" and "s3cr3t" not in str(record.changes)
    # blank keeps the secret
    post(client, client_id="0c1a2b3c-app", client_secret="", tenant="contoso.example")
    row.refresh_from_db()
    assert crypto.decrypt(row.client_secret_token).reveal() == "s3cr3t-valor"


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"client_id": "a b", "client_secret": "x"}, "Copie el id de cliente"),
        ({"client_id": "ok", "client_secret": ""}, "Escriba el secreto"),
        ({"client_id": "ok", "client_secret": "x", "tenant": "../common"}, "id del directorio"),
        ({"client_id": "ok\r\nX-Evil: 1", "client_secret": "x"}, "Copie el id de cliente"),
    ],
)
def test_bad_values_get_a_spanish_error_and_nothing_is_saved(roles, values, error):
    client = Client()
    client.force_login(roles["full"])
    response = post(client, **values)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not OAuthApplication.objects.exists()


def test_google_has_no_tenant_and_an_unknown_provider_is_404(roles):
    client = Client()
    client.force_login(roles["full"])
    assert post(client, "google", client_id="g.apps", client_secret="x").status_code == 302
    assert OAuthApplication.objects.get(provider="google").tenant == ""
    assert client.post(URL, {"provider": "yahoo"}).status_code == 404


def test_the_smtp_screen_links_it_for_pcsmtpg_holders_only(roles, acme):
    full, emisopt = Client(), Client()
    full.force_login(roles["full"])
    emisopt.force_login(roles["emisopt"])
    screen = reverse("console:smtp_emisario") + "?empresa=ACME"
    assert URL in full.get(screen).content.decode()
    assert URL not in emisopt.get(screen).content.decode()
