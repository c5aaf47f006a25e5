"""The staged SMTP test behind Probar.

Each stage is a :class:`Step` with its own verdict, so the console can say *where* it broke
("the certificate is for another host") instead of "unable to connect". The whole test runs
under one hard deadline (``asyncio.timeout``), which always wins. Each exchange also has its
own timeout: the connect, DNS and greeting waits take a *share* of the time left, so a silent
server is reported at the step it stalled; the other calls get the time left plus one second
(``_Clock.call``), deliberately longer than the deadline, so the deadline, not a per-call
timeout, ends a run that is slow overall. What went wrong is described by
:mod:`~emisario.core.smtp.faults`; credentials are masked by :mod:`~emisario.core.smtp.redact`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any

import aiosmtplib

from emisario.core.addresses import needs_smtputf8
from emisario.core.netpolicy import (
    NetworkPolicy,
    PolicyRefused,
    Resolver,
    SystemResolver,
    is_ip_literal,
)
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
from emisario.core.smtp.steps import Diagnosis, Step, StepResult, StepStatus
from emisario.core.smtp.tlsinfo import default_tls_context, session_facts

__all__ = ["POLICY_REFUSED_TEXT", "REDACTED", "diagnose", "step_order"]
POLICY_REFUSED_TEXT = "The network policy does not allow a test to this server and port."
"""The same text whatever the reason, so a refusal does not reveal what listens where."""

CALL_CAP = 30.0
"""Seconds any single SMTP exchange may take (RFC 5321 allows minutes; a test does not)."""
CONNECT_CAP = 10.0
DNS_SHARE = 0.5
GREETING_SHARE = 0.5
"""A plain session waits for the banner at most this share of the time left, keeping the
rest to check whether the port speaks TLS instead (the usual cause of a silent 465)."""

_ENVELOPE = (Step.MAIL, Step.RCPT, Step.DATA)


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
) -> Diagnosis:
    """Run the test step by step and return the verdict; never raises for a server's fault.

    ``message`` None stops before DATA (RSET, QUIT); ``stop_after`` ends earlier still.
    Credentials in ``endpoint`` and every string in ``redact`` are masked in the result.
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
    finally:
        run.abort()
    diagnosis = Diagnosis(
        target=endpoint.target,
        security=str(endpoint.security),
        steps=run.results(),
        elapsed_ms=_ms(started),
    )
    return redact_diagnosis(diagnosis, secrets_for(endpoint, redact))


def step_order(security: SecurityMode) -> list[Step]:
    """The steps in the order they happen: implicit TLS shakes hands before the greeting,
    STARTTLS after it (RFC 3207); the EHLO reported is the one after the upgrade."""
    order = list(Step)
    if security is SecurityMode.STARTTLS:
        order.remove(Step.TLS)
        order.insert(order.index(Step.EHLO), Step.TLS)
    return order


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
        self.order = step_order(endpoint.security)
        self._results: dict[Step, StepResult] = {}
        self._current: Step | None = None
        self._started = 0.0
        self._details: dict[str, Any] = {}
        self.address = ""
        self.sock: socket.socket | None = None
        self.smtp: aiosmtplib.SMTP | None = None
        self._transports: list[asyncio.BaseTransport] = []

    def _keep(self, transport: asyncio.BaseTransport | None) -> None:
        """Remember each transport a session went through (plain, then TLS) to abort all."""
        if transport is not None:
            self._transports.append(transport)

    # -- bookkeeping -------------------------------------------------------------------------

    def begin(self, step: Step, **details: Any) -> None:
        self._current = step
        self._started = time.monotonic()
        self._details = dict(details)

    def passed(self, code: int | None = None, text: str = "", **details: Any) -> None:
        assert self._current is not None
        self._details.update(details)
        self._results[self._current] = StepResult(
            step=self._current,
            status=StepStatus.PASSED,
            elapsed_ms=_ms(self._started),
            reply_code=code,
            reply_text=text,
            details=self._details,
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
        self._results[step] = StepResult(
            step=step,
            status=StepStatus.FAILED,
            elapsed_ms=_ms(self._started),
            reply_code=code,
            reply_text=text,
            advice=str(classify(step, code=code, text=text, fault=fault)),
            fault=str(fault) if fault is not None else None,
            details=self._details,
        )
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
        return next((step for step in self.order if step not in self._results), Step.DATA)

    def results(self) -> list[StepResult]:
        return [
            self._results.get(step) or StepResult(step=step, status=StepStatus.SKIPPED)
            for step in self.order
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
            if self.endpoint.password and not self.reached(Step.EHLO):
                await self.auth()
            if not self.reached(Step.AUTH):
                return await self.envelope()
        await self.quit()

    def sequence(self) -> list[Step]:
        """The steps this security mode runs, in the order it runs them."""
        middle = {
            SecurityMode.NONE: [Step.GREETING, Step.EHLO],
            SecurityMode.TLS: [Step.TLS, Step.GREETING, Step.EHLO],
            SecurityMode.STARTTLS: [Step.GREETING, Step.EHLO, Step.TLS],
        }[self.endpoint.security]
        return [Step.POLICY, Step.DNS, Step.CONNECT, *middle, Step.AUTH, *_ENVELOPE]

    def reached(self, step: Step) -> bool:
        """True once ``stop_after`` is done. POLICY implies DNS (addresses are checked too);
        TLS on a plain session means after EHLO; after STARTTLS it means after the new EHLO."""
        sequence = self.sequence()
        stop = self.stop_after if self.stop_after in sequence else Step.EHLO
        if stop is Step.TLS and self.endpoint.security is SecurityMode.STARTTLS:
            return Step.TLS in self._results
        return sequence.index(stop) <= sequence.index(step)

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
            addresses = await self._resolve()
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
        self._results[Step.POLICY] = StepResult(
            Step.POLICY, StepStatus.PASSED, elapsed_ms=0.0, details={"port": endpoint.port}
        )
        self._results[Step.DNS] = dns
        self._current = None
        return list(addresses)

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
        section 4.2: what was learnt in plain text is discarded)."""
        assert self.smtp is not None
        before = self._results.get(Step.EHLO)
        self.begin(Step.EHLO)
        if before is not None:
            self._details["before_starttls"] = before.details
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

    async def _quietly(self, command: Any) -> None:
        """RSET and QUIT are courtesy: their failure changes nothing in the verdict."""
        try:
            async with asyncio.timeout(min(2.0, self.clock.left())):
                await command()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass

    def _ssl_object(self) -> ssl.SSLObject | None:
        if self.smtp is None or self.smtp.transport is None:
            return None
        found = self.smtp.transport.get_extra_info("ssl_object")
        return found if isinstance(found, ssl.SSLObject) else None
