"""What issue 6's safety costs, measured side by side in one run.

1. Building the confirmation mail with our header writer (``emisario.core.mail``) vs.
   Python's ``EmailMessage`` with the SMTP policy (what Probar used before, and what let an
   encoded-word inject a header).
2. Redacting a reply by meaning (``redact_text``) vs. the old plain substring replacement.
3. A name lookup in a thread of its own per lookup (``SystemResolver``) vs. a shared pool of
   8 threads (the old resolver), for ``localhost`` (answered from /etc/hosts).

Run: ``.venv/bin/python bench/headers_and_lookups.py``. Prints medians and ratios.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import statistics
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from emisario.core.mail.message import TextMessage
from emisario.core.netpolicy import SystemResolver
from emisario.core.smtp.redact import REDACTED, redact_text

SENDER, NAME = "cobranza@acme.example", "Cobranza — Acme S.A. de C.V."
SUBJECT = "Estado de cuenta de diciembre — señor Núñez, vencimiento «30/12»"
BODY = "Estimado cliente:\n\nAdjuntamos su estado de cuenta.\n" * 20


def ours() -> bytes:
    return TextMessage(
        sender=SENDER, sender_name=NAME, to=("cliente@example.com",), subject=SUBJECT, body=BODY
    ).as_bytes()


def email_package() -> bytes:
    message = EmailMessage(policy=SMTP)
    message["Subject"] = SUBJECT
    message["From"] = f"{NAME} <{SENDER}>"
    message["To"] = "cliente@example.com"
    message["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain="acme.example")
    message.set_content(BODY, cte="quoted-printable")
    return message.as_bytes()


def timed(function, repeat: int, rounds: int = 7) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        samples.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(samples)


def report(title: str, a_name: str, a: float, b_name: str, b: float) -> None:
    print(title)
    print(f"  {a_name:<34} median {a:9.1f} µs")
    print(f"  {b_name:<34} median {b:9.1f} µs")
    print(f"  ratio: {a / b:.2f}x\n")


def main() -> None:
    report("Building one confirmation mail", "emisario.core.mail", timed(ours, 300),
           "email.message + policy.SMTP", timed(email_package, 300))  # fmt: skip

    secrets = ["correct horse 9", "AGFuYUBleGFtcGxlLmNvbQBjb3JyZWN0IGhvcnNlIDk="]
    reply = "5.7.8 Username and Password not accepted. For more information, go to\n" * 3

    def old() -> str:
        text = reply
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    report("Redacting a three-line reply", "redact_text (by meaning)",
           timed(lambda: redact_text(reply, secrets), 2000),
           "str.replace (old)", timed(old, 2000))  # fmt: skip

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)

    async def pooled() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(pool, socket.getaddrinfo, "localhost", 25)

    async def own_thread() -> None:
        await SystemResolver().resolve("localhost", 25)

    def lookups(kind) -> float:
        async def run() -> float:
            samples = []
            for _ in range(200):
                started = time.perf_counter()
                await kind()
                samples.append((time.perf_counter() - started) * 1e6)
            return statistics.median(samples)

        return asyncio.run(run())

    report("Resolving localhost", "thread per lookup (new)", lookups(own_thread),
           "shared pool of 8 (old)", lookups(pooled))  # fmt: skip
    pool.shutdown()


if __name__ == "__main__":
    main()
