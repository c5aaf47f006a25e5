"""``emisario prune_outbox --days N``: delete finished mail older than N days."""

from __future__ import annotations

import argparse
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser

from emisario.outbox.retention import prune


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days, not {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 day, not {text}")
    return value


class Command(BaseCommand):
    help = (
        "Delete messages finished (sent, partially sent, failed, cancelled) more than --days "
        "ago, with their attempts and recipients, and the files no message uses any more. "
        "Queued, deferred and sending messages are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=_days, required=True, help="retention in days")
        parser.add_argument("--dry-run", action="store_true", help="only count what would go")

    def handle(self, *args, **options) -> None:
        result = prune(older_than=timedelta(days=options["days"]), dry_run=options["dry_run"])
        if options["dry_run"]:
            self.stdout.write(f"{result.messages} finished message(s) would be deleted.")
            return
        self.stdout.write(
            f"Deleted {result.messages} finished message(s), {result.contents} unused "
            f"content(s), {result.files} file(s), {result.reservations} old reservation(s)."
        )
