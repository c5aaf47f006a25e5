"""The MIME body of an outgoing message (text, HTML, attachments), rendered once when queued.

Building MIME costs milliseconds per message with an attached PDF, far more than sending it
over a reused session, so CRONUS never builds it: intake renders the body here into a stored
file, and the worker writes only the header block (which depends on the account that sends)
followed by those bytes. What comes out is safe to put on the wire as it is:

- every line ends in CRLF and is at most 76 characters (quoted-printable and base64 only);
- no line starts with "." (quoted-printable escapes it, base64 and boundaries never have one),
  so the stored bytes need no dot-stuffing, and a relay that forgets to unstuff cannot cut it;
- boundaries start with ``=_``, which neither encoding can produce, so no part can end early.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from emisario.core.mail import headers
from emisario.core.mail.message import quoted_printable

BASE64_CHUNK = 57 * 1152
"""Raw bytes per base64 chunk: a multiple of 57 (one 76-character line), about 64 KB."""


@dataclass(frozen=True, slots=True)
class AttachmentPart:
    """One attachment: its name, its type, and a way to read its bytes in chunks (called once,
    when the body is rendered; never read whole)."""

    filename: str
    content_type: str
    chunks: Callable[[], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class RenderedBody:
    """``head``: the top-level Content-Type and Content-Transfer-Encoding fields, CRLF-ended;
    ``chunks``: the body that follows the blank line."""

    head: bytes
    chunks: Iterator[bytes]


def new_boundary() -> str:
    return "=_" + secrets.token_hex(12)


def render_body(
    *,
    text: str,
    html: str,
    attachments: Sequence[AttachmentPart] = (),
    boundary: Callable[[], str] = new_boundary,
) -> RenderedBody:
    """The body for ``text`` and/or ``html`` (an alternative when both) with ``attachments``
    (then a mixed multipart around them)."""
    if text and html:
        inner_head, inner = _alternative(text, html, boundary())
    else:
        inner_head, encoded = _text_part(html or text, "html" if html else "plain")
        if not attachments:  # the part ends the message: one line end, not two
            return RenderedBody(inner_head, iter([_ending_in_crlf(encoded)]))
        inner = _before_delimiter(encoded)
    if not attachments:
        return RenderedBody(inner_head, iter(inner))
    mark = boundary()
    head = headers.field("Content-Type", ["multipart/mixed;", f'boundary="{mark}"'])
    return RenderedBody(head, _mixed(mark, inner_head, inner, attachments))


def _text_part(body: str, subtype: str) -> tuple[bytes, bytes]:
    head = headers.field("Content-Type", [f"text/{subtype};", "charset=utf-8"]) + headers.field(
        "Content-Transfer-Encoding", ["quoted-printable"]
    )
    return head, quoted_printable(body)


def _before_delimiter(encoded: bytes) -> list[bytes]:
    """A part inside a multipart: the CRLF before the next delimiter belongs to the
    delimiter (RFC 2046 section 5.1.1), so a text's own last line end is kept."""
    return [encoded + b"\r\n"] if encoded else [b""]


def _ending_in_crlf(encoded: bytes) -> bytes:
    """The body of a single-part message: its last line ends in CRLF (the wire needs it),
    and a text that ended in a line break does not get a second one."""
    return encoded if not encoded or encoded.endswith(b"\r\n") else encoded + b"\r\n"


def _alternative(text: str, html: str, mark: str) -> tuple[bytes, list[bytes]]:
    head = headers.field("Content-Type", ["multipart/alternative;", f'boundary="{mark}"'])
    chunks: list[bytes] = []
    for body, subtype in ((text, "plain"), (html, "html")):
        part_head, encoded = _text_part(body, subtype)
        chunks += [f"--{mark}\r\n".encode("ascii"), part_head, b"\r\n", *_before_delimiter(encoded)]
    chunks.append(f"--{mark}--\r\n".encode("ascii"))
    return head, chunks


def _mixed(
    mark: str, inner_head: bytes, inner: list[bytes], attachments: Sequence[AttachmentPart]
) -> Iterator[bytes]:
    opening = f"--{mark}\r\n".encode("ascii")
    yield opening + inner_head + b"\r\n"
    yield from inner
    for attachment in attachments:
        yield opening + attachment_head(attachment.filename, attachment.content_type) + b"\r\n"
        yield from base64_lines(attachment.chunks())
    yield f"--{mark}--\r\n".encode("ascii")


def attachment_head(filename: str, content_type: str) -> bytes:
    """Content-Type (with ``name`` for old readers), Content-Disposition and the encoding."""
    name_params = _parameter("name", filename)
    file_params = _parameter("filename", filename)
    return (
        headers.field("Content-Type", [f"{content_type};", *name_params])
        + headers.field("Content-Disposition", ["attachment;", *file_params])
        + headers.field("Content-Transfer-Encoding", ["base64"])
    )


_TOKEN_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()*+,-.^_`{}~[]=@:/?"
)
_SECTION = 60
"""Characters per RFC 2231 continuation: keeps each folded line within 78."""


def _parameter(name: str, value: str) -> list[str]:
    """``name="value"`` when the value is short printable ASCII without quotes or
    backslashes; else RFC 2231 sections ``name*0*=utf-8''%XX...``, each its own token."""
    if all(c in _TOKEN_SAFE for c in value) and len(value) <= _SECTION:
        return [f'{name}="{value}"']
    encoded = quote(value, safe="")
    sections: list[str] = []
    while encoded:
        cut = min(_SECTION, len(encoded))
        while "%" in encoded[max(cut - 2, 0) : cut]:  # never split a %XX escape
            cut -= 1
        sections.append(encoded[:cut])
        encoded = encoded[cut:]
    tokens = []
    for number, section in enumerate(sections):
        prefix = "utf-8''" if number == 0 else ""
        tokens.append(f"{name}*{number}*={prefix}{section};")
    tokens[-1] = tokens[-1].rstrip(";")
    return tokens


def base64_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` as base64 in 76-character CRLF lines, streaming (RFC 2045 section 6.8)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        if len(data) < BASE64_CHUNK:
            pending = data
            continue
        whole = len(data) - len(data) % 57
        yield base64.encodebytes(data[:whole]).replace(b"\n", b"\r\n")
        pending = data[whole:]
    if pending:
        yield base64.encodebytes(pending).replace(b"\n", b"\r\n")
