"""When to try a message again, and when to give up.

RFC 5321 section 4.5.4.1: a sender must wait after a failed attempt, retries should not come
faster than every 30 minutes once the first have failed, and give-up "generally needs to be at
least 4-5 days". A submission server's 4xx (greylisting, a busy moment) usually clears in
minutes, so the schedule starts there and grows exponentially to :attr:`RetryPolicy.cap`,
with jitter so that a month-end run deferred at once does not come back at once. Peers either
retry forever (Frappe#21304, nullmailer#1) or too briefly; here the give-up time is an expiry
after queueing, default 5 days, and the message then fails as "expired" with its last reply.

Everything is a pure function of the attempt number, the clock and a random source the caller
passes (tests pass a fixed one).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


class RandomSource(Protocol):
    """What jitter needs; :class:`random.Random` has it."""

    def uniform(self, a: float, b: float, /) -> float: ...


class Jitter(enum.StrEnum):
    """How a delay is drawn below its ceiling (AWS Architecture Blog, "Exponential Backoff
    and Jitter")."""

    FULL = "full"
    """Uniform between :attr:`RetryPolicy.floor` and the attempt's ceiling."""
    DECORRELATED = "decorrelated"
    """Uniform between the first delay and three times the previous one, capped: spreads
    retries as well as FULL and grows from what actually happened."""
    NONE = "none"
    """Exactly the ceiling: for tests and for reading the schedule."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: timedelta = timedelta(minutes=5)
    """Ceiling of the first retry's delay."""
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    """No delay is longer: past the ramp, retries come every 30-60 minutes (RFC 5321)."""
    floor: timedelta = timedelta(seconds=30)
    """No delay is shorter: an immediate retry would hit the same condition."""
    expiry: timedelta = timedelta(days=5)
    """Give up this long after the message was queued."""
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        if not timedelta(0) < self.floor <= self.first <= self.cap:
            raise ValueError("a retry policy needs 0 < floor <= first <= cap")
        if self.factor < 1:
            raise ValueError("a retry policy's factor must be at least 1")
        if self.expiry <= timedelta(0):
            raise ValueError("a retry policy's expiry must be positive")


DEFAULT_POLICY = RetryPolicy()
_SYSTEM_RANDOM = random.SystemRandom()


def ceiling(attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> timedelta:
    """The longest delay after failed attempt number ``attempt`` (1 for the first):
    ``first * factor ** (attempt - 1)``, capped; never decreasing with ``attempt``."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    cap = policy.cap.total_seconds()
    seconds = policy.first.total_seconds()
    for _ in range(attempt - 1):  # multiply step by step: no float overflow on huge counts
        seconds *= policy.factor
        if seconds >= cap:
            return policy.cap
    return timedelta(seconds=seconds)


def retry_delay(
    attempt: int,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    previous: timedelta | None = None,
    rng: RandomSource = _SYSTEM_RANDOM,
) -> timedelta:
    """How long to wait after failed attempt ``attempt``; between ``policy.floor`` and
    :func:`ceiling` for FULL, between ``floor`` and ``cap`` for DECORRELATED (which needs the
    ``previous`` delay, if there was one)."""
    floor = policy.floor.total_seconds()
    if policy.jitter is Jitter.NONE:
        return ceiling(attempt, policy)
    if policy.jitter is Jitter.DECORRELATED:
        base = policy.first.total_seconds()
        upper = 3 * (previous.total_seconds() if previous is not None else base)
        seconds = rng.uniform(base, max(base, upper))
        return timedelta(seconds=min(max(seconds, floor), policy.cap.total_seconds()))
    top = ceiling(attempt, policy).total_seconds()
    return timedelta(seconds=min(max(rng.uniform(floor, top), floor), top))


def expires_at(queued_at: datetime, policy: RetryPolicy = DEFAULT_POLICY) -> datetime:
    return queued_at + policy.expiry


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at ``when`` (never after the expiry)."""

    when: datetime
    delay: timedelta


@dataclass(frozen=True, slots=True)
class Expired:
    """Give up: the message fails as expired; ``last_reply`` is the reply (or local error)
    of its last attempt, kept for the user."""

    expired_at: datetime
    last_reply: str


def schedule_retry(
    attempt: int,
    *,
    now: datetime,
    queued_at: datetime,
    last_reply: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    previous: timedelta | None = None,
    rng: RandomSource = _SYSTEM_RANDOM,
    expires: datetime | None = None,
) -> RetryAt | Expired:
    """After failed attempt ``attempt``: when to retry, or :class:`Expired` once the expiry
    has passed. ``expires`` overrides ``queued_at + policy.expiry`` (a message may carry its
    own). A retry that would land after the expiry is moved onto it: one last attempt at the
    deadline, then the next call gives up."""
    deadline = expires if expires is not None else expires_at(queued_at, policy)
    if now >= deadline:
        return Expired(deadline, last_reply)
    delay = retry_delay(attempt, policy=policy, previous=previous, rng=rng)
    when = min(now + delay, deadline)
    return RetryAt(when, when - now)
