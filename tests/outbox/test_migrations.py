"""Migration 0003: a message queued before it (only its MIME head stored) gets the whole
fixed head, and the worker sends it with the same header fields as a message queued after."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from emisario.core.mail.envelope import fixed_head

BEFORE = [("outbox", "0002_worker_state")]
AFTER = [("outbox", "0003_fixed_head")]
MIME = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n'
DATE = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_an_old_row_gets_its_fixed_head_and_the_reverse_gives_the_mime_head_back():
    apps = migrate(BEFORE)
    try:
        company = apps.get_model("accounts", "Company").objects.create(code="OLD", name="Old")
        # get_or_create: a transactional test before this one may have flushed the seed rows
        kind = apps.get_model("accounts", "AccountType").objects.get_or_create(
            code="INTERNO", defaults={"name": "Interno"}
        )[0]
        message = apps.get_model("outbox", "OutboundMessage").objects.create(
            company=company,
            account_type=kind,
            reply_to="pagos@old.example",
            subject="Estado de cuenta, re: MIME-Version: 1.0",
            headers=[["X-Factura", "F-9"]],
            message_id="<1.old@old.example>",
            date=DATE,
            mime_head=MIME.decode(),
            status="queued",
            next_attempt_at=DATE,
            expires_at=DATE,
        )
        recipient = apps.get_model("outbox", "Recipient")
        rows = [("to", "b@client.example", "Bea"), ("bcc", "c@client.example", ""),
                ("cc", "a@client.example", "")]  # fmt: skip
        for position, (kind_code, address, name) in enumerate(rows):
            recipient.objects.create(
                message=message, kind=kind_code, address=address, display_name=name,
                position=position,
            )  # fmt: skip

        apps = migrate(AFTER)
        head = apps.get_model("outbox", "OutboundMessage").objects.get(pk=message.pk).head
        assert head.encode() == fixed_head(
            to=[("b@client.example", "Bea")],
            cc=[("a@client.example", "")],
            reply_to="pagos@old.example",
            subject="Estado de cuenta, re: MIME-Version: 1.0",
            date=DATE,
            message_id="<1.old@old.example>",
            extra=[["X-Factura", "F-9"]],
            mime_head=MIME,
        )
        assert "c@client.example" not in head  # Bcc never in a header

        apps = migrate(BEFORE)
        old = apps.get_model("outbox", "OutboundMessage").objects.get(pk=message.pk)
        assert old.mime_head == MIME.decode()
    finally:
        migrate(AFTER)
