"""account_save and account_delete leave a full audit record, never with the password."""

from emisario.accounts import crypto
from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.accounts.services import account_delete, account_save
from emisario.core.secrets import Secret
from tests.accounts.test_permissions import values
from tests.factories import make_account


def test_delete_records_who_what_and_every_value(roles, acme):
    account = make_account(
        acme,
        sender="borrar@acme.example",
        host="smtp.acme.example",
        port=465,
        security="tls",
        login="borrar",
        display_name="Cobranza",
        priority=4,
    )
    label = str(account)
    account_delete(actor=roles["emisopt"], account=account)
    assert not SmtpAccount.objects.filter(pk=account.pk).exists()
    record = AuditRecord.objects.get()
    assert record.action == "delete" and record.actor == roles["emisopt"]
    assert record.company == acme and record.account is None
    assert record.account_label == label and record.target == "smtp.acme.example:465"
    assert record.changes == {
        "company": ["ACME", None],
        "account_type": ["INTERNO", None],
        "priority": [4, None],
        "host": ["smtp.acme.example", None],
        "port": [465, None],
        "security": ["tls", None],
        "sender": ["borrar@acme.example", None],
        "login": ["borrar", None],
        "display_name": ["Cobranza", None],
        "enabled": [True, None],
        "auth_method": ["password", None],
        "oauth_provider": ["", None],
    }
    assert "secreto" not in str(record.changes)


def test_save_records_changes_and_only_that_the_password_changed(roles, acme, settings):
    settings.EMISARIO_PROBE_ALLOW = ["203.0.113.9"]
    actor = roles["emisopt"]
    account = account_save(
        actor=actor, account=None, data=values(acme), typed_password=Secret("Primera-1")
    ).account
    account_save(actor=actor, account=account, data=values(acme, priority=7), typed_password=None)
    account.refresh_from_db()
    assert crypto.decrypt(account.password_token).reveal() == "Primera-1"  # blank keeps it
    create, update = AuditRecord.objects.order_by("at", "id")
    assert create.action == "create" and create.changes["password"] == "changed"
    assert update.action == "update" and update.changes == {"priority": [1, 7]}
    assert "Primera" not in str(create.changes) + str(update.changes)


def test_on_saved_runs_in_the_save_s_transaction_after_the_lookup(roles, acme, monkeypatch):
    import pytest
    from django.db import connection

    from emisario.accounts import services

    outer = len(connection.atomic_blocks)  # the test's own transaction
    seen = []
    monkeypatch.setattr(
        services, "check_target", lambda *args: seen.append(len(connection.atomic_blocks) - outer)
    )

    def fails(saved):
        seen.append(len(connection.atomic_blocks) - outer)
        seen.append(SmtpAccount.objects.filter(pk=saved.account.pk).exists())
        raise RuntimeError("the claim could not be finished")

    with pytest.raises(RuntimeError):
        account_save(
            actor=roles["emisopt"],
            account=None,
            data=values(acme),
            typed_password=None,
            on_saved=fails,
        )
    # The lookup outside the save's transaction; the callback inside it, after the write.
    assert seen == [0, 1, True]
    assert not SmtpAccount.objects.exists() and not AuditRecord.objects.exists()  # undone too
