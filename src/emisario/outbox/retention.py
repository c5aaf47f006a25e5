"""History kept bounded: finished messages older than the retention go, with their attempts,
recipients, attachment links, and the files nothing points at any more.

The claim never reads finished rows (its indexes hold only due and leased ones), so history
costs the claim nothing; it costs disk, backups and vacuum. Deleting in chunks keeps each
transaction short, so workers claiming meanwhile never wait long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from emisario.outbox import storage, throttle
from emisario.outbox.models import (
    FINAL_STATUSES,
    Attachment,
    MessageAttachment,
    OutboundMessage,
)

CHUNK = 1000


@dataclass(frozen=True)
class Pruned:
    messages: int
    contents: int
    files: int
    reservations: int


def prune(*, older_than: timedelta, dry_run: bool = False) -> Pruned:
    """Delete messages finished more than ``older_than`` ago (never a queued, deferred or
    sending one), then contents no message uses, then their files."""
    cutoff = timezone.now() - older_than
    old = OutboundMessage.objects.filter(status__in=FINAL_STATUSES, finished_at__lt=cutoff)
    if dry_run:
        return Pruned(old.count(), 0, 0, 0)
    messages = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:CHUNK])
        if not ids:
            break
        with transaction.atomic():
            OutboundMessage.objects.filter(pk__in=ids).delete()
        messages += len(ids)
    unused = (
        Attachment.objects.filter(created_at__lt=cutoff)
        .exclude(Exists(MessageAttachment.objects.filter(blob=OuterRef("pk"))))
        .exclude(Exists(OutboundMessage.objects.filter(body=OuterRef("pk"))))
    )
    contents = 0
    while True:
        ids = list(unused.values_list("pk", flat=True)[:CHUNK])
        if not ids:
            break
        with transaction.atomic():
            Attachment.objects.filter(pk__in=ids).delete()
        contents += len(ids)
    files = storage.collect_orphans()
    return Pruned(messages, contents, files, throttle.prune())
