"""Conectar on the SMTP screen, end to end against the local authorization server: the
redirect with PKCE, consent, the callback that stores the grant, Probar through XOAUTH2, and
every callback that must be refused (wrong state, replay, another user, another company's
account, another mailbox). No token in any page."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts import crypto
from emisario.accounts.models import AuditRecord, AuthMethod, GrantStatus, OAuthGrant, SmtpAccount
from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd
from tests.console.test_permissions import CXC, form
from tests.factories import make_account, make_user
from tests.support.oauth import CLIENT_ID, MAILBOX, consent
from tests.support.scenarios import USERS

pytestmark = pytest.mark.django_db
CALLBACK = reverse("oauth_callback")
RETIRED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."


@pytest.fixture
def token_smtpd(ca, microsoft_settings, settings, tmp_path):
    server = LoopbackSmtpd(
        USERS, listeners=(STARTTLS,), ca=ca, token_checker=microsoft_settings.smtp_checker(),
        password_refusal=RETIRED,
    )  # fmt: skip
    microsoft_settings.add_redirect_uri(CLIENT_ID, "http://testserver" + CALLBACK)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.EMISARIO_PROBE_CA_FILE = str(ca_file)
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    with server:
        settings.EMISARIO_PROBE_PORTS = [server.ports[STARTTLS]]
        yield server


def oauth_account(company, server, **fields):
    values = {
        "host": "127.0.0.1",
        "port": server.ports[STARTTLS],
        "security": "starttls",
        "sender": MAILBOX,
        "password": None,
        "auth_method": AuthMethod.OAUTH,
        "oauth_provider": "microsoft",
    }
    values.update(fields)
    return make_account(company, **values)


def connect_url(account, route="cxc"):
    return reverse("console:oauth_connect", args=[route, account.pk])


def start(client, account) -> str:
    """Press Conectar: the provider's sign-in URL it redirects to."""
    response = client.post(connect_url(account))
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def finish(client, query: dict):
    return client.get(CALLBACK, query)


def test_conectar_stores_the_grant_and_probar_sends_through_it(
    emisopt_client, acme, token_smtpd, microsoft_settings
):
    account = oauth_account(acme, token_smtpd)
    page = emisopt_client.get(f"{CXC}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert "Conectar con Microsoft" in page and "No conectada" in page
    url = start(emisopt_client, account)
    assert url.startswith(microsoft_settings.authority + "/organizations/oauth2/v2.0/authorize")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge_method"] == "S256" and query["login_hint"] == MAILBOX
    assert query["redirect_uri"] == "http://testserver" + CALLBACK
    back = finish(emisopt_client, consent(url))
    assert back.status_code == 302
    assert back["Location"].endswith(f"?empresa=ACME&cuenta={account.pk}")
    grant = OAuthGrant.objects.get(account=account)
    assert grant.mailbox == MAILBOX and grant.status == GrantStatus.ACTIVE
    assert grant.connected_by.username == "cobros"
    assert AuditRecord.objects.filter(account=account, action="connect").exists()
    history = emisopt_client.get(
        reverse("console:history_cxc"), {"empresa": "ACME", "cuenta": account.pk}
    ).content.decode()
    assert f"OAuth: conectada como {MAILBOX}" in history
    page = emisopt_client.get(back["Location"]).content.decode()
    assert "Conectada" in page and MAILBOX in page
    for token in microsoft_settings.active_access_tokens():
        assert token not in page
    assert crypto.decrypt(grant.refresh_token_token).reveal() not in page
    probar = emisopt_client.post(
        CXC,
        form(
            action="probar", cuenta=account.pk, host="127.0.0.1",
            port=str(token_smtpd.ports[STARTTLS]), sender=MAILBOX, password="",
            auth_method="oauth", oauth_provider="microsoft",
        ),
    )  # fmt: skip
    body = probar.content.decode()
    assert "Correo enviado satisfactoriamente" in body
    assert 'data-step="oauth"' in body
    assert token_smtpd.bearer_logins == [("XOAUTH2", MAILBOX, True)]
    for token in microsoft_settings.active_access_tokens():
        assert token not in body


def test_a_wrong_state_is_refused(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    query = consent(start(emisopt_client, account))
    query["state"] = "not-the-state"
    response = finish(emisopt_client, query)
    assert response.status_code == 302
    assert not OAuthGrant.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("no se reconoce" in m for m in messages)


def test_a_state_works_once(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    url = start(emisopt_client, account)
    finish(emisopt_client, consent(url))
    OAuthGrant.objects.all().delete()
    nonce = dict(parse_qsl(urlsplit(url).query))["nonce"]
    again = consent(url.replace(nonce, "another-nonce"))  # a fresh code, the same state
    response = finish(emisopt_client, again)
    assert not OAuthGrant.objects.exists()
    assert any("ya se usó" in str(m) for m in response.wsgi_request._messages)


def test_a_state_older_than_ten_minutes_is_refused(emisopt_client, acme, token_smtpd):
    from emisario.console.views.oauth import PENDING

    account = oauth_account(acme, token_smtpd)
    query = consent(start(emisopt_client, account))
    session = emisopt_client.session
    pending = session[PENDING]
    pending[query["state"]]["at"] -= 601
    session[PENDING] = pending
    session.save()
    finish(emisopt_client, query)
    assert not OAuthGrant.objects.exists()


def test_another_users_callback_is_refused(emisopt_client, acme, roles, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    query = consent(start(emisopt_client, account))
    colleague = Client()
    colleague.force_login(make_user("colega", perms=("EMISOPT",), companies=[acme]))
    start(colleague, account)  # a sign-in of their own is pending: the state is still not theirs
    finish(colleague, query)
    assert not OAuthGrant.objects.exists()


def test_an_account_changed_during_the_sign_in_gets_no_grant(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    query = consent(start(emisopt_client, account))
    SmtpAccount.objects.filter(pk=account.pk).update(host="smtp.elsewhere.example")
    response = finish(emisopt_client, query)
    assert not OAuthGrant.objects.exists()
    assert any("cambiaron mientras" in str(m) for m in response.wsgi_request._messages)


def test_app_only_needs_pcsmtpg(emisopt_client, acme, roles, token_smtpd):
    values = form(
        auth_method="oauth_app", oauth_provider="microsoft", password="",
        port=str(token_smtpd.ports[STARTTLS]),
    )  # fmt: skip
    body = emisopt_client.post(CXC, values).content.decode()
    assert "oauth_app" not in body.split('id="id_auth_method"')[1].split("</select>")[0]
    assert not SmtpAccount.objects.exists()
    full = Client()
    full.force_login(roles["full"])
    assert full.post(CXC, values).status_code == 302
    assert SmtpAccount.objects.get().auth_method == "oauth_app"


def test_another_companys_account_cannot_be_connected(roles, otra, token_smtpd):
    foreign = oauth_account(otra, token_smtpd, sender="cobranza@otra.example")
    client = Client()
    client.force_login(roles["emisopt"])  # a member of ACME only
    assert client.post(connect_url(foreign)).status_code == 404


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("noperm", 403), ("emisopt", 403), ("full", 302)]
)
def test_connecting_a_system_account_needs_pcsmtpg(roles, token_smtpd, role, status):
    account = oauth_account(None, token_smtpd)
    client = Client()
    if role != "anonymous":
        client.force_login(roles[role])
    response = client.post(connect_url(account))
    assert response.status_code == status
    if role == "anonymous":
        assert "/acceso/" in response["Location"]


def test_the_callback_needs_a_signed_in_user_with_emisopt(roles, acme, token_smtpd):
    assert Client().get(CALLBACK, {"state": "x", "code": "y"}).status_code == 302
    client = Client()
    client.force_login(roles["noperm"])
    assert client.get(CALLBACK, {"state": "x", "code": "y"}).status_code == 403


def test_conectar_is_a_post(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    assert emisopt_client.get(connect_url(account)).status_code == 405


def test_signing_in_as_another_mailbox_stores_nothing(
    emisopt_client, acme, token_smtpd, microsoft_settings
):
    microsoft_settings.users.add("otra.persona@acme.example")
    account = oauth_account(acme, token_smtpd)
    query = consent(start(emisopt_client, account), login="otra.persona@acme.example")
    response = finish(emisopt_client, query)
    assert not OAuthGrant.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("otra.persona@acme.example" in m and MAILBOX in m for m in messages)


def test_cancelling_at_the_provider_changes_nothing(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    query = consent(start(emisopt_client, account), decision="deny")
    assert query["error"] == "access_denied"
    response = finish(emisopt_client, query)
    assert response.status_code == 302 and not OAuthGrant.objects.exists()


def test_a_password_account_gets_no_conectar(emisopt_client, acme, token_smtpd):
    account = make_account(acme, host="127.0.0.1", port=token_smtpd.ports[STARTTLS])
    response = emisopt_client.post(connect_url(account))
    assert response.status_code == 302
    assert not OAuthGrant.objects.exists()


def test_saving_another_login_name_drops_the_grant(
    emisopt_client, acme, token_smtpd, microsoft_settings
):
    account = oauth_account(acme, token_smtpd)
    finish(emisopt_client, consent(start(emisopt_client, account)))
    assert OAuthGrant.objects.filter(account=account).exists()
    response = emisopt_client.post(
        CXC,
        form(
            cuenta=account.pk, host="127.0.0.1", port=str(token_smtpd.ports[STARTTLS]),
            sender=MAILBOX, password="", auth_method="oauth", oauth_provider="microsoft",
            login="otro.nombre@acme.example",
        ),
    )  # fmt: skip
    assert response.status_code == 302
    assert not OAuthGrant.objects.filter(account=account).exists()


def test_probar_of_unsaved_changes_sends_no_token(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    finish(emisopt_client, consent(start(emisopt_client, account)))
    with LoopbackSmtpd(
        USERS, listeners=(STARTTLS,), ca=token_smtpd.ca, token_checker=None
    ) as other:
        response = emisopt_client.post(
            CXC,
            form(
                action="probar", cuenta=account.pk, host="127.0.0.1",
                port=str(other.ports[STARTTLS]), sender=MAILBOX, password="",
                auth_method="oauth", oauth_provider="microsoft",
            ),
        )  # fmt: skip
    body = response.content.decode()
    assert "Correo enviado satisfactoriamente" not in body
    assert other.bearer_logins == []


def test_a_password_with_oauth_is_refused(emisopt_client, acme, token_smtpd):
    response = emisopt_client.post(
        CXC, form(auth_method="oauth", oauth_provider="microsoft", password="secreto")
    )
    assert response.status_code == 200
    assert "no tiene contraseña" in response.content.decode()


def test_oauth_without_a_provider_is_refused(emisopt_client, acme):
    response = emisopt_client.post(CXC, form(auth_method="oauth", password=""))
    assert "Elija el proveedor" in response.content.decode()


def test_the_microsoft_365_preset_offers_oauth_first(emisopt_client, acme):
    response = emisopt_client.post(
        CXC, form(action="proveedor", preset="microsoft365", password="")
    )
    body = response.content.decode()
    assert '<option value="oauth" selected>' in body
    assert '<option value="microsoft" selected>' in body


def test_a_retired_password_offers_the_switch_to_oauth_in_one_click(
    emisopt_client, acme, token_smtpd
):
    port = str(token_smtpd.ports[STARTTLS])
    values = form(action="probar", host="127.0.0.1", port=port, sender=MAILBOX, password="x1")
    body = emisopt_client.post(CXC, values).content.decode()
    assert "Microsoft 365 ya no acepta contraseñas" in body
    assert 'value="oauth" class="primary">Cambiar a OAuth 2.0</button>' in body
    values.update(action="oauth", proveedor_oauth="microsoft")
    switched = emisopt_client.post(CXC, values).content.decode()
    assert '<option value="oauth" selected>' in switched
    assert '<option value="microsoft" selected>' in switched
    assert "x1" not in switched and "Pulse Guardar y luego Conectar con Microsoft" in switched
    assert not SmtpAccount.objects.exists()  # nothing saved by the switch itself


def test_detectar_checks_a_connected_accounts_token_on_its_own_server(
    emisopt_client, acme, token_smtpd, settings
):
    account = oauth_account(acme, token_smtpd)
    port = str(token_smtpd.ports[STARTTLS])
    settings.EMISARIO_DETECT_COMBINATIONS = [f"{port}/starttls"]
    values = form(
        action="detectar", cuenta=account.pk, host="127.0.0.1", port=port, sender=MAILBOX,
        password="", auth_method="oauth", oauth_provider="microsoft",
    )  # fmt: skip
    emisopt_client.post(CXC, values)  # not connected yet: nothing to check, nothing sent
    assert token_smtpd.bearer_logins == []
    finish(emisopt_client, consent(start(emisopt_client, account)))
    body = emisopt_client.post(CXC, {**values, "envio": "otro"}).content.decode()
    assert 'id="detection"' in body
    assert token_smtpd.bearer_logins == [("XOAUTH2", MAILBOX, True)]
    assert "aceptada" in body.split('id="detection"')[1]


def test_the_accounts_table_shows_the_oauth_state(emisopt_client, acme, token_smtpd):
    account = oauth_account(acme, token_smtpd)
    screen = f"{CXC}?empresa=ACME"
    table = emisopt_client.get(screen).content.decode().split('id="accounts-title"')[1]
    assert "OAuth: No conectada" in table
    finish(emisopt_client, consent(start(emisopt_client, account)))
    OAuthGrant.objects.filter(account=account).update(status=GrantStatus.RECONNECT)
    table = emisopt_client.get(screen).content.decode().split('id="accounts-title"')[1]
    assert '<span class="badge bad">Requiere reconexión</span>' in table
