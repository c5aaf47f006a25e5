"""A lease runs from when the claim holds the database, not from before it waited for it.

The demo's month end found it: ``emisario send --batch`` held SQLite's write lock for the
62 s it took to queue 10,000 statements, the worker's first claim waited behind it with its
clock read before the wait, and so handed out leases of 60 s that had already run out. Its
next claim, a moment later, took 46 of its own messages back while they were being sent:
flagged possibly delivered, and six of them delivered twice. The wait is simulated here: the
first transaction the claim opens starts only after ``WAIT`` seconds, as if another writer
held the lock that long."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from emisario.outbox import claims, throttle
from emisario.outbox.models import Attempt, OutboundMessage, SessionSlot
from tests.outbox.cronus_support import queue_statement

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cronus_settings")]

LEASE = timedelta(seconds=1)
WAIT = 1.2
"""Longer than the lease: with the clock read before the wait, the lease is over on arrival."""


@contextlib.contextmanager
def lock_held_for_a_while(monkeypatch) -> Iterator[list[bool]]:
    """Inside: the first transaction opened waits ``WAIT`` seconds before it begins."""
    real = transaction.atomic
    waited: list[bool] = []

    def atomic(*args, **kwargs):
        if not waited:  # the first transaction: BEGIN IMMEDIATE waits for the other writer
            waited.append(True)
            time.sleep(WAIT)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(transaction, "atomic", atomic)
        yield waited
    assert waited, "nothing waited: the test did not test anything"


def test_a_claim_that_waited_for_the_lock_hands_out_a_whole_lease(acme, monkeypatch):
    message = queue_statement()
    with lock_held_for_a_while(monkeypatch):
        assert claims.claim("w1", 10, LEASE) == [message.pk]
    returned_at = timezone.now()
    lease_ends = OutboundMessage.objects.get(pk=message.pk).lease_expires_at
    assert lease_ends > returned_at + LEASE / 2, (lease_ends, returned_at)
    assert claims.claim("w2", 10, LEASE) == []  # nobody takes it back from under w1


def test_a_renewal_that_waited_for_the_lock_renews_for_a_whole_lease(acme, monkeypatch):
    message = queue_statement()
    claims.claim("w1", 10, LEASE)
    with lock_held_for_a_while(monkeypatch):
        assert claims.renew("w1", LEASE, ids=[message.pk]) == 1
    returned_at = timezone.now()
    assert OutboundMessage.objects.get(pk=message.pk).lease_expires_at > returned_at + LEASE / 2


def test_a_session_slot_taken_after_a_wait_is_not_already_free(acme, monkeypatch):
    with lock_held_for_a_while(monkeypatch):
        assert throttle.take_slot(7, "w1#1", 1, LEASE) == 0
    returned_at = timezone.now()
    assert SessionSlot.objects.get(number=0).expires_at > returned_at + LEASE / 2
    assert throttle.take_slot(7, "w2#1", 1, LEASE) is None


def test_a_workers_own_message_in_flight_is_not_taken_back_when_its_lease_ran_out(acme):
    """Its renewal may have waited behind the same lock as the claim; the message is being
    sent. The same worker restarted under the same id does take its old messages back."""
    message = queue_statement()
    claims.claim("w1", 10, LEASE)
    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=5), data_started_at=timezone.now()
    )
    assert claims.claim("w1", 10, LEASE, holding=[message.pk]) == []
    assert not Attempt.objects.filter(message=message).exists()  # not flagged
    assert claims.claim("w1", 10, LEASE) == [message.pk]  # after a restart: nothing in flight
    assert Attempt.objects.get(message=message).possibly_delivered
