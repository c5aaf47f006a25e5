"""How much memory one CRONUS worker holds while it drains a large queue: it must stay flat.

Run: ``.venv/bin/python bench/worker_memory.py [--count 20000] [--database sqlite|postgres]``
(``--count 100000`` is the full check; it takes as long as the worker needs for 100,000 sends).

Queues ``--count`` small messages (a few hundred bytes of text, one recipient, no
attachment), then runs one ``emisario cronus --once`` worker against Postfix's ``smtp-sink``
until it exits, sampling its resident memory (RSS, the whole process tree) every 0.5 s with
psutil when the venv has it, else from ``/proc/PID/status`` (VmRSS). Prints the largest RSS
and the RSS at 10 %, 50 % and 90 % of the run (goal: under 150 MB and flat, i.e. growing less
than 10 % between 10 % and 90 %), the send rate, and checks every row is "sent".

For speed one message is queued with ``enqueue_many`` (validated, its body rendered and
stored as usual) and the others are ``bulk_create`` copies of its row, each with its own
Message-ID and recipient, sharing its stored body: a body is content-addressed, so equal
bodies share one file in Emisario anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cronus_support as support

GOAL_MB = 150
FLAT = 0.10
"""At most this growth between the samples at 10 % and at 90 % of the run."""


def queue_small(count: int) -> float:
    from django.db import connections, transaction
    from django.utils import timezone

    from emisario.outbox.models import OutboundMessage, Recipient
    from emisario.outbox.services import enqueue_many

    started = time.perf_counter()
    text = (
        "Estimado cliente:\n\nLe recordamos que su pago vence el 10 de diciembre. Si ya lo "
        "realizó, por favor ignore este aviso.\n\nAtentamente,\nCobranza Acme\n"
    )
    item = {
        "company": support.COMPANY_CODE,
        "to": [support.recipient(0)],
        "subject": "Recordatorio de pago — Acme",
        "text": text,
    }
    (template_id,) = enqueue_many([item])
    template = OutboundMessage.objects.get(pk=template_id)
    fields = {
        f.attname: getattr(template, f.attname)
        for f in OutboundMessage._meta.concrete_fields
        if f.attname not in {"id", "message_id", "idempotency_key"}
    }
    now = timezone.now()
    fields.update(next_attempt_at=now, created_at=now, expires_at=now + timedelta(days=5))
    domain = template.message_id.rpartition("@")[2].rstrip(">")
    with transaction.atomic():
        for first in range(1, count, 5000):
            numbers = range(first, min(first + 5000, count))
            messages = OutboundMessage.objects.bulk_create(
                OutboundMessage(**fields, message_id=f"<mem.{n}.{now:%s}@{domain}>")
                for n in numbers
            )
            Recipient.objects.bulk_create(
                Recipient(message=m, kind="to", address=support.recipient(n), position=0)
                for m, n in zip(messages, numbers, strict=True)
            )
    connections.close_all()
    return time.perf_counter() - started


def rss_reader():
    """A function giving the RSS in bytes of a process and its children (None once gone)."""
    try:
        import psutil
    except ImportError:
        psutil = None

    if psutil is not None:

        def with_psutil(pid: int) -> int | None:
            try:
                process = psutil.Process(pid)
                tree = [process, *process.children(recursive=True)]
                return sum(p.memory_info().rss for p in tree)
            except psutil.Error:
                return None

        return with_psutil, "psutil"

    def children(pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
        return found

    def vmrss(pid: int) -> int | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def with_proc(pid: int) -> int | None:
        own = vmrss(pid)
        if own is None:
            return None
        return own + sum(vmrss(child) or 0 for child in children(pid))

    return with_proc, "/proc/PID/status VmRSS"


def at_fraction(samples: list[tuple[float, int]], fraction: float) -> int:
    end = samples[-1][0]
    return next(rss for t, rss in samples if t >= fraction * end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages (default 20000)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--batch-size", type=int, help="passed to the worker")
    parser.add_argument("--lease", type=int, help="passed to the worker (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if not support.worker_available():
        raise SystemExit(support.WORKER_MISSING)
    if args.database == "postgres" and not support.postgres_available():
        raise SystemExit(f"no PostgreSQL answers at {support.PG_SERVER}")
    read_rss, how = rss_reader()
    with support.workdir(keep=args.keep) as work, support.SmtpSink() as sink:
        database = support.BenchDatabase(args.database, work, label="worker_memory")
        support.django_setup(database, work)
        try:
            support.make_account(sink.port)
            seconds = queue_small(args.count)
            print(
                f"Worker memory: {args.count} small messages queued on {args.database} in "
                f"{seconds:.1f} s; RSS from {how} every {args.interval:g} s"
            )
            env = support.worker_env(database, work, [sink.port])
            log = work / "worker-memory.log"
            started = time.perf_counter()
            process = support.start_worker("bench-memory", env, log, support.worker_extra(args))
            samples: list[tuple[float, int]] = []
            while process.poll() is None:
                rss = read_rss(process.pid)
                if rss is not None:
                    samples.append((time.perf_counter() - started, rss))
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(args.interval)
            elapsed = time.perf_counter() - started
            if process.returncode != 0 or not samples:
                tail = log.read_text(errors="replace").strip().splitlines()[-15:]
                raise SystemExit(f"worker exited {process.returncode}:\n  " + "\n  ".join(tail))
            report(args, samples, elapsed)
        finally:
            from django.db import connections

            connections.close_all()
            database.drop()


def report(args: argparse.Namespace, samples: list[tuple[float, int]], elapsed: float) -> None:
    mb = 1024 * 1024
    print()
    support.row("cronus --once, 1 worker", args.count, elapsed, support.verify_all_sent(args.count))
    peak = max(rss for _, rss in samples)
    points = {f: at_fraction(samples, f) for f in (0.1, 0.5, 0.9)}
    print(
        f"  RSS max {peak / mb:7.1f} MB   at 10% {points[0.1] / mb:7.1f} MB   "
        f"at 50% {points[0.5] / mb:7.1f} MB   at 90% {points[0.9] / mb:7.1f} MB   "
        f"({len(samples)} samples)"
    )
    growth = (points[0.9] - points[0.1]) / points[0.1]
    under = peak / mb < GOAL_MB
    flat = growth <= FLAT
    print(
        f"  goal: max under {GOAL_MB} MB: {'met' if under else 'NOT met'}; flat "
        f"(10%->90% growth {growth * 100:+.1f} %, at most {FLAT * 100:.0f} %): "
        f"{'met' if flat else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
