"""The one-time form tokens: claimed once, replayed, released, pruned."""

import datetime as dt

import pytest
from django.utils import timezone

from emisario.accounts import submissions
from emisario.accounts.models import FormSubmission
from emisario.accounts.submissions import (
    new_token,
    submission_digest,
    submission_finish,
    submission_release,
)
from emisario.core.secrets import Secret
from tests.factories import make_user

SAME = submission_digest("guardar", values={"sender": "a@acme.example"})


def submission_claim(*, digest=SAME, **kwargs):
    return submissions.submission_claim(digest=digest, **kwargs)


@pytest.fixture
def user(db):
    return make_user("cobros", perms=("EMISOPT",))


def test_first_claim_wins_and_the_repeat_gets_its_result(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    assert first.first
    submission_finish(first, {"redirect": "/x"})
    repeat = submission_claim(actor=user, token=token, action="guardar", wait=0)
    assert not repeat.first and repeat.result == {"redirect": "/x"}


def test_the_same_token_for_another_action_is_another_submission(user):
    token = new_token()
    assert submission_claim(actor=user, token=token, action="probar").first
    assert submission_claim(actor=user, token=token, action="guardar").first


def test_a_repeat_while_the_first_runs_gets_no_result(user):
    token = new_token()
    submission_claim(actor=user, token=token, action="probar")
    repeat = submission_claim(actor=user, token=token, action="probar", wait=0)
    assert not repeat.first and repeat.result is None


def test_released_tokens_can_be_claimed_again(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    submission_release(first)
    assert submission_claim(actor=user, token=token, action="guardar", wait=0).first


def test_another_user_sending_the_token_gets_a_claim_of_their_own(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    submission_finish(first, {"redirect": "/x"})
    other = make_user("otro", perms=("EMISOPT",))
    theirs = submission_claim(actor=other, token=token, action="guardar", wait=0)
    assert theirs.first and theirs.result is None  # never the first user's result
    assert FormSubmission.objects.get(pk=first.row.pk).result == {"redirect": "/x"}


def test_the_same_token_with_other_values_is_another_submission(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    submission_finish(first, {"redirect": "/x"})
    other = submission_digest("guardar", values={"sender": "b@acme.example"})
    assert submission_claim(actor=user, token=token, action="guardar", digest=other).first


def test_the_digest_covers_the_password_and_never_holds_it():
    values = {"sender": "a@acme.example"}
    right = submission_digest("probar", values=values, password=Secret("clave-buena"))
    wrong = submission_digest("probar", values=values, password=Secret("clave-mala"))
    assert right != wrong != submission_digest("probar", values=values)
    assert right == submission_digest("probar", values=values, password=Secret("clave-buena"))
    assert right != submission_digest("guardar", values=values, password=Secret("clave-buena"))
    assert right != submission_digest("probar", values=values, account=1)
    assert "clave" not in right and len(right) == 64


def test_the_digest_is_keyed_with_the_secret_key(settings):
    first = submission_digest("probar", values={"sender": "a@acme.example"})
    settings.SECRET_KEY = "otra-clave-secreta-de-prueba-" * 3
    assert submission_digest("probar", values={"sender": "a@acme.example"}) != first


def test_a_claim_whose_request_died_is_taken_over_once(user):
    token = new_token()
    dead = submission_claim(actor=user, token=token, action="probar")
    old = timezone.now() - submissions.abandoned_after() - dt.timedelta(seconds=1)
    FormSubmission.objects.filter(pk=dead.row.pk).update(at=old)
    taken = submission_claim(actor=user, token=token, action="probar", wait=0)
    assert taken.first and taken.row.pk != dead.row.pk
    # A second resend finds the new claim at work, not an abandoned one.
    late = submission_claim(actor=user, token=token, action="probar", wait=0)
    assert not late.first and late.result is None
    # The dead request, should it wake up, touches nothing of the new claim.
    submission_finish(dead, {"diagnosis": "stale"})
    submission_release(dead)
    assert FormSubmission.objects.get().pk == taken.row.pk and not taken.row.done


def test_a_claim_at_work_is_not_taken_over(user):
    token = new_token()
    submission_claim(actor=user, token=token, action="probar")
    young = timezone.now() - submissions.abandoned_after() + dt.timedelta(seconds=5)
    FormSubmission.objects.update(at=young)
    assert not submission_claim(actor=user, token=token, action="probar", wait=0).first


def test_a_finished_claim_is_never_taken_over(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    submission_finish(first, {"redirect": "/x"})
    FormSubmission.objects.update(at=timezone.now() - dt.timedelta(hours=1))
    repeat = submission_claim(actor=user, token=token, action="guardar", wait=0)
    assert not repeat.first and repeat.result == {"redirect": "/x"}


def test_old_tokens_are_pruned(user):
    old = submission_claim(actor=user, token=new_token(), action="guardar")
    FormSubmission.objects.filter(pk=old.row.pk).update(at=timezone.now() - dt.timedelta(days=2))
    submission_claim(actor=user, token=new_token(), action="guardar")
    assert not FormSubmission.objects.filter(pk=old.row.pk).exists()
    assert FormSubmission.objects.count() == 1


def test_tokens_are_unguessable():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 22 for t in tokens)


@pytest.mark.parametrize("worker_timeout", [60, 900, 3600])
def test_a_claim_younger_than_the_worker_timeout_is_at_work(user, monkeypatch, worker_timeout):
    # gunicorn lets a request run EMISARIO_TIMEOUT seconds (up to 3600), longer than Probar's
    # deadline: a claim that age may still be at work, and taking it over would do it twice.
    monkeypatch.setenv("EMISARIO_TIMEOUT", str(worker_timeout))
    token = new_token()
    submission_claim(actor=user, token=token, action="guardar")
    at_work = timezone.now() - dt.timedelta(seconds=worker_timeout)
    FormSubmission.objects.update(at=at_work)
    assert not submission_claim(actor=user, token=token, action="guardar", wait=0).first
    dead = at_work - dt.timedelta(seconds=submissions.ABANDON_MARGIN + 1)
    FormSubmission.objects.update(at=dead)
    assert submission_claim(actor=user, token=token, action="guardar", wait=0).first


def test_the_cutoff_follows_the_longer_of_deadline_and_worker_timeout(monkeypatch, settings):
    monkeypatch.setenv("EMISARIO_TIMEOUT", "30")
    settings.EMISARIO_PROBE_DEADLINE = 100.0
    margin = dt.timedelta(seconds=submissions.ABANDON_MARGIN)
    assert submissions.abandoned_after() == dt.timedelta(seconds=100) + margin
    monkeypatch.setenv("EMISARIO_TIMEOUT", "3600")
    assert submissions.abandoned_after() == dt.timedelta(seconds=3600) + margin
    monkeypatch.setenv("EMISARIO_TIMEOUT", "no")  # unreadable: gunicorn's default, as it does
    assert submissions.abandoned_after() == dt.timedelta(seconds=100) + margin
