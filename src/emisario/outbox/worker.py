"""CRONUS: the worker that sends the outbox.

One process runs a main thread and one thread per account it is sending through:

- the main thread claims due messages in batches (:mod:`.claims`), resolves each message's
  account by the seed's ladder (company accounts of the type by priority, system default
  accounts, the generic account), skipping accounts that are switched off, paused or whose
  circuit breaker is open (:mod:`emisario.core.dispatch.ladder`), and hands the message to
  that account's thread;
- an account's thread keeps one SMTP session open (:class:`~emisario.core.dispatch.session.
  Session`) and carries message after message over it, checking the account's limits before
  each (:mod:`.throttle`), resetting after any failed transaction and recycling the session
  after a maximum age or count;
- a heartbeat thread renews the leases of everything this worker holds.

Every outcome goes through :func:`emisario.core.dispatch.outcome.judge`, the same table the
console's words come from: a transient failure defers the message with backoff, a refused
recipient fails alone, an account-level failure (connect, TLS, AUTH, 421, a quota) pauses the
account and gives its messages back at once, so the next claim routes them to the next rung.

Stopping: SIGTERM or SIGINT stops claiming; each thread finishes the message in flight,
gives the rest back and says QUIT. A second signal exits at once; leases then expire and the
messages are claimed again (an interrupted DATA marked possibly delivered).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import (
    DatabaseError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
)
from django.db.backends.signals import connection_created
from django.utils import timezone

from emisario.accounts import crypto, oauth
from emisario.accounts.models import SmtpAccount
from emisario.accounts.probing import probe_tls_context
from emisario.accounts.selectors import generic_endpoint
from emisario.accounts.services import endpoint_of, probe_policy
from emisario.core.accounts import Resolution
from emisario.core.dispatch import backoff
from emisario.core.dispatch.ladder import AccountKey, Choice, NoneAvailable, next_account
from emisario.core.dispatch.limits import SendingLimits, Wait, recipient_batches, session_spent
from emisario.core.dispatch.outcome import (
    Decision,
    PauseReason,
    RcptPlan,
    Verdict,
    judge,
    judge_recipient,
    plan_after_rcpt,
)
from emisario.core.dispatch.session import Delivery, Reply, Session, SessionError
from emisario.core.mail.envelope import MIME_VERSION, header_block
from emisario.core.mail.headers import HeaderError
from emisario.core.secrets import UndecryptableSecret
from emisario.core.smtp.advice import parse_enhanced_status
from emisario.core.smtp.endpoint import SmtpEndpoint
from emisario.core.smtp.redact import secrets_for
from emisario.core.smtp.steps import Step
from emisario.outbox import claims, conf, storage, throttle
from emisario.outbox.delivery import Job, LeaseGone, Result, load_jobs
from emisario.outbox.ledger import Entry, Ledger, Mark
from emisario.outbox.models import (
    Attempt,
    AttemptOutcome,
    MessageStatus,
    RecipientStatus,
)

log = logging.getLogger("emisario.cronus")

SQLITE_PATIENCE_MS = 300_000
"""A worker's SQLite connections wait up to 5 minutes for the write lock (the web's wait 20 s):
a month-end batch queued in one transaction holds the lock a while, and a result the worker
could not write would be a resend."""


def _patient(sender: object, connection: object, **kwargs: object) -> None:
    if getattr(connection, "vendor", "") == "sqlite":
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_PATIENCE_MS}")


NO_ACCOUNT_RETRY = timedelta(minutes=1)
"""How soon a message with no account available is looked at again, at most."""
DATABASE_ERROR_RETRY = timedelta(seconds=30)
"""A message given back after a database error waits this long (no hot loop on a sick
database)."""
LISTEN_SLICE = 0.25
"""Seconds of one NOTIFY wait before the loop looks at its signals and runners again."""
SWITCH_INTERVAL = 0.0002
"""Seconds a thread keeps the interpreter before another may run (Python's default: 0.005)."""
MARK_AHEAD = 8
"""DATA marks a session asks for ahead of itself at first. Each time it finds the next mark
not yet written (the database is slower than the session: PostgreSQL's durable commit takes
milliseconds), it asks twice as far ahead, up to :data:`MARK_AHEAD_MAX`."""
MARK_AHEAD_MAX = 32
"""At most this many messages per session may be flagged possibly delivered after a crash
(one of them at most was in DATA)."""
SESSIONS_PER_ACCOUNT = 3
"""Sessions one worker opens to one account at most (fewer where the account's
``concurrent_sessions`` limit says so; every worker on every host shares that limit through
the session slots). One session waits a round trip or two per message: over a real network
that, not the CPU, sets its pace, and Microsoft 365 allows three per mailbox."""
SPREAD_AT = 4
"""A message goes to another session of the account (opened for it when there are fewer
than allowed) once every open one has this many in hand, the one being sent included."""
ACCOUNT_BLOCK = 5.0
"""Seconds this worker hands nothing to an account after one of its sessions failed it (its
pause, a minute at least, reaches every worker through the database; this covers the batch
being routed at that moment with the states read before)."""


@dataclass
class Options:
    worker_id: str = ""
    batch_size: int = 100
    lease: timedelta = timedelta(seconds=60)
    poll: float = 1.0
    once: bool = False
    max_messages: int | None = None
    idle_close: float = 15.0
    """Seconds a session may stay idle before QUIT."""
    session_max_age: float = 600.0
    session_max_messages: int = 2000
    smtp_timeout: float = 60.0
    sessions_per_account: int = SESSIONS_PER_ACCOUNT
    threads: bool = True
    """False: every account's messages are sent in the main thread, one account after the
    other (tests on a database only the main thread can see; debugging)."""

    def __post_init__(self) -> None:
        if not self.worker_id:
            self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        if not self.threads:  # one account after the other in the main thread
            self.sessions_per_account = 1


@dataclass
class Account:
    """A rung of the ladder as a thread sends through it."""

    key: AccountKey
    endpoint: SmtpEndpoint
    row: SmtpAccount | None
    limits: SendingLimits
    display_name: str = ""

    @property
    def label(self) -> str:
        return f"{self.endpoint.sender} ({self.endpoint.target})"


class AccountUnusable(Exception):
    """The account's password cannot be decrypted (a key was removed): nothing can be sent
    through it until someone saves it again."""


def load_account(resolution: Resolution) -> Account:
    if resolution.account is None:
        endpoint = resolution.generic
        assert endpoint is not None
        return Account(None, endpoint, None, throttle.limits_for(None, endpoint.host))
    row = SmtpAccount.objects.select_related("sending_limits").get(pk=resolution.account.id)
    if row.uses_oauth:  # the token is asked for at each login, by the session's thread
        endpoint = endpoint_of(row, None, bearer=oauth.source_for(row))
        return Account(
            row.pk, endpoint, row, throttle.limits_for(row, row.host), display_name=row.display_name
        )
    password = None
    if row.password_token:
        try:
            password = crypto.decrypt(row.password_token)
        except UndecryptableSecret as exc:
            raise AccountUnusable(str(exc)) from None
    endpoint = endpoint_of(row, password)
    return Account(
        row.pk, endpoint, row, throttle.limits_for(row, row.host), display_name=row.display_name
    )


# --- one message ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What the RCPT replies decided, kept for judging the end of the transaction."""

    plan: RcptPlan | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)


def _body(job: Job, root: str) -> Iterator[bytes]:
    if job.body_name:
        yield from storage.iter_chunks(job.body_name, root=root)


def _retry(job: Job, now: datetime, text: str) -> backoff.RetryAt | backoff.Expired:
    return backoff.schedule_retry(
        job.attempts + 1,
        now=now,
        queued_at=job.created_at,
        last_reply=text,
        expires=job.expires_at,
    )


def _sent_before(job: Job) -> bool:
    """Some recipient got the message in an earlier attempt."""
    return any(r.status == RecipientStatus.SENT for r in job.recipients)


def _deferred(job: Job, result: Result, sent_before: bool) -> Result:
    """A transient outcome: deferred with backoff, or failed as expired."""
    now = timezone.now()
    when = _retry(job, now, result.text)
    if isinstance(when, backoff.RetryAt):
        result.status = MessageStatus.DEFERRED
        result.next_attempt_at = when.when
        return result
    result.status = (
        MessageStatus.PARTIALLY_SENT if sent_before or result.accepted else MessageStatus.FAILED
    )
    result.outcome = AttemptOutcome.FAILED
    result.error_code = "expired"
    result.failed_rest = True
    return result


def _reply_result(verdict: Verdict, step: Step, code: int | None, text: str) -> Result:
    return Result(
        status=MessageStatus.DEFERRED,
        outcome=AttemptOutcome.RETRY,
        step=str(step),
        code=code,
        enhanced=verdict.enhanced or "",
        text=text,
        error_code=str(verdict.advice or ""),
        verdict=verdict,
    )


class Runner:
    """Sends one account's messages over one session; in its own thread unless inline."""

    _tokens = iter(range(1, 1 << 62))

    def __init__(self, worker: Cronus, account: Account) -> None:
        self.worker = worker
        self.account = account
        self.queue: deque[Job] = deque()
        self.pending = 0
        self.closed = False
        """Set (under ``lock``) when the runner stops taking jobs: nothing offered after that
        can be left in its queue."""
        self.lock = threading.Lock()
        self.ready = threading.Condition(self.lock)
        self.session: Session | None = None
        self.slot: int | None = None
        self.slot_owner = f"{worker.owner}#{next(self._tokens)}"
        """Slots are held per runner: two runners of one worker never share one."""
        self.done = False
        self.thread: threading.Thread | None = None
        self.secrets = secrets_for(account.endpoint)
        self.marks: dict[int, Mark] = {}
        self.lead = MARK_AHEAD
        """How far ahead this session asks for DATA marks (grows, see MARK_AHEAD)."""
        self.success_recorded = False
        self.incident_seen = False
        """Set (under the worker's lock) once an account failure of a sibling session, or of
        this one, was recorded: a failure of its own after that is the same incident."""

    # -- the queue ---------------------------------------------------------------------------

    def offer(self, job: Job) -> bool:
        with self.lock:
            if self.closed or self.done:
                return False
            self.pending += 1
            self.queue.append(job)
            self.ready.notify()
            return True

    def _settle(self, count: int = 1) -> None:
        with self.lock:
            self.pending -= count

    def _next(self, wait: float) -> Job | None:
        with self.lock:
            if not self.queue and wait:
                self.ready.wait(wait)
            if not self.queue:
                return None
            job = self.queue.popleft()
            following = [self.queue[n] for n in range(min(self.lead - 1, len(self.queue)))]
        self._mark_ahead([job, *following])
        return job

    def _mark_ahead(self, jobs: list[Job]) -> None:
        """Ask for the DATA marks of this job and the next few, so the ledger writes them
        while the session is busy (a crash then flags at most these as possibly delivered,
        of which one at most was in DATA). Asked for in runs of half the lead, not one
        per message: one commit then carries several, which matters on SQLite, where every
        commit of every worker takes the same lock."""
        if self.done:  # held back: what is still queued here is being given back
            jobs = jobs[:1]
        unmarked = [item for item in jobs if item.pk not in self.marks and item.pending]
        if not unmarked:
            return
        if unmarked[0] is jobs[0] or len(unmarked) >= self.lead // 2 or len(jobs) < self.lead:
            for item in unmarked:
                self.marks[item.pk] = self.worker.ledger.mark(item.pk)

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._thread, name=f"cronus-{self.account.key}-{self.slot_owner}", daemon=True
        )
        self.thread.start()

    def _thread(self) -> None:
        try:
            self.drain(wait=self.worker.options.idle_close)
        finally:
            connection.close()

    def drain(self, *, wait: float = 0.0) -> None:
        """Send queued jobs until the queue stays empty ``wait`` seconds, the worker stops,
        or the account becomes unusable (then everything left is given back)."""
        try:
            idle_since = time.monotonic()
            while True:
                job = self._next(0.1 if wait else 0.0)
                if job is None:
                    stop = self.worker.stopping.is_set() or self.worker.draining.is_set()
                    # Held back (a limit, the account's failure): nothing more comes to this
                    # runner, so its session and slot go now, not after the idle time.
                    if not wait or stop or self.done or time.monotonic() - idle_since > wait:
                        break
                    continue
                idle_since = time.monotonic()
                if self.worker.stopping.is_set() or self.done:
                    self._give_back([job])
                    self._settle()
                    self.worker.progress(job, counted=False)
                    continue
                try:
                    self._one(job)
                except DatabaseError as exc:
                    # The database refused a write of ours: stop. The message goes back (its
                    # DATA mark, if any, stays: the next claim flags it), or, if even that
                    # fails, its lease is no longer renewed and it is taken back when it ends.
                    log.error(json.dumps({"event": "database_error", "error": str(exc)[:300]}))
                    later = timezone.now() + DATABASE_ERROR_RETRY
                    self._give_back([job], at=later, reason="database_error", keep_mark=True)
                    self.done = True
                finally:
                    self._settle()
                    self.worker.progress(job)
        finally:
            with self.lock:
                self.done = True
                self.closed = True
            self._rest()
            self._close()

    def _rest(self, *, until: datetime | None = None, reason: str = "") -> None:
        with self.lock:
            left = list(self.queue)
            self.queue.clear()
        if left:
            self._give_back(left, at=until, reason=reason)
            self._settle(len(left))
            for job in left:
                self.worker.progress(job, counted=False)

    def _give_back(
        self,
        jobs: list[Job],
        *,
        at: datetime | None = None,
        reason: str = "",
        keep_mark: bool = False,
    ) -> None:
        for job in jobs:
            self.marks.pop(job.pk, None)
        self.worker.give_back([j.pk for j in jobs], at=at, reason=reason, keep_mark=keep_mark)

    # -- the session -------------------------------------------------------------------------

    def _close(self) -> None:
        if self.session is not None:
            self.session.close(quit=True)
            self.session = None
        if self.slot is not None:
            with contextlib.suppress(DatabaseError):
                throttle.free_slot(self.account.key, self.slot_owner, self.slot)
            self.slot = None

    def _session(self) -> Session | None:
        """The open session, recycled when too old or spent; None when no slot is free."""
        options, limits = self.worker.options, self.account.limits
        session = self.session
        if session is not None and session.is_open:
            old = time.monotonic() - session.opened_at > options.session_max_age
            spent = session_spent(limits, session.messages) or (
                session.messages >= options.session_max_messages
            )
            if not (old or spent):
                return session
            session.close(quit=True)
        if self.slot is None:
            self.slot = throttle.take_slot(
                self.account.key, self.slot_owner, limits.concurrent_sessions, options.lease
            )
            if self.slot is None:
                return None
        self.session = Session(
            self.account.endpoint,
            policy=self.worker.policy,
            tls_context=self.worker.tls_context,
            timeout=options.smtp_timeout,
        )
        self.session.open()
        return self.session

    # -- one message -------------------------------------------------------------------------

    def _one(self, job: Job) -> None:
        started, clock = timezone.now(), time.monotonic()
        pending = job.pending
        if not pending:  # every recipient already done in an earlier attempt
            self._record(job, self._settled(job), started, clock)
            return
        reservation = throttle.reserve(
            self.account.key,
            self.account.limits,
            recipients=len(pending),
            lease=self.worker.options.lease,
        )
        if isinstance(reservation, Wait):
            # Over a limit: this message and the rest wait, never fail.
            reason = f"limited:{reservation.limit}"
            self._give_back([job], at=reservation.until, reason=reason)
            self.worker.limited(job, reservation, self.account)
            self._hold_back(reservation.until, reason)
            return
        result: Result | None = None
        try:
            try:
                session = self._session()
            except SessionError as exc:
                if self.worker.one_session_too_many(self):
                    # The server took the account's other sessions and refused this one (too
                    # many connections): the account is fine, it wants fewer sessions.
                    self._give_back([job], reason="session_refused")
                    self._hold_back(timezone.now(), "session_refused")
                    return
                self._account_failed(job, exc, started, clock)
                return
            if session is None:  # every session slot is held by other workers
                soon = timezone.now() + timedelta(seconds=2)
                self._give_back([job], at=soon, reason="limited:concurrent_sessions")
                self._hold_back(soon, "limited:concurrent_sessions")
                return
            result = self._send(job, session, pending)
        finally:
            # Only a send that reached DATA counts against the limits.
            if result is not None and (result.data_sent or result.accepted):
                throttle.finish(reservation)
            else:
                throttle.cancel(reservation)
        self.marks.pop(job.pk, None)
        if result is None:  # the lease was gone before DATA: someone else has it
            self.worker.forget(job.pk)
            return
        if result.verdict is not None and result.verdict.fail_over:
            self._fail_over(job, result, started, clock)
            return
        self._record(job, result, started, clock)
        if result.accepted and not self.success_recorded:
            throttle.record_success(self.account.key)
            self.success_recorded = True

    def _hold_back(self, until: datetime, reason: str) -> None:
        """Give every queued job back until ``until`` and stop this thread."""
        with self.lock:
            self.done = True
        self._rest(until=until, reason=reason)

    def _header(self, job: Job) -> bytes:
        if MIME_VERSION not in job.head:  # a head its migration could not render
            raise HeaderError("the stored header is incomplete")
        return header_block(
            sender=job.from_address or self.account.endpoint.sender,
            sender_name="" if job.from_address else self.account.display_name,
            head=job.head,
        )

    def _send(self, job: Job, session: Session, pending: list) -> Result | None:
        endpoint = self.account.endpoint
        sender = job.from_address or endpoint.sender
        try:
            header = self._header(job)
        except HeaderError as exc:
            return Result(
                MessageStatus.FAILED,
                AttemptOutcome.FAILED,
                error_code="invalid_message",
                text=str(exc),
                failed_rest=True,
            )
        total = Result(MessageStatus.SENT, AttemptOutcome.SENT)
        sent_before = _sent_before(job)
        for batch in recipient_batches(self.account.limits, [r.address for r in pending]):
            plan = Plan()

            def decide(replies: dict[str, Reply], plan: Plan = plan) -> bool:
                for address, reply in replies.items():
                    plan.verdicts[address] = judge_recipient(
                        code=reply.code, text=reply.text, authenticated=session.authenticated
                    )
                plan.plan = plan_after_rcpt(plan.verdicts.values())
                if plan.plan is not RcptPlan.SEND_DATA:
                    return False
                asked = self.marks.get(job.pk)
                if asked is not None and not asked.settled:  # asked ahead, still not written:
                    self.lead = min(self.lead * 2, MARK_AHEAD_MAX)  # ask further ahead
                mark = asked or self.worker.ledger.mark(job.pk)
                held = mark.wait(self.worker.options.lease.total_seconds() / 2)
                if held is None:
                    raise DatabaseError("the DATA mark was not written in time")
                if not held:
                    raise LeaseGone(job.pk)
                return True

            try:
                delivery = session.send(
                    sender=sender,
                    recipients=list(batch),
                    header=header,
                    body=_body(job, self.worker.storage_root),
                    size=len(header) + job.body_size,
                    smtputf8=job.needs_smtputf8,
                    before_data=decide,
                    body_checked=True,  # rendered by intake, checked there (WireSafety)
                )
            except LeaseGone:
                return None
            except SessionError as exc:
                if exc.usable:
                    session.reset()
                verdict = judge(
                    exc.step,
                    code=exc.code,
                    text=exc.text,
                    fault=exc.fault,
                    authenticated=exc.authenticated,
                )
                failed = _reply_result(verdict, exc.step, exc.code, exc.text)
                failed.accepted, failed.refused = total.accepted, total.refused
                failed.replies = total.replies
                failed.data_sent = exc.data_started
                failed.unanswered = exc.data_written
                return self._conclude(job, failed, verdict, sent_before)
            outcome = self._transaction(delivery, plan, total)
            if outcome is not None:
                return self._conclude(job, outcome, outcome.verdict, sent_before)
        return self._settled(job, total)

    def _transaction(self, delivery: Delivery, plan: Plan, total: Result) -> Result | None:
        """Fold one transaction into ``total``; a Result when it ends the attempt early."""
        for address, verdict in plan.verdicts.items():
            if verdict.decision is Decision.RECIPIENT_FAILED:
                reply = delivery.recipients[address]
                total.refused[address] = (reply.code, verdict.enhanced or "", reply.text)
        if plan.plan is None:  # nobody accepted: session.send reset without asking
            plan.verdicts = {
                a: judge_recipient(code=r.code, text=r.text, authenticated=False)
                for a, r in delivery.recipients.items()
            }
            plan.plan = plan_after_rcpt(plan.verdicts.values())
            for address, verdict in plan.verdicts.items():
                if verdict.decision is Decision.RECIPIENT_FAILED:
                    reply = delivery.recipients[address]
                    total.refused[address] = (reply.code, verdict.enhanced or "", reply.text)
        if plan.plan is RcptPlan.ALL_REFUSED:
            return None  # settled at the end: these recipients are refused
        if plan.plan in (RcptPlan.ABANDON_FAIL_OVER, RcptPlan.ABANDON_RETRY):
            address, verdict = next(
                (a, v)
                for a, v in plan.verdicts.items()
                if v.decision in (Decision.ACCOUNT_PAUSE, Decision.RETRY)
                and (plan.plan is RcptPlan.ABANDON_RETRY or v.fail_over)
            )
            reply = delivery.recipients[address]
            result = _reply_result(verdict, Step.RCPT, reply.code, reply.text)
            result.accepted, result.refused = total.accepted, total.refused
            result.replies = total.replies
            return result
        assert delivery.data is not None
        data = delivery.data
        if data.code == 250:
            accepted = [a for a, v in plan.verdicts.items() if v.decision is Decision.SENT]
            total.accepted.extend(accepted)
            enhanced = parse_enhanced_status(data.text) or ""
            total.replies.update(dict.fromkeys(accepted, (data.code, enhanced)))
            total.enhanced = enhanced
            total.step, total.code, total.text = str(Step.DATA), data.code, data.text
            retry = [a for a, v in plan.verdicts.items() if v.decision is Decision.RETRY]
            if retry:  # some recipients said "later": the attempt ends deferred for them
                address = retry[0]
                reply = delivery.recipients[address]
                result = _reply_result(plan.verdicts[address], Step.RCPT, reply.code, reply.text)
                result.accepted, result.refused = total.accepted, total.refused
                result.replies = total.replies
                result.data_sent = True
                return result
            return None
        verdict = judge(Step.DATA, code=data.code, text=data.text)
        result = _reply_result(verdict, Step.DATA, data.code, data.text)
        result.accepted, result.refused = total.accepted, total.refused
        result.replies = total.replies
        result.data_sent = True
        return result

    def _conclude(
        self, job: Job, result: Result, verdict: Verdict | None, sent_before: bool
    ) -> Result:
        if verdict is None or verdict.decision is Decision.RETRY:
            return _deferred(job, result, sent_before)
        if verdict.fail_over:
            result.outcome = AttemptOutcome.ACCOUNT
            return result
        # A permanent refusal of the message itself (5xx at MAIL or DATA).
        result.status = (
            MessageStatus.PARTIALLY_SENT if sent_before or result.accepted else MessageStatus.FAILED
        )
        result.outcome = AttemptOutcome.FAILED
        result.error_code = result.error_code or "message_refused"
        result.failed_rest = True
        return result

    def _settled(self, job: Job, total: Result | None = None) -> Result:
        """The message's status once no recipient is left to try in this attempt."""
        total = total or Result(MessageStatus.SENT, AttemptOutcome.SENT)
        done = {r.address for r in job.recipients if r.status == RecipientStatus.SENT}
        done.update(total.accepted)
        refused = {
            r.address for r in job.recipients if r.status in (RecipientStatus.REFUSED,)
        } | set(total.refused)
        if not refused:
            total.status, total.outcome = MessageStatus.SENT, AttemptOutcome.SENT
        elif done:
            total.status, total.outcome = (
                MessageStatus.PARTIALLY_SENT,
                AttemptOutcome.PARTIALLY_SENT,
            )
            total.error_code = "recipients_refused"
        else:
            total.status, total.outcome = MessageStatus.FAILED, AttemptOutcome.FAILED
            total.error_code = "recipients_refused"
            first = next(iter(total.refused.values()), None)
            if first is not None:
                total.step, total.code, total.enhanced, total.text = (
                    str(Step.RCPT), first[0], first[1], first[2],
                )  # fmt: skip
        total.data_sent = bool(total.accepted)
        return total

    def _record(self, job: Job, result: Result, started: datetime, clock: float) -> None:
        """Hand the result to the ledger (it is written within one group, milliseconds)."""
        self.worker.ledger.write(
            Entry(
                job,
                result,
                account_id=self.account.key,
                account_label=self.account.label,
                started_at=started,
                duration_ms=int((time.monotonic() - clock) * 1000),
                secrets=self.secrets,
                written=self.worker.written,
            )
        )

    def _account_failed(self, job: Job, exc: SessionError, started: datetime, clock: float) -> None:
        verdict = judge(
            exc.step, code=exc.code, text=exc.text, fault=exc.fault, authenticated=exc.authenticated
        )
        result = _reply_result(verdict, exc.step, exc.code, exc.text)
        if not verdict.fail_over:
            # A transient failure opening the session (rare: most are the account's).
            self._record(job, _deferred(job, result, _sent_before(job)), started, clock)
            self._hold_back(timezone.now() + timedelta(seconds=30), "session_failed")
            return
        result.outcome = AttemptOutcome.ACCOUNT
        self._fail_over(job, result, started, clock)

    def _fail_over(self, job: Job, result: Result, started: datetime, clock: float) -> None:
        """Pause the account for everyone and give its messages back now: the next claim
        sends them through the next rung of the ladder."""
        assert result.verdict is not None
        if self.worker.first_of_incident(self):  # its siblings' failures are the same one
            throttle.record_failure(self.account.key, result.verdict, result.text)
        self.worker.account_changed()
        result.status = MessageStatus.DEFERRED
        result.outcome = AttemptOutcome.ACCOUNT
        result.next_attempt_at = timezone.now()
        if job.expires_at <= timezone.now():
            result = _deferred(job, result, _sent_before(job))
        self._record(job, result, started, clock)
        if self.session is not None:
            self.session.close(quit=True)
            self.session = None
        self.worker.account_unavailable(self.account.key)


# --- the worker ------------------------------------------------------------------------------


class Cronus:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.owner = options.worker_id
        self.stopping = threading.Event()
        self.draining = threading.Event()
        """Set by ``--once`` when nothing more is due: runners end once their queue is empty."""
        self.wake = threading.Event()
        self.runners: dict[AccountKey, list[Runner]] = {}
        """Each account's runners (one session each), closing ones too until they are gone."""
        self._session_caps: dict[AccountKey, int] = {}
        """Sessions an account's server took at most before it refused one more."""
        self._blocked: dict[AccountKey, float] = {}
        """Accounts a session failed just now, until when (monotonic): see ACCOUNT_BLOCK."""
        self._no_slot: set[AccountKey] = set()
        """Accounts whose every slot was held at the last try, within one routing pass."""
        self.finished = 0
        self.finished_since_look = 0
        """Messages finished since the main loop last looked (see :meth:`progress`)."""
        self.held: set[int] = set()
        """Ids this worker holds a lease on and still works on: only these are renewed."""
        self.ledger = Ledger(self.owner, threaded=options.threads)
        self._beating = threading.Event()
        """Stops the heartbeat: set only after the runners finished what was in flight."""
        self._lock = threading.Lock()
        self._states_at = 0.0
        self._states: dict = {}
        self._rows_at = 0.0
        self._rows: list = []
        self.storage_root = storage.location()
        self.policy = probe_policy()
        self.tls_context = probe_tls_context()
        self.generic = generic_endpoint()
        self._listener = None

    # -- bookkeeping called from runners ----------------------------------------------------

    def progress(self, job: Job, *, counted: bool = True) -> None:
        if counted:
            with self._lock:
                self.finished += 1
                limit = self.options.max_messages
                if limit is not None and self.finished >= limit:
                    self.stopping.set()
        # Wake the loop when it may have something to do: half a batch finished since it last
        # looked (it claims when half a batch is free), a message given back, or a stop. Not
        # for every message sent; meanwhile it looks every 0.2 s anyway.
        with self._lock:
            self.finished_since_look += 1
            due = self.finished_since_look >= max(1, (self.options.batch_size + 1) // 2)
        if due or not counted or self.stopping.is_set():
            self.wake.set()

    def limited(self, job: Job, wait: Wait, account: Account) -> None:
        """A limit made ``job`` (and what was queued behind it) wait: one attempt row says so,
        the message's attempt count is untouched (it was not tried)."""
        Attempt.objects.create(
            message_id=job.pk,
            account_id=account.key,
            account_label=account.label[:300],
            worker=self.owner[:100],
            finished_at=timezone.now(),
            duration_ms=0,
            outcome=AttemptOutcome.LIMITED,
            server_text=f"{wait.limit}: waits until {wait.until.isoformat()}",
        )
        log.info(
            json.dumps(
                {
                    "event": "limited",
                    "message": job.pk,
                    "message_id": job.message_id,
                    "limit": str(wait.limit),
                    "until": wait.until.isoformat(),
                }
            )
        )

    def account_changed(self) -> None:
        self._states_at = 0.0

    def forget(self, pk: int) -> None:
        with self._lock:
            self.held.discard(pk)

    def forget_many(self, ids: list[int]) -> None:
        with self._lock:
            self.held.difference_update(ids)

    def written(self, entry: Entry, held: bool) -> None:
        """The ledger wrote a result: the message is no longer ours."""
        self.forget(entry.job.pk)

    def give_back(
        self, ids: list[int], *, at: datetime | None = None, reason: str = "", keep_mark: bool
    ) -> None:
        """Release ``ids`` unsent; when even that fails, stop renewing them (their lease ends
        and another claim takes them back)."""
        # Forgotten first: once released, the main loop may claim them again at once, and
        # forgetting them after that would stop their new lease being renewed.
        self.forget_many(ids)
        try:
            claims.release(self.owner, ids, at=at, reason=reason, keep_mark=keep_mark)
        except DatabaseError as exc:
            log.error(json.dumps({"event": "release_failed", "error": str(exc)[:300]}))

    # -- routing -----------------------------------------------------------------------------

    def _account_rows(self) -> list:
        if time.monotonic() - self._rows_at > 5.0:
            self._rows = [
                a.as_row() for a in SmtpAccount.objects.select_related("account_type", "company")
            ]
            self._rows_at = time.monotonic()
        return self._rows

    def _health(self) -> dict:
        if time.monotonic() - self._states_at > 1.0:
            self._states = throttle.states()
            self._states_at = time.monotonic()
        return self._states

    def route(self, jobs: list[Job]) -> None:
        now = timezone.now()
        self._no_slot.clear()
        rows, states = self._account_rows(), self._health()
        waiting: dict[tuple[datetime | None, str], list[Job]] = {}
        for job in jobs:
            choice = next_account(
                rows, states, company=job.company_id, now=now, type_code=job.type_code,
                generic=self.generic,
            )  # fmt: skip
            if isinstance(choice, NoneAvailable):
                reason = "no_account_available" if choice.until else "no_account"
                waiting.setdefault((choice.until, reason), []).append(job)
                continue
            if not self._hand_to(choice, job):  # paused now: the next claim takes the next rung
                waiting.setdefault((now, "account_unusable"), []).append(job)
        for (until, reason), held in waiting.items():
            self._defer_unrouted(held, until, reason)

    def _defer_unrouted(self, jobs: list[Job], until: datetime | None, reason: str) -> None:
        now = timezone.now()
        at = min(until, now + NO_ACCOUNT_RETRY) if until is not None else now + NO_ACCOUNT_RETRY
        expired = [j for j in jobs if j.expires_at <= now]
        live = [j for j in jobs if j.expires_at > now]
        if live:
            claims.release(self.owner, [j.pk for j in live], at=at, reason=reason)
            self.forget_many([j.pk for j in live])
        for job in expired:
            status = MessageStatus.PARTIALLY_SENT if _sent_before(job) else MessageStatus.FAILED
            result = Result(
                status, AttemptOutcome.FAILED, error_code="expired",
                text=f"no account could send it ({reason})", failed_rest=True,
            )  # fmt: skip
            self.ledger.write(
                Entry(
                    job, result, account_id=None, account_label="", started_at=now,
                    duration_ms=0, written=self.written,
                )
            )  # fmt: skip
        for job in jobs:
            self.progress(job, counted=False)

    def _hand_to(self, choice: Choice, job: Job) -> bool:
        """Queue ``job`` on one of the account's runners: the one with the least waiting, or
        a new one when every open one has :data:`SPREAD_AT` waiting and the account allows
        another session (or none is open); False when the account cannot be loaded."""
        key = choice.key
        if self._blocked.get(key, 0.0) > time.monotonic():
            return False  # failed a moment ago: the next claim routes it down the ladder
        pool = self.runners.setdefault(key, [])
        live = [r for r in pool if not (r.closed or r.done)]
        least = min(live, key=lambda r: r.pending, default=None)
        if least is not None:
            spread = least.pending >= SPREAD_AT and len(live) < self._sessions_for(least.account)
            if spread and key not in self._no_slot:  # a session more, for a loaded account
                runner = Runner(self, least.account)
                if self._reserve_slot(runner):
                    self._start(pool, runner, job)
                    return True
                self._no_slot.add(key)  # not again in this pass: each try is a write
            if least.offer(job):
                return True
        try:
            account = load_account(choice.rung)
        except (AccountUnusable, SmtpAccount.DoesNotExist) as exc:
            # Nothing can be sent through it until someone saves it again: pause it (and open
            # its breaker) like any configuration failure, so the next claim fails over.
            log.error(json.dumps({"event": "account_unusable", "account": key, "error": str(exc)}))
            unusable = Verdict(Decision.ACCOUNT_PAUSE, reason=PauseReason.CONFIGURATION)
            throttle.record_failure(key, unusable, f"the account cannot be used: {exc}")
            self.account_changed()
            return False
        runner = Runner(self, account)
        # Its slot is taken here, before any other runner of the account can start: without
        # one it tries again when it opens its session, and gives its messages back a while.
        self._reserve_slot(runner)
        self._start(pool, runner, job)
        return True

    def _start(self, pool: list[Runner], runner: Runner, job: Job) -> None:
        runner.offer(job)  # a new runner is open: it takes the job
        pool.append(runner)
        if self.options.threads:
            runner.start()

    def _sessions_for(self, account: Account) -> int:
        cap = account.limits.concurrent_sessions
        wanted = min(
            self.options.sessions_per_account,
            self._session_caps.get(account.key, self.options.sessions_per_account),
        )
        return wanted if cap is None else max(1, min(wanted, cap))

    def _reserve_slot(self, runner: Runner) -> bool:
        """Take a session slot for a runner before it starts (in this thread, so two runners
        of the account never race for one). An extra runner is only added with a slot: when
        every slot is held (by this worker's runners or another worker's), the message waits
        on an open session instead."""
        cap = runner.account.limits.concurrent_sessions
        try:  # no cap: slot 0, nothing to share and nothing written
            runner.slot = throttle.take_slot(
                runner.account.key, runner.slot_owner, cap, self.options.lease
            )
        except DatabaseError:
            return False
        return runner.slot is not None

    def one_session_too_many(self, runner: Runner) -> bool:
        """``runner`` could not open its session while a sibling still works (its session
        open, or opening at the same moment): the server wants fewer sessions, the account is
        fine. This worker then opens no more sessions to it than are open. The last of the
        account's runners to fail is never "one too many": its failure is the account's."""
        with self._lock:
            working = [
                other
                for other in self.runners.get(runner.account.key, [])
                if other is not runner and not (other.done or other.closed)
            ]
            if not working:
                return False
            open_now = sum(1 for o in working if o.session is not None and o.session.is_open)
            self._session_caps[runner.account.key] = max(1, open_now)
        log.warning(
            json.dumps(
                {"event": "session_refused", "account": runner.account.key, "open": open_now}
            )
        )
        return True

    def first_of_incident(self, runner: Runner) -> bool:
        """Whether ``runner``'s account failure is the first of its incident in this worker:
        the sessions that were sending at that moment fail too, and one incident must count
        once on the account's breaker."""
        with self._lock:
            if runner.incident_seen:
                return False
            for other in self.runners.get(runner.account.key, []):
                other.incident_seen = True
            runner.incident_seen = True
            return True

    def account_unavailable(self, key: AccountKey) -> None:
        """An account-level failure on one session: every session of this worker to that
        account gives its waiting messages back now (the next claim routes them to the next
        rung) and stops taking more; the sends in flight finish."""
        with self._lock:
            self._blocked[key] = time.monotonic() + ACCOUNT_BLOCK
        for runner in list(self.runners.get(key, [])):
            runner._hold_back(timezone.now(), "account_unavailable")

    def _all_runners(self) -> list[Runner]:
        return [runner for pool in list(self.runners.values()) for runner in list(pool)]

    # -- the loop ----------------------------------------------------------------------------

    def in_flight(self) -> int:
        return sum(r.pending for r in self._all_runners())

    def run(self) -> int:
        log.info(json.dumps({"event": "start", "worker": self.owner, "pid": os.getpid()}))
        # A session thread waiting for a reply must get the interpreter back at once when the
        # reply comes, not after another thread's 5 ms turn: sends are a few hundred
        # microseconds each.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        connection_created.connect(_patient)
        if connection.connection is not None:
            _patient(None, connection)
        if self.options.threads:
            threading.Thread(target=self._heartbeat, name="cronus-lease", daemon=True).start()
        self._listen()
        try:
            while not self.stopping.is_set():
                with self._lock:
                    self.finished_since_look = 0
                self._reap()
                room = self.options.batch_size - self.in_flight()
                if self.options.max_messages is not None:
                    room = min(room, self.options.max_messages - self.finished - self.in_flight())
                claimed: list[int] = []
                idle = not self.in_flight()
                if room >= max(1, self.options.batch_size // 2) or (room > 0 and idle):
                    try:
                        with self._lock:
                            holding = list(self.held)
                        claimed = claims.claim(
                            self.owner, room, self.options.lease, holding=holding
                        )
                        if claimed:
                            with self._lock:
                                self.held.update(claimed)
                            self.route(load_jobs(claimed))
                    except OperationalError as exc:  # locked or unreachable: try again
                        error = {"event": "claim_failed", "error": str(exc)[:300]}
                        log.warning(json.dumps(error))
                        self._wait(self.options.poll)
                        continue
                if not self.options.threads:
                    for runner in self._all_runners():
                        runner.drain()
                    self._reap()
                    self._renew()
                if claimed:
                    continue  # claim again at once: the next claim says if more is due
                if not self.in_flight():
                    if self.options.once:
                        self.draining.set()
                        break
                    self._wait(self.options.poll)
                else:  # the runners are busy; each message they finish wakes this loop
                    self._wait(0.2)
        finally:
            self.stopping.set()
            self._stop_runners()
            self.ledger.stop()  # every result handed in is written
            self._beating.set()
            with contextlib.suppress(DatabaseError):
                claims.release(self.owner)
                throttle.free_slots(self.owner)
            self._unlisten()
            connection_created.disconnect(_patient)
            sys.setswitchinterval(switch)
        log.info(json.dumps({"event": "stop", "worker": self.owner, "finished": self.finished}))
        return 0

    def _reap(self) -> None:
        def gone(runner: Runner) -> bool:
            return (
                runner.closed
                and runner.pending <= 0
                and (runner.thread is None or not runner.thread.is_alive())
            )

        for key, pool in list(self.runners.items()):
            pool[:] = [runner for runner in pool if not gone(runner)]
            if not pool:
                del self.runners[key]

    def _stop_runners(self) -> None:
        for runner in self._all_runners():
            if runner.thread is not None:
                runner.thread.join()
            elif not runner.done:
                runner.drain()

    def _renew(self) -> None:
        with self._lock:
            held = list(self.held)
        claims.renew(self.owner, self.options.lease, ids=held)
        throttle.renew_slots(self.owner, self.options.lease)

    def _heartbeat(self) -> None:
        """Renews the leases of what this worker still works on, until every runner and the
        ledger are done (a SIGTERM must not let the message in flight be taken back)."""
        every = max(self.options.lease.total_seconds() / 3, 0.2)
        try:
            while not self._beating.wait(every):
                try:
                    self._renew()
                except DatabaseError as exc:
                    error = {"event": "lease_renewal_failed", "error": str(exc)[:300]}
                    log.error(json.dumps(error))
                    close_old_connections()
        finally:
            connection.close()

    # -- waking up ---------------------------------------------------------------------------

    def _listen(self) -> None:
        """PostgreSQL: a connection of its own LISTENs, so a queued message wakes the worker at
        once; polling stays as the fallback (a missed notification is never a lost mail)."""
        if connections["default"].vendor != "postgresql":
            return
        try:
            import psycopg

            db = connections["default"].settings_dict
            self._listener = psycopg.connect(
                dbname=db["NAME"],
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None,
                port=db.get("PORT") or None,
                autocommit=True,
            )
            self._listener.execute(f"LISTEN {conf.NOTIFY_CHANNEL}")
        except Exception as exc:  # polling still works
            log.warning(json.dumps({"event": "listen_failed", "error": str(exc)[:300]}))
            self._listener = None

    def _unlisten(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None

    def _wait(self, seconds: float) -> None:
        """Until mail is queued (a NOTIFY), a runner finishes something, a signal comes, or
        ``seconds`` pass. The NOTIFY wait goes in short slices: a signal does not end
        psycopg's wait, and SIGTERM must not wait for the whole poll."""
        self.wake.clear()
        if self._listener is not None and seconds > LISTEN_SLICE:
            deadline = time.monotonic() + seconds
            try:
                while not (self.wake.is_set() or self.stopping.is_set()):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    slice_ = min(left, LISTEN_SLICE)
                    if any(True for _ in self._listener.notifies(timeout=slice_, stop_after=1)):
                        return
                return
            except Exception:
                self._unlisten()
        self.wake.wait(seconds)

    # -- signals -----------------------------------------------------------------------------

    def install_signals(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            if self.stopping.is_set():
                log.warning(json.dumps({"event": "forced_exit", "signal": signum}))
                os._exit(128 + signum)
            log.info(json.dumps({"event": "stopping", "signal": signum}))
            self.stopping.set()
            self.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
