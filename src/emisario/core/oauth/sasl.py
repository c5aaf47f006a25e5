"""SMTP AUTH with an OAuth 2.0 bearer token: XOAUTH2 (Google, Microsoft) and OAUTHBEARER
(RFC 7628, for standard servers).

Both put the mailbox and the access token in one initial client response. On a refused
token the server does not answer 535 at once: it sends a ``334`` challenge holding a JSON
error (``{"status": "401", "scope": ...}``) and waits for the client to end the exchange
(an empty line for XOAUTH2, a single 0x01 for OAUTHBEARER); only then comes the 535. A
client that stops at the 334 hangs until its timeout. :class:`BearerResponder` plays both
parts for ``smtplib.SMTP.auth`` and keeps the server's JSON for the diagnosis.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from typing import Any

from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SmtpEndpoint

SEPARATOR = "\x01"
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750 section 2.1, b64token: what a bearer token may hold. Anything else (a space, a
line break, the 0x01 separator) could change the meaning of the SASL message."""


class Mechanism(enum.StrEnum):
    XOAUTH2 = "XOAUTH2"
    OAUTHBEARER = "OAUTHBEARER"


PREFERENCE = (Mechanism.XOAUTH2, Mechanism.OAUTHBEARER)
"""The order a mechanism is chosen in among those a server offers: XOAUTH2 is what both
providers document (Microsoft offers nothing else)."""


def choose(offered: list[str] | tuple[str, ...]) -> Mechanism | None:
    """The bearer mechanism to use among the server's AUTH keywords (any case), or None."""
    names = {name.upper() for name in offered}
    return next((mechanism for mechanism in PREFERENCE if mechanism in names), None)


def check_user(user: str) -> str:
    if not user or any(c in user for c in f"{SEPARATOR}\r\n\0,=") or len(user) > 254:
        raise InvalidValue("invalid_oauth_user", field="user", value=user)
    return user


def check_token(token: Secret) -> Secret:
    if not _BEARER_TOKEN.fullmatch(token.reveal()):
        raise InvalidValue("invalid_oauth_token", field="token")
    return token


def xoauth2(user: str, token: Secret) -> str:
    """The XOAUTH2 initial response, before base64 (smtplib encodes it)."""
    check_user(user)
    check_token(token)
    return f"user={user}{SEPARATOR}auth=Bearer {token.reveal()}{SEPARATOR}{SEPARATOR}"


def oauthbearer(user: str, token: Secret, *, host: str, port: int) -> str:
    """The OAUTHBEARER initial response (RFC 7628 section 3.1): a GS2 header naming the
    mailbox, then host, port and the token."""
    check_user(user)
    check_token(token)
    if any(c in host for c in f"{SEPARATOR}\r\n\0"):
        raise InvalidValue("invalid_host", field="host", value=host)
    return (
        f"n,a={user},{SEPARATOR}host={host}{SEPARATOR}port={port}{SEPARATOR}"
        f"auth=Bearer {token.reveal()}{SEPARATOR}{SEPARATOR}"
    )


def initial_response(
    mechanism: Mechanism, user: str, token: Secret, *, host: str, port: int
) -> str:
    if mechanism is Mechanism.XOAUTH2:
        return xoauth2(user, token)
    return oauthbearer(user, token, host=host, port=port)


def initial_response_for(mechanism: Mechanism, endpoint: SmtpEndpoint, token: Secret) -> str:
    """:func:`initial_response` for the mailbox (login or Usuario) and server of ``endpoint``."""
    return initial_response(
        mechanism, endpoint.auth_user, token, host=endpoint.host, port=endpoint.port
    )


def parse_error(challenge: bytes | str | None) -> dict[str, Any]:
    """The JSON a server sends in its 334 after refusing a token, decoded when it is base64
    (aiosmtplib passes it still encoded); {} when it is not JSON. Only short, plain values are
    kept: this goes into a diagnosis a user reads."""
    if not challenge:
        return {}
    raw = challenge.encode("ascii", "replace") if isinstance(challenge, str) else challenge
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(key)[:40]: str(value)[:200]
        for key, value in data.items()
        if isinstance(value, str | int | float)
    }


class BearerResponder:
    """The ``authobject`` for ``smtplib.SMTP.auth(mechanism, responder)``.

    smtplib calls it once with no challenge for the initial response (or with ``b""`` when
    the server asked with an empty 334 first), then once per further 334: that one is the
    error JSON, answered so that the server sends its final reply."""

    def __init__(self, mechanism: Mechanism, initial: str) -> None:
        self.mechanism = mechanism
        self._initial: str | None = initial
        self.error: dict[str, Any] = {}

    def __call__(self, challenge: bytes | None = None) -> str:
        if self._initial is not None and not challenge:
            initial, self._initial = self._initial, None
            return initial
        self._initial = None
        self.error = parse_error(challenge)
        return "" if self.mechanism is Mechanism.XOAUTH2 else SEPARATOR
