"""What one attempt's outcome means for the message, the recipient and the account.

:func:`judge` is the one place CRONUS decides. It reads a reply (or a local fault) through the
same :func:`~emisario.core.smtp.advice.classify` and
:func:`~emisario.core.smtp.faults.failure_kind` that Probar uses, so the worker and the test
screen never disagree about a failure, then looks the result up in :data:`TABLE`: first
matching row wins.

Two rules shape the table. A sending limit (quota, rate, concurrency, logins) pauses the
*account* and never fails the message, even as a 5xx: peers lose mail by treating Gmail's
``550 5.4.5`` as permanent (gophish#1604). And a failure before MAIL FROM (connect, TLS,
greeting, AUTH) or a ``421`` (RFC 5321 section 3.8: the server closes the channel) says
nothing about the message, so it is the account's too: pause it and fail over.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from emisario.core.smtp.advice import Advice, Fault, classify, parse_enhanced_status
from emisario.core.smtp.faults import FailureKind, failure_kind
from emisario.core.smtp.steps import Step


class Decision(enum.StrEnum):
    """What happens next. Values are stored on attempt rows: never rename one."""

    SENT = "sent"
    """The server accepted it (at RCPT: that recipient; at DATA: the message)."""
    RETRY = "retry"
    """Transient (4xx, network error, timeout): try again later, see :mod:`.backoff`."""
    RECIPIENT_FAILED = "recipient_failed"
    """A 5xx at RCPT for this recipient: it failed for good, the others are unaffected."""
    MESSAGE_FAILED = "message_failed"
    """A 5xx for the message itself (after DATA): it failed for good."""
    ACCOUNT_PAUSE = "account_pause"
    """The account cannot send now: pause it (see :class:`PauseReason`) and send the message
    through the next account of the ladder."""


class PauseReason(enum.StrEnum):
    """Why an account is paused; each has its own :data:`PAUSES` entry."""

    DAILY_QUOTA = "daily_quota"
    HOURLY_QUOTA = "hourly_quota"
    SENDING_RATE = "sending_rate"
    CONCURRENCY = "concurrency"
    LOGIN_RATE = "login_rate"
    SERVER_BUSY = "server_busy"
    """421, or a 4xx before MAIL: the server is closing or overloaded."""
    UNREACHABLE = "unreachable"
    """The session could not be set up: DNS, connect, no greeting."""
    CREDENTIALS = "credentials"
    """AUTH refused: retrying a wrong password gets the mailbox locked."""
    TLS = "tls"
    """Certificate or handshake failure: a configuration problem."""
    CONFIGURATION = "configuration"
    """Network policy, greeting refused, AUTH not offered, ...: someone must fix it."""
    OAUTH_RECONNECT = "oauth_reconnect"
    """The OAuth grant is revoked or expired: nothing sends until someone connects again;
    the pause is short because a reconnect should let the mail go soon after."""
    POLICY_REFUSED = "policy_refused"
    """After AUTH, the server will not take mail from this account for this sender or
    recipient (relay denied, send-as denied): try the next account."""


@dataclass(frozen=True, slots=True)
class Pause:
    """How long to pause an account, and whether the circuit breaker opens at once."""

    duration: timedelta
    until_day_window: bool = False
    """A daily quota: pause until the account's 24 h window frees up, when the caller knows
    it (:func:`pause_until`); ``duration`` is the fallback."""
    trips_breaker: bool = False
    """Open the breaker now instead of counting towards its threshold."""


PAUSES: Mapping[PauseReason, Pause] = {
    # Google: after a daily limit the user "can't send new messages for up to 24 hours"
    # (support.google.com/a/answer/166852); Microsoft's daily submission quota likewise.
    PauseReason.DAILY_QUOTA: Pause(timedelta(hours=24), until_day_window=True),
    PauseReason.HOURLY_QUOTA: Pause(timedelta(hours=1)),
    # Amazon SES: wait and retry (docs: "how to handle a throttling ... error").
    PauseReason.SENDING_RATE: Pause(timedelta(minutes=1)),
    PauseReason.CONCURRENCY: Pause(timedelta(minutes=1)),
    PauseReason.LOGIN_RATE: Pause(timedelta(minutes=15)),
    PauseReason.SERVER_BUSY: Pause(timedelta(minutes=5)),
    PauseReason.UNREACHABLE: Pause(timedelta(minutes=5)),
    PauseReason.CREDENTIALS: Pause(timedelta(hours=6), trips_breaker=True),
    PauseReason.TLS: Pause(timedelta(hours=1), trips_breaker=True),
    PauseReason.CONFIGURATION: Pause(timedelta(hours=1), trips_breaker=True),
    PauseReason.POLICY_REFUSED: Pause(timedelta(minutes=15)),
    PauseReason.OAUTH_RECONNECT: Pause(timedelta(minutes=10)),
}

SESSION_STEPS = frozenset(
    {
        Step.POLICY,
        Step.DNS,
        Step.CONNECT,
        Step.TLS,
        Step.GREETING,
        Step.EHLO,
        Step.OAUTH,
        Step.AUTH,
    }
)
"""Steps before MAIL FROM: their failure is never the message's."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of :data:`TABLE`: every condition given must hold."""

    decision: Decision
    reason: PauseReason | None = None
    kinds: frozenset[FailureKind] | None = None
    advice: frozenset[Advice] | None = None
    steps: frozenset[Step] | None = None
    codes: frozenset[int] | None = None
    permanent_reply: bool = False
    """Only for a 5xx reply: a 4xx is never a permanent failure, whatever else it says."""

    def matches(self, step: Step, code: int | None, advice: Advice, kind: FailureKind) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.advice is not None and advice not in self.advice:
            return False
        if self.steps is not None and step not in self.steps:
            return False
        if self.codes is not None and code not in self.codes:
            return False
        return not self.permanent_reply or (code is not None and code // 100 == 5)


D, R, K, A = Decision, PauseReason, FailureKind, Advice
_TLS_ADVICE = frozenset(
    {
        A.TLS_ON_PLAIN_PORT,
        A.PLAIN_ON_TLS_PORT,
        A.STARTTLS_NOT_OFFERED,
        A.STARTTLS_FAILED,
        A.TLS_HANDSHAKE_FAILED,
        A.TLS_VERSION_UNSUPPORTED,
        A.CERT_UNTRUSTED,
        A.CERT_EXPIRED,
        A.CERT_HOSTNAME_MISMATCH,
    }
)
_UNREACHABLE_ADVICE = frozenset(
    {
        A.DNS_TEMPORARY,
        A.CONNECTION_REFUSED,
        A.NETWORK_UNREACHABLE,
        A.CONNECT_TIMEOUT,
        A.NO_RESPONSE,
        A.SERVER_DISCONNECTED,
        A.DEADLINE_EXCEEDED,
    }
)
_CREDENTIALS_ADVICE = frozenset(
    {
        A.AUTH_FAILED,
        A.GMAIL_APP_PASSWORD_REQUIRED,
        A.GMAIL_WEB_LOGIN_REQUIRED,
        A.GMAIL_CREDENTIALS_REJECTED,
        A.M365_SMTP_AUTH_DISABLED,
        A.M365_BASIC_AUTH_RETIRED,
        A.OAUTH_TOKEN_REJECTED,
    }
)

TABLE: tuple[Row, ...] = (
    # Sending limits first: whatever the code or the step, the account pauses.
    Row(D.ACCOUNT_PAUSE, R.DAILY_QUOTA, advice=frozenset({A.SENDING_QUOTA_EXCEEDED})),
    Row(D.ACCOUNT_PAUSE, R.DAILY_QUOTA, advice=frozenset({A.M365_SUBMISSION_QUOTA})),
    Row(D.ACCOUNT_PAUSE, R.HOURLY_QUOTA, advice=frozenset({A.HOURLY_QUOTA_EXCEEDED})),
    Row(D.ACCOUNT_PAUSE, R.SENDING_RATE, advice=frozenset({A.SENDING_RATE_LIMITED})),
    Row(D.ACCOUNT_PAUSE, R.CONCURRENCY, advice=frozenset({A.CONCURRENCY_LIMITED})),
    Row(D.ACCOUNT_PAUSE, R.LOGIN_RATE, advice=frozenset({A.LOGIN_RATE_LIMITED})),
    Row(D.ACCOUNT_PAUSE, R.SERVER_BUSY, kinds=frozenset({K.THROTTLED})),  # a new limit code
    # 421: "service not available, closing transmission channel" (Gmail "421 4.7.0 Try again
    # later"): the session is over at any step.
    Row(D.ACCOUNT_PAUSE, R.SERVER_BUSY, codes=frozenset({421})),
    # The session could not be set up: nothing was said about the message.
    Row(D.ACCOUNT_PAUSE, R.UNREACHABLE, advice=_UNREACHABLE_ADVICE, steps=SESSION_STEPS),
    Row(D.ACCOUNT_PAUSE, R.TLS, advice=_TLS_ADVICE, steps=SESSION_STEPS),
    Row(D.ACCOUNT_PAUSE, R.CREDENTIALS, advice=_CREDENTIALS_ADVICE, steps=SESSION_STEPS),
    Row(
        D.ACCOUNT_PAUSE,
        R.OAUTH_RECONNECT,
        advice=frozenset({A.OAUTH_RECONNECT_REQUIRED}),
        steps=SESSION_STEPS,
    ),
    Row(D.ACCOUNT_PAUSE, R.SERVER_BUSY, kinds=frozenset({K.TRANSIENT}), steps=SESSION_STEPS),
    Row(D.ACCOUNT_PAUSE, R.CONFIGURATION, steps=SESSION_STEPS),
    # In the envelope: RFC 5321 reply classes decide, refined by who is to blame.
    Row(D.RETRY, kinds=frozenset({K.TRANSIENT})),
    Row(D.RECIPIENT_FAILED, kinds=frozenset({K.RECIPIENT}), permanent_reply=True),
    Row(D.MESSAGE_FAILED, kinds=frozenset({K.MESSAGE}), permanent_reply=True),
    Row(D.ACCOUNT_PAUSE, R.POLICY_REFUSED, kinds=frozenset({K.ACCOUNT}), permanent_reply=True),
)
"""The default for anything unmatched (a local fault mid-envelope, an odd 4xx) is RETRY: the
safe answer that never loses the message, bounded by the expiry of :mod:`.backoff`."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision about one attempt (or one recipient at RCPT), with what the worker needs to
    act on it and to log it."""

    decision: Decision
    advice: Advice | None = None
    """The classification of the failure (None when SENT): the console explains it."""
    kind: FailureKind | None = None
    reason: PauseReason | None = None
    """Set exactly when ``decision`` is ACCOUNT_PAUSE."""
    enhanced: str | None = None

    @property
    def pause(self) -> Pause | None:
        return PAUSES[self.reason] if self.reason is not None else None

    @property
    def fail_over(self) -> bool:
        """Send this message through the next account of the ladder."""
        return self.decision is Decision.ACCOUNT_PAUSE

    @property
    def permanent(self) -> bool:
        return self.decision in (Decision.RECIPIENT_FAILED, Decision.MESSAGE_FAILED)


SENT = Verdict(Decision.SENT)


def judge(
    step: Step,
    *,
    code: int | None = None,
    text: str = "",
    enhanced: str | None = None,
    fault: Fault | None = None,
    authenticated: bool = False,
    table: Iterable[Row] = TABLE,
) -> Verdict:
    """What a step's reply (or local ``fault``) means. A positive reply (2xx, 3xx) is SENT;
    anything else goes through :func:`classify` and :data:`TABLE`. ``authenticated`` says
    AUTH passed earlier in the session, as for :func:`classify`."""
    if fault is None and code is not None and 200 <= code < 400:
        return SENT
    if enhanced is None:
        enhanced = parse_enhanced_status(text)
    advice = classify(
        step, code=code, text=text, fault=fault, enhanced=enhanced, authenticated=authenticated
    )
    kind = failure_kind(advice)
    for row in table:
        if row.matches(step, code, advice, kind):
            return Verdict(row.decision, advice, kind, row.reason, enhanced)
    return Verdict(Decision.RETRY, advice, kind, None, enhanced)


def pause_until(
    verdict: Verdict, *, now: datetime, day_window_frees_at: datetime | None = None
) -> datetime | None:
    """When the account may send again after ``verdict``; None when it is not a pause.
    ``day_window_frees_at`` is when the account's rolling 24 h window frees room again
    (:func:`emisario.core.dispatch.limits.check` tells it); it replaces the fallback of a
    daily-quota pause, never earlier than a minute from now."""
    pause = verdict.pause
    if pause is None:
        return None
    if pause.until_day_window and day_window_frees_at is not None:
        return max(day_window_frees_at, now + timedelta(minutes=1))
    return now + pause.duration


class RcptPlan(enum.StrEnum):
    """What to do with a transaction once every RCPT TO has been answered."""

    SEND_DATA = "send_data"
    """At least one recipient was accepted: send DATA to those; the refused are recorded
    (a partial refusal is "partially sent", never "sent"), the deferred retried later."""
    ABANDON_FAIL_OVER = "abandon_fail_over"
    """An account-level reply: RSET, pause the account and send the whole message through
    the next account (no recipient was judged)."""
    ABANDON_RETRY = "abandon_retry"
    """Nobody was accepted and someone may be later: RSET and retry."""
    ALL_REFUSED = "all_refused"
    """Every recipient failed for good: RSET; the message is failed, nothing is sent."""


def plan_after_rcpt(verdicts: Iterable[Verdict]) -> RcptPlan:
    """Combine the RCPT verdicts of one transaction (one per recipient)."""
    decisions = {verdict.decision for verdict in verdicts}
    if not decisions:
        raise ValueError("a transaction needs at least one recipient")
    if Decision.ACCOUNT_PAUSE in decisions:
        return RcptPlan.ABANDON_FAIL_OVER
    if Decision.SENT in decisions:
        return RcptPlan.SEND_DATA
    if decisions - {Decision.RECIPIENT_FAILED, Decision.MESSAGE_FAILED}:
        return RcptPlan.ABANDON_RETRY
    return RcptPlan.ALL_REFUSED


_RELAY = re.compile(r"relay", re.IGNORECASE)


def judge_recipient(*, code: int, text: str, authenticated: bool) -> Verdict:
    """RCPT TO's reply for one recipient of a real message (not Probar's single test
    address). A 5.7.x after AUTH means the account may not relay only when the server says
    "relay"; "550 5.7.1 <x>: Recipient address rejected: Access denied" is about that
    recipient, who fails alone: pausing the account for it would stop the company's mail."""
    verdict = judge(Step.RCPT, code=code, text=text, authenticated=authenticated)
    if (
        verdict.advice is Advice.RELAY_DENIED_AUTHENTICATED
        and code >= 500
        and not _RELAY.search(text)
    ):
        return Verdict(
            Decision.RECIPIENT_FAILED, verdict.advice, verdict.kind, None, verdict.enhanced
        )
    return verdict
