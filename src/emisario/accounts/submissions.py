"""A form sent twice runs once: Guardar, Probar, Detectar and Eliminar claim the one-time token
of the page they were pressed on before they write or send anything.

The claim is an insert under a unique constraint (``FormSubmission``), so it is race-safe
across threads, gunicorn workers and hosts on SQLite and PostgreSQL alike; a check in the
session is not (two requests of one double click both read the session before either writes).
The first claimant does the work and stores what a repeat should show; a repeat waits for that
(the browser shows the *last* response of a double click, so the repeat is the one the user
reads) and replays it. Nothing here knows about the web console.

A submission is the token *and* what was sent with it (``submission_digest``): the same page
sent again with other values (Back, edit, resend; a duplicated tab) is a new submission and is
really done, and a token another user sends is theirs alone. A claim whose request died
(worker killed, timeout) is abandoned once it is older than any request can run
(``abandoned_after``): the next resend takes it over, and only one resend wins.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from emisario.accounts.models import FormSubmission
from emisario.config.env import Environment

KEEP = timedelta(days=1)
"""How long claimed tokens are kept: far longer than any page stays open before a resend."""
POLL = 0.1  # seconds between looks at the first claimant's row while it works
WAIT_MARGIN = 5.0
"""Seconds past Probar's deadline a repeat waits for the first claimant's result."""
ABANDON_MARGIN = 60.0
"""Seconds past the longest a request can run (``request_limit``) after which an unfinished
claim is abandoned: its request died (its worker killed, restarted)."""
DIGEST_SALT = "emisario.accounts.submissions.digest"


def new_token() -> str:
    """A token for one rendered form: 128 random bits, never derived from anything."""
    return secrets.token_urlsafe(16)


def _plain(value):
    if isinstance(value, models.Model):
        return [value._meta.label, value.pk]
    return str(value)


@sensitive_variables("values", "password", "payload")
def submission_digest(action: str, *, account=None, company=None, values=None, password=None):
    """What identifies one submission besides its token: a keyed hash (HMAC with SECRET_KEY)
    of ``action``, the ``account`` and ``company`` it acts on, the submitted ``values`` and
    the typed ``password`` (a ``Secret``). Only the hash is stored, never a value: without the
    key it cannot be used to guess the password."""
    payload = json.dumps(
        {
            "action": action,
            "account": getattr(account, "pk", account),
            "company": getattr(company, "pk", company),
            "values": values or {},
            "password": password.reveal() if password else "",
        },
        sort_keys=True,
        default=_plain,
    )
    return salted_hmac(DIGEST_SALT, payload, algorithm="sha256").hexdigest()


def worker_timeout() -> int:
    """gunicorn's request timeout, ``EMISARIO_TIMEOUT``, read as ``config/gunicorn.py`` reads
    it (1 to 3600 s, 60 by default; gunicorn refuses to start on an unreadable value)."""
    return Environment().integer("EMISARIO_TIMEOUT", 60, minimum=1, maximum=3600)


def request_limit() -> float:
    """The longest a request can run: a test or a detection stops at Probar's deadline, and
    gunicorn kills any request past its timeout, whichever is longer."""
    return max(settings.EMISARIO_PROBE_DEADLINE, worker_timeout())


def abandoned_after() -> timedelta:
    """An unfinished claim older than this belongs to a request that died: a younger one may
    still be at work, and taking it over would do the work twice."""
    return timedelta(seconds=request_limit() + ABANDON_MARGIN)


@dataclass
class Claim:
    row: FormSubmission | None
    """Ours to finish or release; None for a repeat."""
    result: dict | None = None
    """For a repeat: what the first submission stored, or None if it is still running."""

    @property
    def first(self) -> bool:
        return self.row is not None


def _insert(**key) -> FormSubmission | None:
    try:
        with transaction.atomic():
            return FormSubmission.objects.create(**key)
    except IntegrityError:
        return None


def submission_claim(
    *, actor, token: str, action: str, digest: str, wait: float | None = None
) -> Claim:
    """Claim ``token`` for this submission (``action`` and ``digest``, see
    ``submission_digest``) by ``actor``. The first claimant gets the row; a repeat waits up to
    ``wait`` seconds (Probar's deadline plus a margin by default) for the first one's result.
    If the first one gives up (``submission_release``) or died (``abandoned_after``), the
    repeat claims the submission itself. Another user's rows are never seen: the actor is part
    of the key."""
    _prune()
    default = settings.EMISARIO_PROBE_DEADLINE + WAIT_MARGIN
    limit = time.monotonic() + (default if wait is None else wait)
    key = {"actor": actor, "token": token, "action": action, "digest": digest}
    while True:
        row = _insert(**key)
        if row is not None:
            return Claim(row)
        while True:
            other = FormSubmission.objects.filter(**key).first()
            if other is None:
                break  # released: try to claim it ourselves
            if other.done:
                return Claim(None, other.result)
            cutoff = timezone.now() - abandoned_after()
            if other.at < cutoff:
                # Its request died. Only the unfinished old row goes (a fresh claim of
                # another resend never matches); then the insert decides who takes over.
                FormSubmission.objects.filter(pk=other.pk, done=False, at__lt=cutoff).delete()
                break
            if time.monotonic() >= limit:
                return Claim(None)
            time.sleep(POLL)


def submission_finish(claim: Claim, result: dict) -> None:
    """The work is done: a repeat of this submission shows ``result``. Call it inside the
    transaction that did the work where there is one, so both happen or neither does. If the
    claim was taken over meanwhile (it looked abandoned), the new claimant's row is left
    alone."""
    if claim.row is None:
        return
    FormSubmission.objects.filter(pk=claim.row.pk, done=False).update(done=True, result=result)
    claim.row.done = True
    claim.row.result = result


def submission_release(claim: Claim) -> None:
    """The work did not happen (refused, failed): the same form may be sent again."""
    if claim.row is not None:
        FormSubmission.objects.filter(pk=claim.row.pk, done=False).delete()
        claim.row = None


def _prune() -> None:
    FormSubmission.objects.filter(at__lt=timezone.now() - KEEP).delete()
