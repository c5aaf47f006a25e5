"""Claims: which worker holds which message, for how long.

A claim is one short transaction that moves due rows to "sending" under a lease (owner,
expiry) and returns their ids; no transaction is ever open while SMTP talks. On PostgreSQL the
rows are picked with ``FOR UPDATE SKIP LOCKED`` inside a CTE, so concurrent workers on any
number of hosts never wait for each other and never take the same row (the CTE keeps the
planner from updating more rows than the limit, as Oban found). On SQLite the transaction is
``BEGIN IMMEDIATE`` (``emisario.config.database``): one writer at a time, the others wait on
the busy timeout.

A lease that expired (its worker died, or stalled past it) makes the row claimable again. When
the dead worker had started DATA (``data_started_at``), the server may have the message: the
claim records that attempt as interrupted and *possibly delivered*, so the one duplicate no
mail system can avoid is visible, and the resend carries the same Message-ID.

Rows of a company whose pause switch is on (:class:`~.models.CompanyHold`) are never claimed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from emisario.outbox.models import (
    Attempt,
    AttemptOutcome,
    MessageStatus,
    OutboundMessage,
)

# Literal SQL (no user value is ever formatted in): the rows due now, oldest first, and the
# rows whose lease expired; companies with a pause switch on are left out by both.
log = logging.getLogger("emisario.cronus")

_PICK_DUE = """
    SELECT id FROM outbox_outboundmessage
    WHERE status IN ('queued', 'deferred') AND next_attempt_at <= %s
      AND company_id NOT IN (SELECT company_id FROM outbox_companyhold)
    ORDER BY next_attempt_at, id
    LIMIT %s
"""
_PICK_STALE = """
    SELECT id FROM outbox_outboundmessage
    WHERE status = 'sending' AND lease_expires_at < %s
      AND company_id NOT IN (SELECT company_id FROM outbox_companyhold){holding}
    ORDER BY lease_expires_at, id
    LIMIT %s
"""
_NOT_HOLDING = " AND id NOT IN ({ids})"
"""The claiming worker's own messages in flight: their lease may have run out while its
renewal waited for the database, yet they are being sent; taking them back would flag them
possibly delivered and send them again."""
_LEASE = "SET status = 'sending', lease_owner = %s, lease_expires_at = %s"
# data_started_at itself, never "IS NOT NULL": SQLite 3.40 evaluates that expression wrongly
# in UPDATE ... RETURNING on a table with AUTOINCREMENT (it says 1 for NULL).
_RETURNING = " RETURNING {table}id, {table}data_started_at, {table}account_used_id"
_POSTGRES = (
    "WITH picked AS ({pick} FOR UPDATE SKIP LOCKED) UPDATE outbox_outboundmessage AS m "
    + _LEASE
    + " FROM picked WHERE m.id = picked.id"
    + _RETURNING.format(table="m.")
)
_SQLITE_READ = (
    "SELECT id, data_started_at, account_used_id FROM outbox_outboundmessage WHERE id IN ({ids})"
)
_SQLITE_LEASE = "UPDATE outbox_outboundmessage " + _LEASE + " WHERE id IN ({ids})"


def _param(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _update(
    pick: str,
    owner: str,
    expires: datetime,
    now: datetime,
    limit: int,
    holding: Sequence[int] = (),
) -> list[tuple]:
    """Lease the rows ``pick`` selects (its parameters: now, the ``holding`` ids it leaves
    out when it has a ``{holding}`` clause, the limit)."""
    picked = [_param(now), *holding, limit]
    lease = [owner, _param(expires)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES.format(pick=pick), [*picked, *lease])
            return list(cursor.fetchall())
        # SQLite: the caller's immediate transaction already excludes every other writer, so
        # pick, read and update in three plain statements.
        cursor.execute(pick, picked)
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(_SQLITE_READ.format(ids=marks), ids)
        found = {row[0]: row for row in cursor.fetchall()}
        cursor.execute(_SQLITE_LEASE.format(ids=marks), [*lease, *ids])
        return [found[pk] for pk in ids]


def claim(
    owner: str,
    limit: int,
    lease: timedelta,
    *,
    now: datetime | None = None,
    holding: Collection[int] = (),
) -> list[int]:
    """Lease up to ``limit`` due messages to ``owner`` and return their ids, oldest due first;
    expired leases are taken back first (a dead worker's, or this worker's from before a
    restart under the same id), except those of ``holding``: what ``owner`` is sending now."""
    if limit < 1:
        return []
    with transaction.atomic():
        # The clock is read once the transaction holds SQLite's write lock (BEGIN IMMEDIATE),
        # never before: a claim that waited a minute behind a big intake would otherwise
        # hand out leases that had already run out, and the next claim would take its own
        # messages back while they were being sent (flagged possibly delivered, sent twice).
        now = now or timezone.now()
        expires = now + lease
        held = sorted(holding)
        marks = ", ".join(["%s"] * len(held))
        pick_stale = _PICK_STALE.format(holding=_NOT_HOLDING.format(ids=marks) if held else "")
        stale = _update(pick_stale, owner, expires, now, limit, held)
        due = (
            _update(_PICK_DUE, owner, expires, now, limit - len(stale))
            if len(stale) < limit
            else []
        )
        # A row given back after its DATA mark was written (its result could not be) is due
        # again with the mark still set: flagged too, never resent unflagged.
        interrupted = [(pk, account) for pk, started, account in stale + due if started is not None]
        if interrupted:
            Attempt.objects.bulk_create(
                Attempt(
                    message_id=pk,
                    account_id=account,
                    worker=owner,
                    started_at=now,
                    finished_at=now,
                    outcome=AttemptOutcome.INTERRUPTED,
                    possibly_delivered=True,
                    server_text="the worker sending it stopped after DATA had started",
                )
                for pk, account in interrupted
            )
            OutboundMessage.objects.filter(pk__in=[pk for pk, _ in interrupted]).update(
                data_started_at=None
            )
    for pk, _account in interrupted:
        log.warning(json.dumps({"event": "possibly_delivered", "message": pk, "worker": owner}))
    return [row[0] for row in stale] + [row[0] for row in due]


def renew(
    owner: str, lease: timedelta, *, ids: list[int] | None = None, now: datetime | None = None
) -> int:
    """Extend the leases ``owner`` holds (only ``ids`` when given: what it still works on);
    returns how many rows it still holds."""
    rows = OutboundMessage.objects.filter(lease_owner=owner, status=MessageStatus.SENDING)
    if ids is not None:
        if not ids:
            return 0
        rows = rows.filter(pk__in=ids)
    with transaction.atomic():  # the clock once the write lock is held, as in claim()
        now = now or timezone.now()
        return rows.update(lease_expires_at=now + lease)


def release(
    owner: str,
    ids: list[int] | None = None,
    *,
    at: datetime | None = None,
    reason: str = "",
    keep_mark: bool = False,
) -> int:
    """Give messages back unsent (all of ``owner``'s, or ``ids``): due again at ``at`` (now
    by default), "queued" if never tried, else "deferred". Their attempt count is untouched:
    a release is not an attempt. A DATA mark written ahead for a message that never got to
    DATA is cleared; ``keep_mark`` keeps it when DATA may have started (the next claim then
    records the attempt as possibly delivered)."""
    rows = OutboundMessage.objects.filter(lease_owner=owner, status=MessageStatus.SENDING)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    changes: dict[str, object] = {
        "status": Case(
            When(attempts=0, then=Value(MessageStatus.QUEUED)),
            default=Value(MessageStatus.DEFERRED),
        ),
        "lease_owner": "",
        "lease_expires_at": None,
        "next_attempt_at": at or timezone.now(),
    }
    if reason:
        changes["last_error_code"] = reason
    if not keep_mark:
        changes["data_started_at"] = None
    return rows.update(**changes)
