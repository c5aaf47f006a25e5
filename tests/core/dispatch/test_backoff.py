"""The retry schedule: minutes first, exponential to a cap, jittered, never past the expiry."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.dispatch.backoff import (
    DEFAULT_POLICY,
    Expired,
    Jitter,
    RetryAt,
    RetryPolicy,
    ceiling,
    retry_delay,
    schedule_retry,
)

T0 = datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


class Highest:
    """A random source that always draws the top of the range."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Lowest:
    def uniform(self, a: float, b: float) -> float:
        return a


def test_the_default_schedule_starts_within_minutes_and_doubles_to_an_hour():
    assert [ceiling(n) for n in range(1, 8)] == [
        5 * MIN, 10 * MIN, 20 * MIN, 40 * MIN, 60 * MIN, 60 * MIN, 60 * MIN
    ]  # fmt: skip
    assert DEFAULT_POLICY.expiry == timedelta(days=5)


def test_full_jitter_spans_floor_to_ceiling():
    assert retry_delay(3, rng=Highest()) == 20 * MIN
    assert retry_delay(3, rng=Lowest()) == timedelta(seconds=30)


def test_decorrelated_jitter_grows_from_the_previous_delay():
    policy = RetryPolicy(jitter=Jitter.DECORRELATED)
    assert retry_delay(1, policy=policy, rng=Highest()) == 15 * MIN
    assert retry_delay(2, policy=policy, previous=15 * MIN, rng=Highest()) == 45 * MIN
    assert retry_delay(3, policy=policy, previous=45 * MIN, rng=Highest()) == 60 * MIN
    assert retry_delay(9, policy=policy, previous=60 * MIN, rng=Lowest()) == 5 * MIN


def test_expired_keeps_the_last_reply():
    result = schedule_retry(
        40, now=T0 + timedelta(days=5), queued_at=T0, last_reply="451 4.7.1 Greylisted"
    )
    assert result == Expired(T0 + timedelta(days=5), "451 4.7.1 Greylisted")


def test_a_retry_past_the_expiry_lands_on_it():
    now = T0 + timedelta(days=5) - 2 * MIN
    result = schedule_retry(40, now=now, queued_at=T0, last_reply="", rng=Highest())
    assert result == RetryAt(T0 + timedelta(days=5), 2 * MIN)


def test_a_message_may_carry_its_own_expiry():
    result = schedule_retry(
        1, now=T0 + timedelta(hours=2), queued_at=T0, last_reply="x", expires=T0 + MIN
    )
    assert isinstance(result, Expired)


@pytest.mark.parametrize(
    "options",
    [{"floor": timedelta(0)}, {"first": 2 * 60 * MIN}, {"factor": 0.5}, {"expiry": timedelta(0)}],
    ids=["no-floor", "first-above-cap", "shrinking", "no-expiry"],
)
def test_inconsistent_policies_are_refused(options):
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(**options)


POLICIES = st.builds(
    RetryPolicy,
    first=st.integers(30, 3600).map(lambda s: timedelta(seconds=s)),
    factor=st.floats(1, 4),
    cap=st.just(timedelta(hours=2)),
    expiry=st.integers(1, 10 * 24).map(lambda h: timedelta(hours=h)),
    jitter=st.sampled_from(list(Jitter)),
)


@given(policy=POLICIES, attempt=st.integers(1, 10_000), seed=st.integers(0, 2**32))
def test_delays_stay_within_bounds(policy, attempt, seed):
    rng = random.Random(seed)
    previous = retry_delay(max(attempt - 1, 1), policy=policy, rng=rng)
    delay = retry_delay(attempt, policy=policy, previous=previous, rng=rng)
    assert policy.floor <= delay <= policy.cap
    if policy.jitter is not Jitter.DECORRELATED:
        assert delay <= ceiling(attempt, policy)


@given(policy=POLICIES, attempt=st.integers(1, 10_000))
def test_ceilings_never_decrease(policy, attempt):
    assert policy.first <= ceiling(attempt, policy) <= ceiling(attempt + 1, policy) <= policy.cap


@given(
    policy=POLICIES,
    attempt=st.integers(1, 500),
    elapsed=st.integers(0, 12 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
    seed=st.integers(0, 2**32),
)
def test_never_scheduled_past_the_expiry(policy, attempt, elapsed, seed):
    now = T0 + elapsed
    result = schedule_retry(
        attempt,
        now=now,
        queued_at=T0,
        last_reply="421",
        policy=policy,
        rng=random.Random(seed),
    )
    deadline = T0 + policy.expiry
    if now >= deadline:
        assert result == Expired(deadline, "421")
    else:
        assert isinstance(result, RetryAt)
        assert now < result.when <= deadline
