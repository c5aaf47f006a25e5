"""What queueing a month end costs: ``enqueue`` one by one, ``enqueue_many``, and a bare
``bulk_create`` of the same rows, side by side on SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/enqueue.py [--count 2000] [--database sqlite|postgres|both]
[--pdf-bytes 40000] [--profile]``

The same N statements (Spanish text and HTML, about 3 KB, and a 40 KB PDF of their own,
built before the clock starts) are queued four ways, each on a freshly migrated database:

1. ``enqueue`` in a loop, each call its own transaction: an ERP that queues each statement
   as it creates it;
2. ``enqueue`` in a loop inside one ``transaction.atomic()``: the same calls without a commit
   each;
3. ``enqueue_many`` of all of them (one transaction, rows written in chunks);
4. ``bulk_create`` of the same ``OutboundMessage`` and ``Recipient`` rows: no validation, no
   files, no rendering; the floor any intake pays for its rows.

Prints ms per message and the ratios to the bare ``bulk_create``. ``--database both`` (the
default when PostgreSQL answers at 127.0.0.1:5432) runs each database in a subprocess of its
own, because Django's settings are chosen once per process. ``--profile`` adds the top of a
cProfile of ``enqueue_many``: where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cronus_support as support


def loop_each(items: list[dict]) -> None:
    from emisario.outbox.services import enqueue

    for item in items:
        enqueue(**item)


def loop_atomic(items: list[dict]) -> None:
    from django.db import transaction

    from emisario.outbox.services import enqueue

    with transaction.atomic():
        for item in items:
            enqueue(**item)


def many(items: list[dict]) -> None:
    from emisario.outbox.services import enqueue_many

    enqueue_many(items)


def bare(items: list[dict]) -> None:
    """The rows ``enqueue_many`` writes for a message and its recipient, as plain
    ``bulk_create`` calls: no checks, no Message-ID domain lookup, no files, no MIME."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from emisario.accounts.models import AccountType, Company
    from emisario.outbox.models import OutboundMessage, Recipient

    company = Company.objects.get(code=support.COMPANY_CODE)
    interno = AccountType.objects.get(code="INTERNO")
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            messages = OutboundMessage.objects.bulk_create(
                OutboundMessage(
                    company=company,
                    account_type=interno,
                    subject=item["subject"],
                    text_body=item["text"],
                    html_body=item["html"],
                    message_id=f"<bare.{start + n}.{now.timestamp():.0f}@acme.example>",
                    date=now,
                    recipient_count=1,
                    next_attempt_at=now,
                    expires_at=now + timedelta(days=5),
                    created_at=now,
                )
                for n, item in enumerate(chunk)
            )
            Recipient.objects.bulk_create(
                Recipient(message=message, kind="to", address=item["to"][0], position=0)
                for message, item in zip(messages, chunk, strict=True)
            )


METHODS: list[tuple[str, Callable[[list[dict]], None]]] = [
    ("enqueue, a transaction each", loop_each),
    ("enqueue, all in one transaction", loop_atomic),
    ("enqueue_many", many),
    ("bulk_create, bare rows", bare),
]


def measure(args: argparse.Namespace) -> None:
    """In this process: one database, every method on a fresh copy of it."""
    with support.workdir(keep=args.keep) as work:
        database = support.BenchDatabase(args.database, work, label="enqueue")
        support.django_setup(database, work)
        try:
            support.heading(
                f"Queueing {args.count} statements on {args.database} "
                f"({args.pdf_bytes} byte PDF each)"
            )
            items = list(support.statement_items(args.count, pdf_bytes=args.pdf_bytes))
            results: dict[str, float] = {}
            for name, method in METHODS:
                support.reset_django_database(database)
                support.make_account(25)  # the Message-ID's domain comes from the account
                started = time.perf_counter()
                method(items)
                results[name] = time.perf_counter() - started
                support.row(name, args.count, results[name])
            floor = results["bulk_create, bare rows"]
            print("  ratios to the bare bulk_create:")
            for name, _method in METHODS[:-1]:
                print(f"    {name:<42} {results[name] / floor:6.2f}x")
            each = results["enqueue, a transaction each"] / results["enqueue_many"]
            print(f"  {'enqueue, a transaction each / enqueue_many':<44} {each:6.2f}x")
            if args.profile:
                profile_many(database, items)
        finally:
            from django.db import connections

            connections.close_all()
            database.drop()


def profile_many(database: support.BenchDatabase, items: list[dict]) -> None:
    support.reset_django_database(database)
    support.make_account(25)
    profiler = cProfile.Profile()
    profiler.enable()
    many(items)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"emisario|django/db|posix|hashlib|psycopg", 25)
    support.heading("cProfile of enqueue_many (cumulative, top 25 of emisario/Django db calls)")
    print(out.getvalue().split("\n", 6)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="statements (default 2000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--pdf-bytes", type=int, default=support.PDF_BYTES, help="0: no PDF")
    parser.add_argument("--profile", action="store_true", help="cProfile enqueue_many")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.database is None:
        args.database = "both" if support.postgres_available() else "sqlite"
        if args.database == "sqlite":
            print(f"(no PostgreSQL at {support.PG_SERVER}: SQLite only)")
    if args.database == "postgres" and not support.postgres_available():
        raise SystemExit(f"no PostgreSQL answers at {support.PG_SERVER}")
    if args.database != "both":
        measure(args)
        return
    for kind in ("sqlite", "postgres"):
        command = [sys.executable, __file__, "--database", kind, "--count", str(args.count)]
        command += ["--pdf-bytes", str(args.pdf_bytes)]
        command += ["--profile"] if args.profile else []
        sys.stdout.flush()
        subprocess.run(command, check=True)  # noqa: S603 - this script, our arguments


if __name__ == "__main__":
    main()
