"""The header block CRONUS writes before a stored body, built when the sending account is known.

The body was rendered at intake (:mod:`.mime`); only the From depends on the account that
sends (its Usuario, unless the caller gave an explicit From), so the header block is all that
is built per attempt: a few fields, microseconds. Every value went through intake's
validation; :func:`.headers.field` still refuses a line break in any token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from emisario.core.mail import headers


def header_block(
    *,
    sender: str,
    sender_name: str,
    to: Sequence[tuple[str, str]],
    cc: Sequence[tuple[str, str]],
    reply_to: str,
    subject: str,
    date: datetime,
    message_id: str,
    extra: Sequence[Sequence[str]],
    mime_head: bytes,
) -> bytes:
    """The header fields of one message, CRLF-ended, and the blank line before the body.
    ``to``/``cc`` hold ``(address, display name)``; Bcc is never written."""
    lines = [headers.field("From", headers.mailbox(sender, sender_name))]
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
    lines.append(b"MIME-Version: 1.0\r\n")
    return b"".join(lines) + mime_head + b"\r\n"
