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
import contextlib
import email.parser
import email.policy
import mailbox
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

T = TypeVar("T")

PLAIN = "plain"
"""Plain text only: no STARTTLS offered (an internal relay). AUTH is refused there unless the
server is built with ``plain_auth=True``."""
STARTTLS = "starttls"
"""Plain text that offers STARTTLS; AUTH only after it (aiosmtpd's ``auth_require_tls``)."""
TLS = "tls"
"""Implicit TLS from the first byte, like port 465."""
MODES = (PLAIN, STARTTLS, TLS)


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
    ) -> None:
        if not isinstance(listeners, Mapping):
            listeners = dict.fromkeys(listeners, 0)
        unknown = set(listeners) - set(MODES)
        if unknown:
            raise ValueError(f"unknown listener modes {sorted(unknown)}; use {MODES}")
        self.users = dict(users or {})
        self.auth_required = auth_required
        self.plain_auth = plain_auth
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
        smtp = self._smtp_class(
            self._handler,
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
        smtp.listener_mode = mode  # type: ignore[attr-defined]
        self._sessions.add(smtp)
        return smtp

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
        user = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        ok = user in self.users and self.users[user] == password
        return AuthResult(success=ok, handled=False, auth_data=data)


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
