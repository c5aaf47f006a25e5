"""The identity providers an SMTP account can sign in with, and where their endpoints are.

The URLs are the providers' own; only the *authority* (the scheme and host, plus Microsoft's
tenant) can be pointed elsewhere, which is how the demo and the tests use a local server of
the same shape (:mod:`emisario.demo.authserver`). Nothing here comes from a user: the
authority is a setting, the tenant is checked by :func:`check_tenant`.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from emisario.core.errors import InvalidValue

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
GOOGLE_JWKS = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_REVOKE = "https://oauth2.googleapis.com/revoke"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")

MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SMTP_SCOPE = "https://mail.google.com/"

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
GENERIC_TENANTS = ("common", "organizations", "consumers")


class ProviderKind(enum.StrEnum):
    MICROSOFT = "microsoft"
    GOOGLE = "google"


def check_tenant(tenant: str) -> str:
    """A Microsoft tenant as it goes into a URL path: ``common``, ``organizations``,
    ``consumers``, a GUID or a domain name; nothing that could change the path."""
    tenant = tenant.strip(" ")
    if not _TENANT.fullmatch(tenant) or ".." in tenant:
        raise InvalidValue("invalid_tenant", field="tenant", value=tenant)
    return tenant.lower() if tenant.lower() in GENERIC_TENANTS else tenant


def check_endpoint_url(url: str, *, field: str = "url") -> str:
    """An endpoint Emisario sends a secret to: HTTPS, or HTTP to a loopback address only
    (RFC 8252 section 7.3; the local server of the demo and the tests)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url
    raise InvalidValue("insecure_oauth_endpoint", field=field, value=url)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Provider:
    """One provider's endpoints and rules, for one authority (and Microsoft tenant)."""

    kind: ProviderKind
    authorize_url: str
    token_url: str
    jwks_url: str
    issuers: tuple[str, ...] = ()
    """Accepted ``iss`` values; Microsoft's is a template with ``{tid}``."""
    scopes: tuple[str, ...] = ()
    """What the delegated sign-in asks for."""
    smtp_scope: str = ""
    app_scope: str = ""
    """Client credentials (app-only) scope; empty where the provider has none for SMTP."""
    revoke_url: str = ""
    authorize_params: dict[str, str] = field(default_factory=dict)
    tenant: str = ""

    @property
    def label(self) -> str:
        return "Microsoft" if self.kind is ProviderKind.MICROSOFT else "Google"

    @property
    def supports_app_only(self) -> bool:
        return bool(self.app_scope)

    def issuer_matches(self, issuer: str, claims: dict[str, object]) -> bool:
        """Microsoft's multi-tenant issuer is ``{authority}/{tid}/v2.0``: the token's own
        ``tid`` fills it, and a named tenant must be that one."""
        if self.kind is ProviderKind.MICROSOFT:
            tid = str(claims.get("tid", ""))
            if not _GUID.fullmatch(tid):
                return False
            if _GUID.fullmatch(self.tenant) and tid.lower() != self.tenant.lower():
                return False
            return any(issuer == template.format(tid=tid) for template in self.issuers)
        return issuer in self.issuers

    def mailbox_from(self, claims: dict[str, object]) -> str:
        """The address the signed-in user's mail is sent as, from the ID token: Microsoft's
        ``preferred_username`` (the UPN); Google's verified ``email``."""
        if self.kind is ProviderKind.MICROSOFT:  # "email" is optional and unverified there
            value = claims.get("preferred_username") or ""
        else:
            value = claims.get("email") if claims.get("email_verified") is True else ""
        return str(value or "").strip().lower()


def microsoft(authority: str = MICROSOFT_AUTHORITY, tenant: str = "common") -> Provider:
    authority = check_endpoint_url(authority.rstrip("/"), field="authority")
    tenant = check_tenant(tenant or "common")
    base = f"{authority}/{tenant}"
    return Provider(
        kind=ProviderKind.MICROSOFT,
        authorize_url=f"{base}/oauth2/v2.0/authorize",
        token_url=f"{base}/oauth2/v2.0/token",
        jwks_url=f"{base}/discovery/v2.0/keys",
        issuers=(f"{authority}/{{tid}}/v2.0",),
        scopes=(MICROSOFT_SMTP_SCOPE, "offline_access", "openid", "email", "profile"),
        smtp_scope=MICROSOFT_SMTP_SCOPE,
        app_scope=MICROSOFT_APP_SCOPE,
        tenant=tenant,
    )


def google(authority: str = "") -> Provider:
    """Google's real hosts, or one authority serving Google's paths (the local server)."""
    if authority:
        authority = check_endpoint_url(authority.rstrip("/"), field="authority")
        urls = (
            f"{authority}/o/oauth2/v2/auth",
            f"{authority}/token",
            f"{authority}/oauth2/v3/certs",
            f"{authority}/revoke",
        )
        issuers: tuple[str, ...] = (authority,)
    else:
        urls = (GOOGLE_AUTHORIZE, GOOGLE_TOKEN, GOOGLE_JWKS, GOOGLE_REVOKE)
        issuers = GOOGLE_ISSUERS
    return Provider(
        kind=ProviderKind.GOOGLE,
        authorize_url=urls[0],
        token_url=urls[1],
        jwks_url=urls[2],
        revoke_url=urls[3],
        issuers=issuers,
        scopes=(GOOGLE_SMTP_SCOPE, "openid", "email"),
        smtp_scope=GOOGLE_SMTP_SCOPE,
        # a refresh token comes only with access_type=offline, and again only with consent
        authorize_params={"access_type": "offline", "prompt": "consent"},
    )
