"""Shared pytest set-up: the real SMTP servers and certificates live in ``tests/support``."""

pytest_plugins = ["tests.support.fixtures"]
