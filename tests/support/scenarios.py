"""One named scenario per advice code: how to make a real server (or the OS) fail that way.

Usable from synchronous tests (the Django console test posts Probar for each):

    for scenario in SCENARIOS:
        if scenario.isolated: continue          # needs a network namespace, see test_diagnose
        with scenario.open() as case:
            case.endpoint   # {"host", "port", "security", "sender", "login", "password"}
            case.policy, case.tls_context, case.deadline, case.recipient
            case.step, case.advice              # what Probar must report
            case.run()                          # the Diagnosis, via asyncio.run
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import trustme

from emisario.core.netpolicy import NetworkPolicy
from emisario.core.oauth.bearer import Bearer, BearerSource, BearerUnavailable, Unavailable
from emisario.core.secrets import Secret
from emisario.core.smtp.advice import Advice
from emisario.core.smtp.confirmation import confirmation_message
from emisario.core.smtp.diagnose import diagnose
from emisario.core.smtp.endpoint import SmtpEndpoint
from emisario.core.smtp.steps import Diagnosis, Step
from emisario.demo.mailbox import PLAIN, STARTTLS, TLS, LoopbackSmtpd
from tests.support.smtpd import (
    FaultySmtpd,
    RawServer,
    Script,
    TlsRefusingServer,
    blackhole,
    closed_port,
    server_context,
)

SENDER = "ana@example.com"
PASSWORD = "correct horse 9"
RECIPIENT = "bob@example.net"
UTF8_SENDER = "josé.núñez@example.com"
"""A non-ASCII local part: it needs SMTPUTF8 (RFC 6531)."""
USERS = {SENDER: PASSWORD}
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
SHORT_DEADLINE = 1.5


def loopback_policy(*ports: int) -> NetworkPolicy:
    """Loopback allowed (it is refused by default), and only the given ports."""
    return NetworkPolicy(allowed_ports=frozenset(ports), allowed_networks=LOOPBACK)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    from emisario.core.smtp.tlsinfo import default_tls_context

    context = default_tls_context()
    ca.configure_trust(context)
    return context


@dataclass
class Case:
    """A ready-to-run test: the form's values, the policy and TLS trust to use, the verdict."""

    name: str
    endpoint: dict[str, Any]
    policy: NetworkPolicy
    tls_context: ssl.SSLContext
    step: Step
    advice: Advice
    deadline: float = 5.0
    recipient: str = RECIPIENT
    server: LoopbackSmtpd | None = None
    bearer: BearerSource | None = None
    """An OAuth account's token source (then the form has no password)."""

    def smtp_endpoint(self) -> SmtpEndpoint:
        values = dict(self.endpoint)
        password = values.pop("password", "")
        if self.bearer is not None:
            return SmtpEndpoint(**values, bearer=self.bearer)
        return SmtpEndpoint(**values, password=Secret(password) if password else None)

    async def diagnose(self, **overrides: Any) -> Diagnosis:
        endpoint = self.smtp_endpoint()
        options: dict[str, Any] = {
            "recipient": self.recipient,
            "message": confirmation_message(endpoint, recipient=self.recipient),
            "policy": self.policy,
            "deadline": self.deadline,
            "tls_context": self.tls_context,
        }
        options.update(overrides)
        return await diagnose(endpoint, **options)

    def run(self, **overrides: Any) -> Diagnosis:
        return asyncio.run(self.diagnose(**overrides))


@dataclass(frozen=True)
class Scenario:
    name: str
    advice: Advice
    step: Step
    build: Callable[[trustme.CA], contextlib.AbstractContextManager[Case]]
    isolated: bool = False
    """Needs an empty network namespace (``unshare -n``): run it in a subprocess."""

    @property
    def oauth(self) -> bool:
        """The account signs in with a token source, which no form field can give."""
        return isinstance(self.build, Smtpd) and self.build.bearer is not None

    @contextlib.contextmanager
    def open(self, ca: trustme.CA | None = None) -> Iterator[Case]:
        with self.build(ca or trustme.CA()) as case:
            case.name = self.name
            case.step, case.advice = self.step, self.advice
            yield case


def _form(port: int, security: str, *, password: str | None = PASSWORD, **more: Any) -> dict:
    return {
        "host": more.pop("host", "127.0.0.1"),
        "port": port,
        "security": security,
        "sender": more.pop("sender", SENDER),
        "login": more.pop("login", ""),
        "password": password or "",
    }


@dataclass
class Smtpd:
    """A scenario served by a real (scripted) aiosmtpd."""

    security: str = "starttls"
    listener: str = STARTTLS
    script: Script = field(default_factory=Script)
    password: str | None = PASSWORD
    cert: Callable[[trustme.CA], trustme.LeafCert] | None = None
    deadline: float = 5.0
    policy_ports: Callable[[int], tuple[int, ...]] | None = None
    form: dict[str, Any] = field(default_factory=dict)
    """More form values (sender, login) for :func:`_form`."""
    auth_required: bool = True
    """False: MAIL without AUTH is accepted (an MX on port 25, not a submission port)."""
    bearer: BearerSource | None = None
    """An OAuth account: the server then offers XOAUTH2 and takes only :data:`GOOD_TOKEN`."""

    @contextlib.contextmanager
    def __call__(self, ca: trustme.CA) -> Iterator[Case]:
        cert = self.cert(ca) if self.cert else ca.issue_cert("localhost", "127.0.0.1")
        server = FaultySmtpd(
            USERS,
            listeners=(self.listener,),
            ca=ca,
            cert=cert,
            script=self.script,
            auth_required=self.auth_required,
            token_checker=_good_token_only if self.bearer is not None else None,
        )
        with server:
            port = server.port(self.listener)
            ports = self.policy_ports(port) if self.policy_ports else (port,)
            yield Case(
                name="",
                endpoint=_form(port, self.security, password=self.password, **self.form),
                policy=loopback_policy(*ports),
                tls_context=client_context(ca),
                step=Step.DATA,
                advice=Advice.PROTOCOL_UNEXPECTED,
                deadline=self.deadline,
                server=server,
                bearer=self.bearer,
            )


@contextlib.contextmanager
def _port_case(port_source: contextlib.AbstractContextManager[int], ca: trustme.CA, **form: Any):
    with port_source as port:
        yield Case(
            name="",
            endpoint=_form(port, form.pop("security", "none"), **form),
            policy=loopback_policy(port),
            tls_context=client_context(ca),
            step=Step.DATA,
            advice=Advice.PROTOCOL_UNEXPECTED,
            deadline=SHORT_DEADLINE,
        )


@contextlib.contextmanager
def _raw(kind: str) -> Iterator[int]:
    with RawServer(kind) as server:
        yield server.port


@contextlib.contextmanager
def _closed() -> Iterator[int]:
    yield closed_port()


def _named(host: str, port: int = 587) -> Callable[[trustme.CA], Any]:
    @contextlib.contextmanager
    def build(ca: trustme.CA) -> Iterator[Case]:
        yield Case(
            name="",
            endpoint=_form(port, "starttls", host=host),
            policy=loopback_policy(port),
            tls_context=client_context(ca),
            step=Step.DATA,
            advice=Advice.PROTOCOL_UNEXPECTED,
        )

    return build


GOOD_TOKEN = "ya29.good-token-for-the-test"


async def _good_token_only(mailbox: str, token: str) -> bool:
    return mailbox == SENDER and token == GOOD_TOKEN


def token_source(token: str = GOOD_TOKEN, *, refreshed: str | None = None) -> BearerSource:
    """A source handing out ``token``, and ``refreshed`` (default: the same) once the server
    rejected the first."""

    def source(rejected: Secret | None = None) -> Bearer:
        value = token if rejected is None else (refreshed or token)
        return Bearer(Secret(value), time.time() + 3600, SENDER, refreshed=rejected is not None)

    return source


def unavailable(reason: Unavailable, error: str = "", description: str = "") -> BearerSource:
    def source(rejected: Secret | None = None) -> Bearer:
        raise BearerUnavailable(reason, error, description)

    return source


def _reply(step: Step, text: str, **options: Any) -> Smtpd:
    return Smtpd(script=Script(replies={step: text}), **options)


@contextlib.contextmanager
def _refusing_tls(ca: trustme.CA, **options: Any) -> Iterator[Case]:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 on purpose
        context = server_context(cert, **options)
    with (
        TlsRefusingServer(context) as server,
        _port_case(contextlib.nullcontext(server.port), ca, security="tls") as case,
    ):
        case.deadline = 5.0
        yield case


def _expired(ca: trustme.CA) -> trustme.LeafCert:
    now = dt.datetime.now(dt.UTC)
    return ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=35),
    )


A, S = Advice, Step
GMAIL_534_579 = (
    "534-5.7.9 Application-specific password required. For more information, go to\r\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp"
)
GMAIL_534_5714 = (
    "534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1> Please log in via your"
    " web browser and\r\n534-5.7.14 then try again.\r\n"
    "534 5.7.14  Learn more at https://support.google.com/mail/answer/78754 - gsmtp"
)
GMAIL_535_578 = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp"
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "policy_port",
        A.POLICY_REFUSED,
        S.POLICY,
        Smtpd(policy_ports=lambda port: (port + 1,)),
    ),
    Scenario("dns_not_found", A.DNS_NOT_FOUND, S.DNS, _named("nonexistent-emisario.invalid")),
    Scenario("dns_temporary", A.DNS_TEMPORARY, S.DNS, _named("mail.example.com"), isolated=True),
    Scenario(
        "connection_refused",
        A.CONNECTION_REFUSED,
        S.CONNECT,
        lambda ca: _port_case(_closed(), ca),
    ),
    Scenario(
        "network_unreachable",
        A.NETWORK_UNREACHABLE,
        S.CONNECT,
        lambda ca: _port_case(contextlib.nullcontext(2525), ca),
        isolated=True,
    ),
    Scenario("blackholed", A.CONNECT_TIMEOUT, S.CONNECT, lambda ca: _port_case(blackhole(), ca)),
    Scenario(
        "deadline",
        A.DEADLINE_EXCEEDED,
        S.MAIL,
        Smtpd(script=Script(delays={S.MAIL: 30}), deadline=SHORT_DEADLINE),
    ),
    Scenario("ssl_ticked_on_starttls_port", A.TLS_ON_PLAIN_PORT, S.TLS, Smtpd(security="tls")),
    Scenario(
        "ssl_unticked_on_465",
        A.PLAIN_ON_TLS_PORT,
        S.GREETING,
        Smtpd(security="none", listener=TLS, deadline=2.0),
    ),
    Scenario("silent_server", A.NO_RESPONSE, S.GREETING, lambda ca: _port_case(_raw("silent"), ca)),
    Scenario(
        "starttls_withheld",
        A.STARTTLS_NOT_OFFERED,
        S.TLS,
        Smtpd(script=Script(withhold=frozenset({"STARTTLS"}))),
    ),
    Scenario(
        "starttls_refused",
        A.STARTTLS_FAILED,
        S.TLS,
        _reply(S.TLS, "454 4.7.0 TLS not available due to temporary reason"),
    ),
    Scenario(
        "no_shared_cipher",
        A.TLS_HANDSHAKE_FAILED,
        S.TLS,
        lambda ca: _refusing_tls(ca, maximum_version=ssl.TLSVersion.TLSv1_2, ciphers="AES128-SHA"),
    ),
    Scenario(
        "tls_1_1_only",
        A.TLS_VERSION_UNSUPPORTED,
        S.TLS,
        lambda ca: _refusing_tls(
            ca,
            minimum_version=ssl.TLSVersion.MINIMUM_SUPPORTED,
            maximum_version=ssl.TLSVersion.TLSv1_1,
            ciphers="ALL:@SECLEVEL=0",
        ),
    ),
    Scenario(
        "untrusted_ca",
        A.CERT_UNTRUSTED,
        S.TLS,
        Smtpd(security="tls", listener=TLS, cert=lambda _ca: trustme.CA().issue_cert("127.0.0.1")),
    ),
    Scenario("expired_cert", A.CERT_EXPIRED, S.TLS, Smtpd(cert=_expired)),
    Scenario(
        "wrong_host_cert",
        A.CERT_HOSTNAME_MISMATCH,
        S.TLS,
        Smtpd(security="tls", listener=TLS, cert=lambda ca: ca.issue_cert("mail.example.org")),
    ),
    Scenario(
        "greeting_554",
        A.GREETING_REFUSED,
        S.GREETING,
        _reply(S.GREETING, "554 5.7.1 Service unavailable; client host blocked"),
    ),
    Scenario(
        "greylisted",
        A.TEMPORARY_REJECTION,
        S.RCPT,
        _reply(S.RCPT, "451 4.7.1 Greylisted, please try again in 300 seconds"),
    ),
    Scenario(
        "auth_not_offered",
        A.AUTH_NOT_OFFERED,
        S.AUTH,
        Smtpd(security="none", listener=PLAIN),
    ),
    Scenario(
        "oauth_only",
        A.AUTH_MECHANISM_UNSUPPORTED,
        S.AUTH,
        Smtpd(security="tls", listener=TLS, script=Script(auth_mechanisms=("XOAUTH2",))),
    ),
    Scenario("auth_before_starttls", A.AUTH_REQUIRES_TLS, S.AUTH, Smtpd(security="none")),
    Scenario(
        "password_over_plain_text",
        A.PASSWORD_NOT_SENT_UNENCRYPTED,
        S.AUTH,
        Smtpd(security="none", listener=PLAIN, script=Script(auth_without_tls=True)),
    ),
    Scenario(
        "utf8_sender_without_smtputf8",
        A.SMTPUTF8_REQUIRED,
        S.MAIL,
        Smtpd(form={"sender": UTF8_SENDER, "login": SENDER}),
    ),
    Scenario(
        "no_password",
        A.AUTH_REQUIRED,
        S.MAIL,
        _reply(S.MAIL, "530 5.7.0 Authentication required", password=None),
    ),
    Scenario("wrong_password", A.AUTH_FAILED, S.AUTH, Smtpd(password="wrong")),
    Scenario(
        "gmail_534_5_7_9", A.GMAIL_APP_PASSWORD_REQUIRED, S.AUTH, _reply(S.AUTH, GMAIL_534_579)
    ),
    Scenario(
        "gmail_534_5_7_14", A.GMAIL_WEB_LOGIN_REQUIRED, S.AUTH, _reply(S.AUTH, GMAIL_534_5714)
    ),
    Scenario(
        "gmail_535_5_7_8", A.GMAIL_CREDENTIALS_REJECTED, S.AUTH, _reply(S.AUTH, GMAIL_535_578)
    ),
    Scenario(
        "m365_5_7_30_basic_auth_retired",
        A.M365_BASIC_AUTH_RETIRED,
        S.AUTH,
        _reply(S.AUTH, "550 5.7.30 Basic authentication is not supported for Client Submission."),
    ),
    Scenario(
        "m365_5_7_139_basic_auth_disabled",
        A.M365_BASIC_AUTH_RETIRED,
        S.AUTH,
        _reply(
            S.AUTH, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
        ),
    ),
    Scenario(
        "oauth_grant_revoked",
        A.OAUTH_RECONNECT_REQUIRED,
        S.OAUTH,
        Smtpd(
            password=None,
            bearer=unavailable(
                Unavailable.RECONNECT,
                "invalid_grant",
                "AADSTS50173: The provided grant has expired",
            ),
        ),
    ),
    Scenario(
        "oauth_not_connected",
        A.OAUTH_NOT_CONNECTED,
        S.OAUTH,
        Smtpd(password=None, bearer=unavailable(Unavailable.NOT_CONNECTED, "not_connected")),
    ),
    Scenario(
        "oauth_application_refused",
        A.OAUTH_APP_MISCONFIGURED,
        S.OAUTH,
        Smtpd(
            password=None,
            bearer=unavailable(Unavailable.CONFIGURATION, "invalid_client", "AADSTS7000215"),
        ),
    ),
    Scenario(
        "oauth_provider_down",
        A.OAUTH_PROVIDER_UNAVAILABLE,
        S.OAUTH,
        Smtpd(password=None, bearer=unavailable(Unavailable.TEMPORARY, "network", "ConnectError")),
    ),
    Scenario(
        "oauth_token_rejected",
        A.OAUTH_TOKEN_REJECTED,
        S.AUTH,
        Smtpd(password=None, bearer=token_source("ya29.not-this-one")),
    ),
    Scenario(
        "m365_5_7_139",
        A.M365_SMTP_AUTH_DISABLED,
        S.AUTH,
        _reply(
            S.AUTH,
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
            "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
        ),
    ),
    Scenario(
        "m365_5_7_60",
        A.M365_SEND_AS_DENIED,
        S.MAIL,
        _reply(S.MAIL, "550 5.7.60 SMTP; Client does not have permissions to send as this sender"),
    ),
    Scenario(
        "m365_5_7_708",
        A.M365_TRAFFIC_REFUSED,
        S.MAIL,
        _reply(
            S.MAIL,
            "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
        ),
    ),
    Scenario(
        "m365_storedrv_quota",
        A.M365_SUBMISSION_QUOTA,
        S.DATA,
        _reply(
            S.DATA,
            "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; "
            "Failed to process message due to a permanent exception",
        ),
    ),
    Scenario(
        "daily_limit",
        A.SENDING_QUOTA_EXCEEDED,
        S.MAIL,
        _reply(S.MAIL, "550 5.4.5 Daily user sending limit exceeded. - gsmtp"),
    ),
    Scenario(
        "hosting_hourly_cap",
        A.HOURLY_QUOTA_EXCEEDED,
        S.RCPT,
        _reply(
            S.RCPT,
            "550 Domain example.com has exceeded the max emails per hour (121/100 (121%)) "
            "allowed. Message will be reattempted later",
        ),
    ),
    Scenario(
        "ses_throttling",
        A.SENDING_RATE_LIMITED,
        S.DATA,
        _reply(S.DATA, "454 Throttling failure: Maximum sending rate exceeded."),
    ),
    Scenario(
        "m365_thread_limit",
        A.CONCURRENCY_LIMITED,
        S.MAIL,
        _reply(S.MAIL, "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"),
    ),
    Scenario(
        "gmail_too_many_logins",
        A.LOGIN_RATE_LIMITED,
        S.AUTH,
        _reply(S.AUTH, "454 4.7.0 Too many login attempts, please try again later."),
    ),
    Scenario(
        "relay_denied",
        A.RELAY_DENIED,
        S.RCPT,
        _reply(
            S.RCPT,
            "554 5.7.1 <bob@example.net>: Relay access denied",
            password=None,
            auth_required=False,
        ),
    ),
    Scenario(
        "relay_denied_after_auth",
        A.RELAY_DENIED_AUTHENTICATED,
        S.RCPT,
        # AUTH passes (the right password), then Postfix refuses the recipient by policy.
        _reply(S.RCPT, "554 5.7.1 <bob@example.net>: Relay access denied"),
    ),
    Scenario(
        "sender_not_owned_after_auth",
        A.SENDER_NOT_ALLOWED,
        S.RCPT,
        # Postfix's reject_sender_login_mismatch; smtpd_delay_reject puts it at RCPT.
        _reply(
            S.RCPT,
            "553 5.7.1 <ana@example.com>: Sender address rejected: not owned by user "
            "ana@example.com",
        ),
    ),
    Scenario(
        "sendgrid_sender_identity",
        A.SENDER_NOT_VERIFIED,
        S.MAIL,
        _reply(
            S.MAIL,
            "550 The from address does not match a verified Sender Identity. Mail cannot be "
            "sent until this error is resolved.",
        ),
    ),
    Scenario(
        "sender_refused",
        A.SENDER_REFUSED,
        S.MAIL,
        _reply(S.MAIL, "553 5.1.8 <ana@example.com>: Sender address rejected: Domain not found"),
    ),
    Scenario(
        "recipient_unknown",
        A.RECIPIENT_REFUSED,
        S.RCPT,
        _reply(S.RCPT, "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown"),
    ),
    Scenario(
        "message_rejected",
        A.MESSAGE_REJECTED,
        S.DATA,
        _reply(S.DATA, "554 5.6.0 Message rejected: content policy"),
    ),
    Scenario(
        "dropped_at_mail",
        A.SERVER_DISCONNECTED,
        S.MAIL,
        Smtpd(script=Script(disconnect=S.MAIL)),
    ),
    Scenario(
        "ehlo_refused",
        A.PROTOCOL_UNEXPECTED,
        S.EHLO,
        _reply(S.EHLO, "502 5.5.2 Error: command not recognized"),
    ),
)

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
