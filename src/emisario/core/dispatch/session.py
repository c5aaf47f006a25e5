"""One SMTP session of CRONUS: opened once, then carrying many messages.

It goes where Probar goes and nowhere else: the port and every resolved address pass the same
:class:`~emisario.core.netpolicy.NetworkPolicy`, the connection is made to the address that
was checked (never a second lookup), certificates are verified with the same context, and a
password crosses an unencrypted connection only where the policy says so. The client is the
standard library's, driven command by command: :meth:`Session.send` writes the header block
and the stored body through :class:`~.wire.WireEncoder`, so no bare CR or LF can reach the
wire, and records each recipient's own reply (``smtplib.sendmail`` would hide a partial
refusal, as Django's backend does).

A failure raises :class:`SessionError` with the step, the server's reply or a local
:class:`~emisario.core.smtp.advice.Fault`: exactly what :func:`.outcome.judge` needs.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from emisario.core.dispatch.wire import WireEncoder
from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import NetworkPolicy, PolicyRefused, Resolver, SystemResolver
from emisario.core.oauth import sasl
from emisario.core.oauth.bearer import Bearer, BearerUnavailable, fault_for
from emisario.core.secrets import Secret
from emisario.core.smtp.advice import Fault
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
from emisario.core.smtp.faults import describe
from emisario.core.smtp.steps import Step

WRITE_CHUNK = 64 * 1024


@dataclass
class SessionError(Exception):
    """A step failed. ``usable``: the session is still between commands (a refused MAIL, a
    refused DATA) and can go on after RSET; otherwise it must be closed."""

    step: Step
    code: int | None = None
    text: str = ""
    fault: Fault | None = None
    usable: bool = False
    authenticated: bool = False
    data_started: bool = False
    """DATA was accepted (354): the message's bytes were being written."""
    data_written: bool = False
    """The whole message and its final "." were written and no reply came: the server may
    have queued it (RFC 1047)."""

    def __str__(self) -> str:
        reply = f"{self.code} " if self.code is not None else ""
        return f"{self.step}: {reply}{self.text}"


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str


@dataclass
class Delivery:
    """What the server said about one message: each recipient's RCPT reply, and the reply
    after DATA (None when DATA was not sent because nobody was accepted)."""

    recipients: dict[str, Reply] = field(default_factory=dict)
    data: Reply | None = None
    data_started: bool = False


def _reply(exc: BaseException) -> tuple[Fault | None, int | None, str]:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        if exc.smtp_code < 0:
            return Fault.MALFORMED, None, decoded
        return None, exc.smtp_code, decoded
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Fault.DISCONNECTED, None, "the server closed the connection"
    return describe(exc)


def _error(step: Step, exc: BaseException, *, authenticated: bool = False) -> SessionError:
    fault, code, text = _reply(exc)
    return SessionError(step, code, text, fault, usable=False, authenticated=authenticated)


def _checked(address: str) -> str:
    """An address as it goes inside ``<>``: refused if it could break the command line."""
    if any(c in address for c in "<>\r\n\0 ") or not address:
        raise SessionError(Step.MAIL, text="an address that cannot be sent", fault=Fault.MALFORMED)
    return address


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else message


class Session:
    """An open (or not yet opened) session to one account's server."""

    def __init__(
        self,
        endpoint: SmtpEndpoint,
        *,
        policy: NetworkPolicy,
        tls_context: ssl.SSLContext,
        resolver: Resolver | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self.tls_context = tls_context
        self.resolver = resolver or SystemResolver()
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.smtp: smtplib.SMTP | None = None
        self.address = ""
        self.authenticated = False
        self.opened_at = 0.0
        self.messages = 0
        """Messages carried (DATA answered) since it opened."""

    @property
    def is_open(self) -> bool:
        return self.smtp is not None

    # -- opening ---------------------------------------------------------------------------

    def open(self) -> None:
        endpoint = self.endpoint
        try:
            self.policy.check_port(endpoint.port)
        except PolicyRefused as exc:
            raise SessionError(Step.POLICY, text=str(exc), fault=Fault.POLICY) from None
        addresses = self._resolve()
        try:
            self.policy.check_addresses(endpoint.host, addresses)
        except PolicyRefused as exc:
            raise SessionError(Step.POLICY, text=str(exc), fault=Fault.POLICY) from None
        sock = self._connect(addresses)
        smtp = smtplib.SMTP(local_hostname=self._helo_name(sock), timeout=self.timeout)
        smtp._host = endpoint.host  # type: ignore[attr-defined]  # for STARTTLS's SNI/check
        try:
            if endpoint.security is SecurityMode.TLS:
                try:
                    sock = self.tls_context.wrap_socket(sock, server_hostname=endpoint.host)
                except (OSError, ssl.SSLError) as exc:
                    raise _error(Step.TLS, exc) from None
            smtp.sock = sock
            self._greeting(smtp)
            self._ehlo(smtp)
            if endpoint.security is SecurityMode.STARTTLS:
                self._starttls(smtp)
            if endpoint.bearer is not None:
                self._login_bearer(smtp)
            elif endpoint.password is not None:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        self.smtp = smtp
        self.opened_at = time.monotonic()
        self.messages = 0

    def _resolve(self) -> list[str]:
        async def lookup() -> list[str]:
            async with asyncio.timeout(self.timeout):
                return await self.resolver.resolve(self.endpoint.host, self.endpoint.port)

        try:
            addresses = asyncio.run(lookup())
        except (OSError, TimeoutError) as exc:
            raise _error(Step.DNS, exc) from None
        if not addresses:
            raise SessionError(Step.DNS, text="no address", fault=Fault.DNS_NOT_FOUND)
        return addresses

    def _connect(self, addresses: Sequence[str]) -> socket.socket:
        last: BaseException | None = None
        for address in addresses:
            try:
                sock = socket.create_connection(
                    (address, self.endpoint.port), timeout=min(self.timeout, 15.0)
                )
            except OSError as exc:
                last = exc
                continue
            sock.settimeout(self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.address = address
            return sock
        assert last is not None
        raise _error(Step.CONNECT, last)

    def _helo_name(self, sock: socket.socket) -> str:
        if self.local_hostname:
            return self.local_hostname
        local = str(sock.getsockname()[0])
        return f"[IPv6:{local}]" if ":" in local else f"[{local}]"

    def _greeting(self, smtp: smtplib.SMTP) -> None:
        try:
            code, message = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            raise _error(Step.GREETING, exc) from None
        if code != 220:
            raise SessionError(Step.GREETING, code, _text(message))

    def _ehlo(self, smtp: smtplib.SMTP) -> None:
        try:
            code, message = smtp.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            raise _error(Step.EHLO, exc) from None
        if code != 250:
            raise SessionError(Step.EHLO, code, _text(message))

    def _starttls(self, smtp: smtplib.SMTP) -> None:
        if not smtp.has_extn("starttls"):
            raise SessionError(
                Step.TLS,
                text="the server does not offer STARTTLS",
                fault=Fault.STARTTLS_NOT_OFFERED,
            )
        try:
            smtp.starttls(context=self.tls_context)
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise _error(Step.TLS, exc) from None
        self._ehlo(smtp)

    def _may_authenticate(self, smtp: smtplib.SMTP, what: str) -> None:
        """AUTH is offered, and a credential (a password or a bearer token: both let anyone
        who reads them send as the account) crosses no unencrypted session unless the
        policy says so."""
        if not smtp.has_extn("auth"):
            raise SessionError(
                Step.AUTH, text="the server does not offer AUTH", fault=Fault.AUTH_NOT_OFFERED
            )
        encrypted = isinstance(smtp.sock, ssl.SSLSocket)
        if not encrypted and not self.policy.password_may_travel_unencrypted(
            self.endpoint.host, self.address
        ):
            raise SessionError(
                Step.AUTH,
                text=f"the session is not encrypted: the {what} was not sent",
                fault=Fault.PLAINTEXT_AUTH_REFUSED,
            )

    def _login(self, smtp: smtplib.SMTP) -> None:
        password = self.endpoint.password
        assert password is not None
        self._may_authenticate(smtp, "password")
        try:
            smtp.login(self.endpoint.auth_user, password.reveal())
        except smtplib.SMTPNotSupportedError:
            raise SessionError(
                Step.AUTH, text="no AUTH mechanism in common", fault=Fault.AUTH_MECHANISMS
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _error(Step.AUTH, exc) from None
        self.authenticated = True

    def _login_bearer(self, smtp: smtplib.SMTP) -> None:
        """XOAUTH2 (or OAUTHBEARER) with the account's access token. A token the server
        refuses is asked for again once as *rejected*: the source refreshes it (the provider
        may have revoked it early); a second refusal is the account's failure."""
        source = self.endpoint.bearer
        assert source is not None
        self._may_authenticate(smtp, "access token")
        offered = smtp.esmtp_features.get("auth", "").split()
        mechanism = sasl.choose(offered)
        if mechanism is None:
            raise SessionError(
                Step.AUTH,
                text="the server offers no OAuth mechanism (XOAUTH2, OAUTHBEARER)",
                fault=Fault.AUTH_MECHANISMS,
            )
        bearer = self._bearer(None)
        code, text = self._bearer_auth(smtp, mechanism, bearer)
        if code == 535 and not bearer.refreshed:
            bearer = self._bearer(bearer.token)
            code, text = self._bearer_auth(smtp, mechanism, bearer)
        if code in (235, 503):
            self.authenticated = True
            return
        if code == 535:
            raise SessionError(Step.AUTH, code, text, fault=Fault.OAUTH_TOKEN_REJECTED)
        raise SessionError(Step.AUTH, code, text)

    def _bearer(self, rejected: Secret | None) -> Bearer:
        source = self.endpoint.bearer
        assert source is not None
        try:
            bearer = source(rejected)
        except BearerUnavailable as exc:
            raise SessionError(Step.OAUTH, text=str(exc), fault=fault_for(exc.reason)) from None
        except Exception as exc:
            raise SessionError(
                Step.OAUTH, text=type(exc).__name__, fault=Fault.OAUTH_UNAVAILABLE
            ) from None
        if not isinstance(bearer, Bearer):  # a coroutine source is Probar's, never a session's
            raise TypeError("a CRONUS session needs a synchronous bearer source")
        return bearer

    def _bearer_auth(
        self, smtp: smtplib.SMTP, mechanism: sasl.Mechanism, bearer: Bearer
    ) -> tuple[int, str]:
        try:
            initial = sasl.initial_response_for(mechanism, self.endpoint, bearer.token)
        except InvalidValue as exc:
            raise SessionError(Step.AUTH, text=str(exc), fault=Fault.MALFORMED) from None
        try:
            code, reply = smtp.auth(mechanism.value, sasl.BearerResponder(mechanism, initial))
            return code, _text(reply)
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code, _text(exc.smtp_error)
        except ValueError:  # an undecodable 334 (binascii.Error), a non-ASCII mailbox
            raise SessionError(
                Step.AUTH, text="the mailbox cannot be sent in AUTH", fault=Fault.MALFORMED
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _error(Step.AUTH, exc) from None

    # -- sending ---------------------------------------------------------------------------

    def send(
        self,
        *,
        sender: str,
        recipients: Sequence[str],
        header: bytes,
        body: Iterable[bytes],
        size: int | None = None,
        smtputf8: bool = False,
        before_data: Callable[[dict[str, Reply]], bool] | None = None,
        body_checked: bool = False,
    ) -> Delivery:
        """One transaction: MAIL, a RCPT per recipient, then DATA to those accepted.

        Replies that refuse the message or recipients are returned, not raised; a refused
        MAIL or DATA raises a *usable* :class:`SessionError` (the caller sends RSET); a lost
        connection or timeout an unusable one. ``before_data`` gets every RCPT reply once some
        recipient was accepted and says whether to send DATA (False: the transaction is
        reset, nothing is sent); the worker waits there for its DATA mark, and whatever it
        raises (the lease is gone) ends the transaction too. ``body_checked``:
        the body was found wire-safe when it was stored (:class:`.wire.WireSafety`), so its
        bytes are written without another scan; the header always is scanned.
        """
        smtp = self.smtp
        if smtp is None:
            raise SessionError(Step.MAIL, text="not connected", fault=Fault.DISCONNECTED)
        options: list[str] = []
        if size is not None and smtp.has_extn("size"):
            options.append(f"SIZE={size}")
        if smtputf8:
            if not smtp.has_extn("smtputf8"):
                raise SessionError(
                    Step.MAIL,
                    text="the server does not offer SMTPUTF8",
                    fault=Fault.SMTPUTF8_NOT_OFFERED,
                    usable=True,
                    authenticated=self.authenticated,
                )
            options.append("SMTPUTF8")
        delivery = Delivery()
        # Written by us, not smtp.mail()/rcpt(): those parse every address again with the
        # email package's parser; ours were validated at intake and hold no "<", ">" or line
        # break (_checked makes sure).
        tail = "".join(f" {option}" for option in options)
        commands = [f"MAIL FROM:<{_checked(sender)}>{tail}"]
        commands += [f"RCPT TO:<{_checked(recipient)}>" for recipient in recipients]
        pipelined = smtp.has_extn("pipelining")
        if pipelined:  # RFC 2920: the envelope and DATA in one write, the replies in order
            commands.append("DATA")
            self._command(Step.MAIL, partial(self._write, smtp, commands))
            read = [partial(smtp.getreply) for _ in commands]
        else:
            read = [partial(self._exchange, smtp, command) for command in commands]
        code, message = self._command(Step.MAIL, read[0])
        mail_refused = code != 250
        mail_reply = (code, message)
        for recipient, reply in zip(recipients, read[1 : 1 + len(recipients)], strict=True):
            code, message = self._command(Step.RCPT, reply)
            delivery.recipients[recipient] = Reply(code, _text(message))
        data_reply: tuple[int, bytes] | None = None
        if pipelined:
            data_reply = self._command(Step.DATA, read[-1])
        data_open = data_reply is not None and data_reply[0] == 354
        if mail_refused:
            self._end_transaction(data_open)
            raise SessionError(
                Step.MAIL, mail_reply[0], _text(mail_reply[1]), usable=self.is_open,
                authenticated=self.authenticated,
            )  # fmt: skip
        if not any(reply.code in (250, 251) for reply in delivery.recipients.values()):
            self._end_transaction(data_open)
            return delivery
        if before_data is not None:
            try:
                go_on = before_data(delivery.recipients)
            except BaseException:
                self._end_transaction(data_open)
                raise
            if not go_on:
                self._end_transaction(data_open)
                return delivery
        if data_reply is None:
            data_reply = self._command(Step.DATA, lambda: smtp.docmd("data"))
        code, message = data_reply
        if code != 354:
            raise SessionError(
                Step.DATA, code, _text(message), usable=True, authenticated=self.authenticated
            )
        delivery.data_started = True
        encoder = WireEncoder()
        written = False
        try:
            buffered = encoder.feed(header)
            feed = encoder.feed_checked if body_checked else encoder.feed
            for chunk in body:
                buffered += feed(chunk)
                if len(buffered) >= WRITE_CHUNK:
                    smtp.send(buffered)
                    buffered = b""
            smtp.send(buffered + encoder.finish())
            written = True
            code, message = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            error = _error(Step.DATA, exc, authenticated=self.authenticated)
            error.data_started, error.data_written = True, written
            raise error from None
        self.messages += 1
        delivery.data = Reply(code, _text(message))
        return delivery

    def _end_transaction(self, data_open: bool) -> None:
        """Undo a transaction that must not be sent: RSET; if a pipelined DATA was already
        answered 354, only closing the connection discards it (a "." would send it)."""
        if data_open:
            self.close()
        else:
            self.reset()

    @staticmethod
    def _write(smtp: smtplib.SMTP, commands: list[str]) -> tuple[int, bytes]:
        smtp.send("".join(f"{command}\r\n" for command in commands).encode("utf-8"))
        return 0, b""

    @staticmethod
    def _exchange(smtp: smtplib.SMTP, line: str) -> tuple[int, bytes]:
        smtp.send(line.encode("utf-8") + b"\r\n")
        return smtp.getreply()

    def _command(self, step: Step, call: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        try:
            return call()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _error(step, exc, authenticated=self.authenticated) from None

    def reset(self) -> None:
        """RSET after a failed transaction, so the next MAIL starts clean (a server that
        still says 250 to NOOP may refuse the next MAIL with 503); closes on any error."""
        smtp = self.smtp
        if smtp is None:
            return
        try:
            code, _message = smtp.docmd("rset")
        except (OSError, smtplib.SMTPException):
            self.close()
            return
        if code != 250:
            self.close()

    def close(self, *, quit: bool = False) -> None:
        smtp, self.smtp = self.smtp, None
        self.authenticated = False
        if smtp is None:
            return
        if quit:
            try:
                if smtp.sock is not None:
                    smtp.sock.settimeout(2.0)
                smtp.docmd("quit")
            except (OSError, smtplib.SMTPException):
                pass
        smtp.close()
