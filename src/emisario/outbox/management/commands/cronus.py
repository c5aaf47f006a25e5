"""``emisario cronus``: the worker that sends the outbox (see ``emisario.outbox.worker``)."""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from emisario.outbox import status
from emisario.outbox.worker import SESSIONS_PER_ACCOUNT, Cronus, Options

SQLITE_MIN = (3, 35, 0)
"""UPDATE … RETURNING, which the claim needs, arrived in SQLite 3.35."""


MAX_SESSIONS_PER_ACCOUNT = 20


def _positive(kind: type, name: str, most: float | None = None):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most}, not {text}")
        return value

    parse.__name__ = name  # argparse names the option in its error
    return parse


class Command(BaseCommand):
    help = (
        "Send the outbox: claim due messages, send them through each company's accounts, "
        "retry, fail over, honour limits. Runs until SIGTERM (or --once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            "--batch",
            action="store_true",
            dest="once",
            help="exit when nothing is due and nothing is in flight",
        )
        parser.add_argument(
            "--max-messages",
            type=_positive(int, "--max-messages"),
            help="exit after this many messages were handled",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive(int, "--batch-size"),
            default=100,
            help="messages claimed at a time (default 100)",
        )
        parser.add_argument(
            "--lease",
            type=_positive(float, "--lease"),
            default=60.0,
            help="seconds a claim lasts unless renewed (default 60)",
        )
        parser.add_argument(
            "--poll",
            type=_positive(float, "--poll"),
            help="seconds between looks for due mail when idle (default 1; 0.5 on SQLite)",
        )
        parser.add_argument(
            "--sessions-per-account",
            type=_positive(int, "--sessions-per-account", MAX_SESSIONS_PER_ACCOUNT),
            default=SESSIONS_PER_ACCOUNT,
            help=(
                f"SMTP sessions this worker opens to one account at most (default "
                f"{SESSIONS_PER_ACCOUNT}; fewer where the account's limit of concurrent "
                f"sessions says so; at most {MAX_SESSIONS_PER_ACCOUNT})"
            ),
        )
        parser.add_argument("--worker-id", default="", help="name in leases and logs")
        parser.add_argument(
            "--status", action="store_true", help="print the queue by status and account, exit"
        )
        parser.add_argument("--json", action="store_true", help="with --status: JSON output")

    def handle(self, *args, **options) -> None:
        if options["status"]:
            data = status.snapshot()
            self.stdout.write(
                json.dumps(data, indent=2) if options["json"] else status.render(data)
            )
            return
        if connection.vendor == "sqlite" and sqlite3.sqlite_version_info < SQLITE_MIN:
            raise CommandError(
                f"SQLite {sqlite3.sqlite_version} is too old for CRONUS: 3.35 or newer is needed"
            )
        if len(options["worker_id"]) > 100:
            raise CommandError("--worker-id: at most 100 characters")
        poll = options["poll"] or (0.5 if connection.vendor == "sqlite" else 1.0)
        cronus = Cronus(
            Options(
                worker_id=options["worker_id"],
                batch_size=options["batch_size"],
                lease=timedelta(seconds=options["lease"]),
                poll=poll,
                once=options["once"],
                max_messages=options["max_messages"],
                sessions_per_account=options["sessions_per_account"],
            )
        )
        cronus.install_signals()
        cronus.run()
