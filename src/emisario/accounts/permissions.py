"""The seed's two permissions, and who may change which account."""

from __future__ import annotations

from emisario.accounts.models import Company, SmtpAccount

EMISOPT = "EMISOPT"
PCSMTPG = "PCSMTPG"
PERMISSION_LABELS = {EMISOPT: "accounts.EMISOPT", PCSMTPG: "accounts.PCSMTPG"}


def has(user, code: str) -> bool:
    return user.is_authenticated and user.has_perm(PERMISSION_LABELS[code])


def can_open_screen(user) -> bool:
    return has(user, EMISOPT)


def can_manage_system_accounts(user) -> bool:
    return has(user, EMISOPT) and has(user, PCSMTPG)


def is_member(user, company: Company) -> bool:
    return user.is_authenticated and company.members.filter(pk=user.pk).exists()


def can_see_account(user, account: SmtpAccount) -> bool:
    if not can_open_screen(user):
        return False
    return account.is_system or is_member(user, account.company)


def can_change_account(user, account: SmtpAccount) -> bool:
    if not can_see_account(user, account):
        return False
    return can_manage_system_accounts(user) if account.is_system else True
