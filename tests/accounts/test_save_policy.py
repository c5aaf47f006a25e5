"""Guardar follows the network policy Probar follows: a saved account cannot point at the
internal network, the metadata service or a port outside the list (service level; the
screen's side is tests/console/test_network_policy.py)."""

import pytest

from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.accounts.services import TargetCheck, TargetRefused, account_save, check_target
from emisario.core.secrets import Secret
from tests.accounts.test_permissions import values


@pytest.mark.parametrize(
    ("host", "port", "field"),
    [
        ("10.0.0.5", 587, "host"),
        ("169.254.169.254", 587, "host"),
        ("127.0.0.1", 587, "host"),
        ("::1", 587, "host"),
        ("::ffff:10.0.0.5", 587, "host"),
        ("localhost", 587, "host"),  # a name, resolved: every address must be allowed
        ("93.184.215.14", 22, "port"),
        ("93.184.215.14", 6379, "port"),
    ],
    ids=["private", "metadata", "loopback", "loopback-v6", "mapped", "name", "ssh", "redis"],
)
def test_refused_targets_are_not_saved(roles, acme, host, port, field):
    with pytest.raises(TargetRefused) as raised:
        account_save(
            actor=roles["emisopt"],
            account=None,
            data=values(acme, host=host, port=port),
            typed_password=Secret("x"),
        )
    assert raised.value.field == field
    assert not SmtpAccount.objects.exists() and not AuditRecord.objects.exists()


def test_an_existing_account_cannot_be_moved_to_a_refused_target(roles, company_account):
    with pytest.raises(TargetRefused):
        account_save(
            actor=roles["emisopt"],
            account=company_account,
            data=values(company_account.company, host="169.254.169.254"),
            typed_password=Secret("x"),
        )
    company_account.refresh_from_db()
    assert company_account.host == "smtp.example.com"


def test_a_public_address_on_an_allowed_port_is_saved(roles, acme):
    saved = account_save(
        actor=roles["emisopt"],
        account=None,
        data=values(acme, host="93.184.215.14", port=465),
        typed_password=Secret("x"),
    )
    assert saved.target is TargetCheck.ALLOWED
    assert SmtpAccount.objects.get().host == "93.184.215.14"


def test_the_administrators_allow_list_applies(roles, acme, settings):
    settings.EMISARIO_PROBE_ALLOW = ["10.0.0.0/8", "relay.intranet"]
    for host in ("10.0.0.5", "relay.intranet"):  # the name is allowed as it is, not resolved
        saved = account_save(
            actor=roles["emisopt"],
            account=None,
            data=values(acme, host=host, sender=f"x@{host}.example"),
            typed_password=None,
        )
        assert saved.target is TargetCheck.ALLOWED
    assert check_target("10.0.0.5", 587) is TargetCheck.ALLOWED


def test_a_name_that_does_not_resolve_is_saved_as_unresolved(roles, acme):
    # .invalid never resolves (RFC 6761): sending checks the addresses when it connects.
    saved = account_save(
        actor=roles["emisopt"],
        account=None,
        data=values(acme, host="smtp.acme.invalid"),
        typed_password=Secret("x"),
    )
    assert saved.target is TargetCheck.UNRESOLVED
    assert SmtpAccount.objects.get().host == "smtp.acme.invalid"


def test_the_port_is_checked_before_the_name(settings):
    settings.EMISARIO_PROBE_PORTS = [587]
    with pytest.raises(TargetRefused) as raised:
        check_target("smtp.acme.invalid", 25)
    assert raised.value.field == "port" and "25" in raised.value.reason
