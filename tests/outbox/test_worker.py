"""CRONUS end to end in one process: real aiosmtpd servers (STARTTLS, implicit TLS, AUTH), the
test's database, the worker in the test's thread."""

from __future__ import annotations

import email
from datetime import timedelta

import pytest
from django.utils import timezone

from emisario.core.smtp.steps import Step
from emisario.demo.mailbox import PLAIN, STARTTLS, TLS
from emisario.outbox import claims
from emisario.outbox.models import (
    AccountHealth,
    AccountLimits,
    Attempt,
    AttemptOutcome,
    CompanyHold,
    MessageStatus,
    OutboundMessage,
    Recipient,
    RecipientStatus,
    health_key,
)
from emisario.outbox.throttle import switch
from tests.outbox.cronus_support import (
    account_on,
    fresh,
    queue_statement,
    run_cronus,
)
from tests.support.scenarios import PASSWORD, SENDER
from tests.support.smtpd import Script, closed_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cronus_settings")]


def test_messages_go_over_one_session_with_their_fixed_message_id(acme, smtpd):
    account = account_on(smtpd, acme)
    queued = [queue_statement(n) for n in range(3)]
    cronus = run_cronus()
    assert cronus.finished == 3
    assert len(smtpd.messages) == 3
    assert len(smtpd.sessions) == 1  # one login for the three, then QUIT
    assert smtpd.sessions[0].count("MAIL") == 3 and smtpd.sessions[0][-1] == "QUIT"
    for message, received in zip(queued, smtpd.messages, strict=True):
        row = fresh(message)
        assert row.status == MessageStatus.SENT
        assert row.account_used == account and row.attempts == 1
        assert row.lease_owner == "" and row.finished_at is not None
        parsed = email.message_from_bytes(received.data)
        assert parsed["Message-ID"] == row.message_id
        assert parsed["From"] == SENDER
        assert received.login == SENDER
        assert received.rcpt_tos == (message.recipients.get().address,)
    assert Recipient.objects.filter(status=RecipientStatus.SENT).count() == 3
    attempt = Attempt.objects.filter(message=queued[0]).get()
    assert (attempt.outcome, attempt.reply_code, attempt.step) == ("sent", 250, "data")


def test_implicit_tls_account_sends(acme, smtpd):
    account_on(smtpd, acme, mode=TLS)
    message = queue_statement()
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT
    assert smtpd.messages[0].listener == TLS


def test_bcc_gets_the_mail_but_never_a_header(acme, smtpd):
    account_on(smtpd, acme)
    queue_statement(cc=["copia@clientes.example"], bcc=["auditoria@acme.example"])
    run_cronus()
    received = smtpd.messages[0]
    assert set(received.rcpt_tos) == {
        "cliente1@clientes.example",
        "copia@clientes.example",
        "auditoria@acme.example",
    }
    assert b"auditoria" not in received.data
    assert email.message_from_bytes(received.data)["Cc"] == "copia@clientes.example"


def test_a_partial_rcpt_refusal_is_partially_sent_with_the_refused_reply(acme, smtpd_factory):
    refusing = smtpd_factory(
        Script(rcpt_replies={"nadie@clientes.example": "550 5.1.1 <nadie>: no such user"})
    )
    account_on(refusing, acme)
    message = queue_statement(to=["cliente1@clientes.example", "nadie@clientes.example"])
    run_cronus()
    row = fresh(message)
    assert row.status == MessageStatus.PARTIALLY_SENT
    assert row.last_error_code == "recipients_refused"
    refused = Recipient.objects.get(message=message, address="nadie@clientes.example")
    assert (refused.status, refused.reply_code, refused.enhanced_code) == ("refused", 550, "5.1.1")
    assert "no such user" in refused.reply_text
    accepted = Recipient.objects.get(message=message, address="cliente1@clientes.example")
    assert accepted.status == RecipientStatus.SENT
    assert refusing.messages[0].rcpt_tos == ("cliente1@clientes.example",)


def test_every_recipient_refused_fails_without_data(acme, smtpd):
    account_on(smtpd, acme)
    smtpd.script = Script(replies={Step.RCPT: "550 5.1.1 user unknown"})
    message = queue_statement()
    run_cronus()
    row = fresh(message)
    assert (row.status, row.last_error_code) == (MessageStatus.FAILED, "recipients_refused")
    assert smtpd.messages == []
    assert "DATA" not in smtpd.sessions[0] and "RSET" in smtpd.sessions[0]


def test_a_4xx_defers_with_backoff_then_sends(acme, smtpd):
    account_on(smtpd, acme)
    smtpd.script = Script(replies={Step.DATA: "451 4.3.0 try again later"})
    message = queue_statement()
    before = timezone.now()
    run_cronus()
    row = fresh(message)
    assert row.status == MessageStatus.DEFERRED and row.attempts == 1
    assert row.next_attempt_at > before + timedelta(seconds=29)  # the backoff floor
    assert row.next_attempt_at < before + timedelta(minutes=6)  # first retry within minutes
    assert (row.last_reply_code, row.last_enhanced_code) == (451, "4.3.0")
    assert Attempt.objects.get(message=message).outcome == AttemptOutcome.RETRY
    smtpd.script = Script()
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT and fresh(message).attempts == 2


def test_the_session_is_reset_after_a_failed_transaction(acme, smtpd):
    """A refused DATA must not poison the session (the next MAIL would get 503)."""
    account_on(smtpd, acme)
    first = queue_statement(1)
    smtpd.script = Script(replies={Step.DATA: "554 5.6.0 message content rejected"})
    run_cronus(max_messages=1)
    assert fresh(first).status == MessageStatus.FAILED
    assert fresh(first).last_error_code == "message_rejected"  # the advice code
    smtpd.script = Script()
    second = queue_statement(2)
    run_cronus()
    assert fresh(second).status == MessageStatus.SENT


def test_expired_message_fails_with_its_last_reply(acme, smtpd):
    account_on(smtpd, acme)
    smtpd.script = Script(replies={Step.DATA: "451 4.7.1 greylisted"})
    message = queue_statement()
    OutboundMessage.objects.filter(pk=message.pk).update(
        expires_at=timezone.now() + timedelta(milliseconds=1)
    )
    run_cronus()
    row = fresh(message)
    assert (row.status, row.last_error_code) == (MessageStatus.FAILED, "expired")
    assert "greylisted" in row.last_error_text
    assert Recipient.objects.get(message=message).status == RecipientStatus.FAILED


@pytest.mark.parametrize(
    ("step", "reply"),
    [
        (Step.DATA, "550 5.4.5 Daily user sending quota exceeded."),
        (Step.DATA, "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"),
        (Step.MAIL, "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"),
        (Step.MAIL, "454 Throttling failure: Maximum sending rate exceeded."),
        (Step.MAIL, "421 4.7.0 Try again later, closing connection."),
        (Step.AUTH, "535 5.7.8 Username and Password not accepted"),
    ],
)
def test_an_account_level_reply_pauses_the_account_and_fails_over(acme, smtpd_factory, step, reply):
    broken = smtpd_factory(Script(replies={step: reply}))
    healthy = smtpd_factory()
    first = account_on(broken, acme, priority=9)
    second = account_on(healthy, acme, priority=1)
    message = queue_statement()
    run_cronus()
    row = fresh(message)
    assert row.status == MessageStatus.SENT, row.last_error_text
    assert row.account_used == second
    assert len(healthy.messages) == 1 and broken.messages == []
    outcomes = list(Attempt.objects.filter(message=message).values_list("account", "outcome"))
    assert outcomes == [(first.pk, "account"), (second.pk, "sent")]
    health = AccountHealth.objects.get(key=health_key(first.pk))
    assert health.paused_until > timezone.now()
    assert health.pause_reason


def test_fail_over_walks_the_whole_ladder_to_the_generic_account(
    acme, smtpd_factory, cronus_settings
):
    refusing_login = smtpd_factory(Script(replies={Step.AUTH: "535 5.7.8 bad credentials"}))
    generic = smtpd_factory()
    company = account_on(refusing_login, acme, priority=3)
    system = account_on(refusing_login, None, port=closed_port(), priority=7)
    cronus_settings.EMISARIO_GENERIC_SMTP_URL = (
        f"smtp+starttls://{SENDER.replace('@', '%40')}:{PASSWORD.replace(' ', '%20')}"
        f"@127.0.0.1:{generic.ports[STARTTLS]}"
    )
    message = queue_statement()
    for _ in range(3):  # each failure gives the message back; the next claim takes the next rung
        run_cronus()
    row = fresh(message)
    assert row.status == MessageStatus.SENT, row.last_error_text
    assert row.account_used is None  # the generic account has no row
    trail = list(Attempt.objects.filter(message=message).values_list("account", "outcome"))
    assert trail == [(company.pk, "account"), (system.pk, "account"), (None, "sent")]
    assert len(generic.messages) == 1


def test_with_every_account_down_the_message_waits_and_never_fails(acme, smtpd):
    account_on(smtpd, acme, port=closed_port())
    message = queue_statement()
    run_cronus()
    run_cronus()  # the account is paused now: nothing to send through
    row = fresh(message)
    assert row.status == MessageStatus.DEFERRED
    assert row.last_error_code in ("no_account_available", "account_unavailable")
    assert row.next_attempt_at > timezone.now()


def test_no_account_at_all_defers(acme):
    message = queue_statement()
    run_cronus()
    row = fresh(message)
    assert (row.status, row.last_error_code) == (MessageStatus.QUEUED, "no_account")
    assert row.next_attempt_at > timezone.now()


def test_the_company_pause_switch_stops_the_claim(acme, otra, smtpd):
    account_on(smtpd, acme)
    account_on(smtpd, otra)
    held = queue_statement(1)
    other = queue_statement(2, company="OTRA")
    CompanyHold.objects.create(company=acme, reason="auditoría")
    assert claims.claim("probe", 10, timedelta(seconds=5)) == [other.pk]
    claims.release("probe")
    run_cronus()
    assert fresh(held).status == MessageStatus.QUEUED and fresh(held).attempts == 0
    assert fresh(other).status == MessageStatus.SENT
    CompanyHold.objects.all().delete()
    run_cronus()
    assert fresh(held).status == MessageStatus.SENT


def test_the_account_pause_switch_sends_through_the_next_account(acme, smtpd_factory):
    one, two = smtpd_factory(), smtpd_factory()
    first = account_on(one, acme, priority=9)
    second = account_on(two, acme, priority=1)
    switch(first.pk, off=True)
    message = queue_statement()
    run_cronus()
    assert fresh(message).account_used == second
    assert one.sessions == []


def test_the_circuit_breaker_opens_at_once_on_credentials_and_closes_after_a_success(acme, smtpd):
    account = account_on(smtpd, acme)
    smtpd.script = Script(replies={Step.AUTH: "535 5.7.8 bad credentials"})
    message = queue_statement()
    run_cronus()
    health = AccountHealth.objects.get(key=health_key(account.pk))
    assert health.breaker_state == "open" and health.breaker_trips == 1
    smtpd.script = Script()
    # The pause and the breaker's cool-down are over: a half-open probe goes through.
    AccountHealth.objects.filter(pk=health.pk).update(
        paused_until=None, breaker_opened_at=timezone.now() - timedelta(hours=7)
    )
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT
    health.refresh_from_db()
    assert (health.breaker_state, health.breaker_failures) == ("closed", 0)


def test_a_lease_that_expired_after_data_started_is_marked_possibly_delivered(acme, smtpd):
    account_on(smtpd, acme)
    message = queue_statement()
    assert claims.claim("dead-worker", 10, timedelta(seconds=30)) == [message.pk]
    OutboundMessage.objects.filter(pk=message.pk).update(
        data_started_at=timezone.now(), lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run_cronus()
    row = fresh(message)
    assert row.status == MessageStatus.SENT
    interrupted, sent = Attempt.objects.filter(message=message).order_by("id")
    assert (interrupted.outcome, interrupted.possibly_delivered) == ("interrupted", True)
    assert (sent.outcome, sent.possibly_delivered) == ("sent", False)
    assert email.message_from_bytes(smtpd.messages[0].data)["Message-ID"] == row.message_id


def test_a_lease_that_expired_before_data_is_taken_back_without_a_flag(acme, smtpd):
    """SQLite 3.40 says 1 for "data_started_at IS NOT NULL" in UPDATE ... RETURNING on this
    table: the claim reads the column itself."""
    account_on(smtpd, acme)
    message = queue_statement()
    claims.claim("dead-worker", 10, timedelta(seconds=30))
    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT
    assert list(Attempt.objects.filter(message=message).values_list("outcome", flat=True)) == [
        "sent"
    ]


def test_a_live_lease_is_not_taken(acme, smtpd):
    account_on(smtpd, acme)
    message = queue_statement()
    claims.claim("other-worker", 10, timedelta(seconds=30))
    run_cronus()
    assert fresh(message).lease_owner == "other-worker" and smtpd.messages == []


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_result(acme, smtpd):
    account_on(smtpd, acme)
    message = queue_statement()
    claims.claim("slow-worker", 10, timedelta(seconds=30))
    # Another worker reclaimed it meanwhile: slow-worker's lease is gone before DATA.
    OutboundMessage.objects.filter(pk=message.pk).update(lease_owner="new-owner")
    from emisario.outbox.delivery import Result, load_jobs
    from emisario.outbox.ledger import Entry, Ledger

    ledger = Ledger("slow-worker", threaded=False)
    assert ledger.mark(message.pk).wait(0) is False  # no DATA: the lease is gone
    job = load_jobs([message.pk])[0]
    sent = Result(MessageStatus.SENT, AttemptOutcome.SENT, step="data", code=250)
    sent.accepted, sent.data_sent = [job.recipients[0].address], True
    ledger.write(
        Entry(
            job, sent, account_id=None, account_label="", started_at=timezone.now(), duration_ms=1
        )
    )
    row = fresh(message)
    assert (row.status, row.lease_owner, row.data_started_at) == ("sending", "new-owner", None)
    assert Recipient.objects.get(message=message).status == RecipientStatus.QUEUED
    (attempt,) = Attempt.objects.filter(message=message)
    assert (attempt.outcome, attempt.possibly_delivered) == ("interrupted", True)


def test_a_message_per_minute_limit_defers_never_fails(acme, smtpd):
    account = account_on(smtpd, acme)
    AccountLimits.objects.create(account=account, messages_per_minute=2)
    queued = [queue_statement(n) for n in range(5)]
    run_cronus()
    statuses = sorted(fresh(m).status for m in queued)
    assert statuses.count(MessageStatus.SENT) == 2
    waiting = [fresh(m) for m in queued if fresh(m).status != MessageStatus.SENT]
    assert len(waiting) == 3
    for row in waiting:
        assert row.status in (MessageStatus.QUEUED, MessageStatus.DEFERRED)
        assert row.last_error_code == "limited:messages_per_minute"
        assert row.next_attempt_at > timezone.now() + timedelta(seconds=30)
        assert row.attempts == 0  # waiting for room is not an attempt
    assert len(smtpd.messages) == 2
    (limited,) = Attempt.objects.filter(outcome=AttemptOutcome.LIMITED)
    assert limited.server_text.startswith("messages_per_minute: waits until")


def test_recipients_per_message_splits_into_transactions(acme, smtpd):
    account = account_on(smtpd, acme)
    AccountLimits.objects.create(account=account, recipients_per_message=2)
    message = queue_statement(to=[f"c{n}@clientes.example" for n in range(5)])
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT
    assert [len(m.rcpt_tos) for m in smtpd.messages] == [2, 2, 1]
    ids = {email.message_from_bytes(m.data)["Message-ID"] for m in smtpd.messages}
    assert ids == {fresh(message).message_id}


def test_the_session_is_recycled_after_its_message_count(acme, smtpd):
    account = account_on(smtpd, acme)
    AccountLimits.objects.create(account=account, messages_per_session=2)
    for n in range(5):
        queue_statement(n)
    run_cronus()
    assert len(smtpd.messages) == 5
    assert [s.count("MAIL") for s in smtpd.sessions] == [2, 2, 1]
    assert all(s[-1] == "QUIT" for s in smtpd.sessions)


def test_the_network_policy_of_probar_applies(acme, smtpd, cronus_settings):
    account = account_on(smtpd, acme)
    cronus_settings.EMISARIO_PROBE_ALLOW = []  # loopback is not public: refused
    message = queue_statement()
    run_cronus()
    assert smtpd.sessions == []
    attempt = Attempt.objects.get(message=message)
    assert (attempt.step, attempt.outcome, attempt.account_id) == ("policy", "account", account.pk)


def test_an_untrusted_certificate_is_refused(acme, smtpd, cronus_settings, untrusted_ca, tmp_path):
    account_on(smtpd, acme)
    other = tmp_path / "other-ca.pem"
    untrusted_ca.cert_pem.write_to_path(str(other))
    cronus_settings.EMISARIO_PROBE_CA_FILE = str(other)
    message = queue_statement()
    run_cronus()
    attempt = Attempt.objects.get(message=message)
    assert (attempt.step, attempt.outcome) == ("tls", "account")
    assert smtpd.messages == []


def test_a_password_never_travels_unencrypted(acme, smtpd_factory):
    relay = smtpd_factory(Script(auth_without_tls=True), listeners=(PLAIN,), plain_auth=True)
    account_on(relay, acme, mode=PLAIN)
    message = queue_statement()
    run_cronus()
    attempt = Attempt.objects.get(message=message)
    assert (attempt.step, attempt.outcome) == ("auth", "account")
    assert "AUTH" not in relay.sessions[0]


def test_a_stored_header_without_its_mime_fields_fails_and_is_never_sent(acme, smtpd):
    """A row whose head the 0003 migration could not render (only its MIME fields, or none)
    must not go out as a message with a From line and nothing else."""
    account_on(smtpd, acme)
    message = queue_statement()
    OutboundMessage.objects.filter(pk=message.pk).update(head="Content-Type: text/plain\r\n")
    run_cronus()
    row = fresh(message)
    assert (row.status, row.last_error_code) == (MessageStatus.FAILED, "invalid_message")
    assert smtpd.messages == []
