"""OAuth 2.0 for stored accounts: which application and provider an account uses, the grant
a Conectar stores, and the access token every login asks for.

One refresh at a time per account, across every worker and host: a refresh takes the grant's
lease (a conditional UPDATE, the same on SQLite and PostgreSQL), reads the grant again (someone
may have refreshed it meanwhile), calls the provider with no transaction open, stores what came
back and gives the lease up. Everyone else waits for the new token. A rotated refresh token is
stored in the same UPDATE as the access token: losing it would lose the grant.

A grant the provider no longer honours (``invalid_grant``: revoked, expired, password reset)
turns the account to "requiere reconexión" with the provider's own words; CRONUS defers its
mail and fails over, Probar and the screen say how to reconnect.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from emisario.accounts.crypto import decrypt, encrypt
from emisario.accounts.models import (
    AuthMethod,
    GrantStatus,
    OAuthApplication,
    OAuthGrant,
    OAuthProvider,
    SmtpAccount,
)
from emisario.core.errors import InvalidValue
from emisario.core.oauth import client as oauth_client
from emisario.core.oauth import providers
from emisario.core.oauth.bearer import Bearer, BearerSource, BearerUnavailable, Unavailable
from emisario.core.secrets import Secret, UndecryptableSecret

REFRESH_MARGIN = timedelta(minutes=5)
"""A token with less left than this is refreshed first: a session opened with it may send for
a while, and the provider's clock may differ from ours."""
LEASE = timedelta(seconds=2 * oauth_client.TIMEOUT + 5)
"""Longer than a refresh can take (its HTTP timeout), so a lease never runs out mid-refresh."""
WAIT = 2 * oauth_client.TIMEOUT + 10
"""Seconds a login waits for another's refresh before it gives up (TEMPORARY)."""
POLL = 0.1

_REASONS = {
    oauth_client.TokenErrorKind.RECONNECT: Unavailable.RECONNECT,
    oauth_client.TokenErrorKind.CONFIGURATION: Unavailable.CONFIGURATION,
    oauth_client.TokenErrorKind.TEMPORARY: Unavailable.TEMPORARY,
    oauth_client.TokenErrorKind.INVALID_RESPONSE: Unavailable.TEMPORARY,
}


# -- the application and the provider ------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    provider: providers.Provider
    application: oauth_client.Application
    from_settings: bool


def _settings_for(kind: str) -> tuple[str, str, str]:
    prefix = f"EMISARIO_OAUTH_{kind.upper()}_"
    return (
        str(getattr(settings, prefix + "CLIENT_ID", "") or ""),
        str(getattr(settings, prefix + "CLIENT_SECRET", "") or ""),
        str(getattr(settings, prefix + "TENANT", "") or ""),
    )


def provider(kind: str, tenant: str = "") -> providers.Provider:
    """The provider's endpoints, at the configured authority."""
    if kind == OAuthProvider.MICROSOFT:
        authority = settings.EMISARIO_OAUTH_MICROSOFT_AUTHORITY or providers.MICROSOFT_AUTHORITY
        return providers.microsoft(authority, tenant or "organizations")
    if kind == OAuthProvider.GOOGLE:
        return providers.google(settings.EMISARIO_OAUTH_GOOGLE_AUTHORITY or "")
    raise InvalidValue("unknown_oauth_provider", field="oauth_provider", value=kind)


def registration(kind: str) -> Registration:
    """The application for ``kind``: the console's row, else the settings. Raises
    :class:`BearerUnavailable` (CONFIGURATION) when neither is there, or when an authority
    or tenant cannot be used."""
    try:
        return _registration(kind)
    except InvalidValue as exc:
        raise BearerUnavailable(Unavailable.CONFIGURATION, exc.code, exc.field) from None


def _registration(kind: str) -> Registration:
    row = OAuthApplication.objects.filter(provider=kind).first()
    if row is not None:
        try:
            secret = decrypt(row.client_secret_token)
        except UndecryptableSecret:
            raise BearerUnavailable(
                Unavailable.CONFIGURATION, "secret_unreadable", "client secret unreadable"
            ) from None
        app = oauth_client.Application(row.client_id, secret)
        return Registration(provider(kind, row.tenant), app, from_settings=False)
    client_id, secret_text, tenant = _settings_for(kind)
    if not client_id or not secret_text:
        raise BearerUnavailable(Unavailable.CONFIGURATION, "no_application", kind)
    app = oauth_client.Application(client_id, Secret(secret_text))
    return Registration(provider(kind, tenant), app, from_settings=True)


# -- storing a grant -----------------------------------------------------------------------


def store_grant(
    account: SmtpAccount,
    tokens: oauth_client.TokenSet,
    *,
    mailbox: str,
    claims: dict[str, object],
    user: object | None,
) -> OAuthGrant:
    """After Conectar: the grant for ``account``, replacing any earlier one (a reconnect)."""
    if tokens.refresh_token is None:
        raise BearerUnavailable(
            Unavailable.CONFIGURATION, "no_refresh_token", "the provider sent no refresh token"
        )
    now = timezone.now()
    values = {
        "provider": account.oauth_provider,
        "app_only": False,
        "mailbox": mailbox,
        "subject": str(claims.get("oid") or claims.get("sub") or "")[:200],
        "tenant_id": str(claims.get("tid") or claims.get("hd") or "")[:64],
        "refresh_token_token": encrypt(tokens.refresh_token),
        "access_token_token": encrypt(tokens.access_token),
        "access_expires_at": _when(tokens.expires_at),
        "scope": tokens.scope,
        "status": GrantStatus.ACTIVE,
        "status_error": "",
        "status_detail": "",
        "status_at": now,
        "lease_owner": "",
        "lease_until": None,
        "refreshed_at": now,
        "connected_at": now,
        "connected_by": user if getattr(user, "pk", None) else None,
    }
    grant, _created = OAuthGrant.objects.update_or_create(account=account, defaults=values)
    return grant


def disconnect(account: SmtpAccount) -> bool:
    return OAuthGrant.objects.filter(account=account).delete()[0] > 0


# -- the access token ----------------------------------------------------------------------

_local = threading.local()


def _owner() -> str:
    """Who holds a lease: this host, process and thread (never reused by another)."""
    owner = getattr(_local, "owner", None)
    if owner is None:
        owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        _local.owner = owner
    return str(owner)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def source_for(account: SmtpAccount) -> BearerSource:
    """The bearer source a session of ``account`` logs in with."""
    account_id = account.pk

    def source(rejected: Secret | None = None) -> Bearer:
        return access_token(account_id, rejected=rejected)

    return source


def access_token(account_id: int, *, rejected: Secret | None = None) -> Bearer:
    """A valid access token for the account, refreshed first when it has less than
    :data:`REFRESH_MARGIN` left or is the ``rejected`` one. Raises
    :class:`BearerUnavailable`."""
    try:
        return _access_token(account_id, rejected)
    except (SmtpAccount.DoesNotExist, OAuthGrant.DoesNotExist):
        # deleted or disconnected meanwhile (Eliminar, Desconectar, an edit that drops it)
        raise BearerUnavailable(Unavailable.NOT_CONNECTED, "not_connected") from None


def _access_token(account_id: int, rejected: Secret | None) -> Bearer:
    account = SmtpAccount.objects.only("id", "auth_method", "oauth_provider", "sender").get(
        pk=account_id
    )
    if account.auth_method == AuthMethod.OAUTH_APP:
        grant = _app_grant(account)
    else:
        grant = OAuthGrant.objects.filter(account_id=account_id).first()
        if grant is None:
            raise BearerUnavailable(Unavailable.NOT_CONNECTED, "not_connected")
    deadline = time.monotonic() + WAIT
    owner = _owner()
    while True:
        usable = _usable(grant, rejected)
        if usable is not None:
            return usable
        if _take_lease(grant.pk, owner):
            try:
                grant = OAuthGrant.objects.get(pk=grant.pk)
                usable = _usable(grant, rejected)  # refreshed while we waited for the lease
                if usable is not None:
                    return usable
                return _refresh(grant, owner)
            finally:
                _release(grant.pk, owner)
        if time.monotonic() > deadline:
            raise BearerUnavailable(
                Unavailable.TEMPORARY, "refresh_in_progress", "another refresh did not finish"
            )
        time.sleep(POLL)
        grant = OAuthGrant.objects.get(pk=grant.pk)


def _app_grant(account: SmtpAccount) -> OAuthGrant:
    grant, _ = OAuthGrant.objects.get_or_create(
        account=account,
        defaults={
            "provider": account.oauth_provider,
            "app_only": True,
            "mailbox": account.sender,
        },
    )
    return grant


def _usable(grant: OAuthGrant, rejected: Secret | None) -> Bearer | None:
    if grant.status == GrantStatus.RECONNECT:
        raise BearerUnavailable(Unavailable.RECONNECT, grant.status_error, grant.status_detail)
    if not grant.access_token_token or grant.access_expires_at is None:
        return None
    if grant.access_expires_at - timezone.now() < REFRESH_MARGIN:
        return None
    try:
        token = decrypt(grant.access_token_token)
    except UndecryptableSecret:
        return None  # a key rotated out: a refresh stores one the keys can read
    if rejected is not None and token == rejected:
        return None
    return Bearer(token, _epoch(grant.access_expires_at), grant.mailbox)


def _take_lease(grant_id: int, owner: str) -> bool:
    with transaction.atomic():
        # SQLite (BEGIN IMMEDIATE) holds the lock from here, so this is after any wait for
        # it; on PostgreSQL the UPDATE may wait for the row after it, which LEASE covers.
        now = timezone.now()
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
        return bool(
            OAuthGrant.objects.filter(free, pk=grant_id).update(
                lease_owner=owner, lease_until=now + LEASE
            )
        )


def _release(grant_id: int, owner: str) -> None:
    OAuthGrant.objects.filter(pk=grant_id, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )


def _refresh(grant: OAuthGrant, owner: str) -> Bearer:
    """The provider is called here, holding the lease and no transaction."""
    try:
        registered = registration(grant.provider)
        if grant.app_only:
            tokens = oauth_client.app_token(registered.provider, registered.application)
        else:
            try:
                refresh_token = decrypt(grant.refresh_token_token)
            except UndecryptableSecret:
                _mark_reconnect(grant, "refresh_token_unreadable", "")
                raise BearerUnavailable(Unavailable.RECONNECT, "refresh_token_unreadable") from None
            tokens = oauth_client.refresh(
                registered.provider, registered.application, refresh_token
            )
    except oauth_client.TokenError as exc:
        reason = _REASONS[exc.kind]
        if reason is Unavailable.RECONNECT and grant.app_only:
            reason = Unavailable.CONFIGURATION  # nobody can reconnect an application
        if reason is Unavailable.RECONNECT and not _mark_reconnect(
            grant, exc.error, exc.description
        ):
            # the grant changed meanwhile (another refresh rotated it, a reconnect): this
            # refusal was of the old refresh token, not of the grant
            reason = Unavailable.TEMPORARY
        raise BearerUnavailable(reason, exc.error, exc.description) from None
    update: dict[str, object] = {
        "access_token_token": encrypt(tokens.access_token),
        "access_expires_at": _when(tokens.expires_at),
        "refreshed_at": timezone.now(),
        "refresh_count": F("refresh_count") + 1,
    }
    if tokens.refresh_token is not None:  # rotated (Microsoft); Google keeps the old one
        update["refresh_token_token"] = encrypt(tokens.refresh_token)
    if tokens.scope:
        update["scope"] = tokens.scope
    # Only onto the grant this refresh started from (the same refresh token): a reconnect or
    # another refresh that finished meanwhile is newer and wins. Whoever holds the lease now.
    stored = OAuthGrant.objects.filter(
        pk=grant.pk, refresh_token_token=grant.refresh_token_token
    ).update(**update)
    if not stored:
        raise BearerUnavailable(Unavailable.TEMPORARY, "refresh_raced", "the grant changed")
    return Bearer(tokens.access_token, tokens.expires_at, grant.mailbox, refreshed=True)


def _mark_reconnect(grant: OAuthGrant, error: str, description: str) -> bool:
    """True when the grant still held the refresh token the provider refused."""
    return bool(
        OAuthGrant.objects.filter(
            pk=grant.pk, refresh_token_token=grant.refresh_token_token
        ).update(
            status=GrantStatus.RECONNECT,
            status_error=error[:100],
            status_detail=description,
            status_at=timezone.now(),
            access_token_token="",
            access_expires_at=None,
        )
    )
