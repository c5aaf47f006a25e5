"""The month-end run: N account statements, sent side by side by four senders to one sink.

Run: ``.venv/bin/python bench/month_end.py [--count 3000] [--database sqlite|postgres]``
(``bench/install-smtp-sink`` first). ``--count 10000`` is the real month end (about 10 min).

Every side sends the same statements (Spanish text and HTML, about 3 KB, and a 40 KB PDF of
its own: about 59 KB on the wire) to the same Postfix ``smtp-sink`` on loopback, started by
this script with AUTH hidden (``-a``) and an account without a password:

a. raw: one persistent ``smtplib.SMTP`` session writing the statements, prebuilt as bytes,
   with ``sendmail``: the ceiling of one session. Then the same with 2 sessions in 2
   processes at once.
b. naive: connect, EHLO, one message, QUIT, for ``--naive-count`` of them.
c. django-post-office: its ``send_queued_mail`` command on its own SQLite queue (its own
   Django project, ``bench/postoffice_settings.py``), queued once, then one pass per round
   on the same queue (set back to queued), each in a subprocess and timed inside it once
   Django is set up, queued to sent.
d. Emisario: the statements queued once with ``enqueue_many`` (timed apart) and the queue
   kept in a copy, restored before each run; one ``emisario cronus --once`` worker
   subprocess, then 2 at once, each timed from the first ``start`` event (Django set up: a
   CRONUS in production is already running, and post-office is timed inside its set-up
   process too) to the last exit, every row checked "sent" in the database; the start-up is
   printed apart.

a., c. and d. run in turns, ``--rounds`` rounds of raw 1, Emisario 1 (then held to one
session), raw 2, Emisario 2, post-office, so a busy moment of this shared machine weighs on
both sides of a ratio. Prints each round, the
best of the rounds for each side and the ratios: emisario / raw (goal >= 0.8), 2 workers / 2
raw sessions (goal >= 0.8), emisario / post-office (goal >= 5), and the median of the
rounds' own ratios beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cronus_support as support

RESULT = "RESULT "


@dataclass
class Figures:
    """msg/s of every side (None: not measured)."""

    raw_1: float | None = None
    raw_2: float | None = None
    naive: float | None = None
    postoffice: float | None = None
    emisario_1: float | None = None
    emisario_2: float | None = None
    emisario_1s: float | None = None
    """One worker held to one session per account (``--sessions-per-account 1``)."""
    paired: dict[int, float] = field(default_factory=dict)
    """Workers (1, 2): the median over the rounds of emisario / raw measured in that round."""
    paired_postoffice: float | None = None
    """The median over the rounds of emisario 1 worker / post-office in that round."""
    notes: list[str] = field(default_factory=list)


# --- a, b: raw smtplib ------------------------------------------------------------------------


def prepare_raw(args: argparse.Namespace, port: int, figures: Figures):
    """The statements as bytes for the raw sessions, and the naive loop's figure."""
    count, pdf_bytes = args.count, args.pdf_bytes
    support.heading(f"Preparing {count} statements as bytes for the raw sessions")
    started = time.perf_counter()
    envelopes = support.raw_messages(count, pdf_bytes=pdf_bytes)
    size = sum(len(e.data) for e in envelopes) / len(envelopes)
    print(
        f"  {count} messages, {size / 1000:.1f} KB each on average, "
        f"built in {time.perf_counter() - started:.1f} s (not timed below)"
    )
    options = support.SessionOptions(port=port)
    support.raw_session(options, envelopes[: min(200, count)])  # warm-up: page cache, sink

    support.heading("b. naive: connect + EHLO + send + QUIT per message")
    subset = envelopes[: min(args.naive_count, count)]
    figures.naive = support.row(
        "one connection per message", len(subset), support.naive_sessions(options, subset)
    )
    return options, envelopes


# --- c: django-post-office --------------------------------------------------------------------


class PostOffice:
    """django-post-office in a process of its own (``bench.postoffice_settings``, its own
    SQLite queue): queued once, then one ``send_queued_mail`` pass per round, in turn with
    the other sides; each pass is timed inside its process, once Django is set up."""

    def __init__(self, port: int, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.directory = work / "postoffice"
        self.directory.mkdir()
        self.env = dict(os.environ)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.postoffice_settings",
                "EMISARIO_BENCH_POSTOFFICE_DIR": str(self.directory),
                "EMISARIO_BENCH_SINK_PORT": str(port),
                "PYTHONPATH": str(support.ROOT),
            }
        )

    def _run(self, step: str) -> dict | None:
        args = self.args
        command = [sys.executable, __file__, "--part", "postoffice", "--po-step", step]
        command += ["--workdir", str(self.directory), "--count", str(args.count)]
        command += ["--pdf-bytes", str(args.pdf_bytes)]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)  # noqa: S603
        results = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
        if done.returncode != 0 or not results:
            print(f"  post-office {step} failed (exit {done.returncode}):")
            print("    " + "\n    ".join((done.stdout + done.stderr).strip().splitlines()[-15:]))
            return None
        return json.loads(results[-1][len(RESULT) :])

    def queue(self) -> bool:
        result = self._run("queue")
        if result is None:
            return False
        seconds = result["queue_seconds"]
        print(
            f"  post-office: queued with mail.send() in one transaction: {seconds:.1f} s "
            f"({seconds / self.args.count * 1000:.2f} ms/msg, not in the rates below)"
        )
        return True

    def send_pass(self) -> float | None:
        """msg/s of one pass, queued -> sent; None when it failed or left rows unsent."""
        result = self._run("pass")
        if result is None:
            return None
        if result["sent"] != self.args.count:
            print(f"  post-office sent {result['sent']} of {self.args.count}")
            return None
        return support.rate(self.args.count, result["send_seconds"])


def postoffice_part(args: argparse.Namespace) -> None:
    """In the subprocess, under ``bench.postoffice_settings``: ``queue`` (migrate, queue every
    statement) or ``pass`` (every row queued again, then one send_queued_mail); prints its
    times."""
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from post_office import mail
    from post_office.models import STATUS, Email, Log

    if args.po_step == "queue":
        call_command("migrate", verbosity=0, interactive=False)
        started = time.perf_counter()
        with transaction.atomic():
            for number in range(args.count):
                item = support.statement_item(number, pdf_bytes=args.pdf_bytes)
                attachments = {
                    name: {"file": ContentFile(data), "mimetype": content_type}
                    for name, data, content_type in item["attachments"]
                }
                mail.send(
                    recipients=item["to"],
                    sender=f"{support.SENDER_NAME} <{support.SENDER}>",
                    subject=item["subject"],
                    message=item["text"],
                    html_message=item["html"],
                    attachments=attachments or None,
                )
        print(RESULT + json.dumps({"queue_seconds": time.perf_counter() - started}))
        return
    # the same queue again, as the other sides run theirs again
    Email.objects.update(status=STATUS.queued, last_updated=timezone.now())
    Log.objects.all().delete()
    started = time.perf_counter()
    call_command("send_queued_mail", processes=1, lockfile=str(Path(args.workdir) / "po-lock"))
    seconds = time.perf_counter() - started
    sent = Email.objects.filter(status=STATUS.sent).count()
    print(RESULT + json.dumps({"send_seconds": seconds, "sent": sent}))


# --- d: Emisario ------------------------------------------------------------------------------


def side_by_side(
    args, port: int, work: Path, figures: Figures, options, envelopes, postoffice
) -> None:
    """a., c. and d. in turns: each round runs raw 1 session, Emisario 1 worker (its default
    sessions per account, then held to one session), raw 2 sessions, Emisario 2 workers and
    a post-office pass (when ``postoffice``), one after the other on the same sink, so a busy
    moment of this shared machine falls on every side of a ratio; every Emisario run starts
    from the same queue."""
    kind, count = args.database, args.count
    if not support.worker_available():
        print(f"  {support.WORKER_MISSING}")
        figures.notes.append(support.WORKER_MISSING)
        return
    home = work / "emisario"
    home.mkdir()
    database = support.BenchDatabase(kind, work, label="month_end")
    support.django_setup(database, home)
    env = support.worker_env(database, home, [port])
    extra = support.worker_extra(args)
    try:
        support.heading(f"d. Emisario: enqueue_many, then emisario cronus --once ({kind})")
        idle = support.idle_worker(env, work, extra)
        if not idle.ok:
            print("  the worker failed on an empty queue:\n  " + idle.failure())
            return
        seconds = support.prepare_queue(
            database, count=count, pdf_bytes=args.pdf_bytes, account={"port": port}
        )
        print(
            f"  enqueue_many of {count}: {seconds:.1f} s ({seconds / count * 1000:.2f} ms/msg, "
            "not in the rates below)\n"
            f"  an idle worker (start-up, one empty poll, exit): {idle.seconds:.2f} s; the "
            "worker's rates run from its start event\n  (Django set up, as a running CRONUS "
            "is, and as post-office is timed) to its exit"
        )
        support.heading(
            f"a. + c. + d. side by side, {args.rounds} rounds: raw smtplib (persistent "
            "sessions, prebuilt bytes, sendmail()), Emisario and post-office"
        )
        sides: dict[str, list[float]] = {
            "raw_1": [],
            "emisario_1": [],
            "raw_2": [],
            "emisario_2": [],
            "emisario_1s": [],
            "postoffice": [],
        }
        restore = False
        for number in range(1, args.rounds + 1):
            line = [f"  round {number}:"]
            for sessions in (1, 2):
                if sessions == 1:
                    raw = support.raw_session(options, envelopes)
                else:
                    raw = support.raw_parallel(options, envelopes, 2)
                run, verdict = support.timed_run(
                    database, env, work, workers=sessions, count=count, extra=extra,
                    restore=restore,
                )  # fmt: skip
                restore = True
                if not verdict.startswith("verified"):
                    print(f"  Emisario, {sessions} worker(s): {verdict}")
                    return
                sides[f"raw_{sessions}"].append(support.rate(count, raw))
                sides[f"emisario_{sessions}"].append(support.rate(count, run.running))
                line.append(
                    f"raw {sessions} {sides[f'raw_{sessions}'][-1]:6.0f}, emisario {sessions} "
                    f"{sides[f'emisario_{sessions}'][-1]:6.0f} msg/s "
                    f"({sides[f'emisario_{sessions}'][-1] / sides[f'raw_{sessions}'][-1]:.2f}x)"
                )
                if sessions == 1:  # the same worker held to one session: session for session
                    single, verdict = support.timed_run(
                        database, env, work, workers=1, count=count,
                        extra=[*extra, "--sessions-per-account", "1"],
                    )  # fmt: skip
                    if not verdict.startswith("verified"):
                        print(f"  Emisario, 1 worker, 1 session: {verdict}")
                        return
                    sides["emisario_1s"].append(support.rate(count, single.running))
                    line.append(
                        f"1 session {sides['emisario_1s'][-1]:6.0f} "
                        f"({sides['emisario_1s'][-1] / sides['raw_1'][-1]:.2f}x)"
                    )
            if postoffice is not None:
                rate = postoffice.send_pass()
                if rate is not None:
                    sides["postoffice"].append(rate)
                    line.append(
                        f"post-office {rate:5.0f} (emisario 1 "
                        f"{sides['emisario_1'][-1] / rate:.2f}x)"
                    )
            print(" | ".join(line))
        print(f"  every Emisario run: verified, all {count} rows sent")
        print("  best of the rounds:")
        for key, name in (
            ("postoffice", "post-office send_queued_mail (5 threads)"),
            ("raw_1", "raw, 1 session"),
            ("raw_2", "raw, 2 sessions in 2 processes"),
            ("emisario_1", "cronus --once, 1 worker"),
            ("emisario_1s", "cronus --once, 1 worker, 1 session"),
            ("emisario_2", "cronus --once, 2 workers at once"),
        ):
            if not sides[key]:
                continue
            best = max(sides[key])
            setattr(figures, key, support.row(f"  {name}", count, count / best))
        for sessions in (1, 2):
            pairs = [
                ours / raw
                for ours, raw in zip(
                    sides[f"emisario_{sessions}"], sides[f"raw_{sessions}"], strict=True
                )
            ]
            figures.paired[sessions] = statistics.median(pairs)
        if len(sides["postoffice"]) == len(sides["emisario_1"]):
            figures.paired_postoffice = statistics.median(
                ours / theirs
                for ours, theirs in zip(sides["emisario_1"], sides["postoffice"], strict=True)
            )
    finally:
        from django.db import connections

        connections.close_all()
        database.drop()


def summary(figures: Figures) -> None:
    support.heading("Ratios")
    for sessions, name in ((1, "1 worker / raw 1 session"), (2, "2 workers / raw 2 sessions")):
        if sessions in figures.paired:
            print(f"  (each round's emisario {name}, median: {figures.paired[sessions]:.2f}x)")
    support.ratio("emisario 1 worker / raw 1 session", figures.emisario_1, figures.raw_1, goal=0.8)
    support.ratio(
        "emisario 1 worker, 1 session / raw 1 session",
        figures.emisario_1s,
        figures.raw_1,
        goal=0.8,
    )
    support.ratio(
        "emisario 2 workers / raw 2 sessions", figures.emisario_2, figures.raw_2, goal=0.8
    )
    if figures.paired_postoffice is not None:
        print(f"  (each round's emisario 1 worker / post-office, median: "
              f"{figures.paired_postoffice:.2f}x)")  # fmt: skip
    support.ratio("emisario 1 worker / post-office", figures.emisario_1, figures.postoffice, goal=5)
    if figures.raw_1 and figures.naive:
        print(f"  (raw 1 session / naive: {figures.raw_1 / figures.naive:.2f}x)")
    for note in figures.notes:
        print(f"  note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="statements (default 3000)")
    parser.add_argument("--naive-count", type=int, default=500)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--rounds", type=int, default=2, help="passes of every side on one queue; the best counts"
    )
    parser.add_argument("--pdf-bytes", type=int, default=support.PDF_BYTES)
    parser.add_argument("--batch-size", type=int, help="passed to the worker")
    parser.add_argument("--lease", type=int, help="passed to the worker (seconds)")
    parser.add_argument("--skip-postoffice", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--part", choices=["postoffice"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--po-step", choices=["queue", "pass"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "postoffice":
        postoffice_part(args)
        return
    if args.database == "postgres" and not support.postgres_available():
        raise SystemExit(f"no PostgreSQL answers at {support.PG_SERVER}")
    figures = Figures()
    print(
        f"Month end: {args.count} statements, {args.pdf_bytes} byte PDF each, "
        f"Emisario on {args.database}"
    )
    with support.workdir(keep=args.keep) as work, support.SmtpSink() as sink:
        print(f"  sink: smtp-sink on 127.0.0.1:{sink.port}")
        options, envelopes = prepare_raw(args, sink.port, figures)
        postoffice = None
        if not args.skip_postoffice:
            support.heading("c. django-post-office (defaults: batches of 100, 5 threads)")
            postoffice = PostOffice(sink.port, args, work)
            if not postoffice.queue():
                postoffice = None
        side_by_side(args, sink.port, work, figures, options, envelopes, postoffice)
    summary(figures)


if __name__ == "__main__":
    main()
