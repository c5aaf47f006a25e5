"""One claimed message as the worker holds it, and how each attempt's result is written.

Every write is conditional on the lease (``lease_owner`` = this worker, status "sending"):
a worker that lost its lease (it stalled and another took the message) cannot overwrite the
other's result; it only records its own attempt, flagged *possibly delivered* when DATA had
been sent. A result is written in one short transaction right after the server's reply: the
message, its attempt row and its recipients' rows together, never batched with other
messages, so a crash loses at most the result of the sends in flight.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from emisario.core.dispatch.outcome import Verdict
from emisario.core.smtp.redact import redact_text
from emisario.outbox.models import (
    Attempt,
    AttemptOutcome,
    MessageStatus,
    OutboundMessage,
    Recipient,
    RecipientStatus,
)

log = logging.getLogger("emisario.cronus")


@dataclass
class Rcpt:
    pk: int
    kind: str
    address: str
    display_name: str
    status: str


@dataclass
class Job:
    """What sending one message needs, loaded once per claim (bodies stay on disk)."""

    pk: int
    company_id: int
    type_code: str
    from_address: str
    message_id: str
    head: bytes
    """Every header field but From (``envelope.fixed_head``), rendered at intake."""
    body_name: str
    body_size: int
    needs_smtputf8: bool
    attempts: int
    created_at: datetime
    expires_at: datetime
    recipients: list[Rcpt] = field(default_factory=list)

    @property
    def pending(self) -> list[Rcpt]:
        return [r for r in self.recipients if r.status == RecipientStatus.QUEUED]


_JOBS = (
    "SELECT m.id, m.company_id, t.code, m.from_address, m.message_id, m.head, a.content, "
    "m.body_size, m.needs_smtputf8, m.attempts, m.created_at, m.expires_at "
    "FROM outbox_outboundmessage m "
    "JOIN accounts_accounttype t ON t.id = m.account_type_id "
    "LEFT JOIN outbox_attachment a ON a.id = m.body_id WHERE m.id IN ({ids})"
)
_RECIPIENTS = (
    "SELECT message_id, id, kind, address, display_name, status FROM outbox_recipient "
    "WHERE message_id IN ({ids}) ORDER BY message_id, position"
)


def _when(value: object) -> datetime:
    """A timestamp as the driver returns it (SQLite: text in UTC; PostgreSQL: aware)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_jobs(ids: list[int]) -> list[Job]:
    """The claimed messages as jobs, in two plain queries (no model instances: claiming
    hundreds costs milliseconds, not a millisecond per message)."""
    if not ids:
        return []
    marks = ", ".join(["%s"] * len(ids))
    jobs: dict[int, Job] = {}
    with connection.cursor() as cursor:
        cursor.execute(_JOBS.format(ids=marks), ids)
        for (pk, company, type_code, from_address, message_id, head, body, body_size, smtputf8,
             attempts, created_at, expires_at) in cursor.fetchall():  # fmt: skip
            jobs[pk] = Job(
                pk=pk,
                company_id=company,
                type_code=type_code,
                from_address=from_address,
                message_id=message_id,
                head=head.encode("utf-8"),
                body_name=body or "",
                body_size=body_size,
                needs_smtputf8=bool(smtputf8),
                attempts=attempts,
                created_at=_when(created_at),
                expires_at=_when(expires_at),
            )
        cursor.execute(_RECIPIENTS.format(ids=marks), ids)
        for message, pk, kind, address, name, status in cursor.fetchall():
            jobs[message].recipients.append(Rcpt(pk, kind, address, name, status))
    return [jobs[pk] for pk in ids if pk in jobs]


class LeaseGone(Exception):
    """The message is no longer leased to this worker."""


@dataclass
class Result:
    """The outcome of one attempt, as the worker decided it."""

    status: str
    outcome: str
    step: str = ""
    code: int | None = None
    enhanced: str = ""
    text: str = ""
    error_code: str = ""
    next_attempt_at: datetime | None = None
    accepted: list[str] = field(default_factory=list)
    """Recipients the server took (RCPT 250 and the final 250)."""
    refused: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """Recipients refused for good: address → (code, enhanced, text)."""
    failed_rest: bool = False
    """The recipients still queued fail with the message (expired, refused at DATA)."""
    data_sent: bool = False
    unanswered: bool = False
    """The message was written to the end and the connection died before the reply: the
    server may have queued it (RFC 1047), so the attempt is flagged possibly delivered."""
    replies: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Each accepted recipient's reply: the final reply of its own transaction."""
    verdict: Verdict | None = None


def record(
    job: Job,
    result: Result,
    *,
    owner: str,
    account_id: int | None,
    account_label: str,
    started_at: datetime,
    duration_ms: int,
    secrets: list[str],
) -> bool:
    """Write one attempt's result; False when the lease was gone (then only the attempt row
    is written, flagged possibly delivered if DATA was sent)."""
    now = timezone.now()
    text = redact_text(result.text, secrets)[:4000] if result.text else ""
    final = result.status in (
        MessageStatus.SENT,
        MessageStatus.PARTIALLY_SENT,
        MessageStatus.FAILED,
    )
    changes: dict[str, object] = {
        "status": result.status,
        "attempts": F("attempts") + 1,
        "lease_owner": "",
        "lease_expires_at": None,
        "data_started_at": None,
        "account_used_id": account_id,
        "last_error_code": result.error_code,
        "last_error_text": text if result.status != MessageStatus.SENT else "",
        "last_reply_code": result.code,
        "last_enhanced_code": result.enhanced,
    }
    if result.next_attempt_at is not None:
        changes["next_attempt_at"] = result.next_attempt_at
    if final:
        changes["finished_at"] = now
    with transaction.atomic():
        held = OutboundMessage.objects.filter(
            pk=job.pk, lease_owner=owner, status=MessageStatus.SENDING
        ).update(**changes)
        Attempt.objects.create(
            message_id=job.pk,
            account_id=account_id,
            account_label=account_label[:300],
            worker=owner[:100],
            started_at=started_at,
            finished_at=now,
            duration_ms=duration_ms,
            step=result.step,
            reply_code=result.code,
            enhanced_code=result.enhanced,
            server_text=text,
            outcome=result.outcome if held else AttemptOutcome.INTERRUPTED,
            possibly_delivered=result.unanswered or bool(result.data_sent and not held),
        )
        if held:
            _write_recipients(job, result)
    return bool(held)


def _write_recipients(job: Job, result: Result) -> None:
    rows = Recipient.objects.filter(message_id=job.pk)
    pending = {r.address for r in job.pending}
    accepted = [a for a in result.accepted if a in pending]
    by_reply: dict[tuple[int, str], list[str]] = {}
    for address in accepted:
        code, enhanced = result.replies.get(address, (result.code or 250, result.enhanced))
        by_reply.setdefault((code, enhanced), []).append(address)
    for (code, enhanced), addresses in by_reply.items():
        rows.filter(status=RecipientStatus.QUEUED, address__in=addresses).update(
            status=RecipientStatus.SENT, reply_code=code, enhanced_code=enhanced, reply_text=""
        )
    for address, (code, enhanced, text) in result.refused.items():
        rows.filter(address=address).update(
            status=RecipientStatus.REFUSED, reply_code=code, enhanced_code=enhanced,
            reply_text=text[:2000],
        )  # fmt: skip
    if result.failed_rest:
        rows.filter(status=RecipientStatus.QUEUED).update(status=RecipientStatus.FAILED)
    for rcpt in job.recipients:
        if rcpt.address in accepted:
            rcpt.status = RecipientStatus.SENT
        elif rcpt.address in result.refused:
            rcpt.status = RecipientStatus.REFUSED


_SENT = (
    "UPDATE outbox_outboundmessage SET status = 'sent', attempts = attempts + 1, "
    "lease_owner = '', lease_expires_at = NULL, data_started_at = NULL, account_used_id = %s, "
    "last_error_code = '', last_error_text = '', last_reply_code = %s, "
    "last_enhanced_code = %s, finished_at = %s, updated_at = %s "
    "WHERE lease_owner = %s AND status = 'sending' AND id IN ({ids}) RETURNING id"
)
_ATTEMPT = (
    "INSERT INTO outbox_attempt (message_id, account_id, account_label, worker, started_at, "
    "finished_at, duration_ms, step, reply_code, enhanced_code, server_text, outcome, "
    "possibly_delivered) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_RECIPIENTS_SENT = (
    "UPDATE outbox_recipient SET status = 'sent', reply_code = %s, enhanced_code = %s, "
    "reply_text = '', updated_at = %s WHERE status = 'queued' AND message_id IN ({ids})"
)


def write_sent(owner: str, entries: list) -> set[int]:
    """Write plain successes (every pending recipient accepted by one final reply) in a few
    statements whatever their number; returns the ids whose lease was still held. The caller
    holds the transaction. ``entries`` are :class:`emisario.outbox.ledger.Entry`."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    groups: dict[tuple[int | None, int | None, str], list[int]] = {}
    for entry in entries:
        result = entry.result
        groups.setdefault((entry.account_id, result.code, result.enhanced), []).append(entry.job.pk)
    held: set[int] = set()
    with connection.cursor() as cursor:
        for (account, code, enhanced), ids in groups.items():
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(
                _SENT.format(ids=marks), [account, code, enhanced, now, now, owner, *ids]
            )
            kept = [row[0] for row in cursor.fetchall()]
            held.update(kept)
            if kept:
                cursor.execute(
                    _RECIPIENTS_SENT.format(ids=", ".join(["%s"] * len(kept))),
                    [code, enhanced, now, *kept],
                )
    with connection.cursor() as cursor:
        cursor.executemany(
            _ATTEMPT,
            [
                (
                    entry.job.pk, entry.account_id, entry.account_label[:300], owner[:100],
                    connection.ops.adapt_datetimefield_value(entry.started_at), now,
                    entry.duration_ms, entry.result.step, entry.result.code,
                    entry.result.enhanced, "",
                    AttemptOutcome.SENT if entry.job.pk in held else AttemptOutcome.INTERRUPTED,
                    entry.job.pk not in held,
                )
                for entry in entries
            ],
        )  # fmt: skip
    for entry in entries:
        if entry.job.pk in held:
            for rcpt in entry.job.recipients:
                rcpt.status = RecipientStatus.SENT
    return held


def attempt_line(job: Job, result: Result, account: str, held: bool, duration_ms: int) -> str:
    """One structured line per attempt: never a password, a body or an address list."""
    return json.dumps(
        {
            "event": "attempt",
            "message": job.pk,
            "message_id": job.message_id,
            "account": account,
            "outcome": result.outcome if held else "lease_lost",
            "status": result.status,
            "step": result.step,
            "code": result.code,
            "enhanced": result.enhanced or None,
            "error": result.error_code or None,
            "refused": len(result.refused),
            "ms": duration_ms,
        },
        ensure_ascii=False,
    )
