"""The local authorization server in tests, and a stand-in for the user's browser at it.

:func:`consent` plays what a person does at the provider's page (open the link, type the
mailbox, press Accept) over plain HTTP; the browser tests do the same in chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest

from emisario.core.oauth import client as oauth_client
from emisario.core.oauth import providers
from emisario.core.secrets import Secret
from emisario.demo.authserver import GOOGLE, MICROSOFT, LocalAuthServer

MAILBOX = "cobranza@acme.example"
CLIENT_ID = "emisario-test"
CLIENT_SECRET = "test-client-secret"
REDIRECT = "http://127.0.0.1:8000/oauth/callback/"


def provider_for(server: LocalAuthServer, tenant: str = "common") -> providers.Provider:
    if server.profile == MICROSOFT:
        return providers.microsoft(server.authority, tenant)
    return providers.google(server.authority)


def application(secret: str = CLIENT_SECRET) -> oauth_client.Application:
    return oauth_client.Application(CLIENT_ID, Secret(secret))


def consent(url: str, login: str = MAILBOX, *, decision: str = "accept") -> dict[str, str]:
    """Open the sign-in ``url``, answer its form, and return the callback's query."""
    page = httpx2.get(url, timeout=10)
    assert page.status_code == 200, page.text
    reply = httpx2.post(url, data={"login": login, "decision": decision}, timeout=10)
    assert reply.status_code == 302, reply.text
    return dict(parse_qsl(urlsplit(reply.headers["location"]).query))


def signed_in(
    server: LocalAuthServer, login: str = MAILBOX
) -> tuple[oauth_client.TokenSet, oauth_client.SignIn]:
    """A whole delegated sign-in: the link, consent, the code exchanged."""
    provider = provider_for(server)
    start = oauth_client.sign_in(provider, application(), REDIRECT)
    query = consent(start.url, login)
    tokens = oauth_client.exchange_code(
        provider, application(), code=query["code"], redirect_uri=REDIRECT,
        code_verifier=start.code_verifier,
    )  # fmt: skip
    return tokens, start


def _server(profile: str, **options: object) -> Iterator[LocalAuthServer]:
    options.setdefault("users", (MAILBOX,))
    with LocalAuthServer(profile, **options) as server:  # type: ignore[arg-type]
        server.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT])
        yield server


@pytest.fixture(params=[MICROSOFT, GOOGLE])
def auth_server(request: pytest.FixtureRequest) -> Iterator[LocalAuthServer]:
    """The local server in each provider's shape."""
    yield from _server(request.param)


@pytest.fixture
def microsoft_server() -> Iterator[LocalAuthServer]:
    yield from _server(MICROSOFT)


@pytest.fixture
def google_server() -> Iterator[LocalAuthServer]:
    yield from _server(GOOGLE)


@pytest.fixture
def oauth_settings(settings, auth_server: LocalAuthServer) -> LocalAuthServer:
    """Emisario's settings pointed at the local server, with its test application."""
    return point_settings_at(settings, auth_server)


@pytest.fixture
def microsoft_settings(settings, microsoft_server: LocalAuthServer) -> LocalAuthServer:
    return point_settings_at(settings, microsoft_server)


def point_settings_at(settings, server: LocalAuthServer) -> LocalAuthServer:
    kind = server.profile.upper()
    setattr(settings, f"EMISARIO_OAUTH_{kind}_AUTHORITY", server.authority)
    setattr(settings, f"EMISARIO_OAUTH_{kind}_CLIENT_ID", CLIENT_ID)
    setattr(settings, f"EMISARIO_OAUTH_{kind}_CLIENT_SECRET", CLIENT_SECRET)
    if server.profile == MICROSOFT:
        settings.EMISARIO_OAUTH_MICROSOFT_TENANT = "organizations"
    return server


def connect(account, server: LocalAuthServer, login: str = MAILBOX):
    """What Conectar does, without the console: sign in at ``server`` and store the grant."""
    from emisario.accounts import oauth

    registered = oauth.registration(account.oauth_provider)
    start = oauth_client.sign_in(registered.provider, registered.application, REDIRECT)
    query = consent(start.url, login)
    tokens = oauth_client.exchange_code(
        registered.provider, registered.application, code=query["code"],
        redirect_uri=REDIRECT, code_verifier=start.code_verifier,
    )  # fmt: skip
    claims = oauth_client.verify_id_token(
        registered.provider, registered.application, tokens.id_token, nonce=start.nonce
    )
    return oauth.store_grant(
        account, tokens, mailbox=registered.provider.mailbox_from(claims), claims=claims,
        user=None,
    )  # fmt: skip
