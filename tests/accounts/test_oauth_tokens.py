"""Access tokens for OAuth accounts, against the local authorization server: stored, reused
while fresh, refreshed before expiry (one refresh at a time), rotated refresh tokens kept, a
revoked grant turned to "requiere reconexión"."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from emisario.accounts import crypto, oauth
from emisario.accounts.models import AuthMethod, GrantStatus, OAuthApplication, OAuthGrant
from emisario.core.oauth.bearer import BearerUnavailable, Unavailable
from emisario.core.secrets import Secret, SecretBox
from emisario.demo.authserver import MICROSOFT
from tests.factories import make_account, make_company
from tests.support.oauth import CLIENT_ID, CLIENT_SECRET, MAILBOX, connect

pytestmark = pytest.mark.django_db


def oauth_account(server, **fields):
    values = {
        "password": None,
        "sender": MAILBOX,
        "auth_method": AuthMethod.OAUTH,
        "oauth_provider": server.profile,
    }
    values.update(fields)
    return make_account(make_company(), **values)


def expire_soon(grant: OAuthGrant, seconds: int = 60) -> None:
    OAuthGrant.objects.filter(pk=grant.pk).update(
        access_expires_at=timezone.now() + timedelta(seconds=seconds)
    )


def test_a_fresh_token_is_used_as_stored(oauth_settings):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    bearer = oauth.access_token(account.pk)
    assert bearer.token == crypto.decrypt(grant.access_token_token)
    assert bearer.mailbox == MAILBOX and not bearer.refreshed
    assert sum(oauth_settings.refreshes.values()) == 0
    assert oauth_settings.introspect(bearer.token.reveal())["active"]


def test_stored_tokens_are_encrypted(oauth_settings):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    active = oauth_settings.active_access_tokens()
    assert active and all(token not in grant.access_token_token for token in active)
    assert crypto.decrypt(grant.refresh_token_token).reveal() not in grant.refresh_token_token


def test_a_token_near_expiry_is_refreshed_first(oauth_settings):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    old = crypto.decrypt(grant.access_token_token)
    expire_soon(grant)
    bearer = oauth.access_token(account.pk)
    assert bearer.refreshed and bearer.token != old
    assert oauth_settings.refreshes[MAILBOX] == 1
    grant.refresh_from_db()
    assert grant.refresh_count == 1 and grant.lease_owner == "" and grant.lease_until is None
    assert crypto.decrypt(grant.access_token_token) == bearer.token
    assert oauth.access_token(account.pk).token == bearer.token  # now fresh: no second refresh
    assert oauth_settings.refreshes[MAILBOX] == 1


def test_a_rotated_refresh_token_is_stored_and_works_next_time(microsoft_settings):
    account = oauth_account(microsoft_settings)
    grant = connect(account, microsoft_settings)
    first_refresh = crypto.decrypt(grant.refresh_token_token)
    for round_ in range(3):  # the local server kills a rotated refresh token at once
        expire_soon(OAuthGrant.objects.get(pk=grant.pk))
        assert oauth.access_token(account.pk).refreshed, round_
    grant.refresh_from_db()
    assert crypto.decrypt(grant.refresh_token_token) != first_refresh
    assert grant.status == GrantStatus.ACTIVE and grant.refresh_count == 3


def test_a_rejected_token_is_refreshed_even_if_it_looks_fresh(oauth_settings):
    account = oauth_account(oauth_settings)
    connect(account, oauth_settings)
    refused = oauth.access_token(account.pk).token
    again = oauth.access_token(account.pk, rejected=refused)
    assert again.refreshed and again.token != refused
    # a token other than the rejected one is used as it is
    assert oauth.access_token(account.pk, rejected=refused).token == again.token


def test_a_revoked_grant_requires_reconnection_and_stops_asking(oauth_settings):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    oauth_settings.revoke_user(MAILBOX)
    expire_soon(grant)
    with pytest.raises(BearerUnavailable) as revoked:
        oauth.access_token(account.pk)
    assert revoked.value.reason is Unavailable.RECONNECT
    grant.refresh_from_db()
    assert grant.status == GrantStatus.RECONNECT and grant.needs_reconnect
    assert grant.status_error == "invalid_grant"
    if oauth_settings.profile == MICROSOFT:
        assert grant.status_detail.startswith("AADSTS50173")
    else:
        assert grant.status_detail == "Token has been expired or revoked."
    assert grant.access_token_token == ""
    asked = sum(oauth_settings.refreshes.values())
    with pytest.raises(BearerUnavailable):
        oauth.access_token(account.pk)
    assert sum(oauth_settings.refreshes.values()) == asked  # the provider is not asked again


def test_connecting_again_clears_the_reconnect_state(oauth_settings):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    OAuthGrant.objects.filter(pk=grant.pk).update(status=GrantStatus.RECONNECT)
    connect(account, oauth_settings)
    assert OAuthGrant.objects.get(account=account).status == GrantStatus.ACTIVE
    assert oauth.access_token(account.pk).mailbox == MAILBOX


def test_a_temporary_provider_failure_keeps_the_grant(microsoft_settings):
    account = oauth_account(microsoft_settings)
    grant = connect(account, microsoft_settings)
    expire_soon(grant)
    microsoft_settings.fail_next_refresh("temporarily_unavailable", "AADSTS90033", status=503)
    with pytest.raises(BearerUnavailable) as later:
        oauth.access_token(account.pk)
    assert later.value.reason is Unavailable.TEMPORARY
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ACTIVE and grant.lease_owner == ""
    assert oauth.access_token(account.pk).refreshed  # the next try works


def test_an_account_nobody_connected(oauth_settings):
    account = oauth_account(oauth_settings)
    with pytest.raises(BearerUnavailable) as missing:
        oauth.access_token(account.pk)
    assert missing.value.reason is Unavailable.NOT_CONNECTED


def test_no_application_configured(settings):
    settings.EMISARIO_OAUTH_MICROSOFT_CLIENT_ID = ""
    with pytest.raises(BearerUnavailable) as missing:
        oauth.registration("microsoft")
    assert missing.value.reason is Unavailable.CONFIGURATION


def test_the_consoles_application_wins_over_the_settings(microsoft_settings):
    OAuthApplication.objects.create(
        provider="microsoft",
        client_id="from-console",
        tenant="contoso.onmicrosoft.com",
        client_secret_token=crypto.encrypt(Secret("console-secret")),
    )
    registered = oauth.registration("microsoft")
    assert registered.application.client_id == "from-console"
    assert registered.application.client_secret.reveal() == "console-secret"
    assert "/contoso.onmicrosoft.com/" in registered.provider.token_url
    assert registered.provider.token_url.startswith(microsoft_settings.authority)
    assert not registered.from_settings


def test_app_only_accounts_use_client_credentials(microsoft_settings):
    microsoft_settings.register_client(CLIENT_ID + "-app", CLIENT_SECRET, app_only=True)
    OAuthApplication.objects.create(
        provider="microsoft",
        client_id=CLIENT_ID + "-app",
        tenant=microsoft_settings.tenant_id,
        client_secret_token=crypto.encrypt(Secret(CLIENT_SECRET)),
    )
    account = oauth_account(
        microsoft_settings, auth_method=AuthMethod.OAUTH_APP, sender="facturas@acme.example"
    )
    bearer = oauth.access_token(account.pk)
    assert bearer.refreshed and bearer.mailbox == "facturas@acme.example"
    payload = microsoft_settings.introspect(bearer.token.reveal())
    assert payload["client_id"] == CLIENT_ID + "-app" and "username" not in payload
    assert oauth.access_token(account.pk).token == bearer.token  # cached in its grant row
    grant = OAuthGrant.objects.get(account=account)
    assert grant.app_only and grant.refresh_token_token == ""


def test_rotate_secrets_covers_oauth_tokens_and_client_secrets(oauth_settings, settings):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    OAuthApplication.objects.create(
        provider=oauth_settings.profile,
        client_id=CLIENT_ID,
        client_secret_token=crypto.encrypt(Secret(CLIENT_SECRET)),
    )
    old = settings.EMISARIO_SECRET_KEYS[0]
    new = SecretBox.generate_key()
    settings.EMISARIO_SECRET_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "Re-encrypted 2 OAuth token(s) and 1 OAuth client secret(s)" in out.getvalue()
    settings.EMISARIO_SECRET_KEYS = [new]
    grant.refresh_from_db()
    assert crypto.decrypt(grant.refresh_token_token)
    assert oauth.access_token(account.pk).mailbox == MAILBOX
    assert oauth.registration(oauth_settings.profile).application.client_secret.reveal() == (
        CLIENT_SECRET
    )


@pytest.mark.postgres_pass
@pytest.mark.django_db(transaction=True)
def test_four_workers_needing_a_fresh_token_refresh_it_once(microsoft_settings):
    from django.db import connections

    from emisario.accounts.models import AccountType

    AccountType.objects.get_or_create(code="INTERNO", defaults={"name": "Interno"})
    account = oauth_account(microsoft_settings)
    grant = connect(account, microsoft_settings)
    expire_soon(grant)
    start = threading.Barrier(4)
    tokens, errors = [], []

    def worker() -> None:
        try:
            start.wait(5)
            tokens.append(oauth.access_token(account.pk).token.reveal())
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert microsoft_settings.refreshes[MAILBOX] == 1
    assert len(set(tokens)) == 1 and len(tokens) == 4
    assert OAuthGrant.objects.get(pk=grant.pk).refresh_count == 1


def test_a_grant_deleted_while_waiting_for_anothers_refresh(oauth_settings, monkeypatch):
    account = oauth_account(oauth_settings)
    grant = connect(account, oauth_settings)
    OAuthGrant.objects.filter(pk=grant.pk).update(
        access_expires_at=timezone.now(),
        lease_owner="another-worker",
        lease_until=timezone.now() + timedelta(seconds=30),
    )
    monkeypatch.setattr(oauth.time, "sleep", lambda _s: OAuthGrant.objects.all().delete())
    with pytest.raises(BearerUnavailable) as gone:
        oauth.access_token(account.pk)
    assert gone.value.reason is Unavailable.NOT_CONNECTED


def test_a_refresh_overtaken_by_a_reconnect_does_not_overwrite_it(microsoft_settings, monkeypatch):
    account = oauth_account(microsoft_settings)
    grant = connect(account, microsoft_settings)
    expire_soon(grant)
    real_refresh = oauth.oauth_client.refresh

    def refresh_while_reconnected(*args, **kwargs):
        tokens = real_refresh(*args, **kwargs)
        connect(account, microsoft_settings)  # the user pressed Conectar meanwhile
        return tokens

    monkeypatch.setattr(oauth.oauth_client, "refresh", refresh_while_reconnected)
    with pytest.raises(BearerUnavailable) as raced:
        oauth.access_token(account.pk)
    assert raced.value.reason is Unavailable.TEMPORARY
    monkeypatch.undo()
    newest = OAuthGrant.objects.get(account=account)
    assert newest.status == GrantStatus.ACTIVE and newest.refresh_count == 0
    assert oauth.access_token(account.pk).token == crypto.decrypt(newest.access_token_token)


def test_a_refused_old_refresh_token_does_not_mark_a_new_grant(microsoft_settings, monkeypatch):
    account = oauth_account(microsoft_settings)
    grant = connect(account, microsoft_settings)
    expire_soon(grant)
    microsoft_settings.revoke_user(MAILBOX)
    real_refresh = oauth.oauth_client.refresh

    def refused_after_a_reconnect(*args, **kwargs):
        connect(account, microsoft_settings)  # a new grant lands while the old one is refused
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(oauth.oauth_client, "refresh", refused_after_a_reconnect)
    with pytest.raises(BearerUnavailable) as refused:
        oauth.access_token(account.pk)
    assert refused.value.reason is Unavailable.TEMPORARY
    assert OAuthGrant.objects.get(account=account).status == GrantStatus.ACTIVE


def test_a_bad_authority_setting_is_a_configuration_error(settings):
    settings.EMISARIO_OAUTH_MICROSOFT_CLIENT_ID = "x"
    settings.EMISARIO_OAUTH_MICROSOFT_CLIENT_SECRET = "y"
    settings.EMISARIO_OAUTH_MICROSOFT_AUTHORITY = "http://login.example.com"  # not https
    with pytest.raises(BearerUnavailable) as refused:
        oauth.registration("microsoft")
    assert refused.value.reason is Unavailable.CONFIGURATION
