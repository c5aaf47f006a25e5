"""Address, host and header-text validation.

Everything a user types that ends up in an SMTP command or a mail header passes through here.
Control characters are refused everywhere: CR and LF are how header and SMTP command
injection happen (RFC 5321 section 4.1.1, RFC 5322 section 2.2). Invisible and bidirectional
formatting characters (Unicode categories Cf, Zl, Zp) are refused too: U+202E turns
``moc.elpmaxe@`` into a convincing ``example.com`` on screen, U+200B hides a second address
inside the first. Addresses must not hold RFC 2047 encoded-words (``=?utf-8?q?...?=``): a mail
parser may decode one into a CR LF and a header of the attacker's choosing.

Domains are converted with IDNA 2008 and UTS 46 (the ``idna`` package, non-transitional), so
``straße.de`` stays ``xn--strae-oqa.de`` instead of becoming another domain, ``strasse.de``,
as Python's built-in IDNA 2003 codec would have it. Address syntax is checked by
``email-validator`` (dot-atoms, lengths, special-use domains), with our own rules first.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import email_validator
import idna

from emisario.core.errors import InvalidValue

_CONTROL = frozenset({"Cc", "Zl", "Zp"})
"""C0, DEL, C1 (NEL included) and the Unicode line and paragraph separators: all line breaks
to some parser (Python's email package splits on NEL, U+2028 and U+2029 too)."""
_INVISIBLE = frozenset({"Cf", "Cs"})
"""Format characters (bidi overrides, zero-width) and lone surrogates; a surrogate cannot even
be encoded as UTF-8, so it would crash whatever tried to send it."""
_UNASSIGNED = frozenset({"Cn", "Co"})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ENCODED_WORD = re.compile(r"=\?")

MAX_ADDRESS = 254  # RFC 5321 section 4.5.3.1.3 (path 256 minus the angle brackets)
MAX_LOCAL = 64
MAX_HEADER_TEXT = 998  # RFC 5322 section 2.1.1 line limit


def _category_error(value: str, categories: frozenset[str]) -> str | None:
    """The error code for the first refused character, line breaks reported first."""
    found = {unicodedata.category(character) for character in value}
    if found & _CONTROL:
        return "control_characters"
    if found & categories:
        return "invisible_characters"
    return None


def refuse_control_characters(value: str, *, field: str) -> str:
    """Return ``value`` unchanged, or raise if it holds a control character (CR, LF, NUL,
    DEL, C1), an invisible or bidirectional formatting character, or a line separator."""
    code = _category_error(value, _INVISIBLE)
    if code is not None:
        raise InvalidValue(code, field=field)
    return value


def refuse_line_breaks(value: str, *, field: str) -> str:
    """For a password: no control character or line break (it travels in an SMTP command),
    no lone surrogate (it cannot be encoded), but format characters stay allowed. A password
    never reaches a header or a screen, and a soft hyphen or a joiner in one is the user's
    choice, not a disguise."""
    if _category_error(value, frozenset({"Cs"})) is not None:
        raise InvalidValue("control_characters", field=field)
    return value


def normalize_host(value: str, *, field: str = "host") -> str:
    """Return a host name in its ASCII form (IDNA 2008 A-labels), or an IP literal, lower-cased.

    Raises :class:`InvalidValue` with a code the console translates.
    """
    host = value.strip()
    code = _category_error(host, _INVISIBLE | _UNASSIGNED)
    if code is not None:
        raise InvalidValue(code, field=field)
    if not host:
        raise InvalidValue("required", field=field)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    host = host.rstrip(".")
    if not host or any(character in host for character in " /:@\\"):
        raise InvalidValue("invalid_host", field=field, value=value)
    try:
        ascii_host = idna.encode(host, uts46=True, std3_rules=True, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidValue("invalid_host", field=field, value=value) from None
    text = ascii_host.decode("ascii").lower()
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidValue("invalid_host", field=field, value=value)
    if labels[-1].isdigit():  # "300.1.1.1" is neither an IP nor a name
        raise InvalidValue("invalid_host", field=field, value=value)
    return text


def normalize_address(value: str, *, field: str = "address") -> str:
    """Return a mailbox address with its domain in A-label form, or raise :class:`InvalidValue`.

    The local part is kept as typed (NFC): a non-ASCII one needs SMTPUTF8 at send time
    (:func:`needs_smtputf8`). Quoted local parts, IP literals and display names are refused:
    the Usuario field is one plain address.
    """
    address = value.strip()
    code = _category_error(address, _INVISIBLE | _UNASSIGNED)
    if code is not None:
        raise InvalidValue(code, field=field)
    if not address:
        raise InvalidValue("required", field=field)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidValue("invalid_address", field=field, value=value)
    if _ENCODED_WORD.search(address):
        raise InvalidValue("encoded_word", field=field, value=value)
    try:
        ascii_domain = normalize_host(domain, field=field)
    except InvalidValue:
        raise InvalidValue("invalid_address", field=field, value=value) from None
    try:
        ipaddress.ip_address(ascii_domain)
    except ValueError:
        pass
    else:
        raise InvalidValue("invalid_address", field=field, value=value)
    try:
        checked = email_validator.validate_email(
            f"{local}@{ascii_domain}",
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
            test_environment=True,
        )
    except email_validator.EmailNotValidError:
        raise InvalidValue("invalid_address", field=field, value=value) from None
    local = unicodedata.normalize("NFC", local)
    result = f"{local}@{checked.ascii_domain}"
    if len(local.encode("utf-8")) > MAX_LOCAL or len(result.encode("utf-8")) > MAX_ADDRESS:
        raise InvalidValue("invalid_address", field=field, value=value)
    return result


def needs_smtputf8(address: str) -> bool:
    """True when an address can only travel with SMTPUTF8 (RFC 6531): a non-ASCII local part.
    Domains are always sent as A-labels, so they never need it."""
    return not address.isascii()


def header_text(value: str, *, field: str) -> str:
    """Return text that is safe to put in a header (display names, subjects): no control,
    invisible or bidirectional characters, at most one header line long. Encoding it
    (RFC 2047) is :mod:`emisario.core.mail.headers`'s job, never a parser's."""
    refuse_control_characters(value, field=field)
    if len(value) > MAX_HEADER_TEXT:
        raise InvalidValue("too_long", field=field, limit=MAX_HEADER_TEXT)
    return value
