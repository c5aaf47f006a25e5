"""What enqueue writes: the message with its fixed Message-ID and Date, recipients, expiry;
all inside the caller's transaction."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from emisario.outbox import storage
from emisario.outbox.models import (
    Attachment,
    MessageAttachment,
    MessageStatus,
    OutboundMessage,
    Recipient,
)
from emisario.outbox.services import FALLBACK_ID_DOMAIN, InvalidMessage, enqueue, enqueue_many
from tests.factories import make_account
from tests.outbox.conftest import stored_files

pytestmark = pytest.mark.django_db

# RFC 5322 section 3.6.4: "<" dot-atom-text "@" dot-atom-text ">"
MSG_ID = re.compile(
    r"^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9-]+\.)*[a-z0-9-]+>$"
)


def statement(**fields):
    values = {
        "company": "ACME",
        "to": ["cliente@example.com"],
        "subject": "Estado de cuenta",
        "text": "Adjuntamos su estado de cuenta.",
    }
    values.update(fields)
    return enqueue(**values)


def test_a_queued_message_holds_what_the_caller_gave(acme_account):
    before = timezone.now()
    message = statement(
        to=["a@example.com", ("Beto", "b@example.com")],
        cc=["c@example.com"],
        bcc=["d@example.com"],
        reply_to="cobros@acme.example",
        html="<p>Hola</p>",
    )
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert message.account_type.code == "INTERNO"
    assert message.attempts == 0
    assert before <= message.date <= timezone.now()
    assert message.next_attempt_at == message.date == message.created_at
    assert message.expires_at == message.date + timedelta(days=5)
    assert message.account_used is None and message.lease_owner == ""
    assert message.html_body == "<p>Hola</p>" and message.text_body.startswith("Adjuntamos")
    assert list(message.recipients.values_list("kind", "address", "display_name", "status")) == [
        ("to", "a@example.com", "", "queued"),
        ("to", "b@example.com", "Beto", "queued"),
        ("cc", "c@example.com", "", "queued"),
        ("bcc", "d@example.com", "", "queued"),
    ]


def test_expiry_comes_from_the_setting(acme, settings):
    settings.EMISARIO_OUTBOX_EXPIRY = timedelta(hours=3)
    message = statement()
    assert message.expires_at - message.date == timedelta(hours=3)


def test_message_id_uses_the_explicit_from_domain(acme_account):
    message = statement(from_address="avisos@BÜCHER.de")
    assert MSG_ID.match(message.message_id), message.message_id
    assert message.message_id.endswith("@xn--bcher-kva.de>")
    assert message.from_address == "avisos@xn--bcher-kva.de"


def test_message_id_uses_the_domain_of_the_account_in_use(acme, acme_account):
    make_account(acme, sender="otra@lower.example", priority=1)
    make_account(None, sender="sistema@erp.example", priority=99)
    assert statement().message_id.endswith("@acme.example>")


def test_message_id_falls_back_to_system_then_setting_then_reserved(acme, settings):
    assert statement().message_id.endswith(f"@{FALLBACK_ID_DOMAIN}>")
    settings.EMISARIO_MESSAGE_ID_DOMAIN = "Correo.ERP.example"
    assert statement().message_id.endswith("@correo.erp.example>")
    make_account(None, sender="sistema@erp.example")
    assert statement().message_id.endswith("@erp.example>")


def test_message_id_and_date_are_fixed_at_queue_time(acme_account):
    message = statement(idempotency_key="F-1")
    message_id, date = message.message_id, message.date
    again = statement(idempotency_key="F-1")
    assert (again.pk, again.message_id, again.date) == (message.pk, message_id, date)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.DEFERRED, attempts=3
    )  # what the worker does between attempts never touches them
    message.refresh_from_db()
    assert (message.message_id, message.date) == (message_id, date)
    others = {statement().message_id for _ in range(20)}
    assert len(others) == 20 and message_id not in others


def test_enqueue_runs_in_the_callers_transaction_and_rolls_back_with_it(
    acme_account, attachment_root
):
    class StatementFailed(Exception):
        pass

    with pytest.raises(StatementFailed), transaction.atomic():
        message = statement(attachments=[("estado.pdf", b"%PDF-1.7 ACME 0001")])
        assert connection.in_atomic_block  # no commit of its own: still the caller's
        assert OutboundMessage.objects.filter(pk=message.pk).exists()
        raise StatementFailed
    assert OutboundMessage.objects.count() == 0
    assert Recipient.objects.count() == 0
    assert MessageAttachment.objects.count() == 0
    assert Attachment.objects.count() == 0  # no orphan row
    # The file stays (Django has no rollback hook), harmless and collectable:
    assert len(stored_files(attachment_root)) == 1
    assert storage.collect_orphans(older_than=timedelta(hours=1)) == 0  # too young: kept
    # The attachment's file and the rendered body's.
    assert storage.collect_orphans(older_than=timedelta(0)) == 2
    assert stored_files(attachment_root) == []


def test_a_rolled_back_file_is_reused_by_the_next_intake(acme_account, attachment_root):
    with pytest.raises(RuntimeError), transaction.atomic():
        statement(attachments=[("estado.pdf", b"%PDF same")])
        raise RuntimeError
    message = statement(attachments=[("estado.pdf", b"%PDF same")])
    assert len(stored_files(attachment_root)) == 1
    # The attachment has a row now; only the first, rolled-back rendered body goes (its
    # multipart boundary is random, so the second message's body is another file).
    assert storage.collect_orphans(older_than=timedelta(0)) == 1
    assert message.body.content.name.startswith("bodies/")
    assert b"".join(message.attachments.get().blob.chunks()) == b"%PDF same"


def test_enqueue_many_writes_in_chunks_and_returns_ids_in_order(
    acme_account, django_assert_max_num_queries
):
    items = [
        {"company": "ACME", "to": [f"c{n}@example.com"], "subject": f"Estado {n}", "text": "x"}
        for n in range(7)
    ]
    ids = enqueue_many(items, chunk_size=3)
    assert len(ids) == 7 and len(set(ids)) == 7
    subjects = dict(OutboundMessage.objects.values_list("pk", "subject"))
    assert [subjects[pk] for pk in ids] == [f"Estado {n}" for n in range(7)]
    assert Recipient.objects.count() == 7


def test_enqueue_many_does_not_query_per_message(acme_account, django_assert_max_num_queries):
    items = [
        {"company": "ACME", "to": [f"c{n}@example.com"], "subject": "x", "text": "y"}
        for n in range(200)
    ]
    # A fixed number per chunk (rows, then the rendered bodies' rows), none per message.
    with django_assert_max_num_queries(30):
        enqueue_many(items, chunk_size=100)
    assert OutboundMessage.objects.count() == 200


def test_enqueue_many_respects_idempotency_keys(acme_account, otra):
    first = statement(idempotency_key="E-1").pk
    ids = enqueue_many(
        [
            {
                "company": "ACME",
                "to": ["a@example.com"],
                "subject": "1",
                "text": "x",
                "idempotency_key": "E-1",
            },
            {
                "company": "ACME",
                "to": ["a@example.com"],
                "subject": "2",
                "text": "x",
                "idempotency_key": "E-2",
            },
            {
                "company": "ACME",
                "to": ["a@example.com"],
                "subject": "3",
                "text": "x",
                "idempotency_key": "E-2",
            },
            {
                "company": "OTRA",
                "to": ["a@example.com"],
                "subject": "4",
                "text": "x",
                "idempotency_key": "E-2",
            },
            {"company": "ACME", "to": ["a@example.com"], "subject": "5", "text": "x"},
        ],
        chunk_size=2,
    )
    assert ids[0] == first
    assert ids[1] == ids[2] != ids[3]
    assert OutboundMessage.objects.count() == 4
    assert OutboundMessage.objects.get(pk=ids[2]).subject == "2"  # the first one wins


def test_a_bad_item_after_written_chunks_leaves_no_rows_or_blob_rows(acme_account):
    items = [
        {
            "company": "ACME",
            "to": ["a@example.com"],
            "subject": "x",
            "text": "y",
            "attachments": [(f"e{n}.pdf", b"pdf %d" % n)],
        }
        for n in range(4)
    ]
    items.append({"company": "NOPE", "to": ["a@example.com"], "subject": "x", "text": "y"})
    with pytest.raises(InvalidMessage) as caught:
        enqueue_many(items, chunk_size=2)
    assert (caught.value.index, caught.value.code) == (4, "unknown_company")
    assert OutboundMessage.objects.count() == Attachment.objects.count() == 0
