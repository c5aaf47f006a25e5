"""CRONUS under SIGKILL: workers die at random moments mid-run, and no message is lost.

Real worker processes (``emisario cronus``) send a queue through a real SMTP server while a
killer SIGKILLs a random one every 0.3-1.0 s and starts a fresh one in its place. The lease is
short (2 s), so the dead worker's claims are taken over by the others. When the killing is
over the survivors drain the queue, stop on SIGTERM, and a last ``--once`` worker checks that
nothing is left.

Then, at the server and in the outbox:

- every queued Message-ID arrived at least once, and every row is ``sent``; none is left
  ``sending``;
- a message arrived twice only because a kill landed while it was being sent: there are at
  most as many extra arrivals as kills times the sessions a worker opens to the account, and each
  duplicated message has an Attempt with ``possibly_delivered`` (its Message-ID is the same by
  construction: duplicates are counted by Message-ID).

The server delays its reply to DATA a little, so that kills land mid-send. The random seed is
in every failure message; ``EMISARIO_CRASH_SEED`` replays one.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from dataclasses import dataclass

import pytest

from emisario.outbox.worker import MARK_AHEAD_MAX, SESSIONS_PER_ACCOUNT
from tests.support.cronus_harness import Rig, Tally, recording_smtpd, sqlite_pass_only, tally

MESSAGES = 2000
KILLS = 8
LEASE = 2
SESSIONS_PER_WORKER = SESSIONS_PER_ACCOUNT
"""One account, so at most this many SMTP sessions per worker at a time."""
UNRECORDED_PER_SESSION = 2
"""Sends a kill can leave unrecorded per session: the one in DATA, and the last one the
server accepted, whose result waits for the ledger's next group commit (a millisecond or
two). Both are flagged possibly delivered and carry their Message-ID."""
MARKED_AHEAD = MARK_AHEAD_MAX
"""A session's DATA marks are written for the message it sends and up to this many next
ones, so a kill may flag that many (one of them at most was in DATA)."""
KILL_EVERY = (0.3, 1.0)
MIN_UPTIME = 1.0
"""Seconds a worker runs before it may be killed: Django takes about that long to start, and
a worker killed before its first claim tests nothing."""
DRAIN_WAIT = 45
"""Seconds the survivors may take to finish the queue after the last kill."""


@dataclass(frozen=True)
class Kill:
    worker_id: str
    after: float
    """Seconds since the first worker started."""
    in_data: int
    """Messages the server had taken whole and not yet answered, at that moment (any worker)."""
    arrivals: int


@dataclass
class Run:
    tally: Tally
    kills: list[Kill]
    rig: Rig
    stopped: dict[str, int | None]
    """Exit codes of the workers alive at the end, after SIGTERM."""
    final_rc: int | None
    """The last ``--once`` worker's exit code."""
    seed: int


def _seed() -> int:
    chosen = os.environ.get("EMISARIO_CRASH_SEED")
    return int(chosen) if chosen else secrets.randbits(32)


def run_under_fire(
    database_url: str, tmp_path, *, workers: int, batch_size: int, data_delay: float
) -> Run:
    seed = _seed()
    rng = random.Random(seed)
    options = ["--lease", str(LEASE), "--batch-size", str(batch_size), "--poll", "0.2"]
    with (
        recording_smtpd(data_delay=data_delay) as server,
        Rig(tmp_path, database_url, server) as rig,
    ):
        seeded = rig.prepare(MESSAGES)
        began = time.monotonic()
        slots = {n: rig.start(f"w{n}.0", *options) for n in range(workers)}
        kills: list[Kill] = []
        while len(kills) < KILLS and time.monotonic() - began < 60:
            time.sleep(rng.uniform(*KILL_EVERY))
            if rig.db.unfinished() == 0:
                break
            ready = [n for n, w in sorted(slots.items()) if w.uptime() >= MIN_UPTIME]
            if not ready:
                continue
            slot = rng.choice(ready)
            victim = slots[slot]
            kills.append(
                Kill(
                    victim.worker_id,
                    round(time.monotonic() - began, 2),
                    server.in_data,
                    len(server.snapshot()),
                )
            )
            victim.kill()
            generation = int(victim.worker_id.rsplit(".", 1)[1]) + 1
            slots[slot] = rig.start(f"w{slot}.{generation}", *options)
        rig.wait_until_drained(DRAIN_WAIT)
        for worker in slots.values():
            worker.terminate()
        stopped = {worker.worker_id: worker.wait(20) for worker in slots.values()}
        # The dead workers' leases must have run out before the last worker looks.
        time.sleep(LEASE + 0.5)
        final = rig.once("final", *options, timeout=60)
        return Run(tally(rig, seeded), kills, rig, stopped, final.returncode, seed)


def assert_nothing_lost(run: Run) -> None:
    result, kills, rig = run.tally, run.kills, run.rig
    context = f"seed={run.seed} kills={kills}\n{result.summary()}"
    print(context, f"duplicates={result.duplicates}", sep="\n")
    assert len(kills) >= KILLS // 2, (
        f"the queue drained after {len(kills)} kills: the test did not test much; slow the "
        f"server down. {context}"
    )
    assert not result.lost, (
        f"{len(result.lost)} queued messages never reached the server, e.g. {result.lost[:5]}; "
        f"their rows: {[r for r in result.messages if r.message_id in set(result.lost[:5])]}\n"
        f"{context}\n{rig.worker_logs(5)}"
    )
    assert not result.strangers, f"Message-IDs nobody queued: {result.strangers[:5]}\n{context}"
    sending = result.rows_in("sending")
    assert not sending, f"{len(sending)} rows left sending, e.g. {sending[:3]}\n{context}"
    assert not result.not_sent, (
        f"{len(result.not_sent)} rows not sent, e.g. {result.not_sent[:3]}\n{context}\n"
        f"{rig.worker_logs(10, only={'final'})}"
    )
    allowed = len(kills) * SESSIONS_PER_WORKER
    unrecorded = allowed * UNRECORDED_PER_SESSION
    assert result.extra_arrivals <= unrecorded, (
        f"{result.extra_arrivals} extra arrivals for {len(kills)} kills (at most {unrecorded}): "
        f"{result.duplicates}\n{context}"
    )
    unexplained = result.unexplained_duplicates
    assert not unexplained, (
        f"duplicated messages the outbox does not flag as possibly delivered: {unexplained}\n"
        f"{context}"
    )
    flagged = result.flagged
    assert len(flagged) <= allowed * MARKED_AHEAD, (
        f"{len(flagged)} messages flagged possibly_delivered for {len(kills)} kills (each kill "
        f"interrupts at most {SESSIONS_PER_WORKER} DATA, marked {MARKED_AHEAD} ahead): the flag "
        f"is set on messages that never reached DATA; their attempts: "
        f"{[(mid, result.attempts_of(mid)) for mid in flagged[:4]]}\n{context}"
    )
    assert run.final_rc == 0, f"the final --once worker: {rig.worker_logs(20, only={'final'})}"
    assert set(run.stopped.values()) == {0}, (
        f"survivors on SIGTERM exited with {run.stopped}\n"
        f"{rig.worker_logs(10, only=set(run.stopped))}"
    )


@pytest.mark.postgres_pass
@pytest.mark.postgres
def test_four_workers_killed_at_random_lose_nothing_on_postgresql(postgres_url, tmp_path):
    assert_nothing_lost(
        run_under_fire(postgres_url, tmp_path, workers=4, batch_size=10, data_delay=0.02)
    )


@sqlite_pass_only
def test_two_workers_killed_at_random_lose_nothing_on_sqlite(sqlite_url, tmp_path):
    assert_nothing_lost(
        run_under_fire(sqlite_url, tmp_path, workers=2, batch_size=10, data_delay=0.01)
    )
