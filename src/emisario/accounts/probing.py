"""Running Probar and Detectar for a user: permission, rate limit, audit trail and the last
result kept on the account.

Nothing here knows about the web console, so CRONUS, a management command or the API can
test an account the same way the screen does; the console only turns the results into words
(``emisario.console.probe``).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from emisario.accounts import crypto, oauth, permissions
from emisario.accounts.models import (
    AuditAction,
    AuditRecord,
    AuthMethod,
    Company,
    OAuthGrant,
    SmtpAccount,
)
from emisario.accounts.services import (
    CONNECTION_FIELDS,
    GRANT_FIELDS,
    AccountInput,
    probe_policy,
)
from emisario.core.errors import EmisarioError
from emisario.core.oauth.bearer import (
    AsyncBearerSource,
    Bearer,
    BearerSource,
    BearerUnavailable,
    Unavailable,
)
from emisario.core.secrets import Secret, UndecryptableSecret
from emisario.core.smtp.confirmation import confirmation_message
from emisario.core.smtp.detect import Detection, detect, parse_combinations
from emisario.core.smtp.diagnose import diagnose
from emisario.core.smtp.steps import Diagnosis
from emisario.core.smtp.tlsinfo import default_tls_context


class RateLimited(EmisarioError):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many tests; retry in {retry_after} s")


def probe_tls_context() -> ssl.SSLContext:
    """Certificates are always verified; a CA file adds private CAs to the system's store."""
    return default_tls_context(settings.EMISARIO_PROBE_CA_FILE or None)


def claim_probe_slot(
    *, actor, action: str, company: Company | None, account: SmtpAccount | None, target: str
) -> AuditRecord:
    """Record the run before it starts; refuse if *this* user ran too many in the window.
    The user's row is locked so concurrent requests on several hosts count correctly."""
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


@sensitive_variables("password", "stored")
def describes_account(account: SmtpAccount, data: AccountInput, password: Secret | None) -> bool:
    """True when a test of ``data`` with ``password`` is a test of the saved ``account``."""
    fields = (*CONNECTION_FIELDS, "sender", "login", "auth_method", "oauth_provider")
    if any(getattr(account, name) != getattr(data, name) for name in fields):
        return False
    if account.uses_oauth:
        return password is None
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


def summary_of(diagnosis: Diagnosis) -> dict:
    """A diagnosis as kept on an account (JSON), with when it ran."""
    summary = diagnosis.as_dict()
    summary["tested_at"] = timezone.now().isoformat()
    return summary


def tested_at(summary: dict | None) -> datetime | None:
    """When a kept test ran, as an aware datetime (the summary keeps ISO 8601 in UTC); the
    pages show it in the configured time zone and the page's language. None if unknown."""
    raw = (summary or {}).get("tested_at")
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return None
    return when if timezone.is_aware(when) else timezone.make_aware(when, UTC)


def last_test_of(account: SmtpAccount) -> dict | None:
    """The account's last test, marked stale when the account changed since."""
    if not account.last_test:
        return None
    result = dict(account.last_test)
    result["stale"] = account_fingerprint(account) != account.last_test_fingerprint
    return result


async def _awaited(coroutine):
    return await coroutine


def _audited(record: AuditRecord, coroutine):
    """Run a test; if it raises (a value the domain refuses, a bug), the audit row says so
    instead of staying "running" for ever."""
    try:
        # async_to_sync, not asyncio.run: an OAuth account's token source (sync_to_async,
        # thread-sensitive) then reads and writes the grant in this thread, on its connection.
        return async_to_sync(_awaited)(coroutine)
    except BaseException as exc:
        record.verdict = f"error:{type(exc).__name__}"[:60]
        record.save(update_fields=["verdict"])
        raise


@sensitive_variables("password")
def bearer_for(
    account: SmtpAccount | None, data: AccountInput
) -> BearerSource | AsyncBearerSource | None:
    """The token source a test of ``data`` may use: the saved account's, and only while the
    form still holds what the account was connected for (server, Usuario, provider...). A
    token never goes to a server typed since, as a stored password never does."""
    if data.auth_method == AuthMethod.PASSWORD:
        return None
    if account is None or any(getattr(account, f) != getattr(data, f) for f in GRANT_FIELDS):
        return _not_connected
    return sync_to_async(oauth.source_for(account), thread_sensitive=True)


def bearer_for_detection(
    account: SmtpAccount | None, *, host: str, sender: str, login: str, provider: str
) -> AsyncBearerSource | None:
    """Detectar's token check for an OAuth account: only the saved and connected account's
    token, and only to the server, Usuario and login it was connected for (any port, as
    Detectar sends a credential only over verified TLS). Otherwise nothing is checked."""
    if account is None or account.auth_method != AuthMethod.OAUTH or not account.uses_oauth:
        return None
    same = (account.host, account.sender, account.login, account.oauth_provider) == (
        host,
        sender,
        login,
        provider,
    )
    if not same or not OAuthGrant.objects.filter(account=account).exists():
        return None
    return sync_to_async(oauth.source_for(account), thread_sensitive=True)


def _not_connected(rejected: Secret | None = None) -> Bearer:
    raise BearerUnavailable(Unavailable.NOT_CONNECTED, "save_and_connect")


def run_probe(
    *,
    actor,
    account: SmtpAccount | None,
    data: AccountInput,
    password: Secret | None,
    language: str = "es",
) -> Diagnosis:
    """Probar: send the real confirmation mail to the Usuario address, within the policy
    and the deadline. Checks ``actor`` may act on it (``permissions``), counts against their
    rate limit (``RateLimited``), audits the run and, when it tested the saved account as it
    is, keeps the result on it."""
    permissions.check_may_act(actor, account=account, company=data.company)
    endpoint = data.endpoint(password, bearer=bearer_for(account, data))
    # Built before the run is counted: a message that cannot be built costs no rate limit.
    message = confirmation_message(
        endpoint,
        recipient=endpoint.sender,
        now=timezone.localtime(),
        language=language[:2],
        display_name=data.display_name,
    )
    record = claim_probe_slot(
        actor=actor,
        action=AuditAction.TEST,
        company=data.company,
        account=account,
        target=endpoint.target,
    )
    diagnosis = _audited(
        record,
        diagnose(
            endpoint,
            recipient=endpoint.sender,
            message=message,
            policy=probe_policy(),
            deadline=settings.EMISARIO_PROBE_DEADLINE,
            tls_context=probe_tls_context(),
        ),
    )
    failure = diagnosis.failure
    record.verdict = "ok" if diagnosis.ok else f"{failure.step}:{failure.advice}"[:60]
    record.changes = {
        "security": str(endpoint.security),
        "steps": [[r.step.value, r.status.value, r.reply_code] for r in diagnosis.steps],
    }
    if failure is not None and "policy_reason" in failure.details:
        record.changes["policy_reason"] = failure.details["policy_reason"]
    record.save(update_fields=["verdict", "changes"])
    if account is not None and describes_account(account, data, password):
        account_record_test(account, summary_of(diagnosis))
    return diagnosis


@sensitive_variables("password")
def run_detect(
    *,
    actor,
    company: Company | None,
    account: SmtpAccount | None,
    host: str,
    sender: str,
    login: str = "",
    password: Secret | None,
    port: int | None = None,
    bearer: BearerSource | AsyncBearerSource | None = None,
) -> Detection:
    """Detectar on ``host``: every sensible port and security side by side (the typed ``port``
    first, in every mode), the password (if any) only over verified TLS. ``company`` is the
    account's owner (None: a system account); the same permission, rate limit and audit rules
    as ``run_probe``."""
    permissions.check_may_act(actor, account=account, company=company)
    record = claim_probe_slot(
        actor=actor,
        action=AuditAction.DETECT,
        company=company,
        account=account,
        target=host,
    )
    detection = _audited(
        record,
        detect(
            host=host,
            sender=sender,
            login=login,
            password=password,
            policy=probe_policy(),
            deadline=settings.EMISARIO_PROBE_DEADLINE,
            tls_context=probe_tls_context(),
            combinations=parse_combinations(settings.EMISARIO_DETECT_COMBINATIONS),
            port=port,
            bearer=bearer,
        ),
    )
    proposal = detection.proposal
    record.verdict = f"{proposal.port}/{proposal.security}" if proposal else "none"
    record.changes = {
        "tried": [[c.port, str(c.security), c.ok] for c in detection.candidates],
        "warnings": [str(w) for w in detection.warnings],
        "password_checked": detection.auth is not None,
    }
    record.save(update_fields=["verdict", "changes"])
    return detection
