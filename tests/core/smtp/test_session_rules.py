"""The rules every path that logs in and sends follows, shown against real aiosmtpd servers:
no password over an unencrypted session unless the administrator allowed that relay;
SMTPUTF8 only on MAIL, only when offered and needed; IP addresses never resolved."""

from __future__ import annotations

from email import message_from_string, policy

import pytest

from emisario.core.netpolicy import NetworkPolicy
from emisario.core.smtp.advice import Advice
from emisario.core.smtp.steps import Step
from tests.support.scenarios import SENDER, UTF8_SENDER, Smtpd, loopback_policy
from tests.support.smtpd import Script

PLAIN_WITH_AUTH = Script(auth_without_tls=True)


def _failure(diagnosis):
    failure = diagnosis.failure
    return (failure.step, failure.advice) if failure else None


def test_the_password_is_not_sent_over_plain_text(ca):
    with Smtpd(security="none", listener="plain", script=PLAIN_WITH_AUTH)(ca) as case:
        diagnosis = case.run()
        delivered = list(case.server.messages)
    assert _failure(diagnosis) == (Step.AUTH, Advice.PASSWORD_NOT_SENT_UNENCRYPTED)
    auth = next(r for r in diagnosis.steps if r.step is Step.AUTH)
    assert "mechanism" not in auth.details  # no AUTH command went out
    assert delivered == []


@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/8"], ids=["address", "network"])
def test_an_allowed_internal_relay_may_take_the_password_in_plain_text(ca, allowed):
    with Smtpd(security="none", listener="plain", script=PLAIN_WITH_AUTH)(ca) as case:
        port = case.endpoint["port"]
        relaxed = NetworkPolicy.from_settings(
            ports=[port], allow=["127.0.0.0/8"], plaintext_auth_allow=[allowed]
        )
        diagnosis = case.run(policy=relaxed)
        delivered = list(case.server.messages)
    assert diagnosis.ok, diagnosis.as_dict()
    assert [mail.login for mail in delivered] == [SENDER]


def test_allowing_one_relay_allows_no_other(ca):
    with Smtpd(security="none", listener="plain", script=PLAIN_WITH_AUTH)(ca) as case:
        port = case.endpoint["port"]
        other = NetworkPolicy.from_settings(
            ports=[port], allow=["127.0.0.0/8"], plaintext_auth_allow=["10.0.0.0/8", "relay.corp"]
        )
        diagnosis = case.run(policy=other)
    assert _failure(diagnosis) == (Step.AUTH, Advice.PASSWORD_NOT_SENT_UNENCRYPTED)


def test_a_non_ascii_sender_goes_out_with_smtputf8_on_mail_only(ca):
    """aiosmtpd answers 555 to SMTPUTF8 on RCPT, as real servers do."""
    server = Smtpd(form={"sender": UTF8_SENDER, "login": SENDER}, script=Script(smtputf8=True))
    with server(ca) as case:
        diagnosis = case.run()
        delivered = list(case.server.messages)
    assert diagnosis.ok, diagnosis.as_dict()
    assert case.server.mail_options == [["SMTPUTF8"]] and case.server.rcpt_options == [[]]
    [mail] = delivered
    assert mail.mail_from == UTF8_SENDER
    # RFC 6532: with SMTPUTF8 the header is UTF-8 (a bytes parser would keep surrogates).
    parsed = message_from_string(mail.data.decode("utf-8"), policy=policy.default)
    assert parsed["From"].addresses[0].addr_spec == UTF8_SENDER


def test_without_smtputf8_nothing_is_sent_for_a_non_ascii_sender(ca):
    with Smtpd(form={"sender": UTF8_SENDER, "login": SENDER})(ca) as case:
        diagnosis = case.run()
        delivered = list(case.server.messages)
    assert _failure(diagnosis) == (Step.MAIL, Advice.SMTPUTF8_REQUIRED)
    mail = next(r for r in diagnosis.steps if r.step is Step.MAIL)
    assert mail.reply_code is None  # refused here, before MAIL FROM was sent
    assert delivered == []


def test_ascii_addresses_never_ask_for_smtputf8(ca):
    """Offered or not, an ASCII envelope goes out without the parameter."""
    with Smtpd(script=Script(smtputf8=True))(ca) as case:
        diagnosis = case.run()
        options = (case.server.mail_options, case.server.rcpt_options)
    assert diagnosis.ok, diagnosis.as_dict()
    assert options == ([[]], [[]])


class _NoLookups:
    async def resolve(self, host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} was looked up")


def test_an_ip_address_is_never_resolved(ca):
    with Smtpd()(ca) as case:
        diagnosis = case.run(resolver=_NoLookups())
    assert diagnosis.ok, diagnosis.as_dict()
    dns = next(r for r in diagnosis.steps if r.step is Step.DNS)
    assert dns.details["addresses"] == ["127.0.0.1"]


def test_the_loopback_policy_helper_still_refuses_other_ports(ca):
    with Smtpd()(ca) as case:
        diagnosis = case.run(policy=loopback_policy(1))
    assert _failure(diagnosis) == (Step.POLICY, Advice.POLICY_REFUSED)
