"""Header fields written by us, from validated, structured values.

No parser ever reads user text into a header here. Python's ``email`` package, given a string
for ``From``, parses it, and its parser decodes RFC 2047 encoded-words: an address such as
``=?utf-8?q?_=0D=0ABcc=3A_x=40evil.example?=@acme.demo`` came out as a real CR LF and a
``Bcc:`` header. Its own guard against that (``verify_generated_headers``) is missing from
Python 3.11.7, the interpreter we run on. So each header is serialized from parts whose
syntax we know: an address that :func:`~emisario.core.addresses.normalize_address` accepted,
and free text that we encode ourselves as RFC 2047 "B" encoded-words whenever it is not plain
printable ASCII. Lines are folded at 78 characters (RFC 5322 section 2.1.1) with CRLF + space.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from emisario.core.addresses import header_text

MAX_LINE = 78
"""RFC 5322's recommended line length; the hard limit is 998."""
_WORD_BYTES = 45
"""UTF-8 bytes per encoded-word: 60 base64 characters + 12 of ``=?utf-8?b?...?=`` stay under
the 75 characters RFC 2047 section 2 allows."""
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


class HeaderError(ValueError):
    """A header could not be built from the values given: a programming error, since every
    value was validated before; it is never fixed up silently."""


def encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 "B" encoded-words, split on character boundaries."""
    words: list[str] = []
    chunk = b""
    for character in text:
        encoded = character.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_word(chunk))
            chunk = b""
        chunk += encoded
    if chunk or not words:
        words.append(_word(chunk))
    return words


def _word(chunk: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?="


def _plain_ascii(text: str) -> bool:
    """Text that can go out as it is: printable ASCII, no encoded-word look-alike (a reader
    would decode it), no leading, trailing or doubled spaces (folding would change them)."""
    return (
        bool(_PRINTABLE.match(text))
        and "=?" not in text
        and text == text.strip()
        and "  " not in text
    )


def unstructured(text: str) -> list[str]:
    """The tokens of an unstructured field (Subject): words of plain ASCII, else encoded."""
    header_text(text, field="header")
    if not text:
        return []
    if _plain_ascii(text):
        return text.split(" ")
    return encoded_words(text)


def mailbox(address: str, display_name: str = "") -> list[str]:
    """The tokens of one mailbox: ``Name <local@domain>`` or the bare address.

    ``address`` must come from ``normalize_address`` (dot-atom local part, A-label domain);
    it is still checked here, so no caller can put a space, bracket or line break in it.
    """
    if not address or any(c in address for c in ' <>()",;:\\[]\r\n\t') or "=?" in address:
        raise HeaderError("not a validated address")
    if not display_name:
        return [address]
    header_text(display_name, field="display_name")
    if _plain_ascii(display_name):  # a quoted-string; " and \ as quoted-pairs (RFC 5322 3.2.4)
        quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{quoted}"', f"<{address}>"]
    return [*encoded_words(display_name), f"<{address}>"]


def field(name: str, tokens: Iterable[str]) -> bytes:
    """One header field, folded between tokens, ending in CRLF. Raises :class:`HeaderError`
    if a token holds a line break or the result could not be folded within 998 octets."""
    if not _NAME.match(name):
        raise HeaderError(f"bad header name {name!r}")
    lines = [f"{name}:"]
    for token in tokens:
        if not token or any(c in token for c in "\r\n\0"):
            raise HeaderError(f"bad token in {name}")
        if len(lines[-1]) + 1 + len(token) > MAX_LINE and lines[-1] != f"{name}:":
            lines.append("")
        lines[-1] += " " + token
    encoded = [line.encode("utf-8") for line in lines]
    if any(len(line) > 998 for line in encoded):
        raise HeaderError(f"{name} has a token longer than a line")
    return b"\r\n".join(encoded) + b"\r\n"


def address_list(entries: Iterable[tuple[str, str]]) -> list[str]:
    """Tokens of a comma-separated list of ``(address, display_name)`` mailboxes."""
    tokens: list[str] = []
    items = list(entries)
    for position, (address, display_name) in enumerate(items):
        part = mailbox(address, display_name)
        if position < len(items) - 1:
            part[-1] += ","
        tokens.extend(part)
    return tokens
