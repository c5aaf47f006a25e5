"""Reads: the accounts a user sees for a company, grouped by type, and which one is in use.
Who may see what is decided in ``permissions``; this module only arranges it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from emisario.accounts import permissions
from emisario.accounts.models import AccountType, AuditAction, AuditRecord, Company, SmtpAccount
from emisario.accounts.services import MOVE, OTHER_COMPANY
from emisario.core.accounts import NoAccountAvailable, Resolution, ranking_key, resolve_account
from emisario.core.errors import InvalidValue
from emisario.core.smtp.endpoint import SmtpEndpoint
from emisario.core.smtp.url import parse_smtp_url


def generic_endpoint() -> SmtpEndpoint | None:
    """The administrator's generic account, or None if unset (a bad URL is caught by the
    system check emisario.E002 at start-up)."""
    url = settings.EMISARIO_GENERIC_SMTP_URL
    if not url:
        return None
    try:
        return parse_smtp_url(url)
    except InvalidValue:
        return None


@dataclass
class TypeGroup:
    """One account type as the screen shows it: its accounts in the order CRONUS ranks them,
    and the account in use with the reason."""

    account_type: AccountType
    company_accounts: list[SmtpAccount] = field(default_factory=list)
    system_accounts: list[SmtpAccount] = field(default_factory=list)
    resolution: Resolution | None = None
    in_use: SmtpAccount | None = None


def type_groups(user, company: Company) -> list[TypeGroup]:
    """Per type, the accounts ``user`` sees on ``company``'s page (its own plus the system
    ones: the same set CRONUS ranks for that company) and the one in use."""
    accounts: list[SmtpAccount] = list(permissions.visible_accounts(user, company))
    by_id = {account.pk: account for account in accounts}
    rows = [account.as_row() for account in accounts]
    generic = generic_endpoint()
    groups = []
    for account_type in AccountType.objects.order_by("code"):
        group = TypeGroup(account_type)
        mine = sorted(
            (a for a in accounts if a.account_type_id == account_type.pk),
            key=lambda a: ranking_key(a.as_row()),
        )
        group.company_accounts = [a for a in mine if not a.is_system]
        group.system_accounts = [a for a in mine if a.is_system]
        try:
            group.resolution = resolve_account(
                rows, company=company.pk, type_code=account_type.code, generic=generic
            )
        except NoAccountAvailable:
            group.resolution = None
        if group.resolution and group.resolution.account:
            group.in_use = by_id[group.resolution.account.id]
        groups.append(group)
    return groups


CHANGE_ACTIONS = (
    AuditAction.CREATE,
    AuditAction.UPDATE,
    AuditAction.DELETE,
    AuditAction.CONNECT,
    AuditAction.DISCONNECT,
)
HISTORY_LIMIT = 500


def _holds_another_company_s_values(record: AuditRecord, mine: set[str]) -> bool:
    """A move recorded before moves were written once per owner: one record held both
    owners' values (system -> ACME as a system record with ACME's values; ACME -> OTRA as
    ACME's with OTRA's). Only members of every company it names may read it. A record of
    today's moves hides the other owner's values (its ``MOVE`` key, or no company's values
    at all) and is read by its owner's readers."""
    changes = record.changes if isinstance(record.changes, dict) else {}
    pair = changes.get("company")
    if MOVE in changes or not isinstance(pair, list | tuple) or len(pair) != 2:
        return False
    named = {code for code in pair if code not in (None, OTHER_COMPANY)}
    return bool(named - mine)


def change_history(
    user, *, company: Company | None, account: SmtpAccount | None = None
) -> list[AuditRecord]:
    """Who created, changed or deleted which account, newest first: one account's (a system
    account too: EMISOPT holders see those on the screen), or every account of ``company``,
    deleted ones included. Another company's is ``permissions.NotFound``, as on the screen."""
    records = AuditRecord.objects.select_related("actor").filter(action__in=CHANGE_ACTIONS)
    if account is not None:
        if not permissions.can_see_account(user, account):
            raise permissions.NotFound("account")
        # Only the reader's companies' records (and the system's): an account now in the
        # system may carry records from a company the reader does not belong to. A move
        # writes a record for each owner, the system's without any company's values
        # (services._write).
        records = records.filter(
            Q(company__isnull=True) | Q(company__in=permissions.companies_for(user)),
            account=account,
        )
    elif company is None or not permissions.is_member(user, company):
        raise permissions.NotFound("company")
    else:
        records = records.filter(company=company)
    mine = set(permissions.companies_for(user).values_list("code", flat=True))
    kept = []
    for record in records.order_by("-at", "-id").iterator():
        if not _holds_another_company_s_values(record, mine):
            kept.append(record)
            if len(kept) == HISTORY_LIMIT:
                break
    return kept
