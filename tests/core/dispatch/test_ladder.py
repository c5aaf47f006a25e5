"""Fail-over: company accounts by priority, then system accounts, then the generic account,
skipping the paused, the switched off and the broken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from emisario.core.accounts import AccountRow, Source, account_ladder, resolve_account
from emisario.core.dispatch.breaker import Breaker, BreakerState
from emisario.core.dispatch.ladder import (
    GENERIC_KEY,
    AccountState,
    Choice,
    NoneAvailable,
    choose,
    next_account,
    rung_key,
)
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
GENERIC = SmtpEndpoint(
    host="smtp.example.com", port=587, security=SecurityMode.STARTTLS, sender="noreply@example.com"
)
PAUSED = AccountState(paused_until=NOW + timedelta(hours=1))
OFF = AccountState(switched_off=True)
BROKEN = AccountState(breaker=Breaker(BreakerState.OPEN, 5, 1, NOW - timedelta(minutes=1)))


def row(id, company, priority, *, type_code="INTERNO", enabled=True, age=0):
    return AccountRow(id, company, type_code, priority, enabled, T0 + timedelta(minutes=age))


ROWS = [
    row(1, 7, 10),
    row(2, 7, 5),
    row(3, 7, 50, enabled=False),
    row(4, None, 99),
    row(5, 8, 100),
    row(6, 7, 80, type_code="COBRANZA"),
]


def pick(states, **options):
    return next_account(ROWS, states, company=7, now=NOW, generic=GENERIC, **options)


def test_the_ladder_order():
    ladder = account_ladder(ROWS, company=7, generic=GENERIC)
    assert [rung_key(r) for r in ladder] == [1, 2, 4, GENERIC_KEY]
    assert [r.source for r in ladder] == [Source.COMPANY, Source.COMPANY, Source.SYSTEM,
                                          Source.GENERIC]  # fmt: skip
    assert ladder[0] == resolve_account(ROWS, company=7, generic=GENERIC)


def test_healthy_accounts_give_the_seeds_choice():
    assert pick({}) == Choice(account_ladder(ROWS, company=7, generic=GENERIC)[0], 0)


def test_fail_over_through_the_whole_ladder():
    assert pick({1: PAUSED}).key == 2
    assert pick({1: PAUSED, 2: BROKEN}).key == 4
    assert pick({1: PAUSED, 2: BROKEN, 4: OFF}).key == GENERIC_KEY
    assert pick({}, skip={1, 2, 4}).key == GENERIC_KEY


def test_none_available_until_the_first_is_back():
    states = {1: PAUSED, 2: BROKEN, 4: OFF, GENERIC_KEY: OFF}
    assert pick(states) == NoneAvailable(NOW + timedelta(minutes=4))  # 2's cool-down ends


def test_switched_off_everywhere_waits_for_a_person():
    assert pick({1: OFF, 2: OFF, 4: OFF, GENERIC_KEY: OFF}) == NoneAvailable(None)
    assert next_account([], {}, company=7, now=NOW) == NoneAvailable(None)


def test_a_half_open_breaker_is_tried():
    half = AccountState(breaker=Breaker(BreakerState.OPEN, 5, 1, NOW - timedelta(minutes=5)))
    assert pick({1: half}).key == 1


def test_an_expired_pause_is_over():
    assert pick({1: AccountState(paused_until=NOW)}).key == 1


# -- random ladders --------------------------------------------------------------------------

STATES = st.one_of(
    st.just(AccountState()),
    st.just(OFF),
    st.just(BROKEN),
    st.integers(-120, 120).map(lambda m: AccountState(paused_until=NOW + timedelta(minutes=m))),
)


@st.composite
def ladders(draw):
    count = draw(st.integers(0, 12))
    rows = [
        row(
            i + 1,
            draw(st.sampled_from([7, 8, None])),
            draw(st.integers(0, 5)),
            type_code=draw(st.sampled_from(["INTERNO", "COBRANZA"])),
            enabled=draw(st.booleans()),
            age=draw(st.integers(0, 3)),
        )
        for i in range(count)
    ]
    keys = [r.id for r in rows] + [GENERIC_KEY]
    states = {key: draw(STATES) for key in keys if draw(st.booleans())}
    generic = draw(st.sampled_from([None, GENERIC]))
    return rows, states, generic


@given(case=ladders())
def test_the_choice_is_the_best_available_rung(case):
    rows, states, generic = case
    ladder = account_ladder(rows, company=7, generic=generic)
    result = choose(ladder, states, now=NOW)
    available = [
        (position, rung)
        for position, rung in enumerate(ladder)
        if (at := states.get(rung_key(rung), AccountState()).available_from(NOW)) is not None
        and at <= NOW
    ]
    if not available:
        assert isinstance(result, NoneAvailable)
        if result.until is not None:
            assert result.until > NOW
        return
    assert isinstance(result, Choice)
    assert (result.position, result.rung) == available[0]
    state = states.get(result.key, AccountState())
    assert not state.switched_off
    assert state.paused_until is None or state.paused_until <= NOW
    assert state.breaker.state is not BreakerState.OPEN
    chosen = result.rung.account
    if chosen is not None:
        assert chosen.company in (7, None) and chosen.type_code == "INTERNO" and chosen.enabled
        if chosen.company == 7:  # no available company account of higher priority
            assert all(
                rung.account.priority <= chosen.priority
                for _, rung in available
                if rung.account is not None and rung.account.company == 7
            )
        else:  # a system account is chosen only when no company account is available
            assert all(rung.source is not Source.COMPANY for _, rung in available)
    else:
        assert all(rung.source is Source.GENERIC for _, rung in available)


@given(case=ladders())
def test_paused_switched_off_and_broken_accounts_are_never_chosen(case):
    rows, states, generic = case
    result = next_account(rows, states, company=7, now=NOW, generic=generic)
    if isinstance(result, Choice):
        assert result.key not in {key for key, state in states.items() if state in (OFF, BROKEN)}
        paused = states.get(result.key, AccountState()).paused_until
        assert paused is None or paused <= NOW
