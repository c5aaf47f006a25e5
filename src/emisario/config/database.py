"""The ``DATABASES`` entry for a ``DATABASE_URL``, with SQLite made safe for concurrent writers.

SQLite is the default database, and several requests (and, tomorrow, CRONUS's workers) write to
it at once. Django's defaults there fail under that load with "database is locked":

- Transactions start ``DEFERRED``: a transaction that reads and then writes (the Probar rate
  limit does: count the user's runs, then record one; ``select_for_update`` is a no-op on
  SQLite) holds a read lock and asks for the write lock later. If another connection is already
  writing, SQLite refuses at once instead of waiting, because waiting could deadlock; the busy
  timeout does not help. ``BEGIN IMMEDIATE`` takes the write lock first, so concurrent
  read-then-write transactions queue on the busy timeout instead of failing.
- In the default rollback journal a writer blocks every reader. Write-ahead logging (WAL) lets
  readers go on while one connection writes.
- The busy timeout (seconds a connection waits for the lock) is raised above the longest write
  transaction we expect, so a queue of requests waits rather than errs.

PostgreSQL needs none of this: its row locks (``select_for_update``) serialise the same writes.
"""

from __future__ import annotations

import re
from typing import Any

import dj_database_url

SQLITE_ENGINE = "django.db.backends.sqlite3"

SQLITE_BUSY_TIMEOUT = 20
"""Seconds a connection waits for SQLite's write lock before "database is locked"."""

SQLITE_OPTIONS: dict[str, Any] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": SQLITE_BUSY_TIMEOUT,
    # journal_mode=WAL is stored in the database file; setting it again on each connection is a
    # no-op once it is on, and turns it on for a database created before this setting existed.
    "init_command": "PRAGMA journal_mode=WAL",
}

CONN_MAX_AGE = 60
"""Seconds a connection is kept between requests (per thread)."""


def database_from_url(url: str) -> dict[str, Any]:
    """The ``DATABASES["default"]`` entry for ``url`` (a ``DATABASE_URL``).

    For SQLite the options above are added; options the URL sets itself win, so an
    administrator can still tune them (``sqlite:///path?timeout=60``).
    """
    entry = dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE)
    if entry.get("ENGINE") == SQLITE_ENGINE:
        options = dict(SQLITE_OPTIONS)
        options.update(entry.get("OPTIONS") or {})
        entry["OPTIONS"] = options
    return entry


UNUSABLE: dict[str, Any] = {"ENGINE": "django.db.backends.dummy"}
"""What ``DATABASES["default"]`` holds when ``DATABASE_URL`` cannot be read: every use of the
database then fails loudly. Never a fallback to SQLite, which would quietly keep a company's
data in a file beside the code while the administrator thinks it is in PostgreSQL."""


def shown_url(url: str) -> str:
    """``url`` with any password masked, fit to show in a check's message."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1********@", url)
