"""The same idempotency key for the same company is one message: one after the other, and
when two transactions queue it at the same moment (PostgreSQL, real concurrent connections)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from emisario.outbox.models import OutboundMessage, Recipient
from emisario.outbox.services import enqueue, enqueue_many

KEY = "estado-2026-11-cliente-0042"


def statement(company="ACME", **fields):
    values = {
        "company": company,
        "to": ["cliente@example.com"],
        "subject": "Estado de cuenta",
        "text": "x",
        "idempotency_key": KEY,
    }
    values.update(fields)
    return enqueue(**values)


@pytest.mark.django_db
def test_the_same_key_returns_the_first_message(acme, otra):
    first = statement()
    again = statement(subject="Otro asunto", to=["otro@example.com"])
    assert again.pk == first.pk and again.subject == "Estado de cuenta"
    assert OutboundMessage.objects.count() == 1
    assert Recipient.objects.get().address == "cliente@example.com"
    assert statement(company="OTRA").pk != first.pk  # unique per company
    assert statement(idempotency_key=None).pk != statement(idempotency_key=None).pk


@pytest.mark.django_db
def test_the_database_refuses_a_second_row_with_the_key(acme):
    from django.db import IntegrityError

    first = statement()
    clone = OutboundMessage.objects.get(pk=first.pk)
    clone.pk, clone.message_id = None, "<other@acme.example>"
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


needs_postgres = pytest.mark.postgres_pass
"""Two connections writing at once: these run in bin/test's PostgreSQL pass (an in-memory
SQLite test database has one connection), and are left out of the SQLite pass, not skipped."""


@pytest.fixture
def racing_acme():
    """ACME, committed for real (the tests that use it commit from two connections). Another
    transactional test may have flushed the migration's INTERNO type: make sure it exists
    (not serialized_rollback, which breaks once a flush has renumbered the content types)."""
    from emisario.accounts.models import AccountType
    from tests.factories import make_company

    AccountType.objects.get_or_create(code="INTERNO", defaults={"name": "Interno"})
    return make_company("ACME", "Acme S.A.")


def _race(first_call, second_call):
    """Run ``first_call`` in a transaction that stays open until ``second_call`` (another
    connection) has started and is blocked; then commit. Both results."""
    results: dict[str, object] = {}
    holding = threading.Event()
    release = threading.Event()
    second_done = threading.Event()

    def first():
        try:
            with transaction.atomic():
                results["first"] = first_call()
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def second():
        holding.wait(10)
        try:
            results["second"] = second_call()
        except Exception as exc:  # reported by the assertion below
            results["second"] = exc
        finally:
            second_done.set()
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    holding.wait(10)
    time.sleep(0.5)
    results["second_waited"] = not second_done.is_set()  # blocked on the unique index
    release.set()
    for thread in threads:
        thread.join(20)
    return results


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_transactions_queueing_the_same_key_at_once_make_one_message(racing_acme):
    results = _race(statement, lambda: statement(subject="segundo"))
    assert results["second_waited"]
    first, second = results["first"], results["second"]
    assert isinstance(second, OutboundMessage), second
    assert second.pk == first.pk and second.subject == "Estado de cuenta"
    assert OutboundMessage.objects.count() == 1
    assert Recipient.objects.count() == 1


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_enqueue_many_racing_a_key_returns_the_winner_and_queues_the_rest(racing_acme):
    items = [
        {
            "company": "ACME",
            "to": ["a@example.com"],
            "subject": "lote",
            "text": "x",
            "idempotency_key": key,
        }
        for key in ("lote-1", KEY, "lote-3")
    ]
    results = _race(statement, lambda: enqueue_many(items))
    assert results["second_waited"], results
    ids = results["second"]
    assert isinstance(ids, list), ids
    assert ids[1] == results["first"].pk
    assert OutboundMessage.objects.count() == 3
    assert set(OutboundMessage.objects.values_list("idempotency_key", flat=True)) == {
        "lote-1",
        KEY,
        "lote-3",
    }


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_threads_one_key_one_message(racing_acme):
    barrier = threading.Barrier(8)
    pks = []
    errors = []

    def worker():
        try:
            barrier.wait(10)
            with transaction.atomic():
                pks.append(statement().pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(set(pks)) == 1 and len(pks) == 8
    assert OutboundMessage.objects.count() == 1
