"""What a claim costs on PostgreSQL on a fresh table, and after a month end's worth of sent rows.

Run: ``.venv/bin/python bench/claim_cost.py [--rounds 200] [--processed 50000]``

A worker's cycle: ``claims.claim(owner, 100, lease)``, then the claimed rows marked sent in one
UPDATE (what the worker writes when the sink said 250). Each claim and each mark is timed. Three
databases, each with a process of its own, hold the three histories:

1. fresh: nothing processed before;
2. after ``--processed`` (50,000) rows went through the same claim and mark, right away (their
   dead tuples still in the table and in the due index, whatever autovacuum managed);
3. the same history, then ``VACUUM`` of the table.

Each then gets ``rounds * 100`` due rows and ``ANALYZE`` (statistics only: dead tuples stay), so
they differ by their history alone. The cycles run **in turns**, one cycle of each database per
round in an order that rotates: a busy moment of the shared machine falls on every side of the
ratio alike (the phases used to run one after the other, and a disk stall during one of them
moved its mean by half). The claims make dead tuples of their own as they go (each round marks
100 rows sent), as a real worker does.

Prints mean, median and p95 per history, the ratio of 2 to 1 (goal <= 1.5) and the median of
the rounds' own ratios, plus the plan of the claim's SELECT (it should use the partial index
``outbox_message_due``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cronus_support as support

LEASE = timedelta(seconds=60)
CLAIM = 100


def add_due(count: int, start: int) -> None:
    """``count`` queued messages with one recipient each, due now (bare rows: a claim reads
    only the message table)."""
    from django.db import transaction
    from django.utils import timezone

    from emisario.accounts.models import AccountType, Company
    from emisario.outbox.models import OutboundMessage, Recipient

    company = Company.objects.get(code=support.COMPANY_CODE)
    interno = AccountType.objects.get(code="INTERNO")
    now = timezone.now()
    with transaction.atomic():
        for first in range(start, start + count, 5000):
            numbers = range(first, min(first + 5000, start + count))
            messages = OutboundMessage.objects.bulk_create(
                OutboundMessage(
                    company=company,
                    account_type=interno,
                    subject=f"Estado de cuenta {n}",
                    text_body="Adjuntamos su estado de cuenta.",
                    message_id=f"<claim.{n}@acme.example>",
                    date=now,
                    recipient_count=1,
                    next_attempt_at=now,
                    expires_at=now + timedelta(days=5),
                    created_at=now,
                )
                for n in numbers
            )
            Recipient.objects.bulk_create(
                Recipient(message=m, kind="to", address=support.recipient(n))
                for m, n in zip(messages, numbers, strict=True)
            )


def mark_sent(ids: list[int]) -> None:
    from django.db.models import F
    from django.utils import timezone

    from emisario.outbox.models import OutboundMessage

    now = timezone.now()
    OutboundMessage.objects.filter(pk__in=ids).update(
        status="sent",
        lease_owner="",
        lease_expires_at=None,
        attempts=F("attempts") + 1,
        finished_at=now,
    )


def cycle(rounds: int, limit: int = CLAIM, *, timed: bool = True) -> tuple[list, list]:
    from emisario.outbox import claims

    claim_ms: list[float] = []
    mark_ms: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        ids = claims.claim("bench-claim", limit, LEASE)
        claimed = time.perf_counter()
        if not ids:
            raise RuntimeError("claim() returned nothing although rows are due")
        mark_sent(ids)
        if timed:
            claim_ms.append((claimed - started) * 1000)
            mark_ms.append((time.perf_counter() - claimed) * 1000)
    return claim_ms, mark_ms


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def table_stats() -> str:
    from django.db import connection

    from emisario.outbox.models import OutboundMessage

    time.sleep(0.6)  # the statistics collector publishes every 500 ms
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = %s",
            [OutboundMessage._meta.db_table],
        )
        live, dead = cursor.fetchone()
    return f"{live} live / {dead} dead tuples"


def plan() -> str:
    from django.db import connection
    from django.utils import timezone

    from emisario.outbox import claims

    pick = getattr(claims, "_PICK_DUE", None)
    if pick is None:
        return "(claims._PICK_DUE not found: plan not shown)"
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + pick, [timezone.now(), CLAIM])
        return "\n    ".join(line for (line,) in cursor.fetchall())


def analyze() -> None:
    """Fresh statistics, as autovacuum's ANALYZE would give soon after a big insert: without
    them the planner guesses about the new due rows and phase 1 measures the guess."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outbox_outboundmessage")


HISTORIES = ("fresh", "after", "vacuumed")
TITLES = {
    "fresh": "1. fresh table",
    "after": "2. after {processed} sent",
    "vacuumed": "3. the same after VACUUM",
}


def prepare(history: str, processed: int, rounds: int) -> str:
    """Give this process's database its history, then the due rows every history starts
    with. Returns the table's tuple counts when the timed cycles begin."""
    from django.db import connection

    support.make_account(25)
    number = 0
    if history != "fresh":
        add_due(processed, number)
        number += processed
        cycle(-(-processed // 500), limit=500, timed=False)
        if history == "vacuumed":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM outbox_outboundmessage")
    add_due((rounds + 3) * CLAIM, number)
    analyze()
    stats = table_stats()
    cycle(3, timed=False)  # warm-up: cached plan, buffers
    return stats


def serve(history: str, database, work: Path, processed: int, rounds: int, pipe) -> None:
    """One history's process: prepare, then one timed cycle per ``"cycle"`` received."""
    support.django_setup(database, work)
    try:
        pipe.send(("ready", prepare(history, processed, rounds), plan()))
        while pipe.recv() == "cycle":
            claim_ms, mark_ms = cycle(1)
            pipe.send((claim_ms[0], mark_ms[0]))
    finally:
        from django.db import connections

        connections.close_all()
        pipe.close()


def summary(title: str, claim_ms: list[float], mark_ms: list[float], stats: str) -> None:
    print(
        f"  {title:<28} claim mean {statistics.fmean(claim_ms):6.2f} ms  "
        f"median {statistics.median(claim_ms):6.2f}  p95 {p95(claim_ms):6.2f}   "
        f"mark sent mean {statistics.fmean(mark_ms):6.2f}  p95 {p95(mark_ms):6.2f}   "
        f"({stats} at start)"
    )


def main() -> None:
    import multiprocessing

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="claims per history")
    parser.add_argument("--processed", type=int, default=50_000, help="rows sent before 2 and 3")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.rounds < 10:
        raise SystemExit("--rounds must be at least 10")
    if args.processed < 1:
        raise SystemExit("--processed must be at least 1")
    if not support.postgres_available():
        raise SystemExit(f"claim_cost needs PostgreSQL at {support.PG_SERVER}")
    if not (support.SRC / "emisario" / "outbox" / "claims.py").exists():
        raise SystemExit("emisario.outbox.claims is not there yet: nothing to measure")
    spawn = multiprocessing.get_context("spawn")
    with support.workdir(keep=args.keep) as work:
        databases = {
            h: support.BenchDatabase("postgres", work, label=f"claims_{h}") for h in HISTORIES
        }
        pipes, processes = {}, []
        try:
            print(
                f"Claim cost on PostgreSQL: claim({CLAIM}) + mark sent, {args.rounds} rounds, "
                f"the three histories in turns (preparing {args.processed} sent rows for 2 and 3)"
            )
            started = time.perf_counter()
            for history in HISTORIES:
                ours, theirs = spawn.Pipe()
                process = spawn.Process(
                    target=serve,
                    args=(history, databases[history], work, args.processed, args.rounds, theirs),
                )
                process.start()
                processes.append(process)
                pipes[history] = ours
            ready = {h: pipes[h].recv() for h in HISTORIES}
            print(f"  (histories prepared in {time.perf_counter() - started:.1f} s)")
            claims = {h: [] for h in HISTORIES}
            marks = {h: [] for h in HISTORIES}
            for number in range(args.rounds):
                shift = number % len(HISTORIES)
                for history in HISTORIES[shift:] + HISTORIES[:shift]:
                    pipes[history].send("cycle")
                    claim_ms, mark_ms = pipes[history].recv()
                    claims[history].append(claim_ms)
                    marks[history].append(mark_ms)
            for history in HISTORIES:
                title = TITLES[history].format(processed=args.processed)
                summary(title, claims[history], marks[history], ready[history][1])
            print(f"\n  plan of the claim's SELECT (history 2):\n    {ready['after'][2]}")
            fresh, after, vacuumed = (claims[h] for h in HISTORIES)
            support.heading("Ratios (history 2 / history 1)")
            support.ratio(
                "claim mean",
                statistics.fmean(after),
                statistics.fmean(fresh),
                goal=1.5,
                at_least=False,
            )
            support.ratio("claim p95", p95(after), p95(fresh), goal=1.5, at_least=False)
            median = statistics.median(after) / statistics.median(fresh)
            paired = statistics.median(a / f for a, f in zip(after, fresh, strict=True))
            print(f"  {'(claim median)':<44} {median:6.2f}x")
            print(f"  {'(median of the rounds own ratios)':<44} {paired:6.2f}x")
            print(
                f"  {'(after VACUUM / fresh, mean)':<44} "
                f"{statistics.fmean(vacuumed) / statistics.fmean(fresh):6.2f}x"
            )
        finally:
            for pipe in pipes.values():
                with contextlib.suppress(OSError):
                    pipe.send("stop")
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            for database in databases.values():
                database.drop()


if __name__ == "__main__":
    main()
