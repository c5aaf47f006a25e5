"""Probar ends every session it can politely: QUIT after a failed step, then close.

Servers (Postfix: "lost connection after AUTH") log a session that is just dropped, and some
count it against the account. The scripted aiosmtpd records each session's commands; QUIT must
be the last one wherever the protocol state still allows a command, and the verdict is the same
as without it.
"""

from __future__ import annotations

import pytest
import trustme

from emisario.core.smtp.advice import Advice
from emisario.core.smtp.steps import Step
from tests.support.scenarios import Smtpd
from tests.support.smtpd import Script

CASES = [
    ("auth_535", Step.AUTH, "535 5.7.8 Authentication credentials invalid"),
    ("mail_550", Step.MAIL, "550 5.1.8 Sender address rejected"),
    ("rcpt_550", Step.RCPT, "550 5.1.1 No such user here"),
    ("data_554", Step.DATA, "554 5.6.0 Message refused"),
    ("ehlo_550", Step.EHLO, "550 5.7.1 Not welcome"),
    ("starttls_454", Step.TLS, "454 4.7.0 TLS not available"),
]
"""Which step refuses, and its reply (the advice each gets is test_advice's business)."""


def _last_session(case) -> list[str]:
    assert case.server.sessions, "the server saw no session"
    return case.server.sessions[-1]


@pytest.mark.parametrize(("step", "reply"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_refused_command_is_followed_by_quit(ca, step, reply):
    with Smtpd(script=Script(replies={step: reply}))(ca) as case:
        diagnosis = case.run()
        commands = _last_session(case)
    failure = diagnosis.failure
    assert failure is not None and failure.step is step, diagnosis.as_dict()
    assert failure.reply_code == int(reply[:3])
    assert commands[-1] == "QUIT", commands
    assert commands.count("QUIT") == 1


@pytest.mark.parametrize(
    ("script", "form", "advice"),
    [
        (Script(withhold=frozenset({"STARTTLS"})), {}, Advice.STARTTLS_NOT_OFFERED),
        (Script(auth_mechanisms=("XOAUTH2",)), {}, Advice.AUTH_MECHANISM_UNSUPPORTED),
        (
            Script(),
            {"sender": "josé@example.com", "login": "ana@example.com"},
            Advice.SMTPUTF8_REQUIRED,
        ),
    ],
    ids=["starttls-not-offered", "no-usable-auth", "smtputf8-missing"],
)
def test_a_refusal_decided_here_is_followed_by_quit(ca, script, form, advice):
    """Nothing was sent for the failed step, so the session is still in step for QUIT."""
    with Smtpd(script=script, form=form)(ca) as case:
        diagnosis = case.run()
        commands = _last_session(case)
    assert diagnosis.failure.advice == advice, diagnosis.as_dict()
    assert commands[-1] == "QUIT", commands


def test_a_wrong_password_with_the_real_authenticator_is_followed_by_quit(ca):
    with Smtpd(password="not the password")(ca) as case:
        diagnosis = case.run()
        commands = _last_session(case)
    assert diagnosis.failure.advice == Advice.AUTH_FAILED
    assert commands == ["EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_successful_test_ends_with_quit(ca, security):
    with Smtpd(security=security, listener=security)(ca) as case:
        diagnosis = case.run()
        commands = _last_session(case)
    assert diagnosis.ok, diagnosis.as_dict()
    assert commands[-2:] == ["DATA", "QUIT"]


def test_a_test_without_a_message_resets_then_quits(ca):
    with Smtpd()(ca) as case:
        diagnosis = case.run(message=None)
        commands = _last_session(case)
    assert diagnosis.ok
    assert commands[-3:] == ["RCPT", "RSET", "QUIT"]


def test_no_quit_after_a_failed_tls_handshake(ca):
    """After STARTTLS the server expects a TLS handshake: once that failed, no SMTP command
    can be understood on the connection, so it is only closed. The verdict is unchanged."""
    stranger = trustme.CA().issue_cert("localhost", "127.0.0.1")  # a CA the client does not trust
    with Smtpd(cert=lambda _ca: stranger)(ca) as case:
        diagnosis = case.run()
        commands = _last_session(case)
    assert (diagnosis.failure.step, diagnosis.failure.advice) == (Step.TLS, Advice.CERT_UNTRUSTED)
    assert commands == ["EHLO", "STARTTLS"]
