"""CRONUS stopped with SIGTERM: the send in flight finishes, unsent claims go back to the
queue, and a graceful stop never sends anything twice. A second SIGTERM while it finishes
forces the exit; even then nothing is lost, because a later run takes the rows left
``sending`` once their lease has run out.

One worker, a SQLite file database, a server that is slow to answer DATA so the signal
lands while messages are in flight (their data complete at the server, the 250 not yet sent):
one per session the worker has open to the account.
"""

from __future__ import annotations

import time

from emisario.outbox.worker import SESSIONS_PER_ACCOUNT
from tests.support.cronus_harness import Rig, recording_smtpd, sqlite_pass_only, tally

GRACEFUL_EXIT = 20
"""Seconds a worker may take to finish its send in flight and exit after SIGTERM."""
FORCED_EXIT = 2.5
"""Seconds after the second SIGTERM: well before the server's reply to the send in flight."""


def wait_in_flight(
    server, *, arrived: int = 1, sessions: int = 1, timeout: float = 60
) -> list[str]:
    """Once the server has taken ``arrived`` messages whole and holds some unanswered (their
    replies pending, at most one per session), their Message-IDs; [] after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrivals = server.snapshot()
        pending = [a for a in arrivals if not a.answered]
        if len(arrivals) >= arrived and pending:
            assert len(pending) <= sessions, f"{sessions} session(s), yet in flight: {pending}"
            return [a.message_id for a in pending]
        time.sleep(0.02)
    return []


@sqlite_pass_only
def test_sigterm_finishes_the_send_in_flight_and_releases_the_rest(sqlite_url, tmp_path):
    with recording_smtpd(data_delay=0.4) as server, Rig(tmp_path, sqlite_url, server) as rig:
        seeded = rig.prepare(30)
        # A lease far longer than the test: only a release lets the second run send the rest.
        options = ["--lease", "60", "--batch-size", "10", "--poll", "0.2"]
        worker = rig.start("graceful", *options)
        in_flight = wait_in_flight(server, arrived=3, sessions=SESSIONS_PER_ACCOUNT)
        assert in_flight, rig.worker_logs()
        signalled = time.monotonic()
        worker.terminate()
        code = worker.wait(GRACEFUL_EXIT)
        took = time.monotonic() - signalled
        assert code == 0, f"after SIGTERM: rc={code} in {took:.1f} s\n{worker.describe(30)}"

        stopped = tally(rig, seeded)
        rows = {row.message_id: row for row in stopped.messages}
        for mid in in_flight:
            assert rows[mid].status == "sent", (
                f"a message in flight at SIGTERM was not finished: {rows[mid]}"
            )
        assert not stopped.rows_in("sending"), stopped.rows_in("sending")[:3]
        for mid, count in stopped.arrived.items():
            assert count == 1 and rows[mid].status == "sent", (rows[mid], count)
        unsent = [row for row in stopped.messages if row.message_id not in stopped.arrived]
        assert unsent, "the worker sent everything before SIGTERM: slow the server down"
        kept = [
            row
            for row in unsent
            if row.status not in ("queued", "deferred") or row.lease_owner or row.lease_expires_at
        ]
        assert not kept, f"unsent claims not released: {kept[:3]}"
        lines = [e for e in worker.events() if e.get("event") == "attempt"]
        rows_written = [a for a in stopped.attempts if a.worker == "graceful"]
        assert len(lines) == len(rows_written), (
            f"{len(lines)} attempt lines on stderr for {len(rows_written)} Attempt rows"
        )

        server.set_data_delay(0)
        second = rig.once("second", *options, timeout=60)
        assert second.returncode == 0, second.describe(30)
        result = tally(rig, seeded)
    print(f"graceful stop after {took:.1f} s; {stopped.summary()}; then {result.summary()}")
    assert not result.lost, f"{result.lost[:5]}\n{result.summary()}\n{second.describe()}"
    assert not result.duplicates, f"a graceful stop sent twice: {result.duplicates}"
    assert not result.not_sent, f"{result.not_sent[:3]}\n{result.summary()}"


@sqlite_pass_only
def test_a_second_sigterm_forces_the_exit_and_a_later_run_loses_nothing(sqlite_url, tmp_path):
    lease = 8
    with recording_smtpd(data_delay=5.0) as server, Rig(tmp_path, sqlite_url, server) as rig:
        seeded = rig.prepare(12)
        # One session: exactly one message is in DATA when the worker dies.
        options = ["--lease", str(lease), "--batch-size", "4", "--poll", "0.2"]
        worker = rig.start("forced", *options, "--sessions-per-account", "1")
        pending = wait_in_flight(server)
        assert pending, rig.worker_logs()
        in_flight = pending[0]
        worker.terminate()
        time.sleep(0.5)
        assert worker.alive(), (
            f"the first SIGTERM did not wait for the send in flight ({in_flight}, its reply "
            f"4.5 s away): {worker.describe(30)}"
        )
        worker.terminate()
        code = worker.wait(FORCED_EXIT)
        assert code is not None, f"still running {FORCED_EXIT} s after a second SIGTERM"
        forced_at = time.monotonic()

        stopped = tally(rig, seeded)
        server.set_data_delay(0)
        time.sleep(max(0.0, lease + 1 - (time.monotonic() - forced_at)))
        later = rig.once("later", *options, timeout=60)
        assert later.returncode == 0, later.describe(30)
        result = tally(rig, seeded)
    print(f"forced exit rc={code}; {stopped.summary()}; then {result.summary()}")
    context = (
        f"forced exit rc={code}; rows after it: "
        f"{[(r.message_id, r.status, r.lease_owner) for r in stopped.messages]}\n"
        f"{result.summary()}\n{rig.worker_logs(20)}"
    )
    assert not result.lost, f"lost {result.lost}\n{context}"
    assert not result.rows_in("sending"), context
    assert not result.not_sent, f"{result.not_sent}\n{context}"
    assert result.extra_arrivals <= 1, f"more duplicates than sessions: {result.duplicates}"
    assert not result.unexplained_duplicates, (
        f"sent twice without possibly_delivered: {result.unexplained_duplicates}\n{context}"
    )
    # Only the message in DATA when the worker died may be flagged: the others of its batch
    # never left the worker, and a false "possibly delivered" sends someone to check a
    # mailbox for nothing.
    assert result.flagged == [in_flight], (
        f"possibly_delivered on {result.flagged}, but only {in_flight} had started DATA\n{context}"
    )
