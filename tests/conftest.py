"""Shared pytest set-up: the real SMTP servers, certificates and file databases live in
``tests/support``."""

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.databases",
    "tests.support.companies",
    "tests.support.oauth",
]


def _on_postgres() -> bool:
    import os

    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres_pass`` need two real connections at once: on the SQLite pass
    they are left out (bin/test runs them again on PostgreSQL), never silently skipped. Tests
    marked ``sqlite_pass`` bring a database file of their own whatever DATABASE_URL says: the
    PostgreSQL pass leaves them out, as it would only repeat them."""
    other = "sqlite_pass" if _on_postgres() else "postgres_pass"
    left_out = [item for item in items if item.get_closest_marker(other)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


def pytest_report_header(config):
    if not _on_postgres():
        return "postgres_pass tests are left out here: bin/test runs them on PostgreSQL"
    return None
