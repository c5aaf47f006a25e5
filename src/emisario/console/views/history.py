"""Historial: who created, changed or deleted the accounts of the user's companies, when, and
what changed, in words ("Puerto: 587 → 465"). A password is only ever "cambiada" or
"quitada": the audit trail holds no value of it, and this page would not show one if it did.

Who may read what is ``accounts.selectors.change_history``'s (through ``permissions``): EMISOPT
holders read their companies' accounts and the system default accounts they see on the
screen; another company's account or company is the same 404 as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from emisario.accounts import permissions
from emisario.accounts.models import AuditAction, AuditRecord
from emisario.accounts.selectors import change_history
from emisario.accounts.services import (
    AUDITED_FIELDS,
    MOVE,
    MOVED_IN,
    MOVED_OUT,
    OTHER_COMPANY,
    PASSWORD_REMOVED,
)
from emisario.console.access import requires
from emisario.console.forms import AccountForm
from emisario.console.messages import SECURITY_LABELS, YES_NO
from emisario.console.views.smtp import ROUTES, _account, _answer_refusals, _parameter, screen_url

FIELDS = AUDITED_FIELDS
"""The fields the history shows, in this order; anything else in a record is never shown."""
COMPANY_LABEL = _("Company")
PASSWORD_CHANGED_WORDS = _("Password: changed")
PASSWORD_REMOVED_WORDS = _("Password: removed")
SYSTEM_OWNER = _("system")
OTHER_OWNER = _("another company")
"""A company a system record does not name (every EMISOPT holder reads those)."""
BEFORE_THE_MOVE = _("%(field)s before the move: %(value)s")
AFTER_THE_MOVE = _("%(field)s after the move: %(value)s")
EMPTY = "—"
OAUTH_CONNECTED_WORDS = _("OAuth: connected as %(mailbox)s")
OAUTH_DISCONNECTED_WORDS = _("OAuth: disconnected (connect again)")


@dataclass
class Entry:
    record: AuditRecord
    who: str
    action: str
    account: str
    changes: list[str] = field(default_factory=list)


def _label(name: str) -> str:
    """The field's label as the SMTP screen shows it (the company is not a form field)."""
    return str(COMPANY_LABEL if name == "company" else AccountForm.base_fields[name].label)


def _value(name: str, value) -> str:
    if value is None or value == "":
        return str(SYSTEM_OWNER) if name == "company" and value is None else EMPTY
    if name == "company" and value == OTHER_COMPANY:
        return str(OTHER_OWNER)
    if name == "security":
        return str(SECURITY_LABELS.get(value, value))
    if name == "enabled":
        return str(YES_NO[bool(value)])
    if name in ("auth_method", "oauth_provider"):
        return str(dict(AccountForm.base_fields[name].choices).get(value, value))
    return str(value)


def change_words(record: AuditRecord) -> list[str]:
    """A record's changes, one sentence each: "Puerto: 587 → 465" for a change, "Puerto: 587"
    for a new account, nothing for a deletion (the row says what was deleted).

    A move between owners is two records (``services._write``), each worded for its owner's
    readers: "Empresa: ACME → OTRA", then what the account was ("Usuario antes del traslado:
    …", the old owner's) or what it is ("Usuario tras el traslado: …", the new owner's),
    never the other owner's values."""
    if record.action == AuditAction.DELETE:
        return []
    changes = record.changes if isinstance(record.changes, dict) else {}
    move = changes.get(MOVE)
    words = []
    for name in FIELDS:
        label = _label(name)
        pair = changes.get(name)
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        before, after = (_value(name, part) for part in pair)
        if move in (MOVED_OUT, MOVED_IN) and name != "company":
            shown, value = (
                (BEFORE_THE_MOVE, before) if move == MOVED_OUT else (AFTER_THE_MOVE, after)
            )
            words.append(str(shown) % {"field": label, "value": value})
        elif record.action == AuditAction.CREATE:
            words.append(f"{label}: {after}")
        else:
            words.append(f"{label}: {before} → {after}")
    if "password" in changes:  # the key only: whatever the value, it is never shown
        removed = changes["password"] == PASSWORD_REMOVED
        words.append(str(PASSWORD_REMOVED_WORDS if removed else PASSWORD_CHANGED_WORDS))
    oauth = changes.get("oauth")
    if oauth == "disconnected":
        words.append(str(OAUTH_DISCONNECTED_WORDS))
    elif isinstance(oauth, list | tuple) and len(oauth) == 2:
        words.append(str(OAUTH_CONNECTED_WORDS) % {"mailbox": oauth[1]})
    return words


def _entry(record: AuditRecord) -> Entry:
    return Entry(
        record=record,
        who=record.actor.get_username() if record.actor else EMPTY,
        action=str(record.get_action_display()),
        account=record.account_label or record.target,
        changes=change_words(record),
    )


@requires(permissions.EMISOPT)
@require_GET
@_answer_refusals
def history(request, route: str):
    user = request.user
    company = permissions.company_for(user, _parameter(request, "empresa"))
    account = _account(request, company)
    records = change_history(user, company=company, account=account)
    context = {
        "route": route,
        "crumbs": ROUTES[route],
        "company": company,
        "account": account,
        "entries": [_entry(record) for record in records],
        "back_url": screen_url(route, company, account),
    }
    return render(request, "emisario/history.html", context)
