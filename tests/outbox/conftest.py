"""Outbox fixtures: companies, an account to take the Message-ID domain from, and attachment
files under the test's own directory."""

import pytest

from tests.factories import make_account
from tests.outbox.cronus_support import cronus_settings  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def attachment_root(settings, tmp_path):
    root = tmp_path / "attachments"
    settings.EMISARIO_ATTACHMENT_ROOT = str(root)
    return root


@pytest.fixture
def acme_account(acme):
    return make_account(acme, sender="cobranza@acme.example", priority=5)


def stored_files(root):
    """Attachment files on disk: temporary ones and rendered message bodies (every message
    has one, under ``bodies/``) excluded."""
    if not root.exists():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in ("tmp", "bodies")
    )
