"""The outbox's settings, read when used (never at import), each with its default.

Each is read from the environment by the settings (``EMISARIO_OUTBOX_EXPIRY_HOURS`` for the
expiry), so a malformed value is system check ``emisario.E010``, not a traceback.

- ``EMISARIO_OUTBOX_EXPIRY`` (a ``timedelta``, or seconds): how long a message may wait for a
  successful send before it fails as expired; 5 days, after RFC 5321 section 4.5.4.1.
- ``EMISARIO_ATTACHMENT_MAX_BYTES``: the largest attachment, and the largest total of one
  message's attachments; 25 MB (what Gmail and Microsoft 365 accept before base64 grows it).
- ``EMISARIO_ATTACHMENT_MAX_COUNT``: attachments per message; 20.
- ``EMISARIO_ATTACHMENT_ROOT``: where attachment files live; ``<EMISARIO_HOME>/var/attachments``.
- ``EMISARIO_OUTBOX_MAX_RECIPIENTS``: To + Cc + Bcc of one message; 1,000. Provider limits per
  message (Gmail 100) are the worker's business: it splits or defers, intake only refuses
  nonsense.
- ``EMISARIO_OUTBOX_MAX_BODY_BYTES``: text and HTML body, each, in UTF-8; 10 MB.
- ``EMISARIO_MESSAGE_ID_DOMAIN``: the right-hand side of Message-IDs when the message has no
  explicit From and the company has no account to take the domain from; empty by default.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings

MB = 1024 * 1024
NOTIFY_CHANNEL = "emisario_outbox"
"""PostgreSQL channel intake notifies and CRONUS listens on."""


def expiry() -> timedelta:
    value = getattr(settings, "EMISARIO_OUTBOX_EXPIRY", timedelta(days=5))
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def attachment_max_bytes() -> int:
    return int(getattr(settings, "EMISARIO_ATTACHMENT_MAX_BYTES", 25 * MB))


def attachment_max_count() -> int:
    return int(getattr(settings, "EMISARIO_ATTACHMENT_MAX_COUNT", 20))


def attachment_root() -> Path:
    root = getattr(settings, "EMISARIO_ATTACHMENT_ROOT", "")
    return Path(root) if root else Path(settings.BASE_DIR) / "var" / "attachments"


def max_recipients() -> int:
    return int(getattr(settings, "EMISARIO_OUTBOX_MAX_RECIPIENTS", 1000))


def max_body_bytes() -> int:
    return int(getattr(settings, "EMISARIO_OUTBOX_MAX_BODY_BYTES", 10 * MB))


def message_id_domain() -> str:
    return str(getattr(settings, "EMISARIO_MESSAGE_ID_DOMAIN", "") or "")
