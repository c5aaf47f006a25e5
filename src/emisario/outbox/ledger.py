"""The worker's writes, grouped: DATA markers and attempt results, in a thread of their own.

Sending a message over a reused session takes about half a millisecond; writing its result
with the ORM, one commit each, took several. So an account's thread never writes: it asks the
ledger to mark a message "DATA starting" (and waits for that mark, which must be durable
before DATA), and hands it each result. The ledger writes whatever has accumulated in one
transaction (marks with one ``UPDATE … RETURNING``, plain successes with one UPDATE per
account, one INSERT of the attempts and one UPDATE of the recipients; anything unusual through
:func:`.delivery.record`), so the cost of a commit is shared by every message in it and the
session keeps sending meanwhile.

What a crash can cost stays bounded: a result is written within one group (milliseconds)
after the server's reply, and a mark is written before its DATA, so every message whose DATA
may have reached the server is flagged when another worker takes it back. Every write is
conditional on the lease. A database that refuses (locked, restarting) is retried until it
answers; the leases of what is waiting are renewed meanwhile by the heartbeat, or, if the
database stays away, expire and the messages are taken back (flagged where DATA started).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from emisario.outbox.delivery import Job, Result, attempt_line, record, write_sent
from emisario.outbox.models import MessageStatus

log = logging.getLogger("emisario.cronus")
T = TypeVar("T")

GROUP = 200
"""Most items written in one transaction."""
SQLITE_SPIN = 0.0002
"""Seconds between two tries for SQLite's write lock, for the first :data:`SQLITE_SPIN_FOR`."""
SQLITE_SPIN_FOR = 0.05
SQLITE_STEP = 0.005
"""Seconds between two tries once the lock has been held longer than that."""
SQLITE_PATIENCE = 300.0
"""Seconds of trying for SQLite's write lock before a write counts as failed (as long as the
busy timeout of the worker's other connections)."""
LINGER = 0.001
"""Seconds the ledger waits for more items before it commits: a commit (an fsync on SQLite)
then carries several messages; marks are asked for ahead, so nobody waits on this."""


class Mark:
    """A request to mark one message "DATA starting"; :meth:`wait` says if it is still ours."""

    __slots__ = ("_done", "held", "pk")

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self.held = False
        self._done = threading.Event()

    def settle(self, held: bool) -> None:
        self.held = held
        self._done.set()

    @property
    def settled(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool | None:
        """True: marked, send DATA. False: the lease is gone. None: no answer in time."""
        if not self._done.wait(timeout):
            return None
        return self.held


@dataclass
class Entry:
    """One attempt's result, with what writing and logging it needs."""

    job: Job
    result: Result
    account_id: int | None
    account_label: str
    started_at: datetime
    duration_ms: int
    secrets: list[str] = field(default_factory=list)
    written: Callable[[Entry, bool], None] | None = None
    """Called after the commit with whether the lease was still held."""

    @property
    def plain_success(self) -> bool:
        """Every pending recipient accepted in one transaction, nothing refused: the common
        case, written in bulk."""
        result = self.result
        pending = {r.address for r in self.job.pending}
        return (
            result.status == MessageStatus.SENT
            and not result.refused
            and not result.unanswered
            and set(result.accepted) == pending
            and len(result.replies) <= 1
        )


class Ledger:
    def __init__(self, owner: str, *, threaded: bool) -> None:
        self.owner = owner
        self.threaded = threaded
        self._items: queue.SimpleQueue[Mark | Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._handler_off: object = None
        """The SQLite connection whose busy handler is off (:meth:`_busy_handler_off`)."""
        if threaded:
            self._thread = threading.Thread(target=self._run, name="cronus-ledger", daemon=True)
            self._thread.start()

    # -- the runners' side -------------------------------------------------------------------

    def mark(self, pk: int) -> Mark:
        mark = Mark(pk)
        self._submit(mark)
        return mark

    def write(self, entry: Entry) -> None:
        self._submit(entry)

    def _submit(self, item: Mark | Entry) -> None:
        if self.threaded:
            self._items.put(item)
        else:
            self._write([item])

    def stop(self) -> None:
        """Write everything handed in so far, then end the thread."""
        if self._thread is not None:
            self._items.put(None)
            self._thread.join()
            self._thread = None

    # -- the writer --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._items.get()
                group: list[Mark | Entry] = []
                if first is None:
                    stopping = True
                else:
                    group.append(first)
                deadline = time.monotonic() + LINGER
                while len(group) < GROUP:
                    left = deadline - time.monotonic()
                    try:
                        item = (
                            self._items.get(timeout=left) if left > 0 else self._items.get_nowait()
                        )
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    group.append(item)
                if group:
                    self._write(group)
        finally:
            connection.close()

    def _write(self, group: list[Mark | Entry]) -> None:
        """Marks and results in one transaction: durable when it holds a mark (a mark must be
        on disk before its DATA; the results ride along), relaxed otherwise. One commit, and
        on SQLite one turn of the write lock that every worker shares."""
        marks = [item for item in group if isinstance(item, Mark)]
        entries = [item for item in group if isinstance(item, Entry)]
        # Writing a result also updates the job's recipients in memory; a transaction that
        # failed (its COMMIT included) and is tried again must start from the statuses it had.
        before = [(r, r.status) for entry in entries for r in entry.job.recipients]

        def write() -> tuple[set[int], set[int]]:
            for recipient, status in before:
                recipient.status = status
            marked = _mark(self.owner, [m.pk for m in marks]) if marks else set()
            return marked, self._results(entries) if entries else set()

        marked, held = self._retrying(write, durable=bool(marks))
        for mark in marks:
            mark.settle(mark.pk in marked)
        if entries:
            lines = []
            for entry in entries:
                kept = entry.job.pk in held
                lines.append(
                    attempt_line(entry.job, entry.result, entry.account_label, kept,
                                 entry.duration_ms)
                )  # fmt: skip
                if entry.written is not None:
                    entry.written(entry, kept)
            log.info("\n".join(lines))  # one record: still one line per attempt, one write

    def _retrying(self, write: Callable[[], T], *, durable: bool = True) -> T:
        """Run ``write`` in a transaction until the database takes it (never drop a result);
        inline (tests) an error is raised to the caller at once.

        Marks are committed durably (they must be on disk before DATA). Results are not
        waited for on disk (``durable=False``: PostgreSQL's ``synchronous_commit = off``,
        SQLite's ``synchronous = NORMAL``): after a crash of the database server or of the
        machine the last fraction of a second of results may be undone; those messages
        are then claimed again with their mark set and recorded as possibly delivered. Never
        lost, never an unflagged duplicate, and no disk flush per message."""
        delay = 0.05
        locked_since: float | None = None
        while True:
            try:
                if self.threaded:
                    self._busy_handler_off()
                with _relaxed(durable), transaction.atomic():
                    if not durable and connection.vendor == "postgresql":
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit = off")
                    return write()
            except DatabaseError as exc:  # locked, restarting
                if self.threaded and _locked(exc):
                    now = time.monotonic()
                    locked_since = locked_since or now
                    waited = now - locked_since
                    if waited < SQLITE_PATIENCE:
                        # Another worker's commit: a fraction of a millisecond. A longer hold
                        # (a big enqueue) is waited for in longer steps, not with a busy loop.
                        time.sleep(SQLITE_SPIN if waited < SQLITE_SPIN_FOR else SQLITE_STEP)
                        continue
                log.error(json.dumps({"event": "write_failed", "error": str(exc)[:300]}))
                if not self.threaded:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _busy_handler_off(self) -> None:
        """On SQLite, turn the connection's busy handler off, so that :meth:`_retrying` waits
        for the write lock itself, in steps of :data:`SQLITE_SPIN`. SQLite's handler sleeps
        1, 2, 5, 10 ms… between tries, while another worker's commit holds the lock for a
        fraction of a millisecond, and a session waiting for its mark would wait that long."""
        if connection.vendor != "sqlite":
            return
        connection.ensure_connection()
        if self._handler_off is not connection.connection:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 0")
            self._handler_off = connection.connection

    def _results(self, entries: list[Entry]) -> set[int]:
        """Write the results; returns the ids whose lease was still held."""
        plain = [e for e in entries if e.plain_success]
        held = write_sent(self.owner, plain) if plain else set()
        for entry in entries:
            if entry in plain:
                continue
            if record(
                entry.job,
                entry.result,
                owner=self.owner,
                account_id=entry.account_id,
                account_label=entry.account_label,
                started_at=entry.started_at,
                duration_ms=entry.duration_ms,
                secrets=entry.secrets,
            ):
                held.add(entry.job.pk)
        return held


@contextlib.contextmanager
def _relaxed(durable: bool) -> Iterator[None]:
    """SQLite: NORMAL synchronisation for one transaction (in WAL mode a commit then skips
    the flush; the next FULL commit flushes it along), FULL again afterwards."""
    if durable or connection.vendor != "sqlite" or connection.in_atomic_block:
        yield  # inside a caller's transaction (tests) the level cannot change: keep FULL
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = FULL")


def _locked(exc: DatabaseError) -> bool:
    return connection.vendor == "sqlite" and "locked" in str(exc)


_MARK = (
    "UPDATE outbox_outboundmessage SET data_started_at = %s "
    "WHERE lease_owner = %s AND status = 'sending' AND id IN ({ids}) RETURNING id"
)


def _mark(owner: str, ids: list[int]) -> set[int]:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_MARK.format(ids=", ".join(["%s"] * len(ids))), [now, owner, *ids])
        return {row[0] for row in cursor.fetchall()}
