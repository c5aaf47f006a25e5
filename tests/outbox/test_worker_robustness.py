"""The worker under trouble: database errors, lost connections, stops, broken accounts. Each
test states a promise; each failed on an earlier version of the worker (a review's findings)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from emisario.core.accounts import Resolution, Source
from emisario.core.smtp.steps import Step
from emisario.outbox import claims, throttle
from emisario.outbox import ledger as ledger_module
from emisario.outbox.models import (
    AccountLimits,
    Attempt,
    MessageStatus,
    OutboundMessage,
    Recipient,
    RecipientStatus,
    SendReservation,
)
from emisario.outbox.worker import Cronus, Options, Runner, load_account
from tests.outbox.cronus_support import account_on, fresh, queue_statement, run_cronus
from tests.support.smtpd import Script

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cronus_settings")]


def run_cronus_stub() -> Cronus:
    return Cronus(Options(worker_id="w1", threads=False))


def loaded(account):
    return load_account(Resolution(Source.COMPANY, "INTERNO", account=account.as_row()))


def _due_now(message):
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def _fails_once(monkeypatch, owner, name):
    """Replace owner.name by a function raising OperationalError on its first call only."""
    real = getattr(owner, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


# --- 1. the session dies after the final "." and before the reply -------------------------


def test_a_session_lost_after_the_final_dot_is_marked_possibly_delivered(acme, smtpd):
    """RFC 1047: after the terminating dot the server may have queued the mail. The retry is
    right, but the duplicate it may cause must be visible (possibly_delivered), as the issue
    promises for the one unavoidable duplicate."""
    account_on(smtpd, acme)
    smtpd.script = Script(disconnect=Step.DATA)  # drops after reading the whole message
    message = queue_statement()
    run_cronus()
    assert fresh(message).status == MessageStatus.DEFERRED  # retried later: right
    attempt = Attempt.objects.get(message=message)
    assert attempt.step == "data"
    assert attempt.possibly_delivered, "a resend after this is an unflagged duplicate"


# --- 2. a result the worker could not write ----------------------------------------------


def test_a_result_lost_to_a_database_error_is_not_resent_unflagged(acme, smtpd, monkeypatch):
    """The server said 250, writing the result failed (SQLite busy timeout, a connection
    blip): the message goes back with its DATA mark, and the claim that takes it again
    records the possibly delivered attempt (it used to look only at expired leases)."""
    account_on(smtpd, acme)
    message = queue_statement()
    _fails_once(monkeypatch, ledger_module, "write_sent")
    run_cronus()
    row = fresh(message)
    assert (row.status, row.last_error_code) == (MessageStatus.QUEUED, "database_error")
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=20)  # no hot loop
    _due_now(message)
    run_cronus()
    assert len(smtpd.messages) == 2  # delivered twice (unavoidable here) ...
    flagged = Attempt.objects.filter(message=message, possibly_delivered=True)
    assert flagged.exists(), "... but nothing says the second one may be a duplicate"


# --- 3. a database error in a runner keeps its message "sending" forever ----------------


def test_a_database_error_does_not_keep_the_message_leased_forever(acme, smtpd, monkeypatch):
    """A runner that hits a database error gives its message back (it used to keep it leased,
    renewed by the heartbeat, until the worker exited)."""
    account_on(smtpd, acme)
    message = queue_statement()
    _fails_once(monkeypatch, throttle, "reserve")
    lease = timedelta(seconds=0.5)
    cronus = Cronus(Options(worker_id="w1", once=False, threads=False, lease=lease, poll=0.05))
    seen = {}
    started = time.monotonic()
    real_wait = cronus._wait

    def wait(seconds):
        real_wait(min(seconds, 0.05))
        if time.monotonic() - started > 3 * lease.total_seconds() and "row" not in seen:
            seen["row"] = fresh(message)
            seen["other"] = claims.claim("w2", 10, lease)
            cronus.stopping.set()

    cronus._wait = wait
    cronus.run()
    assert seen["row"].lease_owner != "w1", "stuck: leased to w1, renewed, never sent"
    assert seen["row"].status == MessageStatus.QUEUED  # given back, due again in a while
    _due_now(message)
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT


# --- 4. ... and with more mail queued on that runner, --once never ends ---------------------


def test_a_database_error_with_more_queued_does_not_hang_once(acme, smtpd, monkeypatch):
    """Runner.drain gives a job back when ``self.done`` and ``continue``s past the finally that
    calls _settle(): pending never returns to 0, the runner is never reaped, in_flight() stays
    > 0, so --once loops on _wait(0.2) forever (and a long-running worker loses a slot of its
    batch each time; after batch_size/2 of them it stops claiming)."""
    account_on(smtpd, acme)
    queue_statement(1)
    queue_statement(2)
    _fails_once(monkeypatch, throttle, "reserve")
    cronus = Cronus(Options(worker_id="w1", once=True, threads=False, poll=0.05))
    real_wait, waits = cronus._wait, []

    def wait(seconds):
        waits.append(seconds)
        if len(waits) > 50:  # keep the test finite
            cronus.stopping.set()
        real_wait(min(seconds, 0.01))

    cronus._wait = wait
    cronus.run()
    assert len(waits) <= 50, f"--once did not exit: in_flight() stuck at {cronus.in_flight()}"


# --- 5. expiry after some recipients were sent ------------------------------------------------


@pytest.mark.parametrize("path", ["no_account", "fail_over"])
def test_an_expired_message_with_sent_recipients_is_partially_sent(acme, smtpd, path):
    """_fail_over and _account_failed call _deferred(job, result, False) and _defer_unrouted
    writes FAILED: the recipients sent in an earlier attempt are forgotten, the message says
    "failed" while a recipient has it (and the recipient row says "sent")."""
    account = account_on(smtpd, acme)
    AccountLimits.objects.create(account=account, recipients_per_message=1)
    smtpd.script = Script(rcpt_replies={"b@clientes.example": "451 4.2.0 try later"})
    message = queue_statement(to=["a@clientes.example", "b@clientes.example"])
    run_cronus()
    assert fresh(message).status == MessageStatus.DEFERRED
    assert Recipient.objects.get(message=message, address="a@clientes.example").status == "sent"
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now(), expires_at=timezone.now() - timedelta(seconds=1)
    )
    if path == "no_account":
        throttle.switch(account.pk, off=True)
    else:
        smtpd.script = Script(replies={Step.AUTH: "535 5.7.8 bad credentials"})
    run_cronus()
    row = fresh(message)
    assert row.last_error_code == "expired"
    assert row.status == MessageStatus.PARTIALLY_SENT


# --- 6. reservations for sends that never happened ------------------------------------------


def test_a_send_that_never_happened_does_not_spend_the_limit(acme, smtpd):
    """_one reserves before it knows it has a session; finish() in the finally makes the
    reservation count for a whole window although nothing went out (no free session slot,
    connect/AUTH failure, lease gone). A worker starved of slots re-tries every 2 s and eats
    a 30/min budget (Microsoft 365) by itself."""
    account = account_on(smtpd, acme)
    AccountLimits.objects.create(account=account, messages_per_minute=1, concurrent_sessions=1)
    assert throttle.take_slot(account.pk, "other-worker", 1, timedelta(minutes=5)) == 0
    message = queue_statement()
    run_cronus()
    assert smtpd.messages == [] and fresh(message).last_error_code == "limited:concurrent_sessions"
    throttle.free_slot(account.pk, "other-worker", 0)
    _due_now(message)
    run_cronus()
    assert SendReservation.objects.count() <= 1
    assert fresh(message).status == MessageStatus.SENT, fresh(message).last_error_code


# --- 7. an account whose password cannot be decrypted -----------------------------------


def test_an_undecryptable_account_fails_over_to_the_next_rung(acme, smtpd_factory):
    """route() defers AccountUnusable for a minute without pausing the account or skipping it
    (next_account has a ``skip`` argument nobody passes): every minute for the whole expiry the
    same broken rung is chosen again, and the message finally fails "expired" although the
    next account was healthy all along."""
    broken_server, healthy = smtpd_factory(), smtpd_factory()
    broken = account_on(broken_server, acme, priority=9)
    second = account_on(healthy, acme, priority=1)
    type(broken).objects.filter(pk=broken.pk).update(password_token="not-a-fernet-token")
    message = queue_statement()
    for _ in range(3):
        run_cronus()
        _due_now(message)
    row = fresh(message)
    assert row.status == MessageStatus.SENT, row.last_error_code
    assert row.account_used == second


# --- 8. per-recipient replies ------------------------------------------------------------


def test_a_sent_recipient_keeps_its_own_reply_not_another_recipients(acme, smtpd_factory):
    """_write_recipients stamps every accepted recipient with result.code: when another
    recipient of the same transaction said 451 the sent one is recorded as "sent, 451"."""
    server = smtpd_factory(Script(rcpt_replies={"b@clientes.example": "451 4.2.0 try later"}))
    account_on(server, acme)
    message = queue_statement(to=["a@clientes.example", "b@clientes.example"])
    run_cronus()
    sent = Recipient.objects.get(message=message, address="a@clientes.example")
    assert sent.status == RecipientStatus.SENT
    assert sent.reply_code == 250, (sent.reply_code, sent.enhanced_code)


# --- 9. session slots within one worker --------------------------------------------------


def test_one_worker_cannot_hold_one_slot_twice(acme, smtpd):
    """Slots are held per runner (``worker#n``): a runner that replaces a closing one of the
    same worker cannot take the slot the closing one still holds (with slots held per worker
    it did, and the closing one's free_slot() then freed it under the new session)."""
    account = account_on(smtpd, acme)
    lease = timedelta(minutes=1)
    closing = Runner(run_cronus_stub(), loaded(account))
    replacement = Runner(run_cronus_stub(), loaded(account))
    assert closing.slot_owner != replacement.slot_owner
    assert throttle.take_slot(account.pk, closing.slot_owner, 1, lease) == 0
    assert throttle.take_slot(account.pk, replacement.slot_owner, 1, lease) is None
    throttle.free_slots("w1")
    assert throttle.take_slot(account.pk, replacement.slot_owner, 1, lease) == 0


# --- 10. SIGTERM stops the lease heartbeat before the send in flight is finished ----------


@pytest.mark.sqlite_pass
@pytest.mark.parametrize("signalled", [False, True], ids=["control_no_signal", "sigterm"])
def test_sigterm_keeps_renewing_the_lease_of_the_send_it_finishes(sqlite_url, tmp_path, signalled):
    """_heartbeat loops ``while not self.stopping.wait(every)``: SIGTERM (and --max-messages)
    set ``stopping`` first, so the leases of the messages the runners are still finishing are
    no longer renewed. A send in flight longer than the lease is taken by another worker
    (stale claim) and sent again, though the stopping worker was alive and finishing it."""
    import time as _time

    from tests.support.cronus_harness import Rig, recording_smtpd, tally

    with recording_smtpd(data_delay=4.0) as server, Rig(tmp_path, sqlite_url, server) as rig:
        seeded = rig.prepare(1)
        options = ["--lease", "1.5", "--poll", "0.2"]
        first = rig.start("first", *options)
        assert server.wait_for(lambda s: s.in_data >= 1, 60)
        if signalled:
            first.terminate()  # "finish what is in flight"
        second = rig.start("second", *options)
        if signalled:
            assert first.wait(30) == 0, first.describe(30)
        else:
            _time.sleep(4)
            first.terminate()
            first.wait(30)
        _time.sleep(3)
        second.terminate()
        second.wait(30)
        result = tally(rig, seeded)
        assert result.duplicates == {}, (result.duplicates, rig.worker_logs(20))


# --- 11. (older code, issue 8 step 1) a per-recipient 5.7.1 pauses the whole account ---------


def test_a_policy_refusal_of_one_recipient_does_not_pause_the_account(acme, smtpd_factory):
    """Postfix's check_recipient_access says "550 5.7.1 <x>: Recipient address rejected:
    Access denied" for one address. _POLICY_STATUS makes any 5.7.x at RCPT after AUTH
    RELAY_DENIED_AUTHENTICATED (kind ACCOUNT) → ABANDON_FAIL_OVER: the good recipient is not
    sent, the account is paused 15 min, and the next rung gets the same refusal, until expiry."""
    server = smtpd_factory(
        Script(
            rcpt_replies={
                "b@clientes.example": "550 5.7.1 <b@clientes.example>: Recipient address "
                "rejected: Access denied"
            }
        )
    )
    account_on(server, acme)
    message = queue_statement(to=["a@clientes.example", "b@clientes.example"])
    run_cronus()
    row = fresh(message)
    assert row.status == MessageStatus.PARTIALLY_SENT, (row.status, row.last_error_code)
