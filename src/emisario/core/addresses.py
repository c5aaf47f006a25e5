"""Address, host and header validation.

Everything a user types that ends up in an SMTP command or a mail header passes through here.
CR, LF and other control characters are refused everywhere: they are how header and SMTP
command injection happen (RFC 5321 section 4.1.1, RFC 5322 section 2.2).
"""

from __future__ import annotations

import ipaddress
import re

from emisario.core.errors import InvalidValue

# C0, DEL, C1 and the Unicode line/paragraph separators. Python's email package splits lines
# on NEL (\x85), \u2028 and \u2029 too (str.splitlines), so it would refuse them only at send.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# RFC 5322 dot-atom text, plus any non-ASCII character (RFC 6531 SMTPUTF8 local parts).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")

MAX_ADDRESS = 254  # RFC 5321 section 4.5.3.1.3 (path 256 minus the angle brackets)
MAX_LOCAL = 64
MAX_HEADER_TEXT = 998  # RFC 5322 section 2.1.1 line limit


def refuse_control_characters(value: str, *, field: str) -> str:
    """Return ``value`` unchanged, or raise if it holds CR, LF, NUL or another control."""
    if _CONTROL.search(value):
        raise InvalidValue("control_characters", field=field)
    return value


def normalize_host(value: str, *, field: str = "host") -> str:
    """Return a host name in its ASCII (IDNA) form, or an IP literal, lower-cased.

    Raises :class:`InvalidValue` with a code the console translates.
    """
    host = refuse_control_characters(value.strip(), field=field)
    if not host:
        raise InvalidValue("required", field=field)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    host = host.rstrip(".").lower()
    if " " in host or "/" in host or ":" in host or "@" in host:
        raise InvalidValue("invalid_host", field=field, value=value)
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidValue("invalid_host", field=field, value=value) from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidValue("invalid_host", field=field, value=value)
    if labels[-1].isdigit():  # "300.1.1.1" is neither an IP nor a name
        raise InvalidValue("invalid_host", field=field, value=value)
    return ascii_host


def normalize_address(value: str, *, field: str = "address") -> str:
    """Return a mailbox address with its domain in IDNA form, or raise :class:`InvalidValue`."""
    address = refuse_control_characters(value.strip(), field=field)
    if not address:
        raise InvalidValue("required", field=field)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidValue("invalid_address", field=field, value=value)
    if len(local) > MAX_LOCAL or not _LOCAL.match(local):
        raise InvalidValue("invalid_address", field=field, value=value)
    try:
        domain = normalize_host(domain, field=field)
    except InvalidValue:
        raise InvalidValue("invalid_address", field=field, value=value) from None
    if domain[0].isdigit() and domain.replace(".", "").isdigit():
        raise InvalidValue("invalid_address", field=field, value=value)
    if "." not in domain:
        raise InvalidValue("invalid_address", field=field, value=value)
    result = f"{local}@{domain}"
    if len(result) > MAX_ADDRESS:
        raise InvalidValue("invalid_address", field=field, value=value)
    return result


def header_text(value: str, *, field: str) -> str:
    """Return text that is safe to put in a header (display names, subjects)."""
    refuse_control_characters(value, field=field)
    if len(value) > MAX_HEADER_TEXT:
        raise InvalidValue("too_long", field=field, limit=MAX_HEADER_TEXT)
    return value
