"""Which account sends a message next, when some are paused or broken.

The order is the seed's, from :func:`emisario.core.accounts.account_ladder`: the company's
accounts of the type by priority, then the system's default accounts, then the generic
account. CRONUS walks down it only for account-level conditions (a quota, a refused login, an
unreachable server: :attr:`.outcome.Verdict.fail_over`); a recipient's 5xx never changes the
account. An account is skipped while its pause switch is on, while it is paused after a
failure, and while its circuit breaker is open. When every rung is skipped the message waits
until the earliest of them is back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from emisario.core.accounts import DEFAULT_TYPE, AccountRow, Resolution, account_ladder
from emisario.core.dispatch.breaker import (
    CLOSED,
    DEFAULT_BREAKER,
    Breaker,
    BreakerPolicy,
    reopens_at,
)
from emisario.core.dispatch.breaker import allows as breaker_allows
from emisario.core.smtp.endpoint import SmtpEndpoint

GENERIC_KEY = None
"""The key of the generic account in the ``states`` mapping (it has no database id)."""

AccountKey = int | None


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the worker knows about one account's health, read from the database."""

    paused_until: datetime | None = None
    """Set from an ACCOUNT_PAUSE verdict (:func:`.outcome.pause_until`)."""
    switched_off: bool = False
    """The console's pause switch: skipped until someone turns it back on."""
    breaker: Breaker = CLOSED

    def available_from(
        self, now: datetime, policy: BreakerPolicy = DEFAULT_BREAKER
    ) -> datetime | None:
        """``now`` when the account may send now; else when it may again; None if never by
        itself (switched off)."""
        if self.switched_off:
            return None
        at = now
        if self.paused_until is not None and self.paused_until > at:
            at = self.paused_until
        if not breaker_allows(self.breaker, now=at, policy=policy):
            reopen = reopens_at(self.breaker, policy)
            at = reopen if reopen is not None and reopen > at else at
        return at


HEALTHY = AccountState()


def rung_key(rung: Resolution) -> AccountKey:
    """The ``states`` key of a rung: the account id, or :data:`GENERIC_KEY`."""
    return rung.account.id if rung.account is not None else GENERIC_KEY


@dataclass(frozen=True, slots=True)
class Choice:
    """Send through ``rung``; ``position`` is its place in the ladder (0: the seed's choice,
    more: a fail-over)."""

    rung: Resolution
    position: int

    @property
    def key(self) -> AccountKey:
        return rung_key(self.rung)


@dataclass(frozen=True, slots=True)
class NoneAvailable:
    """No rung may send now. ``until`` is when the first of them is back, None when none will
    be by itself (no account at all, or every one switched off): the message is deferred,
    never failed, for this."""

    until: datetime | None


def choose(
    ladder: Iterable[Resolution],
    states: Mapping[AccountKey, AccountState],
    *,
    now: datetime,
    skip: Collection[AccountKey] = (),
    policy: BreakerPolicy = DEFAULT_BREAKER,
) -> Choice | NoneAvailable:
    """The first rung of ``ladder`` that may send at ``now``. Accounts missing from ``states``
    are healthy; ``skip`` holds accounts already tried for this message in this round."""
    earliest: datetime | None = None
    for position, rung in enumerate(ladder):
        key = rung_key(rung)
        if key in skip:
            continue
        at = states.get(key, HEALTHY).available_from(now, policy)
        if at is None:
            continue
        if at <= now:
            return Choice(rung, position)
        earliest = at if earliest is None or at < earliest else earliest
    return NoneAvailable(earliest)


def next_account(
    rows: Iterable[AccountRow],
    states: Mapping[AccountKey, AccountState],
    *,
    company: int | None,
    now: datetime,
    type_code: str = DEFAULT_TYPE,
    generic: SmtpEndpoint | None = None,
    skip: Collection[AccountKey] = (),
    policy: BreakerPolicy = DEFAULT_BREAKER,
) -> Choice | NoneAvailable:
    """:func:`choose` over the seed's ladder for ``company`` and ``type_code``."""
    ladder = account_ladder(rows, company=company, type_code=type_code, generic=generic)
    return choose(ladder, states, now=now, skip=skip, policy=policy)
