"""Sending limits: a message over a limit waits until the window frees room, never fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.dispatch.limits import (
    NO_LIMITS,
    Allowed,
    LimitName,
    SendingLimits,
    Spent,
    Usage,
    Wait,
    check,
    may_open_session,
    recipient_batches,
    session_spent,
)
from emisario.core.smtp.presets import GMAIL, MICROSOFT_365, PRESETS

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
SEC = timedelta(seconds=1)
M365 = MICROSOFT_365.limits


def test_presets_carry_the_published_limits():
    assert (M365.messages_per_minute, M365.recipients_per_day, M365.concurrent_sessions) == (
        30,
        10_000,
        3,
    )
    assert (GMAIL.limits.messages_per_day, GMAIL.limits.recipients_per_message) == (2000, 100)
    assert all(isinstance(preset.limits, SendingLimits) for preset in PRESETS)


def test_the_31st_message_in_a_minute_waits_for_the_oldest_to_leave_the_window():
    spent = Spent(messages_minute=Usage(29, NOW - 50 * SEC))
    assert check(M365, spent, now=NOW) == Allowed()
    spent = Spent(messages_minute=Usage(30, NOW - 50 * SEC))
    assert check(M365, spent, now=NOW) == Wait(NOW + 10 * SEC, LimitName.MESSAGES_PER_MINUTE)


def test_recipients_count_against_the_day():
    spent = Spent(recipients_day=Usage(9_995, NOW - timedelta(hours=20)))
    assert check(M365, spent, now=NOW, recipients=5) == Allowed()
    assert check(M365, spent, now=NOW, recipients=6) == Wait(
        NOW + timedelta(hours=4), LimitName.RECIPIENTS_PER_DAY
    )


def test_the_longest_wait_wins():
    limits = SendingLimits(messages_per_minute=1, messages_per_day=1)
    spent = Spent(
        messages_minute=Usage(1, NOW - 30 * SEC), messages_day=Usage(1, NOW - timedelta(hours=1))
    )
    assert check(limits, spent, now=NOW) == Wait(
        NOW + timedelta(hours=23), LimitName.MESSAGES_PER_DAY
    )


def test_a_message_bigger_than_the_budget_goes_alone_into_an_empty_window():
    limits = SendingLimits(recipients_per_day=10)
    assert check(limits, Spent(), now=NOW, recipients=50) == Allowed()
    busy = Spent(recipients_day=Usage(1, NOW - timedelta(hours=1)))
    assert isinstance(check(limits, busy, now=NOW, recipients=50), Wait)


def test_no_limits_never_wait():
    spent = Spent(*(Usage(10**9, NOW) for _ in range(4)))
    assert check(NO_LIMITS, spent, now=NOW, recipients=10**6) == Allowed()


def test_sessions_and_batches():
    assert may_open_session(M365, 2) and not may_open_session(M365, 3)
    assert may_open_session(NO_LIMITS, 1000)
    assert session_spent(SendingLimits(messages_per_session=50), 50)
    assert not session_spent(NO_LIMITS, 10**6)
    recipients = [f"r{i}@example.com" for i in range(250)]
    batches = recipient_batches(GMAIL.limits, recipients)
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert [r for batch in batches for r in batch] == recipients
    assert recipient_batches(NO_LIMITS, recipients) == [recipients]


def test_an_account_overrides_its_preset():
    mine = M365.merged(SendingLimits(messages_per_minute=10))
    assert (mine.messages_per_minute, mine.concurrent_sessions) == (10, 3)


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="messages_per_minute"):
        SendingLimits(messages_per_minute=0)


@given(
    limit=st.integers(1, 100),
    used=st.integers(0, 200),
    age=st.integers(0, 59),
    units=st.integers(1, 300),
)
def test_allowed_only_within_the_limit_and_waits_are_never_in_the_past(limit, used, age, units):
    limits = SendingLimits(recipients_per_day=limit, messages_per_minute=limit)
    spent = Spent(
        messages_minute=Usage(used, NOW - age * SEC if used else None),
        recipients_day=Usage(used, NOW - age * SEC if used else None),
    )
    result = check(limits, spent, now=NOW, recipients=units)
    if isinstance(result, Allowed):
        assert used == 0 or used + min(units, limit) <= limit
    else:
        assert NOW < result.until <= NOW + timedelta(hours=24)


@given(size=st.integers(1, 50), count=st.integers(1, 400))
def test_batches_keep_every_recipient_once_in_order(size, count):
    recipients = list(range(count))
    batches = recipient_batches(SendingLimits(recipients_per_message=size), recipients)
    assert all(1 <= len(batch) <= size for batch in batches)
    assert [r for batch in batches for r in batch] == recipients
