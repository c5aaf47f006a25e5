"""The staged SMTP test behind Probar.

Each stage is a :class:`Step` with its own verdict, so the console can say *where* it broke
("the certificate is for another host") instead of "unable to connect". The whole test runs
under one hard deadline (``asyncio.timeout``), which always wins. Each exchange also has its
own timeout: the connect, DNS and greeting waits take a *share* of the time left, so a silent
server is reported at the step it stalled; the other calls get the time left plus one second
(``_Clock.call``), deliberately longer than the deadline, so the deadline, not a per-call
timeout, ends a run that is slow overall. What went wrong is described by
:mod:`~emisario.core.smtp.faults`; credentials are masked by :mod:`~emisario.core.smtp.redact`.

Steps are reported in the order they happened (:func:`~emisario.core.smtp.steps.step_order`).
A session that failed between commands is ended with QUIT, as servers expect (RFC 5321 4.1.1.10).
When the port turns out to speak the other flavour of TLS, that flavour is tried on the same
port and, if it works, becomes :attr:`Diagnosis.proposal`.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import time
from collections.abc import Awaitable, Sequence
from typing import Any

import aiosmtplib

from emisario.core.addresses import needs_smtputf8
from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import (
    NetworkPolicy,
    PolicyRefused,
    Resolver,
    SystemResolver,
    is_ip_literal,
)
from emisario.core.oauth import sasl
from emisario.core.oauth.bearer import Bearer, BearerUnavailable, fault_for
from emisario.core.secrets import Secret
from emisario.core.smtp.advice import Fault, classify
from emisario.core.smtp.connection import (
    ConnectFailed,
    abort_quietly,
    handshake_error,
    open_socket,
    probe_tls,
)
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
from emisario.core.smtp.faults import describe
from emisario.core.smtp.redact import REDACTED, redact_diagnosis, secrets_for
from emisario.core.smtp.steps import (
    Diagnosis,
    Proposal,
    Step,
    StepResult,
    StepStatus,
    step_order,
)
from emisario.core.smtp.tlsinfo import default_tls_context, session_facts

__all__ = ["POLICY_REFUSED_TEXT", "REDACTED", "diagnose", "session_check_stop", "step_order"]
POLICY_REFUSED_TEXT = "The network policy does not allow a test to this server and port."
"""The same text whatever the reason, so a refusal does not reveal what listens where."""

CALL_CAP = 30.0
"""Seconds any single SMTP exchange may take (RFC 5321 allows minutes; a test does not)."""
CONNECT_CAP = 10.0
DNS_SHARE = 0.5
GREETING_SHARE = 0.5
"""A plain session waits for the banner at most this share of the time left, keeping the
rest to check whether the port speaks TLS instead (the usual cause of a silent 465)."""

QUIT_CAP = 2.0
"""Seconds a courtesy RSET or QUIT may wait for its reply (never past the deadline)."""
PROPOSAL_MINIMUM = 0.1
"""Seconds that must be left to try the other security mode after a port/security mismatch."""

_BETWEEN_COMMANDS = frozenset(
    {
        Fault.STARTTLS_NOT_OFFERED,
        Fault.AUTH_NOT_OFFERED,
        Fault.AUTH_NOT_OFFERED_BEFORE_TLS,
        Fault.AUTH_MECHANISMS,
        Fault.PLAINTEXT_AUTH_REFUSED,
        Fault.SMTPUTF8_NOT_OFFERED,
    }
)
"""Failures decided here before the next command was sent: the session is still in step."""


def _offers_usable_auth(check: Diagnosis) -> bool:
    """The last EHLO of ``check`` (the encrypted one) offers PLAIN or LOGIN."""
    ehlos = [r for r in check.steps if r.step is Step.EHLO and r.status is StepStatus.PASSED]
    offered = ehlos[-1].details.get("auth", []) if ehlos else []
    return bool({"PLAIN", "LOGIN"} & set(offered))


_NEEDS_ENCRYPTION = frozenset({Fault.AUTH_NOT_OFFERED_BEFORE_TLS, Fault.PLAINTEXT_AUTH_REFUSED})
"""Plain-session failures that STARTTLS on the same port may cure (AUTH comes after TLS)."""


class _Stop(Exception):
    """A step failed: the run ends here (internal control flow)."""


class _Clock:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def call(self, cap: float = CALL_CAP) -> float:
        """A per-call timeout; one second past the deadline so the deadline wins ties."""
        return min(cap, self.left() + 1.0)

    def share(self, fraction: float, cap: float = CALL_CAP) -> float:
        return max(0.05, min(cap, self.left() * fraction))


async def diagnose(
    endpoint: SmtpEndpoint,
    *,
    recipient: str,
    message: bytes | None,
    policy: NetworkPolicy,
    deadline: float = 10.0,
    tls_context: ssl.SSLContext | None = None,
    resolver: Resolver | None = None,
    local_hostname: str | None = None,
    stop_after: Step = Step.DATA,
    redact: Sequence[str] = (),
    propose: bool = True,
) -> Diagnosis:
    """Run the test step by step and return the verdict; never raises for a server's fault.

    ``message`` None stops before DATA (RSET, QUIT); ``stop_after`` ends earlier still.
    Credentials in ``endpoint`` and every string in ``redact`` are masked in the result.
    ``propose`` False skips trying the other security mode after a mismatch (Detectar tries
    every mode itself).
    """
    run = _Run(
        endpoint,
        recipient=recipient,
        message=message,
        policy=policy,
        clock=_Clock(deadline),
        tls_context=tls_context or default_tls_context(),
        resolver=resolver or SystemResolver(),
        local_hostname=local_hostname,
        stop_after=stop_after,
    )
    started = time.monotonic()
    try:
        try:
            async with asyncio.timeout(deadline) as scope:
                await run.execute()
        except _Stop:
            pass
        except TimeoutError:
            if not scope.expired():
                raise
            run.fail_current(Fault.DEADLINE, text=f"no answer within the {deadline:g} s limit")
        except Exception as exc:  # last resort: Probar reports, it never crashes the page
            name = type(exc).__name__
            run.fail_current(Fault.UNEXPECTED, text=f"{name}: {exc}", exception=name)
        await run.goodbye()
    finally:
        run.abort()
    proposal = await run.try_other_mode() if propose else None
    diagnosis = Diagnosis(
        target=endpoint.target,
        security=str(endpoint.security),
        steps=run.results(),
        elapsed_ms=_ms(started),
        proposal=proposal,
    )
    return redact_diagnosis(diagnosis, secrets_for(endpoint, [*redact, *run.tokens]))


def session_check_stop(security: SecurityMode) -> Step:
    """Where a test without credentials stops once the session is known to work: after the
    EHLO that follows the encryption.

    For STARTTLS that is ``Step.TLS`` (the upgrade and the second EHLO): ``Step.EHLO`` would stop
    before the upgrade and accept a server whose TLS is broken. Implicit TLS and plain text
    stop after their only EHLO, which shows the AUTH mechanisms offered.
    """
    return Step.TLS if security is SecurityMode.STARTTLS else Step.EHLO


class _CheckedAddress:
    """A resolver answering with the address already checked and connected to: a second
    session of the same test must not ask DNS again (the answer could differ)."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int) -> list[str]:
        return [self.address]


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


class _Run:
    """State of one test: the open session, the results so far, the step in progress."""

    def __init__(
        self,
        endpoint: SmtpEndpoint,
        *,
        recipient: str,
        message: bytes | None,
        policy: NetworkPolicy,
        clock: _Clock,
        tls_context: ssl.SSLContext,
        resolver: Resolver,
        local_hostname: str | None,
        stop_after: Step,
    ) -> None:
        self.endpoint = endpoint
        self.recipient = recipient
        self.message = message
        self.policy = policy
        self.clock = clock
        self.tls_context = tls_context
        self.resolver = resolver
        self.local_hostname = local_hostname
        self.stop_after = stop_after
        self.order = step_order(endpoint.security, oauth=endpoint.bearer is not None)
        self._slots: list[StepResult | None] = [None] * len(self.order)
        """One per entry of ``order``, filled in the order the steps happen."""
        self._may_quit = False
        """The last failure left the session between commands, so QUIT is understood."""
        self._current: Step | None = None
        self._started = 0.0
        self._details: dict[str, Any] = {}
        self.address = ""
        self.sock: socket.socket | None = None
        self.smtp: aiosmtplib.SMTP | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self.tokens: list[str] = []
        """Access tokens this run used, and their SASL forms: masked in the diagnosis."""

    def _keep(self, transport: asyncio.BaseTransport | None) -> None:
        """Remember each transport a session went through (plain, then TLS) to abort all."""
        if transport is not None:
            self._transports.append(transport)

    # -- bookkeeping -------------------------------------------------------------------------

    def begin(self, step: Step, **details: Any) -> None:
        self._current = step
        self._started = time.monotonic()
        self._details = dict(details)

    def _record(self, result: StepResult) -> None:
        """Put ``result`` in the first free slot of its step: the second EHLO of a STARTTLS
        session lands after TLS because the first one is already there."""
        for position, step in enumerate(self.order):
            if step is result.step and self._slots[position] is None:
                self._slots[position] = result
                return
        raise AssertionError(f"{result.step} recorded more often than it runs")

    def _recorded(self) -> list[StepResult]:
        return [result for result in self._slots if result is not None]

    def passed(self, code: int | None = None, text: str = "", **details: Any) -> None:
        assert self._current is not None
        self._details.update(details)
        self._record(
            StepResult(
                step=self._current,
                status=StepStatus.PASSED,
                elapsed_ms=_ms(self._started),
                reply_code=code,
                reply_text=text,
                details=self._details,
            )
        )
        self._current = None

    def fail(
        self,
        *,
        fault: Fault | None = None,
        code: int | None = None,
        text: str = "",
        step: Step | None = None,
        **details: Any,
    ) -> _Stop:
        """Record the failure of the current step (or ``step``) and return the exception that
        ends the run: ``raise run.fail(...)``."""
        current = self._current
        step = step or current or Step.POLICY
        if step is not current:  # between steps: do not write into a passed step's details
            self._details = {}
        self._details.update(details)
        if fault is Fault.TLS_FAILED and self.endpoint.security is SecurityMode.STARTTLS:
            fault = Fault.STARTTLS_FAILED
        # A whole reply was read, or nothing was sent: the server awaits the next command.
        self._may_quit = code is not None or fault in _BETWEEN_COMMANDS
        result = StepResult(
            step=step,
            status=StepStatus.FAILED,
            elapsed_ms=_ms(self._started),
            reply_code=code,
            reply_text=text,
            advice=str(
                classify(
                    step,
                    code=code,
                    text=text,
                    fault=fault,
                    # what passed changes what a refusal means (advice.ASKS_FOR_CREDENTIALS)
                    authenticated=any(
                        r.step is Step.AUTH and r.status is StepStatus.PASSED
                        for r in self._recorded()
                    ),
                )
            ),
            fault=str(fault) if fault is not None else None,
            details=self._details,
        )
        self._record(result)
        self._current = None
        return _Stop()

    def fail_current(self, fault: Fault, *, text: str, **details: Any) -> None:
        """Fail the step in progress (or the next one, between steps): deadline, last resort."""
        self.fail(fault=fault, text=text, step=self._current or self._next_step(), **details)

    def fail_with(self, exc: BaseException, **details: Any) -> _Stop:
        fault, code, text = describe(exc)
        if code is None and fault is Fault.UNEXPECTED:
            details["exception"] = type(exc).__name__
        return self.fail(fault=fault, code=code, text=text, **details)

    def _next_step(self) -> Step:
        plain = self.endpoint.security is SecurityMode.NONE
        return next(
            (
                step
                for step, result in zip(self.order, self._slots, strict=True)
                if result is None and not (plain and step is Step.TLS)
            ),
            Step.DATA,
        )

    def results(self) -> list[StepResult]:
        """Every step of :func:`step_order`, in that order; those that did not run skipped."""
        return [
            result or StepResult(step=step, status=StepStatus.SKIPPED)
            for step, result in zip(self.order, self._slots, strict=True)
        ]

    def abort(self) -> None:
        """Drop every transport and the socket, on every path (success, failure, deadline)."""
        if self.smtp is not None:
            abort_quietly(self.smtp.transport)
            if self.smtp.protocol is not None:
                abort_quietly(self.smtp.protocol.transport)
            abort_quietly(*self._transports)
            self.smtp.close()
        if self.sock is not None:
            self.sock.close()

    # -- the steps ---------------------------------------------------------------------------

    async def execute(self) -> None:
        addresses = await self.check_policy_and_resolve()
        if self.reached(Step.DNS):
            return
        await self.connect(addresses)
        if self.reached(Step.CONNECT):
            return
        if self.endpoint.security is SecurityMode.TLS:
            await self.implicit_tls_and_greeting()
        else:
            await self.greeting()
        if not self.reached(Step.GREETING):
            await self.ehlo()
            if self.endpoint.security is SecurityMode.STARTTLS and not self.reached(Step.EHLO):
                await self.starttls()
                await self.ehlo()
            if self.endpoint.bearer is not None and not self.reached(Step.EHLO):
                await self.oauth_auth()
            elif self.endpoint.password and not self.reached(Step.EHLO):
                await self.auth()
            if not self.reached(Step.AUTH):
                return await self.envelope()
        await self.quit()

    def reached(self, step: Step) -> bool:
        """True once ``stop_after`` is done, ``step`` being the one just run (or passed over,
        like AUTH without a password). Positions are those of :func:`step_order`: POLICY is
        done with DNS (addresses are checked too); TLS on a plain session means after EHLO;
        after STARTTLS it means after the EHLO over the new session."""
        return self._position_of(step) >= self._stop_position()

    def _position_of(self, step: Step) -> int:
        """The last slot of ``step`` filled so far, else its first slot."""
        filled = [
            position
            for position, (kind, result) in enumerate(zip(self.order, self._slots, strict=True))
            if kind is step and result is not None
        ]
        return filled[-1] if filled else self.order.index(step)

    def _stop_position(self) -> int:
        stop, security = self.stop_after, self.endpoint.security
        if stop is Step.TLS and security is SecurityMode.NONE:
            stop = Step.EHLO
        position = self.order.index(stop)
        if stop is Step.TLS and security is SecurityMode.STARTTLS:
            position += 1  # the EHLO over the new session
        return position

    async def check_policy_and_resolve(self) -> list[str]:
        endpoint = self.endpoint
        self.begin(Step.POLICY)
        try:
            self.policy.check_port(endpoint.port)
        except PolicyRefused as exc:
            raise self.fail(
                fault=Fault.POLICY, text=POLICY_REFUSED_TEXT, policy_reason=exc.reason
            ) from None
        port_checked = self._started
        self.begin(Step.DNS)
        if is_ip_literal(endpoint.host):
            # An address needs no lookup: it must never wait behind a hung resolver.
            addresses: list[str] = [endpoint.host]
        else:
            try:
                addresses = await self._resolve()
            except _Stop:
                # The port was allowed; with no answer there are no addresses to check.
                self._record(self._port_allowed(addresses_checked=False))
                raise
        dns = StepResult(Step.DNS, StepStatus.PASSED, _ms(self._started), details={})
        dns.details["addresses"] = list(addresses)
        try:
            self.policy.check_addresses(endpoint.host, addresses)
        except PolicyRefused as exc:
            # The DNS answer stays hidden: "refused" must look the same for a port and an
            # address, or the test would map the internal network one name at a time.
            self._current, self._started = Step.POLICY, port_checked
            raise self.fail(
                fault=Fault.POLICY, text=POLICY_REFUSED_TEXT, policy_reason=exc.reason
            ) from None
        self._record(self._port_allowed(addresses_checked=True))
        self._record(dns)
        self._current = None
        return list(addresses)

    def _port_allowed(self, *, addresses_checked: bool) -> StepResult:
        details: dict[str, Any] = {"port": self.endpoint.port}
        if not addresses_checked:
            details["addresses_checked"] = False
        return StepResult(Step.POLICY, StepStatus.PASSED, elapsed_ms=0.0, details=details)

    async def _resolve(self) -> list[str]:
        try:
            async with asyncio.timeout(self.clock.share(DNS_SHARE, CONNECT_CAP)) as scope:
                return await self.resolver.resolve(self.endpoint.host, self.endpoint.port)
        except TimeoutError:
            if not scope.expired():
                raise
            raise self.fail(fault=Fault.TIMEOUT, text="the DNS server did not answer") from None
        except OSError as exc:
            raise self.fail_with(exc) from None

    async def connect(self, addresses: list[str]) -> None:
        self.begin(Step.CONNECT)
        try:
            self.sock, self.address = await open_socket(
                addresses,
                self.endpoint.port,
                timeout_for=lambda left: self.clock.share(0.8 / left, CONNECT_CAP),
            )
        except ConnectFailed as exc:
            attempts = [{"address": a, "error": str(describe(e)[2])} for a, e in exc.errors]
            fault, _code, _text = describe(exc.last)
            raise self.fail(fault=fault, text=str(exc), attempts=attempts) from None
        local = self.sock.getsockname()[0]
        self.passed(address=self.address, local_address=local)
        literal = f"[IPv6:{local}]" if ":" in local else f"[{local}]"
        self.smtp = aiosmtplib.SMTP(
            hostname=self.endpoint.host,
            local_hostname=self.local_hostname or literal,  # RFC 5321 4.1.4 address literal
            timeout=CALL_CAP,
            use_tls=self.endpoint.security is SecurityMode.TLS,
            start_tls=False,
            tls_context=self.tls_context,
        )

    async def implicit_tls_and_greeting(self) -> None:
        """RFC 8314: the handshake comes first; aiosmtplib does it and reads the banner in one
        call, so the TLS step's time includes the banner's."""
        assert self.smtp is not None
        self.begin(Step.TLS)
        sock, self.sock = self.sock, None  # the transport owns it from here
        try:
            response = await self.smtp.connect(sock=sock, timeout=self.clock.call())
        except aiosmtplib.SMTPConnectResponseError as exc:
            self.passed()
            self.begin(Step.GREETING)
            raise self.fail_with(exc) from None
        except aiosmtplib.SMTPException as exc:
            cause = exc.__cause__
            if isinstance(cause, aiosmtplib.SMTPException):  # handshake done, banner failed
                self.passed()
                self.begin(Step.GREETING)
                raise self.fail_with(cause) from None
            raise await self._handshake_failure(cause or exc) from None
        self._keep(self.smtp.transport)
        self.passed(**session_facts(self._ssl_object(), host=self.endpoint.host))
        self.begin(Step.GREETING, after_tls=True)
        self.passed(response.code, response.message)

    async def _handshake_failure(self, exc: BaseException) -> _Stop:
        """A handshake that died without an ssl error is replayed once to name the alert."""
        fault = describe(exc)[0]
        if fault in (Fault.DISCONNECTED, Fault.TLS_FAILED):
            try:
                replayed = await handshake_error(
                    self.address,
                    self.endpoint.port,
                    host=self.endpoint.host,
                    context=self.tls_context,
                    timeout=self.clock.share(0.8, CONNECT_CAP),
                )
            except (OSError, TimeoutError):
                replayed = None
            if isinstance(replayed, ssl.SSLError):
                return self.fail_with(replayed, replayed=True)
        return self.fail_with(exc)

    async def greeting(self) -> None:
        assert self.smtp is not None
        self.begin(Step.GREETING)
        sock, self.sock = self.sock, None
        try:
            response = await self.smtp.connect(sock=sock, timeout=self.clock.share(GREETING_SHARE))
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise self.fail_with(exc) from None
        except aiosmtplib.SMTPException as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            fault, code, text = describe(cause)
            details: dict[str, Any] = {}
            if fault in (Fault.TIMEOUT, Fault.DISCONNECTED, Fault.MALFORMED):
                details["tls_probe"] = probe = await self._probe()
                if probe.get("protocol"):
                    fault = Fault.TLS_PORT_DETECTED
            raise self.fail(fault=fault, code=code, text=text, **details) from None
        self._keep(self.smtp.transport)
        self.passed(response.code, response.message)

    async def _probe(self) -> dict[str, Any]:
        """Does this port speak TLS from the first byte? Asked on a second connection to the
        same checked address, within the time left."""
        try:
            return await probe_tls(
                self.address,
                self.endpoint.port,
                host=self.endpoint.host,
                timeout=self.clock.share(0.8, CONNECT_CAP),
            )
        except (OSError, TimeoutError) as exc:
            return {"error": describe(exc)[2]}

    async def ehlo(self) -> None:
        """EHLO, recording what the server offers; after STARTTLS it is sent again (RFC 3207
        section 4.2: what was learnt in plain text is discarded) and reported as its own step."""
        assert self.smtp is not None
        self.begin(Step.EHLO)
        try:
            response = await self.smtp.ehlo(timeout=self.clock.call())
        except aiosmtplib.SMTPException as exc:
            raise self.fail_with(exc) from None
        self.passed(response.code, response.message, **self._capabilities())

    def _capabilities(self) -> dict[str, Any]:
        assert self.smtp is not None
        smtp = self.smtp
        size = smtp.esmtp_extensions.get("size", "")
        return {
            "extensions": sorted(smtp.esmtp_extensions),
            "starttls": smtp.supports_extension("starttls"),
            "auth": [method.upper() for method in smtp.server_auth_methods],
            "size": int(size) if size.strip().isdigit() else None,
            "smtputf8": smtp.supports_extension("smtputf8"),
            "8bitmime": smtp.supports_extension("8bitmime"),
            "encrypted": self._ssl_object() is not None,
        }

    async def starttls(self) -> None:
        """RFC 3207: upgrade, or refuse to go on in plain text when encryption was asked for."""
        assert self.smtp is not None
        self.begin(Step.TLS, starttls=True)
        if not self.smtp.supports_extension("starttls"):
            raise self.fail(
                fault=Fault.STARTTLS_NOT_OFFERED, text="the server does not offer STARTTLS"
            )
        try:
            response = await self.smtp.starttls(
                server_hostname=self.endpoint.host,
                tls_context=self.tls_context,
                timeout=self.clock.call(),
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self.fail_with(exc) from None
        self._keep(self.smtp.transport)
        self.passed(
            response.code,
            response.message,
            **session_facts(self._ssl_object(), host=self.endpoint.host),
        )

    async def auth(self) -> None:
        """One attempt, PLAIN first (RFC 4616), else LOGIN: a test that tries every mechanism
        with a wrong password counts several failures against the account's lockout."""
        assert self.smtp is not None and self.endpoint.password is not None
        smtp = self.smtp
        self.begin(Step.AUTH)
        if not smtp.supports_extension("auth"):
            plain_session = self._ssl_object() is None
            fault = (
                Fault.AUTH_NOT_OFFERED_BEFORE_TLS
                if plain_session and smtp.supports_extension("starttls")
                else Fault.AUTH_NOT_OFFERED
            )
            raise self.fail(fault=fault, text="the server does not offer AUTH")
        if self._ssl_object() is None and not self.policy.password_may_travel_unencrypted(
            self.endpoint.host, self.address
        ):
            raise self.fail(
                fault=Fault.PLAINTEXT_AUTH_REFUSED,
                text="the session is not encrypted: the password was not sent",
            )
        offered = [method.upper() for method in smtp.server_auth_methods]
        user, password = self.endpoint.auth_user, self.endpoint.password.reveal()
        if "PLAIN" in offered:
            method, call = "PLAIN", smtp.auth_plain
        elif "LOGIN" in offered:
            method, call = "LOGIN", smtp.auth_login
        else:
            raise self.fail(
                fault=Fault.AUTH_MECHANISMS,
                text="no supported AUTH mechanism (PLAIN, LOGIN)",
                offered=offered,
            )
        self._details.update(mechanism=method, user=user)
        try:
            response = await call(user, password, timeout=self.clock.call())
        except aiosmtplib.SMTPException as exc:
            raise self.fail_with(exc) from None
        self.passed(response.code, response.message)

    async def oauth_auth(self) -> None:
        """An OAuth account: the token first (its own step, "Autorización OAuth": stored or
        refreshed, for which mailbox, until when), then AUTH XOAUTH2 (OAUTHBEARER where
        only that is offered). A refused token is exchanged once for a fresh one, as CRONUS
        does; the server's JSON error is kept for the diagnosis."""
        assert self.smtp is not None
        smtp = self.smtp
        self.begin(Step.AUTH)
        if not smtp.supports_extension("auth"):
            raise self.fail(fault=Fault.AUTH_NOT_OFFERED, text="the server does not offer AUTH")
        if self._ssl_object() is None and not self.policy.password_may_travel_unencrypted(
            self.endpoint.host, self.address
        ):
            raise self.fail(
                fault=Fault.PLAINTEXT_AUTH_REFUSED,
                text="the session is not encrypted: the access token was not sent",
            )
        offered = [method.upper() for method in smtp.server_auth_methods]
        mechanism = sasl.choose(offered)
        if mechanism is None:
            raise self.fail(
                fault=Fault.AUTH_MECHANISMS,
                text="the server offers no OAuth mechanism (XOAUTH2, OAUTHBEARER)",
                offered=offered,
            )
        self._current = None
        bearer = await self._token(None)
        self.begin(Step.AUTH, mechanism=str(mechanism), user=self.endpoint.auth_user)
        response, error = await self._bearer_auth(mechanism, bearer)
        if response.code == 535 and not bearer.refreshed:
            refusal = {"code": response.code, "text": response.message, "error": error}
            bearer = await self._token(bearer.token, retry=True)
            self.begin(
                Step.AUTH,
                mechanism=str(mechanism),
                user=self.endpoint.auth_user,
                first_refusal=refusal,
            )
            response, error = await self._bearer_auth(mechanism, bearer)
        if response.code not in (235, 503):
            if error:
                self._details["server_error"] = error
            fault = Fault.OAUTH_TOKEN_REJECTED if response.code == 535 else None
            raise self.fail(fault=fault, code=response.code, text=response.message)
        self.passed(response.code, response.message)

    async def _token(self, rejected: Secret | None, *, retry: bool = False) -> Bearer:
        source = self.endpoint.bearer
        assert source is not None
        self.begin(Step.OAUTH)
        if retry:
            self._record_retry()
        try:
            pending: Awaitable[Bearer | Awaitable[Bearer]]
            if asyncio.iscoroutinefunction(source):
                pending = source(rejected)
            else:  # a blocking source (HTTP to the provider) must not stop this loop
                pending = asyncio.to_thread(source, rejected)
            bearer = await asyncio.wait_for(pending, timeout=self.clock.call())
            if not isinstance(bearer, Bearer):
                raise TypeError("the bearer source gave no Bearer")
        except TimeoutError:
            raise self.fail(
                fault=Fault.OAUTH_UNAVAILABLE,
                text="the provider did not answer in time",
                step=Step.AUTH if retry else Step.OAUTH,
            ) from None
        except BearerUnavailable as exc:
            # after a refusal the OAuth step is already in: the second token fails AUTH
            raise self.fail(
                fault=fault_for(exc.reason),
                text=exc.description or exc.error or str(exc.reason),
                step=Step.AUTH if retry else Step.OAUTH,
                provider_error=exc.error,
            ) from None
        token = bearer.token.reveal()
        self.tokens.append(token)
        if not retry:
            self.passed(
                mailbox=bearer.mailbox,
                refreshed=bearer.refreshed,
                expires_in=max(0, int(bearer.expires_at - time.time())),
            )
        else:
            self._current = None
        return bearer

    def _record_retry(self) -> None:
        """The second token of a run goes into the OAuth step already recorded."""
        for result in self._slots:
            if result is not None and result.step is Step.OAUTH:
                result.details["refreshed_after_refusal"] = True

    async def _bearer_auth(
        self, mechanism: sasl.Mechanism, bearer: Bearer
    ) -> tuple[aiosmtplib.SMTPResponse, dict[str, Any]]:
        assert self.smtp is not None
        try:
            initial = sasl.initial_response_for(mechanism, self.endpoint, bearer.token)
        except InvalidValue as exc:
            raise self.fail(fault=Fault.MALFORMED, text=str(exc)) from None
        blob = base64.b64encode(initial.encode("utf-8")).decode("ascii")
        self.tokens.append(blob)
        error: dict[str, Any] = {}
        try:
            response = await self.smtp.execute_command(
                b"AUTH", str(mechanism).encode("ascii"), blob.encode("ascii"),
                timeout=self.clock.call(),
            )  # fmt: skip
            if response.code == 334:  # the error JSON: answer it, then the real reply comes
                error = sasl.parse_error(response.message)
                answer = b"" if mechanism is sasl.Mechanism.XOAUTH2 else b"AQ=="
                response = await self.smtp.execute_command(answer, timeout=self.clock.call())
        except aiosmtplib.SMTPException as exc:
            raise self.fail_with(exc) from None
        return response, error

    async def envelope(self) -> None:
        assert self.smtp is not None
        smtp = self.smtp
        utf8 = needs_smtputf8(self.endpoint.sender) or needs_smtputf8(self.recipient)
        self.begin(Step.MAIL)
        if utf8 and not smtp.supports_extension("smtputf8"):
            # RFC 6531 section 3.4: without the extension the address cannot be sent at all;
            # say so before MAIL rather than let the server answer 555 or mangle it.
            raise self.fail(
                fault=Fault.SMTPUTF8_NOT_OFFERED,
                text="the server does not offer SMTPUTF8, which a non-ASCII address needs",
            )
        # SMTPUTF8 is a MAIL parameter only (RFC 6531 section 3.4); RCPT just carries UTF-8.
        encoding = "utf-8" if utf8 else "ascii"
        mail_options = ["SMTPUTF8"] if utf8 else []
        steps: list[tuple[Step, Any]] = [
            (
                Step.MAIL,
                lambda: smtp.mail(
                    self.endpoint.sender,
                    options=mail_options,
                    encoding=encoding,
                    timeout=self.clock.call(),
                ),
            ),
            (
                Step.RCPT,
                lambda: smtp.rcpt(self.recipient, encoding=encoding, timeout=self.clock.call()),
            ),
        ]
        if self.message is not None:
            steps.append((Step.DATA, lambda: smtp.data(self.message, timeout=self.clock.call())))
        for step, command in steps:
            self.begin(step)
            try:
                response = await command()
            except aiosmtplib.SMTPException as exc:
                raise self.fail_with(exc) from None
            self.passed(response.code, response.message)
            if step is self.stop_after:
                break
        if self.message is None or self.stop_after is not Step.DATA:
            await self._quietly(smtp.rset)
        await self.quit()

    async def quit(self) -> None:
        assert self.smtp is not None
        await self._quietly(self.smtp.quit)

    async def goodbye(self) -> None:
        """After a failed step, end the session with QUIT where the protocol state allows it:
        servers log a dropped session as "lost connection" and may count it against the
        account. Not after a timeout, a dropped connection or a broken TLS handshake (no
        command can be understood there); a refused greeting is closed by aiosmtplib."""
        if self._may_quit and self.smtp is not None and self.smtp.is_connected:
            self._may_quit = False
            await self.quit()

    async def try_other_mode(self) -> Proposal | None:
        """After a port/security mismatch, test the mode the port seems to speak, on the same
        port and the checked address, within the time left and without the password.

        Implicit TLS is tried when a plain session got no greeting but a TLS probe answered
        (Advice.PLAIN_ON_TLS_PORT); STARTTLS when implicit TLS was answered in plain text
        (Advice.TLS_ON_PLAIN_PORT), or when a plain session could not authenticate and its
        server offers STARTTLS (AUTH only after TLS, or a password Emisario will not send
        unencrypted). The check stops once the encrypted session's EHLO is in,
        with the same certificate verification and policy as the test itself. It is only a
        proposal when it worked; what it saw goes in the failed step's ``other_mode``.
        """
        failure = next((r for r in self._recorded() if r.status is StepStatus.FAILED), None)
        if failure is None or not self.address:
            return None
        security = self.endpoint.security
        if failure.fault == Fault.TLS_PORT_DETECTED and security is not SecurityMode.TLS:
            other = SecurityMode.TLS
        elif failure.fault == Fault.TLS_WRONG_VERSION and security is SecurityMode.TLS:
            other = SecurityMode.STARTTLS
        elif failure.fault in _NEEDS_ENCRYPTION and self._offered_starttls():
            other = SecurityMode.STARTTLS  # a plain session whose server offers the upgrade
        else:
            return None
        left = self.clock.left()
        if left < PROPOSAL_MINIMUM:
            failure.details["other_mode"] = {"security": str(other), "ok": False, "tried": False}
            return None
        endpoint = self.endpoint
        check = await diagnose(
            SmtpEndpoint(
                host=endpoint.host,
                port=endpoint.port,
                security=other,
                sender=endpoint.sender,
                login=endpoint.login,
            ),
            recipient=self.recipient,
            message=None,
            policy=self.policy,
            deadline=left,
            tls_context=self.tls_context,
            resolver=_CheckedAddress(self.address),
            local_hostname=self.local_hostname,
            stop_after=session_check_stop(other),
            propose=False,
        )
        seen = check.failure
        failure.details["other_mode"] = {
            "security": str(other),
            "ok": check.ok,
            "tried": True,
            "step": str(seen.step) if seen else None,
            "advice": seen.advice if seen else None,
        }
        works = check.ok
        if works and failure.fault in _NEEDS_ENCRYPTION:
            # The failure was about authenticating: the upgrade must lead to an AUTH we can use.
            works = _offers_usable_auth(check)
            failure.details["other_mode"]["ok"] = works
        return Proposal(port=endpoint.port, security=str(other)) if works else None

    def _offered_starttls(self) -> bool:
        return any(
            r.step is Step.EHLO and r.details.get("starttls") is True for r in self._recorded()
        )

    async def _quietly(self, command: Any) -> None:
        """RSET and QUIT are courtesy: their failure changes nothing in the verdict."""
        try:
            async with asyncio.timeout(min(QUIT_CAP, self.clock.left())):
                await command()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass

    def _ssl_object(self) -> ssl.SSLObject | None:
        if self.smtp is None or self.smtp.transport is None:
            return None
        found = self.smtp.transport.get_extra_info("ssl_object")
        return found if isinstance(found, ssl.SSLObject) else None
