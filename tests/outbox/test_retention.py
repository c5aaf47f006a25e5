"""Retention: finished mail past the retention goes with its files; nothing else does."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from emisario.outbox.models import Attachment, Attempt, MessageStatus, OutboundMessage, Recipient
from tests.outbox.conftest import stored_files
from tests.outbox.cronus_support import queue_statement

pytestmark = pytest.mark.django_db


def age(message, status, days):
    when = timezone.now() - timedelta(days=days)
    OutboundMessage.objects.filter(pk=message.pk).update(status=status, finished_at=when)
    Attachment.objects.update(created_at=when)


def test_old_finished_mail_goes_with_its_files_and_the_rest_stays(acme_account, attachment_root):
    old = queue_statement(1, attachments=[("viejo.pdf", b"%PDF viejo")])
    Attempt.objects.create(message=old, outcome="sent")
    queued = queue_statement(2, attachments=[("nuevo.pdf", b"%PDF nuevo")])
    recent = queue_statement(3)
    age(old, MessageStatus.SENT, 40)
    OutboundMessage.objects.filter(pk=recent.pk).update(
        status=MessageStatus.SENT, finished_at=timezone.now() - timedelta(days=2)
    )
    OutboundMessage.objects.filter(pk=queued.pk).update(
        created_at=timezone.now() - timedelta(days=90)
    )
    for path in attachment_root.rglob("*"):  # older than the orphan grace period
        if path.is_file():
            past = time.time() - 7 * 3600
            os.utime(path, (past, past))
    out = StringIO()
    call_command("prune_outbox", "--days", "30", stdout=out)
    assert "Deleted 1 finished message(s)" in out.getvalue()
    assert set(OutboundMessage.objects.values_list("pk", flat=True)) == {queued.pk, recent.pk}
    assert not Recipient.objects.filter(message_id=old.pk).exists()
    assert not Attempt.objects.filter(message_id=old.pk).exists()
    assert [p.read_bytes() for p in stored_files(attachment_root)] == [b"%PDF nuevo"]
    assert OutboundMessage.objects.get(pk=queued.pk).body.content.storage.exists(
        OutboundMessage.objects.get(pk=queued.pk).body.content.name
    )


def test_dry_run_only_counts(acme_account):
    old = queue_statement(1)
    age(old, MessageStatus.FAILED, 40)
    out = StringIO()
    call_command("prune_outbox", "--days", "30", "--dry-run", stdout=out)
    assert "1 finished message(s) would be deleted" in out.getvalue()
    assert OutboundMessage.objects.filter(pk=old.pk).exists()


@pytest.mark.parametrize("days", ["0", "-3", "treinta"])
def test_days_must_be_a_sensible_number(days):
    with pytest.raises(CommandError, match="--days"):
        call_command("prune_outbox", "--days", days)
