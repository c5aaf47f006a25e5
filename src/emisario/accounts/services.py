"""Writes: saving, deleting and testing accounts, each leaving an audit record."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from emisario.accounts import crypto
from emisario.accounts.models import AccountType, AuditAction, AuditRecord, Company, SmtpAccount
from emisario.core.errors import EmisarioError
from emisario.core.netpolicy import NetworkPolicy
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


@dataclass(frozen=True)
class AccountInput:
    """Validated form values for one account."""

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


class RateLimited(EmisarioError):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many tests; retry in {retry_after} s")


def _audit_value(value):
    if isinstance(value, Company | AccountType):
        return value.code
    if value is None:
        return None
    return value if isinstance(value, bool | int) else str(value)


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


def account_fingerprint(account: SmtpAccount) -> str:
    """A digest of what a test depends on: connection settings and the stored (encrypted)
    password token. It changes when any of them does, so a kept test result can say it is
    stale; it is built from ciphertext, so it tells nothing about the password."""
    material = "\x1f".join(
        str(part)
        for part in (
            account.host,
            account.port,
            account.security,
            account.sender,
            account.login,
            account.password_token,
        )
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def describes_account(account: SmtpAccount, data: AccountInput, password: Secret | None) -> bool:
    """True when a test of ``data`` with ``password`` is a test of the saved ``account``."""
    fields = (*CONNECTION_FIELDS, "sender", "login")
    if any(getattr(account, name) != getattr(data, name) for name in fields):
        return False
    if not account.has_password:
        return password is None
    try:
        stored = crypto.decrypt(account.password_token)
    except UndecryptableSecret:
        return False
    return password is not None and hmac.compare_digest(
        stored.reveal().encode("utf-8"), password.reveal().encode("utf-8")
    )


def account_record_test(account: SmtpAccount, summary: dict) -> None:
    """Keep a test result on the account, with the fingerprint of what was tested."""
    account.last_test = summary
    account.last_test_fingerprint = account_fingerprint(account)
    account.save(update_fields=["last_test", "last_test_fingerprint"])


@transaction.atomic
def account_save(
    *, actor, account: SmtpAccount | None, data: AccountInput, typed_password: Secret | None
) -> SmtpAccount:
    """Create or update an account and record who changed what (never the password)."""
    password = effective_password(account=account, data=data, typed=typed_password)
    creating = account is None
    before = {} if creating else {name: getattr(account, name) for name in AUDITED_FIELDS}
    if creating:
        account = SmtpAccount(created_by=actor)
    for name in AUDITED_FIELDS:
        setattr(account, name, getattr(data, name))
    account.updated_by = actor
    password_changed = bool(typed_password)
    if password_changed:
        account.password_token = crypto.encrypt(typed_password)
    elif password is None:
        account.password_token = ""
    account.save()
    changes = {
        name: [_audit_value(before.get(name)), _audit_value(getattr(account, name))]
        for name in AUDITED_FIELDS
        if creating or before[name] != getattr(account, name)
    }
    if password_changed:
        changes["password"] = "changed"
    AuditRecord.objects.create(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        account=account,
        account_label=str(account),
        company=account.company,
        target=f"{account.host}:{account.port}",
        changes=changes,
    )
    return account


@transaction.atomic
def account_delete(*, actor, account: SmtpAccount) -> None:
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


def probe_policy() -> NetworkPolicy:
    return NetworkPolicy.from_settings(
        ports=settings.EMISARIO_PROBE_PORTS, allow=settings.EMISARIO_PROBE_ALLOW
    )


def probe_tls_context() -> ssl.SSLContext:
    """Certificates are always verified; a CA file adds private CAs to the system's store."""
    context = ssl.create_default_context()
    if settings.EMISARIO_PROBE_CA_FILE:
        context.load_verify_locations(cafile=settings.EMISARIO_PROBE_CA_FILE)
    return context


def claim_probe_slot(
    *, actor, action: str, company: Company | None, account: SmtpAccount | None, target: str
) -> AuditRecord:
    """Record the run before it starts; refuse if the user ran too many in the window. The
    user's row is locked so concurrent requests on several hosts count correctly."""
    limit, window = settings.EMISARIO_PROBE_RATE
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=actor.pk).first()
        since = timezone.now() - timedelta(seconds=window)
        recent = AuditRecord.objects.filter(
            actor=actor, action__in=[AuditAction.TEST, AuditAction.DETECT], at__gte=since
        ).order_by("at")
        if recent.count() >= limit:
            oldest = recent.first().at
            retry = int((oldest + timedelta(seconds=window) - timezone.now()).total_seconds()) + 1
            raise RateLimited(max(retry, 1))
        return AuditRecord.objects.create(
            actor=actor,
            action=action,
            account=account,
            account_label=str(account) if account else "",
            company=company,
            target=target,
            verdict="running",
        )


def run_async(coroutine):
    """Run a coroutine from a synchronous view, in its own event loop."""
    return asyncio.run(coroutine)
