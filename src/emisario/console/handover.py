"""Probar, then Guardar: the seed's order. The password typed for the test is never rendered
back into the page, so it is kept, encrypted, in the user's session for a short while; Guardar
(or another Probar) with the field left blank uses exactly what was tested, and Guardar keeps
the test's result. Typing the same password again counts as leaving it blank: what matters is
the password that was tested, not whether the field was touched.

A typed password is bound to the server, Usuario and login name it was typed for: change
one of those and it no longer applies. Port and security may change (that is what the advice
asks for), but the kept *result* describes only the exact values tested. A saved account's
stored password, kept so that Aplicar can test the proposal, keeps the stored-password rule:
only the very values tested, or the proposal the diagnosis saw work (``rebind``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from emisario.accounts import crypto
from emisario.accounts.models import SmtpAccount
from emisario.accounts.services import AccountInput
from emisario.core.secrets import Secret, UndecryptableSecret
from emisario.core.smtp.steps import Diagnosis, Step

SESSION_KEY = "emisario.tested"
MAX_AGE = 15 * 60  # seconds: long enough to read the verdict, short enough to be this visit


@dataclass(frozen=True)
class Tested:
    password: Secret | None
    """None when the test ran without a password."""
    summary: dict | None
    """The test's result, or None once the values moved to its proposal (not tested yet)."""
    typed: bool = True
    """The user typed it; False for a saved account's stored password, kept only so Aplicar
    can test the proposal without asking for it."""
    refused: bool = False
    """The server refused it (5xx to AUTH) in the test it was kept from: a blank-field Probar
    must not send it again, whatever port or security it is tried on next."""


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()


def _identity(account: SmtpAccount | None, data: AccountInput) -> str:
    """Who the password is for: the same server, Usuario and login name. A typed password
    follows the user through port and security changes (what the advice asks for) but never
    to another server or account."""
    company = data.company.pk if data.company else ""
    return _digest(account.pk if account else "", company, data.host, data.sender, data.login)


def _binding(account: SmtpAccount | None, data: AccountInput) -> str:
    """The exact values tested: only these are described by the kept result."""
    return _digest(_identity(account, data), data.port, data.security)


@sensitive_variables("password")
def remember(
    session,
    *,
    account: SmtpAccount | None,
    data: AccountInput,
    password: Secret | None,
    summary: dict | None,
    typed: bool = True,
    refused: bool = False,
) -> None:
    session[SESSION_KEY] = {
        "binding": _binding(account, data),
        "identity": _identity(account, data),
        "token": crypto.encrypt(password) if password else "",
        "summary": summary,
        "typed": typed,
        "refused": refused,
        "at": time.time(),
    }


def _entry(session) -> dict | None:
    entry = session.get(SESSION_KEY)
    if not entry or time.time() - entry.get("at", 0) > MAX_AGE:
        return None
    return entry


@sensitive_variables("entry")
def recall(session, *, account: SmtpAccount | None, data: AccountInput) -> Tested | None:
    """What was tested for these same values, if it is recent enough. Missing or bad
    encryption keys raise ``SecretKeyError`` (a configuration error, never a silent miss)."""
    entry = _entry(session)
    if entry is None:
        return None
    same_values = entry.get("binding") == _binding(account, data)
    typed = entry.get("typed", True)
    # A stored password keeps the stored-password rule: only for the very values tested.
    if not same_values and not (typed and entry.get("identity") == _identity(account, data)):
        return None
    try:
        password = crypto.decrypt(entry["token"]) if entry.get("token") else None
        return Tested(
            password,
            entry.get("summary") if same_values else None,
            typed=typed,
            refused=bool(entry.get("refused")),
        )
    except (UndecryptableSecret, KeyError):
        return None


def proposal(summary: dict | None) -> tuple[int, str] | None:
    """The port and security a kept test proposed (see ``Diagnosis.proposal``), if any."""
    found = (summary or {}).get("proposal")
    if not found:
        return None
    return int(found["port"]), str(found["security"])


def password_refused(summary: dict | None) -> bool:
    """Whether the kept test ended with the server refusing the password (a 5xx to AUTH):
    sending it again would only count one more failure against the account's lockout."""
    if not summary:
        return False
    failure = Diagnosis.from_dict(summary).failure
    return (
        failure is not None
        and failure.step is Step.AUTH
        and failure.reply_code is not None
        and failure.reply_code // 100 == 5
    )


@sensitive_variables("tested")
def rebind(session, *, account: SmtpAccount | None, tested: Tested, data: AccountInput) -> None:
    """Keep the tested password for ``data`` (the tested values with the proposal applied);
    the result no longer describes them, so none is kept."""
    remember(
        session,
        account=account,
        data=data,
        password=tested.password,
        summary=None,
        typed=tested.typed,
        refused=tested.refused,
    )


@sensitive_variables("stored")
def still_current(tested: Tested, account: SmtpAccount | None) -> bool:
    """A stored password kept for Aplicar is still the one stored: if someone changed it in
    the meantime, Guardar must not write the old one back."""
    if tested.typed or tested.password is None:
        return True
    if account is None or not account.has_password:
        return False
    try:
        stored = crypto.decrypt(account.password_token)
    except UndecryptableSecret:
        return False
    return stored == tested.password


def same_password(first: Secret | None, second: Secret | None) -> bool:
    """Whether two passwords are the same, in constant time (no timing tells how much of a
    retyped password matched)."""
    if first is None or second is None:
        return first is second
    return first == second  # Secret compares in constant time


def forget(session) -> None:
    session.pop(SESSION_KEY, None)


def pending(session) -> bool:
    """A password the user typed and tested is waiting, whatever values it was tested with
    (a saved account's own password never is: it is not the user's to lose)."""
    entry = _entry(session)
    return entry is not None and bool(entry.get("token")) and entry.get("typed", True)
