"""An outgoing message as plain data, and the exact bytes it becomes for DATA.

The bytes are built here, header by header (:mod:`emisario.core.mail.headers`), not by
assigning strings to :class:`email.message.EmailMessage`: that would parse user text again.
The body is UTF-8 text, quoted-printable encoded (RFC 2045 section 6.7: lines of at most 76
characters), so it is 7-bit clean for servers without 8BITMIME. Headers are ASCII unless an
address has a non-ASCII local part: then the message needs SMTPUTF8 (RFC 6531/6532), which
:attr:`TextMessage.needs_smtputf8` says so that the sender can refuse before it sends.
"""

from __future__ import annotations

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


QP_LINE = 76
"""RFC 2045 section 6.7 rule 5: encoded lines are at most 76 characters, the "=" of a soft
line break included."""
_LITERAL = frozenset(range(33, 127)) - {ord("=")}
"""Rule 2: printable ASCII stands for itself, except "=" (rule 1 escapes it)."""


def quoted_printable(text: str) -> bytes:
    """UTF-8 ``text`` as quoted-printable (RFC 2045 section 6.7) with CRLF line ends.

    Written here rather than with :mod:`quopri`/``binascii.b2a_qp``, which emits 77-character
    lines when spaces before a line end meet the soft-break limit. Every line is at most 76
    characters, white space at a line end is escaped (rule 3), and so are a leading "." (a
    relay that forgets dot-stuffing would end the message there) and a leading "From " (mbox
    files rewrite it as ">From").
    """
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_qp_line(line.encode("utf-8")) for line in normalized.split("\n")]
    return "\r\n".join(lines).encode("ascii")


def _qp_line(raw: bytes) -> str:
    """One hard line, folded with soft breaks ("=" CRLF) between whole tokens (never inside
    an "=XX" escape). Encoded through a table, then cut line by line: the work per character
    is one lookup, which keeps a statement's HTML under a millisecond."""
    if _is_literal_line(raw):
        return raw.decode("ascii")  # most lines of a body: nothing to escape, nothing to fold
    encoded = "".join([_QP_TABLE[byte] for byte in raw])
    if raw.endswith((b" ", b"\t")):  # rule 3: white space never ends an encoded line
        encoded = encoded[:-1] + f"={raw[-1]:02X}"
    encoded = _protect_start(encoded, 0)
    parts: list[str] = []
    start = 0
    while len(encoded) - start > QP_LINE:
        cut = start + QP_LINE - 1  # room for the soft break's "="
        if encoded[cut - 1] == "=":
            cut -= 1
        elif encoded[cut - 2] == "=":
            cut -= 2
        parts.append(encoded[start:cut])
        start = cut
        encoded = _protect_start(encoded, start)
    parts.append(encoded[start:])
    return "=\r\n".join(parts)


def _protect_start(encoded: str, position: int) -> str:
    """Escape a "." or the "F" of "From " that would begin a physical line at ``position``."""
    if encoded.startswith(".", position):
        return encoded[:position] + "=2E" + encoded[position + 1 :]
    if encoded.startswith("From ", position):
        return encoded[:position] + "=46" + encoded[position + 1 :]
    return encoded


_QP_TABLE = [
    chr(byte) if byte in _LITERAL or byte in (0x20, 0x09) else f"={byte:02X}" for byte in range(256)
]
"""How each byte is written inside a line (white space is fixed up at the line's end)."""
_LITERAL_OR_BLANK = bytes(sorted(_LITERAL | {0x20, 0x09}))


def _is_literal_line(raw: bytes) -> bool:
    """A line that quoted-printable writes unchanged: short enough, only literal characters and
    inner blanks, and no leading "." or "From "."""
    return (
        len(raw) <= QP_LINE
        and not raw.translate(None, _LITERAL_OR_BLANK)
        and not raw.endswith((b" ", b"\t"))
        and not raw.startswith((b".", b"From "))
    )
