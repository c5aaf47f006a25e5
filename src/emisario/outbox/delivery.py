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
from datetime import datetime

from django.db import transaction
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
    RecipientKind,
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
    reply_to: str
    subject: str
    headers: list[list[str]]
    message_id: str
    date: datetime
    mime_head: bytes
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

    def visible(self, kind: str) -> list[tuple[str, str]]:
        return [(r.address, r.display_name) for r in self.recipients if r.kind == kind]


def load_jobs(ids: list[int]) -> list[Job]:
    if not ids:
        return []
    rows = (
        OutboundMessage.objects.filter(pk__in=ids)
        .select_related("account_type", "body")
        .defer("text_body", "html_body")
        .order_by("next_attempt_at", "id")
    )
    jobs = {
        m.pk: Job(
            pk=m.pk,
            company_id=m.company_id,
            type_code=m.account_type.code,
            from_address=m.from_address,
            reply_to=m.reply_to,
            subject=m.subject,
            headers=m.headers,
            message_id=m.message_id,
            date=m.date,
            mime_head=m.mime_head.encode("ascii"),
            body_name=m.body.content.name if m.body is not None else "",
            body_size=m.body_size,
            needs_smtputf8=m.needs_smtputf8,
            attempts=m.attempts,
            created_at=m.created_at,
            expires_at=m.expires_at,
        )
        for m in rows
    }
    for r in Recipient.objects.filter(message_id__in=list(jobs)).order_by("message_id", "position"):
        jobs[r.message_id].recipients.append(
            Rcpt(r.pk, r.kind, r.address, r.display_name, r.status)
        )
    return [jobs[pk] for pk in ids if pk in jobs]


class LeaseGone(Exception):
    """The message is no longer leased to this worker."""


def mark_data_started(job: Job, owner: str) -> None:
    """Written right before DATA; if it finds the lease gone, nothing is sent."""
    updated = OutboundMessage.objects.filter(
        pk=job.pk, lease_owner=owner, status=MessageStatus.SENDING
    ).update(data_started_at=timezone.now())
    if not updated:
        raise LeaseGone(job.pk)


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
            possibly_delivered=bool(result.data_sent and not held),
        )
        if held:
            _write_recipients(job, result)
    _log(job, result, account_label, held, duration_ms)
    return bool(held)


def _write_recipients(job: Job, result: Result) -> None:
    rows = Recipient.objects.filter(message_id=job.pk)
    pending = {r.address for r in job.pending}
    accepted = [a for a in result.accepted if a in pending]
    if accepted:
        every = len(accepted) == len(pending) and not result.refused
        target = rows.filter(status=RecipientStatus.QUEUED)
        (target if every else target.filter(address__in=accepted)).update(
            status=RecipientStatus.SENT,
            reply_code=result.code,
            enhanced_code=result.enhanced,
            reply_text="",
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


def _log(job: Job, result: Result, account: str, held: bool, duration_ms: int) -> None:
    """One structured line per attempt: never a password, a body or an address list."""
    log.info(
        json.dumps(
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
    )


def kind_to(job: Job) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return job.visible(RecipientKind.TO), job.visible(RecipientKind.CC)
