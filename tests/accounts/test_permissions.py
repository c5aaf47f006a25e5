"""The rules of who may see and change which account, asked of the services directly (no web
console): what CRONUS, a command or the API get when they call them."""

import pytest

from emisario.accounts import permissions
from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.accounts.permissions import AccessDenied, NotFound
from emisario.accounts.probing import run_detect, run_probe
from emisario.accounts.services import AccountInput, account_delete, account_save
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SecurityMode
from tests.factories import interno, make_user


def values(company, **extra) -> AccountInput:
    fields = {
        "company": company,
        "account_type": interno(),
        "priority": 1,
        "host": "203.0.113.9",  # never reached: every case here is refused or only saved
        "port": 587,
        "security": SecurityMode.STARTTLS,
        "sender": "nueva@acme.example",
    }
    fields.update(extra)
    return AccountInput(**fields)


@pytest.fixture
def allow_target(settings):
    settings.EMISARIO_PROBE_ALLOW = ["203.0.113.9"]


def snapshot():
    return sorted(SmtpAccount.objects.values_list("pk", "company_id", "host", "password_token"))


# (role, account fixture or None, owner "acme" / "otra" / None, expected error, permission)
SAVE_REFUSALS = [
    ("emisopt", "system_account", None, AccessDenied, "PCSMTPG"),
    ("emisopt", None, None, AccessDenied, "PCSMTPG"),
    ("emisopt", "system_account", "acme", AccessDenied, "PCSMTPG"),
    ("noperm", None, "acme", AccessDenied, "EMISOPT"),
    ("noperm", "company_account", "acme", AccessDenied, "EMISOPT"),
    ("other", "company_account", "otra", NotFound, None),
    ("other", None, "acme", NotFound, None),
    ("full", "foreign_account", "acme", NotFound, None),
    ("full", None, "otra", NotFound, None),
    ("emisopt", "company_account", "otra", NotFound, None),
]
SAVE_IDS = [
    "no-pcsmtpg-system-account",
    "no-pcsmtpg-new-system-account",
    "no-pcsmtpg-system-account-moved-to-company",
    "no-emisopt-new",
    "no-emisopt-company-account",
    "other-company-user-on-our-account",
    "other-company-user-new-in-our-company",
    "our-user-on-other-company-account",
    "our-user-new-in-other-company",
    "moving-our-account-to-other-company",
]


@pytest.mark.parametrize(("role", "target", "owner", "error", "code"), SAVE_REFUSALS, ids=SAVE_IDS)
def test_account_save_refuses(request, roles, acme, otra, role, target, owner, error, code):
    account = request.getfixturevalue(target) if target else None
    request.getfixturevalue("foreign_account")
    before = snapshot()
    company = {"acme": acme, "otra": otra, None: None}[owner]
    with pytest.raises(error) as raised:
        account_save(
            actor=roles[role], account=account, data=values(company), typed_password=Secret("x")
        )
    if code:
        assert raised.value.permission == code
    assert snapshot() == before
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize(
    ("role", "target", "owner"),
    [
        ("emisopt", None, "acme"),
        ("emisopt", "company_account", "acme"),
        ("full", "system_account", None),
        ("full", None, None),
        ("full", "system_account", "acme"),
    ],
    ids=["new-company", "company", "system", "new-system", "system-to-company"],
)
def test_account_save_allows(request, roles, acme, allow_target, role, target, owner):
    account = request.getfixturevalue(target) if target else None
    company = acme if owner else None
    saved = account_save(
        actor=roles[role], account=account, data=values(company), typed_password=Secret("x")
    )
    assert saved.account.company == company
    # One record, or two for a move (one per owner): each by the actor.
    assert {record.actor for record in AuditRecord.objects.all()} == {roles[role]}


@pytest.mark.parametrize(
    ("role", "target", "error"),
    [
        ("emisopt", "system_account", AccessDenied),
        ("noperm", "company_account", AccessDenied),
        ("other", "company_account", NotFound),
        ("full", "foreign_account", NotFound),
    ],
    ids=["no-pcsmtpg-system", "no-emisopt", "other-company-user", "other-company-account"],
)
def test_account_delete_refuses(request, roles, role, target, error):
    account = request.getfixturevalue(target)
    with pytest.raises(error):
        account_delete(actor=roles[role], account=account)
    assert SmtpAccount.objects.filter(pk=account.pk).exists()
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize(
    ("role", "target", "owner", "error"),
    [
        ("emisopt", "system_account", None, AccessDenied),
        ("emisopt", None, None, AccessDenied),
        ("noperm", None, "acme", AccessDenied),
        ("other", None, "acme", NotFound),
        ("full", "foreign_account", "acme", NotFound),
    ],
    ids=["no-pcsmtpg-system", "no-pcsmtpg-new-system", "no-emisopt", "other-company", "foreign"],
)
@pytest.mark.parametrize("run", ["probe", "detect"])
def test_probing_refuses_before_any_run(request, roles, acme, run, role, target, owner, error):
    account = request.getfixturevalue(target) if target else None
    company = acme if owner else None
    with pytest.raises(error):
        if run == "probe":
            run_probe(actor=roles[role], account=account, data=values(company), password=None)
        else:
            run_detect(
                actor=roles[role],
                company=company,
                account=account,
                host="203.0.113.9",
                sender="nueva@acme.example",
                password=None,
            )
    assert not AuditRecord.objects.exists()  # refused before the rate limit or the network


def test_visibility_is_one_rule(
    roles, acme, otra, company_account, system_account, foreign_account
):
    seen = {
        role: set(permissions.visible_accounts(user).values_list("pk", flat=True))
        for role, user in roles.items()
    }
    assert seen["noperm"] == set()
    assert seen["emisopt"] == seen["full"] == {company_account.pk, system_account.pk}
    assert seen["other"] == {foreign_account.pk, system_account.pk}
    for role, user in roles.items():
        for account in (company_account, system_account, foreign_account):
            assert permissions.can_see_account(user, account) == (account.pk in seen[role])


def test_company_and_account_lookups_hide_other_companies(
    roles, acme, otra, company_account, system_account, foreign_account
):
    user = roles["emisopt"]
    assert permissions.company_for(user) == acme
    assert permissions.company_for(user, "ACME") == acme
    with pytest.raises(NotFound):
        permissions.company_for(user, "OTRA")
    with pytest.raises(NotFound):
        permissions.company_for(user, "NOEXISTE")
    assert permissions.account_for(user, company_account.pk, company=acme) == company_account
    assert permissions.account_for(user, system_account.pk, company=acme) == system_account
    missing = SmtpAccount.objects.order_by("-pk").first().pk + 1
    for pk in (foreign_account.pk, missing):
        with pytest.raises(NotFound) as raised:
            permissions.account_for(user, pk, company=acme)
        assert str(raised.value) == "account not found"  # foreign and missing alike
    with pytest.raises(AccessDenied):
        permissions.account_for(roles["noperm"], company_account.pk, company=acme)


def test_a_company_account_seen_from_another_of_the_users_companies_is_not_found(
    acme, otra, company_account
):
    both = make_user("ambas", perms=("EMISOPT",), companies=[acme, otra])
    assert permissions.account_for(both, company_account.pk, company=acme) == company_account
    with pytest.raises(NotFound):
        permissions.account_for(both, company_account.pk, company=otra)
