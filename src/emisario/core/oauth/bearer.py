"""What an SMTP session asks for when its account signs in with OAuth: a bearer token for a
mailbox, from a *source* the caller provides (the database-backed one refreshes it).

A session asks at every login, not once: sessions outlive an access token's hour, and after a
refused token it asks again with ``rejected`` set, so the source refreshes rather than hand
back the same one.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from emisario.core.errors import EmisarioError
from emisario.core.secrets import Secret
from emisario.core.smtp.advice import Fault


class Unavailable(enum.StrEnum):
    """Why no token could be had; each has its own advice."""

    RECONNECT = "reconnect"
    """The grant was revoked or expired: a user must press Conectar again."""
    NOT_CONNECTED = "not_connected"
    """Nobody has connected the account yet."""
    CONFIGURATION = "configuration"
    """The application registration is missing or refused (client id, secret, tenant)."""
    TEMPORARY = "temporary"
    """The provider or the network failed, or another refresh took too long: later."""


@dataclass(frozen=True)
class Bearer:
    token: Secret = field(repr=False)
    expires_at: float
    """Epoch seconds."""
    mailbox: str
    refreshed: bool = False
    """The token was obtained for this request (Probar says "obtenido" rather than "vigente")."""


class BearerUnavailable(EmisarioError):
    def __init__(self, reason: Unavailable, error: str = "", description: str = "") -> None:
        self.reason = reason
        self.error = error
        self.description = description
        super().__init__(f"{reason}: {error} {description}".strip())


BearerSource = Callable[[Secret | None], Bearer]
"""``source(rejected)``: a token for the account; ``rejected`` is one the server refused."""
AsyncBearerSource = Callable[[Secret | None], Awaitable[Bearer]]
"""The same as a coroutine function: Probar awaits it on its own loop (the console wraps the
database-backed source so that it runs in the request's thread and transaction)."""


_FAULTS = {
    Unavailable.RECONNECT: Fault.OAUTH_RECONNECT,
    Unavailable.NOT_CONNECTED: Fault.OAUTH_NOT_CONNECTED,
    Unavailable.CONFIGURATION: Fault.OAUTH_CONFIGURATION,
    Unavailable.TEMPORARY: Fault.OAUTH_UNAVAILABLE,
}


def fault_for(reason: Unavailable) -> Fault:
    """The local fault a session or a test reports when no token could be had."""
    return _FAULTS[reason]
