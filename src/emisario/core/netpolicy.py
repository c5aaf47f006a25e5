"""Which SMTP targets a user-triggered test may reach.

Probar and Detectar open connections to hosts a user types. Without a policy that turns them into
a port scanner and a way into the internal network (cloud metadata, databases, admin panels).
The rule: the port must be in an allow list, and *every* address the name resolves to must be
public unless the administrator allow-listed it. The name is resolved once and the connection
goes to the checked address, so DNS rebinding between check and connect cannot work.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from emisario.core.errors import EmisarioError, InvalidValue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Explicit list, on top of ``is_global``: Python 3.11.7's ipaddress predates the CVE-2024-4032
# fixes, so ``is_global`` alone is wrong for some of these ranges.
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT, RFC 6598
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, holds the cloud metadata address 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
        "::/128",
        "::1/128",
        "::ffff:0:0/96",  # IPv4-mapped: checked through the embedded address as well
        "64:ff9b::/96",  # NAT64: embeds an IPv4 address
        "64:ff9b:1::/48",
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ...)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds an IPv4 address
        "3fff::/20",  # documentation, RFC 9637 (unknown to Python 3.11's ipaddress)
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)


class PolicyRefused(EmisarioError):
    """The target is not allowed. The message is deliberately the same whatever the reason
    the console shows, so the refusal does not reveal what listens where; ``reason`` is for
    the audit log only."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"target refused by the network policy ({reason})")


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """Return the addresses of ``host`` in the order to try them; raise ``OSError``
        (``socket.gaierror``) when the name does not resolve."""
        ...


class ResolverBusy(OSError):
    """Too many lookups are still waiting for a resolver that does not answer."""


def is_ip_literal(host: str) -> bool:
    """An IP address written as such: it is used as it is, never looked up."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SystemResolver:
    """The operating system's resolver, one daemon thread per lookup.

    ``getaddrinfo()`` blocks and cannot be interrupted. In a shared pool, a resolver that never
    answers would hold every worker thread, and each later test, even one to a healthy name,
    would queue behind the hung ones until its deadline: one bad DNS server would stop Probar
    for the whole process. A thread of its own per lookup means a hung lookup only ever costs
    its own caller (who stops waiting at the deadline) and the thread, which ends when the
    system resolver gives up. The capacity is bounded, not unlimited: past ``MAX_PENDING``
    lookups still waiting in the process, a new one is refused at once with
    :class:`ResolverBusy` (reported as a temporary DNS failure) instead of piling up threads.
    An IP literal is returned as it is, without a thread.
    """

    MAX_PENDING = 64
    _pending = 0
    _lock = threading.Lock()

    async def resolve(self, host: str, port: int) -> list[str]:
        if is_ip_literal(host):
            return [host]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[tuple[Any, ...]]] = loop.create_future()
        with SystemResolver._lock:
            if SystemResolver._pending >= self.MAX_PENDING:
                raise ResolverBusy(errno.EAGAIN, "too many DNS lookups are waiting for an answer")
            SystemResolver._pending += 1
        thread = threading.Thread(
            target=_lookup, args=(loop, future, host, port), name="emisario-dns", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            _release()
            raise
        infos = await future
        seen: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = str(sockaddr[0]).split("%", 1)[0]
            if address not in seen:
                seen.append(address)
        return seen


def _release() -> None:
    with SystemResolver._lock:
        SystemResolver._pending -= 1


def _lookup(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[list[tuple[Any, ...]]],
    host: str,
    port: int,
) -> None:
    """Runs in its own thread; hands the answer back to the loop if it is still waiting."""
    try:
        result: Any = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        failed = False
    except BaseException as exc:  # handed to the waiting coroutine, which raises it
        result, failed = exc, True
    finally:
        _release()

    def deliver() -> None:
        if future.done():  # the caller gave up (deadline): nobody is waiting
            return
        if failed:
            future.set_exception(result)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        loop.call_soon_threadsafe(deliver)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, NAT64, compatible), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = address.packed
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(packed[-4:])
    if packed[:12] == bytes(12) and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(packed[-4:])
    return None


def is_public(address: IPAddress) -> bool:
    """True when ``address`` is a public unicast address that embeds no non-public one."""
    if any(address in net for net in BLOCKED_NETWORKS if net.version == address.version):
        return False
    inner = embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    # ``is_global`` is true for unallocated IPv6 space (4000::/3, fe00::/9, ::/8 with the
    # IPv4-translated ::ffff:0:a.b.c.d form, ...): ``is_reserved`` catches those.
    return bool(address.is_global) and not address.is_multicast and not address.is_reserved


def parse_allow_entry(entry: str) -> IPNetwork | str:
    """An allow-list entry is a CIDR network / single address, or an exact host name."""
    text = entry.strip()
    if not text:
        raise InvalidValue("invalid_allow_entry", field="allow", value=entry)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    from emisario.core.addresses import normalize_host

    try:
        return normalize_host(text, field="allow")
    except InvalidValue:
        raise InvalidValue("invalid_allow_entry", field="allow", value=entry) from None


def _split_entries(entries: Sequence[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in entries:
        parsed = parse_allow_entry(entry)
        if isinstance(parsed, str):
            hosts.add(parsed)
        else:
            networks.append(parsed)
    return tuple(networks), frozenset(hosts)


@dataclass(frozen=True)
class NetworkPolicy:
    """Ports a test may use and non-public targets the administrator allows."""

    allowed_ports: frozenset[int] = frozenset({25, 465, 587, 2525})
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    plaintext_auth_networks: tuple[IPNetwork, ...] = ()
    """Where a password may travel unencrypted (an internal relay the administrator named)."""
    plaintext_auth_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(
        cls,
        *,
        ports: Iterable[int | str],
        allow: Sequence[str],
        plaintext_auth_allow: Sequence[str] = (),
    ) -> NetworkPolicy:
        networks, hosts = _split_entries(allow)
        plain_networks, plain_hosts = _split_entries(plaintext_auth_allow)
        checked_ports = frozenset(int(port) for port in ports)
        if any(not 1 <= port <= 65535 for port in checked_ports):
            raise InvalidValue("invalid_port", field="ports")
        return cls(checked_ports, networks, hosts, plain_networks, plain_hosts)

    def password_may_travel_unencrypted(self, host: str, address: str) -> bool:
        """The one rule for every path that logs in (Probar, Detectar, CRONUS): a password
        goes over a plain connection only to a host or network the administrator named."""
        if host in self.plaintext_auth_hosts:
            return True
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(
            parsed in network
            for network in self.plaintext_auth_networks
            if network.version == parsed.version
        )

    def check_port(self, port: int) -> None:
        if port not in self.allowed_ports:
            raise PolicyRefused(f"port {port} is not in the allowed ports")

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        if host in self.allowed_hosts:
            return True
        candidates = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        if any(
            candidate in network
            for candidate in candidates
            for network in self.allowed_networks
            if network.version == candidate.version
        ):
            return True
        return is_public(address)

    def check_addresses(self, host: str, addresses: Sequence[str]) -> list[IPAddress]:
        """Return the parsed addresses, or refuse if *any* of them is not allowed: a name that
        answers a public address first and a private one second is refused whole."""
        if not addresses:
            raise PolicyRefused("the name resolved to no address")
        parsed: list[IPAddress] = []
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                raise PolicyRefused(f"resolver returned a non-address {text!r}") from None
            if not self.address_allowed(host, address):
                raise PolicyRefused(f"{address} is not a public address")
            parsed.append(address)
        return parsed
