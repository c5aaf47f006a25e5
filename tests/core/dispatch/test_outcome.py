"""The one classification of what an attempt saw: retry, fail, or pause the account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.dispatch.outcome import (
    PAUSES,
    SENT,
    Decision,
    PauseReason,
    RcptPlan,
    Verdict,
    judge,
    pause_until,
    plan_after_rcpt,
)
from emisario.core.smtp.advice import Fault, parse_enhanced_status
from emisario.core.smtp.steps import Step

D, R, S = Decision, PauseReason, Step
NOW = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)

PROVIDER_REPLIES = [
    # (name, step, code, text, decision, reason): the replies named in issue 8, as servers send them
    ("gmail-daily-5.4.5", S.MAIL, 550,
     "5.4.5 Daily user sending quota exceeded. d2-2002 - gsmtp", D.ACCOUNT_PAUSE, R.DAILY_QUOTA),
    ("gmail-daily-4.4.5", S.DATA, 452,
     "4.4.5 Daily user sending limit exceeded", D.ACCOUNT_PAUSE, R.DAILY_QUOTA),
    ("gmail-relay-daily", S.RCPT, 550,
     "5.4.5 Daily SMTP relay limit exceeded for user", D.ACCOUNT_PAUSE, R.DAILY_QUOTA),
    ("gmail-relay-customer", S.RCPT, 550,
     "5.7.1 Daily SMTP relay limit exceeded for customer", D.ACCOUNT_PAUSE, R.DAILY_QUOTA),
    ("gmail-peak-relay", S.RCPT, 450,
     "4.2.1 Peak SMTP relay limit exceeded for customer", D.ACCOUNT_PAUSE, R.SENDING_RATE),
    ("m365-submission-quota", S.DATA, 554,
     "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process "
     "message due to a permanent exception", D.ACCOUNT_PAUSE, R.DAILY_QUOTA),
    ("m365-thread-limit", S.MAIL, 432,
     "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", D.ACCOUNT_PAUSE, R.CONCURRENCY),
    ("m365-concurrent", S.GREETING, 432,
     "4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending",
     D.ACCOUNT_PAUSE, R.CONCURRENCY),
    ("ses-rate", S.DATA, 454,
     "Throttling failure: Maximum sending rate exceeded.", D.ACCOUNT_PAUSE, R.SENDING_RATE),
    ("ses-daily", S.DATA, 454,
     "Throttling failure: Daily message quota exceeded.", D.ACCOUNT_PAUSE, R.DAILY_QUOTA),
    ("cpanel-hourly", S.RCPT, 550,
     "Domain example.com has exceeded the max emails per hour (121/100 (121%)) allowed. Message "
     "will be reattempted later", D.ACCOUNT_PAUSE, R.HOURLY_QUOTA),
    ("hosting-hourly-4.7.1", S.MAIL, 450,
     "4.7.1 <ana@example.com>: Number messages per hour exceeded", D.ACCOUNT_PAUSE, R.HOURLY_QUOTA),
    ("ovh-too-many", S.DATA, 554,
     "sorry, too many emails (#5.7.1)", D.ACCOUNT_PAUSE, R.SENDING_RATE),
    ("plex-limit", S.DATA, 554,
     "5.7.0 Your message could not be sent. The limit on the number of allowed outgoing "
     "messages was exceeded. Try again later.", D.ACCOUNT_PAUSE, R.SENDING_RATE),
    ("generic-rate-limit", S.MAIL, 451,
     "4.7.1 Rate limit exceeded, slow down", D.ACCOUNT_PAUSE, R.SENDING_RATE),
    ("gmail-logins", S.AUTH, 454,
     "4.7.0 Too many login attempts, please try again later. - gsmtp", D.ACCOUNT_PAUSE,
     R.LOGIN_RATE),
    ("gmail-421", S.MAIL, 421,
     "4.7.0 Try again later, closing connection. (MAIL) - gsmtp", D.ACCOUNT_PAUSE, R.SERVER_BUSY),
    ("yahoo-421", S.RCPT, 421,
     "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred", D.ACCOUNT_PAUSE, R.SERVER_BUSY),
    ("exim-connections", S.GREETING, 421,
     "Too many concurrent SMTP connections; please try again later.", D.ACCOUNT_PAUSE,
     R.CONCURRENCY),
    ("socketlabs-connections", S.GREETING, 421,
     "4.4.5 Too many connections from your host", D.ACCOUNT_PAUSE, R.CONCURRENCY),
    ("session-cap", S.MAIL, 452,
     "4.4.5 Maximum number of messages per session exceeded", D.RETRY, None),
    ("greylisted", S.RCPT, 451,
     "4.7.1 Greylisted, please try again in 300 seconds", D.RETRY, None),
    ("m365-busy", S.DATA, 432,
     "4.3.21 Mailbox server busy; mail intentionally delayed", D.RETRY, None),
    ("unknown-user", S.RCPT, 550,
     "5.1.1 The email account that you tried to reach does not exist. - gsmtp",
     D.RECIPIENT_FAILED, None),
    ("recipient-over-quota", S.RCPT, 552,
     "5.2.2 The email account that you tried to reach is over quota. - gsmtp",
     D.RECIPIENT_FAILED, None),
    ("content", S.DATA, 554, "5.6.0 Message rejected: content", D.MESSAGE_FAILED, None),
    ("size", S.DATA, 552,
     "5.3.4 Message size exceeds fixed maximum message size", D.MESSAGE_FAILED, None),
    ("gmail-password", S.AUTH, 535,
     "5.7.8 Username and Password not accepted. - gsmtp", D.ACCOUNT_PAUSE, R.CREDENTIALS),
    ("m365-auth-off", S.AUTH, 535,
     "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
     D.ACCOUNT_PAUSE, R.CREDENTIALS),
    ("m365-send-as", S.MAIL, 550,
     "5.7.60 SMTP; Client does not have permissions to send as this sender", D.ACCOUNT_PAUSE,
     R.POLICY_REFUSED),
    ("greeting-blocked", S.GREETING, 554,
     "5.7.1 Service unavailable; client host blocked", D.ACCOUNT_PAUSE, R.CONFIGURATION),
]  # fmt: skip


@pytest.mark.parametrize(
    ("step", "code", "text", "decision", "reason"),
    [case[1:] for case in PROVIDER_REPLIES],
    ids=[case[0] for case in PROVIDER_REPLIES],
)
def test_provider_replies(step, code, text, decision, reason):
    verdict = judge(step, code=code, text=text, authenticated=step not in (S.GREETING, S.AUTH))
    assert (verdict.decision, verdict.reason) == (decision, reason), verdict
    assert verdict.fail_over is (decision is D.ACCOUNT_PAUSE)


FAULTS = [
    (S.CONNECT, Fault.REFUSED, D.ACCOUNT_PAUSE, R.UNREACHABLE),
    (S.CONNECT, Fault.TIMEOUT, D.ACCOUNT_PAUSE, R.UNREACHABLE),
    (S.DNS, Fault.DNS_TEMPORARY, D.ACCOUNT_PAUSE, R.UNREACHABLE),
    (S.DNS, Fault.DNS_NOT_FOUND, D.ACCOUNT_PAUSE, R.CONFIGURATION),
    (S.POLICY, Fault.POLICY, D.ACCOUNT_PAUSE, R.CONFIGURATION),
    (S.TLS, Fault.CERT_EXPIRED, D.ACCOUNT_PAUSE, R.TLS),
    (S.TLS, Fault.STARTTLS_NOT_OFFERED, D.ACCOUNT_PAUSE, R.TLS),
    (S.GREETING, Fault.TIMEOUT, D.ACCOUNT_PAUSE, R.UNREACHABLE),
    (S.AUTH, Fault.PLAINTEXT_AUTH_REFUSED, D.ACCOUNT_PAUSE, R.CONFIGURATION),
    (S.MAIL, Fault.DISCONNECTED, D.RETRY, None),
    (S.DATA, Fault.TIMEOUT, D.RETRY, None),
    (S.DATA, Fault.DISCONNECTED, D.RETRY, None),
    (S.RCPT, Fault.MALFORMED, D.RETRY, None),
]


@pytest.mark.parametrize(
    ("step", "fault", "decision", "reason"), FAULTS, ids=[f"{f[0]}-{f[1]}" for f in FAULTS]
)
def test_local_faults(step, fault, decision, reason):
    verdict = judge(step, fault=fault, text="5.4.5 whatever the text says")
    assert (verdict.decision, verdict.reason) == (decision, reason)


def test_positive_replies_are_sent():
    assert judge(S.RCPT, code=250, text="2.1.5 OK") is SENT
    assert judge(S.DATA, code=250, text="2.0.0 OK queued as 1234") is SENT


def test_credentials_trip_the_breaker_and_quotas_wait_for_the_day_window():
    assert judge(S.AUTH, code=535, text="5.7.8 Authentication failed").pause.trips_breaker
    quota = judge(S.MAIL, code=550, text="5.4.5 Daily user sending quota exceeded.")
    assert not quota.pause.trips_breaker
    assert pause_until(quota, now=NOW) == NOW + timedelta(hours=24)
    frees = NOW + timedelta(hours=3)
    assert pause_until(quota, now=NOW, day_window_frees_at=frees) == frees
    assert pause_until(quota, now=NOW, day_window_frees_at=NOW) == NOW + timedelta(minutes=1)
    assert pause_until(judge(S.RCPT, code=451, text="4.7.1 Greylisted"), now=NOW) is None


def test_every_pause_reason_has_a_pause():
    assert set(PAUSES) == set(PauseReason)


# -- invariants ------------------------------------------------------------------------------

QUOTA_TEXTS = [case[3] for case in PROVIDER_REPLIES if case[5] in {
    R.DAILY_QUOTA, R.HOURLY_QUOTA, R.SENDING_RATE, R.CONCURRENCY, R.LOGIN_RATE}]  # fmt: skip
STEPS = st.sampled_from(list(Step))
NO_WORDS = st.text(alphabet="bcdfghjkmnpqvwxz0123456789 .:;<>@-", max_size=60)
"""Text that cannot spell "relay", "quota", "limit" or any other word the table reads."""


@given(step=STEPS, code=st.integers(400, 499), text=st.text(max_size=80), auth=st.booleans())
def test_a_4xx_is_never_a_permanent_failure(step, code, text, auth):
    assert not judge(step, code=code, text=text, authenticated=auth).permanent


@given(
    step=STEPS,
    code=st.integers(400, 599),
    text=st.sampled_from(QUOTA_TEXTS),
    prefix=NO_WORDS,
    auth=st.booleans(),
)
def test_a_sending_limit_pauses_the_account_whatever_the_code_and_step(
    step, code, text, prefix, auth
):
    verdict = judge(step, code=code, text=f"{text} {prefix}", authenticated=auth)
    assert verdict.decision is D.ACCOUNT_PAUSE
    assert verdict.fail_over and not verdict.permanent


RECIPIENT_TEXTS = [
    "User unknown",
    "<bob@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
    "Requested action not taken: mailbox unavailable",
    "No such user here",
    "Mailbox is full / over quota",
]


@given(
    code=st.sampled_from([550, 551, 552, 553, 554]),
    status=st.sampled_from(["", "5.1.1 ", "5.1.0 ", "5.2.1 ", "5.2.2 ", "5.1.10 "]),
    # No enhanced code of its own in the words: "5.7.57" (Microsoft 365: not authenticated)
    # is the account's, and the classifier rightly reads it.
    text=st.one_of(
        st.sampled_from(RECIPIENT_TEXTS), NO_WORDS.filter(lambda t: not parse_enhanced_status(t))
    ),
    auth=st.booleans(),
)
def test_a_5xx_at_rcpt_fails_only_that_recipient(code, status, text, auth):
    verdict = judge(S.RCPT, code=code, text=status + text, authenticated=auth)
    assert verdict.decision is D.RECIPIENT_FAILED
    assert not verdict.fail_over


@given(step=st.sampled_from([S.CONNECT, S.TLS, S.GREETING, S.EHLO, S.AUTH]),
       code=st.integers(400, 599), text=NO_WORDS)  # fmt: skip
def test_a_session_failure_is_never_the_messages(step, code, text):
    assert judge(step, code=code, text=text).decision is D.ACCOUNT_PAUSE


# -- a transaction's recipients together -----------------------------------------------------

RETRY = Verdict(D.RETRY)
REFUSED = Verdict(D.RECIPIENT_FAILED)
PAUSE = Verdict(D.ACCOUNT_PAUSE, reason=R.DAILY_QUOTA)


@pytest.mark.parametrize(
    ("verdicts", "plan"),
    [
        ([SENT, SENT], RcptPlan.SEND_DATA),
        ([SENT, REFUSED], RcptPlan.SEND_DATA),
        ([SENT, RETRY, REFUSED], RcptPlan.SEND_DATA),
        ([SENT, PAUSE], RcptPlan.ABANDON_FAIL_OVER),
        ([REFUSED, RETRY], RcptPlan.ABANDON_RETRY),
        ([REFUSED, REFUSED], RcptPlan.ALL_REFUSED),
    ],
    ids=["all-accepted", "partial", "partial-and-deferred", "quota", "deferred", "all-refused"],
)
def test_plan_after_rcpt(verdicts, plan):
    assert plan_after_rcpt(verdicts) is plan


def test_a_transaction_needs_a_recipient():
    with pytest.raises(ValueError, match="at least one recipient"):
        plan_after_rcpt([])
