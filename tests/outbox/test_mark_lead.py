"""A session asks for its DATA marks further ahead when the database is slower than it is,
and never further than MARK_AHEAD_MAX (the bound a crash's flags rely on). The worker runs
with its threads here (ledger, session), so the test commits its rows."""

from __future__ import annotations

import threading
import time

import pytest

from emisario.outbox import ledger as ledger_module
from emisario.outbox.models import MessageStatus, OutboundMessage
from emisario.outbox.worker import MARK_AHEAD, MARK_AHEAD_MAX
from tests.outbox.cronus_support import account_on, queue_statement, run_cronus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("cronus_settings", "seed_types"),
]


@pytest.fixture
def seed_types():
    """The INTERNO type its data migration made: another transactional test's flush may have
    removed it (serialized_rollback clashes with the content types on SQLite here)."""
    from emisario.accounts.models import AccountType

    AccountType.objects.get_or_create(code="INTERNO", defaults={"name": "Interno"})


SLOW_COMMIT = 0.02
"""Seconds each mark write takes here: a slow database, far slower than a send."""


@pytest.mark.postgres_pass  # threads on several connections: SQLite's in-memory test
# database answers "database table is locked" between them (a flake seen in CI, 102 of 120)
def test_a_slow_database_makes_the_session_mark_further_ahead_up_to_the_bound(
    acme, smtpd, monkeypatch
):
    account_on(smtpd, acme)
    for n in range(120):
        queue_statement(n)
    runs: list[int] = []
    lock = threading.Lock()
    real = ledger_module._mark

    def slow_mark(owner, ids):
        time.sleep(SLOW_COMMIT)
        with lock:
            runs.append(len(ids))
        return real(owner, ids)

    monkeypatch.setattr(ledger_module, "_mark", slow_mark)
    # One session: a group of the ledger then holds only its marks (several sessions' runs
    # may ride in one group; the bound is per session).
    cronus = run_cronus(threads=True, batch_size=200, sessions_per_account=1)
    assert cronus.finished == 120
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 120
    assert max(runs) > MARK_AHEAD  # it grew: runs are half the lead, and the lead doubled
    assert max(runs) <= MARK_AHEAD_MAX
    assert sum(runs) >= 120  # every message was marked before its DATA


@pytest.mark.sqlite_pass
def test_a_mark_waits_out_another_workers_write_lock_without_failing(acme, caplog):
    """SQLite: another connection holds the write lock; the ledger tries again every fraction
    of a millisecond (not SQLite's busy handler, not a logged failure) and marks once the
    lock is free."""
    from datetime import timedelta

    from django.db import connections

    from emisario.outbox import claims
    from emisario.outbox.ledger import Ledger

    message = queue_statement()
    claims.claim("spinner", 10, timedelta(seconds=30))
    holder = connections.create_connection("default")
    holder.ensure_connection()
    cursor = holder.connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    cursor.execute("UPDATE outbox_outboundmessage SET attempts = attempts WHERE id = 0")
    ledger = Ledger("spinner", threaded=True)
    try:
        mark = ledger.mark(message.pk)
        assert mark.wait(0.3) is None  # the lock is held: not written yet, nothing failed
        cursor.execute("COMMIT")
        assert mark.wait(5) is True
    finally:
        ledger.stop()
        holder.close()
    assert "write_failed" not in caplog.text


def test_a_result_whose_commit_failed_is_written_whole_when_tried_again(acme, smtpd, monkeypatch):
    """write_sent updated the job's recipients in memory, then the transaction failed: the
    retry must still write the recipients "sent" (it used to see none pending and leave
    their rows "queued" under a message marked sent)."""
    from django.db import OperationalError

    from emisario.outbox.models import Recipient, RecipientStatus

    account_on(smtpd, acme)
    message = queue_statement()
    real = ledger_module.write_sent
    calls = []

    def commit_fails_once(owner, entries):
        held = real(owner, entries)
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("disk I/O error")  # the transaction is rolled back
        return held

    monkeypatch.setattr(ledger_module, "write_sent", commit_fails_once)
    cronus = run_cronus(threads=True)
    assert cronus.finished == 1
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT
    assert Recipient.objects.get(message=message).status == RecipientStatus.SENT
    assert len(calls) == 2  # tried again as the plain success it is
