"""A circuit breaker per account, as pure state transitions the database stores.

One broken session must not turn into hundreds of failures (Frappe PR #40837): after
:attr:`BreakerPolicy.threshold` consecutive account-level failures the breaker *opens* and
the ladder skips the account; after a cool-down it is *half-open* and one attempt may probe
it; a success closes it, a failure opens it again with a longer cool-down. A failure that
cannot heal by itself (a refused password: retrying gets the mailbox locked) opens it at once.
The console shows the state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


class BreakerState(enum.StrEnum):
    """Stored on the account row: never rename a value."""

    CLOSED = "closed"
    """Sending normally; failures are being counted."""
    OPEN = "open"
    """Skipped by the ladder until the cool-down ends."""
    HALF_OPEN = "half_open"
    """The cool-down ended: the next attempt is a probe."""


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    threshold: int = 5
    """Consecutive account-level failures that open the breaker."""
    cool_down: timedelta = timedelta(minutes=5)
    max_cool_down: timedelta = timedelta(hours=6)
    """Each re-opening doubles the cool-down, up to this."""

    def __post_init__(self) -> None:
        if self.threshold < 1 or not timedelta(0) < self.cool_down <= self.max_cool_down:
            raise ValueError("a breaker needs threshold >= 1 and 0 < cool_down <= max_cool_down")

    def cool_down_after(self, trips: int) -> timedelta:
        """The cool-down after the breaker opened ``trips`` times in a row (1 for the first)."""
        seconds = self.cool_down.total_seconds()
        limit = self.max_cool_down.total_seconds()
        for _ in range(max(trips, 1) - 1):
            seconds = min(seconds * 2, limit)
        return timedelta(seconds=seconds)


DEFAULT_BREAKER = BreakerPolicy()


@dataclass(frozen=True, slots=True)
class Breaker:
    """One account's breaker, as stored."""

    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    """Consecutive account-level failures while closed."""
    trips: int = 0
    """Times it opened since it was last closed by a success."""
    opened_at: datetime | None = None


CLOSED = Breaker()


def reopens_at(breaker: Breaker, policy: BreakerPolicy = DEFAULT_BREAKER) -> datetime | None:
    """When an open breaker turns half-open; None unless it is open."""
    if breaker.state is not BreakerState.OPEN or breaker.opened_at is None:
        return None
    return breaker.opened_at + policy.cool_down_after(breaker.trips)


def current(breaker: Breaker, *, now: datetime, policy: BreakerPolicy = DEFAULT_BREAKER) -> Breaker:
    """The breaker as it stands at ``now``: an open one whose cool-down ended is half-open."""
    at = reopens_at(breaker, policy)
    if at is not None and now >= at:
        return replace(breaker, state=BreakerState.HALF_OPEN)
    return breaker


def allows(breaker: Breaker, *, now: datetime, policy: BreakerPolicy = DEFAULT_BREAKER) -> bool:
    """Whether the account may be tried at ``now`` (closed, or half-open for a probe)."""
    return current(breaker, now=now, policy=policy).state is not BreakerState.OPEN


def record_success(breaker: Breaker) -> Breaker:
    """Any success closes the breaker and forgets the failures."""
    return CLOSED


def record_failure(
    breaker: Breaker,
    *,
    now: datetime,
    trip: bool = False,
    policy: BreakerPolicy = DEFAULT_BREAKER,
) -> Breaker:
    """After an account-level failure: count it, and open at the threshold, at once when
    ``trip`` (:attr:`emisario.core.dispatch.outcome.Pause.trips_breaker`), or when the probe
    of a half-open breaker failed. A failure reported while already open (a session that was
    in flight) changes nothing."""
    breaker = current(breaker, now=now, policy=policy)
    if breaker.state is BreakerState.OPEN:
        return breaker
    failures = breaker.failures + 1
    if trip or breaker.state is BreakerState.HALF_OPEN or failures >= policy.threshold:
        return Breaker(BreakerState.OPEN, failures, breaker.trips + 1, now)
    return replace(breaker, failures=failures)
