"""Which SMTP account sends a company's mail: the seed's rule, with no database.

The seed: CRONUS "looks for type INTERNO", then takes the account with the *highest* priority
number. Company accounts come first, then the system's default accounts, then the generic
account the system administrator configured outside the database, then a clear error.

Ties (same source, type and priority) go to the account created first, then the lowest id:
a stable rule, so adding a second account with the same priority never silently moves mail.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from emisario.core.errors import EmisarioError
from emisario.core.smtp.endpoint import SmtpEndpoint

DEFAULT_TYPE = "INTERNO"


@dataclass(frozen=True, slots=True)
class AccountRow:
    """The fields resolution needs from a stored account. ``company`` is None for a system
    default account."""

    id: int
    company: int | None
    type_code: str
    priority: int
    enabled: bool
    created_at: datetime


class Source(enum.StrEnum):
    """Where the chosen account came from."""

    COMPANY = "company"
    """An enabled account of the company, of the requested type."""
    SYSTEM = "system"
    """No company account applies: a system default account of that type."""
    GENERIC = "generic"
    """No stored account applies: the administrator's generic account."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The account chosen and why. ``account`` is None when ``source`` is GENERIC."""

    source: Source
    type_code: str
    account: AccountRow | None = None
    generic: SmtpEndpoint | None = None
    disabled_skipped: int = 0
    """Accounts of this type that were passed over because they are disabled."""


class NoAccountAvailable(EmisarioError):
    """Nothing can send: no company or system account of the type, and no generic account."""

    def __init__(self, *, company: int | None, type_code: str) -> None:
        self.company = company
        self.type_code = type_code
        super().__init__(
            f"no enabled {type_code} account for company {company}, no system default account "
            "and no generic account (EMISARIO_GENERIC_SMTP_URL) is configured"
        )


def ranking_key(row: AccountRow) -> tuple[int, datetime, int]:
    """Sort key: highest priority first, then oldest, then lowest id."""
    return (-row.priority, row.created_at, row.id)


def account_ladder(
    rows: Iterable[AccountRow],
    *,
    company: int | None,
    type_code: str = DEFAULT_TYPE,
    generic: SmtpEndpoint | None = None,
) -> list[Resolution]:
    """Every account that may send ``company``'s mail of ``type_code``, in the order CRONUS
    fails over: the company's enabled accounts by :func:`ranking_key`, then the system's, then
    the generic account. The first rung is what :func:`resolve_account` chooses.

    ``rows`` may hold any accounts (other companies, other types): only the company's own and
    the system's count, so a caller cannot leak another company's account by passing too much.
    """
    of_type = [row for row in rows if row.type_code == type_code]
    ladder: list[Resolution] = []
    disabled = 0
    for source, owner in ((Source.COMPANY, company), (Source.SYSTEM, None)):
        if source is Source.COMPANY and company is None:
            continue
        mine = [row for row in of_type if row.company == owner]
        enabled = sorted((row for row in mine if row.enabled), key=ranking_key)
        disabled += len(mine) - len(enabled)
        ladder.extend(
            Resolution(source, type_code, account=row, disabled_skipped=disabled) for row in enabled
        )
    if generic is not None:
        ladder.append(
            Resolution(Source.GENERIC, type_code, generic=generic, disabled_skipped=disabled)
        )
    return ladder


def resolve_account(
    rows: Iterable[AccountRow],
    *,
    company: int | None,
    type_code: str = DEFAULT_TYPE,
    generic: SmtpEndpoint | None = None,
) -> Resolution:
    """Choose the account that sends ``company``'s mail of ``type_code``: the first rung of
    :func:`account_ladder`, or :class:`NoAccountAvailable`."""
    ladder = account_ladder(rows, company=company, type_code=type_code, generic=generic)
    if not ladder:
        raise NoAccountAvailable(company=company, type_code=type_code)
    return ladder[0]
