"""What a failed Probar step means, as a stable code the console turns into a sentence.

:func:`classify` is the one place that reads server replies. It is pure and table-driven:
each :class:`Rule` names the facts it needs (step, reply code, RFC 3463 enhanced status,
a text pattern or a local :class:`Fault`) and the first matching rule wins, so provider
specific rules (Gmail, Microsoft 365, SendGrid, Amazon SES) sit above the generic ones.

What already passed changes what a refusal means: a 550 5.7.1 at RCPT is "missing AUTH" on
an anonymous session, but once AUTH succeeded it says this account may not send as that From
address or to that recipient, and asking for the password again would send the user in a
circle. ``classify(..., authenticated=True)`` therefore never answers with advice from
:data:`ASKS_FOR_CREDENTIALS` at MAIL, RCPT or DATA.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from emisario.core.smtp.steps import Step

T = TypeVar("T")
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class Advice(enum.StrEnum):
    """Why a test failed, phrased as what the user should change. Values are stored in the
    audit log and looked up in the console's catalogue: never rename one."""

    POLICY_REFUSED = "policy_refused"
    """The port or the address is not allowed by the network policy (the reason is logged)."""
    DNS_NOT_FOUND = "dns_not_found"
    """The server name does not exist (NXDOMAIN): usually a typo."""
    DNS_TEMPORARY = "dns_temporary"
    """The name could not be resolved right now (no DNS server answered)."""
    CONNECTION_REFUSED = "connection_refused"
    """Nothing listens on that port (TCP RST): wrong port or server down."""
    NETWORK_UNREACHABLE = "network_unreachable"
    """This machine has no route to the server."""
    CONNECT_TIMEOUT = "connect_timeout"
    """The TCP connection never completed: a firewall drops the packets (port blocked)."""
    DEADLINE_EXCEEDED = "deadline_exceeded"
    """The whole test ran out of time; the server is very slow."""
    TLS_ON_PLAIN_PORT = "tls_on_plain_port"
    """SSL was spoken to a port that expects plain text or STARTTLS (WRONG_VERSION_NUMBER)."""
    PLAIN_ON_TLS_PORT = "plain_on_tls_port"
    """Plain text was spoken to a port that expects SSL from the first byte (465)."""
    NO_RESPONSE = "no_response"
    """The server accepted the connection but did not answer in time."""
    STARTTLS_NOT_OFFERED = "starttls_not_offered"
    """Encryption was required but the server does not offer STARTTLS."""
    STARTTLS_FAILED = "starttls_failed"
    """The server refused STARTTLS or dropped the connection during its handshake."""
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    """The TLS handshake failed for a reason other than the certificate."""
    TLS_VERSION_UNSUPPORTED = "tls_version_unsupported"
    """The server only speaks TLS versions that are no longer safe (before TLS 1.2)."""
    CERT_UNTRUSTED = "cert_untrusted"
    """The certificate is self-signed or issued by an unknown authority."""
    CERT_EXPIRED = "cert_expired"
    """The certificate has expired (or is not valid yet)."""
    CERT_HOSTNAME_MISMATCH = "cert_hostname_mismatch"
    """The certificate belongs to another host name."""
    GREETING_REFUSED = "greeting_refused"
    """The server refuses this client from the start (554 banner)."""
    TEMPORARY_REJECTION = "temporary_rejection"
    """A 4xx reply: greylisting, server busy (421, 451 4.7.1); try again in a few minutes."""
    AUTH_NOT_OFFERED = "auth_not_offered"
    """A password was given but the server does not offer AUTH at all."""
    PASSWORD_NOT_SENT_UNENCRYPTED = "password_not_sent_unencrypted"
    """The session is not encrypted, so the password was not sent (the administrator may allow
    an internal relay with EMISARIO_PLAINTEXT_AUTH_ALLOW)."""
    SMTPUTF8_REQUIRED = "smtputf8_required"
    """An address has a non-ASCII local part and the server does not offer SMTPUTF8."""
    AUTH_MECHANISM_UNSUPPORTED = "auth_mechanism_unsupported"
    """The server offers AUTH, but neither PLAIN nor LOGIN (only OAuth, NTLM, ...)."""
    AUTH_REQUIRES_TLS = "auth_requires_tls"
    """The server requires an encrypted connection first (530 5.7.0, 538 5.7.11)."""
    AUTH_REQUIRED = "auth_required"
    """The server requires authentication to send and no password was given (530)."""
    AUTH_FAILED = "auth_failed"
    """User or password rejected (535)."""
    GMAIL_APP_PASSWORD_REQUIRED = "gmail_app_password_required"
    """Gmail, 534 5.7.9: the account has 2-step verification; an app password is needed."""
    GMAIL_WEB_LOGIN_REQUIRED = "gmail_web_login_required"
    """Gmail, 534 5.7.14 "Web Login Required": Google blocked the sign-in."""
    GMAIL_CREDENTIALS_REJECTED = "gmail_credentials_rejected"
    """Gmail, 535 5.7.8 "Username and Password not accepted" / [AUTHENTICATIONFAILED]."""
    M365_SMTP_AUTH_DISABLED = "m365_smtp_auth_disabled"
    """Microsoft 365, 5.7.139: SMTP AUTH (basic authentication) is disabled."""
    M365_BASIC_AUTH_RETIRED = "m365_basic_auth_retired"
    """Microsoft 365, 550 5.7.30 "Basic authentication is not supported for Client
    Submission" or 535 5.7.139 "basic authentication is disabled": the tenant takes no
    password any more, only OAuth."""
    OAUTH_RECONNECT_REQUIRED = "oauth_reconnect_required"
    """The OAuth grant was revoked or expired at the provider: connect the account again."""
    OAUTH_NOT_CONNECTED = "oauth_not_connected"
    """The account signs in with OAuth but nobody has pressed Conectar yet."""
    OAUTH_APP_MISCONFIGURED = "oauth_app_misconfigured"
    """The OAuth application (client id, secret, tenant) is missing or refused."""
    OAUTH_PROVIDER_UNAVAILABLE = "oauth_provider_unavailable"
    """The provider's token endpoint failed or could not be reached: try later."""
    OAUTH_TOKEN_REJECTED = "oauth_token_rejected"
    """The SMTP server refused a fresh token: wrong mailbox, SMTP AUTH off, or a missing
    permission (SMTP.Send / SMTP.SendAsApp)."""
    M365_SEND_AS_DENIED = "m365_send_as_denied"
    """Microsoft 365, 5.7.60 / SendAsDenied: the user may not send as that From address."""
    M365_TRAFFIC_REFUSED = "m365_traffic_refused"
    """Microsoft 365, 5.7.708: the tenant's outgoing traffic is refused."""
    M365_SUBMISSION_QUOTA = "m365_submission_quota"
    """Microsoft 365, 554 5.2.0 STOREDRV submission quota exceeded."""
    SENDING_QUOTA_EXCEEDED = "sending_quota_exceeded"
    """550 5.4.5: the daily sending limit of the account was reached."""
    HOURLY_QUOTA_EXCEEDED = "hourly_quota_exceeded"
    """The hosting's hourly cap was reached ("max emails per hour", "messages per hour
    exceeded"): sending resumes within the hour."""
    SENDING_RATE_LIMITED = "sending_rate_limited"
    """The account sends faster than the provider allows (Amazon SES "454 Throttling failure:
    Maximum sending rate exceeded", "rate limit", "too many emails"): slow down a little."""
    CONCURRENCY_LIMITED = "concurrency_limited"
    """Too many sessions of this account at once (Microsoft 365 "432 4.3.2 ... thread limit",
    "concurrent connections limit exceeded")."""
    LOGIN_RATE_LIMITED = "login_rate_limited"
    """Too many logins in a short time (Gmail "454 4.7.0 Too many login attempts"): the
    password is right, the account must wait before it logs in again."""
    RELAY_DENIED = "relay_denied"
    """The server will not relay to that recipient (550/554 5.7.1), usually missing AUTH."""
    RELAY_DENIED_AUTHENTICATED = "relay_denied_authenticated"
    """AUTH passed, yet the server refuses that recipient by policy (5.7.x, "relay"): this
    account may not send there (or as that From address). The password is not the problem."""
    SENDER_NOT_ALLOWED = "sender_not_allowed"
    """AUTH passed, yet the From address is refused by policy ("Sender address rejected: not
    owned by user", 5.7.x at MAIL): the signed-in account may not send as that address."""
    SENDER_NOT_VERIFIED = "sender_not_verified"
    """The provider (SendGrid, Amazon SES) has not verified the From address."""
    SENDER_REFUSED = "sender_refused"
    """MAIL FROM refused for another reason."""
    RECIPIENT_REFUSED = "recipient_refused"
    """RCPT TO refused: the test recipient does not exist or is not accepted."""
    MESSAGE_REJECTED = "message_rejected"
    """The confirmation message was refused after DATA."""
    SERVER_DISCONNECTED = "server_disconnected"
    """The server closed the connection unexpectedly."""
    PROTOCOL_UNEXPECTED = "protocol_unexpected"
    """A reply or an error the test does not know; the server's text is shown as is."""


class Fault(enum.StrEnum):
    """A failure seen locally (OS, TLS, protocol state) rather than read from a reply."""

    POLICY = "policy"
    DEADLINE = "deadline"
    DNS_NOT_FOUND = "dns_not_found"
    DNS_TEMPORARY = "dns_temporary"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    MALFORMED = "malformed"
    TLS_WRONG_VERSION = "tls_wrong_version"
    """The peer answered the TLS ClientHello with plain text."""
    TLS_PORT_DETECTED = "tls_port_detected"
    """A plain session got no greeting, and a TLS probe of the same port succeeded."""
    TLS_PROTOCOL_VERSION = "tls_protocol_version"
    CERT_UNTRUSTED = "cert_untrusted"
    CERT_EXPIRED = "cert_expired"
    CERT_HOSTNAME = "cert_hostname"
    TLS_FAILED = "tls_failed"
    STARTTLS_FAILED = "starttls_failed"
    STARTTLS_NOT_OFFERED = "starttls_not_offered"
    AUTH_NOT_OFFERED = "auth_not_offered"
    AUTH_NOT_OFFERED_BEFORE_TLS = "auth_not_offered_before_tls"
    """AUTH missing on a plain session whose server offers STARTTLS (RFC 4954 section 4)."""
    AUTH_MECHANISMS = "auth_mechanisms"
    PLAINTEXT_AUTH_REFUSED = "plaintext_auth_refused"
    """Emisario's own refusal: a password never travels over an unencrypted session."""
    SMTPUTF8_NOT_OFFERED = "smtputf8_not_offered"
    OAUTH_RECONNECT = "oauth_reconnect"
    """The provider no longer honours the account's grant (``invalid_grant``)."""
    OAUTH_NOT_CONNECTED = "oauth_not_connected"
    OAUTH_CONFIGURATION = "oauth_configuration"
    """The application registration is missing or the provider refused it."""
    OAUTH_UNAVAILABLE = "oauth_unavailable"
    """The provider or the network failed while getting a token."""
    OAUTH_TOKEN_REJECTED = "oauth_token_rejected"
    """The SMTP server refused a token the provider had just issued."""
    UNEXPECTED = "unexpected"


def parse_enhanced_status(text: str) -> str | None:
    """The RFC 3463 enhanced status code ("5.7.8") at the start of a reply text, if any."""
    match = _ENHANCED.match(text or "")
    if match is None:
        return None
    return ".".join(match.groups())


@dataclass(frozen=True)
class Rule:
    """One line of the table: every condition given must hold."""

    advice: Advice
    steps: frozenset[Step] | None = None
    fault: Fault | None = None
    codes: frozenset[int] | None = None
    reply_class: int | None = None
    """First digit of the reply code: 4 transient, 5 permanent."""
    enhanced: frozenset[str] | None = None
    text: re.Pattern[str] | None = None
    authenticated: bool | None = None
    """True: only once AUTH passed; False: only without it; None: either way."""

    def matches(
        self,
        step: Step,
        code: int | None,
        enhanced: str | None,
        text: str,
        fault: Fault | None,
        authenticated: bool = False,
    ) -> bool:
        if self.authenticated is not None and self.authenticated is not authenticated:
            return False
        if self.fault is not None and fault is not self.fault:
            return False
        if self.fault is None and fault is not None:
            return False  # reply rules never match local faults, and the reverse
        if self.steps is not None and step not in self.steps:
            return False
        if self.codes is not None and code not in self.codes:
            return False
        if self.reply_class is not None and (code is None or code // 100 != self.reply_class):
            return False
        if self.enhanced is not None and enhanced not in self.enhanced:
            return False
        return self.text is None or bool(self.text.search(text))


def _steps(*steps: Step) -> frozenset[Step]:
    return frozenset(steps)


def _set(*items: T) -> frozenset[T]:
    return frozenset(items)


def _text(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


A, S, F = Advice, Step, Fault
_ENVELOPE = _steps(S.MAIL, S.RCPT, S.DATA)
_POLICY_STATUS = _text(r"^\s*5\.7\.\d{1,3}\b")
"""Any RFC 3463 "security or policy status" (5.7.x) at the start of the reply."""
_SENDER_TEXT = _text(r"not owned by|\bsend(ing)? as\b|^\s*5\.7\.\d{1,3}\b.*\bsender\b")
"""A policy refusal of the From address (Postfix's "not owned by user", "send as"); a 5.1.8
"Sender address rejected: Domain not found" is about the address itself, not the account."""

_CONCURRENCY_TEXT = _text(
    r"concurrent (smtp )?connections|too many (concurrent |simultaneous )?(smtp )?connections"
    r"|thread limit"
)
"""Microsoft 365 "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded" and
"Concurrent connections limit exceeded" (fastapi-mail#75), Exim's "421 Too many concurrent
SMTP connections", SocketLabs' "421 4.4.5 Too many connections from your host"."""
_RATE_TEXT = _text(
    r"throttl|rate limit|sending rate|too many (e-?mails|messages)\b|outgoing messages"
    r"|(sending|relay|peak|message) limit|send(ing)? quota"
)
"""Amazon SES "454 Throttling failure: Maximum sending rate exceeded", OVH "sorry, too many
emails (#5.7.1)", Plex "554 5.7.0 ... limit on the number of allowed outgoing messages was
exceeded", Google "450 4.2.1 Peak SMTP relay limit exceeded". A full *recipient* mailbox
("552 5.2.2 over quota") is not a sending limit and does not match."""

ASKS_FOR_CREDENTIALS = frozenset(
    {
        A.AUTH_REQUIRED,
        A.AUTH_FAILED,
        A.AUTH_REQUIRES_TLS,
        A.AUTH_NOT_OFFERED,
        A.AUTH_MECHANISM_UNSUPPORTED,
        A.PASSWORD_NOT_SENT_UNENCRYPTED,
        A.RELAY_DENIED,
        A.GMAIL_APP_PASSWORD_REQUIRED,
        A.GMAIL_WEB_LOGIN_REQUIRED,
        A.GMAIL_CREDENTIALS_REJECTED,
        A.M365_SMTP_AUTH_DISABLED,
        A.M365_BASIC_AUTH_RETIRED,
        A.OAUTH_TOKEN_REJECTED,
    }
)
"""Advice whose fix is to type or change the password, or to authenticate at all: wrong for
an envelope refusal once AUTH passed."""

RULES: tuple[Rule, ...] = (
    # Local faults: the OS, TLS or the session state speak, not the server.
    Rule(A.POLICY_REFUSED, fault=F.POLICY),
    Rule(A.DEADLINE_EXCEEDED, fault=F.DEADLINE),
    Rule(A.DNS_NOT_FOUND, fault=F.DNS_NOT_FOUND),
    Rule(A.DNS_TEMPORARY, fault=F.DNS_TEMPORARY),
    Rule(A.DNS_TEMPORARY, fault=F.TIMEOUT, steps=_steps(S.DNS)),
    Rule(A.CONNECTION_REFUSED, fault=F.REFUSED),
    Rule(A.NETWORK_UNREACHABLE, fault=F.UNREACHABLE),
    Rule(A.CONNECT_TIMEOUT, fault=F.TIMEOUT, steps=_steps(S.CONNECT)),
    Rule(A.TLS_ON_PLAIN_PORT, fault=F.TLS_WRONG_VERSION),
    Rule(A.PLAIN_ON_TLS_PORT, fault=F.TLS_PORT_DETECTED),
    Rule(A.TLS_VERSION_UNSUPPORTED, fault=F.TLS_PROTOCOL_VERSION),
    Rule(A.CERT_EXPIRED, fault=F.CERT_EXPIRED),
    Rule(A.CERT_HOSTNAME_MISMATCH, fault=F.CERT_HOSTNAME),
    Rule(A.CERT_UNTRUSTED, fault=F.CERT_UNTRUSTED),
    Rule(A.STARTTLS_NOT_OFFERED, fault=F.STARTTLS_NOT_OFFERED),
    Rule(A.STARTTLS_FAILED, fault=F.STARTTLS_FAILED),
    Rule(A.TLS_HANDSHAKE_FAILED, fault=F.TLS_FAILED),
    Rule(A.NO_RESPONSE, fault=F.TIMEOUT),
    Rule(A.AUTH_REQUIRES_TLS, fault=F.AUTH_NOT_OFFERED_BEFORE_TLS),
    Rule(A.AUTH_NOT_OFFERED, fault=F.AUTH_NOT_OFFERED),
    Rule(A.AUTH_MECHANISM_UNSUPPORTED, fault=F.AUTH_MECHANISMS),
    Rule(A.PASSWORD_NOT_SENT_UNENCRYPTED, fault=F.PLAINTEXT_AUTH_REFUSED),
    Rule(A.OAUTH_RECONNECT_REQUIRED, fault=F.OAUTH_RECONNECT),
    Rule(A.OAUTH_NOT_CONNECTED, fault=F.OAUTH_NOT_CONNECTED),
    Rule(A.OAUTH_APP_MISCONFIGURED, fault=F.OAUTH_CONFIGURATION),
    Rule(A.OAUTH_PROVIDER_UNAVAILABLE, fault=F.OAUTH_UNAVAILABLE),
    Rule(A.OAUTH_TOKEN_REJECTED, fault=F.OAUTH_TOKEN_REJECTED),
    Rule(A.SMTPUTF8_REQUIRED, fault=F.SMTPUTF8_NOT_OFFERED),
    Rule(A.SERVER_DISCONNECTED, fault=F.DISCONNECTED),
    Rule(A.PROTOCOL_UNEXPECTED, fault=F.MALFORMED),
    Rule(A.PROTOCOL_UNEXPECTED, fault=F.UNEXPECTED),
    # Providers first: their codes overlap the generic ones below.
    Rule(A.GMAIL_APP_PASSWORD_REQUIRED, enhanced=_set("5.7.9")),
    Rule(A.GMAIL_WEB_LOGIN_REQUIRED, enhanced=_set("5.7.14")),
    Rule(A.GMAIL_WEB_LOGIN_REQUIRED, text=_text(r"web\s*login\s*required")),
    Rule(A.GMAIL_CREDENTIALS_REJECTED, text=_text(r"username and password not accepted")),
    Rule(A.GMAIL_CREDENTIALS_REJECTED, text=_text(r"\[AUTHENTICATIONFAILED\]")),
    Rule(A.M365_BASIC_AUTH_RETIRED, enhanced=_set("5.7.30")),
    Rule(
        A.M365_BASIC_AUTH_RETIRED, text=_text(r"basic authentication is (disabled|not supported)")
    ),
    Rule(A.M365_SMTP_AUTH_DISABLED, enhanced=_set("5.7.139")),
    Rule(A.M365_SEND_AS_DENIED, enhanced=_set("5.7.60")),
    Rule(A.M365_SEND_AS_DENIED, text=_text(r"SendAsDenied")),
    Rule(A.M365_TRAFFIC_REFUSED, enhanced=_set("5.7.708")),
    # Sending limits (issue 8): the account must pause, the message is fine, even on a 5xx.
    # Concurrency first: Microsoft's thread limit also says STOREDRV.
    Rule(A.CONCURRENCY_LIMITED, text=_CONCURRENCY_TEXT),
    Rule(
        A.LOGIN_RATE_LIMITED, text=_text(r"too many (login|auth\w*|sign-?in) (attempts|failures)")
    ),
    # "452 4.4.5 Maximum number of messages per session exceeded" is a session cap, not a
    # day's quota: a new session may go on at once (Frappe PR #40837).
    Rule(A.TEMPORARY_REJECTION, reply_class=4, text=_text(r"per (session|connection)")),
    Rule(A.M365_SUBMISSION_QUOTA, text=_text(r"STOREDRV|SubmissionQuotaExceeded")),
    Rule(A.SENDING_QUOTA_EXCEEDED, text=_text(r"\bdaily\b.*\b(quota|limit)")),
    Rule(A.HOURLY_QUOTA_EXCEEDED, text=_text(r"per hour|hourly (quota|limit)")),
    Rule(A.SENDING_QUOTA_EXCEEDED, enhanced=_set("5.4.5", "4.4.5")),
    Rule(A.SENDING_RATE_LIMITED, text=_RATE_TEXT),
    Rule(A.SENDER_NOT_VERIFIED, text=_text(r"verified sender identity")),
    Rule(A.SENDER_NOT_VERIFIED, text=_text(r"(email )?address is not verified")),
    # STARTTLS refused by a reply (454 4.7.0 TLS not available) is not a temporary glitch.
    Rule(A.STARTTLS_FAILED, steps=_steps(S.TLS)),
    Rule(A.GREETING_REFUSED, steps=_steps(S.GREETING), reply_class=5),
    Rule(A.TEMPORARY_REJECTION, reply_class=4),
    # AUTH passed: a policy refusal is about this account's rights, not its password.
    Rule(A.SENDER_NOT_ALLOWED, steps=_steps(S.MAIL, S.RCPT), text=_SENDER_TEXT, authenticated=True),
    Rule(A.RELAY_DENIED_AUTHENTICATED, steps=_ENVELOPE, text=_text(r"relay"), authenticated=True),
    Rule(A.SENDER_NOT_ALLOWED, steps=_steps(S.MAIL), text=_POLICY_STATUS, authenticated=True),
    Rule(A.SENDER_NOT_ALLOWED, steps=_steps(S.MAIL), codes=_set(530), authenticated=True),
    Rule(
        A.RELAY_DENIED_AUTHENTICATED, steps=_steps(S.RCPT), text=_POLICY_STATUS, authenticated=True
    ),
    Rule(A.RELAY_DENIED_AUTHENTICATED, steps=_steps(S.RCPT), codes=_set(530), authenticated=True),
    Rule(A.AUTH_REQUIRES_TLS, codes=_set(538)),
    Rule(A.AUTH_REQUIRES_TLS, enhanced=_set("5.7.11")),
    Rule(A.AUTH_REQUIRES_TLS, codes=_set(530), text=_text(r"STARTTLS|TLS|encrypt")),
    Rule(A.AUTH_REQUIRED, steps=_ENVELOPE, codes=_set(530)),
    Rule(A.AUTH_REQUIRED, steps=_ENVELOPE, enhanced=_set("5.7.57")),
    Rule(A.AUTH_REQUIRED, steps=_ENVELOPE, text=_text(r"auth\w* (is )?required")),
    Rule(A.AUTH_MECHANISM_UNSUPPORTED, steps=_steps(S.AUTH), codes=_set(504)),
    Rule(A.AUTH_FAILED, steps=_steps(S.AUTH), reply_class=5),
    Rule(A.RELAY_DENIED, steps=_ENVELOPE, text=_text(r"relay")),
    Rule(A.RELAY_DENIED, steps=_steps(S.RCPT), enhanced=_set("5.7.1")),
    Rule(A.SENDER_REFUSED, steps=_steps(S.MAIL), reply_class=5),
    Rule(A.RECIPIENT_REFUSED, steps=_steps(S.RCPT), reply_class=5),
    Rule(A.MESSAGE_REJECTED, steps=_steps(S.DATA), reply_class=5),
)


def classify(
    step: Step,
    *,
    code: int | None = None,
    text: str = "",
    fault: Fault | None = None,
    enhanced: str | None = None,
    authenticated: bool = False,
    rules: Iterable[Rule] = RULES,
) -> Advice:
    """Map what a failed step saw to the advice to show; unknown cases give
    :attr:`Advice.PROTOCOL_UNEXPECTED`. ``enhanced`` defaults to the one in ``text``;
    ``authenticated`` says AUTH passed earlier in the session."""
    if enhanced is None:
        enhanced = parse_enhanced_status(text)
    after_auth = authenticated and step in _ENVELOPE
    for rule in rules:
        if after_auth and rule.advice in ASKS_FOR_CREDENTIALS:
            continue  # the password was accepted: never ask for it again
        if rule.matches(step, code, enhanced, text or "", fault, authenticated):
            return rule.advice
    return Advice.PROTOCOL_UNEXPECTED
