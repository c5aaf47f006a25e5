"""What every worker on every host must agree on about an account: whether it may send now
(pause switch, pause after a failure, circuit breaker), how much of its limits is spent, and
how many sessions it has open. All of it lives in the database; the decisions are
:mod:`emisario.core.dispatch`'s.

Limits are enforced with reservations: before a message goes, the worker takes one in a short
transaction that first locks the account's health row (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's immediate transaction is already exclusive), counts the reservations still inside
each window and refuses when a limit is reached. A reservation counts from when it was taken
until one window's length after its send *ended*, so a window can never hold more sends than
the limit however the sends of several workers interleave. A worker that dies mid-send leaves
an unfinished reservation; it stops counting one lease later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from emisario.accounts.models import SmtpAccount
from emisario.core.dispatch import breaker as breakers
from emisario.core.dispatch.ladder import AccountKey, AccountState
from emisario.core.dispatch.limits import NO_LIMITS, LimitName, SendingLimits, Wait
from emisario.core.dispatch.outcome import Verdict, pause_until
from emisario.core.smtp.presets import PRESETS
from emisario.outbox.models import (
    AccountHealth,
    AccountLimits,
    SendReservation,
    SessionSlot,
    health_key,
)

LIMIT_FIELDS = (
    "messages_per_minute",
    "messages_per_hour",
    "messages_per_day",
    "recipients_per_day",
    "recipients_per_message",
    "concurrent_sessions",
    "messages_per_session",
)


def minute() -> timedelta:
    """The per-minute window: 60 s, shortened only by tests (EMISARIO_OUTBOX_MINUTE_SECONDS)."""
    return timedelta(seconds=float(getattr(settings, "EMISARIO_OUTBOX_MINUTE_SECONDS", 60)))


def windows() -> dict[LimitName, timedelta]:
    day = timedelta(hours=24)
    return {
        LimitName.MESSAGES_PER_MINUTE: minute(),
        LimitName.MESSAGES_PER_HOUR: timedelta(hours=1),
        LimitName.MESSAGES_PER_DAY: day,
        LimitName.RECIPIENTS_PER_DAY: day,
    }


def limits_for(account: SmtpAccount | None, host: str) -> SendingLimits:
    """The provider's published limits for ``host``, with the account's own over them."""
    preset = next((p for p in PRESETS if p.host == host), None)
    base = preset.limits if preset is not None else NO_LIMITS
    if account is None:
        return base
    try:
        own = account.sending_limits
    except AccountLimits.DoesNotExist:
        return base
    return base.merged(SendingLimits(**{name: getattr(own, name) for name in LIMIT_FIELDS}))


# --- health ---------------------------------------------------------------------------------


def _breaker(row: AccountHealth) -> breakers.Breaker:
    return breakers.Breaker(
        breakers.BreakerState(row.breaker_state),
        row.breaker_failures,
        row.breaker_trips,
        row.breaker_opened_at,
    )


def states(keys: list[AccountKey] | None = None) -> dict[AccountKey, AccountState]:
    """The shared state of accounts (all when ``keys`` is None), keyed as the ladder keys
    them: account id, or None for the generic account."""
    rows = AccountHealth.objects.all()
    if keys is not None:
        rows = rows.filter(key__in=[health_key(k) for k in keys])
    result: dict[AccountKey, AccountState] = {}
    for row in rows:
        key: AccountKey = None if row.key == "generic" else int(row.key.split(":", 1)[1])
        result[key] = AccountState(row.paused_until, row.switched_off, _breaker(row))
    return result


def _health(key: AccountKey, *, lock: bool = False) -> AccountHealth:
    name = health_key(key)
    rows = AccountHealth.objects.select_for_update() if lock else AccountHealth.objects
    row = rows.filter(key=name).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return AccountHealth.objects.create(key=name, account_id=key)
    except IntegrityError:  # created meanwhile by another worker
        return rows.get(key=name)


def record_failure(key: AccountKey, verdict: Verdict, text: str) -> datetime | None:
    """An account-level failure: pause the account and count it on its breaker; returns when
    it may send again."""
    now = timezone.now()
    with transaction.atomic():
        row = _health(key, lock=True)
        pause = verdict.pause
        trip = pause.trips_breaker if pause is not None else False
        breaker = breakers.record_failure(_breaker(row), now=now, trip=trip)
        until = pause_until(verdict, now=now)
        if until is not None and (row.paused_until is None or row.paused_until < until):
            row.paused_until = until
        row.pause_reason = str(verdict.reason or "")
        row.breaker_state = str(breaker.state)
        row.breaker_failures = breaker.failures
        row.breaker_trips = breaker.trips
        row.breaker_opened_at = breaker.opened_at
        row.last_error = text[:2000]
        row.save()
        return row.paused_until


def record_success(key: AccountKey) -> None:
    """A message went through: the breaker closes (only written when it was not closed)."""
    AccountHealth.objects.filter(key=health_key(key)).filter(
        ~Q(breaker_state="closed") | ~Q(breaker_failures=0)
    ).update(breaker_state="closed", breaker_failures=0, breaker_opened_at=None)


def switch(key: AccountKey, *, off: bool) -> None:
    """The console's pause switch for one account."""
    row = _health(key)
    AccountHealth.objects.filter(pk=row.pk).update(switched_off=off)


# --- limits ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reservation:
    pk: int


def _counted(key: str, since: datetime, lease: timedelta) -> Q:
    """Reservations that still count in a window starting at ``since``: ended inside it, or
    not ended and taken less than a lease ago (an unfinished one of a dead worker expires)."""
    return Q(key=key) & (
        Q(finished_at__gt=since) | Q(finished_at=None, reserved_at__gt=since - lease)
    )


def reserve(
    key: AccountKey,
    limits: SendingLimits,
    *,
    recipients: int,
    lease: timedelta,
) -> Reservation | Wait:
    """Take room for one message of ``recipients`` recipients, or say until when to wait."""
    name = health_key(key)
    checks = [
        (limit_name, getattr(limits, str(limit_name)), length)
        for limit_name, length in windows().items()
        if getattr(limits, str(limit_name)) is not None
    ]
    if not checks:
        return Reservation(0)
    with transaction.atomic():
        _health(key, lock=True)  # serialises reservations of this account across workers
        now = timezone.now()
        waits: list[Wait] = []
        for limit_name, limit, length in checks:
            since = now - length
            spent = SendReservation.objects.filter(_counted(name, since, lease)).aggregate(
                count=Count("id"),
                recipients=Sum("recipients"),
                first_end=Min("finished_at"),
                first_taken=Min("reserved_at"),
            )
            used = (
                spent["recipients"] or 0
                if limit_name is LimitName.RECIPIENTS_PER_DAY
                else spent["count"]
            )
            units = recipients if limit_name is LimitName.RECIPIENTS_PER_DAY else 1
            if used == 0 or used + min(units, limit) <= limit:
                continue
            oldest = spent["first_end"] or now
            waits.append(Wait(max(oldest + length, now + timedelta(milliseconds=50)), limit_name))
        if waits:
            return max(waits, key=lambda wait: wait.until)
        row = SendReservation.objects.create(key=name, reserved_at=now, recipients=recipients)
        return Reservation(row.pk)


def finish(reservation: Reservation) -> None:
    if reservation.pk:
        SendReservation.objects.filter(pk=reservation.pk).update(finished_at=timezone.now())


def cancel(reservation: Reservation) -> None:
    """Nothing was sent (no session, no slot, the lease gone): the room goes back."""
    if reservation.pk:
        SendReservation.objects.filter(pk=reservation.pk).delete()


def prune(older_than: timedelta = timedelta(hours=25)) -> int:
    """Forget reservations no window can count any more."""
    cutoff = timezone.now() - older_than
    return SendReservation.objects.filter(reserved_at__lt=cutoff).delete()[0]


# --- session slots --------------------------------------------------------------------------


def take_slot(key: AccountKey, owner: str, cap: int | None, lease: timedelta) -> int | None:
    """A session slot of the account for ``owner`` (its number), or None when all ``cap`` are
    held by live workers. No cap: always slot 0 (nothing to share)."""
    if cap is None:
        return 0
    name = health_key(key)
    with transaction.atomic():
        now = timezone.now()  # once the write lock is held: a lease never starts expired
        for number in range(cap):
            taken = (
                SessionSlot.objects.filter(key=name, number=number)
                .filter(Q(owner="") | Q(expires_at__lt=now) | Q(owner=owner))
                .update(owner=owner, expires_at=now + lease)
            )
            if taken:
                return number
            if not SessionSlot.objects.filter(key=name, number=number).exists():
                try:
                    with transaction.atomic():
                        SessionSlot.objects.create(
                            key=name, number=number, owner=owner, expires_at=now + lease
                        )
                    return number
                except IntegrityError:
                    continue
    return None


def renew_slots(worker: str, lease: timedelta) -> None:
    """Renew every slot of ``worker``'s runners (their owners are ``worker#n``)."""
    with transaction.atomic():  # the clock once the write lock is held
        SessionSlot.objects.filter(owner__startswith=f"{worker}#").update(
            expires_at=timezone.now() + lease
        )


def free_slot(key: AccountKey, owner: str, number: int) -> None:
    SessionSlot.objects.filter(key=health_key(key), number=number, owner=owner).update(
        owner="", expires_at=None
    )


def free_slots(worker: str) -> None:
    SessionSlot.objects.filter(owner__startswith=f"{worker}#").update(owner="", expires_at=None)
