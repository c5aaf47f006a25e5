"""The claim's indexes and the closed vocabularies are in the database itself."""

import pytest
from django.db import IntegrityError, connection, transaction

from emisario.outbox.models import MessageStatus, OutboundMessage
from emisario.outbox.services import enqueue

pytestmark = pytest.mark.django_db


def test_the_due_index_is_partial():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_message_due'")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'outbox_message_due'")
        (definition,) = cursor.fetchone()
    assert "WHERE" in definition.upper() and "queued" in definition and "deferred" in definition


def test_a_status_outside_the_vocabulary_is_refused_by_the_database(acme):
    message = enqueue(company=acme, to=["a@example.com"], subject="x", text="y")
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.filter(pk=message.pk).update(status="lost")
    assert set(MessageStatus.values) == {
        "queued",
        "sending",
        "sent",
        "partially_sent",
        "deferred",
        "failed",
        "cancelled",
    }
