"""Where and how to reach an SMTP server: host, port, security mode and credentials.

The seed's form has one "SSL" checkbox; underneath the mode is explicit, because "SSL" means
two different protocols depending on the port (RFC 8314 implicit TLS on 465, RFC 3207 STARTTLS
on 587 and 25). :func:`security_from_checkbox` is the one place that mapping lives.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emisario.core.addresses import (
    normalize_address,
    normalize_host,
    refuse_control_characters,
    refuse_line_breaks,
)
from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret

if TYPE_CHECKING:
    from emisario.core.oauth.bearer import AsyncBearerSource, BearerSource

IMPLICIT_TLS_PORT = 465
DEFAULT_PORTS = (25, 465, 587, 2525)


class SecurityMode(enum.StrEnum):
    """How the SMTP session is protected."""

    NONE = "none"
    """Plain text from start to end; only for trusted internal relays."""
    STARTTLS = "starttls"
    """Connect in plain text, then upgrade with STARTTLS (RFC 3207); refuse if not offered."""
    TLS = "tls"
    """TLS from the first byte (RFC 8314 "implicit TLS"), usually port 465."""

    @property
    def encrypted(self) -> bool:
        return self is not SecurityMode.NONE


def security_from_checkbox(*, port: int, ssl: bool) -> SecurityMode:
    """Map the seed's SSL checkbox to a mode: 465 with SSL is implicit TLS, any other port
    with SSL is STARTTLS required, SSL unticked is plain."""
    if not ssl:
        return SecurityMode.NONE
    return SecurityMode.TLS if port == IMPLICIT_TLS_PORT else SecurityMode.STARTTLS


def validate_port(port: object, *, field: str = "port") -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        try:
            port = int(str(port).strip())
        except ValueError:
            raise InvalidValue("invalid_port", field=field, value=port) from None
    if not 1 <= port <= 65535:
        raise InvalidValue("invalid_port", field=field, value=port)
    return port


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    """A validated SMTP submission endpoint. Construction checks everything before any I/O."""

    host: str
    port: int
    security: SecurityMode
    sender: str
    """The From address (the seed's "Usuario")."""
    login: str = ""
    """The AUTH user name; empty means the sender address (SendGrid's is "apikey")."""
    password: Secret | None = field(default=None, repr=False)
    bearer: BearerSource | AsyncBearerSource | None = field(default=None, repr=False, compare=False)
    """An OAuth account: where its access token comes from (then ``password`` is None and the
    session logs in with XOAUTH2 or OAUTHBEARER)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", normalize_host(self.host, field="host"))
        object.__setattr__(self, "port", validate_port(self.port))
        object.__setattr__(self, "security", SecurityMode(self.security))
        object.__setattr__(self, "sender", normalize_address(self.sender, field="sender"))
        object.__setattr__(
            self, "login", refuse_control_characters(self.login.strip(), field="login")
        )
        if self.password is not None:
            refuse_line_breaks(self.password.reveal(), field="password")
            if self.bearer is not None:
                raise InvalidValue("password_and_token", field="password")

    @property
    def authenticates(self) -> bool:
        return self.password is not None or self.bearer is not None

    @property
    def auth_user(self) -> str:
        return self.login or self.sender

    @property
    def target(self) -> str:
        """``host:port`` as shown to users (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
