"""One worker sends one account's backlog over several sessions at once (``--sessions-per-
account``), never more than the account's limit of concurrent sessions, which every worker
shares through the session slots. Over a real network a session waits a round trip or two
per message; parallel sessions are what make a month end go faster there.

In this process the worker runs with its threads (a session per thread), so the test commits
its rows, and the sessions write at once: these tests run on PostgreSQL (SQLite's in-memory
test database locks whole tables between connections). On a SQLite file, real worker
processes do the same at the end. The server is slow to answer DATA, so a backlog builds up
behind each session."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emisario.core.smtp.steps import Step
from emisario.outbox import throttle
from emisario.outbox.models import (
    AccountHealth,
    AccountLimits,
    Attempt,
    MessageStatus,
    OutboundMessage,
    health_key,
)
from tests.outbox.cronus_support import account_on, queue_statement, run_cronus
from tests.support.cronus_harness import Rig, recording_smtpd, sqlite_pass_only, tally
from tests.support.smtpd import Script


def in_process(test):
    for mark in (
        pytest.mark.postgres_pass,
        pytest.mark.django_db(transaction=True),
        pytest.mark.usefixtures("cronus_settings", "seed_types"),
    ):
        test = mark(test)
    return test


MESSAGES = 40
SLOW_DATA = Script(delays={Step.DATA: 0.03})


@pytest.fixture
def seed_types():
    """The INTERNO type its data migration made: another transactional test's flush may have
    removed it (serialized_rollback clashes with the content types on SQLite here)."""
    from emisario.accounts.models import AccountType

    AccountType.objects.get_or_create(code="INTERNO", defaults={"name": "Interno"})


def sessions_that_sent(server) -> int:
    return sum(1 for commands in server.sessions if "DATA" in commands)


def queue(count: int = MESSAGES) -> None:
    for n in range(count):
        queue_statement(n)


def assert_all_sent_once(server, count: int = MESSAGES) -> None:
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == count
    arrived = [m.subject for m in server.messages]
    assert len(arrived) == count and len(set(arrived)) == count


@pytest.mark.parametrize("sessions", [1, 3])
@in_process
def test_a_backlog_goes_over_as_many_sessions_as_asked(acme, smtpd_factory, sessions):
    server = smtpd_factory(SLOW_DATA)
    account_on(server, acme)
    queue()
    cronus = run_cronus(threads=True, sessions_per_account=sessions)
    assert cronus.finished == MESSAGES
    assert_all_sent_once(server)
    assert sessions_that_sent(server) == sessions


@in_process
def test_the_accounts_limit_of_concurrent_sessions_caps_them(acme, smtpd_factory):
    server = smtpd_factory(SLOW_DATA)
    account = account_on(server, acme)
    AccountLimits.objects.create(account=account, concurrent_sessions=2)
    queue()
    run_cronus(threads=True, sessions_per_account=5)
    assert_all_sent_once(server)
    assert sessions_that_sent(server) == 2


@in_process
def test_a_slot_another_worker_holds_leaves_one_session_fewer_and_nothing_waits(
    acme, smtpd_factory
):
    """The extra session is only opened with a slot of its own; without one the messages
    stay on the open session (none is given back as limited)."""
    server = smtpd_factory(SLOW_DATA)
    account = account_on(server, acme)
    AccountLimits.objects.create(account=account, concurrent_sessions=2)
    assert throttle.take_slot(account.pk, "other-worker#1", 2, timedelta(minutes=5)) == 0
    queue()
    run_cronus(threads=True, sessions_per_account=3)
    assert_all_sent_once(server)
    assert sessions_that_sent(server) == 1
    assert not Attempt.objects.filter(outcome="limited").exists()
    assert not OutboundMessage.objects.filter(last_error_code__startswith="limited").exists()


@pytest.mark.parametrize(
    ("step", "reply"),
    [(Step.DATA, "550 5.4.5 Daily user sending quota"), (Step.AUTH, "535 5.7.8 bad credentials")],
)
@in_process
def test_an_account_failure_on_one_session_moves_the_backlog_to_the_next_account(
    acme, smtpd_factory, step, reply
):
    """A quota reply pauses the account: every session of the worker to it gives its waiting
    messages back, and the next claim sends them all through the next account; each session
    of the paused account tried one message at most."""
    broken = smtpd_factory(Script(replies={step: reply}))
    healthy = smtpd_factory()
    first = account_on(broken, acme, priority=9)
    second = account_on(healthy, acme, priority=1)
    queue()
    run_cronus(threads=True, sessions_per_account=3)
    assert_all_sent_once(healthy)
    assert broken.messages == []
    assert set(OutboundMessage.objects.values_list("account_used", flat=True)) == {second.pk}
    tried_first = Attempt.objects.filter(account=first).count()
    assert 1 <= tried_first <= 3
    # One incident, counted once on the breaker although each session in flight saw it.
    assert AccountHealth.objects.get(key=health_key(first.pk)).breaker_failures == 1


# --- real worker processes on a SQLite file --------------------------------------------------


@sqlite_pass_only
@pytest.mark.parametrize(("sessions", "cap", "expected"), [(3, None, 3), (3, 2, 2), (1, None, 1)])
def test_worker_processes_on_a_sqlite_file_open_the_sessions_allowed(
    sqlite_url, tmp_path, sessions, cap, expected
):
    with recording_smtpd(data_delay=0.03) as server, Rig(tmp_path, sqlite_url, server) as rig:
        limits = {"concurrent_sessions": cap} if cap else None
        seeded = rig.prepare(MESSAGES, limits=limits)
        done = rig.once("w", "--sessions-per-account", str(sessions), timeout=120)
        assert done.returncode == 0, done.describe(30)
        result = tally(rig, seeded)
        used = {arrival.session for arrival in server.snapshot()}
    assert not result.lost and not result.duplicates and not result.not_sent, result.summary()
    assert len(used) == expected, f"sessions that carried mail: {sorted(used)}"


@sqlite_pass_only
def test_the_cli_refuses_a_sessions_per_account_out_of_range(sqlite_url, tmp_path):
    with recording_smtpd() as server, Rig(tmp_path, sqlite_url, server) as rig:
        rig.prepare(1)
        for value in ("0", "21", "tres"):
            done = rig.once("w", "--sessions-per-account", value, timeout=60)
            assert done.returncode == 2, done.describe()
            assert "--sessions-per-account" in done.stderr()
        assert rig.db.statuses() == {"queued": 1}


class OneConnectionAtATime(dict):
    """Script replies of a server that takes one connection at a time and refuses any other
    at its greeting, as a small relay does ("too many connections")."""

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server

    def get(self, step, default=None):
        open_now = sum(1 for smtp in list(self.server._sessions) if smtp.transport is not None)
        if step is Step.GREETING and open_now > 1:
            return "421 4.7.0 Too many connections from your host"
        return super().get(step, default)


@in_process
def test_a_server_that_refuses_a_second_session_gets_one_and_the_account_stays_up(
    acme, smtpd_factory
):
    """The extra sessions are refused at the greeting while the first one works: the account
    is fine and must not be paused or failed over, the worker just keeps to one session."""
    server = smtpd_factory(Script(delays={Step.DATA: 0.03}))
    server.script.replies = OneConnectionAtATime(server)
    other = smtpd_factory()
    first = account_on(server, acme, priority=9)
    account_on(other, acme, priority=1)
    queue()
    run_cronus(threads=True, sessions_per_account=3)
    assert_all_sent_once(server)
    assert other.messages == []
    assert set(OutboundMessage.objects.values_list("account_used", flat=True)) == {first.pk}
    health = AccountHealth.objects.filter(key=health_key(first.pk)).first()
    assert health is None or (health.paused_until is None and health.breaker_failures == 0)
    refused = [commands for commands in server.sessions if "EHLO" not in commands]
    assert refused, "no session was refused: the test did not test anything"
