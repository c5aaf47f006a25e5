"""A DNS server that never answers must cost only the tests that need it.

Run in a network and mount namespace of its own: loopback up, ``/etc/resolv.conf`` pointing at
a "server" on 127.0.0.1:53 that swallows every query, and a real SMTP mailbox on loopback.
Twelve Probar runs to names that need DNS hang at the DNS step until their deadline; then a run
to an IP address (never resolved) and one to ``localhost`` (answered from /etc/hosts, through
the same system resolver) must both succeed. With lookups in a shared pool of 8 threads, both
failed at DNS: they queued behind the hung lookups.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.requirements import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]

INSIDE = r"""
import asyncio, json, os, socket, sys
from emisario.core.netpolicy import NetworkPolicy
from emisario.core.secrets import Secret
from emisario.core.smtp.confirmation import confirmation_message
from emisario.core.smtp.diagnose import diagnose
from emisario.core.smtp.endpoint import SmtpEndpoint
from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd

swallow_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
swallow_udp.bind(("127.0.0.1", 53))
swallow_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
swallow_tcp.bind(("127.0.0.1", 53))
swallow_tcp.listen(64)

USER, PASSWORD = "ana@example.com", "clave-9"
with LoopbackSmtpd({USER: PASSWORD}, listeners=(STARTTLS,)) as server:
    port = server.port(STARTTLS)
    policy = NetworkPolicy.from_settings(ports=[port], allow=["127.0.0.0/8", "::1"])
    context = server.client_context()

    async def probe(host, deadline):
        endpoint = SmtpEndpoint(host=host, port=port, security="starttls", sender=USER,
                                password=Secret(PASSWORD))
        diagnosis = await diagnose(
            endpoint, recipient=USER, message=confirmation_message(endpoint, recipient=USER),
            policy=policy, deadline=deadline, tls_context=context)
        failure = diagnosis.failure
        return {"host": host, "ok": diagnosis.ok,
                "failure": [failure.step, failure.advice] if failure else None}

    async def main():
        hung = await asyncio.gather(*(probe(f"hung-{n}.example.com", 1.0) for n in range(12)))
        after = [await probe("127.0.0.1", 5.0), await probe("localhost", 5.0)]
        return {"hung": hung, "after": after, "delivered": len(server.messages)}

    result = asyncio.run(main())
print(json.dumps(result), flush=True)
os._exit(0)  # hung lookup threads may still be waiting; the verdict is out
"""


def _namespace_command(resolv_conf: Path) -> list[str] | None:
    for tool in ("unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool}(8) is not installed: no network namespace for the hung resolver")
    probe = subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        skip_or_fail(f"unshare -n -m is not permitted here: {probe.stderr.decode().strip()}")
    return [
        "unshare",
        "-n",
        "-m",
        "sh",
        "-c",
        f'ip link set lo up && mount --bind "{resolv_conf}" /etc/resolv.conf && exec "$0" "$@"',
        sys.executable,
        "-c",
        INSIDE,
    ]


def test_a_resolver_that_never_answers_starves_no_later_probe(tmp_path):
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\noptions timeout:20 attempts:3\n")
    command = _namespace_command(resolv_conf)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(command, capture_output=True, timeout=60, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert [probe["failure"] for probe in result["hung"]] == [["dns", "dns_temporary"]] * 12
    assert result["after"] == [
        {"host": "127.0.0.1", "ok": True, "failure": None},
        {"host": "localhost", "ok": True, "failure": None},
    ]
    assert result["delivered"] == 2


def test_past_the_cap_a_lookup_is_refused_at_once_as_a_temporary_dns_failure(monkeypatch):
    """The capacity is bounded: hung lookups beyond ``MAX_PENDING`` are refused immediately
    (no thread piles up) and Probar says "DNS temporarily unavailable", not "unexpected"."""
    import asyncio
    import socket
    import threading

    from emisario.core.netpolicy import NetworkPolicy, ResolverBusy, SystemResolver
    from emisario.core.smtp.advice import Advice
    from emisario.core.smtp.diagnose import diagnose
    from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
    from emisario.core.smtp.faults import FailureKind, failure_kind

    release = threading.Event()
    started = threading.Semaphore(0)

    def hung(*args, **kwargs):
        started.release()
        release.wait(20)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hung)
    monkeypatch.setattr(SystemResolver, "MAX_PENDING", 3)

    async def run():
        waiting = [
            asyncio.ensure_future(SystemResolver().resolve(f"h{n}.example", 25)) for n in range(3)
        ]
        for _ in range(3):
            await asyncio.to_thread(started.acquire)
        try:
            await SystemResolver().resolve("one-more.example", 25)
        except ResolverBusy:
            busy = True
        else:
            busy = False
        endpoint = SmtpEndpoint(
            host="mail.example.com",
            port=587,
            security=SecurityMode.STARTTLS,
            sender="ana@example.com",
        )
        diagnosis = await diagnose(
            endpoint,
            recipient="ana@example.com",
            message=None,
            policy=NetworkPolicy(),
            deadline=2.0,
        )
        release.set()
        await asyncio.gather(*waiting, return_exceptions=True)
        return busy, diagnosis

    try:
        busy, diagnosis = asyncio.run(run())
    finally:
        release.set()
    assert busy
    assert diagnosis.failure.advice == Advice.DNS_TEMPORARY
    assert failure_kind(diagnosis.failure.advice) is FailureKind.TRANSIENT
