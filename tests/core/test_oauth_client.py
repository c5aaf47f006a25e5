"""The OAuth client against a real authorization server on loopback (authlib's, in each
provider's shape): sign-in link, code exchange, ID token, refresh, app-only, errors."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from emisario.core.errors import InvalidValue
from emisario.core.oauth import client as oc
from emisario.core.oauth import providers
from emisario.core.secrets import Secret
from emisario.demo.authserver import MICROSOFT, LocalAuthServer
from tests.support.oauth import (
    MAILBOX,
    REDIRECT,
    application,
    consent,
    provider_for,
    signed_in,
)

Kind = oc.TokenErrorKind


def test_the_sign_in_link_asks_for_pkce_state_nonce_and_the_providers_scopes(auth_server):
    provider = provider_for(auth_server)
    start = oc.sign_in(provider, application(), REDIRECT, login_hint=MAILBOX)
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == start.state and query["nonce"] == start.nonce
    assert start.code_verifier not in start.url  # only its hash travels
    assert query["login_hint"] == MAILBOX
    scopes = query["scope"].split()
    if auth_server.profile == MICROSOFT:
        assert "https://outlook.office.com/SMTP.Send" in scopes and "offline_access" in scopes
    else:
        assert "https://mail.google.com/" in scopes
        assert query["access_type"] == "offline" and query["prompt"] == "consent"


def test_a_whole_sign_in_gives_a_refresh_token_and_the_verified_mailbox(auth_server):
    tokens, start = signed_in(auth_server)
    assert tokens.refresh_token is not None
    assert 3500 < tokens.expires_in() <= 3600
    claims = oc.verify_id_token(
        provider_for(auth_server), application(), tokens.id_token, nonce=start.nonce
    )
    assert provider_for(auth_server).mailbox_from(claims) == MAILBOX
    assert auth_server.introspect(tokens.access_token.reveal())["username"] == MAILBOX


def test_a_code_works_once(auth_server):
    provider = provider_for(auth_server)
    start = oc.sign_in(provider, application(), REDIRECT)
    code = consent(start.url)["code"]
    oc.exchange_code(
        provider, application(), code=code, redirect_uri=REDIRECT,
        code_verifier=start.code_verifier,
    )  # fmt: skip
    with pytest.raises(oc.TokenError) as replay:
        oc.exchange_code(
            provider, application(), code=code, redirect_uri=REDIRECT,
            code_verifier=start.code_verifier,
        )  # fmt: skip
    assert replay.value.kind is Kind.RECONNECT and replay.value.error == "invalid_grant"


def test_a_wrong_code_verifier_is_refused(auth_server):
    provider = provider_for(auth_server)
    start = oc.sign_in(provider, application(), REDIRECT)
    code = consent(start.url)["code"]
    with pytest.raises(oc.TokenError) as refused:
        oc.exchange_code(
            provider, application(), code=code, redirect_uri=REDIRECT,
            code_verifier="x" * 64,
        )  # fmt: skip
    assert refused.value.error == "invalid_grant"


def test_the_id_token_must_carry_the_nonce_of_this_sign_in(auth_server):
    tokens, _start = signed_in(auth_server)
    with pytest.raises(oc.TokenError) as wrong:
        oc.verify_id_token(provider_for(auth_server), application(), tokens.id_token, nonce="n")
    assert wrong.value.kind is Kind.INVALID_RESPONSE


def test_an_id_token_for_another_client_or_from_another_issuer_is_refused(auth_server):
    import dataclasses

    tokens, start = signed_in(auth_server)
    other_client = oc.Application("someone-else", Secret("x"))
    with pytest.raises(oc.TokenError) as audience:
        oc.verify_id_token(provider_for(auth_server), other_client, tokens.id_token,
                           nonce=start.nonce)  # fmt: skip
    assert "aud" in audience.value.description
    # validly signed (the same keys), but the issuer is not the one expected
    elsewhere = dataclasses.replace(
        provider_for(auth_server), issuers=("https://login.elsewhere.example/{tid}/v2.0",)
    )
    with pytest.raises(oc.TokenError) as issuer:
        oc.verify_id_token(elsewhere, application(), tokens.id_token, nonce=start.nonce)
    assert issuer.value.description == "the issuer is not the provider's"
    with LocalAuthServer(auth_server.profile) as impostor:  # other keys: the signature fails
        with pytest.raises(oc.TokenError) as signature:
            oc.verify_id_token(
                provider_for(impostor), application(), tokens.id_token, nonce=start.nonce
            )
        assert "signature" in signature.value.description


def test_microsoft_named_tenant_accepts_only_its_own_tid(microsoft_server):
    tokens, start = signed_in(microsoft_server)
    own = providers.microsoft(microsoft_server.authority, microsoft_server.tenant_id)
    assert oc.verify_id_token(own, application(), tokens.id_token, nonce=start.nonce)
    other = providers.microsoft(microsoft_server.authority, "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    with pytest.raises(oc.TokenError):
        oc.verify_id_token(other, application(), tokens.id_token, nonce=start.nonce)


def test_microsoft_rotates_the_refresh_token_and_the_old_one_dies(microsoft_server):
    tokens, _ = signed_in(microsoft_server)
    assert tokens.refresh_token is not None
    fresh = oc.refresh(provider_for(microsoft_server), application(), tokens.refresh_token)
    assert fresh.refresh_token is not None and fresh.refresh_token != tokens.refresh_token
    assert fresh.access_token != tokens.access_token
    with pytest.raises(oc.TokenError) as old:
        oc.refresh(provider_for(microsoft_server), application(), tokens.refresh_token)
    assert old.value.kind is Kind.RECONNECT
    assert "AADSTS" in old.value.description


def test_google_keeps_its_refresh_token(google_server):
    tokens, _ = signed_in(google_server)
    assert tokens.refresh_token is not None
    fresh = oc.refresh(provider_for(google_server), application(), tokens.refresh_token)
    assert fresh.refresh_token is None  # none sent: the old one goes on
    again = oc.refresh(provider_for(google_server), application(), tokens.refresh_token)
    assert again.access_token != fresh.access_token


def test_a_revoked_grant_means_reconnect(auth_server):
    tokens, _ = signed_in(auth_server)
    assert auth_server.revoke_user(MAILBOX) >= 1
    assert tokens.refresh_token is not None
    with pytest.raises(oc.TokenError) as revoked:
        oc.refresh(provider_for(auth_server), application(), tokens.refresh_token)
    assert revoked.value.kind is Kind.RECONNECT
    assert revoked.value.error == "invalid_grant"


def test_a_wrong_client_secret_is_a_configuration_error(auth_server):
    tokens, _ = signed_in(auth_server)
    assert tokens.refresh_token is not None
    with pytest.raises(oc.TokenError) as wrong:
        oc.refresh(provider_for(auth_server), application("wrong"), tokens.refresh_token)
    assert wrong.value.kind is Kind.CONFIGURATION and wrong.value.error == "invalid_client"
    assert "test-client-secret" not in str(wrong.value)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (503, "temporarily_unavailable", Kind.TEMPORARY),
        (500, "server_error", Kind.TEMPORARY),
        (400, "interaction_required", Kind.RECONNECT),
        (400, "invalid_scope", Kind.CONFIGURATION),
    ],
)
def test_provider_errors_are_classified(microsoft_server, status, error, kind):
    tokens, _ = signed_in(microsoft_server)
    assert tokens.refresh_token is not None
    microsoft_server.fail_next_refresh(error, "AADSTS00000: scripted", status=status)
    with pytest.raises(oc.TokenError) as failed:
        oc.refresh(provider_for(microsoft_server), application(), tokens.refresh_token)
    assert failed.value.kind is kind and failed.value.error == error


def test_an_unreachable_token_endpoint_is_temporary(microsoft_server):
    tokens, _ = signed_in(microsoft_server)
    assert tokens.refresh_token is not None
    gone = providers.microsoft(microsoft_server.authority)
    microsoft_server.stop()
    with pytest.raises(oc.TokenError) as failed:
        oc.refresh(gone, application(), tokens.refresh_token)
    assert failed.value.kind is Kind.TEMPORARY


def test_app_only_token_for_microsoft_and_none_for_google(microsoft_server, google_server):
    microsoft_server.register_client("app-only", "app-secret", app_only=True)
    token = oc.app_token(
        provider_for(microsoft_server), oc.Application("app-only", Secret("app-secret"))
    )
    payload = microsoft_server.introspect(token.access_token.reveal())
    assert payload["active"] and payload["scope"] == providers.MICROSOFT_APP_SCOPE
    assert token.refresh_token is None
    with pytest.raises(oc.TokenError) as none:
        oc.app_token(provider_for(google_server), application())
    assert none.value.kind is Kind.CONFIGURATION


def test_short_lived_tokens_expire():
    with LocalAuthServer(MICROSOFT, users=(MAILBOX,), access_ttl=1) as short:
        short.register_client("emisario-test", "test-client-secret", [REDIRECT])
        tokens, _ = signed_in(short)
        assert tokens.expires_in() <= 1
        time.sleep(1.1)
        assert short.introspect(tokens.access_token.reveal()) == {"active": False}


@pytest.mark.parametrize(
    "tenant",
    ["common", "organizations", "contoso.onmicrosoft.com", "0" * 8 + "-1111-2222-3333-" + "4" * 12],
)
def test_tenants_that_fit_in_a_url_path(tenant):
    assert providers.check_tenant(tenant) == tenant


@pytest.mark.parametrize(
    "tenant", ["", "a/b", "../common", "common?x=1", "a b", "tenant#x", "x\r\n"]
)
def test_tenants_that_could_change_the_url_are_refused(tenant):
    with pytest.raises(InvalidValue):
        providers.check_tenant(tenant)


@pytest.mark.parametrize(
    "url",
    ["http://login.example.com", "ftp://127.0.0.1", "http://10.0.0.1", "https://", "file:///x"],
)
def test_endpoints_must_be_https_or_loopback(url):
    with pytest.raises(InvalidValue):
        providers.check_endpoint_url(url)


@pytest.mark.parametrize(
    "url", ["https://login.microsoftonline.com", "http://127.0.0.1:9", "http://[::1]:8"]
)
def test_https_and_loopback_endpoints_are_allowed(url):
    assert providers.check_endpoint_url(url) == url


def test_google_mailbox_needs_a_verified_email():
    google = providers.google()
    assert google.mailbox_from({"email": "A@x.example", "email_verified": True}) == "a@x.example"
    assert google.mailbox_from({"email": "a@x.example", "email_verified": False}) == ""
    assert google.mailbox_from({"email": "a@x.example"}) == ""
    assert google.issuer_matches("accounts.google.com", {})
    assert not google.issuer_matches("https://evil.example", {})


def test_microsoft_issuer_is_filled_from_the_tokens_own_tid():
    tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    ms = providers.microsoft()
    assert ms.issuer_matches(f"https://login.microsoftonline.com/{tid}/v2.0", {"tid": tid})
    assert not ms.issuer_matches(f"https://login.microsoftonline.com/{tid}/v2.0", {"tid": "x"})
    assert not ms.issuer_matches("https://login.microsoftonline.com/{tid}/v2.0", {"tid": tid})
    assert not ms.issuer_matches(f"https://evil.example/{tid}/v2.0", {"tid": tid})
