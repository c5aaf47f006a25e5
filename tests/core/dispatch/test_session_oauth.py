"""A CRONUS session's XOAUTH2 login against a real aiosmtpd server: a server that breaks the
exchange fails the session with a reason, never the worker's thread."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import AuthResult

from emisario.core.dispatch.session import Session, SessionError
from emisario.core.smtp.endpoint import SmtpEndpoint
from emisario.core.smtp.steps import Step
from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd
from tests.support.scenarios import (
    GOOD_TOKEN,
    SENDER,
    USERS,
    client_context,
    loopback_policy,
    token_source,
)


async def good_token_only(mailbox, token):
    return token == GOOD_TOKEN


@pytest.fixture
def server(ca):
    with LoopbackSmtpd(
        USERS, listeners=(STARTTLS,), ca=ca, token_checker=good_token_only
    ) as running:
        yield running


def session(server, ca, source):
    port = server.ports[STARTTLS]
    endpoint = SmtpEndpoint(
        host="127.0.0.1", port=port, security="starttls", sender=SENDER, bearer=source
    )
    return Session(endpoint, policy=loopback_policy(port), tls_context=client_context(ca))


def test_a_good_token_logs_in(server, ca):
    opened = session(server, ca, token_source())
    opened.open()
    assert opened.authenticated
    opened.close(quit=True)


def test_a_334_that_is_not_base64_fails_auth_with_a_reason(server, ca):
    async def raw_json(smtp, args, mechanism):
        await smtp.challenge_auth('{"status":"401"}', encode_to_b64=False)
        return AuthResult(success=False, handled=False, message="535 5.7.8 refused")

    server.bearer_auth = raw_json
    with pytest.raises(SessionError) as failed:
        session(server, ca, token_source("ya29.wrong")).open()
    assert failed.value.step is Step.AUTH


def test_a_source_that_breaks_fails_the_oauth_step(server, ca):
    def broken(rejected=None):
        raise KeyError("bug")

    with pytest.raises(SessionError) as failed:
        session(server, ca, broken).open()
    assert failed.value.step is Step.OAUTH and "KeyError" in failed.value.text
