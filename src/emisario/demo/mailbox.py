"""A real SMTP mailbox on loopback: what the demo sends to, and what the tests build on.

It speaks the two submission flavours users meet (RFC 3207 STARTTLS on a plain port, RFC 8314
implicit TLS) and, like a real submission server (RFC 6409), takes mail only after AUTH: MAIL
before it is "530 5.7.0 Authentication required", a wrong password "535 5.7.8", and AUTH is
offered only on an encrypted session. It checks AUTH PLAIN/LOGIN against a dict of users and
keeps every message, in memory and, when asked, in a stdlib Maildir a web page can list. It
runs its own event loop in a thread, so synchronous code (Django views, pytest) can start it
as a context manager.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import email.parser
import email.policy
import json
import mailbox
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import trustme
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

T = TypeVar("T")

PLAIN = "plain"
"""Plain text only: no STARTTLS offered (an internal relay). AUTH is refused there unless the
server is built with ``plain_auth=True``."""
STARTTLS = "starttls"
"""Plain text that offers STARTTLS; AUTH only after it (aiosmtpd's ``auth_require_tls``)."""
TLS = "tls"
"""Implicit TLS from the first byte, like port 465."""
MODES = (PLAIN, STARTTLS, TLS)

BEARER_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
TokenChecker = Callable[[str, str], Awaitable[bool]]
"""``await check(mailbox, access_token)``: may this token send as this mailbox? The demo's
and the tests' checker asks the authorization server (RFC 7662 introspection)."""
AUTH_LINE_LIMIT = 12288
"""RFC 4954 section 4: an AUTH line may be this long (a Microsoft access token is a 2 KB JWT;
aiosmtpd's default command limit is 512)."""


@dataclass(frozen=True)
class Received:
    """One accepted message, as the server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: datetime
    login: str | None
    listener: str

    @property
    def subject(self) -> str:
        return str(_parse(self.data).get("Subject", ""))


@dataclass(frozen=True)
class ReceivedMail:
    """A message read back from the Maildir, for the demo's inbox page."""

    key: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    date: str
    text: str
    received_at: datetime


class LoopThread:
    """An event loop running in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self, name: str = "loopback-smtpd") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.run(_cancel_other_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def _cancel_other_tasks() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class MailboxHandler:
    """aiosmtpd handler: accepts what it is given and stores it. Subclasses (the tests'
    fault injector) override the ``handle_*`` hooks and call ``super()``."""

    def __init__(self, server: LoopbackSmtpd) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        self.server.store(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content or b"",
                received_at=datetime.now(UTC),
                login=login,
                listener=getattr(smtp, "listener_mode", ""),
            )
        )
        return "250 2.0.0 OK: queued"

    # aiosmtpd finds AUTH mechanisms as auth_<NAME> on the handler; a server without a token
    # checker excludes these two (LoopbackSmtpd._session).
    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        return await self.server.bearer_auth(smtp, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, smtp: SMTP, args: list[str]) -> AuthResult:
        return await self.server.bearer_auth(smtp, args, "OAUTHBEARER")


def parse_bearer(mechanism: str, blob: bytes) -> tuple[str, str] | None:
    """(mailbox, token) from an XOAUTH2 or OAUTHBEARER client response, or None."""
    text = blob.decode("utf-8", "replace")
    fields = text.split("\x01")
    user = ""
    if mechanism == "OAUTHBEARER":  # RFC 7628: a GS2 header "n,a=<user>," first
        if not fields[0].startswith(("n,", "y,")):
            return None
        for part in fields[0].split(",")[1:]:
            if part.startswith("a="):
                user = part[2:]
        fields = fields[1:]
    token = ""
    for item in fields:
        key, _, value = item.partition("=")
        if key == "user":
            user = value
        elif key == "auth" and value.startswith("Bearer "):
            token = value[len("Bearer ") :]
    return (user, token) if user and token else None


KEPT_IN_MEMORY = 200
"""Messages a mailbox with a Maildir also keeps in :attr:`LoopbackSmtpd.messages`."""


class LoopbackSmtpd:
    """One or more SMTP listeners on 127.0.0.1 sharing a mailbox.

    ``listeners`` maps a mode (:data:`PLAIN`, :data:`STARTTLS`, :data:`TLS`) to a port; 0 picks
    a free one, read back from :attr:`ports`. The certificate comes from ``cert`` or is issued
    by ``ca`` (a fresh trustme CA when none is given) for ``hostname``, localhost, 127.0.0.1.

    MAIL needs a successful AUTH, as on a real submission port, so an empty or wrong password
    fails here the way it will in production; ``auth_required=False`` makes an open relay
    (for tests about what comes after AUTH). AUTH is taken only over TLS; ``plain_auth=True``
    also takes it on a :data:`PLAIN` listener (an internal relay that allows it).

    ``token_checker`` adds XOAUTH2 and OAUTHBEARER, each token checked by it; a refused one
    gets the providers' exchange (a 334 with a JSON error, then ``bearer_refusal`` once the
    client answers). ``password_refusal`` refuses every password with that reply, as Microsoft
    365 does once basic authentication is retired ("535 5.7.139 ...").
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        listeners: Mapping[str, int] | Iterable[str] = (STARTTLS, TLS),
        ca: trustme.CA | None = None,
        cert: trustme.LeafCert | None = None,
        hostname: str = "localhost",
        maildir: str | Path | None = None,
        handler_factory: Callable[[LoopbackSmtpd], MailboxHandler] = MailboxHandler,
        smtp_class: type[SMTP] = SMTP,
        server_tls_context: ssl.SSLContext | None = None,
        auth_required: bool = True,
        plain_auth: bool = False,
        token_checker: TokenChecker | None = None,
        password_refusal: str | None = None,
        bearer_refusal: str = "535 5.7.8 Username and Password not accepted",
    ) -> None:
        if not isinstance(listeners, Mapping):
            listeners = dict.fromkeys(listeners, 0)
        unknown = set(listeners) - set(MODES)
        if unknown:
            raise ValueError(f"unknown listener modes {sorted(unknown)}; use {MODES}")
        self.users = dict(users or {})
        self.auth_required = auth_required
        self.plain_auth = plain_auth
        self.token_checker = token_checker
        self.password_refusal = password_refusal
        self.bearer_refusal = bearer_refusal
        self.bearer_logins: list[tuple[str, str, bool]] = []
        """(mechanism, mailbox, accepted) of every bearer AUTH, in order."""
        self.hostname = hostname
        self.ca = ca or trustme.CA()
        self.cert = cert or self.ca.issue_cert(hostname, "localhost", "127.0.0.1")
        self.maildir = Path(maildir) if maildir else None
        self.messages: list[Received] = []
        self.ports: dict[str, int] = {}
        self._wanted = dict(listeners)
        self._handler = handler_factory(self)
        self._smtp_class = smtp_class
        self._tls = server_tls_context or self._server_context()
        self._lock = threading.Lock()
        self._thread: LoopThread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._sessions: set[SMTP] = set()
        self._box: mailbox.Maildir | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LoopbackSmtpd:
        self._thread = LoopThread()
        try:
            for mode, port in self._wanted.items():
                self.ports[mode] = self._thread.run(self._listen(mode, port))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._thread.run(self._close())
        self._thread.stop()
        self._thread = None

    def __enter__(self) -> LoopbackSmtpd:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def port(self, mode: str) -> int:
        return self.ports[mode]

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's CA."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context

    # -- storage --------------------------------------------------------------------------------

    def store(self, message: Received) -> None:
        with self._lock:
            self.messages.append(message)
            if self.maildir is not None:
                if self._box is None:
                    self._box = mailbox.Maildir(self.maildir, create=True)
                self._box.add(_with_envelope(message))
                # The Maildir keeps them all; memory keeps the last few (a month-end run of
                # 10,000 statements would otherwise hold half a gigabyte).
                del self.messages[:-KEPT_IN_MEMORY]

    # -- internals ------------------------------------------------------------------------------

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def _session(self, mode: str) -> SMTP:
        smtp_class = self._smtp_class
        if self.token_checker is not None:
            smtp_class = _with_long_auth(smtp_class)
        smtp = smtp_class(
            self._handler,
            auth_exclude_mechanism=() if self.token_checker else BEARER_MECHANISMS,
            hostname=self.hostname,
            tls_context=self._tls if mode == STARTTLS else None,
            auth_require_tls=True,
            auth_required=self.auth_required,
            authenticator=self._authenticate,
            timeout=30,
        )
        if mode == TLS or (mode == PLAIN and self.plain_auth):
            # aiosmtpd only knows STARTTLS as "TLS": on an implicit-TLS listener the session
            # is already encrypted, so its own check is switched off there (after __init__,
            # which warns about AUTH without TLS, true only of the plain_auth relay).
            smtp._auth_require_tls = False
        if self.token_checker is not None:
            smtp.command_size_limits = collections.defaultdict(
                lambda: SMTP.command_size_limit, {"AUTH": AUTH_LINE_LIMIT}
            )
        smtp.listener_mode = mode  # type: ignore[attr-defined]
        self._sessions.add(smtp)
        return smtp

    async def bearer_auth(self, smtp: SMTP, args: list[str], mechanism: str) -> AuthResult:
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode")
        else:
            answer = await smtp.challenge_auth("")
            if answer is MISSING:
                return AuthResult(success=False, handled=True)
            blob = answer if isinstance(answer, bytes) else b""
        parsed = parse_bearer(mechanism, blob)
        checker = self.token_checker
        ok = parsed is not None and checker is not None and await checker(*parsed)
        with self._lock:
            self.bearer_logins.append((mechanism, parsed[0] if parsed else "", bool(ok)))
        if parsed is not None and ok:
            return AuthResult(success=True, auth_data=LoginPassword(parsed[0].encode(), b""))
        error = {"status": "401", "schemes": "bearer", "scope": "smtp"}
        if mechanism == "OAUTHBEARER":
            error = {"status": "invalid_token", "scope": "smtp"}
        await smtp.challenge_auth(json.dumps(error))  # the client answers, then the refusal
        return AuthResult(success=False, handled=False, message=self.bearer_refusal)

    async def _listen(self, mode: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: self._session(mode),
            host="127.0.0.1",
            port=port,
            ssl=self._tls if mode == TLS else None,
            reuse_address=True,
        )
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for smtp in self._sessions:
            if smtp.transport is not None:
                smtp.transport.abort()
            original = getattr(smtp, "_original_transport", None)
            if original is not None:
                original.abort()
        self._sessions.clear()
        for server in self._servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if self.password_refusal is not None:
            return AuthResult(success=False, handled=False, message=self.password_refusal)
        user = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        ok = user in self.users and self.users[user] == password
        return AuthResult(success=ok, handled=False, auth_data=data)


_LONG_AUTH: dict[type[SMTP], type[SMTP]] = {}


def _with_long_auth(smtp_class: type[SMTP]) -> type[SMTP]:
    """``smtp_class`` with lines long enough for an AUTH with a provider-sized token (the
    reader's limit is read in ``__init__``, so it has to be a class attribute)."""
    if smtp_class not in _LONG_AUTH:
        _LONG_AUTH[smtp_class] = type(
            f"LongAuth{smtp_class.__name__}",
            (smtp_class,),
            {"line_length_limit": AUTH_LINE_LIMIT + 100},
        )
    return _LONG_AUTH[smtp_class]


def _with_envelope(message: Received) -> bytes:
    lines = [f"Return-Path: <{message.mail_from}>"]
    lines += [f"Delivered-To: {rcpt}" for rcpt in message.rcpt_tos]
    lines.append(f"X-Received-At: {message.received_at.isoformat()}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8") + message.data


def _parse(data: bytes) -> email.message.EmailMessage:
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(data)  # type: ignore[return-value]


def read_maildir(path: str | Path) -> list[ReceivedMail]:
    """Every message in the Maildir, newest first; a missing directory is an empty inbox."""
    if not Path(path, "cur").is_dir() and not Path(path, "new").is_dir():
        return []
    box = mailbox.Maildir(path, create=False)
    mails = []
    for key in box.iterkeys():
        with box.get_file(key) as handle:
            parsed = _parse(handle.read())
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        stamp = parsed.get("X-Received-At")
        received = datetime.fromisoformat(str(stamp)) if stamp else datetime.now(UTC)
        mails.append(
            ReceivedMail(
                key=key,
                sender=str(parsed.get("From") or parsed.get("Return-Path", "")).strip("<>"),
                recipients=tuple(str(v) for v in parsed.get_all("Delivered-To", [])),
                subject=str(parsed.get("Subject", "")),
                date=str(parsed.get("Date", "")),
                text=text,
                received_at=received,
            )
        )
    return sorted(mails, key=lambda mail: mail.received_at, reverse=True)
