"""Resolution: the seed's "look for INTERNO, highest priority first", then system, then generic."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.accounts import (
    AccountRow,
    NoAccountAvailable,
    Source,
    resolve_account,
)
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GENERIC = SmtpEndpoint(
    host="smtp.example.com", port=587, security=SecurityMode.STARTTLS, sender="noreply@example.com"
)


def row(id, company, priority, *, type_code="INTERNO", enabled=True, age=0):
    return AccountRow(id, company, type_code, priority, enabled, T0 + timedelta(minutes=age))


def test_highest_priority_number_wins():
    rows = [row(1, 7, 1), row(2, 7, 10), row(3, 7, 5)]
    assert resolve_account(rows, company=7).account.id == 2


def test_company_account_beats_a_higher_system_account():
    rows = [row(1, None, 100), row(2, 7, 1)]
    result = resolve_account(rows, company=7)
    assert (result.source, result.account.id) == (Source.COMPANY, 2)


def test_system_account_when_the_company_has_none_of_the_type():
    rows = [row(1, None, 3), row(2, 7, 9, type_code="COBRANZA"), row(3, None, 4)]
    result = resolve_account(rows, company=7)
    assert (result.source, result.account.id) == (Source.SYSTEM, 3)


def test_disabled_accounts_are_skipped_and_counted():
    rows = [row(1, 7, 50, enabled=False), row(2, 7, 1)]
    result = resolve_account(rows, company=7)
    assert (result.account.id, result.disabled_skipped) == (2, 1)


def test_ties_go_to_the_oldest_then_lowest_id():
    rows = [row(5, 7, 3, age=10), row(9, 7, 3, age=0), row(4, 7, 3, age=0)]
    assert resolve_account(rows, company=7).account.id == 4


def test_among_equal_priorities_the_oldest_wins_even_with_a_higher_id():
    """Creation date decides before the id: a rule that compared ids only would pick 2."""
    rows = [row(2, 7, 3, age=30), row(8, 7, 3, age=0), row(5, 7, 3, age=15)]
    assert resolve_account(rows, company=7).account.id == 8


def test_other_companies_never_count():
    rows = [row(1, 8, 100)]
    with pytest.raises(NoAccountAvailable):
        resolve_account(rows, company=7)


def test_generic_account_when_nothing_is_stored():
    result = resolve_account([], company=7, generic=GENERIC)
    assert result.source is Source.GENERIC
    assert result.generic is GENERIC and result.account is None


def test_clear_error_without_any_account():
    with pytest.raises(NoAccountAvailable, match="EMISARIO_GENERIC_SMTP_URL"):
        resolve_account([row(1, 7, 1, enabled=False)], company=7)


rows_strategy = st.lists(
    st.builds(
        AccountRow,
        id=st.integers(1, 10_000),
        company=st.sampled_from([None, 1, 2]),
        type_code=st.sampled_from(["INTERNO", "COBRANZA"]),
        priority=st.integers(-5, 5),
        enabled=st.booleans(),
        created_at=st.integers(0, 50).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    max_size=25,
    unique_by=lambda r: r.id,
)


@given(
    rows=rows_strategy,
    company=st.sampled_from([1, 2]),
    type_code=st.sampled_from(["INTERNO", "COBRANZA"]),
    with_generic=st.booleans(),
)
def test_resolution_matches_the_rule(rows, company, type_code, with_generic):
    """Against an independent statement of the rule: the chosen row is enabled, of the type, of
    the company if the company has any such row (else of the system), and no eligible row of the
    same source outranks it."""
    generic = GENERIC if with_generic else None
    eligible = [r for r in rows if r.enabled and r.type_code == type_code]
    own = [r for r in eligible if r.company == company]
    system = [r for r in eligible if r.company is None]
    pool = own or system
    if not pool:
        if generic is None:
            with pytest.raises(NoAccountAvailable):
                resolve_account(rows, company=company, type_code=type_code, generic=generic)
        else:
            result = resolve_account(rows, company=company, type_code=type_code, generic=generic)
            assert result.source is Source.GENERIC
        return
    result = resolve_account(rows, company=company, type_code=type_code, generic=generic)
    chosen = result.account
    assert chosen in pool
    assert result.source is (Source.COMPANY if own else Source.SYSTEM)
    assert all(chosen.priority >= r.priority for r in pool)
    same = [r for r in pool if r.priority == chosen.priority]
    assert chosen.created_at == min(r.created_at for r in same)
    assert chosen.id == min(r.id for r in same if r.created_at == chosen.created_at)
    # Order of the input never changes the answer.
    again = resolve_account(list(reversed(rows)), company=company, type_code=type_code)
    assert again.account == chosen
