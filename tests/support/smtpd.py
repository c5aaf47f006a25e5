"""Fault-injecting SMTP servers for tests, built on the demo's :class:`LoopbackSmtpd`.

A :class:`Script` says, per :class:`Step`, what the server does instead of the right thing:
another reply, a delay, a dropped connection, a hidden EHLO keyword. Servers that are not SMTP
at all (silent, trickling, blackholed) are here too: they are what Probar's deadline is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from emisario.core.smtp.steps import Step
from emisario.demo.mailbox import LoopbackSmtpd, LoopThread, MailboxHandler


@dataclass
class Script:
    """What to break. ``replies`` may use ``{args}`` (the AUTH arguments, to test redaction).
    Step.TLS means the STARTTLS command; Step.GREETING the banner."""

    replies: dict[Step, str] = field(default_factory=dict)
    delays: dict[Step, float] = field(default_factory=dict)
    disconnect: Step | None = None
    withhold: frozenset[str] = frozenset()
    """EHLO keywords to hide, e.g. {"STARTTLS"} or {"AUTH"}."""
    auth_mechanisms: tuple[str, ...] | None = None
    """Replace the AUTH line of EHLO (e.g. ("XOAUTH2",))."""
    auth_without_tls: bool = False
    """Offer AUTH on an unencrypted session too, as some internal relays do."""
    smtputf8: bool = False
    """Offer SMTPUTF8 (RFC 6531); aiosmtpd does not by default."""
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    """A reply for RCPT TO of one address only (a partial refusal)."""


class ScriptedSMTP(SMTP):
    """aiosmtpd's session, with the banner and STARTTLS under the script's control. Every
    command verb it receives is appended to :attr:`commands` (QUIT included)."""

    script: Script

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: list[str] = []
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._recording(verb, method)

    def _recording(self, verb: str, method: Any) -> Any:
        @functools.wraps(method)  # keeps the syntax aiosmtpd's HELP reads from the method
        async def recorded(arg: str) -> None:
            self.commands.append(verb)
            await method(arg)

        return recorded

    async def push(self, status: Any) -> None:
        if not getattr(self, "_greeted", False):
            self._greeted = True
            if await self._apply(Step.GREETING):
                return
            status = self.script.replies.get(Step.GREETING, status)
        await super().push(status)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.script.disconnect is Step.TLS:
            await super().push("220 2.0.0 Ready to start TLS")
            self._drop()
            return
        if await self._apply(Step.TLS, disconnect=False):
            return
        reply = self.script.replies.get(Step.TLS)
        if reply is not None:
            await super().push(reply)
            return
        await super().smtp_STARTTLS(arg)

    async def _apply(self, step: Step, *, disconnect: bool = True) -> bool:
        """Sleep if scripted; drop the connection if scripted. True when dropped."""
        delay = self.script.delays.get(step)
        if delay:
            await asyncio.sleep(delay)
        if disconnect and self.script.disconnect is step:
            self._drop()
            return True
        return False

    def _drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class ScriptedHandler(MailboxHandler):
    """The mailbox handler, answering from the script at EHLO, AUTH, MAIL, RCPT and DATA."""

    server: FaultySmtpd

    async def _scripted(self, smtp: ScriptedSMTP, step: Step, **values: Any) -> Any:
        if await smtp._apply(step):
            return "421 4.4.2 dropped"  # never reaches the client
        reply = self.server.script.replies.get(step)
        if reply is None:
            return MISSING
        return reply.format(**values) if values else reply

    async def handle_EHLO(
        self, smtp: ScriptedSMTP, session: Session, envelope: Envelope, hostname: str, lines: list
    ) -> list[str]:
        session.host_name = hostname
        reply = await self._scripted(smtp, Step.EHLO)
        if reply is not MISSING:
            return [reply]
        script = self.server.script
        kept = []
        for line in lines:
            keyword = line[4:].split(" ", 1)[0].upper()
            if keyword in script.withhold:
                continue
            if keyword == "AUTH" and script.auth_mechanisms is not None:
                line = "250-AUTH " + " ".join(script.auth_mechanisms)
            kept.append(line)
        return kept

    async def handle_AUTH(
        self, smtp: ScriptedSMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> Any:
        return await self._scripted(smtp, Step.AUTH, args=" ".join(args))

    async def handle_MAIL(
        self, smtp: ScriptedSMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        reply = await self._scripted(smtp, Step.MAIL)
        if reply is not MISSING:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        self.server.mail_options.append(list(options))
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, smtp: ScriptedSMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        reply = await self._scripted(smtp, Step.RCPT)
        if reply is not MISSING:
            return reply
        if address in self.server.script.rcpt_replies:
            return self.server.script.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        self.server.rcpt_options.append(list(options))
        return "250 2.1.5 OK"

    async def handle_DATA(self, smtp: ScriptedSMTP, session: Session, envelope: Envelope) -> str:
        reply = await self._scripted(smtp, Step.DATA)
        if reply is not MISSING:
            return reply
        return await super().handle_DATA(smtp, session, envelope)


class FaultySmtpd(LoopbackSmtpd):
    """A :class:`LoopbackSmtpd` whose sessions follow :attr:`script` (changeable any time)."""

    def __init__(self, *args: Any, script: Script | None = None, **kwargs: Any) -> None:
        self.script = script or Script()
        self.mail_options: list[list[str]] = []
        """The parameters of each accepted MAIL FROM, in order (e.g. ["SMTPUTF8"])."""
        self.rcpt_options: list[list[str]] = []
        self.sessions: list[list[str]] = []
        """The commands of each session, in the order sessions were opened: a polite client
        ends each with "QUIT"."""
        outer = self

        class _Session(ScriptedSMTP):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                if outer.script.smtputf8:
                    kwargs["enable_SMTPUTF8"] = True
                super().__init__(*args, **kwargs)
                if outer.script.auth_without_tls:
                    # After __init__: aiosmtpd warns when AUTH is required without TLS,
                    # which is this scripted relay's whole point.
                    self._auth_require_tls = False
                outer.sessions.append(self.commands)

            @property
            def script(self) -> Script:  # type: ignore[override]
                return outer.script

        kwargs.setdefault("handler_factory", ScriptedHandler)
        super().__init__(*args, smtp_class=_Session, **kwargs)


# -- servers that are not SMTP ---------------------------------------------------------------


class _Silent(asyncio.Protocol):
    """Accepts and never writes: a firewall's tarpit, or TLS waiting for a ClientHello."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


class _Trickle(asyncio.Protocol):
    """Sends an endless multi-line banner one byte at a time: every byte resets a naive
    read timeout, so only a per-call deadline ends it."""

    PATTERN = b"220-still greeting you\r\n"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.position = 0
        self.handle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._tick()

    def _tick(self) -> None:
        if self.transport.is_closing():
            return
        byte = self.PATTERN[self.position % len(self.PATTERN)]
        self.transport.write(bytes([byte]))  # type: ignore[attr-defined]
        self.position += 1
        self.handle = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handle is not None:
            self.handle.cancel()


class RawServer:
    """A non-SMTP TCP server on 127.0.0.1 (port 0), in its own loop thread."""

    def __init__(self, kind: str, *, interval: float = 0.02) -> None:
        factories = {"silent": _Silent, "trickle": lambda: _Trickle(interval)}
        self._factory = factories[kind]
        self._protocols: list[asyncio.Protocol] = []
        self.port = 0

    def __enter__(self) -> RawServer:
        self._thread = LoopThread("raw-server")
        self.port = self._thread.run(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.run(self._close())
        self._thread.stop()

    def _make(self) -> asyncio.Protocol:
        protocol = self._factory()
        self._protocols.append(protocol)
        return protocol

    async def _start(self) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        self._server.close()
        for protocol in self._protocols:
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.abort()


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port whose SYNs are dropped: a listener with a full accept queue (backlog 0, never
    accepting). Linux drops SYNs on overflow, so connecting times out like a firewall."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
            fillers.append(filler)
        time.sleep(0.05)
        yield address[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def closed_port() -> int:
    """A port nothing listens on (bound then released; on loopback the RST is immediate)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_context(cert: Any, **options: Any) -> ssl.SSLContext:
    """A server context for ``cert`` with attributes set from ``options`` (TLS versions)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    ciphers = options.pop("ciphers", None)
    for name, value in options.items():
        setattr(context, name, value)
    if ciphers:
        context.set_ciphers(ciphers)
    return context


class TlsRefusingServer:
    """Accepts TCP and runs a server-side TLS handshake that is meant to fail (old protocol
    versions, no shared cipher). A blocking OpenSSL server, because it sends the TLS alert
    before closing, as Postfix or Exchange do; asyncio's server just drops the connection."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-refusing", daemon=True)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client:
                client.settimeout(2)
                with contextlib.suppress(OSError):  # the failure is the point
                    self.context.wrap_socket(client, server_side=True).close()

    def __enter__(self) -> TlsRefusingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join(2)
        self._listener.close()
