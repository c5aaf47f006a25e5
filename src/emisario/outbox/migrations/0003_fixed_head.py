"""``mime_head`` becomes ``head``: every header field but From, rendered at intake.

Rows queued before this migration hold only the MIME head; their whole fixed head is
rendered here from their own columns, so a worker never needs the old per-attempt path.
Reversible: the reverse keeps only the MIME head again.
"""

from django.db import migrations

from emisario.core.mail.envelope import fixed_head
from emisario.core.mail.headers import HeaderError

MIME_VERSION = "MIME-Version: 1.0\r\n"


def render_heads(apps, schema_editor):
    Message = apps.get_model("outbox", "OutboundMessage")
    Recipient = apps.get_model("outbox", "Recipient")
    for message in Message.objects.exclude(head__contains=MIME_VERSION).iterator():
        recipients = Recipient.objects.filter(message=message).order_by("position")
        visible = {"to": [], "cc": []}
        for recipient in recipients:
            if recipient.kind in visible:
                visible[recipient.kind].append((recipient.address, recipient.display_name))
        try:
            head = fixed_head(
                to=visible["to"],
                cc=visible["cc"],
                reply_to=message.reply_to,
                subject=message.subject,
                date=message.date,
                message_id=message.message_id,
                extra=message.headers,
                mime_head=message.head.encode("ascii"),
            )
        except HeaderError:
            continue  # left as it is: a worker fails it "invalid_message", as it would have
        message.head = head.decode("utf-8")
        message.save(update_fields=["head"])


def mime_heads_only(apps, schema_editor):
    Message = apps.get_model("outbox", "OutboundMessage")
    for message in Message.objects.filter(head__contains=MIME_VERSION).iterator():
        # The last one: a Subject may hold the same words; the MIME head after it never does.
        message.head = message.head.rpartition(MIME_VERSION)[2].removesuffix("\r\n")
        message.save(update_fields=["head"])


class Migration(migrations.Migration):
    dependencies = [("outbox", "0002_worker_state")]

    operations = [
        migrations.RenameField("outboundmessage", "mime_head", "head"),
        migrations.RunPython(render_heads, mime_heads_only),
    ]
