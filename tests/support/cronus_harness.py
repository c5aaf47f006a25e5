"""Real CRONUS workers against a real SMTP server and a real database, for the robustness tests.

Nothing here shares pytest's in-memory test database: a :class:`Rig` migrates its own database
(a SQLite file or a PostgreSQL database of the test's own, from ``sqlite_url`` /
``postgres_url``) with ``emisario migrate`` in a subprocess, seeds it with a short Python
snippet run under the same settings the workers use, starts ``emisario cronus`` processes,
signals them, and reads the outcome back with plain SQL (sqlite3 or psycopg).

The SMTP side is :class:`RecordingSmtpd`, the tests' :class:`~tests.support.smtpd.FaultySmtpd`
with a handler that notes every message the moment its data is complete: its Message-ID and
when it came. It notes it *before* the reply (which a test may delay, so a kill lands
mid-send), as a real MTA that has queued the message delivers it even when the client dies
before reading the 250. Those are the duplicates no mail system avoids; the outbox must show
them (an Attempt with ``possibly_delivered``) and they must carry the same Message-ID.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope, Session

from emisario.core.secrets import SecretBox
from emisario.core.smtp.steps import Step
from emisario.demo.mailbox import PLAIN
from tests.config import serving
from tests.support.smtpd import FaultySmtpd, Script, ScriptedHandler, ScriptedSMTP

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EMISARIO = VENV_BIN / "emisario"
SENDER = "cobranza@acme.example"
COMMAND_TIMEOUT = 120
"""Seconds a migrate or seed subprocess may take; a guard, not a measure."""

FINAL = ("sent", "partially_sent", "failed", "cancelled")


# --- the SMTP server ------------------------------------------------------------------------


@dataclass
class Arrival:
    """One message the server took whole (its data complete)."""

    message_id: str
    at: float
    """``time.monotonic()`` when the data was complete."""
    wall: float
    """``time.time()`` at the same moment, to compare with the database's timestamps."""
    session: int
    """Which SMTP session (connection) brought it, numbered from 0 in the order opened."""
    answered: bool = False
    """The 250 was written: False when the client was gone before the (delayed) reply."""


class RecordingHandler(ScriptedHandler):
    """The scripted handler, noting each complete message before the scripted DATA delay."""

    server: RecordingSmtpd

    async def handle_DATA(self, smtp: ScriptedSMTP, session: Session, envelope: Envelope) -> str:
        refusal = self.server.script.replies.get(Step.DATA)
        arrival = None
        if refusal is None or refusal.startswith("2"):
            arrival = self.server.note(envelope.original_content or b"", smtp)
        self.server.in_data_changed(+1)
        try:
            reply = await super().handle_DATA(smtp, session, envelope)
        finally:
            self.server.in_data_changed(-1)
        if arrival is not None:
            arrival.answered = True
        return reply


class RecordingSmtpd(FaultySmtpd):
    """A plain-text relay on 127.0.0.1 (no TLS, no AUTH: an internal relay, as the INTERNO
    accounts of the tests are) that records every message's Message-ID and arrival time.

    ``data_delay`` is the wait before the reply to DATA, changeable any time with
    :meth:`set_data_delay`: long enough and a SIGKILL lands while the worker waits for the 250.
    """

    def __init__(self, *, data_delay: float = 0.0) -> None:
        super().__init__(
            {},
            listeners=(PLAIN,),
            auth_required=False,
            script=Script(delays={Step.DATA: data_delay} if data_delay else {}),
            handler_factory=RecordingHandler,
        )
        self.arrivals: list[Arrival] = []
        self._in_data = 0
        self._session_numbers: dict[int, int] = {}
        self._record_lock = threading.Lock()

    @property
    def port(self) -> int:  # type: ignore[override]
        return self.ports[PLAIN]

    def set_data_delay(self, seconds: float) -> None:
        delays = dict(self.script.delays)
        if seconds:
            delays[Step.DATA] = seconds
        else:
            delays.pop(Step.DATA, None)
        self.script.delays = delays

    # -- called from the server's loop thread ---------------------------------------------------

    def note(self, data: bytes, smtp: ScriptedSMTP) -> Arrival:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
        message_id = str(headers.get("Message-ID", "")).strip()
        with self._record_lock:
            number = self._session_numbers.setdefault(id(smtp), len(self._session_numbers))
            arrival = Arrival(message_id, time.monotonic(), time.time(), number)
            self.arrivals.append(arrival)
        return arrival

    def in_data_changed(self, change: int) -> None:
        with self._record_lock:
            self._in_data += change

    # -- read from the test's thread ------------------------------------------------------------

    @property
    def in_data(self) -> int:
        """Messages whose data is complete and whose reply has not been written yet."""
        with self._record_lock:
            return self._in_data

    def open_sessions(self) -> int:
        """Connections open right now (aiosmtpd drops the transport when one closes)."""
        return sum(1 for smtp in list(self._sessions) if smtp.transport is not None)

    def snapshot(self) -> list[Arrival]:
        with self._record_lock:
            return list(self.arrivals)

    def counts(self) -> Counter[str]:
        return Counter(arrival.message_id for arrival in self.snapshot())

    def wait_for(self, condition: Callable[[RecordingSmtpd], bool], timeout: float) -> bool:
        """Poll ``condition(self)`` until true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return True
            time.sleep(0.02)
        return condition(self)


@contextlib.contextmanager
def recording_smtpd(*, data_delay: float = 0.0) -> Iterator[RecordingSmtpd]:
    server = RecordingSmtpd(data_delay=data_delay)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the database, read with plain SQL ------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    id: int
    message_id: str
    status: str
    attempts: int
    lease_owner: str
    lease_expires_at: Any
    next_attempt_at: Any
    last_error_code: str
    last_error_text: str


@dataclass(frozen=True)
class AttemptRow:
    id: int
    message: int
    """The OutboundMessage's primary key (column ``message_id`` of ``outbox_attempt``)."""
    worker: str
    outcome: str
    possibly_delivered: bool
    step: str
    started_at: Any
    finished_at: Any


class OutboxDb:
    """Plain SQL over a ``DATABASE_URL``: a fresh connection per read, so nothing here holds a
    lock or a snapshot while workers write."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite:")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        if self.is_sqlite:
            connection = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=20)
        else:
            import psycopg

            connection = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        try:
            yield connection
        finally:
            connection.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._connect() as connection:
            return list(connection.execute(sql).fetchall())

    def messages(self) -> list[MessageRow]:
        rows = self.query(
            "SELECT id, message_id, status, attempts, lease_owner, lease_expires_at,"
            " next_attempt_at, last_error_code, last_error_text"
            " FROM outbox_outboundmessage ORDER BY id"
        )
        return [MessageRow(*row) for row in rows]

    def attempts(self) -> list[AttemptRow]:
        rows = self.query(
            "SELECT id, message_id, worker, outcome, possibly_delivered, step, started_at,"
            " finished_at FROM outbox_attempt ORDER BY id"
        )
        return [AttemptRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7]) for r in rows]

    def statuses(self) -> Counter[str]:
        return Counter(
            {
                status: count
                for status, count in self.query(
                    "SELECT status, COUNT(*) FROM outbox_outboundmessage GROUP BY status"
                )
            }
        )

    def unfinished(self) -> int:
        """Rows not in a final status (queued, sending, deferred)."""
        placeholders = ", ".join(f"'{status}'" for status in FINAL)
        return self.query(
            f"SELECT COUNT(*) FROM outbox_outboundmessage WHERE status NOT IN ({placeholders})"  # noqa: S608
        )[0][0]


# --- environment, migrate, seed -------------------------------------------------------------


def worker_env(home: Path, database_url: str, smtp_port: int, **extra: str) -> dict[str, str]:
    """The environment of a deployment running CRONUS with the base settings: the database,
    the keys, and a network policy that lets it reach the test server (loopback, its port)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMISARIO_", "DJANGO_", "DATABASE_URL", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="emisario.config.settings.base",
        DATABASE_URL=database_url,
        EMISARIO_HOME=str(home),
        EMISARIO_SECRET_KEY=secrets.token_urlsafe(50),
        EMISARIO_SECRET_KEYS=SecretBox.generate_key(),
        EMISARIO_PROBE_ALLOW="127.0.0.1",
        EMISARIO_PROBE_PORTS=str(smtp_port),
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _run(
    command: list[str], env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return serving.run(command, env, stdin, cwd=env["EMISARIO_HOME"], timeout=COMMAND_TIMEOUT)


def migrate(env: Mapping[str, str]) -> None:
    done = _run([str(EMISARIO), "migrate", "--no-input", "--verbosity", "0"], env)
    assert done.returncode == 0, f"emisario migrate failed:\n{done.stdout}{done.stderr}"


SEED = """
import json, sys

import django

django.setup()
from django.db import transaction

from emisario.accounts.models import AccountType, Company, SmtpAccount
from emisario.outbox.models import OutboundMessage
from emisario.outbox.services import enqueue_many

spec = json.load(sys.stdin)
with transaction.atomic():
    company, _ = Company.objects.get_or_create(code="ACME", defaults={"name": "Acme S.A."})
    account = SmtpAccount.objects.create(
        company=company,
        account_type=AccountType.objects.get(code="INTERNO"),
        priority=5,
        host="127.0.0.1",
        port=spec["port"],
        security="none",
        sender=spec["sender"],
        login="",
        password_token="",
    )
    if spec["limits"] is not None:
        from emisario.outbox.models import AccountLimits

        AccountLimits.objects.create(account=account, **spec["limits"])
    every = spec["attachment_every"]
    items = []
    for n in range(spec["count"]):
        item = {
            "company": company,
            "to": [f"cliente{n:05d}@example.com"],
            "subject": f"Estado de cuenta {n:05d}",
            "text": f"Cliente {n:05d}: saldo {n * 37 % 100000}.00 MXN al corte.\\n",
        }
        if every and n % every == 0:
            content = f"estado de cuenta {n:05d}\\n".encode() * 16
            item["attachments"] = [(f"estado-{n:05d}.txt", content, "text/plain")]
        items.append(item)
    ids = enqueue_many(items)
pairs = OutboundMessage.objects.filter(pk__in=ids).values_list("pk", "message_id")
print(json.dumps({"company": company.pk, "account": account.pk, "messages": dict(pairs)}))
"""


@dataclass(frozen=True)
class Seeded:
    company: int
    account: int
    message_ids: dict[int, str]
    """Row id -> Message-ID header, for every queued message."""


def seed(
    env: Mapping[str, str],
    count: int,
    *,
    port: int,
    limits: Mapping[str, int | None] | None = None,
    attachment_every: int = 10,
) -> Seeded:
    """Company ACME, one INTERNO account on ``port`` (with ``AccountLimits`` when ``limits``
    is given) and ``count`` messages, each its own subject, body and recipient; every
    ``attachment_every``-th carries a small text attachment."""
    spec = {
        "count": count,
        "port": port,
        "sender": SENDER,
        "limits": dict(limits) if limits is not None else None,
        "attachment_every": attachment_every,
    }
    done = _run([str(VENV_BIN / "python"), "-c", SEED], env, stdin=json.dumps(spec))
    assert done.returncode == 0, f"seeding failed:\n{done.stdout}{done.stderr}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    messages = {int(pk): message_id for pk, message_id in answer["messages"].items()}
    assert len(messages) == count, f"seeded {len(messages)} messages, wanted {count}"
    return Seeded(answer["company"], answer["account"], messages)


# --- workers --------------------------------------------------------------------------------


class Worker:
    """One ``emisario cronus`` process, in a session of its own (signals reach it alone);
    stdout and stderr go to files under the rig's log directory."""

    def __init__(self, env: Mapping[str, str], logs: Path, worker_id: str, options: list[str]):
        self.worker_id = worker_id
        self.command = [str(EMISARIO), "cronus", "--worker-id", worker_id, *options]
        self.stderr_path = logs / f"{worker_id}.stderr"
        self.stdout_path = logs / f"{worker_id}.stdout"
        with self.stderr_path.open("wb") as err, self.stdout_path.open("wb") as out:
            self.process = subprocess.Popen(
                self.command,
                env=dict(env),
                cwd=env["EMISARIO_HOME"],
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self.signals: list[tuple[float, str]] = []
        """(seconds since start, signal name) of every signal the rig sent."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def alive(self) -> bool:
        return self.process.poll() is None

    def _signal(self, signum: signal.Signals) -> None:
        if self.alive():
            self.signals.append((time.monotonic() - self.started, signum.name))
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL, then reap it: the crash a power cut or the OOM killer causes."""
        self._signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The JSON lines of stderr (one per attempt, by contract); other lines are skipped."""
        found = []
        for line in self.stderr().splitlines():
            line = line.strip()
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    value = json.loads(line)
                    if isinstance(value, dict):
                        found.append(value)
        return found

    def describe(self, tail: int = 15) -> str:
        """For assertion messages: id, exit code, signals, the end of stderr."""
        lines = self.stderr().splitlines()
        shown = "\n    ".join(lines[-tail:])
        return (
            f"worker {self.worker_id} pid {self.pid} rc={self.returncode} "
            f"signals={self.signals}\n    {shown}"
        )


@dataclass
class Rig:
    """A database, a server and the workers started against them; the workers still running
    at the end are SIGKILLed (each by its own pid)."""

    home: Path
    database_url: str
    server: RecordingSmtpd
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.logs = self.home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = worker_env(self.home, self.database_url, self.server.port, **self.extra_env)
        self.db = OutboxDb(self.database_url)

    def prepare(self, count: int, **options: Any) -> Seeded:
        migrate(self.env)
        return seed(self.env, count, port=self.server.port, **options)

    def start(self, worker_id: str, *options: str) -> Worker:
        worker = Worker(self.env, self.logs, worker_id, list(options))
        self.workers.append(worker)
        return worker

    def once(self, worker_id: str, *options: str, timeout: float = 90) -> Worker:
        """A ``--once`` worker, run to its end (SIGKILLed after ``timeout`` seconds, and then
        its exit code is -9)."""
        worker = self.start(worker_id, "--once", *options)
        if worker.wait(timeout) is None:
            worker.kill()
        return worker

    def close(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.kill()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_until_drained(self, timeout: float) -> bool:
        """Poll the database until no row is queued, deferred or sending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.db.unfinished() == 0:
                return True
            time.sleep(0.25)
        return self.db.unfinished() == 0

    def worker_logs(self, tail: int = 15, only: set[str] | None = None) -> str:
        return "\n".join(
            worker.describe(tail)
            for worker in self.workers
            if only is None or worker.worker_id in only
        )


# --- the tally ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the server got against what was queued, and what the outbox says about it."""

    queued: dict[int, str]
    arrived: Counter[str]
    messages: list[MessageRow]
    attempts: list[AttemptRow]

    @property
    def lost(self) -> list[str]:
        """Queued Message-IDs the server never got."""
        return sorted(mid for mid in self.queued.values() if self.arrived[mid] == 0)

    @property
    def strangers(self) -> list[str]:
        """Message-IDs the server got that were never queued (a rewritten or missing header)."""
        known = set(self.queued.values())
        return sorted(mid for mid in self.arrived if mid not in known)

    @property
    def duplicates(self) -> dict[str, int]:
        """Message-ID -> times it arrived, for those that arrived more than once."""
        return {mid: n for mid, n in sorted(self.arrived.items()) if n > 1}

    @property
    def extra_arrivals(self) -> int:
        return sum(n - 1 for n in self.duplicates.values())

    def rows_in(self, *statuses: str) -> list[MessageRow]:
        return [row for row in self.messages if row.status in statuses]

    @property
    def not_sent(self) -> list[MessageRow]:
        return [row for row in self.messages if row.status != "sent"]

    def attempts_of(self, message_id: str) -> list[AttemptRow]:
        pk = {mid: pk for pk, mid in self.queued.items()}.get(message_id)
        return [attempt for attempt in self.attempts if attempt.message == pk]

    @property
    def unexplained_duplicates(self) -> dict[str, list[AttemptRow]]:
        """Duplicated messages without an Attempt marked ``possibly_delivered``."""
        found = {}
        for mid in self.duplicates:
            attempts = self.attempts_of(mid)
            if not any(attempt.possibly_delivered for attempt in attempts):
                found[mid] = attempts
        return found

    @property
    def flagged(self) -> list[str]:
        """Message-IDs with an Attempt marked ``possibly_delivered``."""
        pks = {attempt.message for attempt in self.attempts if attempt.possibly_delivered}
        return sorted(self.queued[pk] for pk in pks)

    def outcomes(self) -> Counter[str]:
        return Counter(attempt.outcome for attempt in self.attempts)

    def summary(self) -> str:
        statuses = Counter(row.status for row in self.messages)
        return (
            f"queued={len(self.queued)} arrived_distinct={len(self.arrived)} "
            f"arrivals={sum(self.arrived.values())} lost={len(self.lost)} "
            f"duplicates={len(self.duplicates)} (extra arrivals {self.extra_arrivals}) "
            f"statuses={dict(statuses)} attempt_outcomes={dict(self.outcomes())} "
            f"possibly_delivered={sum(a.possibly_delivered for a in self.attempts)}"
        )


def tally(rig: Rig, seeded: Seeded) -> Tally:
    return Tally(seeded.message_ids, rig.server.counts(), rig.db.messages(), rig.db.attempts())


def sliding_window_peak(times: list[float], window: float) -> tuple[int, float]:
    """The most arrivals in any ``[t, t + window)`` that starts at an arrival, and that t."""
    ordered = sorted(times)
    best, start_at, end = 0, 0.0, 0
    for start, t in enumerate(ordered):
        end = max(end, start)
        while end < len(ordered) and ordered[end] < t + window:
            end += 1
        if end - start > best:
            best, start_at = end - start, t
    return best, start_at


sqlite_pass_only = pytest.mark.sqlite_pass
"""For the SQLite-file variants: they run once, in the SQLite pass (the PostgreSQL pass leaves
them out, see tests/conftest.py; the PostgreSQL variants are marked ``postgres_pass``)."""
