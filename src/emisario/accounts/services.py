"""Writes: saving and deleting accounts, each checked by ``permissions`` and the network
policy, each leaving an audit record. Testing them (Probar, Detectar) is in ``probing``."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from emisario.accounts import crypto, permissions
from emisario.accounts.models import (
    AccountType,
    AuditAction,
    AuditRecord,
    AuthMethod,
    Company,
    OAuthGrant,
    OAuthProvider,
    SmtpAccount,
)
from emisario.core.addresses import header_text
from emisario.core.errors import EmisarioError, InvalidValue
from emisario.core.netpolicy import NetworkPolicy, PolicyRefused, SystemResolver, is_ip_literal
from emisario.core.oauth.bearer import BearerSource
from emisario.core.secrets import Secret, UndecryptableSecret
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint

AUDITED_FIELDS = (
    "company",
    "account_type",
    "priority",
    "host",
    "port",
    "security",
    "sender",
    "login",
    "display_name",
    "enabled",
    "auth_method",
    "oauth_provider",
)
CONNECTION_FIELDS = ("host", "port", "security")
GRANT_FIELDS = ("host", "port", "security", "sender", "login", "auth_method", "oauth_provider")
"""A change to any of these drops an OAuth account's grant: its token would otherwise go to
another server or stand for another mailbox (as a stored password must be typed again)."""
PASSWORD_CHANGED = "changed"
PASSWORD_REMOVED = "removed"
"""The audit trail's only words about a password: whether it changed or was removed."""
MOVE = "move"
"""The key of a move record whose one side is withheld: ``MOVED_OUT`` (the old owner's record:
the values the account had, not the new owner's) or ``MOVED_IN`` (the new owner's: the values
it has now, not the old owner's). Each of those records lists every field, so nothing tells
which of the other owner's values differ either."""
MOVED_OUT = "out"
MOVED_IN = "in"
OTHER_COMPANY = "*"
"""Stands for a company in a system record: a system account's history is read by every
EMISOPT holder, who must not learn which company the account belonged to or went to."""


@dataclass(frozen=True)
class AccountInput:
    """The values of one account. Construction applies the domain's rules (server, port,
    security, Usuario and login as :class:`SmtpEndpoint` checks them, the display name as a
    header text) and keeps their normal forms, so a caller without the console cannot store
    what the form would refuse: ``InvalidValue`` names the field."""

    company: Company | None
    account_type: AccountType
    priority: int
    host: str
    port: int
    security: SecurityMode
    sender: str
    login: str = ""
    display_name: str = ""
    enabled: bool = True
    auth_method: str = AuthMethod.PASSWORD
    oauth_provider: str = ""

    def __post_init__(self) -> None:
        if self.auth_method not in AuthMethod.values:
            raise InvalidValue("invalid_auth_method", field="auth_method", value=self.auth_method)
        if self.auth_method == AuthMethod.PASSWORD:
            object.__setattr__(self, "oauth_provider", "")
        elif self.oauth_provider not in OAuthProvider.values:
            raise InvalidValue("oauth_provider_required", field="oauth_provider")
        elif self.auth_method == AuthMethod.OAUTH_APP and self.oauth_provider != "microsoft":
            raise InvalidValue("app_only_microsoft", field="auth_method")
        checked = self.endpoint(None)
        for name in ("host", "port", "security", "sender", "login"):
            object.__setattr__(self, name, getattr(checked, name))
        header_text(self.display_name, field="display_name")

    def endpoint(
        self, password: Secret | None, *, bearer: BearerSource | None = None
    ) -> SmtpEndpoint:
        return endpoint_of(self, password, bearer=bearer)


def endpoint_of(
    account: AccountInput | SmtpAccount,
    password: Secret | None,
    *,
    bearer: BearerSource | None = None,
) -> SmtpEndpoint:
    """The endpoint of typed values or of a stored account (validated on construction);
    ``bearer``: an OAuth account's token source instead of a password."""
    return SmtpEndpoint(
        host=account.host,
        port=account.port,
        security=account.security,
        sender=account.sender,
        login=account.login,
        password=password,
        bearer=bearer,
    )


class PasswordMustBeRetyped(EmisarioError):
    """The server, port or security mode changed, so the stored password may not be reused:
    otherwise anyone allowed to edit could send a saved password to a server of their own."""


class TargetRefused(EmisarioError):
    """The network policy forbids the account's server or port. ``field`` is "host" or "port"
    (where the form shows it); ``reason`` is for the administrator's log only, the user gets
    the same words as Probar's refusal so nothing tells what listens where."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field} refused by the network policy ({reason})")


class TargetCheck(enum.Enum):
    """What the policy check at Guardar established."""

    ALLOWED = "allowed"
    """Port allowed; every address the name has (or the literal) allowed."""
    UNRESOLVED = "unresolved"
    """Port allowed, but the name did not resolve now (unknown or the resolver failed). The
    account may be saved: sending checks the addresses again when it connects."""


@dataclass(frozen=True)
class Saved:
    account: SmtpAccount
    target: TargetCheck


def _audit_value(value):
    if isinstance(value, Company | AccountType):
        return value.code
    if value is None:
        return None
    return value if isinstance(value, bool | int) else str(value)


@sensitive_variables("typed")
def effective_password(
    *, account: SmtpAccount | None, data: AccountInput, typed: Secret | None
) -> Secret | None:
    """The password a test or save should use: the typed one, or the stored one when the field
    was left blank on an existing account whose server, port and security are unchanged."""
    if data.auth_method != AuthMethod.PASSWORD:
        return None  # signs in with a token: no password is used, or kept
    if typed:
        return typed
    if account is None or not account.has_password or account.uses_oauth:
        return None
    if any(getattr(account, name) != getattr(data, name) for name in CONNECTION_FIELDS):
        raise PasswordMustBeRetyped("connection settings changed; type the password again")
    return crypto.decrypt(account.password_token)


@sensitive_variables("typed")
def password_for_detection(
    *, account: SmtpAccount | None, host: str, typed: Secret | None
) -> Secret | None:
    """Detectar's password: the typed one, or the stored one when the server is the one it was
    saved for. Any port will do: Detectar sends a password only over a verified TLS session."""
    if typed or account is None or not account.has_password:
        return typed
    if account.host != host:
        raise PasswordMustBeRetyped("another server; type the password again")
    return crypto.decrypt(account.password_token)


def probe_policy() -> NetworkPolicy:
    """The one network policy: Guardar, Probar, Detectar and (tomorrow) sending follow it."""
    return NetworkPolicy.from_settings(
        ports=settings.EMISARIO_PROBE_PORTS,
        allow=settings.EMISARIO_PROBE_ALLOW,
        plaintext_auth_allow=settings.EMISARIO_PLAINTEXT_AUTH_ALLOW,
    )


def run_async(coroutine):
    """Run a coroutine from synchronous code (a view, a command), in its own event loop."""
    return asyncio.run(coroutine)


async def _resolve(host: str, port: int, seconds: float) -> list[str]:
    async with asyncio.timeout(seconds):
        return await SystemResolver().resolve(host, port)


def check_target(host: str, port: int) -> TargetCheck:
    """Apply the network policy to a server about to be saved; raise ``TargetRefused``.

    An IP literal or an allow-listed name is checked as it is; another name is resolved
    (within Probar's deadline) and every address must be allowed. A name that does not
    resolve now is not refused: DNS can be down or not yet published, and sending checks the
    addresses again when it connects."""
    policy = probe_policy()
    try:
        policy.check_port(port)
    except PolicyRefused as exc:
        raise TargetRefused("port", exc.reason) from None
    if host in policy.allowed_hosts:
        return TargetCheck.ALLOWED
    if is_ip_literal(host):
        addresses = [host]
    else:
        try:
            addresses = run_async(_resolve(host, port, settings.EMISARIO_PROBE_DEADLINE))
        except (OSError, TimeoutError, UnicodeError):
            return TargetCheck.UNRESOLVED
    try:
        policy.check_addresses(host, addresses)
    except PolicyRefused as exc:
        raise TargetRefused("host", exc.reason) from None
    return TargetCheck.ALLOWED


@sensitive_variables("typed_password", "password")
def account_save(
    *,
    actor,
    account: SmtpAccount | None,
    data: AccountInput,
    typed_password: Secret | None,
    on_saved: Callable[[Saved], None] | None = None,
) -> Saved:
    """Create or update an account and record who changed what (never the password).

    Refuses with ``permissions.AccessDenied`` / ``NotFound`` when ``actor`` may not write it,
    ``PasswordMustBeRetyped`` when a stored password would follow a changed server, and
    ``TargetRefused`` when the network policy forbids the server: every caller, not only the
    screen, gets the same rules.

    The DNS lookup happens before the transaction opens, so the caller must not hold one
    either: on SQLite (``BEGIN IMMEDIATE``) a transaction holds the database-wide write lock
    from its start, and every other writer would wait for the lookup (up to Probar's
    deadline). What must be kept together with the save (finishing a form's claim, recording
    the test that preceded it) goes in ``on_saved``: it runs inside the save's transaction,
    after the write, and if it raises nothing is saved."""
    permissions.check_may_act(actor, account=account, company=data.company)
    app_only = AuthMethod.OAUTH_APP in (data.auth_method, getattr(account, "auth_method", ""))
    if app_only and not permissions.can_manage_system_accounts(actor):
        # the application may send as any mailbox it was given, across companies
        raise permissions.AccessDenied(permissions.PCSMTPG)
    password = effective_password(account=account, data=data, typed=typed_password)
    target = check_target(data.host, data.port)
    with transaction.atomic():
        saved = Saved(
            _write(
                actor=actor,
                account=account,
                data=data,
                typed_password=typed_password,
                keep_password=password is not None,
            ),
            target,
        )
        if on_saved is not None:
            on_saved(saved)
    return saved


@sensitive_variables("typed", "stored")
def _is_stored(account: SmtpAccount, typed: Secret) -> bool:
    """Whether ``typed`` is the password already stored (compared in constant time): saving
    it again is no change, and the history must not say it changed."""
    if not account.has_password:
        return False
    try:
        stored = crypto.decrypt(account.password_token)
    except UndecryptableSecret:
        return False
    return stored == typed  # Secret compares in constant time


@sensitive_variables("typed_password")
def _write(
    *,
    actor,
    account: SmtpAccount | None,
    data: AccountInput,
    typed_password: Secret | None,
    keep_password: bool,
) -> SmtpAccount:
    creating = account is None
    before = {} if creating else {name: getattr(account, name) for name in AUDITED_FIELDS}
    # From the row as it is now, locked, not as this request loaded it: a grant must be
    # dropped whatever another save changed meanwhile.
    locked = None if creating else SmtpAccount.objects.select_for_update().get(pk=account.pk)
    before_grant = {} if locked is None else {name: getattr(locked, name) for name in GRANT_FIELDS}
    before_label = "" if creating else str(account)
    before_target = "" if creating else f"{account.host}:{account.port}"
    if creating:
        account = SmtpAccount(created_by=actor)
    for name in AUDITED_FIELDS:
        setattr(account, name, getattr(data, name))
    account.updated_by = actor
    had_password = account.has_password
    oauth = data.auth_method != AuthMethod.PASSWORD
    password_changed = not oauth and bool(typed_password)
    password_changed = password_changed and not _is_stored(account, typed_password)
    if password_changed:
        account.password_token = crypto.encrypt(typed_password)
    elif oauth or (not typed_password and not keep_password):
        account.password_token = ""
    account.save()
    grant_dropped = (
        not creating
        and any(before_grant[name] != getattr(account, name) for name in GRANT_FIELDS)
        and OAuthGrant.objects.filter(account=account).delete()[0] > 0
    )
    # Only the fact, never a value: the history shows "Contraseña: cambiada" / "quitada".
    password = None
    if password_changed:
        password = PASSWORD_CHANGED
    elif had_password and not account.has_password:
        password = PASSWORD_REMOVED
    after = {name: getattr(account, name) for name in AUDITED_FIELDS}
    record = {"actor": actor, "account": account}
    if creating:
        changes = {name: [None, _audit_value(value)] for name, value in after.items()}
        if password:
            changes["password"] = password
        AuditRecord.objects.create(
            **record,
            action=AuditAction.CREATE,
            account_label=str(account),
            company=account.company,
            target=f"{account.host}:{account.port}",
            changes=changes,
        )
        return account
    old_owner, new_owner = before["company"], after["company"]
    sides = [old_owner] if old_owner == new_owner else [old_owner, new_owner]
    for side in sides:
        # A move between owners writes a record for each: the old owner's and the new one's,
        # each holding only what that owner may know. The system's values are every EMISOPT
        # holder's (they see system accounts on the screen); a company's are its members'.
        sees_before = old_owner is None or old_owner == side
        sees_after = new_owner is None or new_owner == side
        changes = {}
        for name in AUDITED_FIELDS:
            was, now = _audit_value(before[name]), _audit_value(after[name])
            if name == "company" and side is None:
                was = OTHER_COMPANY if was is not None else None
                now = OTHER_COMPANY if now is not None else None
            if name == "company" or (sees_before and sees_after):
                if before[name] != after[name]:  # the move itself: the owners, named or not
                    changes[name] = [was, now]
            else:
                changes[name] = [was if sees_before else None, now if sees_after else None]
        if not sees_after:
            changes[MOVE] = MOVED_OUT
        elif not sees_before:
            changes[MOVE] = MOVED_IN
        if password and sees_after:
            changes["password"] = password
        if grant_dropped and sees_after:
            changes["oauth"] = "disconnected"
        AuditRecord.objects.create(
            **record,
            action=AuditAction.UPDATE,
            account_label=str(account) if sees_after else before_label,
            company=side,
            target=f"{account.host}:{account.port}" if sees_after else before_target,
            changes=changes,
        )
    return account


def account_delete(*, actor, account: SmtpAccount) -> None:
    """Delete an account ``actor`` may change, recording what it was."""
    permissions.check_may_act(actor, account=account, company=account.company)
    with transaction.atomic():
        AuditRecord.objects.create(
            actor=actor,
            action=AuditAction.DELETE,
            account=None,
            account_label=str(account),
            company=account.company,
            target=f"{account.host}:{account.port}",
            changes={name: [_audit_value(getattr(account, name)), None] for name in AUDITED_FIELDS},
        )
        account.delete()
