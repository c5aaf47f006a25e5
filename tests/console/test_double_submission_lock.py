"""Guardar's DNS lookup runs before any transaction: on SQLite (``transaction_mode=IMMEDIATE``)
a transaction holds the database-wide write lock from BEGIN, so a lookup inside one (up to
EMISARIO_PROBE_DEADLINE) would make every other writer wait, and fail with "database is
locked" past the busy timeout. The double-submission claim is finished inside account_save's
own transaction, after the lookup. Run on a file SQLite database as production uses it (WAL,
BEGIN IMMEDIATE), or on PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import threading

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connections
from django.test import Client

from emisario.accounts.models import AuditAction, AuditRecord, FormSubmission, SmtpAccount
from emisario.config.database import database_from_url
from emisario.core.netpolicy import SystemResolver
from tests.console.test_double_submission import token_of
from tests.console.test_permissions import CXC, form
from tests.factories import make_company, make_user

LOOKUP_HELD = 3.0
"""Seconds the test's resolver holds the lookup unless the test lets it go sooner."""
WRITE_WAITS = 1.0
"""A write elsewhere that has not finished after this is waiting for the lookup."""


@pytest.fixture
def file_database(transactional_db, tmp_path):
    """On SQLite: the default database is, for this test, a file with production's options
    (``database_from_url``), in this thread and in the threads it starts."""
    if connections["default"].vendor != "sqlite":
        yield  # PostgreSQL: the test's own database, already a real server
        return
    old_settings, old_connection = connections.settings["default"], connections["default"]
    entry = dict(old_settings)
    entry.update(database_from_url(f"sqlite:///{tmp_path / 'emisario.sqlite3'}"))
    entry["CONN_MAX_AGE"] = 0
    connections.settings["default"] = entry
    connections["default"] = connections.create_connection("default")
    ContentType.objects.clear_cache()
    try:
        call_command("migrate", verbosity=0)
        yield
    finally:
        connections["default"].close()
        connections.settings["default"] = old_settings
        connections["default"] = old_connection
        ContentType.objects.clear_cache()


class SlowResolver:
    """A lookup that answers (127.0.0.1) only when the test says so, or after LOOKUP_HELD."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()

    async def resolve(self, host, port):
        self.started.set()
        self.release.wait(LOOKUP_HELD)
        return ["127.0.0.1"]


def in_thread(target) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run():
        try:
            outcome.append(target())
        except BaseException as exc:  # reported by the test
            outcome.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_guardar_resolves_the_server_outside_any_transaction(file_database, settings, monkeypatch):
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]  # the address, not the name
    resolver = SlowResolver()
    monkeypatch.setattr(SystemResolver, "resolve", resolver.resolve)
    acme = make_company("ACME", "Acme S.A.")
    user = make_user("cobros", perms=("EMISOPT",), companies=[acme])
    client = Client()
    client.force_login(user)
    data = form(host="lento.acme.example", envio=token_of(client))

    saving, saved = in_thread(lambda: client.post(CXC, data))
    assert resolver.started.wait(10), saved
    # Guardar is now waiting for DNS. Another request writes meanwhile: it must not wait.
    writing, written = in_thread(
        lambda: AuditRecord.objects.create(
            action=AuditAction.TEST, account_label="otra", target="x:25"
        )
    )
    writing.join(WRITE_WAITS)
    waited = writing.is_alive()
    resolver.release.set()
    writing.join(30)
    saving.join(30)
    assert not waited, "a write waited for Guardar's DNS lookup (the write lock was held)"
    assert not isinstance(written[0], BaseException), written
    assert saved[0].status_code == 302, saved
    account = SmtpAccount.objects.get()
    assert account.host == "lento.acme.example"
    assert FormSubmission.objects.get().done  # the claim is still finished with the save
