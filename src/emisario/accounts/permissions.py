"""Who may see and change which account, and for which company a user may act.

This is the one place those rules live. The console, the services (``account_save``,
``account_delete``, ``probing``) and, tomorrow, CRONUS's commands and the API ask it; none of
them decides on its own. The rules:

- ``EMISOPT`` opens the screen and lets a user see and change the accounts of the companies
  they belong to, plus see the system default accounts;
- ``PCSMTPG`` (with ``EMISOPT``) also creates, changes, tests and deletes system accounts;
- membership is the only way into a company: another company's account or company is
  reported exactly like a missing one (``NotFound``), so ids cannot be probed.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from emisario.accounts.models import Company, SmtpAccount
from emisario.core.errors import EmisarioError

EMISOPT = "EMISOPT"
PCSMTPG = "PCSMTPG"
PERMISSION_LABELS = {EMISOPT: "accounts.EMISOPT", PCSMTPG: "accounts.PCSMTPG"}


class AccessError(EmisarioError):
    """The user may not do this; the subclasses say how the caller should answer."""


class AccessDenied(AccessError):
    """The user lacks ``permission`` (a console shows a 403 page naming it)."""

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(f"the permission {permission} is required")


class NotFound(AccessError):
    """No such account or company *for this user*: missing and foreign look the same."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what} not found")


def has(user, code: str) -> bool:
    return user.is_authenticated and user.has_perm(PERMISSION_LABELS[code])


def can_open_screen(user) -> bool:
    return has(user, EMISOPT)


def can_manage_system_accounts(user) -> bool:
    return has(user, EMISOPT) and has(user, PCSMTPG)


def companies_for(user) -> QuerySet[Company]:
    """Companies the user belongs to. Membership is the only way in: nobody sees another
    company's accounts, superusers included (they have the admin)."""
    if not user.is_authenticated:
        return Company.objects.none()
    return Company.objects.filter(members=user).order_by("code")


def is_member(user, company: Company) -> bool:
    return companies_for(user).filter(pk=company.pk).exists()


def visible_accounts(user, company: Company | None = None) -> QuerySet[SmtpAccount]:
    """The accounts ``user`` may see: the system accounts and those of their companies
    (only ``company``'s, when given). The one definition of visibility."""
    accounts = SmtpAccount.objects.select_related("account_type", "company")
    if not can_open_screen(user):
        return accounts.none()
    mine = Q(company__in=companies_for(user))
    if company is not None:
        mine &= Q(company=company)
    return accounts.filter(Q(company__isnull=True) | mine)


def can_see_account(user, account: SmtpAccount) -> bool:
    return visible_accounts(user).filter(pk=account.pk).exists()


def can_change_account(user, account: SmtpAccount) -> bool:
    if not can_see_account(user, account):
        return False
    return can_manage_system_accounts(user) if account.is_system else True


def company_for(user, code: str = "") -> Company | None:
    """The company the user acts for: the one named by ``code``, or their first one (None
    when they belong to none). A company they do not belong to is ``NotFound``."""
    companies = companies_for(user)
    if not code:
        return companies.first()
    company = companies.filter(code=code).first()
    if company is None:
        raise NotFound("company")
    return company


def account_for(user, pk: int, *, company: Company | None) -> SmtpAccount:
    """The account ``pk`` as seen from ``company``'s page: a system account, or one of that
    company's own. Anything else, another company's included, is ``NotFound``."""
    if not can_open_screen(user):
        raise AccessDenied(EMISOPT)
    if company is None:
        account = visible_accounts(user).filter(pk=pk, company__isnull=True).first()
    else:
        account = visible_accounts(user, company).filter(pk=pk).first()
    if account is None:
        raise NotFound("account")
    return account


def check_may_act(user, *, account: SmtpAccount | None, company: Company | None) -> None:
    """Refuse unless ``user`` may write, test or delete ``account`` (None: a new one) as an
    account of ``company`` (None: a system default account). Raises ``AccessDenied`` or
    ``NotFound``; returns nothing when allowed."""
    if not can_open_screen(user):
        raise AccessDenied(EMISOPT)
    if account is not None:
        if not can_see_account(user, account):
            raise NotFound("account")
        if account.is_system and not can_manage_system_accounts(user):
            raise AccessDenied(PCSMTPG)
    if company is None:
        if not can_manage_system_accounts(user):
            raise AccessDenied(PCSMTPG)
    elif not is_member(user, company):
        raise NotFound("company")
