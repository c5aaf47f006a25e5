"""Skips that say why, and that CI turns into failures (EMISARIO_REQUIRE_ALL_TESTS=1)."""

import os

import pytest


def skip_or_fail(reason: str) -> None:
    if os.environ.get("EMISARIO_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(f"{reason} (EMISARIO_REQUIRE_ALL_TESTS=1 makes this a failure)")
    pytest.skip(reason)
