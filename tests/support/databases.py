"""Pytest fixtures for a file database of its own: ``sqlite_url`` (a SQLite file under the
test's tmp_path) and ``postgres_url`` (a fresh PostgreSQL database on the local server,
dropped afterwards; skipped, or failed under EMISARIO_REQUIRE_ALL_TESTS=1, without one)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.requirements import skip_or_fail

POSTGRES = "postgres://postgres@127.0.0.1:5432"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'emisario.sqlite3'}"


@pytest.fixture
def postgres_url(request) -> Iterator[str]:
    try:
        import psycopg

        admin = psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3, autocommit=True)
    except Exception as exc:  # psycopg missing or no server: say which
        skip_or_fail(f"PostgreSQL does not answer at {POSTGRES}: {exc}")
    # Named after the test module, so a database left behind says who made it.
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    name = f"emisario_{module[:30]}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
