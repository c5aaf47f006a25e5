"""A form sent twice runs once: Guardar, Probar, Detectar and Eliminar claim the one-time token
of the page they were pressed on before they write or send anything.

The claim is an insert under a unique constraint (``FormSubmission``), so it is race-safe
across threads, gunicorn workers and hosts on SQLite and PostgreSQL alike; a check in the
session is not (two requests of one double click both read the session before either writes).
The first claimant does the work and stores what a repeat should show; a repeat waits for that
(the browser shows the *last* response of a double click, so the repeat is the one the user
reads) and replays it. Nothing here knows about the web console.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from emisario.accounts.models import FormSubmission

KEEP = timedelta(days=1)
"""How long claimed tokens are kept: far longer than any page stays open before a resend."""
POLL = 0.1  # seconds between looks at the first claimant's row while it works


def new_token() -> str:
    """A token for one rendered form: 128 random bits, never derived from anything."""
    return secrets.token_urlsafe(16)


@dataclass
class Claim:
    row: FormSubmission | None
    """Ours to finish or release; None for a repeat."""
    result: dict | None = None
    """For a repeat: what the first submission stored, or None if it is still running."""

    @property
    def first(self) -> bool:
        return self.row is not None


def _insert(*, actor, token: str, action: str) -> FormSubmission | None:
    try:
        with transaction.atomic():
            return FormSubmission.objects.create(token=token, action=action, actor=actor)
    except IntegrityError:
        return None


def submission_claim(*, actor, token: str, action: str, wait: float | None = None) -> Claim:
    """Claim ``token`` for ``action``. The first claimant gets the row; a repeat waits up to
    ``wait`` seconds (Probar's deadline plus a margin by default) for the first one's result.
    If the first one gives up (``submission_release``), the repeat claims the token itself."""
    _prune()
    limit = time.monotonic() + (settings.EMISARIO_PROBE_DEADLINE + 5 if wait is None else wait)
    while True:
        row = _insert(actor=actor, token=token, action=action)
        if row is not None:
            return Claim(row)
        while True:
            other = FormSubmission.objects.filter(token=token, action=action).first()
            if other is None:
                break  # released: try to claim it ourselves
            if other.actor_id != actor.pk:
                return Claim(None)  # never another user's result
            if other.done:
                return Claim(None, other.result)
            if time.monotonic() >= limit:
                return Claim(None)
            time.sleep(POLL)


def submission_finish(claim: Claim, result: dict) -> None:
    """The work is done: a repeat of this submission shows ``result``."""
    if claim.row is None:
        return
    claim.row.done = True
    claim.row.result = result
    claim.row.save(update_fields=["done", "result"])


def submission_release(claim: Claim) -> None:
    """The work did not happen (refused, failed): the same form may be sent again."""
    if claim.row is not None:
        FormSubmission.objects.filter(pk=claim.row.pk).delete()
        claim.row = None


def _prune() -> None:
    FormSubmission.objects.filter(at__lt=timezone.now() - KEEP).delete()
