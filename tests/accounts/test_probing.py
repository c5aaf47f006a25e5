"""Probar and Detectar run from the accounts layer, without the web console (as CRONUS, a
command or the API would): rate limit per user, audit trail, last result and its staleness."""

import email.policy
from email import message_from_bytes

import pytest

from emisario.accounts.models import AuditRecord
from emisario.accounts.probing import (
    RateLimited,
    account_fingerprint,
    account_record_test,
    claim_probe_slot,
    last_test_of,
    run_detect,
    run_probe,
)
from emisario.accounts.services import AccountInput, account_save
from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SecurityMode
from emisario.demo.mailbox import STARTTLS, TLS
from tests.factories import interno, make_account, make_user
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER


def mailbox_input(company, port: int) -> AccountInput:
    return account_input(company, port=port)


def account_input(company, **values) -> AccountInput:
    fields = {
        "company": company,
        "account_type": interno(),
        "priority": 1,
        "host": "127.0.0.1",
        "port": 25,
        "security": SecurityMode.STARTTLS,
        "sender": USER,
        "display_name": "Cobranza Acme",
    }
    fields.update(values)
    return AccountInput(**fields)


def test_run_probe_without_the_console(roles, acme, console_mailbox, console_probe_settings):
    port = console_mailbox.port(STARTTLS)
    account = make_account(acme, password=PASSWORD, host="127.0.0.1", port=port, sender=USER)
    diagnosis = run_probe(
        actor=roles["emisopt"],
        account=account,
        data=mailbox_input(acme, port),
        password=Secret(PASSWORD),
        language="es",
    )
    assert diagnosis.ok
    [received] = console_mailbox.messages
    assert received.rcpt_tos == (USER,)
    sender = message_from_bytes(received.data, policy=email.policy.default)["From"]
    assert sender.addresses[0].display_name == "Cobranza Acme"  # the Nombre a mostrar
    record = AuditRecord.objects.get(action="test")
    assert record.actor == roles["emisopt"] and record.verdict == "ok"
    assert record.company == acme and record.account == account
    account.refresh_from_db()
    assert last_test_of(account)["ok"] is True and last_test_of(account)["stale"] is False


def test_run_detect_without_the_console(roles, acme, console_mailbox, console_probe_settings):
    tls = console_mailbox.port(TLS)
    console_probe_settings.EMISARIO_DETECT_COMBINATIONS = [f"{tls}/tls"]
    detection = run_detect(
        actor=roles["emisopt"],
        company=acme,
        account=None,
        host="127.0.0.1",
        sender=USER,
        password=Secret(PASSWORD),
    )
    assert detection.proposal is not None and detection.proposal.port == tls
    assert detection.auth is not None and detection.auth.ok
    record = AuditRecord.objects.get(action="detect")
    assert record.verdict == f"{tls}/tls" and record.changes["password_checked"] is True


def test_the_rate_limit_counts_each_users_runs(roles, settings):
    settings.EMISARIO_PROBE_RATE = (2, 60)
    first, second = roles["emisopt"], roles["full"]

    def claim(user):
        return claim_probe_slot(
            actor=user, action="test", company=None, account=None, target="x:25"
        )

    claim(first)
    claim(first)
    with pytest.raises(RateLimited) as limited:
        claim(first)
    assert 1 <= limited.value.retry_after <= 61
    claim(second)  # another user's runs do not count against this one
    claim(second)
    with pytest.raises(RateLimited):
        claim(second)
    assert AuditRecord.objects.filter(actor=first).count() == 2
    assert AuditRecord.objects.filter(actor=second).count() == 2


def test_a_password_change_makes_the_last_test_stale(roles, acme, settings):
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    data = mailbox_input(acme, 587)
    actor = roles["emisopt"]
    account = account_save(
        actor=actor, account=None, data=data, typed_password=Secret("primera")
    ).account
    account_record_test(account, {"ok": True, "steps": []})
    assert last_test_of(account)["stale"] is False
    before = account_fingerprint(account)
    account = account_save(
        actor=actor, account=account, data=data, typed_password=Secret("segunda")
    ).account
    assert account_fingerprint(account) != before
    assert last_test_of(account)["stale"] is True


@pytest.mark.parametrize(
    "change",
    [{"host": "10.0.0.9"}, {"port": 465}, {"sender": "otro@acme.example"}, {"login": "otro"}],
    ids=["host", "port", "sender", "login"],
)
def test_a_connection_change_makes_the_last_test_stale(acme, change):
    account = make_account(acme)
    account_record_test(account, {"ok": True, "steps": []})
    for name, value in change.items():
        setattr(account, name, value)
    account.save()
    assert last_test_of(account)["stale"] is True


def test_a_user_of_two_companies_is_limited_once(acme, otra, settings):
    settings.EMISARIO_PROBE_RATE = (1, 60)
    both = make_user("ambas", perms=("EMISOPT",), companies=[acme, otra])
    claim_probe_slot(actor=both, action="test", company=acme, account=None, target="x:25")
    with pytest.raises(RateLimited):
        claim_probe_slot(actor=both, action="detect", company=otra, account=None, target="x")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("host", "smtp.example.com\r\nRSET", "control_characters"),
        ("sender", "=?utf-8?q?=0D=0ABcc=3A_x=40evil.example?=@acme.example", "encoded_word"),
        ("login", "ana\nQUIT", "control_characters"),
        ("display_name", "Cobranza\r\nBcc: x@evil.example", "control_characters"),
        ("display_name", "Cobranza\u202eAcme", "invisible_characters"),
        ("port", 0, "invalid_port"),
    ],
    ids=["host-crlf", "sender-encoded-word", "login-lf", "name-crlf", "name-bidi", "port"],
)
def test_account_input_refuses_what_the_form_would(acme, field, value, code):
    """A caller without the console (CRONUS, a command, the API) gets the form's rules."""
    with pytest.raises(InvalidValue) as refused:
        account_input(acme, **{field: value})
    assert refused.value.code == code


def test_account_input_keeps_the_normal_forms(acme):
    data = account_input(acme, host="SMTP.Straße.de.", sender="Pagos@Straße.de")
    assert (data.host, data.sender) == ("smtp.xn--strae-oqa.de", "Pagos@xn--strae-oqa.de")


def test_a_run_that_raises_leaves_no_running_audit_row(roles, acme, console_probe_settings):
    with pytest.raises(InvalidValue):
        run_detect(
            actor=roles["emisopt"],
            company=acme,
            account=None,
            host="bad host",
            sender=USER,
            password=None,
        )
    assert list(AuditRecord.objects.values_list("verdict", flat=True)) == ["error:InvalidValue"]
