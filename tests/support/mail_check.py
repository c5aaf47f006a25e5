"""Reading back the exact bytes a server received, the way a mail client would, to compare
them header by header with what a user typed."""

from __future__ import annotations

import re
from email import message_from_string, policy
from email.header import decode_header, make_header

EXPECTED_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
]


def raw_headers(data: bytes) -> list[tuple[str, str]]:
    """(name, unfolded raw value) of each header field, in order."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    fields: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        else:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    return fields


def rfc2047_text(raw: str) -> str:
    """Decode a phrase or unstructured value as RFC 2047 says (adjacent encoded-words join
    with the whitespace between them removed)."""
    return str(make_header(decode_header(raw)))


def unquote(value: str) -> str:
    assert value.startswith('"') and value.endswith('"'), value
    return re.sub(r"\\(.)", r"\1", value[1:-1])


def mailbox_of(raw: str) -> tuple[str, str]:
    """(display name, address) of one mailbox as our From header writes it."""
    if not raw.endswith(">"):
        return "", raw
    display, _, address = raw.rpartition("<")
    display = display.strip()
    if display.startswith('"'):
        return unquote(display), address[:-1]
    return rfc2047_text(display) if display else "", address[:-1]


def mismatches(
    data: bytes, *, sender: str, display_name: str, recipient: str, subject: str
) -> list[str]:
    """Every way the received bytes differ from what was typed; empty when they agree."""
    problems: list[str] = []
    if b"\0" in data:
        problems.append("NUL on the wire")
    lines = data.split(b"\r\n")
    if any(b"\r" in line or b"\n" in line for line in lines):
        problems.append("bare CR or LF")
    if any(len(line) > 998 for line in lines):
        problems.append("line over 998 octets")
    head = data.split(b"\r\n\r\n", 1)[0]
    if not sender.isascii() and not head.isascii():
        pass  # RFC 6532: the UTF-8 address travels as it is (SMTPUTF8)
    elif not head.isascii():
        problems.append("8-bit header without SMTPUTF8")
    fields = raw_headers(data)
    names = [name for name, _ in fields]
    if names != EXPECTED_HEADERS:
        problems.append(f"headers {names}")
        return problems
    values = dict(fields)
    got_name, got_address = mailbox_of(values["From"])
    if got_address != sender:
        problems.append(f"From address {got_address!r} != {sender!r}")
    if got_name != display_name:
        problems.append(f"From name {got_name!r} != {display_name!r}")
    if values["To"] != recipient:
        problems.append(f"To {values['To']!r}")
    if rfc2047_text(values["Subject"]) != subject:
        problems.append(f"Subject {values['Subject']!r}")
    parsed = message_from_string(data.decode("utf-8"), policy=policy.default)
    if [a.addr_spec for a in parsed["From"].addresses] != [sender]:
        problems.append(f"parser sees From {parsed['From']!r}")
    if [a.addr_spec for a in parsed["To"].addresses] != [recipient]:
        problems.append(f"parser sees To {parsed['To']!r}")
    return problems
