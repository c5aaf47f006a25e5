"""What the CRONUS benchmarks share: the sink, the databases, the statements, the worker.

Not a benchmark itself. Every script in ``bench/`` that measures CRONUS imports this module
(it puts ``src/`` and the repository root on ``sys.path``, so ``bench.settings`` is importable)
and keeps its own file for what it measures.

- :class:`SmtpSink` runs Postfix's ``smtp-sink`` (``bench/install-smtp-sink``) on a free
  loopback port and stops it by its pid.
- :class:`BenchDatabase` is a fresh SQLite file or a fresh PostgreSQL database, created and
  dropped by the run (PostgreSQL: ``postgres@127.0.0.1:5432``, trust authentication).
- :func:`statement_item` is one month-end statement (Spanish text and HTML, about 3 KB, and a
  40 KB PDF whose bytes are its own), the same for every side of a comparison because it is
  built from its number alone; :func:`statement_bytes` is the same statement as the bytes a
  raw SMTP session writes.
- :func:`worker_env` and :func:`run_workers` start ``emisario cronus --once`` as real
  subprocesses, with the environment the worker needs (network policy, keys, the database).
"""

from __future__ import annotations

import base64
import contextlib
import multiprocessing
import os
import quopri
import random
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.header import Header
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
for _path in (str(SRC), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

SINK_BINARY = Path("/usr/sbin/smtp-sink")
WORKER_COMMAND = SRC / "emisario" / "outbox" / "management" / "commands" / "cronus.py"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
COMPANY_CODE = "ACME"
COMPANY_NAME = "Acme Distribuciones S.A. de C.V."
SENDER = "cobranza@acme.example"
SENDER_NAME = "Cobranza Acme"
PDF_BYTES = 40_000
BENCH_SECRET_KEY = "bench-only-not-secret"


# --- output -----------------------------------------------------------------------------------


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def row(name: str, count: int, seconds: float, note: str = "") -> float:
    """Print one measured line (msg/s, total seconds, ms per message) and return msg/s."""
    per_second = rate(count, seconds)
    extra = f"   {note}" if note else ""
    print(
        f"  {name:<44} {per_second:9.1f} msg/s   {seconds:8.2f} s   "
        f"{seconds / count * 1000:7.3f} ms/msg   (n={count}){extra}"
    )
    return per_second


def spread(seconds: list[float]) -> str:
    """The passes a best-of figure was taken from: ``passes 1.09-1.93 s``."""
    if len(seconds) < 2:
        return ""
    return f"passes {min(seconds):.2f}-{max(seconds):.2f} s"


def ratio(name: str, ours: float | None, theirs: float | None, *, goal: float, at_least=True):
    """Print ``ours / theirs`` and whether it meets ``goal`` (a minimum, or a maximum)."""
    if ours is None or theirs is None:
        print(f"  {name:<44} pending (one side was not measured)")
        return None
    value = ours / theirs
    sign = "≥" if at_least else "≤"
    met = value >= goal if at_least else value <= goal
    print(f"  {name:<44} {value:6.2f}x   (goal {sign} {goal:g}: {'met' if met else 'NOT met'})")
    return value


def heading(text: str) -> None:
    print(f"\n{text}")


# --- the sink ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_banner(port: int, timeout: float = 10.0) -> None:
    """Return once something on ``port`` answers with a 220 greeting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(512).startswith(b"220"):
                    sock.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered SMTP on 127.0.0.1:{port} after {timeout:g} s")
        time.sleep(0.05)


class SmtpSink:
    """``smtp-sink -a [-u nobody] 127.0.0.1:PORT 1024`` in the background.

    ``-a`` hides AUTH: smtp-sink announces it but answers ``250`` instead of ``235``, which
    smtplib and aiosmtplib refuse, so the benchmarks use an account without a password here.
    ``-u nobody`` is required when running as root (it drops privileges after binding).
    """

    def __init__(self, port: int = 0, backlog: int = 1024) -> None:
        self.port = port or free_port()
        self.backlog = backlog
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> SmtpSink:
        if not SINK_BINARY.exists():
            raise SystemExit(f"{SINK_BINARY} is missing: run bench/install-smtp-sink first.")
        command = [str(SINK_BINARY), "-a"]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]
        command += [f"127.0.0.1:{self.port}", str(self.backlog)]
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_banner(self.port)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- databases --------------------------------------------------------------------------------


def postgres_available() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@dataclass
class BenchDatabase:
    """A database of the run's own: a SQLite file under ``workdir`` or a PostgreSQL database
    named after the process, created by :meth:`create` and gone after :meth:`drop`."""

    kind: str  # "sqlite" or "postgres"
    workdir: Path
    label: str = "bench"
    name: str = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in {"sqlite", "postgres"}:
            raise ValueError(f"unknown database kind {self.kind!r}: use sqlite or postgres")
        if self.kind == "sqlite":
            self.name = str(self.workdir / f"{self.label}.sqlite3")
        else:
            self.name = f"emisario_{self.label}_{os.getpid()}"

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.name}"
        return f"{PG_SERVER}/{self.name}"

    def create(self) -> BenchDatabase:
        self.drop()
        if self.kind == "postgres":
            self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal", ".snapshot"):
                Path(self.name + suffix).unlink(missing_ok=True)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}_snapshot"')

    def snapshot(self) -> None:
        """Keep a copy of the database as it is now (no connection may be open to it):
        :meth:`restore` brings it back, so several rounds run on the same queue without
        queueing it again."""
        if self.kind == "sqlite":
            import sqlite3

            with contextlib.closing(sqlite3.connect(self.name)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(self.name, self.name + ".snapshot")
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}_snapshot"')
            self._admin(f'CREATE DATABASE "{self.name}_snapshot" TEMPLATE "{self.name}"')

    def restore(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("-wal", "-shm", "-journal"):
                Path(self.name + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.name + ".snapshot", self.name)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.name}_snapshot"')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
            connection.execute(sql)  # type: ignore[arg-type]  # our own name, no user text


def reset_django_database(database: BenchDatabase) -> None:
    """Drop and recreate the database Django is configured for, then migrate it: each measured
    run starts from empty tables without restarting the process (settings stay the same)."""
    from django.db import connections

    connections.close_all()
    database.create()
    migrate()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- Django in this process -------------------------------------------------------------------


def bench_environment(database: BenchDatabase, home: Path) -> dict[str, str]:
    """Variables both this process (``bench.settings``) and the worker read: the same
    database, the same Fernet key, the same attachment directory (``EMISARIO_HOME/var``)."""
    if "EMISARIO_BENCH_FERNET_KEY" not in os.environ:
        from cryptography.fernet import Fernet

        os.environ["EMISARIO_BENCH_FERNET_KEY"] = Fernet.generate_key().decode()
    key = os.environ["EMISARIO_BENCH_FERNET_KEY"]
    return {
        "DATABASE_URL": database.url,
        "EMISARIO_BENCH_DATABASE_URL": database.url,
        "EMISARIO_HOME": str(home),
        "EMISARIO_SECRET_KEYS": key,
        "EMISARIO_SECRET_KEY": BENCH_SECRET_KEY,
    }


def django_setup(database: BenchDatabase, home: Path, *, create: bool = True) -> None:
    """Configure Django in this process with ``bench.settings`` on ``database`` (created and
    migrated unless ``create`` is False)."""
    os.environ.update(bench_environment(database, home))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    if create:
        database.create()
    django.setup()
    if create:
        migrate()


def make_account(
    port: int,
    *,
    security: str = "none",
    login: str = "",
    password: str | None = None,
    host: str = "127.0.0.1",
):
    """The company and its INTERNO account on the sink (no password unless given)."""
    from emisario.accounts import crypto
    from emisario.accounts.models import AccountType, Company, SmtpAccount
    from emisario.core.secrets import Secret

    company = Company.objects.get_or_create(code=COMPANY_CODE, defaults={"name": COMPANY_NAME})[0]
    token = crypto.encrypt(Secret(password)) if password else ""
    return SmtpAccount.objects.create(
        company=company,
        account_type=AccountType.objects.get(code="INTERNO"),
        priority=10,
        host=host,
        port=port,
        security=security,
        sender=SENDER,
        display_name=SENDER_NAME,
        login=login,
        password_token=token,
    )


def status_counts() -> dict[str, int]:
    from django.db.models import Count

    from emisario.outbox.models import OutboundMessage

    return dict(
        OutboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )


def verify_all_sent(expected: int) -> str:
    """``"all N sent"``, or a description of what is not; never raises (the run goes on)."""
    counts = status_counts()
    sent = counts.get("sent", 0)
    if sent == expected and sum(counts.values()) == expected:
        return f"verified: all {expected} rows sent"
    return f"NOT all sent: {counts} (expected {expected} sent)"


# --- statements -------------------------------------------------------------------------------

_CLIENTS = (
    "Ferretería Núñez",
    "Abarrotes La Güera",
    "Papelería Peña",
    "Construcciones Ibáñez",
    "Refacciones Muñoz",
    "Farmacia San José",
    "Distribuidora Córdoba",
    "Taller Ordóñez",
)
_CONCEPTS = ("Factura", "Nota de cargo", "Nota de crédito", "Pago recibido")


def recipient(number: int) -> str:
    return f"cliente{number:06d}@clientes.example"


def statement_pdf(number: int, size: int = PDF_BYTES) -> bytes:
    """A PDF-shaped blob of exactly ``size`` bytes whose content is this statement's alone
    (random bytes seeded by the number: no two statements share an attachment file)."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length " + str(size).encode()
    head += b" >>\nstream\n"
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    body = max(size - len(head) - len(tail), 0)
    return head + random.Random(number).randbytes(body) + tail


def _lines(number: int) -> list[tuple[str, str, str, float]]:
    rng = random.Random(number * 7919)
    start = date(2026, 11, 1)
    lines = []
    for n in range(14):
        concept = _CONCEPTS[rng.randrange(len(_CONCEPTS))]
        amount = round(rng.uniform(350, 48_000), 2) * (-1 if concept != "Factura" else 1)
        when = (start + timedelta(days=2 * n)).strftime("%d/%m/%Y")
        lines.append((concept, f"F-2026-{number % 100_000:05d}{n:02d}", when, amount))
    return lines


def statement_texts(number: int) -> tuple[str, str, str]:
    """Subject, text body and HTML body of statement ``number`` (about 3 KB together)."""
    client = _CLIENTS[number % len(_CLIENTS)]
    lines = _lines(number)
    balance = sum(amount for *_, amount in lines)
    subject = f"Estado de cuenta de noviembre — {client} (cliente {number:06d})"
    text_rows = "\n".join(
        f"  {concept:<16} {folio:<14} {when}  {amount:>13,.2f}"
        for concept, folio, when, amount in lines
    )
    text = (
        f"Estimado cliente {client}:\n\n"
        "Adjuntamos su estado de cuenta al 30 de noviembre de 2026. Le agradecemos revisar los "
        "movimientos y, si encuentra alguna diferencia, responder a este correo antes del "
        "día 10 para aclararla.\n\n"
        f"{text_rows}\n\n"
        f"  Saldo al corte: $ {balance:,.2f} MXN\n\n"
        "Puede pagar por transferencia a la cuenta CLABE 012180001234567897 indicando su "
        "número de cliente como referencia.\n\n"
        "Atentamente,\nDepartamento de Cobranza\nAcme Distribuciones S.A. de C.V.\n"
    )
    html_rows = "".join(
        f"<tr><td>{concept}</td><td>{folio}</td><td>{when}</td>"
        f'<td align="right">{amount:,.2f}</td></tr>'
        for concept, folio, when, amount in lines
    )
    html = (
        f"<html><body><p>Estimado cliente <b>{client}</b>:</p>"
        "<p>Adjuntamos su estado de cuenta al 30 de noviembre de 2026.</p>"
        f'<table border="1" cellpadding="4">{html_rows}</table>'
        f"<p><b>Saldo al corte: $ {balance:,.2f} MXN</b></p>"
        "<p>Atentamente,<br>Departamento de Cobranza</p></body></html>"
    )
    return subject, text, html


def statement_item(number: int, *, pdf_bytes: int = PDF_BYTES) -> dict[str, Any]:
    """One statement as ``enqueue``'s keywords."""
    subject, text, html = statement_texts(number)
    attachments = []
    if pdf_bytes:
        attachments = [
            (
                f"estado-de-cuenta-{number:06d}.pdf",
                statement_pdf(number, pdf_bytes),
                "application/pdf",
            )
        ]
    return {
        "company": COMPANY_CODE,
        "to": [recipient(number)],
        "subject": subject,
        "text": text,
        "html": html,
        "attachments": attachments,
    }


def statement_items(count: int, *, pdf_bytes: int = PDF_BYTES) -> Iterator[dict[str, Any]]:
    return (statement_item(n, pdf_bytes=pdf_bytes) for n in range(count))


def statement_bytes(number: int, *, pdf_bytes: int = PDF_BYTES) -> bytes:
    """The same statement as a raw SMTP client writes it: multipart/mixed holding text and
    HTML alternatives (quoted-printable) and the PDF (base64, 76-character lines), CRLF line
    ends. Written out by hand because the email package takes ~3 ms a message, which would
    make the preparation of 10,000 statements longer than the runs it prepares."""
    subject, text, html = statement_texts(number)
    mixed, alternative = f"=_m{number:06d}", f"=_a{number:06d}"
    encoded_subject = Header(subject, "utf-8").encode(maxlinelen=76)
    lines = [
        f"From: {SENDER_NAME} <{SENDER}>",
        f"To: {recipient(number)}",
        f"Subject: {encoded_subject}",
        "Date: Mon, 30 Nov 2026 23:00:00 -0600",
        f"Message-ID: <bench.{number}@acme.example>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{mixed}"',
        "",
        f"--{mixed}",
        f'Content-Type: multipart/alternative; boundary="{alternative}"',
        "",
    ]
    head = "\r\n".join(lines).replace("\n ", "\r\n ").encode("ascii")
    parts = [head]
    for subtype, content in (("plain", text), ("html", html)):
        encoded = quopri.encodestring(content.encode("utf-8")).replace(b"\n", b"\r\n")
        parts.append(
            f"\r\n--{alternative}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii")
        )
        parts.append(encoded)
    parts.append(f"\r\n--{alternative}--\r\n".encode("ascii"))
    if pdf_bytes:
        filename = f"estado-de-cuenta-{number:06d}.pdf"
        parts.append(
            f"\r\n--{mixed}\r\nContent-Type: application/pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'.encode("ascii")
        )
        pdf = base64.encodebytes(statement_pdf(number, pdf_bytes))
        parts.append(pdf.replace(b"\n", b"\r\n"))
    parts.append(f"\r\n--{mixed}--\r\n".encode("ascii"))
    return b"".join(parts)


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: tuple[str, ...]
    data: bytes


def raw_messages(count: int, *, pdf_bytes: int = PDF_BYTES) -> list[Envelope]:
    return [
        Envelope(SENDER, (recipient(n),), statement_bytes(n, pdf_bytes=pdf_bytes))
        for n in range(count)
    ]


# --- raw smtplib sessions (the ceiling) --------------------------------------------------------


@dataclass(frozen=True)
class SessionOptions:
    """How a raw session reaches the sink: plain by default, STARTTLS and AUTH when given."""

    port: int
    host: str = "127.0.0.1"
    tls_context: ssl.SSLContext | None = None
    login: str = ""
    password: str = ""


def raw_session(options: SessionOptions, envelopes: list[Envelope]) -> float:
    """Seconds to send ``envelopes`` over one persistent ``smtplib.SMTP`` session with
    ``sendmail`` (connect, EHLO, STARTTLS and AUTH when configured, and QUIT included).

    The socket gets ``TCP_NODELAY``, as asyncio (hence aiosmtplib) gives every connection:
    without it smtplib's last TLS record of each message waits for the server's delayed ACK
    (Nagle), about 40 ms a message against aiosmtpd, and the "ceiling" would be 22 msg/s."""
    started = time.perf_counter()
    with smtplib.SMTP(options.host, options.port, local_hostname="bench.example") as client:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.ehlo()
        if options.tls_context is not None:
            client.starttls(context=options.tls_context)
            client.ehlo()
        if options.login:
            client.login(options.login, options.password)
        for envelope in envelopes:
            client.sendmail(envelope.sender, list(envelope.recipients), envelope.data)
    return time.perf_counter() - started


def raw_parallel(options: SessionOptions, envelopes: list[Envelope], sessions: int) -> float:
    """Seconds for ``sessions`` processes, one persistent session each, to send ``envelopes``
    between them (every ``sessions``-th message each). The processes are forked first and
    released together; the time runs from the release to the last one's exit."""
    context = multiprocessing.get_context("fork")  # children inherit the prebuilt bytes
    go = context.Event()

    def child(share: list[Envelope]) -> None:
        go.wait()
        raw_session(options, share)

    children = [
        context.Process(target=child, args=(envelopes[n::sessions],)) for n in range(sessions)
    ]
    for process in children:
        process.start()
    time.sleep(0.2)  # let every child reach go.wait()
    started = time.perf_counter()
    go.set()
    for process in children:
        process.join()
    seconds = time.perf_counter() - started
    failed = [p.exitcode for p in children if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} raw session(s) failed (exit codes {failed})")
    return seconds


def naive_sessions(options: SessionOptions, envelopes: list[Envelope]) -> float:
    """Seconds to send each envelope over its own connection: connect, EHLO, (STARTTLS,
    AUTH,) one message, QUIT."""
    started = time.perf_counter()
    for envelope in envelopes:
        raw_session(options, [envelope])
    return time.perf_counter() - started


# --- the worker -------------------------------------------------------------------------------


def worker_available() -> bool:
    return WORKER_COMMAND.exists()


WORKER_MISSING = (
    "the CRONUS worker is not there yet ("
    f"{WORKER_COMMAND.relative_to(ROOT)} is missing): its rows are pending"
)


def worker_env(
    database: BenchDatabase,
    home: Path,
    ports: list[int],
    *,
    ca_file: Path | None = None,
) -> dict[str, str]:
    """The environment of ``emisario cronus``: this run's database and keys, loopback and the
    sink's ports allowed by the network policy, the CA of a TLS sink."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMISARIO_BENCH_")}
    env.update(bench_environment(database, home))
    env.pop("EMISARIO_BENCH_DATABASE_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "emisario.config.settings.base",
            "EMISARIO_PROBE_ALLOW": "127.0.0.1",
            "EMISARIO_PROBE_PORTS": ",".join(str(p) for p in ports),
            "PYTHONPATH": str(SRC),
        }
    )
    if ca_file is not None:
        env["EMISARIO_PROBE_CA_FILE"] = str(ca_file)
    return env


def worker_command(worker_id: str, extra: list[str] | None = None) -> list[str]:
    command = [sys.executable, "-m", "emisario.cli", "cronus", "--once"]
    return [*command, "--worker-id", worker_id, *(extra or [])]


@dataclass
class WorkerRun:
    """``seconds``: from the first start to the last exit, Django's start-up included;
    ``running``: from the first worker's ``start`` event (Django set up, about to claim) to
    the last exit: the month end of a CRONUS that is already running, as in production and as
    post-office's ``send_queued_mail`` is timed (inside a set-up process)."""

    seconds: float
    codes: list[int]
    logs: list[Path]
    running: float = 0.0

    @property
    def start_up(self) -> float:
        return self.seconds - self.running

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.codes)

    def failure(self) -> str:
        parts = []
        for code, log in zip(self.codes, self.logs, strict=True):
            if code != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-15:]
                parts.append(
                    f"worker exited {code}; last lines of {log}:\n    " + "\n    ".join(tail)
                )
        return "\n".join(parts)


START_EVENT = b'"event": "start"'


def start_worker(
    worker_id: str,
    env: Mapping[str, str],
    log: Path,
    extra: list[str] | None,
    ready: list[float] | None = None,
):
    """Start one worker, its output copied to ``log`` by a thread that appends to ``ready``
    the moment its ``start`` event is printed."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        worker_command(worker_id, extra),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )

    def copy() -> None:
        assert process.stdout is not None
        with log.open("wb") as handle:
            for line in process.stdout:
                if ready is not None and START_EVENT in line:
                    ready.append(time.perf_counter())
                handle.write(line)

    process.copier = threading.Thread(target=copy, daemon=True)  # type: ignore[attr-defined]
    process.copier.start()  # type: ignore[attr-defined]
    return process


def run_workers(
    count: int,
    env: Mapping[str, str],
    logdir: Path,
    *,
    extra: list[str] | None = None,
    timeout: float = 1800.0,
) -> WorkerRun:
    """Start ``count`` workers at once and wait for all of them to exit; the times of
    :class:`WorkerRun` (with and without the interpreter's and Django's start-up)."""
    logs = [logdir / f"worker-{count}-{n}.log" for n in range(count)]
    ready: list[float] = []
    started = time.perf_counter()
    processes = [
        start_worker(f"bench-{count}-{n}", env, log, extra, ready) for n, log in enumerate(logs)
    ]
    codes = []
    try:
        for process in processes:
            remaining = max(1.0, timeout - (time.perf_counter() - started))
            codes.append(process.wait(remaining))
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(10)
                if process.poll() is None:
                    process.kill()
    ended = time.perf_counter()
    for process in processes:
        process.copier.join(10)
    running = ended - min(ready) if ready else ended - started
    return WorkerRun(ended - started, codes, logs, running)


def queue_statements(count: int, *, pdf_bytes: int, account: Mapping[str, Any]) -> float:
    """Create the sink's account, queue ``count`` statements with ``enqueue_many`` and return
    the seconds it took; Django's connections are closed after (the workers own the database)."""
    from django.db import connections

    from emisario.outbox.services import enqueue_many

    make_account(**account)
    started = time.perf_counter()
    ids = enqueue_many(statement_items(count, pdf_bytes=pdf_bytes))
    seconds = time.perf_counter() - started
    if len(ids) != count:
        raise RuntimeError(f"enqueue_many returned {len(ids)} ids for {count} items")
    connections.close_all()
    return seconds


def prepare_queue(
    database: BenchDatabase, *, count: int, pdf_bytes: int, account: Mapping[str, Any]
) -> float:
    """On a fresh database: queue the statements once and keep a copy of that queue
    (:meth:`BenchDatabase.snapshot`); returns the seconds ``enqueue_many`` took."""
    reset_django_database(database)
    seconds = queue_statements(count, pdf_bytes=pdf_bytes, account=account)
    database.snapshot()
    return seconds


def timed_run(
    database: BenchDatabase,
    env: Mapping[str, str],
    logdir: Path,
    *,
    workers: int,
    count: int,
    extra: list[str] | None = None,
    restore: bool = True,
) -> tuple[WorkerRun, str]:
    """The queue of :func:`prepare_queue` brought back (unless ``restore`` is False: it is
    still as queued), ``workers`` workers run to their exit, every row checked."""
    from django.db import connections

    if restore:
        database.restore()
    run = run_workers(workers, env, logdir, extra=extra)
    verdict = verify_all_sent(count) if run.ok else run.failure()
    connections.close_all()
    return run, verdict


def idle_worker(env: Mapping[str, str], logdir: Path, extra: list[str] | None) -> WorkerRun:
    """One worker on an empty queue: it must start and exit 0; its time is the fixed cost
    (interpreter, Django, checks, one empty poll) inside every timed run."""
    from django.db import connections

    connections.close_all()
    return run_workers(1, env, logdir, extra=extra)


def worker_extra(args: Any) -> list[str]:
    """``--batch-size`` / ``--lease`` passed through to the worker when given."""
    extra = []
    if getattr(args, "batch_size", None):
        extra += ["--batch-size", str(args.batch_size)]
    if getattr(args, "lease", None):
        extra += ["--lease", str(args.lease)]
    return extra


# --- work directory ---------------------------------------------------------------------------


@contextlib.contextmanager
def workdir(keep: bool = False, prefix: str = "emisario-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"\n(work directory kept: {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)
