"""Shared pytest set-up: the real SMTP servers, certificates and file databases live in
``tests/support``."""

pytest_plugins = ["tests.support.fixtures", "tests.support.databases"]
