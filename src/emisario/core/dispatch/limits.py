"""Per-account sending limits, and whether a message may go now or must wait.

Quotas are per *account* and cluster-wide (every worker on every host spends the same Gmail
day), so the counts live in the database and the worker reads them; this module only decides.
Windows are rolling, as Google's and Microsoft's are ("rolling 24 hours"): the caller gives,
for each window, how much was used within it and when the oldest of those uses leaves it.
Over a limit a message is *deferred* until then, never failed.

Provider numbers are in :mod:`emisario.core.smtp.presets` (each :class:`~.presets.Preset`
has its ``limits``); they change without notice, so an account may override them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SendingLimits:
    """An account's limits; None means none known (not enforced)."""

    messages_per_minute: int | None = None
    messages_per_hour: int | None = None
    messages_per_day: int | None = None
    recipients_per_day: int | None = None
    """Providers count recipients, not messages (Google, Microsoft 365, Amazon SES)."""
    recipients_per_message: int | None = None
    """More recipients go in further transactions of the same message."""
    concurrent_sessions: int | None = None
    messages_per_session: int | None = None
    """Recycle the session after this many messages."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and value < 1:
                raise ValueError(f"{item.name} must be at least 1 (or None: no limit)")

    def merged(self, override: SendingLimits) -> SendingLimits:
        """These limits with every value ``override`` sets replacing ours (an account's own
        settings over its provider's preset)."""
        values = {
            item.name: getattr(override, item.name)
            if getattr(override, item.name) is not None
            else getattr(self, item.name)
            for item in fields(self)
        }
        return SendingLimits(**values)


NO_LIMITS = SendingLimits()


class Window(enum.StrEnum):
    """A rolling window a limit is counted in."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def length(self) -> timedelta:
        return _LENGTHS[self]


_LENGTHS = {
    Window.MINUTE: timedelta(minutes=1),
    Window.HOUR: timedelta(hours=1),
    Window.DAY: timedelta(hours=24),
}


@dataclass(frozen=True, slots=True)
class Usage:
    """What an account already spent in one window: ``used`` units (messages or recipients)
    sent in the last ``window.length``, and ``oldest_at``, the time of the oldest of them
    (None when ``used`` is 0). The worker counts attempts' rows for this."""

    used: int = 0
    oldest_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Spent:
    """An account's usage in every window it has limits for."""

    messages_minute: Usage = Usage()
    messages_hour: Usage = Usage()
    messages_day: Usage = Usage()
    recipients_day: Usage = Usage()


class LimitName(enum.StrEnum):
    """Which limit made a message wait (logged, and shown by the console)."""

    MESSAGES_PER_MINUTE = "messages_per_minute"
    MESSAGES_PER_HOUR = "messages_per_hour"
    MESSAGES_PER_DAY = "messages_per_day"
    RECIPIENTS_PER_DAY = "recipients_per_day"


@dataclass(frozen=True, slots=True)
class Allowed:
    """The message may go now."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Defer the message until ``until`` (then ask again: more room may be needed)."""

    until: datetime
    limit: LimitName


def check(
    limits: SendingLimits,
    spent: Spent,
    *,
    now: datetime,
    recipients: int = 1,
) -> Allowed | Wait:
    """May one message with ``recipients`` recipients go now through this account?

    When a window is full, the wait lasts until its oldest use leaves it. A message larger
    than a whole day's recipient budget is judged against an empty window (it goes alone, and
    the provider's own limit has the last word), so it can never wait forever.
    """
    if recipients < 1:
        raise ValueError("a message has at least one recipient")
    checks = (
        (LimitName.MESSAGES_PER_MINUTE, limits.messages_per_minute, spent.messages_minute,
         Window.MINUTE, 1),
        (LimitName.MESSAGES_PER_HOUR, limits.messages_per_hour, spent.messages_hour,
         Window.HOUR, 1),
        (LimitName.MESSAGES_PER_DAY, limits.messages_per_day, spent.messages_day,
         Window.DAY, 1),
        (LimitName.RECIPIENTS_PER_DAY, limits.recipients_per_day, spent.recipients_day,
         Window.DAY, recipients),
    )  # fmt: skip
    waits: list[Wait] = []
    for name, limit, usage, window, units in checks:
        if limit is None or usage.used == 0 or usage.used + min(units, limit) <= limit:
            continue
        oldest = usage.oldest_at if usage.oldest_at is not None else now
        waits.append(Wait(max(oldest + window.length, now), name))
    if not waits:
        return Allowed()
    return max(waits, key=lambda wait: wait.until)


def may_open_session(limits: SendingLimits, open_sessions: int) -> bool:
    """Whether another session of this account may open (Microsoft 365 allows 3)."""
    return limits.concurrent_sessions is None or open_sessions < limits.concurrent_sessions


def session_spent(limits: SendingLimits, messages_sent: int) -> bool:
    """Whether the session has carried its share of messages and must be recycled."""
    return limits.messages_per_session is not None and messages_sent >= limits.messages_per_session


def recipient_batches(limits: SendingLimits, recipients: Sequence[T]) -> list[Sequence[T]]:
    """``recipients`` split into the SMTP transactions one message needs (Gmail: 100 per
    message), in order; one batch when there is no limit."""
    size = limits.recipients_per_message
    if size is None or len(recipients) <= size:
        return [recipients]
    return [recipients[start : start + size] for start in range(0, len(recipients), size)]
