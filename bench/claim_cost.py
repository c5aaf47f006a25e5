"""What a claim costs on PostgreSQL on a fresh table, and after a month end's worth of sent rows.

Run: ``.venv/bin/python bench/claim_cost.py [--rounds 200] [--processed 50000]``

A worker's cycle, repeated ``--rounds`` times: ``claims.claim(owner, 100, lease)``, then the
claimed rows marked sent in one UPDATE (what the worker writes when the sink said 250). Each
claim and each mark is timed; the table always holds ``rounds * 100`` due rows when a phase
starts, so only the history differs:

1. fresh: nothing processed before;
2. after ``--processed`` (50,000) rows went through the same claim and mark, right away (their
   dead tuples still in the table and in the due index, whatever autovacuum managed);
3. the same after ``VACUUM ANALYZE`` of the table.

Each phase runs ``ANALYZE`` after inserting its due rows (statistics only: dead tuples stay),
so the phases differ by their history, not by how stale the planner's statistics are. The
claims of a phase make dead tuples of their own as they go (each round marks 100 rows sent),
as a real worker does.

Prints mean, median and p95 per phase and the ratio of phase 2 to phase 1 (goal <= 1.5), plus
the plan of the claim's SELECT (it should use the partial index ``outbox_message_due``). On a
shared machine the mean and p95 move with whatever else runs: the median is steadier.
"""

from __future__ import annotations

import argparse
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


def phase(name: str, rounds: int, next_number: int) -> tuple[list[float], list[float]]:
    add_due(rounds * CLAIM, next_number)
    analyze()
    stats = table_stats()
    cycle(3, timed=False)  # warm-up: cached plan, buffers
    claim_ms, mark_ms = cycle(rounds - 3)
    print(
        f"  {name:<28} claim mean {statistics.fmean(claim_ms):6.2f} ms  "
        f"median {statistics.median(claim_ms):6.2f}  p95 {p95(claim_ms):6.2f}   "
        f"mark sent mean {statistics.fmean(mark_ms):6.2f}  p95 {p95(mark_ms):6.2f}   "
        f"({stats} at start)"
    )
    return claim_ms, mark_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="claims per phase")
    parser.add_argument("--processed", type=int, default=50_000, help="rows sent before phase 2")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.rounds < 10:
        raise SystemExit("--rounds must be at least 10")
    if not support.postgres_available():
        raise SystemExit(f"claim_cost needs PostgreSQL at {support.PG_SERVER}")
    if not (support.SRC / "emisario" / "outbox" / "claims.py").exists():
        raise SystemExit("emisario.outbox.claims is not there yet: nothing to measure")
    with support.workdir(keep=args.keep) as work:
        database = support.BenchDatabase("postgres", work, label="claims")
        support.django_setup(database, work)
        try:
            support.make_account(25)
            print(
                f"Claim cost on PostgreSQL: claim({CLAIM}) + mark sent, {args.rounds} rounds "
                "per phase"
            )
            fresh, _ = phase("1. fresh table", args.rounds, 0)
            number = args.rounds * CLAIM
            started = time.perf_counter()
            add_due(args.processed, number)
            number += args.processed
            cycle(-(-args.processed // 500), limit=500, timed=False)
            print(
                f"  ({args.processed} rows claimed and marked sent in "
                f"{time.perf_counter() - started:.1f} s)"
            )
            after, _ = phase(f"2. after {args.processed} sent", args.rounds, number)
            number += args.rounds * CLAIM
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE outbox_outboundmessage")
            vacuumed, _ = phase("3. the same after VACUUM", args.rounds, number)
            print(f"\n  plan of the claim's SELECT:\n    {plan()}")
            support.heading("Ratios (phase 2 / phase 1)")
            support.ratio(
                "claim mean",
                statistics.fmean(after),
                statistics.fmean(fresh),
                goal=1.5,
                at_least=False,
            )
            support.ratio("claim p95", p95(after), p95(fresh), goal=1.5, at_least=False)
            median = statistics.median(after) / statistics.median(fresh)
            print(f"  {'(claim median)':<44} {median:6.2f}x")
            print(
                f"  {'(after VACUUM / fresh, mean)':<44} "
                f"{statistics.fmean(vacuumed) / statistics.fmean(fresh):6.2f}x"
            )
        finally:
            from django.db import connections

            connections.close_all()
            database.drop()


if __name__ == "__main__":
    main()
