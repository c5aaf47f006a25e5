"""An outgoing message as plain data, and the exact bytes it becomes for DATA.

The bytes are built here, header by header (:mod:`emisario.core.mail.headers`), not by
assigning strings to :class:`email.message.EmailMessage`: that would parse user text again.
The body is UTF-8 text, quoted-printable encoded (RFC 2045 section 6.7: lines of at most 76
characters), so it is 7-bit clean for servers without 8BITMIME. Headers are ASCII unless an
address has a non-ASCII local part: then the message needs SMTPUTF8 (RFC 6531/6532), which
:attr:`TextMessage.needs_smtputf8` says so that the sender can refuse before it sends.
"""

from __future__ import annotations

import quopri
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, make_msgid

from emisario.core.addresses import header_text, needs_smtputf8, normalize_address
from emisario.core.mail import headers


@dataclass(frozen=True)
class TextMessage:
    """A plain-text message. Construction validates every value (addresses, texts), so a
    message that exists can always be rendered."""

    sender: str
    to: tuple[str, ...]
    subject: str
    body: str
    sender_name: str = ""
    date: datetime | None = None
    message_id: str = field(default="")
    """``<id@domain>``; made from the sender's domain when empty."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender", normalize_address(self.sender, field="sender"))
        object.__setattr__(self, "to", tuple(normalize_address(a, field="to") for a in self.to))
        if not self.to:
            raise ValueError("a message needs at least one recipient")
        header_text(self.subject, field="subject")
        header_text(self.sender_name, field="display_name")
        if "\0" in self.body:
            raise ValueError("the body holds a NUL character")
        if not self.message_id:
            domain = self.sender.rpartition("@")[2]
            object.__setattr__(self, "message_id", make_msgid(domain=domain))

    @property
    def needs_smtputf8(self) -> bool:
        return any(needs_smtputf8(address) for address in (self.sender, *self.to))

    def as_bytes(self) -> bytes:
        """The message, CRLF line ends, ready for DATA (dot-stuffing is the client's)."""
        when = self.date or datetime.now().astimezone()
        lines = [
            headers.field("From", headers.mailbox(self.sender, self.sender_name)),
            headers.field("To", headers.address_list((a, "") for a in self.to)),
            headers.field("Subject", headers.unstructured(self.subject)),
            headers.field("Date", [format_datetime(when)]),
            headers.field("Message-ID", [self.message_id]),
            headers.field("MIME-Version", ["1.0"]),
            headers.field("Content-Type", ["text/plain;", "charset=utf-8"]),
            headers.field("Content-Transfer-Encoding", ["quoted-printable"]),
        ]
        return b"".join(lines) + b"\r\n" + quoted_printable(self.body)


def quoted_printable(text: str) -> bytes:
    """UTF-8 ``text`` as quoted-printable with CRLF line ends, every line at most 76
    characters (soft breaks included)."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = quopri.encodestring(normalized.encode("utf-8"), quotetabs=False)
    return encoded.replace(b"\n", b"\r\n")
