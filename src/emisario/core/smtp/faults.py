"""What went wrong in an SMTP exchange, and what kind of wrong it is.

:func:`describe` turns an exception from the socket, TLS or aiosmtplib into the facts a verdict
needs: a local :class:`Fault` or the server's reply code, and a short text (the server's own
words when it spoke). :func:`failure_kind` says what a sender should do about an
:class:`Advice`: Probar only reports, CRONUS retries the transient, pauses a throttled account,
fails over on account-level errors and fails fast on a recipient the server refused for good.
Both are pure: Probar, Detectar and CRONUS call the same functions, so they never disagree
about a failure.
"""

from __future__ import annotations

import enum
import errno
import socket
import ssl

import aiosmtplib

from emisario.core.netpolicy import ResolverBusy
from emisario.core.smtp.advice import Advice, Fault
from emisario.core.smtp.tlsinfo import classify_ssl_error, ssl_error_text

_DNS_NOT_FOUND = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
_REFUSED = {errno.ECONNREFUSED}
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


def describe(exc: BaseException) -> tuple[Fault | None, int | None, str]:
    """(fault, reply code, text) for an exception: a reply keeps its code and the server's
    own words; a local error becomes a :class:`Fault` with a short text."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code < 0:
            return Fault.MALFORMED, None, exc.message
        return None, exc.code, exc.message
    if isinstance(exc, ssl.SSLError):
        return classify_ssl_error(exc), None, ssl_error_text(exc)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            return describe(cause)
        return Fault.TIMEOUT, None, "the server did not answer in time"
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            return describe(cause)
        return Fault.DISCONNECTED, None, "the server closed the connection"
    if isinstance(exc, aiosmtplib.SMTPConnectError) and exc.__cause__ is not None:
        return describe(exc.__cause__)
    if isinstance(exc, ResolverBusy):
        return Fault.DNS_TEMPORARY, None, str(exc.strerror)
    if isinstance(exc, socket.gaierror):
        fault = Fault.DNS_NOT_FOUND if exc.errno in _DNS_NOT_FOUND else Fault.DNS_TEMPORARY
        return fault, None, exc.strerror or str(exc)
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) in _REFUSED:
        return Fault.REFUSED, None, "connection refused"
    if getattr(exc, "errno", None) in _UNREACHABLE:
        return Fault.UNREACHABLE, None, getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, ConnectionError | EOFError):
        return Fault.DISCONNECTED, None, "the server closed the connection"
    if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
        return Fault.TIMEOUT, None, "connection timed out"
    return Fault.UNEXPECTED, None, f"{type(exc).__name__}: {exc}"


class FailureKind(enum.StrEnum):
    """What a sender does about a failure."""

    TRANSIENT = "transient"
    """Try again later through the same account: the network, a busy or greylisting server
    (RFC 5321 4xx, timeouts, dropped connections)."""
    THROTTLED = "throttled"
    """The account is over one of its provider's sending limits (daily or hourly quota,
    sending rate, concurrent sessions, logins). The message is fine and must never fail for
    it, even when the reply is a 5xx (Gmail 550 5.4.5, Microsoft 365 554 5.2.0): pause the
    account until the limit resets and send through the next account meanwhile."""
    ACCOUNT = "account"
    """This account cannot send now (credentials, TLS, policy, SMTP AUTH disabled): try the
    next account of the type, and tell whoever configures it."""
    RECIPIENT = "recipient"
    """The server refused this recipient for good (5xx at RCPT): other recipients and other
    messages are unaffected; never retried."""
    MESSAGE = "message"
    """The server refused this message's content for good (5xx after DATA)."""


_TRANSIENT = frozenset(
    {
        Advice.DNS_TEMPORARY,
        Advice.CONNECT_TIMEOUT,
        Advice.DEADLINE_EXCEEDED,
        Advice.NO_RESPONSE,
        Advice.TEMPORARY_REJECTION,
        Advice.SERVER_DISCONNECTED,
        Advice.NETWORK_UNREACHABLE,
        Advice.OAUTH_PROVIDER_UNAVAILABLE,
    }
)
_THROTTLED = frozenset(
    {
        Advice.SENDING_QUOTA_EXCEEDED,
        Advice.M365_SUBMISSION_QUOTA,
        Advice.HOURLY_QUOTA_EXCEEDED,
        Advice.SENDING_RATE_LIMITED,
        Advice.CONCURRENCY_LIMITED,
        Advice.LOGIN_RATE_LIMITED,
    }
)
"""Quota replies (Gmail 550 5.4.5, Microsoft 365 STOREDRV) are never permanent although they
are 5xx: the account only needs a pause, and treating them as permanent loses the mail
(gophish#1604, zotonic#3508)."""
_RECIPIENT = frozenset({Advice.RECIPIENT_REFUSED})
_MESSAGE = frozenset({Advice.MESSAGE_REJECTED})


def failure_kind(advice: Advice | str) -> FailureKind:
    """The one classification of a failure, from its advice code."""
    advice = Advice(advice)
    if advice in _TRANSIENT:
        return FailureKind.TRANSIENT
    if advice in _THROTTLED:
        return FailureKind.THROTTLED
    if advice in _RECIPIENT:
        return FailureKind.RECIPIENT
    if advice in _MESSAGE:
        return FailureKind.MESSAGE
    return FailureKind.ACCOUNT
