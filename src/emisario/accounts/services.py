"""Writes: saving and deleting accounts, each checked by ``permissions`` and the network
policy, each leaving an audit record. Testing them (Probar, Detectar) is in ``probing``."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from emisario.accounts import crypto, permissions
from emisario.accounts.models import AccountType, AuditAction, AuditRecord, Company, SmtpAccount
from emisario.core.addresses import header_text
from emisario.core.errors import EmisarioError
from emisario.core.netpolicy import NetworkPolicy, PolicyRefused, SystemResolver, is_ip_literal
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
)
CONNECTION_FIELDS = ("host", "port", "security")
PASSWORD_CHANGED = "changed"
PASSWORD_REMOVED = "removed"
"""The audit trail's only words about a password: whether it changed or was removed."""


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

    def __post_init__(self) -> None:
        checked = self.endpoint(None)
        for name in ("host", "port", "security", "sender", "login"):
            object.__setattr__(self, name, getattr(checked, name))
        header_text(self.display_name, field="display_name")

    def endpoint(self, password: Secret | None) -> SmtpEndpoint:
        return SmtpEndpoint(
            host=self.host,
            port=self.port,
            security=self.security,
            sender=self.sender,
            login=self.login,
            password=password,
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
    if typed:
        return typed
    if account is None or not account.has_password:
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
    *, actor, account: SmtpAccount | None, data: AccountInput, typed_password: Secret | None
) -> Saved:
    """Create or update an account and record who changed what (never the password).

    Refuses with ``permissions.AccessDenied`` / ``NotFound`` when ``actor`` may not write it,
    ``PasswordMustBeRetyped`` when a stored password would follow a changed server, and
    ``TargetRefused`` when the network policy forbids the server: every caller, not only the
    screen, gets the same rules. The DNS lookup happens before the transaction opens."""
    permissions.check_may_act(actor, account=account, company=data.company)
    password = effective_password(account=account, data=data, typed=typed_password)
    target = check_target(data.host, data.port)
    with transaction.atomic():
        saved = _write(
            actor=actor,
            account=account,
            data=data,
            typed_password=typed_password,
            keep_password=password is not None,
        )
    return Saved(saved, target)


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
    if creating:
        account = SmtpAccount(created_by=actor)
    for name in AUDITED_FIELDS:
        setattr(account, name, getattr(data, name))
    account.updated_by = actor
    had_password = account.has_password
    password_changed = bool(typed_password) and not _is_stored(account, typed_password)
    if password_changed:
        account.password_token = crypto.encrypt(typed_password)
    elif not typed_password and not keep_password:
        account.password_token = ""
    account.save()
    changes = {
        name: [_audit_value(before.get(name)), _audit_value(getattr(account, name))]
        for name in AUDITED_FIELDS
        if creating or before[name] != getattr(account, name)
    }
    # Only the fact, never a value: the history shows "Contraseña: cambiada" / "quitada".
    if password_changed:
        changes["password"] = PASSWORD_CHANGED
    elif had_password and not account.has_password:
        changes["password"] = PASSWORD_REMOVED
    AuditRecord.objects.create(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        account=account,
        account_label=str(account),
        # A move between a company and the system belongs to where the account was: its
        # "before" values are that company's, not for the readers of a system account.
        company=account.company if creating else before["company"],
        target=f"{account.host}:{account.port}",
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
