"""The generic account as one SMTP URL, the way an administrator writes it in the environment.

``smtp://`` is plain, ``smtp+starttls://`` upgrades with STARTTLS, ``smtps://`` is implicit
TLS. User and password are percent-encoded; ``?from=`` sets the From address (default: the
user when it is an address).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint

SCHEMES = {
    "smtp": (SecurityMode.NONE, 25),
    "smtp+starttls": (SecurityMode.STARTTLS, 587),
    "smtps": (SecurityMode.TLS, 465),
}


def parse_smtp_url(url: str) -> SmtpEndpoint:
    """Parse an SMTP URL into an endpoint; raise :class:`InvalidValue` naming what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidValue("invalid_url", field="url") from None
    if parts.scheme not in SCHEMES:
        raise InvalidValue("invalid_url_scheme", field="url", scheme=parts.scheme)
    security, default_port = SCHEMES[parts.scheme]
    if not parts.hostname:
        raise InvalidValue("invalid_url", field="url")
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    query = parse_qs(parts.query)
    sender = (query.get("from") or [""])[0] or user
    if not sender:
        raise InvalidValue("url_needs_from", field="url")
    login = user if user and user != sender else ""
    return SmtpEndpoint(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        sender=sender,
        login=login,
        password=Secret(password) if password else None,
    )
