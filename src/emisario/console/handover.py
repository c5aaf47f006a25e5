"""Probar, then Guardar: the seed's order. The password typed for the test is never rendered
back into the page, so it is kept, encrypted, in the user's session for a short while; Guardar
with the field left blank saves exactly what was tested, and keeps the test's result.

It is bound to the tested values: change the server, port, security, Usuario or login and it
no longer applies (the rule for stored passwords, applied to a tested one).
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

SESSION_KEY = "emisario.tested"
MAX_AGE = 15 * 60  # seconds: long enough to read the verdict, short enough to be this visit


@dataclass(frozen=True)
class Tested:
    password: Secret
    summary: dict


def _binding(account: SmtpAccount | None, data: AccountInput) -> str:
    parts = (
        account.pk if account else "",
        data.company.pk if data.company else "",
        data.host,
        data.port,
        data.security,
        data.sender,
        data.login,
    )
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()


@sensitive_variables("password")
def remember(
    session, *, account: SmtpAccount | None, data: AccountInput, password: Secret, summary: dict
) -> None:
    session[SESSION_KEY] = {
        "binding": _binding(account, data),
        "token": crypto.encrypt(password),
        "summary": summary,
        "at": time.time(),
    }


@sensitive_variables("entry")
def recall(session, *, account: SmtpAccount | None, data: AccountInput) -> Tested | None:
    """The password tested for these same values, if it is recent enough. Missing or bad
    encryption keys raise ``SecretKeyError`` (a configuration error, never a silent miss)."""
    entry = session.get(SESSION_KEY)
    if not entry or entry.get("binding") != _binding(account, data):
        return None
    if time.time() - entry.get("at", 0) > MAX_AGE:
        return None
    try:
        return Tested(crypto.decrypt(entry["token"]), entry["summary"])
    except (UndecryptableSecret, KeyError):
        return None


def forget(session) -> None:
    session.pop(SESSION_KEY, None)


def pending(session) -> bool:
    """A tested password is waiting, whatever values it was tested with."""
    entry = session.get(SESSION_KEY)
    return bool(entry) and time.time() - entry.get("at", 0) <= MAX_AGE
