"""``emisario sample-statements``: write a month-end run of sample statements (JSON Lines and
one PDF each) for the demo and the benchmarks; ``emisario send --batch`` queues them.

It only writes files: no database is needed, so a benchmark can prepare its input first."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emisario.core.addresses import normalize_host
from emisario.core.errors import InvalidValue
from emisario.outbox.samples import write_statements

MAX_COUNT = 1_000_000


def _number(low: int, high: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"write a whole number from {low:,} to {high:,}, not {value!r}"
            )
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Write N sample account statements (Spanish mail, one distinct PDF each) as "
        "DIR/statements.jsonl, ready for: emisario send --batch DIR/statements.jsonl"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=_number(1, MAX_COUNT), required=True, metavar="N")
        parser.add_argument("--company", required=True, metavar="CODE", help="the sending company")
        parser.add_argument("--out", required=True, metavar="DIR", help="created when missing")
        parser.add_argument("--domain", default="clientes.example", help="the customers' domain")
        parser.add_argument(
            "--pdf-bytes",
            type=_number(0, 20_000_000),
            default=40_000,
            metavar="N",
            help="about how large each PDF is (default 40000)",
        )
        parser.add_argument("--seed", type=int, default=0, help="the same seed, the same files")
        parser.add_argument("--month", metavar="YYYY-MM", help="the period (default this month)")

    def handle(self, *args: Any, **options: Any) -> None:
        company = options["company"].strip()
        if not company or any(c.isspace() for c in company):
            raise CommandError(f"--company {company!r}: write a company code such as ACME.")
        try:
            domain = normalize_host(options["domain"], field="--domain")
        except InvalidValue:
            raise CommandError(
                f"--domain {options['domain']!r}: write a domain name such as clientes.example."
            ) from None
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: is a file, not a folder.")
        started = time.monotonic()
        try:
            target = write_statements(
                out,
                count=options["count"],
                company=company,
                domain=domain,
                pdf_bytes=options["pdf_bytes"],
                seed=options["seed"],
                month=options["month"],
            )
        except ValueError as exc:  # the month
            raise CommandError(f"--month: {exc}.") from None
        except OSError as exc:
            raise CommandError(f"--out {out}: cannot write there ({exc.strerror}).") from None
        self.stdout.write(
            f"Wrote {options['count']} statements and their PDFs to {out} in "
            f"{time.monotonic() - started:.1f} s. Queue them with:\n"
            f"  emisario send --batch {target}"
        )
