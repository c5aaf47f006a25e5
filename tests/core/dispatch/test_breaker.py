"""The circuit breaker: closed, open after N failures, half-open after a cool-down, closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.dispatch.breaker import (
    CLOSED,
    BreakerPolicy,
    BreakerState,
    allows,
    current,
    record_failure,
    record_success,
    reopens_at,
)

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(threshold=3, cool_down=timedelta(minutes=5))


def fail(breaker, times, at=NOW, **options):
    for _ in range(times):
        breaker = record_failure(breaker, now=at, policy=POLICY, **options)
    return breaker


def test_opens_after_the_threshold():
    assert fail(CLOSED, 2).state is BreakerState.CLOSED
    opened = fail(CLOSED, 3)
    assert (opened.state, opened.opened_at) == (BreakerState.OPEN, NOW)
    assert not allows(opened, now=NOW + timedelta(minutes=4), policy=POLICY)


def test_half_open_after_the_cool_down_then_closed_by_a_success():
    opened = fail(CLOSED, 3)
    later = NOW + timedelta(minutes=5)
    assert current(opened, now=later, policy=POLICY).state is BreakerState.HALF_OPEN
    assert allows(opened, now=later, policy=POLICY)
    assert record_success(current(opened, now=later, policy=POLICY)) == CLOSED


def test_a_failed_probe_reopens_with_a_longer_cool_down():
    opened = fail(CLOSED, 3)
    probe_at = NOW + timedelta(minutes=5)
    again = record_failure(opened, now=probe_at, policy=POLICY)
    assert (again.state, again.trips) == (BreakerState.OPEN, 2)
    assert reopens_at(again, POLICY) == probe_at + timedelta(minutes=10)


def test_a_tripping_failure_opens_at_once():
    assert record_failure(CLOSED, now=NOW, trip=True, policy=POLICY).state is BreakerState.OPEN


def test_a_success_resets_the_count():
    assert fail(record_success(fail(CLOSED, 2)), 2).state is BreakerState.CLOSED


def test_failures_while_open_change_nothing():
    opened = fail(CLOSED, 3)
    assert record_failure(opened, now=NOW + timedelta(minutes=1), policy=POLICY) == opened


def test_inconsistent_policies_are_refused():
    with pytest.raises(ValueError, match="breaker"):
        BreakerPolicy(threshold=0)


@given(trips=st.integers(1, 200))
def test_cool_downs_grow_and_stay_capped(trips):
    assert POLICY.cool_down <= POLICY.cool_down_after(trips) <= POLICY.max_cool_down
    assert POLICY.cool_down_after(trips) <= POLICY.cool_down_after(trips + 1)


@given(events=st.lists(st.tuples(st.booleans(), st.integers(0, 3600)), max_size=40))
def test_open_only_after_threshold_failures_or_a_failed_probe(events):
    breaker, at = CLOSED, NOW
    for success, seconds in events:
        at += timedelta(seconds=seconds)
        before = current(breaker, now=at, policy=POLICY)
        if success:
            breaker = record_success(before)
            assert breaker == CLOSED
            continue
        breaker = record_failure(breaker, now=at, policy=POLICY)
        if before.state is BreakerState.CLOSED:
            assert (breaker.state is BreakerState.OPEN) is (breaker.failures >= POLICY.threshold)
        else:
            assert breaker.state is BreakerState.OPEN
