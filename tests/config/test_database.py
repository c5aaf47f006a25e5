"""``database_from_url``: what it adds to SQLite, and that a real connection gets it."""

import pytest
from django.db.utils import ConnectionHandler

from emisario.config.database import SQLITE_BUSY_TIMEOUT, database_from_url


@pytest.mark.django_db  # lifts pytest-django's guard; the connection below is our own
def test_sqlite_gets_wal_a_busy_timeout_and_immediate_transactions(tmp_path):
    entry = database_from_url(f"sqlite:///{tmp_path / 'emisario.sqlite3'}")
    assert entry["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert entry["OPTIONS"]["timeout"] == SQLITE_BUSY_TIMEOUT
    connection = ConnectionHandler({"default": entry})["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == SQLITE_BUSY_TIMEOUT * 1000
        assert connection.transaction_mode == "IMMEDIATE"
    finally:
        connection.close()


def test_options_in_the_url_win(tmp_path):
    entry = database_from_url(f"sqlite:///{tmp_path / 'x.sqlite3'}?timeout=60")
    assert entry["OPTIONS"]["timeout"] == 60
    assert entry["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgresql_is_left_as_parsed():
    entry = database_from_url("postgres://postgres@127.0.0.1:5432/emisario")
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert "transaction_mode" not in entry.get("OPTIONS", {})
    assert entry["CONN_MAX_AGE"] == 60
