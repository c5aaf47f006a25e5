"""CRONUS logs in with XOAUTH2 for OAuth accounts, against a real aiosmtpd server that takes
only tokens the local authorization server issued (checked by introspection over HTTP)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from emisario.accounts import crypto
from emisario.accounts.models import AuthMethod, GrantStatus, OAuthGrant
from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd
from emisario.outbox.models import AccountHealth, Attempt, OutboundMessage, health_key
from tests.factories import make_company
from tests.outbox.cronus_support import account_on, fresh, queue_statement, run_cronus
from tests.support.oauth import MAILBOX, connect
from tests.support.scenarios import USERS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cronus_settings")]

BASIC_RETIRED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."


@pytest.fixture
def token_smtpd(ca, microsoft_settings):
    """Microsoft after the retirement of basic auth: XOAUTH2 only, passwords refused."""
    server = LoopbackSmtpd(
        USERS,
        listeners=(STARTTLS,),
        ca=ca,
        token_checker=microsoft_settings.smtp_checker(),
        password_refusal=BASIC_RETIRED,
        bearer_refusal="535 5.7.3 Authentication unsuccessful",
    )
    with server:
        yield server


def oauth_account_on(server, auth_server, **fields):
    account = account_on(
        server,
        make_company(),
        sender=MAILBOX,
        password=None,
        auth_method=AuthMethod.OAUTH,
        oauth_provider=auth_server.profile,
        **fields,
    )
    return account, connect(account, auth_server)


def test_cronus_sends_through_an_oauth_account_with_xoauth2(token_smtpd, microsoft_settings):
    _account, _grant = oauth_account_on(token_smtpd, microsoft_settings)
    message = queue_statement()
    run_cronus()
    assert fresh(message).status == "sent"
    assert [m.login for m in token_smtpd.messages] == [MAILBOX]
    assert token_smtpd.bearer_logins == [("XOAUTH2", MAILBOX, True)]
    assert sum(microsoft_settings.refreshes.values()) == 0


def test_a_token_near_expiry_is_refreshed_before_the_login(token_smtpd, microsoft_settings):
    _account, grant = oauth_account_on(token_smtpd, microsoft_settings)
    OAuthGrant.objects.filter(pk=grant.pk).update(
        access_expires_at=timezone.now() + timedelta(minutes=1)
    )
    message = queue_statement()
    run_cronus()
    assert fresh(message).status == "sent"
    assert microsoft_settings.refreshes[MAILBOX] == 1
    assert token_smtpd.bearer_logins == [("XOAUTH2", MAILBOX, True)]


def test_a_token_the_server_refuses_is_refreshed_once_and_the_login_retried(
    token_smtpd, microsoft_settings
):
    _account, grant = oauth_account_on(token_smtpd, microsoft_settings)
    microsoft_settings.revoke_access(crypto.decrypt(grant.access_token_token).reveal())
    message = queue_statement()
    run_cronus()
    assert fresh(message).status == "sent"
    assert microsoft_settings.refreshes[MAILBOX] == 1
    assert token_smtpd.bearer_logins == [("XOAUTH2", MAILBOX, False), ("XOAUTH2", MAILBOX, True)]


def test_a_revoked_grant_defers_the_mail_and_fails_over(ca, token_smtpd, microsoft_settings):
    account, grant = oauth_account_on(token_smtpd, microsoft_settings, priority=10)
    with LoopbackSmtpd(USERS, listeners=(STARTTLS,), ca=ca) as backup:
        account_on(backup, account.company, priority=1)  # a password account, next in line
        microsoft_settings.revoke_user(MAILBOX)
        message = queue_statement()
        run_cronus()
        assert fresh(message).status == "sent"
        assert len(backup.messages) == 1 and token_smtpd.messages == []
    grant.refresh_from_db()
    assert grant.status == GrantStatus.RECONNECT and grant.status_error == "invalid_grant"
    health = AccountHealth.objects.get(key=health_key(account.pk))
    assert health.pause_reason == "oauth_reconnect" and health.paused_until > timezone.now()
    first = Attempt.objects.filter(message=message).order_by("pk").first()
    assert first.account_id == account.pk and first.outcome != "failed"


def test_a_revoked_grant_with_no_other_account_defers_never_fails(token_smtpd, microsoft_settings):
    oauth_account_on(token_smtpd, microsoft_settings)
    microsoft_settings.revoke_user(MAILBOX)
    message = queue_statement()
    run_cronus()
    message = fresh(message)
    assert message.status == "deferred"
    assert message.next_attempt_at > timezone.now()
    attempt = Attempt.objects.get(message=message)
    assert attempt.step in ("oauth", "auth")


def test_an_unconnected_oauth_account_fails_over(ca, token_smtpd, microsoft_settings):
    company = make_company()
    account_on(
        token_smtpd, company, sender=MAILBOX, password=None, priority=10,
        auth_method=AuthMethod.OAUTH, oauth_provider="microsoft",
    )  # fmt: skip
    with LoopbackSmtpd(USERS, listeners=(STARTTLS,), ca=ca) as backup:
        account_on(backup, company, priority=1)
        message = queue_statement()
        run_cronus()
        assert fresh(message).status == "sent" and len(backup.messages) == 1
    attempt = Attempt.objects.filter(message=message).order_by("pk").first()
    assert attempt.step == "oauth"


def test_a_password_account_on_a_retired_tenant_is_paused(token_smtpd):
    account = account_on(token_smtpd, make_company())
    message = queue_statement()
    run_cronus()
    assert fresh(message).status == "deferred"
    attempt = Attempt.objects.get(message=message)
    assert attempt.reply_code == 535 and "basic authentication" in attempt.server_text
    health = AccountHealth.objects.get(key=health_key(account.pk))
    assert health.pause_reason == "credentials"


def test_no_token_in_the_log_or_the_attempts(token_smtpd, microsoft_settings, caplog):
    caplog.set_level(logging.DEBUG)
    _account, grant = oauth_account_on(token_smtpd, microsoft_settings)
    stored = crypto.decrypt(grant.access_token_token).reveal()
    refresh = crypto.decrypt(grant.refresh_token_token).reveal()
    microsoft_settings.revoke_access(stored)  # a refused login, a refresh, a second login
    queue_statement()
    run_cronus()
    tokens = [stored, refresh, *microsoft_settings.active_access_tokens()]
    texts = [caplog.text, *Attempt.objects.values_list("server_text", flat=True)]
    texts += OutboundMessage.objects.values_list("last_error_text", flat=True)
    texts += AccountHealth.objects.values_list("last_error", flat=True)
    for token in tokens:
        leaks = [r for r in caplog.records if token in r.getMessage()]
        assert leaks == [], [(r.name, r.getMessage()[:300]) for r in leaks]
        assert all(token not in text for text in texts)
