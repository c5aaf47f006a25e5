"""The OAuth 2.0 client side of an SMTP account: the sign-in link, the code exchange, refresh,
app-only tokens, and the ID token that says whose mailbox was connected.

authlib builds and parses the requests (PKCE S256, client authentication in the POST body,
as both providers take it); httpx carries them with timeouts. Every failure becomes a
:class:`TokenError` whose :attr:`~TokenError.kind` is what the caller must do: reconnect
(the grant is gone), fix the configuration, or try again later. Tokens travel as
:class:`~emisario.core.secrets.Secret` and appear in no message.
"""

from __future__ import annotations

import enum
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from emisario.core.oauth.providers import Provider, check_endpoint_url
from emisario.core.secrets import Secret

TIMEOUT = 15.0
ID_TOKEN_LEEWAY = 120
"""Seconds of clock difference tolerated on ``exp``/``iat``."""


class TokenErrorKind(enum.StrEnum):
    RECONNECT = "reconnect"
    """The grant is revoked, expired or needs the user again: only Conectar fixes it."""
    CONFIGURATION = "configuration"
    """The application registration is wrong (client id, secret, scope, tenant)."""
    TEMPORARY = "temporary"
    """The provider or the network failed: try again later."""
    INVALID_RESPONSE = "invalid_response"
    """The provider answered something that is not a usable token or ID token."""


_RECONNECT = {"invalid_grant", "interaction_required", "consent_required", "login_required"}
_CONFIGURATION = {
    "invalid_client",
    "unauthorized_client",
    "invalid_scope",
    "unsupported_grant_type",
    "invalid_request",
    "unsupported_response_type",
}


@dataclass
class TokenError(Exception):
    kind: TokenErrorKind
    error: str
    description: str = ""
    status: int | None = None

    def __str__(self) -> str:
        text = f"{self.error}: {self.description}" if self.description else self.error
        return f"{self.kind}: {text}"


@dataclass(frozen=True)
class TokenSet:
    access_token: Secret = field(repr=False)
    expires_at: float
    """Epoch seconds."""
    refresh_token: Secret | None = field(default=None, repr=False)
    """None when the provider sent none (Google on refresh: keep the old one)."""
    scope: str = ""
    id_token: str = field(default="", repr=False)

    def expires_in(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


@dataclass(frozen=True)
class Application:
    """A registration at the provider: the client id and its secret."""

    client_id: str
    client_secret: Secret = field(repr=False)


@dataclass(frozen=True)
class SignIn:
    """What the console keeps between the redirect and the callback (in the user's session):
    never shown, used once."""

    url: str
    state: str
    nonce: str
    code_verifier: str = field(repr=False)


def _client(provider: Provider, app: Application, **extra: Any) -> OAuth2Client:
    return OAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret.reveal(),
        token_endpoint_auth_method="client_secret_post",
        timeout=TIMEOUT,
        trust_env=False,
        **extra,
    )


def sign_in(
    provider: Provider, app: Application, redirect_uri: str, *, login_hint: str = ""
) -> SignIn:
    """The provider's authorization URL for a new grant, with fresh state, nonce and PKCE
    verifier (RFC 7636 S256)."""
    check_endpoint_url(provider.authorize_url, field="authorize_url")
    verifier = generate_token(64)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    params = dict(provider.authorize_params)
    if login_hint:
        params["login_hint"] = login_hint
    with _client(
        provider,
        app,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    ) as client:
        url, _ = client.create_authorization_url(
            provider.authorize_url, state=state, nonce=nonce, code_verifier=verifier, **params
        )
    return SignIn(url=url, state=state, nonce=nonce, code_verifier=verifier)


def exchange_code(
    provider: Provider,
    app: Application,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> TokenSet:
    with _client(provider, app, redirect_uri=redirect_uri) as client:
        return _fetch(
            client,
            provider.token_url,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
        )


def refresh(provider: Provider, app: Application, refresh_token: Secret) -> TokenSet:
    with _client(provider, app) as client:
        return _fetch(
            client,
            provider.token_url,
            grant_type="refresh_token",
            refresh_token=refresh_token.reveal(),
        )


def app_token(provider: Provider, app: Application) -> TokenSet:
    """An app-only token (client credentials: Microsoft's ``SMTP.SendAsApp``)."""
    if not provider.supports_app_only:
        raise TokenError(
            TokenErrorKind.CONFIGURATION,
            "unsupported_grant_type",
            f"{provider.label} has no app-only access for SMTP",
        )
    with _client(provider, app, scope=provider.app_scope) as client:
        return _fetch(client, provider.token_url, grant_type="client_credentials")


def _fetch(client: OAuth2Client, url: str, **params: str) -> TokenSet:
    check_endpoint_url(url, field="token_url")
    try:
        token = client.fetch_token(url, **params)
    except OAuthError as exc:
        raise _classified(str(exc.error or ""), str(exc.description or "")) from None
    except httpx2.HTTPStatusError as exc:
        raise _http_error(exc.response) from None
    except (httpx2.HTTPError, OSError) as exc:
        raise TokenError(TokenErrorKind.TEMPORARY, "network", type(exc).__name__) from None
    except ValueError:  # a body that is not JSON (an error page, a proxy)
        raise TokenError(
            TokenErrorKind.TEMPORARY, "invalid_response", "the token endpoint sent no JSON"
        ) from None
    return _token_set(dict(token))


def _http_error(response: httpx2.Response) -> TokenError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("error"):
        error = _classified(str(body["error"]), str(body.get("error_description", "")))
        error.status = response.status_code
        return error
    busy = response.status_code >= 500 or response.status_code in (408, 425, 429)
    kind = TokenErrorKind.TEMPORARY if busy else TokenErrorKind.CONFIGURATION
    return TokenError(kind, f"http_{response.status_code}", status=response.status_code)


def _classified(error: str, description: str) -> TokenError:
    # The description is the provider's own (AADSTS... or Google's sentence): it never holds
    # a token, and it is what an administrator searches for.
    description = description.replace("\r", " ").replace("\n", " ")[:500]
    if error in _RECONNECT:
        return TokenError(TokenErrorKind.RECONNECT, error, description)
    if error in _CONFIGURATION:
        return TokenError(TokenErrorKind.CONFIGURATION, error, description)
    return TokenError(TokenErrorKind.TEMPORARY, error or "unknown", description)


def _token_set(token: dict[str, Any]) -> TokenSet:
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenError(
            TokenErrorKind.INVALID_RESPONSE, "invalid_response", "no access_token in the reply"
        )
    expires_at = token.get("expires_at")
    if not isinstance(expires_at, int | float):
        try:
            seconds = float(token.get("expires_in", 3600))
        except (TypeError, ValueError):
            seconds = 300.0  # unreadable: short, so the next login refreshes it
        expires_at = time.time() + seconds
    refresh_token = token.get("refresh_token")
    return TokenSet(
        access_token=Secret(access),
        expires_at=float(expires_at),
        refresh_token=Secret(refresh_token) if isinstance(refresh_token, str) else None,
        scope=str(token.get("scope", "")),
        id_token=str(token.get("id_token", "")),
    )


# -- the ID token --------------------------------------------------------------------------


def verify_id_token(
    provider: Provider, app: Application, id_token: str, *, nonce: str
) -> dict[str, Any]:
    """The ID token's claims, once its signature (the provider's JWKS), issuer, audience,
    expiry and nonce are checked. Raises :class:`TokenError` (``INVALID_RESPONSE``)."""
    if not id_token:
        raise _bad_id_token("the provider sent no ID token (was the openid scope granted?)")
    keys = _jwks(provider)
    try:
        decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise _bad_id_token(f"signature or format: {type(exc).__name__}") from None
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=ID_TOKEN_LEEWAY,
        aud={"essential": True, "value": app.client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:  # which claim (aud, nonce, exp...), never a value
        raise _bad_id_token(f"claims: {exc.error} {getattr(exc, 'claim', '')}".strip()) from None
    if not provider.issuer_matches(str(claims.get("iss", "")), claims):
        raise _bad_id_token("the issuer is not the provider's")
    return claims


def _bad_id_token(text: str) -> TokenError:
    return TokenError(TokenErrorKind.INVALID_RESPONSE, "invalid_id_token", text)


def _jwks(provider: Provider) -> KeySet:
    url = check_endpoint_url(provider.jwks_url, field="jwks_url")
    try:
        with httpx2.Client(timeout=TIMEOUT, trust_env=False) as client:
            response = client.get(url)
            response.raise_for_status()
            return KeySet.import_key_set(response.json())
    except httpx2.HTTPError as exc:
        raise TokenError(TokenErrorKind.TEMPORARY, "jwks", type(exc).__name__) from None
    except (ValueError, TypeError, KeyError, JoseError):
        raise _bad_id_token("the provider's key set cannot be read") from None


def revoke(provider: Provider, token: Secret) -> bool:
    """Ask the provider to revoke ``token`` (RFC 7009; Google revokes the whole grant with
    it). Best effort: False when it has no such endpoint or the call failed."""
    if not provider.revoke_url:
        return False
    try:
        url = check_endpoint_url(provider.revoke_url, field="revoke_url")
        with httpx2.Client(timeout=TIMEOUT, trust_env=False) as client:
            reply = client.post(url, data={"token": token.reveal()})
    except (httpx2.HTTPError, ValueError):
        return False
    return reply.status_code == 200
