"""The header of a queued message: every field but From fixed at intake, From per attempt.

The body was rendered at intake (:mod:`.mime`), and so is :func:`fixed_head`: To, Cc,
Reply-To, Subject, Date, Message-ID, the caller's headers and the MIME head are the same on
every attempt. Only the From depends on the account that sends (its Usuario, unless the
caller gave an explicit From), so :func:`header_block` is all a worker builds per attempt:
one field. Every value went through intake's validation; :func:`.headers.field` still
refuses a line break in any token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache

from emisario.core.mail import headers

MIME_VERSION = b"MIME-Version: 1.0\r\n"
"""The last field of every fixed head, before the MIME head: a head without it is not one."""


def fixed_head(
    *,
    to: Sequence[tuple[str, str]],
    cc: Sequence[tuple[str, str]],
    reply_to: str,
    subject: str,
    date: datetime,
    message_id: str,
    extra: Sequence[Sequence[str]],
    mime_head: bytes,
) -> bytes:
    """The header fields after From, CRLF-ended, and the blank line before the body.
    ``to``/``cc`` hold ``(address, display name)``; Bcc is never written."""
    lines = []
    if to:
        lines.append(headers.field("To", headers.address_list(to)))
    if cc:
        lines.append(headers.field("Cc", headers.address_list(cc)))
    if not to and not cc:  # RFC 5322 3.6.3: an empty group when every recipient is Bcc
        lines.append(b"To: undisclosed-recipients:;\r\n")
    if reply_to:
        lines.append(headers.field("Reply-To", headers.mailbox(reply_to)))
    lines += [
        headers.field("Subject", headers.unstructured(subject)) if subject else b"Subject:\r\n",
        headers.field("Date", [format_datetime(date)]),
        headers.field("Message-ID", [message_id]),
    ]
    for name, value in extra:
        lines.append(headers.field(name, headers.unstructured(value)))
    lines.append(MIME_VERSION)
    return b"".join(lines) + mime_head + b"\r\n"


def header_block(*, sender: str, sender_name: str, head: bytes) -> bytes:
    """The whole header of one attempt: the From of the account that sends, then ``head``
    (:func:`fixed_head`, stored with the message)."""
    return _from_field(sender, sender_name) + head


@lru_cache(maxsize=256)
def _from_field(sender: str, sender_name: str) -> bytes:
    """One account's From line, the same for every message it sends without its own From."""
    return headers.field("From", headers.mailbox(sender, sender_name))
