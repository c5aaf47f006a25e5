"""TCP connections for Probar, opened by us so the address used is the one the policy checked.

Handing aiosmtplib a host name would make it resolve the name again, and a second answer
could point somewhere the policy never saw (DNS rebinding). We connect to the checked
addresses and give aiosmtplib the connected socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from emisario.core.smtp.tlsinfo import probe_context, session_facts


@dataclass
class ConnectFailed(Exception):
    """No address accepted the connection; ``errors`` holds one entry per address tried."""

    errors: list[tuple[str, BaseException]] = field(default_factory=list)

    @property
    def last(self) -> BaseException:
        return self.errors[-1][1]

    def __str__(self) -> str:
        return "; ".join(f"{address}: {_os_text(exc)}" for address, exc in self.errors)


def _os_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


async def open_socket(
    addresses: list[str], port: int, *, timeout_for: Any
) -> tuple[socket.socket, str]:
    """Connect to the first address that answers, in order; ``timeout_for(left)`` gives the
    seconds allowed for an attempt when ``left`` addresses remain."""
    loop = asyncio.get_running_loop()
    failure = ConnectFailed()
    for position, address in enumerate(addresses):
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout_for(len(addresses) - position)):
                await loop.sock_connect(sock, (address, port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            failure.errors.append((address, exc))
            continue
        except BaseException:  # cancelled by the overall deadline: never leak the socket
            sock.close()
            raise
        return sock, address
    raise failure


async def probe_tls(address: str, port: int, *, host: str, timeout: float) -> dict[str, Any]:
    """Try a TLS handshake (any certificate accepted) on a second connection to an already
    checked address. Returns the session facts, or raises ``OSError``/``TimeoutError``."""
    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    async with asyncio.timeout(timeout):
        sock, _ = await open_socket([address], port, timeout_for=lambda _left: timeout)
        try:
            transport, _protocol = await loop.create_connection(
                asyncio.Protocol,
                sock=sock,
                ssl=probe_context(),
                server_hostname=host,  # no SNI is sent for an IP literal
                ssl_handshake_timeout=timeout,
            )
        except BaseException:
            sock.close()
            raise
    try:
        ssl_object = transport.get_extra_info("ssl_object")
        return session_facts(ssl_object, host=host)
    finally:
        transport.abort()


def abort_quietly(*transports: asyncio.BaseTransport | None) -> None:
    """Abort every transport given: ``abort`` unregisters the socket from the loop at once,
    where ``close`` would wait for buffers to drain and could outlive its socket."""
    for transport in transports:
        if isinstance(transport, asyncio.WriteTransport):
            with contextlib.suppress(RuntimeError):  # loop already closed
                transport.abort()


async def handshake_error(
    address: str, port: int, *, host: str, context: ssl.SSLContext, timeout: float
) -> BaseException | None:
    """Replay an implicit-TLS handshake over memory BIOs to learn *why* it failed.

    asyncio reports a handshake the server ends with an alert and a close as a bare
    ``ConnectionResetError``; OpenSSL fed the same bytes names the alert (protocol version,
    no shared cipher). Returns that error, or None when the handshake succeeds this time.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        sock, _ = await open_socket([address], port, timeout_for=lambda _left: timeout)
        try:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
            while True:
                error: BaseException | None = None
                try:
                    tls.do_handshake()
                    return None
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    error = exc
                pending = outgoing.read()
                if pending:
                    await loop.sock_sendall(sock, pending)
                if error is not None:
                    return error
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    return ConnectionResetError("connection closed during the TLS handshake")
                incoming.write(chunk)
        finally:
            sock.close()
