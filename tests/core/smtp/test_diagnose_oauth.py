"""Probar for an OAuth account: the "Autorización OAuth" step before AUTH, XOAUTH2 against a
real aiosmtpd server, one fresh token after a refusal, no token in the verdict."""

from __future__ import annotations

import base64
import json

from emisario.core.smtp.steps import Step, StepStatus, step_order
from tests.support.scenarios import GOOD_TOKEN, SENDER, Smtpd, token_source


def run(ca, source, **options):
    with Smtpd(password=None, bearer=source, **options)(ca) as case:
        return case.run(), case.server


def statuses(diagnosis):
    return [(r.step, r.status) for r in diagnosis.steps]


def test_the_oauth_step_comes_before_auth_only_for_oauth_accounts():
    assert Step.OAUTH not in step_order("starttls")
    order = step_order("starttls", oauth=True)
    assert order.index(Step.OAUTH) == order.index(Step.AUTH) - 1
    for security in ("none", "tls"):
        assert step_order(security, oauth=True).index(Step.OAUTH) < step_order(
            security, oauth=True
        ).index(Step.AUTH)


def test_probar_signs_in_with_xoauth2_and_sends(ca):
    diagnosis, server = run(ca, token_source())
    assert diagnosis.ok, diagnosis.as_dict()
    oauth = next(r for r in diagnosis.steps if r.step is Step.OAUTH)
    assert oauth.status is StepStatus.PASSED
    assert oauth.details["mailbox"] == SENDER and oauth.details["refreshed"] is False
    assert 3500 < oauth.details["expires_in"] <= 3600
    auth = next(r for r in diagnosis.steps if r.step is Step.AUTH)
    assert auth.details["mechanism"] == "XOAUTH2" and auth.reply_code == 235
    assert server.bearer_logins == [("XOAUTH2", SENDER, True)]
    assert [m.login for m in server.messages] == [SENDER]


def test_a_refused_token_is_exchanged_once_for_a_fresh_one(ca):
    diagnosis, server = run(ca, token_source("ya29.revoked-early", refreshed=GOOD_TOKEN))
    assert diagnosis.ok, diagnosis.as_dict()
    oauth = next(r for r in diagnosis.steps if r.step is Step.OAUTH)
    assert oauth.details["refreshed_after_refusal"] is True
    auth = next(r for r in diagnosis.steps if r.step is Step.AUTH)
    assert auth.details["first_refusal"]["code"] == 535
    assert auth.details["first_refusal"]["error"]["status"] == "401"
    assert [ok for _m, _u, ok in server.bearer_logins] == [False, True]


def test_a_token_refused_twice_fails_auth_with_the_servers_reply(ca):
    diagnosis, server = run(ca, token_source("ya29.wrong", refreshed="ya29.still-wrong"))
    failure = diagnosis.failure
    assert failure is not None and failure.step is Step.AUTH
    assert failure.advice == "oauth_token_rejected" and failure.reply_code == 535
    assert failure.details["server_error"]["status"] == "401"
    assert len(server.bearer_logins) == 2


def test_a_server_echoing_the_token_does_not_get_it_into_the_verdict(ca):
    with Smtpd(password=None, bearer=token_source("ya29.wrong", refreshed="ya29.second"))(
        ca
    ) as case:
        blob = base64.b64encode(f"user={SENDER}\x01auth=Bearer ya29.second\x01\x01".encode())
        case.server.bearer_refusal = f"535 5.7.8 refused ya29.wrong and {blob.decode()}"
        diagnosis = case.run()
    text = json.dumps(diagnosis.as_dict())
    assert diagnosis.failure is not None and diagnosis.failure.reply_code == 535
    assert "ya29.wrong" not in text and blob.decode() not in text
    assert "********" in diagnosis.failure.reply_text


def test_no_xoauth2_offered_is_said_at_auth(ca):
    with Smtpd(password=None, bearer=token_source())(ca) as case:
        case.server.token_checker = None  # a server offering only PLAIN and LOGIN
        # a session opened from now on excludes the bearer mechanisms
        diagnosis = case.run()
    failure = diagnosis.failure
    assert failure is not None and (failure.step, failure.advice) == (
        Step.AUTH,
        "auth_mechanism_unsupported",
    )
    assert next(r for r in diagnosis.steps if r.step is Step.OAUTH).status is StepStatus.SKIPPED
