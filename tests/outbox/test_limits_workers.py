"""An account's per-minute limit holds across every worker: four CRONUS processes on
PostgreSQL, one account with ``AccountLimits.messages_per_minute=30``.

The "minute" is shortened to 3 s (``EMISARIO_OUTBOX_MINUTE_SECONDS``), so 100 messages need
four windows, about 10 s. The server is the judge: in no 3-second window (one starting at each
arrival) may more than 30 messages arrive. Every message is still sent, none failed, and the
limit's waits show: a "limited" line on the worker's stderr, and while a message waits its
row says why (``last_error_code`` "limited:messages_per_minute", due again at the window's
end).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.support.cronus_harness import Rig, recording_smtpd, sliding_window_peak, tally

MESSAGES = 100
PER_MINUTE = 30
MINUTE_SECONDS = 3
WORKERS = 4
DRAIN_WAIT = 30
"""Seconds for the whole queue: four 3-second windows and start-up need about 12."""
CLOCK_SLACK = 0.1
"""Seconds taken off the window at the server: a worker counts a send when it starts it, the
server when its data is complete, and two sends' latencies differ by a few milliseconds. A
worker that ignored the other workers' sends would overshoot by whole batches, not by this."""
WAITING = (
    "SELECT COUNT(*) FROM outbox_outboundmessage"
    " WHERE status IN ('queued', 'deferred') AND last_error_code LIKE 'limited:%'"
)


@pytest.mark.postgres_pass
@pytest.mark.postgres
def test_four_workers_never_exceed_the_accounts_per_minute_limit(postgres_url, tmp_path):
    env = {"EMISARIO_OUTBOX_MINUTE_SECONDS": str(MINUTE_SECONDS)}
    with recording_smtpd() as server, Rig(tmp_path, postgres_url, server, env) as rig:
        seeded = rig.prepare(MESSAGES, limits={"messages_per_minute": PER_MINUTE})
        options = ["--lease", "10", "--batch-size", "5", "--poll", "0.2"]
        workers = [rig.start(f"w{n}", *options) for n in range(WORKERS)]
        most_waiting, deadline = 0, time.monotonic() + DRAIN_WAIT
        while rig.db.unfinished() and time.monotonic() < deadline:
            most_waiting = max(most_waiting, rig.db.query(WAITING)[0][0])
            time.sleep(0.2)
        unfinished = [row for row in rig.db.messages() if row.status != "sent"]
        for worker in workers:
            worker.terminate()
        exits = {worker.worker_id: worker.wait(20) for worker in workers}
        result = tally(rig, seeded)
        arrivals = server.snapshot()
        limited = [e for w in workers for e in w.events() if e.get("event") == "limited"]
        logs = rig.worker_logs(4)

    times = [arrival.at for arrival in arrivals]
    peak, starting = sliding_window_peak(times, MINUTE_SECONDS - CLOCK_SLACK)
    strict_peak, _ = sliding_window_peak(times, MINUTE_SECONDS)
    first = min(times) if times else 0.0
    offsets = sorted(round(t - first, 2) for t in times)
    print(f"peak {peak} (full window {strict_peak}); {result.summary()}")
    assert peak <= PER_MINUTE, (
        f"{peak} messages arrived within {MINUTE_SECONDS - CLOCK_SLACK} s from "
        f"t={starting - first:.2f} s (limit {PER_MINUTE} per {MINUTE_SECONDS} s; "
        f"full window: {strict_peak}); arrival times: {offsets}\n{result.summary()}"
    )
    if unfinished:
        first_wall = min(arrival.wall for arrival in arrivals) if arrivals else 0.0
        due = sorted({_seconds_after(row.next_attempt_at, first_wall) for row in unfinished})
        codes = sorted({row.last_error_code for row in unfinished})
        pytest.fail(
            f"{len(unfinished)} of {MESSAGES} not sent after {DRAIN_WAIT} s; they are due "
            f"again {due[:5]} s after the first arrival (a {MINUTE_SECONDS}-second window "
            f"puts them within {MINUTE_SECONDS} s), last_error_code {codes}; arrival times "
            f"{offsets}\n{result.summary()}\n{logs}"
        )
    assert not result.lost, f"never arrived: {result.lost[:5]}\n{result.summary()}"
    assert not result.duplicates, f"sent twice without a crash: {result.duplicates}"
    failed = result.rows_in("failed")
    assert not failed, f"the limit failed messages instead of deferring them: {failed[:3]}"
    assert not result.not_sent, f"not sent: {result.not_sent[:3]}\n{result.summary()}"

    # The limit made messages wait, and both the log and the outbox said so meanwhile.
    assert limited, f"no 'limited' line on any worker's stderr\n{logs}"
    assert {e.get("limit") for e in limited} == {"messages_per_minute"}, limited[:3]
    assert most_waiting > 0, "no waiting row said 'limited:...' in last_error_code"
    # All four took part: the limit is shared, not one worker's own.
    senders = {a.worker for a in result.attempts if a.outcome == "sent"}
    assert len(senders) >= 2, f"only {senders} sent anything\n{logs}"
    assert set(exits.values()) == {0}, f"exits on SIGTERM: {exits}\n{logs}"


def _seconds_after(value: object, wall: float) -> float:
    """``value`` (a datetime from psycopg, or SQLite's text) in seconds after ``wall``."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() - wall, 1)
