"""A real OAuth 2.0 / OpenID Connect authorization server on loopback: what the demo and the
tests sign in to instead of Microsoft's or Google's.

It is authlib's server (Flask, over HTTP on 127.0.0.1): the authorization code grant with PKCE
(S256 required) and the OpenID nonce, refresh, client credentials (app-only), introspection
(RFC 7662, for the SMTP server that must check a token), revocation (RFC 7009), JWKS and
discovery. A *profile* gives it the provider's shape, so Emisario talks to it through exactly
the URLs and rules it uses for the real provider, only with another authority:

- ``microsoft``: paths ``/{tenant}/oauth2/v2.0/authorize|token``, ``/{tenant}/discovery/v2.0/
  keys``; ID tokens with ``tid``, ``oid``, ``preferred_username`` and the issuer
  ``{authority}/{tid}/v2.0``; a refresh token only with ``offline_access``; every refresh
  rotates it. ``invalid_grant`` descriptions carry ``AADSTS`` codes.
- ``google``: ``/o/oauth2/v2/auth``, ``/token``, ``/oauth2/v3/certs``, ``/revoke``; a refresh
  token only with ``access_type=offline``; refresh does not rotate; ``email_verified``.

Stricter than either where that catches our mistakes: a rotated refresh token is revoked at
once, an authorization code works once, and a refresh token dies with its revoked grant.
Test hooks: :meth:`LocalAuthServer.revoke_user`, :attr:`refreshes`, :meth:`fail_next_refresh`,
:meth:`allow_app` (the mailboxes an app-only client may send as).
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

MICROSOFT = "microsoft"
GOOGLE = "google"
PROFILES = (MICROSOFT, GOOGLE)

MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SMTP_SCOPE = "https://mail.google.com/"
SMTP_SCOPES = {MICROSOFT: MICROSOFT_SMTP_SCOPE, GOOGLE: GOOGLE_SMTP_SCOPE}

RESOURCE_CLIENT = "smtp-server"
"""The client the SMTP server introspects tokens with (its secret: :attr:`resource_secret`)."""

_SERVER_LOGGERS = ("authlib.oauth2", "authlib.oidc")
"""authlib's server side (only this module runs it)."""

_REVOKED_TEXT = {
    MICROSOFT: (
        "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth "
        "token is needed. The user might have changed or reset their password."
    ),
    GOOGLE: "Token has been expired or revoked.",
}


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token:
    client_id: str
    access_token: str
    scope: str
    expires_in: int
    user: str | None
    refresh_token: str | None = None
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False
    refresh_revoked: bool = False
    token_type: str = "Bearer"

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str | None:
        return self.user

    def get_client(self) -> Client:
        raise NotImplementedError  # authlib asks the token endpoint's client instead


class LocalAuthServer:
    """The server, started in a thread by :meth:`start` (or ``with``), stopped by :meth:`stop`.

    ``users``: the mailboxes that can sign in (``open_sign_in``: any address can, as in the
    demo). ``access_ttl``: seconds an access token lives (tests make it short)."""

    def __init__(
        self,
        profile: str = MICROSOFT,
        *,
        port: int = 0,
        users: tuple[str, ...] = (),
        open_sign_in: bool = False,
        access_ttl: int = 3600,
        tenant_domain: str = "acme.example",
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
        for name in _SERVER_LOGGERS:  # their DEBUG lines print every token they issue
            logging.getLogger(name).setLevel(logging.INFO)
        self.profile = profile
        self.users = {address.lower() for address in users}
        self.open_sign_in = open_sign_in
        self.access_ttl = access_ttl
        self.tenant_domain = tenant_domain
        self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant_domain))
        self.resource_secret = secrets.token_urlsafe(24)
        self.refreshes: Counter[str] = Counter()
        """Refresh requests that reached the token endpoint, by user (or client id)."""
        self.code_exchanges = 0
        self.app_mailboxes: dict[str, set[str]] = {}
        self._lock = threading.RLock()
        self._clients: dict[str, Client] = {
            RESOURCE_CLIENT: Client(RESOURCE_CLIENT, self.resource_secret, grant_types=())
        }
        self._codes: dict[str, Code] = {}
        self._tokens: dict[str, Token] = {}
        self._refresh: dict[str, Token] = {}
        self._nonces: set[str] = set()
        self._fail_next: tuple[int, str, str] | None = None
        self._key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)})
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # -- set-up ----------------------------------------------------------------------------

    def register_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | tuple[str, ...] = (),
        *,
        app_only: bool = False,
    ) -> Client:
        grant_types = (
            ("client_credentials",) if app_only else ("authorization_code", "refresh_token")
        )
        client = Client(client_id, client_secret, list(redirect_uris), grant_types)
        with self._lock:
            self._clients[client_id] = client
        return client

    def add_redirect_uri(self, client_id: str, uri: str) -> None:
        with self._lock:
            self._clients[client_id].redirect_uris.append(uri)

    def allow_app(self, client_id: str, mailbox: str) -> None:
        """Let an app-only client send as ``mailbox`` (Exchange's ``Add-MailboxPermission``)."""
        with self._lock:
            self.app_mailboxes.setdefault(client_id, set()).add(mailbox.lower())

    @property
    def authority(self) -> str:
        """What Emisario's settings point at instead of ``https://login.microsoftonline.com``
        or Google's hosts."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return int(self._server.server_port) if self._server else self._port

    @property
    def issuer(self) -> str:
        if self.profile == MICROSOFT:
            return f"{self.authority}/{self.tenant_id}/v2.0"
        return self.authority

    # -- test hooks ------------------------------------------------------------------------

    def revoke_user(self, user: str) -> int:
        """Revoke every token of ``user`` (a password reset, consent removed): returns how
        many; their next refresh gets ``invalid_grant``."""
        count = 0
        with self._lock:
            for token in self._tokens.values():
                if token.user == user.lower() and not (token.revoked and token.refresh_revoked):
                    token.revoked = token.refresh_revoked = True
                    count += 1
        return count

    def revoke_access(self, access_token: str) -> None:
        """Revoke one access token only (its refresh token still works): what a server that
        ends a token early looks like."""
        with self._lock:
            token = self._tokens.get(access_token)
            if token is not None:
                token.revoked = True

    def fail_next_refresh(self, error: str, description: str = "", status: int = 400) -> None:
        """The next refresh request gets this error instead of a token."""
        with self._lock:
            self._fail_next = (status, error, description)

    def active_access_tokens(self) -> list[str]:
        with self._lock:
            return [
                t.access_token
                for t in self._tokens.values()
                if not t.revoked and not t.is_expired()
            ]

    def introspect(self, access_token: str) -> dict[str, Any]:
        """What the introspection endpoint says about a token (for in-process checks)."""
        with self._lock:
            token = self._tokens.get(access_token)
            if token is None or token.revoked or token.is_expired():
                return {"active": False}
            return self._payload(token)

    def smtp_checker(self) -> Callable[[str, str], Awaitable[bool]]:
        """What the demo's and the tests' SMTP server asks before it takes a token: RFC 7662
        introspection over HTTP, as a resource server does. A delegated token must carry the
        SMTP scope and belong to the mailbox; an app-only one must be allowed that mailbox
        (:meth:`allow_app`)."""
        smtp_scope = SMTP_SCOPES[self.profile]

        def ask(token: str) -> dict[str, Any]:
            reply = httpx2.post(
                f"{self.authority}/introspect",
                data={"token": token, "token_type_hint": "access_token"},
                auth=(RESOURCE_CLIENT, self.resource_secret),
                timeout=10,
            )
            body = reply.json() if reply.status_code == 200 else {}
            return body if isinstance(body, dict) else {}

        async def check(mailbox: str, token: str) -> bool:
            payload = await asyncio.to_thread(ask, token)
            if not payload.get("active"):
                return False
            scopes = set(str(payload.get("scope", "")).split())
            mailbox = mailbox.lower()
            if "username" in payload:
                return smtp_scope in scopes and str(payload["username"]).lower() == mailbox
            return MICROSOFT_APP_SCOPE in scopes and mailbox in payload.get("mailboxes", [])

        return check

    def _payload(self, token: Token) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "token_type": "Bearer",
            "exp": int(token.issued_at + token.expires_in),
            "iat": int(token.issued_at),
            "iss": self.issuer,
        }
        if token.user:
            payload["username"] = token.user
            payload["sub"] = self._subject(token.user)
        else:
            payload["mailboxes"] = sorted(self.app_mailboxes.get(token.client_id, ()))
        return payload

    def _subject(self, user: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant_id}/{user}"))

    # -- the server ------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(f"emisario-local-{self.profile}")
        app.config.update(
            OAUTH2_REFRESH_TOKEN_GENERATOR=True,
            OAUTH2_TOKEN_EXPIRES_IN={
                "authorization_code": self.access_ttl,
                "refresh_token": self.access_ttl,
                "client_credentials": self.access_ttl,
            },
        )
        outer = self

        def query_client(client_id: str) -> Client | None:
            with outer._lock:
                return outer._clients.get(client_id)

        def save_token(token_data: dict[str, Any], oauth_request: Any) -> None:
            user = oauth_request.user
            refresh = token_data.get("refresh_token")
            grant_type = oauth_request.payload.grant_type if oauth_request.payload else ""
            code: Code | None = getattr(oauth_request, "authorization_code", None)
            keep_refresh = grant_type == "authorization_code" and code is not None and code.offline
            if grant_type == "refresh_token":
                keep_refresh = outer.profile == MICROSOFT  # Google keeps the one it gave
            if not keep_refresh:
                token_data.pop("refresh_token", None)
                refresh = None
            token = Token(
                client_id=oauth_request.client.client_id,
                access_token=token_data["access_token"],
                scope=token_data.get("scope", ""),
                expires_in=int(token_data.get("expires_in", outer.access_ttl)),
                user=user,
                refresh_token=refresh,
            )
            with outer._lock:
                outer._tokens[token.access_token] = token
                if refresh:
                    outer._refresh[refresh] = token
                elif grant_type == "refresh_token":
                    # Google: the old refresh token goes on, now bound to the new access token
                    old = oauth_request.refresh_token
                    token.refresh_token = old.refresh_token
                    outer._refresh[old.refresh_token] = token

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)

        class AuthorizationCode(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, oauth_request: Any) -> None:
                data = oauth_request.payload.data
                scope = oauth_request.payload.scope or ""
                if outer.profile == MICROSOFT:
                    offline = "offline_access" in scope.split()
                else:
                    offline = data.get("access_type") == "offline"
                with outer._lock:
                    if data.get("nonce"):
                        outer._nonces.add(data["nonce"])
                    outer._codes[code] = Code(
                        code=code,
                        client_id=oauth_request.client.client_id,
                        redirect_uri=oauth_request.payload.redirect_uri,
                        scope=scope,
                        user=oauth_request.user,
                        nonce=data.get("nonce"),
                        code_challenge=data.get("code_challenge"),
                        code_challenge_method=data.get("code_challenge_method"),
                        offline=offline,
                    )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                with outer._lock:
                    found = outer._codes.get(code)
                if found and found.client_id == client.client_id:
                    return found
                return None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                with outer._lock:
                    outer._codes.pop(authorization_code.code, None)
                    outer.code_exchanges += 1

            def authenticate_user(self, authorization_code: Code) -> str:
                return authorization_code.user

        class Refresh(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                with outer._lock:
                    failure, outer._fail_next = outer._fail_next, None
                    token = outer._refresh.get(refresh_token)
                    outer.refreshes[token.user or token.client_id if token else "?"] += 1
                if failure is not None:
                    raise _Failure(*failure)
                if token is None or token.refresh_revoked:
                    raise InvalidGrantError(description=_REVOKED_TEXT[outer.profile])
                return token

            def authenticate_user(self, refresh_token: Token) -> str | None:
                return refresh_token.user

            def revoke_old_credential(self, refresh_token: Token) -> None:
                if outer.profile == MICROSOFT:  # rotated: the old one is dead at once
                    with outer._lock:
                        refresh_token.refresh_revoked = True

        class ClientCredentials(grants.ClientCredentialsGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce: str, oauth_request: Any) -> bool:
                with outer._lock:  # a nonce some code was already issued with: a replay
                    return nonce in outer._nonces

            def resolve_client_private_key(self, client: Client) -> KeySet:
                return KeySet([outer._key])

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": outer.issuer, "aud": [client.client_id]}

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": str(outer._key.kid)}

            def generate_user_info(self, user: str, scope: str) -> UserInfo:
                info = UserInfo(sub=outer._subject(user), email=user, name=user.split("@")[0])
                if outer.profile == MICROSOFT:
                    info.update(
                        oid=outer._subject(user), tid=outer.tenant_id, preferred_username=user
                    )
                else:
                    info.update(email_verified=True, hd=user.rpartition("@")[2])
                return info

        class Introspection(IntrospectionEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                with outer._lock:
                    return outer._tokens.get(token_string)

            def introspect_token(self, token: Token) -> dict[str, Any]:
                with outer._lock:
                    return outer._payload(token)

            def check_permission(self, token: Token, client: Client, oauth_request: Any) -> bool:
                return client.client_id == RESOURCE_CLIENT

        class Revocation(RevocationEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                with outer._lock:
                    return outer._tokens.get(token_string) or outer._refresh.get(token_string)

            def revoke_token(self, token: Token, oauth_request: Any) -> None:
                with outer._lock:
                    token.revoked = token.refresh_revoked = True

        server.register_grant(
            AuthorizationCode, [CodeChallenge(required=True), OpenID(require_nonce=True)]
        )
        server.register_grant(Refresh)
        server.register_grant(ClientCredentials)
        server.register_endpoint(Introspection)
        server.register_endpoint(Revocation)

        def authorize(tenant: str | None = None) -> Any:
            user = request.form.get("login", "").strip().lower() if request.method == "POST" else ""
            try:
                grant = server.get_consent_grant(end_user=user or None)
            except OAuth2Error as error:
                return server.handle_error_response(request, error)
            if request.method == "GET":
                return _consent_page(outer, grant, request.args.get("login_hint", ""))
            if request.form.get("decision") != "accept":
                return server.create_authorization_response(grant=grant, grant_user=None)
            if not outer._may_sign_in(user):
                return _consent_page(outer, grant, user, error=f"Unknown account: {user}"), 403
            return server.create_authorization_response(grant=grant, grant_user=user)

        def token(tenant: str | None = None) -> Any:
            if request.form.get("grant_type") == "client_credentials" and outer.profile == GOOGLE:
                return jsonify(error="unsupported_grant_type"), 400
            return server.create_token_response()

        def keys(tenant: str | None = None) -> Any:
            return jsonify(KeySet([outer._key]).as_dict(private=False))

        def discovery(tenant: str | None = None) -> Any:
            return jsonify(outer.discovery(tenant or "common"))

        if self.profile == MICROSOFT:
            prefix = "/<tenant>/oauth2/v2.0"
            app.add_url_rule(f"{prefix}/authorize", "authorize", authorize, methods=["GET", "POST"])
            app.add_url_rule(f"{prefix}/token", "token", token, methods=["POST"])
            app.add_url_rule("/<tenant>/discovery/v2.0/keys", "keys", keys)
            app.add_url_rule(
                "/<tenant>/v2.0/.well-known/openid-configuration", "discovery", discovery
            )
        else:
            app.add_url_rule("/o/oauth2/v2/auth", "authorize", authorize, methods=["GET", "POST"])
            app.add_url_rule("/token", "token", token, methods=["POST"])
            app.add_url_rule("/oauth2/v3/certs", "keys", keys)
            app.add_url_rule("/.well-known/openid-configuration", "discovery", discovery)
        app.add_url_rule(
            "/introspect",
            "introspect",
            lambda: server.create_endpoint_response(Introspection.ENDPOINT_NAME),
            methods=["POST"],
        )
        app.add_url_rule(
            "/revoke",
            "revoke",
            lambda: server.create_endpoint_response(Revocation.ENDPOINT_NAME),
            methods=["POST"],
        )
        return app

    def discovery(self, tenant: str = "common") -> dict[str, Any]:
        if self.profile == MICROSOFT:
            base = f"{self.authority}/{tenant}"
            endpoints = {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
            }
        else:
            endpoints = {
                "authorization_endpoint": f"{self.authority}/o/oauth2/v2/auth",
                "token_endpoint": f"{self.authority}/token",
                "jwks_uri": f"{self.authority}/oauth2/v3/certs",
                "revocation_endpoint": f"{self.authority}/revoke",
            }
        return {
            "issuer": self.issuer,
            **endpoints,
            "introspection_endpoint": f"{self.authority}/introspect",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _may_sign_in(self, user: str) -> bool:
        if not user or "@" not in user or any(c in user for c in "\r\n\0 <>\"'"):
            return False
        return self.open_sign_in or user in self.users

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalAuthServer:
        self._server = make_server(
            "127.0.0.1", self._port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"local-oauth-{self.profile}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LocalAuthServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: the request lines hold codes and states."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _Failure(OAuth2Error):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description=description or None, status_code=status)
        self.error = error


_NAMES = {MICROSOFT: "Microsoft (local)", GOOGLE: "Google (local)"}


def _consent_page(server: LocalAuthServer, grant: Any, login: str, error: str = "") -> str:
    """The sign-in and consent page: a mailbox field and Accept / Cancel. It posts back to
    the same URL, query string included, which is how authlib finds the request again."""
    scope = grant.request.payload.scope if grant is not None else ""
    client = grant.client.client_id if grant is not None else ""
    problem = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - {_NAMES[server.profile]}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}
label,input,button{{display:block;font-size:1rem;margin:.5rem 0}}input{{width:100%;padding:.5rem}}
button{{padding:.6rem 1.2rem}}.error{{color:#8a1414}}code{{word-break:break-all}}</style></head>
<body><main><h1>Sign in - {_NAMES[server.profile]}</h1>{problem}
<p>The application <code>{html.escape(client)}</code> asks to send mail as you
(<code>{html.escape(scope)}</code>).</p>
<form method="post"><label for="login">Email address</label>
<input id="login" name="login" type="email" autocomplete="username" required
 value="{html.escape(login)}">
<button type="submit" name="decision" value="accept">Accept</button>
<button type="submit" name="decision" value="deny" formnovalidate>Cancel</button>
</form></main></body></html>"""
