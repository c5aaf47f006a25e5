"""What Probar's staged test and Detectar's fan-out cost, measured against a real local server.

Run: ``.venv/bin/python bench/probe_overhead.py [--rounds 40] [--security tls|starttls]
[--rtt 40]``

Everything runs twice: straight to the mailbox on loopback, then through a local TCP proxy that
delays every packet by half of ``--rtt`` milliseconds each way (0 skips it), because on loopback
a round trip is free and the numbers would hide what an extra one costs on a real network.

1. ``diagnose()`` (policy check, one DNS answer reused, our own connect, TLS facts, EHLO, AUTH,
   MAIL, RCPT, DATA, each timed) against a plain ``aiosmtplib.send`` of the same message, with
   the same credentials and TLS context, to the same aiosmtpd mailbox. Rounds alternate between
   the two so drift hits both alike. Prints the medians and their ratio.
2. ``detect()`` trying every combination at once against the same combinations tried one after
   another, without a password. Prints the medians and the speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import aiosmtplib  # noqa: E402

from emisario.core.netpolicy import NetworkPolicy, SystemResolver  # noqa: E402
from emisario.core.secrets import Secret  # noqa: E402
from emisario.core.smtp.confirmation import confirmation_message  # noqa: E402
from emisario.core.smtp.detect import detect  # noqa: E402
from emisario.core.smtp.diagnose import diagnose  # noqa: E402
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint  # noqa: E402
from emisario.demo.mailbox import STARTTLS, TLS, LoopbackSmtpd  # noqa: E402

SENDER = "cobranzas@example.com"
PASSWORD = "bench-password"
HOST = "localhost"


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays each direction by ``one_way`` seconds (pure latency:
    chunks are queued with a due time, so throughput is not throttled). TLS passes through."""

    def __init__(self, target_port: int, one_way: float) -> None:
        self.target_port = target_port
        self.one_way = one_way
        self.port = 0

    async def start(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        except (OSError, asyncio.CancelledError):  # the end of the run cancels open sessions
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + self.one_way, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.CancelledError):
            sender.cancel()
            writer.close()


async def timed(call: Callable[[], Awaitable[object]]) -> tuple[float, object]:
    started = time.perf_counter()
    result = await call()
    return (time.perf_counter() - started) * 1000, result


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def summary(name: str, samples: list[float]) -> str:
    return (
        f"  {name:<34} median {statistics.median(samples):8.2f} ms"
        f"   min {min(samples):8.2f}   max {max(samples):8.2f}   (n={len(samples)})"
    )


async def proxied(ports: list[int], rtt_ms: float) -> dict[int, int]:
    """Map each real port to itself, or to a delaying proxy in front of it."""
    if not rtt_ms:
        return {port: port for port in ports}
    mapping = {}
    for port in ports:
        proxy = await DelayProxy(port, rtt_ms / 2000).start()
        mapping[port] = proxy.port
    return mapping


async def bench_probe(
    server: LoopbackSmtpd, rounds: int, security: SecurityMode, rtt_ms: float
) -> None:
    real = server.port(TLS if security is SecurityMode.TLS else STARTTLS)
    port = (await proxied([real], rtt_ms))[real]
    received_before = len(server.messages)
    policy = NetworkPolicy.from_settings(ports=[port], allow=["127.0.0.0/8"])
    context = server.client_context()
    endpoint = SmtpEndpoint(
        host=HOST, port=port, security=security, sender=SENDER, password=Secret(PASSWORD)
    )
    message = confirmation_message(endpoint, recipient=SENDER)
    resolver = SystemResolver()

    async def staged() -> object:
        diagnosis = await diagnose(
            endpoint,
            recipient=SENDER,
            message=message,
            policy=policy,
            tls_context=context,
            resolver=resolver,
            local_hostname="bench.example.com",
        )
        if not diagnosis.ok:
            raise SystemExit(f"diagnose failed: {diagnosis.failure}")
        return diagnosis

    async def plain_send() -> object:
        return await aiosmtplib.send(
            message,
            sender=SENDER,
            recipients=[SENDER],
            hostname=HOST,
            port=port,
            username=SENDER,
            password=PASSWORD,
            use_tls=security is SecurityMode.TLS,
            start_tls=security is SecurityMode.STARTTLS,
            tls_context=context,
            local_hostname="bench.example.com",
        )

    await staged()  # warm-up: certificate loading, first handshake
    await plain_send()
    ours: list[float] = []
    theirs: list[float] = []
    for round_number in range(rounds):
        pair = [(ours, staged), (theirs, plain_send)]
        if round_number % 2:
            pair.reverse()
        for samples, call in pair:
            elapsed, _ = await timed(call)
            samples.append(elapsed)
    expected = (rounds + 1) * 2
    print(f"\nProbar: one full test over {security}, {where(rtt_ms)}")
    print(summary("emisario diagnose()", ours))
    print(summary("aiosmtplib.send()", theirs))
    ratio = statistics.median(ours) / statistics.median(theirs)
    received = len(server.messages) - received_before
    print(f"  ratio diagnose / send: {ratio:.2f}x   (messages received: {received}"
          f", expected {expected})")  # fmt: skip


def where(rtt_ms: float) -> str:
    return f"through a proxy adding {rtt_ms:g} ms RTT" if rtt_ms else "straight over loopback"


async def bench_detect(server: LoopbackSmtpd, rounds: int, rtt_ms: float) -> None:
    ports = await proxied([server.port(TLS), server.port(STARTTLS)], rtt_ms)
    tls, starttls = ports[server.port(TLS)], ports[server.port(STARTTLS)]
    nothing = closed_port()  # not proxied: a proxy would accept the connection, a closed port not
    combinations = [
        (tls, SecurityMode.TLS),
        (starttls, SecurityMode.STARTTLS),
        (nothing, SecurityMode.STARTTLS),
        (starttls, SecurityMode.NONE),
    ]
    policy = NetworkPolicy.from_settings(ports=[tls, starttls, nothing], allow=["127.0.0.0/8"])
    context = server.client_context()

    def run(combos: list[tuple[int, SecurityMode]]) -> Callable[[], Awaitable[object]]:
        async def call() -> object:
            return await detect(
                host=HOST,
                sender=SENDER,
                password=None,
                policy=policy,
                tls_context=context,
                combinations=combos,
                exhaustive=True,
            )

        return call

    async def one_after_another() -> object:
        return [await run([combo])() for combo in combinations]

    await run(combinations)()
    concurrent: list[float] = []
    sequential: list[float] = []
    for round_number in range(rounds):
        pair = [(concurrent, run(combinations)), (sequential, one_after_another)]
        if round_number % 2:
            pair.reverse()
        for samples, call in pair:
            elapsed, _ = await timed(call)
            samples.append(elapsed)
    print(
        f"\nDetectar: {len(combinations)} combinations, no password, every probe to the end, "
        f"{where(rtt_ms)}"
    )
    print(summary("detect() concurrent", concurrent))
    print(summary("one after another", sequential))
    speedup = statistics.median(sequential) / statistics.median(concurrent)
    print(f"  speed-up concurrent vs sequential: {speedup:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--security", choices=[SecurityMode.TLS.value, SecurityMode.STARTTLS.value], default="tls"
    )
    parser.add_argument("--rtt", type=float, default=40.0, help="simulated RTT in ms (0: skip)")
    args = parser.parse_args()
    # aiosmtpd logs a deprecation notice on every AUTH: noise in a benchmark
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    security = SecurityMode(args.security)
    with LoopbackSmtpd({SENDER: PASSWORD}, listeners=(STARTTLS, TLS), hostname=HOST) as server:
        asyncio.run(bench_probe(server, args.rounds, security, 0))
        asyncio.run(bench_detect(server, max(5, args.rounds // 2), 0))
        if args.rtt:
            slow_rounds = max(5, args.rounds // 4)
            asyncio.run(bench_probe(server, slow_rounds, security, args.rtt))
            asyncio.run(bench_detect(server, slow_rounds, args.rtt))


if __name__ == "__main__":
    main()
